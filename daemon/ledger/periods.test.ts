import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { addDays, cairoDate, dayKey, isPeriodKey, monthKey, previousMonthKey } from './periods.js';

const reference = new Intl.DateTimeFormat('en-CA', { timeZone: 'Africa/Cairo', year: 'numeric', month: '2-digit', day: '2-digit' });

describe('periods (Egypt time)', () => {
  it('changes day at midnight in Cairo, not in UTC', () => {
    // 2026-11-20 is winter time (UTC+2): Cairo midnight is 22:00 UTC the day before.
    expect(dayKey(Date.UTC(2026, 10, 19, 21, 59, 59))).toBe('2026-11-19');
    expect(dayKey(Date.UTC(2026, 10, 19, 22, 0, 0))).toBe('2026-11-20');
    // Summer time (UTC+3) since 2023: midnight is 21:00 UTC.
    expect(dayKey(Date.UTC(2025, 6, 9, 20, 59, 59))).toBe('2025-07-09');
    expect(dayKey(Date.UTC(2025, 6, 9, 21, 0, 0))).toBe('2025-07-10');
    expect(monthKey(Date.UTC(2025, 6, 31, 21, 0, 0))).toBe('2025-08');
    expect(cairoDate(Date.UTC(2024, 1, 29, 12))).toEqual({ year: 2024, month: 2, day: 29 });
  });

  it('property: agrees with the time-zone database at any instant', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2060, 0, 1) }), (t) => {
        expect(dayKey(t)).toBe(reference.format(t));
      }),
      { numRuns: Math.max(2000, Math.floor(fuzzRuns(2000) / 10)) },
    );
  });

  it('does calendar arithmetic on keys', () => {
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(addDays('2025-02-28', 1)).toBe('2025-03-01');
    expect(addDays('2025-12-31', 1)).toBe('2026-01-01');
    expect(addDays('2025-01-01', -1)).toBe('2024-12-31');
    expect(previousMonthKey('2026-01')).toBe('2025-12');
    expect(previousMonthKey('2026-11')).toBe('2026-10');
    expect(() => addDays('2025-1-1', 1)).toThrow(RangeError);
    expect(() => previousMonthKey('2025')).toThrow(RangeError);
    expect(() => cairoDate(Number.NaN)).toThrow(RangeError);
  });

  it('recognises period keys and orders a month before its days', () => {
    for (const k of ['2026-11', '2026-11-30', '2024-02-29']) expect(isPeriodKey(k)).toBe(true);
    for (const k of ['2026-13', '2026-00', '2026-11-31', '2025-02-29', '2026-1-1', '', '2026-11-20T']) expect(isPeriodKey(k)).toBe(false);
    expect('2026-11' < '2026-11-01').toBe(true);
    expect('2026-10-31' < '2026-11').toBe(true);
  });
});
