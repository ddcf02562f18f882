/**
 * Errors of the terminal application layer, and the one function that turns anything a
 * handler throws into the `Error` message the wire carries. A handler throws a
 * {@link TerminalError} (code = a wire error name) for conditions it detects itself, and lets
 * HardwareError, CodecError and the other typed errors through; {@link wireErrorOf} maps them.
 */
import { UnicardError } from '../../protocol/errors.js';
import { MAX_TEXT_BYTES } from '../../protocol/messages.js';
import { WireError, wireErrorFor, type WireErrorName } from '../../protocol/wire-errors.js';
import { HardwareError, wireErrorForHardware } from '../hardware/hardware-error.js';

/** A request the terminal refuses; `code` is the wire error name it is answered with. */
export class TerminalError extends UnicardError {
  declare readonly code: WireErrorName;
  constructor(code: WireErrorName, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}

/** The wire error (name, number, English message) for anything a handler threw. */
export interface WireFailure {
  readonly name: WireErrorName;
  readonly code: number;
  readonly message: string;
}

/**
 * Maps a thrown value to the wire: TerminalError by its code, HardwareError through the
 * hardware table, CodecError and framing/session errors through the wire error table,
 * anything else INTERNAL (with a generic message: raw exception text never reaches the wire).
 */
export function wireErrorOf(e: unknown): WireFailure {
  let name: WireErrorName;
  if (e instanceof TerminalError) name = e.code;
  else if (e instanceof HardwareError) name = wireErrorForHardware(e.code);
  else name = wireErrorFor(e);
  const message = e instanceof UnicardError ? e.message : 'internal error';
  return { name, code: WireError[name], message: truncateUtf8(message, MAX_TEXT_BYTES) };
}

/** `text` cut to at most `maxBytes` UTF-8 bytes, never inside a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
