import { describe, expect, it } from 'vitest';
import { cairoDateTime } from './cairo-calendar.js';
import { loadPolicyCases, runCase, subsetMismatches } from './policy-cases.js';

const file = loadPolicyCases();

describe('policy case table (test/vectors/policy-cases.json)', () => {
  it('names its source and has at least 40 distinct cases', () => {
    expect(file.source).toMatch(/by hand/);
    expect(file.cases.length).toBeGreaterThanOrEqual(40);
    expect(new Set(file.cases.map((c) => c.name)).size).toBe(file.cases.length);
  });

  it('covers household sizes 1, 3, 4 and 7 and every rule', () => {
    const sizes = new Set(file.cases.map((c) => c.household?.householdSize ?? file.defaults.household.householdSize));
    for (const s of [1, 3, 4, 7]) expect(sizes.has(s), `size ${s}`).toBe(true);
    const states = new Set(file.cases.map((c) => c.household?.state ?? 'active'));
    for (const s of ['active', 'suspended', 'replaced', 'cancelled', 'not_activated']) expect(states.has(s as never), s).toBe(true);
    const codes = new Set(file.cases.flatMap((c) => (Array.isArray(c.expect?.reasons) ? (c.expect.reasons as string[]) : [])));
    for (const code of ['BREAD_TODAY_COLLECTED', 'BREAD_ADVANCE_LIMIT', 'RATION_ITEM_CAP', 'RATION_EXCLUSIVE', 'RATION_BALANCE', 'RATION_BALANCE_EXHAUSTED', 'RATION_ITEM_UNKNOWN', 'WRONG_GOVERNORATE', 'CARD_SUSPENDED', 'CARD_REPLACED', 'CARD_CANCELLED', 'CARD_NOT_ACTIVATED']) {
      expect(codes.has(code), code).toBe(true);
    }
  });

  for (const c of file.cases) {
    it(`${c.name}: ${c.why}`, () => {
      expect(cairoDateTime(c.now), 'the "cairo" field must be now in Africa/Cairo').toBe(c.cairo);
      const outcome = runCase(file, c);
      if (c.expectError !== undefined) {
        expect(outcome).toEqual({ kind: 'error', code: c.expectError });
        return;
      }
      if (outcome.kind === 'error') throw new Error(`unexpected ${outcome.code}`);
      expect(subsetMismatches(outcome.summary, c.expect)).toEqual([]);
    });
  }
});
