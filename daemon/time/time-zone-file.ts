/**
 * Time zone rules from a compiled tz database file (TZif, RFC 8536) and from the POSIX TZ
 * string in its footer, as `/usr/share/zoneinfo/Africa/Cairo` holds them. Pure functions, no
 * I/O: egypt-time.ts reads the file.
 *
 * Why not Intl: Intl's time zones live in ICU's data, which node maps from its own binary;
 * touching it costs the daemon about 8 MiB of resident memory (DESIGN.md §10 allows 80 MB in
 * all) to learn one offset per hour. The operating system's tz file carries the same rules,
 * is updated with the system (apt's tzdata), and is a few hundred bytes.
 */
import { UnicardError } from '../../protocol/errors.js';

/** Why a zone file or TZ string was refused. */
export type TimeZoneErrorCode = 'TIME_ZONE_INVALID';

/** A zone file or TZ string that does not follow RFC 8536 / POSIX. */
export class TimeZoneError extends UnicardError {
  declare readonly code: TimeZoneErrorCode;
  constructor(message: string, detail?: Record<string, unknown>) {
    super('TIME_ZONE_INVALID', message, detail);
  }
}

/** A rule date of a POSIX TZ string: `Jn`, `n` or `Mm.w.d`, and the local time of the change. */
export type PosixRuleDate =
  | { readonly kind: 'julian'; readonly day: number; readonly timeSeconds: number }
  | { readonly kind: 'zero-based'; readonly day: number; readonly timeSeconds: number }
  | { readonly kind: 'month-week-day'; readonly month: number; readonly week: number; readonly weekday: number; readonly timeSeconds: number };

/** A POSIX TZ string, e.g. "EET-2EEST,M4.5.5/0,M10.5.4/24". Offsets are seconds east of UTC. */
export interface PosixZone {
  readonly standardOffset: number;
  readonly dst?: { readonly offset: number; readonly start: PosixRuleDate; readonly end: PosixRuleDate };
}

/** The rules of one zone: offsets between transitions, then the footer's rule. */
export interface ZoneRules {
  /** Transition instants, Unix seconds, strictly ascending. */
  readonly transitions: readonly number[];
  /** UTC offset (seconds east) in force from transitions[i] on. */
  readonly offsets: readonly number[];
  /** The offset before the first transition (the file's time type 0). */
  readonly initialOffset: number;
  /** The rule after the last transition (version 2+ files). */
  readonly footer?: PosixZone;
}

const HEADER_SIZE = 44;
// Bounds well above any real zone (Africa/Cairo has ~130 transitions): a corrupt count must
// not make us allocate or loop for long.
const MAX_TRANSITIONS = 10_000;
const MAX_TYPES = 256;
const MAX_CHARS = 4096;
const MAX_LEAPS = 1_000;
const MAX_FOOTER = 255;
// RFC 8536 §3.3.1: rule times may be −167..167 hours.
const MAX_RULE_HOURS = 167;
const DAY_SECONDS = 86_400;

interface Counts {
  readonly isut: number;
  readonly isstd: number;
  readonly leap: number;
  readonly time: number;
  readonly type: number;
  readonly char: number;
}

function readCounts(view: DataView, at: number): Counts {
  const c = {
    isut: view.getUint32(at + 20),
    isstd: view.getUint32(at + 24),
    leap: view.getUint32(at + 28),
    time: view.getUint32(at + 32),
    type: view.getUint32(at + 36),
    char: view.getUint32(at + 40),
  };
  if (c.time > MAX_TRANSITIONS || c.type < 1 || c.type > MAX_TYPES || c.char < 1 || c.char > MAX_CHARS || c.leap > MAX_LEAPS) {
    throw new TimeZoneError('zone file counts out of range', { ...c });
  }
  if ((c.isut !== 0 && c.isut !== c.type) || (c.isstd !== 0 && c.isstd !== c.type)) throw new TimeZoneError('zone file indicator counts do not match its types');
  return c;
}

function blockSize(c: Counts, timeSize: 4 | 8): number {
  return c.time * timeSize + c.time + c.type * 6 + c.char + c.leap * (timeSize + 4) + c.isstd + c.isut;
}

function checkMagic(bytes: Uint8Array, at: number): number {
  if (bytes.length < at + HEADER_SIZE) throw new TimeZoneError('zone file truncated in its header');
  if (bytes[at] !== 0x54 || bytes[at + 1] !== 0x5a || bytes[at + 2] !== 0x69 || bytes[at + 3] !== 0x66) throw new TimeZoneError('not a TZif file (magic)');
  const v = bytes[at + 4] as number;
  if (v === 0) return 1;
  if (v >= 0x32 && v <= 0x34) return v - 0x30;
  throw new TimeZoneError('unknown TZif version', { version: v });
}

