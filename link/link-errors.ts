/**
 * Turns operating-system errors (Node's `err.code`, or the strerror text the serialport
 * native binding puts in its messages) into LinkErrors whose message says what to do.
 */
import { LinkError, type LinkErrorCode } from '../protocol/errors.js';
import type { LinkKind } from './link.js';

/** What the link was doing when the error happened. */
export type LinkOperation = 'open' | 'connect' | 'read' | 'write' | 'close' | 'list';

/** Where an error happened, for the message and the detail. */
export interface LinkErrorContext {
  kind: LinkKind;
  path: string;
  op: LinkOperation;
}

/**
 * The errno-style code of `e`: Node's `code` when it has one, else recognised from the
 * message (serialport's native errors carry only strerror text, and Windows' own wording).
 */
export function osErrorCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
  }
  const message = e instanceof Error ? e.message : typeof e === 'string' ? e : '';
  const patterns: ReadonlyArray<readonly [RegExp, string]> = [
    [/No such file or directory|File not found|cannot find the file/i, 'ENOENT'],
    [/No such device(?! or address)/i, 'ENODEV'],
    [/No such device or address/i, 'ENXIO'],
    [/Permission denied|Operation not permitted/i, 'EACCES'],
    // Windows says "Access denied" when another program holds the COM port.
    [/Access (is )?denied/i, 'EBUSY'],
    [/Cannot lock port|Resource temporarily unavailable|Device or resource busy/i, 'EBUSY'],
    [/Input\/output error|i\/o error/i, 'EIO'],
    [/Bad file descriptor/i, 'EBADF'],
    [/Broken pipe/i, 'EPIPE'],
  ];
  for (const [re, code] of patterns) if (re.test(message)) return code;
  return undefined;
}

/** Maps any error from a transport to a LinkError with a plain, actionable message. */
export function toLinkError(e: unknown, ctx: LinkErrorContext): LinkError {
  if (e instanceof LinkError) return e;
  const osCode = osErrorCode(e);
  const cause =
    e instanceof Error
      ? e.message
      : typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string'
        ? (e as { message: string }).message
        : String(e);
  const [code, message] = describe(osCode, ctx, cause);
  return new LinkError(code, message, { kind: ctx.kind, path: ctx.path, op: ctx.op, osCode, cause });
}

function describe(
  osCode: string | undefined,
  { kind, path, op }: LinkErrorContext,
  cause: string,
): [LinkErrorCode, string] {
  const what = kind === 'tcp' ? `the connection to ${path}` : `${path}`;
  switch (osCode) {
    case 'ENOENT':
    case 'ENODEV':
      return kind === 'serial' && op === 'open'
        ? ['LINK_NOT_FOUND', `no serial port at ${path}: check the cable and the name (on Linux: ls /dev/ttyUSB* /dev/ttyACM*)`]
        : ['LINK_NOT_FOUND', `${path} does not exist`];
    case 'EACCES':
    case 'EPERM':
      return [
        'LINK_PERMISSION_DENIED',
        kind === 'serial'
          ? `permission denied on ${path}: add the user to the dialout group (sudo usermod -aG dialout $USER, then log in again)`
          : `permission denied on ${path}`,
      ];
    case 'EBUSY':
    case 'EAGAIN':
    case 'EWOULDBLOCK':
      return [
        'LINK_BUSY',
        `${path} is in use by another program (another unicardd, a terminal program such as minicom or screen, or ModemManager): close it and try again`,
      ];
    case 'ECONNREFUSED':
      return ['LINK_NOT_FOUND', `nothing is listening at ${path}: is the terminal, ser2net or the simulator running on that port?`];
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return ['LINK_NOT_FOUND', `cannot resolve the host name in ${path}: check the address`];
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return ['LINK_NOT_FOUND', `no route to ${path}: check the network and the address`];
    case 'ETIMEDOUT':
      return ['LINK_TIMEOUT', `${what} timed out: check the network and that the device is powered`];
    case 'EADDRINUSE':
      return ['LINK_BUSY', `address ${path} is already in use by another program: choose another port`];
    case 'EADDRNOTAVAIL':
      return ['LINK_NOT_FOUND', `address ${path} is not available on this machine`];
    case 'ECONNRESET':
    case 'ECONNABORTED':
    case 'EPIPE':
      return ['LINK_IO', `${what} was reset by the other end`];
    case 'EIO':
    case 'ENXIO':
    case 'EBADF':
      return kind === 'serial'
        ? ['LINK_IO', `${path} went away (unplugged, or the device reset): check the cable`]
        : ['LINK_IO', `input/output error on ${what}`];
    default:
      return ['LINK_IO', `${op} failed on ${what}: ${cause}`];
  }
}

/** The error a write gets on a link that is already closed; `endedBy` is why it ended, if it failed. */
export function closedError(path: string, endedBy?: LinkError): LinkError {
  if (endedBy === undefined) return new LinkError('LINK_CLOSED', `${path} is closed: open it again`, { path });
  return new LinkError('LINK_CLOSED', `${path} is closed (${endedBy.message}): open it again`, {
    path,
    endedBy: endedBy.code,
  });
}
