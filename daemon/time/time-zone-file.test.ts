import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { intlOffsetSeconds } from './egypt-time.js';
import { offsetAt, parsePosixZone, parseZoneFile, posixOffsetAt, TimeZoneError, type ZoneRules } from './time-zone-file.js';

const RUNS = fuzzRuns(2_000);
const vectors = JSON.parse(readFileSync(join(import.meta.dirname, '../../test/vectors/tzif.json'), 'utf8')) as { zones: Record<string, string> };
const fileOf = (zone: string): Uint8Array => new Uint8Array(Buffer.from(vectors.zones[zone] as string, 'base64'));

// The reference: ICU's copy of the tz database, through Intl (intlOffsetSeconds).

/** Every instant where the zone's offset changes in [from, to), found hour by hour then to the second. */
function changes(zone: ZoneRules, from: number, to: number): number[] {
  const out: number[] = [];
  for (let t = from; t < to; t += 3600) {
    if (offsetAt(zone, t) === offsetAt(zone, t + 3600)) continue;
    let lo = t;
    let hi = t + 3600;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offsetAt(zone, mid) === offsetAt(zone, t)) lo = mid;
      else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

const utc = (iso: string): number => Date.parse(iso) / 1000;

describe('TZif files (RFC 8536) against Intl', () => {
  for (const name of Object.keys(vectors.zones)) {
    it(`${name}: the same offset as Intl at random instants 1970–2100 and on both sides of every change 2000–2040`, { timeout: 60_000 }, () => {
      const zone = parseZoneFile(fileOf(name));
      fc.assert(
        fc.property(fc.integer({ min: 0, max: utc('2100-01-01T00:00:00Z') }), (t) => {
          expect(offsetAt(zone, t)).toBe(intlOffsetSeconds(name, t));
        }),
        { numRuns: RUNS },
      );
      for (const t of changes(zone, utc('2000-01-01T00:00:00Z'), utc('2040-01-01T00:00:00Z'))) {
        for (const u of [t - 3601, t - 1, t, t + 1, t + 3600]) expect(offsetAt(zone, u), `${name} at ${new Date(u * 1000).toISOString()}`).toBe(intlOffsetSeconds(name, u));
      }
    });
  }

  it("Africa/Cairo: Egypt's changes since 2023 fall where POLICY.md says (last Friday of April 00:00, last Thursday of October 24:00)", () => {
    const zone = parseZoneFile(fileOf('Africa/Cairo'));
    expect(changes(zone, utc('2023-01-01T00:00:00Z'), utc('2028-01-01T00:00:00Z')).map((t) => new Date(t * 1000).toISOString())).toEqual([
      '2023-04-27T22:00:00.000Z',
      '2023-10-26T21:00:00.000Z',
      '2024-04-25T22:00:00.000Z',
      '2024-10-31T21:00:00.000Z',
      '2025-04-24T22:00:00.000Z',
      '2025-10-30T21:00:00.000Z',
      '2026-04-23T22:00:00.000Z',
      '2026-10-29T21:00:00.000Z',
      '2027-04-29T22:00:00.000Z',
      '2027-10-28T21:00:00.000Z',
    ]);
    // No daylight saving 2015–2022: one offset, +2 h.
    expect(changes(zone, utc('2015-01-01T00:00:00Z'), utc('2023-01-01T00:00:00Z'))).toEqual([]);
    expect(offsetAt(zone, utc('2020-07-01T00:00:00Z'))).toBe(7200);
    expect(offsetAt(zone, utc('2024-07-01T00:00:00Z'))).toBe(10800);
  });

  it('a version 1 file (32-bit block only, no footer) gives the offsets of its transitions', () => {
    const v2 = fileOf('Africa/Cairo');
    const v1 = new Uint8Array(v2);
    v1[4] = 0; // same first block, now read as version 1
    const zone = parseZoneFile(v1);
    expect(zone.footer).toBeUndefined();
    for (const iso of ['1990-07-01T00:00:00Z', '2010-01-15T00:00:00Z', '2014-07-01T00:00:00Z']) expect(offsetAt(zone, utc(iso))).toBe(intlOffsetSeconds('Africa/Cairo', utc(iso)));
  });
});

describe('bad zone files: TIME_ZONE_INVALID, never a wrong offset', () => {
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(TimeZoneError);
      return (e as TimeZoneError).code;
    }
    return undefined;
  };
  const cairo = fileOf('Africa/Cairo');
  const patched = (at: number, bytes: number[]): Uint8Array => {
    const b = new Uint8Array(cairo);
    b.set(bytes, at);
    return b;
  };

  it('refuses a wrong magic, an unknown version, truncations and absurd counts', () => {
    expect(code(() => parseZoneFile(new Uint8Array(0)))).toBe('TIME_ZONE_INVALID');
    expect(code(() => parseZoneFile(patched(0, [0x54, 0x5a, 0x69, 0x67])))).toBe('TIME_ZONE_INVALID');
    expect(code(() => parseZoneFile(patched(4, [0x39])))).toBe('TIME_ZONE_INVALID');
    for (const cut of [10, 43, 44, 200, cairo.length - 5, cairo.length - 1]) expect(code(() => parseZoneFile(cairo.subarray(0, cut))), `cut at ${cut}`).toBe('TIME_ZONE_INVALID');
    // timecnt 0xFFFFFFFF: refused before anything is read or allocated.
    expect(code(() => parseZoneFile(patched(32, [0xff, 0xff, 0xff, 0xff])))).toBe('TIME_ZONE_INVALID');
    // typecnt 0
    expect(code(() => parseZoneFile(patched(36, [0, 0, 0, 0])))).toBe('TIME_ZONE_INVALID');
  });

  it('refuses transitions out of order, unknown types and a broken footer', () => {
    const zone = parseZoneFile(cairo);
    const n = zone.transitions.length;
    // Second header: after the first block; its transitions start 44 bytes later.
    const view = new DataView(cairo.buffer, cairo.byteOffset);
    const c1 = [20, 24, 28, 32, 36, 40].map((o) => view.getUint32(o));
    const [isut, isstd, leap, time, type, chars] = c1 as [number, number, number, number, number, number];
    const second = 44 + time * 5 + type * 6 + chars + leap * 8 + isstd + isut;
    const times = second + 44;
    const swapped = new Uint8Array(cairo);
    swapped.set(cairo.subarray(times + 8, times + 16), times);
    swapped.set(cairo.subarray(times, times + 8), times + 8);
    expect(code(() => parseZoneFile(swapped))).toBe('TIME_ZONE_INVALID');
    const badType = new Uint8Array(cairo);
    badType[times + n * 8] = 200;
    expect(code(() => parseZoneFile(badType))).toBe('TIME_ZONE_INVALID');
    const footer = cairo.lastIndexOf(0x0a, cairo.length - 2);
    expect(code(() => parseZoneFile(patched(footer + 1, [...Buffer.from('1X')])))).toBe('TIME_ZONE_INVALID');
    expect(code(() => parseZoneFile(cairo.subarray(0, cairo.length - 1)))).toBe('TIME_ZONE_INVALID');
  });

  it('property: random bytes and random damage to a real file are refused or parse, and never throw anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.tuple(fc.nat(cairo.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (junk, damage) => {
        for (const bytes of [junk, (() => {
          const b = new Uint8Array(cairo);
          for (const [at, v] of damage) b[at] = v;
          return b;
        })()]) {
          try {
            const z = parseZoneFile(bytes);
            const off = offsetAt(z, 1_700_000_000);
            expect(Number.isInteger(off) && Math.abs(off) < 93_600).toBe(true);
          } catch (e) {
            expect(e).toBeInstanceOf(TimeZoneError);
          }
        }
      }),
      { numRuns: Math.min(RUNS, 5_000) },
    );
  });
});

