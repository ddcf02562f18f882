import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../policy/default-policy.js';
import { applyDecision, bookingsForDispensed, evaluate, NO_USAGE, rationForDispensed, usageQuery, type HouseholdInput } from '../policy/evaluator.js';
import { LedgerHarness } from './ledger-test-kit.js';
import { allocationsOf, BREAD_ITEM, householdUsage, householdUsageOf } from './policy-usage.js';

const harnesses: LedgerHarness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.dispose();
});

const MON_10_MS = 1_741_593_600_000; // 2025-03-10 10:00 Cairo (Monday)
const DAY_MS = 86_400_000;
const household = (size: number): HouseholdInput => ({ householdId: 'H1', householdSize: size, governorate: 3, state: 'active', since: 1_735_682_400 });

function harness(): LedgerHarness {
  const h = new LedgerHarness('policy');
  h.now = MON_10_MS;
  harnesses.push(h);
  return h;
}

describe('ledger ↔ policy evaluator', () => {
  it('books bread per entitlement day, so the evaluator sees collected-ahead days as blocked', async () => {
    const h = harness();
    const card = h.world.card('H1', 3);
    const sec = () => Math.floor(h.now / 1000);
    const usage = () => householdUsage(h.ledger, 'H1', usageQuery(DEFAULT_POLICY, sec()));
    expect(usage()).toEqual(NO_USAGE);

    const decision = evaluate(DEFAULT_POLICY, { service: 'bread', loaves: 45 }, household(3), usage(), sec(), 3);
    expect(decision.approvedQuantity).toBe(45);
    const approved = allocationsOf(decision, { loafPiastres: 20 });
    expect(approved).toEqual([
      { period: '2025-03-10', item: BREAD_ITEM, quantity: 15, unitPiastres: 20 },
      { period: '2025-03-11', item: BREAD_ITEM, quantity: 15, unitPiastres: 20 },
      { period: '2025-03-12', item: BREAD_ITEM, quantity: 15, unitPiastres: 20 },
    ]);
    const req = { ...h.bread(card), requested: [{ item: BREAD_ITEM, quantity: 45 }], approved, evidence: h.world.evidence(card, { service: 'bread', quantity: 45, timeMs: h.now }) };
    const { authorization } = await h.ledger.createAuthorization(req);
    await h.ledger.commit(authorization.id, 40); // the bakery ran short: a partial commit
    expect(usage()).toEqual(applyDecision(NO_USAGE, { ...decision, bookings: bookingsForDispensed(decision, 40) }));

    h.now += DAY_MS; // Tuesday: today's share was collected on Monday
    const tuesday = evaluate(DEFAULT_POLICY, { service: 'bread', loaves: 15 }, household(3), usage(), sec(), 3);
    expect(tuesday.approved).toBe(false);
    expect(tuesday.reasons.map((r) => r.code)).toEqual(['BREAD_TODAY_COLLECTED']);
    h.now += DAY_MS; // Wednesday: 10 of its 15 were booked, 5 are left today
    const wednesday = evaluate(DEFAULT_POLICY, { service: 'bread', loaves: 15 }, household(3), usage(), sec(), 3);
    expect(wednesday.bookings).toEqual([
      { day: '2025-03-12', loaves: 5 },
      { day: '2025-03-13', loaves: 10 },
    ]);
  });

  it('counts ration spending and items per month, and last month’s bread for bread points', async () => {
    const h = harness();
    const card = h.world.card('H1', 2);
    const sec = () => Math.floor(h.now / 1000);
    // Bread in March: 3 days of 10 loaves.
    for (let d = 0; d < 3; d++) {
      const a = (await h.ledger.createAuthorization(h.bread(card, { perDay: 10 }))).authorization;
      await h.ledger.commit(a.id, 10);
      h.now += DAY_MS;
    }
    h.now = Date.UTC(2025, 3, 2, 8); // 2 April, 10:00 Cairo
    const q = usageQuery(DEFAULT_POLICY, sec());
    const before = householdUsage(h.ledger, 'H1', q);
    expect(before).toMatchObject({ breadPreviousMonth: 30, rationSpent: 0, rationItems: {} });
    const item = DEFAULT_POLICY.ration.items[0]!;
    const decision = evaluate(DEFAULT_POLICY, { service: 'ration', items: [{ item: item.id, quantity: 2 }] }, household(2), before, sec(), 3);
    expect(decision.approved).toBe(true);
    const approved = allocationsOf(decision);
    expect(approved).toEqual([{ period: '2025-04', item: item.id, quantity: 2, unitPiastres: item.price }]);
    const req = { ...h.ration(card, [{ item: item.id, quantity: 2, unitPiastres: item.price }]), approved };
    const { authorization } = await h.ledger.createAuthorization(req);
    await h.ledger.commit(authorization.id, 1);
    const after = householdUsage(h.ledger, 'H1', q);
    const expected = rationForDispensed(decision, [{ item: item.id, quantity: 1 }]);
    expect(after).toEqual({ ...before, rationSpent: expected.total, rationItems: { [item.id]: 1 } });
  });

  it('ignores rows outside the query ranges', () => {
    const q = usageQuery(DEFAULT_POLICY, Math.floor(MON_10_MS / 1000));
    const u = householdUsageOf(
      [
        { service: 'bread', period: '2025-01-31', item: 'loaf', quantity: 7, piastres: 0 },
        { service: 'bread', period: '2025-02-28', item: 'loaf', quantity: 5, piastres: 0 },
        { service: 'bread', period: '2025-03-09', item: 'loaf', quantity: 4, piastres: 0 },
        { service: 'bread', period: '2025-03-10', item: 'loaf', quantity: 3, piastres: 0 },
        { service: 'bread', period: '2025-03-13', item: 'loaf', quantity: 2, piastres: 0 },
        { service: 'ration', period: '2025-02', item: 'sugar', quantity: 1, piastres: 1000 },
        { service: 'ration', period: '2025-03', item: 'sugar', quantity: 2, piastres: 2520 },
        { service: 'health', period: '2025-03', item: 'visit', quantity: 1, piastres: 0 },
      ],
      q,
    );
    expect(u).toEqual({ breadByDay: { '2025-03-10': 3 }, breadPreviousMonth: 5, rationSpent: 2520, rationItems: { sugar: 2 } });
  });
});