/**
 * Parses a TZif file (versions 1 to 4). Version 2+ files are read from their 64-bit block
 * and footer. Leap-second records are skipped (they never change a civil offset).
 * @throws TimeZoneError TIME_ZONE_INVALID for anything that is not a well-formed file.
 */
export function parseZoneFile(bytes: Uint8Array): ZoneRules {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = checkMagic(bytes, 0);
  let counts = readCounts(view, 0);
  let at = HEADER_SIZE;
  let timeSize: 4 | 8 = 4;
  if (version >= 2) {
    at += blockSize(counts, 4);
    if (checkMagic(bytes, at) !== version) throw new TimeZoneError('zone file headers disagree on the version');
    counts = readCounts(view, at);
    at += HEADER_SIZE;
    timeSize = 8;
  }
  const end = at + blockSize(counts, timeSize);
  if (bytes.length < end) throw new TimeZoneError('zone file truncated in its data block');

  const times: number[] = [];
  for (let i = 0; i < counts.time; i++) {
    const t = timeSize === 8 ? Number(view.getBigInt64(at + i * 8)) : view.getInt32(at + i * 4);
    if (i > 0 && t <= (times[i - 1] as number)) throw new TimeZoneError('zone file transitions are not ascending', { index: i });
    times.push(t);
  }
  at += counts.time * timeSize;
  const typeIndex = bytes.subarray(at, at + counts.time);
  at += counts.time;
  const typeOffsets: number[] = [];
  for (let i = 0; i < counts.type; i++) {
    const utoff = view.getInt32(at + i * 6);
    // RFC 8536: −2^31 is not allowed; real offsets are within ±26 h.
    if (utoff <= -93_600 || utoff >= 93_600) throw new TimeZoneError('zone file offset out of range', { utoff });
    typeOffsets.push(utoff);
  }
  const offsets = Array.from(typeIndex, (k) => {
    const off = typeOffsets[k];
    if (off === undefined) throw new TimeZoneError('zone file transition names an unknown type', { type: k });
    return off;
  });

  let footer: PosixZone | undefined;
  if (version >= 2) {
    if (bytes[end] !== 0x0a) throw new TimeZoneError('zone file footer missing');
    const close = bytes.indexOf(0x0a, end + 1);
    if (close < 0 || close - end - 1 > MAX_FOOTER) throw new TimeZoneError('zone file footer not terminated');
    const tz = new TextDecoder('ascii', { fatal: true }).decode(bytes.subarray(end + 1, close));
    // An empty footer means "no rule after the last transition".
    if (tz !== '') footer = parsePosixZone(tz);
  }
  return { transitions: times, offsets, initialOffset: typeOffsets[0] as number, ...(footer === undefined ? {} : { footer }) };
}

/** The UTC offset (seconds east) in force at a Unix time (seconds). */
export function offsetAt(zone: ZoneRules, unixSeconds: number): number {
  const ts = zone.transitions;
  if (ts.length === 0 || unixSeconds < (ts[0] as number)) {
    return ts.length === 0 && zone.footer !== undefined ? posixOffsetAt(zone.footer, unixSeconds) : zone.initialOffset;
  }
  if (unixSeconds >= (ts[ts.length - 1] as number) && zone.footer !== undefined) return posixOffsetAt(zone.footer, unixSeconds);
  // The last transition at or before the instant.
  let lo = 0;
  let hi = ts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((ts[mid] as number) <= unixSeconds) lo = mid;
    else hi = mid - 1;
  }
  return zone.offsets[lo] as number;
}

// ---------------------------------------------------------------------------------------
// POSIX TZ strings (RFC 8536 §3.3, POSIX.1-2017 §8.3)
// ---------------------------------------------------------------------------------------

