import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../test/support/fuzz.js';
import {
  addDays,
  cairoDateTime,
  cairoDay,
  dayLabel,
  daysBetween,
  daysInMonth,
  firstDayOf,
  isDay,
  isMonth,
  lastDayOf,
  MAX_UNIX_SECONDS,
  monthOf,
  previousMonth,
  weekday,
} from './cairo-calendar.js';
import { intlCairoOffsetSeconds } from '../time/egypt-time.js';
import { PolicyError } from './policy-error.js';

const RUNS = fuzzRuns(2000);
const utc = (iso: string): number => Date.parse(iso) / 1000;

describe('cairoDay: the Egyptian day of an instant', () => {
  it('winter (UTC+2): midnight is 22:00 UTC', () => {
    expect(cairoDay(utc('2025-01-15T21:59:59Z'))).toBe('2025-01-15');
    expect(cairoDay(utc('2025-01-15T22:00:00Z'))).toBe('2025-01-16');
  });

  it('summer (UTC+3 since 2023): midnight is 21:00 UTC', () => {
    expect(cairoDay(utc('2025-07-15T20:59:59Z'))).toBe('2025-07-15');
    expect(cairoDay(utc('2025-07-15T21:00:00Z'))).toBe('2025-07-16');
    expect(cairoDateTime(utc('2025-07-15T21:00:00Z'))).toBe('2025-07-16 00:00:00');
  });

  it('2022 had no daylight saving time: July was UTC+2', () => {
    expect(cairoDateTime(utc('2022-07-15T21:30:00Z'))).toBe('2022-07-15 23:30:00');
  });

  it('DST start, last Friday of April: 00:00 jumps to 01:00', () => {
    expect(cairoDateTime(utc('2023-04-27T21:59:59Z'))).toBe('2023-04-27 23:59:59');
    expect(cairoDateTime(utc('2023-04-27T22:00:00Z'))).toBe('2023-04-28 01:00:00');
    expect(cairoDateTime(utc('2025-04-24T21:59:59Z'))).toBe('2025-04-24 23:59:59');
    expect(cairoDateTime(utc('2025-04-24T22:00:00Z'))).toBe('2025-04-25 01:00:00');
  });

  it('DST end, last Thursday of October: 23:00–24:00 happens twice, both on the same day', () => {
    expect(cairoDateTime(utc('2025-10-30T20:30:00Z'))).toBe('2025-10-30 23:30:00');
    expect(cairoDateTime(utc('2025-10-30T21:30:00Z'))).toBe('2025-10-30 23:30:00');
    expect(cairoDay(utc('2025-10-30T21:59:59Z'))).toBe('2025-10-30');
    expect(cairoDay(utc('2025-10-30T22:00:00Z'))).toBe('2025-10-31');
  });

  it('fractional seconds count as the whole second they are in', () => {
    expect(cairoDay(utc('2025-01-15T21:59:59Z') + 0.999)).toBe('2025-01-15');
  });

  it('refuses times that are not Unix seconds in 1970..9999 (TIME_INVALID)', () => {
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY, MAX_UNIX_SECONDS + 1, '1' as unknown as number]) {
      expect(() => cairoDay(bad)).toThrow(PolicyError);
      try {
        cairoDay(bad);
      } catch (e) {
        expect((e as PolicyError).code).toBe('TIME_INVALID');
      }
    }
    expect(cairoDay(0)).toBe('1970-01-01');
    expect(cairoDay(MAX_UNIX_SECONDS)).toBe('9999-12-31');
  });

  it('property: the per-hour offset cache (from the system tz file) gives exactly what Intl gives, second by second around every transition', { timeout: Math.max(30_000, RUNS) }, () => {
    const fromIntl = (t: number): string => {
      const iso = new Date((t + intlCairoOffsetSeconds(t)) * 1000).toISOString();
      return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
    };
    // Random instants, and the two hours around each DST change of 2023–2026 (both directions).
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_UNIX_SECONDS }), (t) => {
        expect(cairoDateTime(t)).toBe(fromIntl(t));
        expect(cairoDay(t)).toBe(fromIntl(t).slice(0, 10));
      }),
      { numRuns: RUNS },
    );
    const transitions = ['2023-04-27T22:00:00Z', '2023-10-26T21:00:00Z', '2024-04-25T22:00:00Z', '2024-10-31T21:00:00Z', '2025-04-24T22:00:00Z', '2025-10-30T21:00:00Z', '2026-04-23T22:00:00Z', '2026-10-29T21:00:00Z'];
    for (const iso of transitions) {
      for (let t = utc(iso) - 3600; t < utc(iso) + 3600; t += 7) {
        expect(cairoDateTime(t)).toBe(fromIntl(t));
        expect(cairoDay(t)).toBe(fromIntl(t).slice(0, 10));
      }
    }
  });

  it('property: the Cairo day is the UTC day at +2 h or +3 h, and never goes backwards', { timeout: Math.max(30_000, RUNS) }, () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800 }), (t) => {
        const day = cairoDay(t);
        const at = (h: number): string => new Date((t + h * 3600) * 1000).toISOString().slice(0, 10);
        expect([at(2), at(3)]).toContain(day);
        expect(cairoDay(t + 1) >= day).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('calendar arithmetic on days', () => {
  it('isDay accepts real days only', () => {
    for (const d of ['2025-03-10', '2024-02-29', '1970-01-01', '9999-12-31']) expect(isDay(d), d).toBe(true);
    for (const d of ['2025-02-29', '2025-13-01', '2025-1-01', '2025-03-10T00:00', '1969-12-31', '', 20250310, null]) expect(isDay(d), String(d)).toBe(false);
  });

  it('isMonth', () => {
    expect(isMonth('2025-03')).toBe(true);
    expect(isMonth('2025-13')).toBe(false);
    expect(isMonth('2025-3')).toBe(false);
  });

  it('addDays and daysBetween across months, years and leap days', () => {
    expect(addDays('2025-03-31', 1)).toBe('2025-04-01');
    expect(addDays('2024-12-31', 1)).toBe('2025-01-01');
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2025-02-28', 1)).toBe('2025-03-01');
    expect(addDays('2025-03-01', -1)).toBe('2025-02-28');
    expect(daysBetween('2025-02-15', '2025-02-28')).toBe(13);
    expect(daysBetween('2025-10-30', '2025-10-31')).toBe(1);
  });

  it('months: first, last, length, previous', () => {
    expect(monthOf('2025-03-10')).toBe('2025-03');
    expect(firstDayOf('2025-03')).toBe('2025-03-01');
    expect(lastDayOf('2025-02')).toBe('2025-02-28');
    expect(lastDayOf('2024-02')).toBe('2024-02-29');
    expect(daysInMonth('2025-03')).toBe(31);
    expect(daysInMonth('2025-04')).toBe(30);
    expect(previousMonth('2025-01')).toBe('2024-12');
    expect(previousMonth('2025-03')).toBe('2025-02');
  });

  it('weekday: 0 Sunday … 5 Friday, 6 Saturday', () => {
    expect(weekday('2025-03-09')).toBe(0);
    expect(weekday('2025-03-13')).toBe(4);
    expect(weekday('2025-03-14')).toBe(5);
    expect(weekday('2025-03-15')).toBe(6);
  });

  it('dayLabel names the weekday in English and Arabic', () => {
    expect(dayLabel('2025-03-19', 'en')).toBe('Wednesday 2025-03-19');
    expect(dayLabel('2025-03-19', 'ar')).toBe('الأربعاء 2025-03-19');
  });

  it('property: the remembered days give what Date gives, asked once or again', () => {
    const reference = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_932_896 - 400 }), fc.integer({ min: -400, max: 400 }), (dayNumber, n) => {
        const day = new Date(dayNumber * 86_400_000).toISOString().slice(0, 10);
        for (let again = 0; again < 2; again++) {
          expect(addDays(day, n)).toBe(reference(day, n));
          expect(daysBetween(day, reference(day, n))).toBe(n);
          expect(weekday(day)).toBe(new Date(dayNumber * 86_400_000).getUTCDay());
          expect(isDay(day)).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('calendar functions refuse non-days with TIME_INVALID, also after real days were remembered', () => {
    expect(addDays('2025-02-28', 1)).toBe('2025-03-01');
    expect(() => addDays('2025-02-30', 1)).toThrow(PolicyError);
    expect(() => addDays('2025-02-30', 1)).toThrow(PolicyError);
    expect(isDay('2025-02-30')).toBe(false);
    expect(() => weekday('tomorrow')).toThrow(PolicyError);
    expect(() => firstDayOf('2025-00')).toThrow(PolicyError);
  });
});
