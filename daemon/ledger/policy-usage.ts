/**
 * The seam between the ledger and the policy evaluator (daemon/policy): the evaluator's
 * `HouseholdUsage` read from the usage index with one indexed range query, and the
 * evaluator's decision turned into the allocations an authorization records.
 *
 * Bread is booked per entitlement day under item {@link BREAD_ITEM}; ration goods per month
 * under the policy's item ids, with their unit prices, so `rationSpent` is the sum of piastres.
 */
import type { Decision, HouseholdUsage, UsageQuery } from '../policy/evaluator.js';
import type { Ledger } from './ledger.js';
import type { Allocation, UsageRow } from './ledger-types.js';

/** Item name of bread in the usage index and on receipts. */
export const BREAD_ITEM = 'loaf';

/**
 * Folds usage rows into the evaluator's shape for `query` (from `usageQuery(policy, now)`).
 * Rows outside the query's ranges are ignored.
 */
export function householdUsageOf(rows: readonly UsageRow[], query: UsageQuery): HouseholdUsage {
  const breadByDay: Record<string, number> = {};
  const rationItems: Record<string, number> = {};
  let breadPreviousMonth = 0;
  let rationSpent = 0;
  for (const r of rows) {
    if (r.service === 'bread') {
      if (r.period.length !== 10) continue; // bread is booked per day
      if (r.period >= query.breadFrom && r.period <= query.breadTo) breadByDay[r.period] = (breadByDay[r.period] ?? 0) + r.quantity;
      if (r.period >= query.previousMonthFrom && r.period <= query.previousMonthTo) breadPreviousMonth += r.quantity;
    } else if (r.service === 'ration' && r.period === query.month) {
      rationItems[r.item] = (rationItems[r.item] ?? 0) + r.quantity;
      rationSpent += r.piastres;
    }
  }
  return { breadByDay, breadPreviousMonth, rationSpent, rationItems };
}

/**
 * A household's usage as the policy evaluator takes it: one range query on the usage index
 * (household, period ≥ the previous month), never a scan of receipts.
 */
export function householdUsage(ledger: Ledger, householdId: string, query: UsageQuery): HouseholdUsage {
  const from = query.previousMonthFrom.slice(0, 7) < query.breadFrom.slice(0, 7) ? query.previousMonthFrom.slice(0, 7) : query.breadFrom.slice(0, 7);
  return householdUsageOf(ledger.usageSince(householdId, from), query);
}

/** Options of {@link allocationsOf}. */
export interface AllocationOptions {
  /** Price of a loaf in piastres, as written on receipts (default 0: the policy does not price bread). */
  readonly loafPiastres?: number;
}

/**
 * The allocations of an approved decision: bread loaves per entitlement day (earliest first,
 * so a partial commit uses today's share first), ration units per item against the month.
 */
export function allocationsOf(decision: Decision, options: AllocationOptions = {}): Allocation[] {
  if (decision.service === 'bread') {
    return decision.bookings.filter((b) => b.loaves > 0).map((b) => ({ period: b.day, item: BREAD_ITEM, quantity: b.loaves, unitPiastres: options.loafPiastres ?? 0 }));
  }
  return decision.items.filter((l) => l.approved > 0).map((l) => ({ period: decision.month, item: l.item, quantity: l.approved, unitPiastres: l.unitPrice }));
}
