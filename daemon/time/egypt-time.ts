/**
 * Egypt's UTC offset at an instant (Africa/Cairo, with the daylight saving time Egypt brought
 * back in 2023). The ledger's period keys and the policy's calendar both count days from it.
 *
 * The rules come from the system's compiled tz file (`$TZDIR/Africa/Cairo`, default
 * `/usr/share/zoneinfo`), parsed once; Intl (ICU's copy of the same database) is the fallback
 * when that file is missing or unreadable, and is not touched otherwise: see
 * time-zone-file.ts for why (about 8 MiB of resident memory).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { offsetAt, parseZoneFile, type ZoneRules } from './time-zone-file.js';

/** Egypt's IANA time zone. */
export const EGYPT_TIME_ZONE = 'Africa/Cairo';

/** Where the offsets come from, for the daemon's start record and `unicard` diagnostics. */
export type EgyptTimeSource = { readonly kind: 'zone-file'; readonly path: string } | { readonly kind: 'intl'; readonly reason: string };

let loaded: { readonly source: EgyptTimeSource; readonly zone?: ZoneRules } | undefined;

function load(): { readonly source: EgyptTimeSource; readonly zone?: ZoneRules } {
  if (loaded !== undefined) return loaded;
  const path = join(process.env.TZDIR ?? '/usr/share/zoneinfo', EGYPT_TIME_ZONE);
  try {
    loaded = { source: { kind: 'zone-file', path }, zone: parseZoneFile(new Uint8Array(readFileSync(path))) };
  } catch (e) {
    const reason = typeof e === 'object' && e !== null && 'code' in e ? `${path}: ${String((e as { code: unknown }).code)}` : `${path}: unreadable`;
    loaded = { source: { kind: 'intl', reason } };
  }
  return loaded;
}

/** Where Egypt's offsets come from in this process. */
export function egyptTimeSource(): EgyptTimeSource {
  return load().source;
}

const intlFormats = new Map<string, Intl.DateTimeFormat>();

/**
 * A zone's UTC offset (seconds east) at a Unix time (seconds), from Intl (ICU's copy of the tz
 * database): the fallback for Egypt, and the reference the zone-file tests check against.
 */
export function intlOffsetSeconds(timeZone: string, unixSeconds: number): number {
  let format = intlFormats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      calendar: 'gregory',
      numberingSystem: 'latn',
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    intlFormats.set(timeZone, format);
  }
  const t = Math.floor(unixSeconds);
  const p: Record<string, number> = {};
  for (const part of format.formatToParts(t * 1000)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const wall = Date.UTC(p.year ?? 1970, (p.month ?? 1) - 1, p.day ?? 1, (p.hour ?? 0) % 24, p.minute ?? 0, p.second ?? 0);
  return wall / 1000 - t;
}

/** Cairo's UTC offset (seconds east) from Intl: the fallback, and the tests' reference. */
export function intlCairoOffsetSeconds(unixSeconds: number): number {
  return intlOffsetSeconds(EGYPT_TIME_ZONE, unixSeconds);
}

const HOUR_MS = 3_600_000;
// Per UTC hour: the offset can only change on a whole UTC hour (Egypt's offsets are whole
// hours and its changes fall at local midnight), and the daemon asks for today several times
// per authorization. Bounded: a cache, not state.
const offsetByHour = new Map<number, number>();
const OFFSET_CACHE_LIMIT = 4096;

/** Cairo's UTC offset in ms at a Unix time in ms. */
export function cairoOffsetMs(unixMs: number): number {
  const hour = Math.floor(unixMs / HOUR_MS);
  let off = offsetByHour.get(hour);
  if (off === undefined) {
    const at = (hour * HOUR_MS) / 1000;
    const { zone } = load();
    off = (zone === undefined ? intlCairoOffsetSeconds(at) : offsetAt(zone, at)) * 1000;
    if (offsetByHour.size >= OFFSET_CACHE_LIMIT) offsetByHour.clear();
    offsetByHour.set(hour, off);
  }
  return off;
}