class TzReader {
  i = 0;
  constructor(readonly s: string) {}
  fail(what: string): never {
    throw new TimeZoneError(`TZ string ${JSON.stringify(this.s)}: ${what} at ${this.i}`);
  }
  peek(): string {
    return this.s[this.i] ?? '';
  }
  done(): boolean {
    return this.i >= this.s.length;
  }
  name(): void {
    if (this.peek() === '<') {
      const close = this.s.indexOf('>', this.i);
      if (close < this.i + 4) this.fail('quoted name');
      this.i = close + 1;
      return;
    }
    const start = this.i;
    while (/[A-Za-z]/.test(this.peek())) this.i++;
    if (this.i - start < 3) this.fail('name of at least 3 letters');
  }
  /** [+-]hh[:mm[:ss]] in seconds, hours up to `maxHours`. */
  clock(maxHours: number): number {
    let sign = 1;
    if (this.peek() === '+' || this.peek() === '-') sign = this.s[this.i++] === '-' ? -1 : 1;
    const parts = [this.number(0, maxHours)];
    while (parts.length < 3 && this.peek() === ':') {
      this.i++;
      parts.push(this.number(0, 59));
    }
    return sign * ((parts[0] as number) * 3600 + (parts[1] ?? 0) * 60 + (parts[2] ?? 0));
  }
  number(min: number, max: number): number {
    const start = this.i;
    while (/[0-9]/.test(this.peek())) this.i++;
    if (this.i === start || this.i - start > 3) this.fail('number');
    const n = Number(this.s.slice(start, this.i));
    if (n < min || n > max) this.fail(`number in ${min}..${max}`);
    return n;
  }
  expect(c: string): void {
    if (this.peek() !== c) this.fail(`'${c}'`);
    this.i++;
  }
  ruleDate(): PosixRuleDate {
    let date: { kind: 'julian' | 'zero-based'; day: number } | { kind: 'month-week-day'; month: number; week: number; weekday: number };
    if (this.peek() === 'J') {
      this.i++;
      date = { kind: 'julian', day: this.number(1, 365) };
    } else if (this.peek() === 'M') {
      this.i++;
      const month = this.number(1, 12);
      this.expect('.');
      const week = this.number(1, 5);
      this.expect('.');
      date = { kind: 'month-week-day', month, week, weekday: this.number(0, 6) };
    } else {
      date = { kind: 'zero-based', day: this.number(0, 365) };
    }
    let timeSeconds = 7200; // POSIX default: 02:00
    if (this.peek() === '/') {
      this.i++;
      timeSeconds = this.clock(MAX_RULE_HOURS);
    }
    return { ...date, timeSeconds };
  }
}

/**
 * Parses a POSIX TZ string. POSIX writes offsets west of UTC ("EET-2" is UTC+2); the result
 * has them east, like TZif. A DST part needs its rule (the implementation-defined default is
 * not guessed).
 * @throws TimeZoneError TIME_ZONE_INVALID
 */
export function parsePosixZone(tz: string): PosixZone {
  const r = new TzReader(tz);
  r.name();
  const standardOffset = east(r.clock(24));
  if (r.done()) return { standardOffset };
  r.name();
  let dstOffset = standardOffset + 3600;
  if (r.peek() !== ',') dstOffset = east(r.clock(24));
  if (r.peek() !== ',') r.fail('DST rule');
  r.i++;
  const start = r.ruleDate();
  r.expect(',');
  const end = r.ruleDate();
  if (!r.done()) r.fail('end of string');
  return { standardOffset, dst: { offset: dstOffset, start, end } };
}

/** POSIX offsets are west of UTC; ours are east (no −0). */
function east(westSeconds: number): number {
  return westSeconds === 0 ? 0 : -westSeconds;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Unix seconds of local midnight (as if UTC) of a rule date's day in year `y`. */
function ruleDay(d: PosixRuleDate, y: number): number {
  const jan1 = Date.UTC(y, 0, 1) / 1000;
  switch (d.kind) {
    case 'julian':
      // J1..J365 never count February 29.
      return jan1 + (d.day - 1 + (isLeap(y) && d.day >= 60 ? 1 : 0)) * DAY_SECONDS;
    case 'zero-based':
      return jan1 + d.day * DAY_SECONDS;
    case 'month-week-day': {
      const first = new Date(Date.UTC(y, d.month - 1, 1)).getUTCDay();
      let day = 1 + ((d.weekday - first + 7) % 7) + (d.week - 1) * 7;
      const inMonth = new Date(Date.UTC(y, d.month, 0)).getUTCDate();
      while (day > inMonth) day -= 7; // week 5 = the last such weekday
      return Date.UTC(y, d.month - 1, day) / 1000;
    }
  }
}

/** The UTC offset (seconds east) a POSIX zone gives at a Unix time (seconds). */
export function posixOffsetAt(z: PosixZone, unixSeconds: number): number {
  const dst = z.dst;
  if (dst === undefined) return z.standardOffset;
  // The rule's year is the year in local standard time.
  const y = new Date((unixSeconds + z.standardOffset) * 1000).getUTCFullYear();
  // Each change happens at a time given in the local time in force just before it.
  const start = ruleDay(dst.start, y) + dst.start.timeSeconds - z.standardOffset;
  const end = ruleDay(dst.end, y) + dst.end.timeSeconds - dst.offset;
  const inDst = start < end ? unixSeconds >= start && unixSeconds < end : !(unixSeconds >= end && unixSeconds < start);
  return inDst ? dst.offset : z.standardOffset;
}
