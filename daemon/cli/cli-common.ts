/**
 * What every `unicard` command shares: exit codes, errors that say what to do, output
 * (human text or `--json`), opening a link (`--port`, `--tcp`, `--hid`) and the trust
 * decision for a direct connection (`--vendor-root`, `--pins`, `--pin`, `--insecure-accept`).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Link } from '../../link/link.js';
import { SerialLink } from '../../link/serial-link.js';
import { TcpLink } from '../../link/tcp-link.js';
import { LinkError, UnicardError } from '../../protocol/errors.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { createTrustPolicy, devicePinId, type TrustCallback } from '../session/index.js';
import { loadRootKeyFile } from '../trust/root-keys.js';
import { loadPins } from '../trust/pins-file.js';

/** Exit codes of every command (documented in CLI.md and `unicard --help`). */
export const ExitCode = {
  OK: 0,
  /** A check failed (test, conformance, ledger verify, flash rolled back). */
  CHECK_FAILED: 1,
  /** Bad command line. */
  USAGE: 2,
  /** The device (or daemon) cannot be reached, or is busy. */
  UNREACHABLE: 3,
  /** The terminal (or an image) is not trusted. */
  UNTRUSTED: 4,
  /** Anything else went wrong (a bug, a file that cannot be read). */
  FAILED: 5,
} as const;

/** An error for the user: what happened, what to do, and the exit code. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Where a command writes. Tests pass their own; main passes the process streams. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** True when stdout is a terminal (progress bar redraws, prompts). */
  isTty: boolean;
  /** Asks the operator a question on a TTY; undefined when nobody can answer. */
  ask?: (question: string) => Promise<string>;
  env: NodeJS.ProcessEnv;
}

/** Options every device command takes. */
export const LINK_OPTIONS = {
  port: { type: 'string' },
  tcp: { type: 'string' },
  hid: { type: 'string' },
  baud: { type: 'string' },
  'vendor-root': { type: 'string', multiple: true },
  pins: { type: 'string' },
  pin: { type: 'string', multiple: true },
  'insecure-accept': { type: 'boolean' },
  socket: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Parses a command's arguments; unknown options are a usage error naming the option. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: O,
  usage: string,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>> {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new CliError(ExitCode.USAGE, e instanceof Error ? e.message : String(e), usage);
  }
}

/** The link a command was pointed at. */
export interface LinkTarget {
  kind: 'serial' | 'tcp';
  path: string;
}

/** `--port`, `--tcp` or `--hid` → a target; exactly one is required. */
export function linkTarget(values: { port?: string | undefined; tcp?: string | undefined; hid?: string | undefined }, usage: string): LinkTarget {
  if (values.hid !== undefined) {
    throw new CliError(ExitCode.UNREACHABLE, 'USB HID terminals are not available on this machine (this build has no HID driver)', 'connect the terminal as a USB serial device, or use --port / --tcp');
  }
  const given = [values.port, values.tcp].filter((v) => v !== undefined);
  if (given.length !== 1) throw new CliError(ExitCode.USAGE, 'give exactly one of --port <path> or --tcp <host:port>', `${usage}\n(unicard devices lists the terminals it can find)`);
  return values.port !== undefined ? { kind: 'serial', path: values.port } : { kind: 'tcp', path: values.tcp! };
}

/** What to do about a link that would not open, in plain words. */
export function linkHint(e: unknown, target: LinkTarget): string {
  const code = e instanceof UnicardError ? e.code : '';
  const msg = e instanceof Error ? e.message : String(e);
  if (/EACCES|permission/i.test(msg) || code === 'LINK_PERMISSION_DENIED') {
    return `you may not open ${target.path}: add yourself to the "dialout" group (sudo usermod -aG dialout $USER, then log in again)`;
  }
  if (/EBUSY|busy|lock/i.test(msg) || code === 'LINK_BUSY') return `${target.path} is in use by another program: stop unicardd (or the other program), or run this through the daemon`;
  if (/ENOENT|not found|no such/i.test(msg) || code === 'LINK_NOT_FOUND') return `${target.path} does not exist: check the cable, then run "unicard devices"`;
  if (/ECONNREFUSED|refused/i.test(msg)) return `nothing listens at ${target.path}: is the terminal (or ser2net) running and the address right?`;
  return 'check the cable and the path, then run "unicard devices"';
}

