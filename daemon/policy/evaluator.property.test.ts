/**
 * Property tests of the evaluator over random policies, households, usage and requests:
 * it never approves more than asked or more than the rules allow, it approves everything
 * the rules allow, remaining balances never go negative, and what it says is left is what
 * balance() says after the ledger records the decision.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { addDays, cairoDay, daysInMonth, previousMonth, monthOf } from './cairo-calendar.js';
import { DEFAULT_POLICY } from './default-policy.js';
import {
  applyDecision,
  balance,
  evaluate,
  itemCap,
  servedInGovernorate,
  type CardStateInput,
  type HouseholdInput,
  type HouseholdUsage,
  type PolicyRequest,
} from './evaluator.js';
import { readPolicy } from './policy-format.js';
import type { Policy } from './policy-types.js';

const FROM = 1_735_689_600; // 2025-01-01
const TO = 1_924_991_999; // 2030-12-31

const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    loaves: fc.integer({ min: 1, max: 10 }),
    days: fc.integer({ min: 1, max: 5 }),
    large: fc.integer({ min: 1, max: 10 }),
    daysLarge: fc.integer({ min: 1, max: 5 }),
    points: fc.integer({ min: 0, max: 20 }),
    credit: fc.integer({ min: 0, max: 8000 }),
    full: fc.integer({ min: 0, max: 6 }),
    further: fc.integer({ min: 0, max: 4000 }),
    prices: fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 5, maxLength: 5 }),
    perPerson: fc.array(fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }), { minLength: 5, maxLength: 5 }),
    perCard: fc.array(fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }), { minLength: 5, maxLength: 5 }),
    groups: fc.constantFrom([['rice', 'pasta']], [], [['rice', 'pasta', 'tea']], [['sugar', 'oil'], ['rice', 'pasta']]),
    exception: fc.boolean(),
    weekend: fc.constantFrom([5, 6], [], [0, 1, 2, 3, 4, 5]),
    workingDays: fc.integer({ min: 0, max: 5 }),
  })
  .map((r) =>
    readPolicy({
      ...DEFAULT_POLICY,
      bread: { loavesPerPersonPerDay: r.loaves, maxDaysAtOnce: r.days, largeHouseholdSize: r.large, maxDaysAtOnceLarge: r.daysLarge, piastresPerUnusedLoaf: r.points },
      ration: {
        creditPerPerson: r.credit,
        fullCreditMembers: r.full,
        creditPerFurtherPerson: r.further,
        items: DEFAULT_POLICY.ration.items.map((it, i) => ({ ...it, price: r.prices[i]!, perPerson: r.perPerson[i], perCard: r.perCard[i] })),
        exclusiveGroups: r.groups,
      },
      governorateExceptions: r.exception ? [{ from: '2025-01-01', to: '2027-12-31', cardGovernorates: [1, 2], shopGovernorates: [3] }] : [],
      cardStates: { suspendedWorkingDays: r.workingDays, weekendDays: r.weekend, holidays: ['2026-01-07'] },
    }),
  );

const stateArb: fc.Arbitrary<CardStateInput> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('active' as const) },
  { weight: 3, arbitrary: fc.constant('suspended' as const) },
  { weight: 1, arbitrary: fc.constantFrom('replaced' as const, 'cancelled' as const, 'not_activated' as const) },
);

const ITEM_IDS = ['sugar', 'oil', 'rice', 'pasta', 'tea', 'flour'];

const scenarioArb = fc
  .record({
    policy: policyArb,
    now: fc.integer({ min: FROM, max: TO }),
    size: fc.integer({ min: 1, max: 12 }),
    governorate: fc.constantFrom(1, 3),
    shop: fc.constantFrom(1, 3, 21),
    state: stateArb,
    sinceBack: fc.integer({ min: 0, max: 90 * 86_400 }),
    // Loaves booked per day, from yesterday to 5 days ahead.
    days: fc.array(fc.integer({ min: 0, max: 80 }), { minLength: 7, maxLength: 7 }),
    sparse: fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
    prevMonth: fc.integer({ min: 0, max: 3000 }),
    spent: fc.integer({ min: 0, max: 40_000 }),
    items: fc.dictionary(fc.constantFrom(...ITEM_IDS), fc.integer({ min: 0, max: 8 })),
    request: fc.oneof(
      fc.integer({ min: 1, max: 400 }).map((loaves): PolicyRequest => ({ service: 'bread', loaves })),
      fc
        .uniqueArray(fc.record({ item: fc.constantFrom(...ITEM_IDS), quantity: fc.integer({ min: 1, max: 12 }) }), { selector: (l) => l.item, minLength: 1, maxLength: 6 })
        .map((items): PolicyRequest => ({ service: 'ration', items })),
    ),
  })
  .map((s) => {
    const today = cairoDay(s.now);
    const breadByDay: Record<string, number> = {};
    s.days.forEach((n, i) => {
      if (s.sparse[i]) breadByDay[addDays(today, i - 1)] = n;
    });
    const household: HouseholdInput = { householdId: 'HH-P', householdSize: s.size, governorate: s.governorate, state: s.state, since: s.now - s.sinceBack };
    const usage: HouseholdUsage = { breadByDay, breadPreviousMonth: s.prevMonth, rationSpent: s.spent, rationItems: s.items };
    return { ...s, today, household, usage };
  });

/** Evaluations are slower per case than decoding: `make fuzz` runs a tenth of its long count here. */
const RUNS = Math.max(2000, Math.floor(fuzzRuns(2000) / 10));
const TIMEOUT = Math.max(30_000, RUNS * 5);

