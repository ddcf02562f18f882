/**
 * The pins file: terminals a technician accepted explicitly although their device
 * certificate is not under a trusted vendor root (a vendor not yet in the config, a
 * certificate that expired in the field). One JSON object, terminal id → pin:
 *
 * ```json
 * {
 *   "SIM0002": { "keyId": "15d1a4ce37136fa6", "pinnedBy": "Hassan (field technician)",
 *                "pinnedAt": "2026-11-22T09:30:00.000Z", "note": "bakery 14, vendor root pending" }
 * }
 * ```
 *
 * A pin binds the terminal id AND its device key: a terminal that presents the same id with
 * another key (a replacement, or an impostor) is not pinned. The daemon reads the file at
 * start and again whenever it changes; the `unicard trust` CLI writes it (atomically:
 * temp file + rename, so the daemon never reads half a file). A missing file means no pins.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { check, INVALID, object, optional, record, required, str } from '../config/schema-check.js';
import { formatIssue } from '../config/config-error.js';
import { TrustStoreError } from './trust-error.js';

/** One pin. */
export interface TerminalPin {
  /** Key id of the pinned device key (16 lower-case hex digits, as `devicePinId`). */
  readonly keyId: string;
  /** Who pinned it (a technician's name or badge). */
  readonly pinnedBy: string;
  /** When, ISO 8601. */
  readonly pinnedAt: string;
  readonly note?: string;
}

/** Pins by terminal id. */
export type PinMap = ReadonlyMap<string, TerminalPin>;

/** Longest pins file read (a shop has a handful of terminals; this is thousands). */
export const MAX_PINS_FILE_BYTES = 1024 * 1024;

const TERMINAL_ID = { minLength: 1, maxLength: 64, pattern: /^[\x21-\x7e]+$/, patternHint: 'printable ASCII without spaces' };
const KEY_ID = { pattern: /^[0-9a-f]{16}$/, patternHint: '16 lower-case hex digits (the key id "unicard test" shows)' };
const ISO_TIME = {
  pattern: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/,
  patternHint: 'an ISO 8601 time such as 2026-11-22T09:30:00Z',
};

const PIN_SCHEMA = object({
  keyId: required(str(KEY_ID)),
  pinnedBy: required(str({ minLength: 1, maxLength: 200 })),
  pinnedAt: required(str(ISO_TIME)),
  note: optional(str({ maxLength: 1000 })),
});
const PINS_SCHEMA = record(TERMINAL_ID, PIN_SCHEMA);

/** Parses the pins file's text. Throws PINS_FILE_INVALID naming the entry and field. */
export function parsePins(text: string, source: string): Map<string, TerminalPin> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TrustStoreError('PINS_FILE_INVALID', `pins file ${source} is not JSON: ${e instanceof Error ? e.message : String(e)}`, { source });
  }
  const { value, issues } = check(PINS_SCHEMA, json);
  if (value === INVALID) {
    throw new TrustStoreError('PINS_FILE_INVALID', `pins file ${source}: ${issues.map(formatIssue).join('; ')}`, {
      source,
      issues: issues.map(formatIssue),
    });
  }
  const out = new Map<string, TerminalPin>();
  for (const [id, pin] of value) {
    out.set(id, pin.note === undefined ? { keyId: pin.keyId, pinnedBy: pin.pinnedBy, pinnedAt: pin.pinnedAt } : { ...pin, note: pin.note });
  }
  return out;
}

/** What {@link loadPins} read. */
export interface LoadedPins {
  pins: Map<string, TerminalPin>;
  /** False when the file does not exist (no pins). */
  exists: boolean;
  /** Identity of the version read (size, mtime, inode), to notice changes cheaply. */
  stamp: string;
}

/** Identity of the file's current version, or "absent". */
export async function pinsFileStamp(path: string): Promise<string> {
  try {
    const st = await stat(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw unreadable(path, e);
  }
}

/** Reads the pins file; a missing file is no pins. Throws PINS_FILE_UNREADABLE / PINS_FILE_INVALID. */
export async function loadPins(path: string): Promise<LoadedPins> {
  const stamp = await pinsFileStamp(path);
  if (stamp === 'absent') return { pins: new Map(), exists: false, stamp };
  let text: string;
  try {
    const st = await stat(path);
    if (st.size > MAX_PINS_FILE_BYTES) {
      throw new TrustStoreError('PINS_FILE_INVALID', `pins file ${path} is ${st.size} bytes; at most ${MAX_PINS_FILE_BYTES} are read`, { source: path });
    }
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof TrustStoreError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { pins: new Map(), exists: false, stamp: 'absent' };
    throw unreadable(path, e);
  }
  return { pins: parsePins(text, path), exists: true, stamp };
}

/** The pins file's text for `pins` (sorted by terminal id, so diffs stay small). */
export function formatPins(pins: PinMap): string {
  const out: Record<string, TerminalPin> = {};
  for (const id of [...pins.keys()].sort()) out[id] = pins.get(id)!;
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Writes the pins file atomically (temp file in the same directory, fsync, rename). */
export async function savePins(path: string, pins: PinMap): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(formatPins(pins), 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** A pin to add: `pinnedAt` defaults to now. */
export interface NewPin {
  terminalId: string;
  keyId: string;
  pinnedBy: string;
  pinnedAt?: Date;
  note?: string;
}

/**
 * Adds (or replaces) the pin of a terminal in the pins file and returns the new map. For the
 * technician's CLI; the daemon notices the change on its next rescan (or SIGHUP).
 */
export async function addPin(path: string, pin: NewPin): Promise<Map<string, TerminalPin>> {
  const entry: Record<string, unknown> = {
    keyId: pin.keyId,
    pinnedBy: pin.pinnedBy,
    pinnedAt: (pin.pinnedAt ?? new Date()).toISOString(),
    ...(pin.note === undefined ? {} : { note: pin.note }),
  };
  const { issues } = check(PINS_SCHEMA, { [pin.terminalId]: entry });
  if (issues.length > 0) throw new TrustStoreError('PIN_INVALID', `cannot pin: ${issues.map(formatIssue).join('; ')}`);
  const { pins } = await loadPins(path);
  pins.set(pin.terminalId, entry as unknown as TerminalPin);
  await savePins(path, pins);
  return pins;
}

/** Removes a terminal's pin; resolves false when it had none. */
export async function removePin(path: string, terminalId: string): Promise<boolean> {
  const { pins } = await loadPins(path);
  if (!pins.delete(terminalId)) return false;
  await savePins(path, pins);
  return true;
}

function unreadable(path: string, e: unknown): TrustStoreError {
  const code = (e as NodeJS.ErrnoException).code ?? 'error';
  return new TrustStoreError('PINS_FILE_UNREADABLE', `cannot read the pins file ${path}: ${code}`, { source: path, cause: code });
}
