/**
 * The terminal's boot banner: one ASCII line `UNICARD-TERMINAL key=value ...\r\n` (at most
 * 200 bytes) printed before any frame, then a single 0x00. A {@link BannerScanner} sits in
 * front of the frame decoder and takes such lines out of the byte stream, so a probe can
 * recognise a reader and a session can tell that its terminal restarted.
 *
 * Why not @serialport/parser-readline: it is a Node stream (a Link is not), it buffers
 * without a size cap, and it keeps the bytes after the line to itself, while here they must
 * go on to the frame decoder untouched.
 *
 * Where a banner may start: at the start of the link, or at a line start inside a run of text
 * bytes that began at the start or after a 0x00. A real frame never looks like that: after
 * its COBS code byte comes the packet version byte 0x01, which is not a text byte. So a
 * banner is never cut out of the middle of a valid frame, and bootloader text printed before
 * the banner is skipped line by line. Text lines that are not banners go on to the decoder
 * (which reports them as one bad frame, as PROTOCOL.md says: noise is counted, not hidden).
 */
import type { Link } from '../../link/link.js';
import { LinkError } from '../../protocol/errors.js';
import { TerminalSessionError } from './session-errors.js';
import { realClock, type SessionClock } from './session-clock.js';

/** Every banner line starts with these bytes. */
export const BANNER_PREFIX = 'UNICARD-TERMINAL ';
/** Longest banner line, `\r\n` included. */
export const MAX_BANNER_BYTES = 200;

const PREFIX_BYTES = new TextEncoder().encode(BANNER_PREFIX);
const LF = 0x0a;
const CR = 0x0d;

/** A parsed banner line. */
export interface TerminalBanner {
  /** The line without its `\r\n`. */
  readonly line: string;
  /** Every `key=value` word after the prefix (later duplicates win). */
  readonly fields: Readonly<Record<string, string>>;
  readonly vendor: string | undefined;
  readonly model: string | undefined;
  readonly serial: string | undefined;
  /** The `fw` field, e.g. `1.0.0`. */
  readonly firmware: string | undefined;
  /** The `proto` field as a number, when it is a decimal integer. */
  readonly protocol: number | undefined;
}

/** What a {@link BannerScanner} hands on, in stream order. */
export type BannerScanItem = { kind: 'bytes'; bytes: Uint8Array } | { kind: 'banner'; banner: TerminalBanner };

/** Parses a banner line (with or without its line end); undefined when it is not one. */
export function parseBanner(line: string): TerminalBanner | undefined {
  const text = line.replace(/\r?\n$/, '').replace(/\r$/, '');
  if (!text.startsWith(BANNER_PREFIX) || text.length + 2 > MAX_BANNER_BYTES) return undefined;
  if (!/^[\x20-\x7e\t]*$/.test(text)) return undefined;
  const fields: Record<string, string> = {};
  for (const word of text.slice(BANNER_PREFIX.length).split(/[ \t]+/)) {
    const eq = word.indexOf('=');
    if (eq > 0) fields[word.slice(0, eq)] = word.slice(eq + 1);
  }
  const proto = fields.proto;
  return {
    line: text,
    fields,
    vendor: fields.vendor,
    model: fields.model,
    serial: fields.serial,
    firmware: fields.fw,
    protocol: proto !== undefined && /^\d{1,9}$/.test(proto) ? Number(proto) : undefined,
  };
}

function isTextByte(b: number): boolean {
  return (b >= 0x20 && b <= 0x7e) || b === 0x09 || b === LF || b === CR;
}

/**
 * Separates banner lines from frame bytes in a byte stream split anywhere. Pure, no timers;
 * holds at most {@link MAX_BANNER_BYTES} bytes of a possible banner between chunks.
 */
export class BannerScanner {
  /** All bytes since the start or the last 0x00 were text bytes. */
  private textRun = true;
  /** The current line can still be a banner (so its bytes are held in `line`). */
  private candidate = true;
  private line: number[] = [];

  /** Feeds one chunk; returns frame bytes and banners in the order they came. */
  push(chunk: Uint8Array): BannerScanItem[] {
    const out: BannerScanItem[] = [];
    let passFrom = 0; // start of the run of chunk bytes going straight to the decoder
    const pass = (end: number): void => {
      if (end > passFrom) out.push({ kind: 'bytes', bytes: chunk.subarray(passFrom, end) });
    };
    let i = 0;
    while (i < chunk.length) {
      if (!this.textRun) {
        // Inside frame bytes: nothing to look at until the next delimiter.
        const z = chunk.indexOf(0x00, i);
        if (z < 0) {
          i = chunk.length;
          break;
        }
        i = z + 1;
        this.restart();
        continue;
      }
      const b = chunk[i] as number;
      if (!this.candidate) {
        i++;
        if (b === 0x00) this.restart();
        else if (!isTextByte(b)) this.textRun = false;
        else if (b === LF) this.candidate = true;
        continue;
      }
      // A possible banner: hold the byte instead of passing it.
      pass(i);
      i++;
      passFrom = i;
      this.line.push(b);
      const n = this.line.length;
      if (b === 0x00 || !isTextByte(b)) {
        this.release(out);
        if (b === 0x00) this.restart();
        else this.textRun = false;
      } else if (n <= PREFIX_BYTES.length) {
        if (b !== PREFIX_BYTES[n - 1]) {
          this.release(out);
          this.candidate = b === LF;
        }
      } else if (b === LF) {
        const banner = parseBanner(String.fromCharCode(...this.line));
        if (banner === undefined) this.release(out);
        else {
          this.line = [];
          out.push({ kind: 'banner', banner });
        }
        this.candidate = true;
      } else if (n >= MAX_BANNER_BYTES) {
        this.release(out);
        this.candidate = false;
      }
    }
    pass(i);
    return merge(out);
  }