const used = (rec: Readonly<Record<string, number>>, k: string): number => (Object.hasOwn(rec, k) ? (rec[k] ?? 0) : 0);

describe('evaluator properties', () => {
  it('property: never more than asked or allowed, all that is allowed, balances never negative, remaining = balance after recording', { timeout: TIMEOUT }, () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const { policy, household, usage, now, shop, today } = s;
        const before = balance(policy, household, usage, now);
        const d = evaluate(policy, s.request, household, usage, now, shop);
        const eligible = before.card.usable && servedInGovernorate(policy, household.governorate, shop, s.request.service, today);
        const after = balance(policy, household, applyDecision(usage, d), now);

        if (d.service === 'bread') {
          const req = s.request as { loaves: number };
          const perDay = policy.bread.loavesPerPersonPerDay * household.householdSize;
          const maxDays = household.householdSize >= policy.bread.largeHouseholdSize ? policy.bread.maxDaysAtOnceLarge : policy.bread.maxDaysAtOnce;
          expect(d.approvedQuantity).toBeGreaterThanOrEqual(0);
          expect(d.approvedQuantity).toBeLessThanOrEqual(req.loaves);
          expect(d.bookings.reduce((a, b) => a + b.loaves, 0)).toBe(d.approvedQuantity);
          const last = addDays(today, maxDays - 1);
          let prev = '';
          for (const b of d.bookings) {
            expect(b.loaves).toBeGreaterThan(0);
            expect(b.day >= today && b.day <= last, `${b.day} outside ${today}..${last}`).toBe(true);
            expect(b.day > prev).toBe(true);
            prev = b.day;
            expect(b.loaves).toBeLessThanOrEqual(Math.max(0, perDay - used(usage.breadByDay, b.day)));
          }
          // Exactly what the rules allow: everything up to the window when today's share is open, else nothing.
          const allowed = eligible ? Math.min(req.loaves, before.bread.collectableNow) : 0;
          expect(d.approvedQuantity).toBe(allowed);
          expect(d.approved).toBe(d.approvedQuantity > 0);
          expect(d.reasons.length > 0).toBe(d.approvedQuantity < req.loaves);
          for (const day of d.remaining.days) expect(day.loaves).toBeGreaterThanOrEqual(0);
          expect(d.remaining.collectableNow).toBeGreaterThanOrEqual(0);
          expect(d.remaining).toEqual(after.bread);
        } else {
          const req = s.request as { readonly items: readonly { item: string; quantity: number }[] };
          expect(d.items.map((l) => l.item)).toEqual(req.items.map((l) => l.item));
          let total = 0;
          let money = before.ration.piastres;
          for (const [i, line] of d.items.entries()) {
            expect(line.approved).toBeGreaterThanOrEqual(0);
            expect(line.approved).toBeLessThanOrEqual(req.items[i]!.quantity);
            expect(line.total).toBe(line.approved * line.unitPrice);
            total += line.total;
            const rule = policy.ration.items.find((it) => it.id === line.item);
            if (rule === undefined) {
              expect(line.approved).toBe(0);
              continue;
            }
            expect(line.unitPrice).toBe(rule.price);
            expect(line.approved).toBeLessThanOrEqual(Math.max(0, itemCap(rule, household.householdSize) - used(usage.rationItems, line.item)));
            // All that the rules allow: unless an exclusive partner was taken, the line gets
            // min(asked, cap left, what the money left after the earlier lines buys).
            const partnerTaken = policy.ration.exclusiveGroups.some(
              (g) => g.includes(line.item) && g.some((o) => o !== line.item && (used(usage.rationItems, o) > 0 || (d.items.slice(0, i).find((l) => l.item === o)?.approved ?? 0) > 0)),
            );
            const capLeft = Math.max(0, itemCap(rule, household.householdSize) - used(usage.rationItems, line.item));
            const fair = !eligible || partnerTaken ? 0 : Math.min(req.items[i]!.quantity, capLeft, Math.floor(money / rule.price));
            expect(line.approved).toBe(fair);
            money -= line.total;
            if (line.approved > 0) {
              // No other item of its exclusive groups taken before or in this decision.
              for (const g of policy.ration.exclusiveGroups.filter((g) => g.includes(line.item))) {
                for (const other of g.filter((o) => o !== line.item)) {
                  expect(used(usage.rationItems, other)).toBe(0);
                  expect(d.items.find((l) => l.item === other)?.approved ?? 0).toBe(0);
                }
              }
            }
          }
          expect(d.total).toBe(total);
          expect(d.total).toBeLessThanOrEqual(before.ration.piastres);
          if (!eligible) expect(d.total).toBe(0);
          expect(d.approved).toBe(d.items.some((l) => l.approved > 0));
          if (d.items.some((l, i) => l.approved < req.items[i]!.quantity)) expect(d.reasons.length).toBeGreaterThan(0);
          expect(d.remaining.piastres).toBeGreaterThanOrEqual(0);
          expect(d.remaining.piastres).toBe(before.ration.piastres - d.total);
          for (const it of d.remaining.items) if (it.left !== null) expect(it.left).toBeGreaterThanOrEqual(0);
          expect(d.remaining).toEqual(after.ration);
        }
        if (!eligible) expect(d.approved).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('property: bread points are the previous month allowance minus what was booked, × the point value, never negative', { timeout: TIMEOUT }, () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const b = balance(s.policy, { ...s.household, state: 'suspended' }, s.usage, s.now);
        const prev = previousMonth(monthOf(s.today));
        const allowance = s.policy.bread.loavesPerPersonPerDay * s.household.householdSize * daysInMonth(prev);
        expect(b.ration.credit.unusedLoaves).toBe(Math.max(0, allowance - s.usage.breadPreviousMonth));
        expect(b.ration.credit.breadPoints).toBe(b.ration.credit.unusedLoaves * s.policy.bread.piastresPerUnusedLoaf);
        expect(b.ration.credit.total).toBe(b.ration.credit.base + b.ration.credit.breadPoints);
      }),
      { numRuns: RUNS },
    );
  });

  it('property: a household never collects more than its daily share per day, however it splits its visits', { timeout: TIMEOUT * 3 }, () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: FROM, max: TO - 40 * 86_400 }),
        fc.array(fc.record({ hours: fc.integer({ min: 0, max: 60 }), loaves: fc.integer({ min: 1, max: 120 }) }), { minLength: 1, maxLength: 25 }),
        (policy, size, start, visits) => {
          const h: HouseholdInput = { householdId: 'HH-V', householdSize: size, governorate: 3, state: 'active', since: FROM };
          let usage: HouseholdUsage = { breadByDay: {}, breadPreviousMonth: 0, rationSpent: 0, rationItems: {} };
          let now = start;
          const perDay = policy.bread.loavesPerPersonPerDay * size;
          for (const v of visits) {
            now += v.hours * 3600;
            const d = evaluate(policy, { service: 'bread', loaves: v.loaves }, h, usage, now, 3);
            for (const b of d.bookings) expect(b.day >= cairoDay(now)).toBe(true);
            usage = applyDecision(usage, d);
          }
          for (const n of Object.values(usage.breadByDay)) expect(n).toBeLessThanOrEqual(perDay);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