describe('POSIX TZ strings', () => {
  it('reads the three rule forms, quoted names, explicit DST offsets and rule times beyond 24 h', () => {
    expect(parsePosixZone('EET-2EEST,M4.5.5/0,M10.5.4/24')).toEqual({
      standardOffset: 7200,
      dst: { offset: 10800, start: { kind: 'month-week-day', month: 4, week: 5, weekday: 5, timeSeconds: 0 }, end: { kind: 'month-week-day', month: 10, week: 5, weekday: 4, timeSeconds: 86_400 } },
    });
    expect(parsePosixZone('<-03>3')).toEqual({ standardOffset: -10_800 });
    expect(parsePosixZone('<+0330>-3:30')).toEqual({ standardOffset: 12_600 });
    expect(parsePosixZone('XXX3YYY2:30,J60/1:30,300/-1')).toEqual({
      standardOffset: -10_800,
      dst: { offset: -9000, start: { kind: 'julian', day: 60, timeSeconds: 5400 }, end: { kind: 'zero-based', day: 300, timeSeconds: -3600 } },
    });
    expect(parsePosixZone('AAA-1BBB,M3.5.0/167,M10.5.0')?.dst?.start.timeSeconds).toBe(167 * 3600);
  });

  it('evaluates them: Jn skips February 29, n counts it, southern-hemisphere rules wrap the year', () => {
    // J60 is March 1 in every year; day 59 (zero-based) is February 29 in a leap year.
    const j = parsePosixZone('AAA0BBB,J60/0,J305/0');
    expect(posixOffsetAt(j, utc('2024-02-29T23:59:59Z'))).toBe(0);
    expect(posixOffsetAt(j, utc('2024-03-01T00:00:00Z'))).toBe(3600);
    const n = parsePosixZone('AAA0BBB,59/0,304/0');
    expect(posixOffsetAt(n, utc('2024-02-28T23:59:59Z'))).toBe(0);
    expect(posixOffsetAt(n, utc('2024-02-29T00:00:00Z'))).toBe(3600);
    expect(posixOffsetAt(n, utc('2023-03-01T00:00:00Z'))).toBe(3600);
    const sydney = parsePosixZone('AEST-10AEDT,M10.1.0,M4.1.0/3');
    expect(posixOffsetAt(sydney, utc('2030-01-15T00:00:00Z'))).toBe(39_600);
    expect(posixOffsetAt(sydney, utc('2030-07-15T00:00:00Z'))).toBe(36_000);
    expect(posixOffsetAt(sydney, utc('2030-12-31T23:00:00Z'))).toBe(39_600);
  });

  it('refuses what it cannot read exactly (TIME_ZONE_INVALID)', () => {
    for (const bad of ['', 'EE-2', 'EET', 'EET-2EEST', 'EET-2EEST,M4.5.5', 'EET-2EEST,M13.1.0,M10.5.4', 'EET-2EEST,M4.6.5,M10.5.4', 'EET-2EEST,M4.5.7,M10.5.4', 'EET-2EEST,J0,J365', 'EET-2EEST,366,1', 'EET-25', 'EET-2EEST,M4.5.5/168,M10.5.4', 'EET-2EEST,M4.5.5,M10.5.4x', '<AB>2', 'EET-2:60']) {
      expect(() => parsePosixZone(bad), bad).toThrowError(expect.objectContaining({ code: 'TIME_ZONE_INVALID' }));
    }
  });
});