  /** Hands on any bytes held for a banner that did not finish (e.g. when reading stops). */
  flush(): Uint8Array {
    const held = Uint8Array.from(this.line);
    this.line = [];
    this.candidate = false;
    return held;
  }

  /** Back to the state of a fresh link, holding nothing. */
  reset(): void {
    this.restart();
  }

  private restart(): void {
    this.textRun = true;
    this.candidate = true;
    this.line = [];
  }

  private release(out: BannerScanItem[]): void {
    if (this.line.length > 0) out.push({ kind: 'bytes', bytes: Uint8Array.from(this.line) });
    this.line = [];
  }
}

/** Joins neighbouring byte items, so the decoder sees few, large pieces. */
function merge(items: BannerScanItem[]): BannerScanItem[] {
  const out: BannerScanItem[] = [];
  let run: Uint8Array[] = [];
  const flushRun = (): void => {
    if (run.length === 1) out.push({ kind: 'bytes', bytes: run[0] as Uint8Array });
    else if (run.length > 1) out.push({ kind: 'bytes', bytes: concat(run) });
    run = [];
  };
  for (const item of items) {
    if (item.kind === 'bytes') run.push(item.bytes);
    else {
      flushRun();
      out.push(item);
    }
  }
  flushRun();
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** What {@link readBanner} found. */
export interface BannerReadResult {
  /** The first banner line, or undefined when none came in time. */
  banner: TerminalBanner | undefined;
  /**
   * Every other byte received meanwhile (frames, noise, the 0x00 after the banner), in
   * order: pass it to `TerminalSession` as `initialBytes` so nothing is lost.
   */
  rest: Uint8Array;
  /** Bytes dropped because `rest` reached `maxRestBytes`. */
  droppedBytes: number;
}

/** Options of {@link readBanner}. */
export interface ReadBannerOptions {
  clock?: SessionClock;
  /** Most bytes kept in `rest` (default 64 KiB); a probe on a chatty port drops the excess. */
  maxRestBytes?: number;
}

/**
 * Reads a link until a banner line arrives or `timeoutMs` passes, whichever comes first,
 * then stops reading (bytes that arrive later are held by the link for the next reader).
 * Rejects with TerminalSessionError TERMINAL_GONE when the link ends meanwhile.
 */
export function readBanner(link: Link, timeoutMs: number, options: ReadBannerOptions = {}): Promise<BannerReadResult> {
  const clock = options.clock ?? realClock;
  const maxRest = options.maxRestBytes ?? 64 * 1024;
  const scanner = new BannerScanner();
  const rest: Uint8Array[] = [];
  let restBytes = 0;
  let droppedBytes = 0;
  const keep = (bytes: Uint8Array): void => {
    const room = maxRest - restBytes;
    const kept = bytes.length <= room ? bytes : bytes.subarray(0, Math.max(0, room));
    droppedBytes += bytes.length - kept.length;
    if (kept.length > 0) {
      rest.push(kept.slice());
      restBytes += kept.length;
    }
  };
  return new Promise<BannerReadResult>((resolve, reject) => {
    let done = false;
    let banner: TerminalBanner | undefined;
    const finish = (error?: unknown): void => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      offData?.();
      offClose?.();
      if (error !== undefined) {
        reject(error);
        return;
      }
      keep(scanner.flush());
      resolve({ banner, rest: concat(rest), droppedBytes });
    };
    let offData: (() => void) | undefined;
    let offClose: (() => void) | undefined;
    const timer = clock.setTimeout(() => finish(), Math.max(0, timeoutMs));
    offData = link.onData((chunk) => {
      if (done) return;
      for (const item of scanner.push(chunk)) {
        // Items after the banner in the same chunk still belong to `rest`.
        if (item.kind === 'bytes') keep(item.bytes);
        else if (banner === undefined) banner = item.banner;
        else keep(new TextEncoder().encode(`${item.banner.line}\r\n`));
      }
      if (banner !== undefined) finish();
    });
    // Held chunks are delivered inside onData(): the banner may already be in.
    if (done) {
      offData();
      return;
    }
    offClose = link.onClose((error?: LinkError) => {
      finish(
        new TerminalSessionError('TERMINAL_GONE', `${link.info.path} closed while waiting for the terminal's banner`, {
          path: link.info.path,
          ...(error === undefined ? {} : { cause: error.code }),
        }),
      );
    });
  });
}
