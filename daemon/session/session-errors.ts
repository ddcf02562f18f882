/**
 * Errors of the host side of the session layer. Two kinds, both UnicardErrors with a stable
 * `code`:
 *   - {@link TerminalSessionError}: the host gave up on a request or a connection (the link
 *     went away, the terminal went silent, a timeout, a cancel, a reboot);
 *   - {@link TerminalError}: the terminal answered a request with an `Error` message; its
 *     `code` is the wire error's stable name (`NO_CARD`, `CANCELLED`, ...).
 * Handshake failures keep the protocol's SessionError codes (HANDSHAKE_BAD_SIGNATURE,
 * HANDSHAKE_UNTRUSTED, ...), so one code means one thing across the project.
 */
import { UnicardError } from '../../protocol/errors.js';
import { wireErrorInfo, wireErrorName, type WireErrorName } from '../../protocol/wire-errors.js';

/** Why the host gave up on a request or on the whole connection. */
export type TerminalSessionErrorCode =
  /** The link ended (unplugged, connection reset, closed by the other end). */
  | 'TERMINAL_GONE'
  /** Nothing about an outstanding request (no response, no keepalive) for `deadAfterMs`. */
  | 'TERMINAL_UNRESPONSIVE'
  /** The request's own overall time limit (`timeoutMs`) passed. */
  | 'REQUEST_TIMEOUT'
  /** The host cancelled the request (cancel() or an AbortSignal). */
  | 'CANCELLED'
  /** The session was closed by this host (close()), or a request was made after it. */
  | 'SESSION_CLOSED'
  /** The terminal printed its boot banner mid-session: it restarted and forgot the session. */
  | 'TERMINAL_REBOOTED'
  /** The terminal said, in clear, that it holds no session (it restarted unseen). */
  | 'SESSION_LOST'
  /** The request needs a trusted sealed session and there is none (yet, or any more). */
  | 'NO_SESSION'
  /** The operation needs an idle session (handshake) or a free request id. */
  | 'SESSION_BUSY'
  /** The terminal answered with a message that is not the request's result. */
  | 'UNEXPECTED_RESPONSE'
  /** The terminal's answer to the request could not be decoded (see `detail.cause`). */
  | 'BAD_RESPONSE'
  /** GetInfo reports a protocol version this host does not speak. */
  | 'PROTOCOL_MISMATCH';

/** A host-side failure of a request or a connection. */
export class TerminalSessionError extends UnicardError {
  declare readonly code: TerminalSessionErrorCode;
  /** The request this error ends (undefined for connection-wide errors before any request). */
  readonly requestId: number | undefined;

  constructor(code: TerminalSessionErrorCode, message: string, detail?: Record<string, unknown>, requestId?: number) {
    super(code, message, requestId === undefined ? detail : { ...detail, requestId });
    this.requestId = requestId;
  }
}

/** Code of a {@link TerminalError}: a wire error name, or `ERROR_0x..` for a code this host does not know. */
export type TerminalErrorCode = WireErrorName | `ERROR_0x${string}`;

/** The terminal answered a request with `Error`. */
export class TerminalError extends UnicardError {
  declare readonly code: TerminalErrorCode;
  /** The numeric wire code, as received. */
  readonly wireCode: number;
  /** The request the terminal refused. */
  readonly requestId: number;
  /** The terminal's own English detail, when it sent one. */
  readonly terminalMessage: string | undefined;

  constructor(wireCode: number, requestId: number, terminalMessage?: string, requestName?: string) {
    const name = wireErrorName(wireCode) as TerminalErrorCode;
    const meaning = wireErrorInfo(wireCode)?.meaning ?? 'an error code this host does not know';
    const what = requestName === undefined ? `request ${requestId}` : `${requestName} (request ${requestId})`;
    super(name, `the terminal refused ${what}: ${name}: ${terminalMessage ?? meaning}`, {
      wireCode,
      requestId,
      ...(terminalMessage === undefined ? {} : { terminalMessage }),
    });
    this.wireCode = wireCode;
    this.requestId = requestId;
    this.terminalMessage = terminalMessage;
  }
}