/** Opens the link of `target`; a failure is a CliError with exit code 3 and what to do. */
export async function openLink(target: LinkTarget, baud?: number): Promise<Link> {
  try {
    if (target.kind === 'serial') return await SerialLink.open(target.path, baud === undefined ? {} : { baudRate: baud });
    return await TcpLink.connect(target.path);
  } catch (e) {
    const what = e instanceof LinkError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    throw new CliError(ExitCode.UNREACHABLE, `cannot open ${target.path}: ${what}`, linkHint(e, target));
  }
}

/** Trust options as parsed. */
export interface TrustValues {
  'vendor-root'?: string[] | undefined;
  pins?: string | undefined;
  pin?: string[] | undefined;
  'insecure-accept'?: boolean | undefined;
}

/** True when the command line says how to trust a terminal. */
export function hasTrust(v: TrustValues): boolean {
  return (v['vendor-root']?.length ?? 0) > 0 || v.pins !== undefined || (v.pin?.length ?? 0) > 0 || v['insecure-accept'] === true;
}

/**
 * The trust decision for a direct connection: vendor roots (`--vendor-root`, or
 * UNICARD_VENDOR_ROOT), pins (`--pins` file in the daemon's format, `--pin <key id>`), or
 * `--insecure-accept` (anything, with a warning on stderr).
 */
export async function trustFrom(v: TrustValues, io: CliIo): Promise<TrustCallback> {
  const ed = new NodeEd25519();
  if (v['insecure-accept'] === true) {
    io.err('warning: --insecure-accept: any terminal is accepted, whoever made it. Use this only on a bench, never in a shop.\n');
    return () => 'pinned';
  }
  const rootFiles = [...(v['vendor-root'] ?? [])];
  if (rootFiles.length === 0 && io.env.UNICARD_VENDOR_ROOT) rootFiles.push(io.env.UNICARD_VENDOR_ROOT);
  const keys: Uint8Array[] = [];
  for (const f of rootFiles) {
    try {
      keys.push((await loadRootKeyFile(f, 'vendor-root')).publicKey);
    } catch (e) {
      throw new CliError(ExitCode.USAGE, `--vendor-root ${f}: ${e instanceof Error ? e.message : String(e)}`, 'give the vendor public key file (unicard-public-key/1 JSON) your vendor shipped');
    }
  }
  const pinIds = new Set<string>((v.pin ?? []).map((p) => p.toLowerCase()));
  if (v.pins !== undefined) {
    try {
      for (const pin of (await loadPins(v.pins)).pins.values()) pinIds.add(pin.keyId);
    } catch (e) {
      throw new CliError(ExitCode.USAGE, `--pins ${v.pins}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return createTrustPolicy({ ed, vendorRoots: trustedKeysOf(keys), pins: (d) => pinIds.has(devicePinId(d)) });
}

/** Turns a failure of a session step into a CliError with the right exit code. */
export function sessionFailure(e: unknown, target: LinkTarget): CliError {
  if (e instanceof CliError) return e;
  const code = e instanceof UnicardError ? e.code : '';
  const msg = e instanceof Error ? e.message : String(e);
  if (code === 'HANDSHAKE_UNTRUSTED') {
    return new CliError(ExitCode.UNTRUSTED, msg, 'give --vendor-root <vendor public key file>, or pin this terminal: unicard trust pin --port ... (then --pins <file>), or --pin <key id>');
  }
  if (code.startsWith('HANDSHAKE_')) return new CliError(ExitCode.UNTRUSTED, `the handshake failed: ${msg}`, 'this device does not prove it holds its certificate key: do not use it; ask the vendor');
  if (['TERMINAL_UNRESPONSIVE', 'TERMINAL_GONE', 'TIMEOUT', 'SESSION_CLOSED', 'PROTOCOL_MISMATCH'].includes(code) || code.startsWith('LINK_')) {
    return new CliError(ExitCode.UNREACHABLE, `no answer from the terminal at ${target.path}: ${msg}`, 'is it powered and on this port? is another program (unicardd) using it? try "unicard devices"');
  }
  return new CliError(ExitCode.FAILED, msg);
}

/** Writes `value` as one JSON document (Uint8Array as hex). */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}

/** Parses an integer option, or a usage error naming it. */
export function intOption(name: string, value: string | undefined, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError(ExitCode.USAGE, `--${name} must be a whole number from ${min} to ${max} (got "${value}")`);
  return n;
}

/** The daemon's socket path: --socket, UNICARD_SOCKET, or the system default. */
export function daemonSocket(values: { socket?: string | undefined }, env: NodeJS.ProcessEnv): string {
  return values.socket ?? env.UNICARD_SOCKET ?? '/run/unicard/unicardd.sock';
}
