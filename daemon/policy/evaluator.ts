/**
 * The quota evaluator: given the policy, a household's roster entry, what the household has
 * already used (read by the ledger from its index) and the time, it answers "may this shop
 * hand over this much?". Pure: no I/O, no clock (time is a parameter), no state; the same
 * inputs always give the same decision.
 *
 * Order of checks: card state, then governorate, then the service's quota. The first two
 * refuse outright; the quota approves what fits (possibly less than asked) with reasons.
 */
import { MAX_GOVERNORATE, MAX_ID_CHARS, MAX_MEMBERS } from '../../protocol/crypto/certificates.js';
import type { CardStateName } from '../../firmware-sim/issuer/signed-lists.js';
import {
  addDays,
  cairoDay,
  daysBetween,
  firstDayOf,
  isDay,
  lastDayOf,
  MAX_UNIX_SECONDS,
  monthOf,
  previousMonth,
  weekday,
  type Day,
  type Month,
} from './cairo-calendar.js';
import { PolicyError } from './policy-error.js';
import type { CardStateRules, Policy, RationItem, ServiceName } from './policy-types.js';
import { Reasons, type Reason } from './reasons.js';

// ---- inputs ----

/** Card states the evaluator understands: the roster's, plus 'cancelled' for a card withdrawn without a replacement. */
export type CardStateInput = CardStateName | 'cancelled';
const CARD_STATES: readonly CardStateInput[] = ['active', 'suspended', 'replaced', 'not_activated', 'cancelled'];

/**
 * The household as the issuer's roster describes it: pass the card's RosterEntry
 * (firmware-sim/issuer/signed-lists.ts) as it is.
 */
export interface HouseholdInput {
  readonly householdId: string;
  /** Members counted for entitlements, 1..64. */
  readonly householdSize: number;
  /** Two-digit governorate code of the card (0..99). */
  readonly governorate: number;
  readonly state: CardStateInput;
  /** Unix seconds when the card entered `state`. */
  readonly since: number;
}

/** One ration line asked for. */
export interface RationRequestItem {
  readonly item: string;
  /** Whole units (kg, bottles, packs), 1..10000. */
  readonly quantity: number;
}

/** What the shop asks for. */
export type PolicyRequest =
  | { readonly service: 'bread'; readonly loaves: number }
  | { readonly service: 'ration'; readonly items: readonly RationRequestItem[] };

/**
 * What the household has used, as the ledger's index gives it (see {@link usageQuery} for
 * the exact ranges to read). All figures are whole numbers ≥ 0.
 */
export interface HouseholdUsage {
  /**
   * Loaves already booked against each entitlement day, keyed 'YYYY-MM-DD' (Egyptian day
   * the loaves were FOR, not the day they were handed over). Must hold every day of
   * `usageQuery().breadFrom … breadTo` that has bookings; a missing day counts 0; days
   * outside that range are ignored.
   */
  readonly breadByDay: Readonly<Record<string, number>>;
  /** Loaves booked against all days of the previous month (for bread points). */
  readonly breadPreviousMonth: number;
  /** Piastres spent on ration goods this month. */
  readonly rationSpent: number;
  /** Units of each ration item taken this month, keyed by item id; missing = 0. */
  readonly rationItems: Readonly<Record<string, number>>;
}

/** Usage of a household that has taken nothing. */
export const NO_USAGE: HouseholdUsage = Object.freeze({
  breadByDay: Object.freeze({}),
  breadPreviousMonth: 0,
  rationSpent: 0,
  rationItems: Object.freeze({}),
});

/** The ledger queries that fill {@link HouseholdUsage} for one evaluation at `now`. */
export interface UsageQuery {
  readonly today: Day;
  /** Bread bookings per entitlement day for these days (inclusive) → breadByDay. */
  readonly breadFrom: Day;
  readonly breadTo: Day;
  /** Sum of bread bookings for these days (inclusive) → breadPreviousMonth. */
  readonly previousMonthFrom: Day;
  readonly previousMonthTo: Day;
  /** Ration spending and items of this month → rationSpent, rationItems. */
  readonly month: Month;
}

// ---- outputs ----

/** Loaves booked against one entitlement day. */
export interface BreadBooking {
  readonly day: Day;
  readonly loaves: number;
}

/** Bread left for a household, from today on. */
export interface BreadBalance {
  /** The household's daily share: loaves per person × members. */
  readonly loavesPerDay: number;
  /** Days of shares it may collect at once (today included). */
  readonly maxDaysAtOnce: number;
  /** Loaves left of today's share. */
  readonly today: number;
  /** Loaves left per day, today first, for every day it may collect now. */
  readonly days: readonly BreadBooking[];
  /** The most one request could get right now (0 once today's share is used up). */
  readonly collectableNow: number;
  /** Today when something can be collected today, otherwise the first later day with a share left. */
  readonly nextShareDay: Day;
}

/** This month's ration credit. */
export interface RationCredit {
  /** Per-member credit: full for the first members, reduced for further ones. */
  readonly base: number;
  /** Loaves of last month's bread share not collected. */
  readonly unusedLoaves: number;
  /** Their value in piastres, credited to this month. */
  readonly breadPoints: number;
  /** base + breadPoints. */
  readonly total: number;
}

/** What is left of one ration item this month. */
export interface RationItemLeft {
  readonly item: string;
  /** Units left under the item's caps; null when the item has no cap (only money limits it). */
  readonly left: number | null;
  /** Set when another item of its exclusive group was taken this month: nothing may be taken. */
  readonly excludedBy?: string;
}

/** Ration goods left for a household this month. */
export interface RationBalance {
  readonly month: Month;
  readonly credit: RationCredit;
  /** Piastres spent this month. */
  readonly spent: number;
  /** Piastres left: credit − spent, never below 0. */
  readonly piastres: number;
  readonly items: readonly RationItemLeft[];
}

/** Whether the card itself may be served today. */
export interface CardStatus {
  readonly usable: boolean;
  readonly reasons: readonly Reason[];
  /** For a suspended card: the first day it is usable again (unless replaced before). */
  readonly usableFrom?: Day;
}

interface DecisionCommon {
  /** True when something (≥ 1 loaf, ≥ 1 unit) may be handed over. */
  readonly approved: boolean;
  /** The Egyptian day of `now`. */
  readonly today: Day;
  readonly householdId: string;
  readonly policyVersion: number;
  /** Every reason the answer is less than asked, in order of the checks. Empty when all was approved. */
  readonly reasons: readonly Reason[];
}

/** Answer to a bread request. */
export interface BreadDecision extends DecisionCommon {
  readonly service: 'bread';
  readonly requested: number;
  readonly approvedQuantity: number;
  /** Entitlement days the approved loaves are booked against (earliest first); the ledger records these. */
  readonly bookings: readonly BreadBooking[];
  /** What is left once the approved loaves are handed over. */
  readonly remaining: BreadBalance;
}

/** One line of a ration decision. */
export interface RationLine {
  readonly item: string;
  readonly requested: number;
  readonly approved: number;
  /** Piastres per unit (0 for an item not on the list). */
  readonly unitPrice: number;
  /** approved × unitPrice. */
  readonly total: number;
  readonly reasons: readonly Reason[];
}

/** Answer to a ration request. */
export interface RationDecision extends DecisionCommon {
  readonly service: 'ration';
  readonly month: Month;
  /** One line per requested item, in request order. */
  readonly items: readonly RationLine[];
  /** Piastres for all approved units. */
  readonly total: number;
  /** What is left once the approved units are handed over. */
  readonly remaining: RationBalance;
}

/** Answer to any request. */
export type Decision = BreadDecision | RationDecision;

/** Answer to the `balance` call: what a household has left, without dispensing. */
export interface Balance {
  readonly today: Day;
  readonly householdId: string;
  readonly policyVersion: number;
  readonly card: CardStatus;
  /** Per service, whether a shop of the given governorate may serve this card (only when one was given). */
  readonly servedHere?: Readonly<Record<ServiceName, boolean>>;
  readonly bread: BreadBalance;
  readonly ration: RationBalance;
}

// ---- input checks ----

const MAX_LOAVES = 100_000;
const MAX_UNITS = 10_000;
const MAX_REQUEST_ITEMS = 100;
const MAX_USAGE = 1_000_000_000;

function isCount(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

function checkHousehold(h: HouseholdInput): void {
  const bad = (what: string): never => {
    throw new PolicyError('HOUSEHOLD_INVALID', `household: ${what}`);
  };
  if (h === null || typeof h !== 'object') bad('expected an object');
  if (typeof h.householdId !== 'string' || h.householdId.length === 0 || h.householdId.length > MAX_ID_CHARS) bad(`householdId must be 1..${MAX_ID_CHARS} characters`);
  if (!isCount(h.householdSize, MAX_MEMBERS) || h.householdSize < 1) bad(`householdSize must be a whole number in 1..${MAX_MEMBERS}`);
  if (!isCount(h.governorate, MAX_GOVERNORATE)) bad(`governorate must be a whole number in 0..${MAX_GOVERNORATE}`);
  if (!CARD_STATES.includes(h.state)) bad(`state must be one of ${CARD_STATES.join(', ')}`);
  if (!isCount(h.since, MAX_UNIX_SECONDS)) bad('since must be Unix seconds');
}

function checkUsage(u: HouseholdUsage): void {
  const bad = (what: string): never => {
    throw new PolicyError('USAGE_INVALID', `usage: ${what}`);
  };
  if (u === null || typeof u !== 'object') bad('expected an object');
  for (const [name, rec] of [['breadByDay', u.breadByDay], ['rationItems', u.rationItems]] as const) {
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) bad(`${name} must be an object`);
    for (const [k, v] of Object.entries(rec)) {
      const shown = k.slice(0, 32);
      if (name === 'breadByDay' && !isDay(k)) bad(`breadByDay key ${shown} is not a day 'YYYY-MM-DD'`);
      if (!isCount(v, MAX_USAGE)) bad(`${name}.${shown} must be a whole number ≥ 0`);
    }
  }
  if (!isCount(u.breadPreviousMonth, MAX_USAGE)) bad('breadPreviousMonth must be a whole number ≥ 0');
  if (!isCount(u.rationSpent, MAX_USAGE)) bad('rationSpent must be a whole number ≥ 0');
}

function checkRequest(r: PolicyRequest): void {
  const bad = (what: string): never => {
    throw new PolicyError('REQUEST_INVALID', `request: ${what}`);
  };
  if (r === null || typeof r !== 'object') bad('expected an object');
  if (r.service === 'bread') {
    if (!isCount(r.loaves, MAX_LOAVES) || r.loaves < 1) bad(`loaves must be a whole number in 1..${MAX_LOAVES}`);
  } else if (r.service === 'ration') {
    if (!Array.isArray(r.items) || r.items.length < 1 || r.items.length > MAX_REQUEST_ITEMS) bad(`items must list 1..${MAX_REQUEST_ITEMS} lines`);
    const seen = new Set<string>();
    for (const line of r.items) {
      if (line === null || typeof line !== 'object') bad('each item line must be an object');
      if (typeof line.item !== 'string' || line.item.length === 0 || line.item.length > 64) bad('item must be 1..64 characters');
      if (!isCount(line.quantity, MAX_UNITS) || line.quantity < 1) bad(`quantity of ${line.item} must be a whole number in 1..${MAX_UNITS}`);
      if (seen.has(line.item)) bad(`item ${line.item} is listed twice`);
      seen.add(line.item);
    }
  } else {
    bad("service must be 'bread' or 'ration'");
  }
}

function checkShopGovernorate(g: number): void {
  if (!isCount(g, MAX_GOVERNORATE)) throw new PolicyError('REQUEST_INVALID', `shop governorate must be a whole number in 0..${MAX_GOVERNORATE}`);
}

function todayUnder(policy: Policy, now: number): Day {
  const today = cairoDay(now);
  if (today < policy.effectiveFrom) {
    throw new PolicyError('POLICY_NOT_EFFECTIVE', `policy version ${policy.version} applies from ${policy.effectiveFrom}, not on ${today}`, {
      version: policy.version,
      effectiveFrom: policy.effectiveFrom,
      today,
    });
  }
  return today;
}

const count = (rec: Readonly<Record<string, number>>, key: string): number => (Object.hasOwn(rec, key) ? (rec[key] ?? 0) : 0);

// ---- rules ----

/** The policy in force at `now`: the highest version whose effective-from day has come. POLICY_NONE_EFFECTIVE otherwise. */
export function selectPolicy(policies: readonly Policy[], now: number): Policy {
  const today = cairoDay(now);
  let best: Policy | undefined;
  for (const p of policies) if (p.effectiveFrom <= today && (best === undefined || p.version > best.version)) best = p;
  if (best === undefined) throw new PolicyError('POLICY_NONE_EFFECTIVE', `no policy is in effect on ${today}`, { today });
  return best;
}

/** The days and month the ledger must read to evaluate any household at `now`. */
export function usageQuery(policy: Policy, now: number): UsageQuery {
  const today = cairoDay(now);
  const month = monthOf(today);
  const prev = previousMonth(month);
  const widest = Math.max(policy.bread.maxDaysAtOnce, policy.bread.maxDaysAtOnceLarge);
  return {
    today,
    breadFrom: today,
    breadTo: addDays(today, widest - 1),
    previousMonthFrom: firstDayOf(prev),
    previousMonthTo: lastDayOf(prev),
    month,
  };
}

/** True when `day` is a working day under the card-state rules (not a weekend day, not a holiday). */
export function isWorkingDay(rules: CardStateRules, day: Day): boolean {
  return !rules.weekendDays.includes(weekday(day)) && !rules.holidays.includes(day);
}

/**
 * First day a card suspended on `suspendedOn` may be used again: the rest of that day and
 * the next `suspendedWorkingDays` working days are blocked. Suspended on a Thursday with the
 * Friday–Saturday weekend: Sunday, Monday, Tuesday blocked, usable from Wednesday.
 */
export function reactivationDay(rules: CardStateRules, suspendedOn: Day): Day {
  let day = suspendedOn;
  for (let counted = 0; counted < rules.suspendedWorkingDays; ) {
    day = addDays(day, 1);
    if (isWorkingDay(rules, day)) counted++;
  }
  return addDays(day, 1);
}

function cardStatusOn(policy: Policy, h: HouseholdInput, today: Day): CardStatus {
  switch (h.state) {
    case 'active':
      return { usable: true, reasons: [] };
    case 'suspended': {
      const usableFrom = reactivationDay(policy.cardStates, cairoDay(h.since));
      return today >= usableFrom ? { usable: true, reasons: [], usableFrom } : { usable: false, reasons: [Reasons.cardSuspended(usableFrom)], usableFrom };
    }
    case 'replaced':
      return { usable: false, reasons: [Reasons.cardReplaced()] };
    case 'cancelled':
      return { usable: false, reasons: [Reasons.cardCancelled()] };
    case 'not_activated':
      return { usable: false, reasons: [Reasons.cardNotActivated()] };
  }
}

/** True when a card of `cardGovernorate` may be served for `service` in a shop of `shopGovernorate` on `today`. */
export function servedInGovernorate(policy: Policy, cardGovernorate: number, shopGovernorate: number, service: ServiceName, today: Day): boolean {
  if (cardGovernorate === shopGovernorate) return true;
  return policy.governorateExceptions.some(
    (e) =>
      e.from <= today &&
      today <= e.to &&
      e.cardGovernorates.includes(cardGovernorate) &&
      (e.shopGovernorates === undefined || e.shopGovernorates.includes(shopGovernorate)) &&
      (e.services === undefined || e.services.includes(service)),
  );
}

function breadShape(policy: Policy, size: number): { perDay: number; maxDays: number } {
  const b = policy.bread;
  return { perDay: b.loavesPerPersonPerDay * size, maxDays: size >= b.largeHouseholdSize ? b.maxDaysAtOnceLarge : b.maxDaysAtOnce };
}

function breadBalanceOn(policy: Policy, h: HouseholdInput, usage: HouseholdUsage, today: Day): BreadBalance {
  const { perDay, maxDays } = breadShape(policy, h.householdSize);
  const days: BreadBooking[] = [];
  for (let i = 0; i < maxDays; i++) {
    const day = addDays(today, i);
    days.push({ day, loaves: Math.max(0, perDay - count(usage.breadByDay, day)) });
  }
  const todayLeft = days[0]?.loaves ?? 0;
  // Collecting ahead blocks the following days: once today's share is gone, nothing more
  // today, even if a later day in the window still has loaves.
  const collectableNow = todayLeft > 0 ? days.reduce((s, d) => s + d.loaves, 0) : 0;
  const next = todayLeft > 0 ? today : (days.find((d) => d.loaves > 0)?.day ?? addDays(today, maxDays));
  return { loavesPerDay: perDay, maxDaysAtOnce: maxDays, today: todayLeft, days, collectableNow, nextShareDay: next };
}

/** Days of `month` on which the household had a bread share, for bread points. */
function entitledDaysIn(h: HouseholdInput, month: Month): number {
  const first = firstDayOf(month);
  const last = lastDayOf(month);
  let from = first;
  // A card that became active during the month earns points only from that day: days
  // before it were not the card's to collect.
  if (h.state === 'active') {
    const activeOn = cairoDay(h.since);
    if (activeOn > last) return 0;
    if (activeOn > from) from = activeOn;
  }
  return daysBetween(from, last) + 1;
}

function rationCreditOn(policy: Policy, h: HouseholdInput, usage: HouseholdUsage, month: Month): RationCredit {
  const r = policy.ration;
  const full = Math.min(h.householdSize, r.fullCreditMembers);
  const base = r.creditPerPerson * full + r.creditPerFurtherPerson * (h.householdSize - full);
  const { perDay } = breadShape(policy, h.householdSize);
  const allowance = perDay * entitledDaysIn(h, previousMonth(month));
  const unusedLoaves = Math.max(0, allowance - usage.breadPreviousMonth);
  const breadPoints = unusedLoaves * policy.bread.piastresPerUnusedLoaf;
  return { base, unusedLoaves, breadPoints, total: base + breadPoints };
}

/** The item's monthly cap for a household of `size` (Infinity when uncapped). */
export function itemCap(item: RationItem, size: number): number {
  let cap = Number.POSITIVE_INFINITY;
  if (item.perPerson !== undefined) cap = Math.min(cap, item.perPerson * size);
  if (item.perCard !== undefined) cap = Math.min(cap, item.perCard);
  return cap;
}

/** The first other item of an exclusive group with `item` that `taken` reports > 0. */
function excludedBy(policy: Policy, item: string, taken: (id: string) => number): string | undefined {
  for (const group of policy.ration.exclusiveGroups) {
    if (!group.includes(item)) continue;
    for (const other of group) if (other !== item && taken(other) > 0) return other;
  }
  return undefined;
}

function rationBalanceOn(policy: Policy, h: HouseholdInput, usage: HouseholdUsage, today: Day): RationBalance {
  const month = monthOf(today);
  const credit = rationCreditOn(policy, h, usage, month);
  const items = policy.ration.items.map((it): RationItemLeft => {
    const cap = itemCap(it, h.householdSize);
    const left = cap === Number.POSITIVE_INFINITY ? null : Math.max(0, cap - count(usage.rationItems, it.id));
    const by = excludedBy(policy, it.id, (id) => count(usage.rationItems, id));
    return by === undefined ? { item: it.id, left } : { item: it.id, left, excludedBy: by };
  });
  return { month, credit, spent: usage.rationSpent, piastres: Math.max(0, credit.total - usage.rationSpent), items };
}

// ---- the public calls ----

/** Usage after handing over what a decision approved (what the ledger will read next time). */
export function applyDecision(usage: HouseholdUsage, decision: Decision): HouseholdUsage {
  if (decision.service === 'bread') {
    const breadByDay: Record<string, number> = { ...usage.breadByDay };
    for (const b of decision.bookings) breadByDay[b.day] = count(breadByDay, b.day) + b.loaves;
    return { ...usage, breadByDay };
  }
  const rationItems: Record<string, number> = { ...usage.rationItems };
  for (const line of decision.items) if (line.approved > 0) rationItems[line.item] = count(rationItems, line.item) + line.approved;
  return { ...usage, rationSpent: usage.rationSpent + decision.total, rationItems };
}

function breadDecision(policy: Policy, h: HouseholdInput, usage: HouseholdUsage, today: Day, loaves: number, refusal: readonly Reason[]): BreadDecision {
  const common = { service: 'bread' as const, today, householdId: h.householdId, policyVersion: policy.version, requested: loaves };
  const before = breadBalanceOn(policy, h, usage, today);
  const refuse = (reasons: readonly Reason[]): BreadDecision => ({ ...common, approved: false, approvedQuantity: 0, reasons, bookings: [], remaining: before });
  if (refusal.length > 0) return refuse(refusal);
  if (before.today === 0) return refuse([Reasons.breadTodayCollected(before.nextShareDay)]);

  // Book the earliest days first: today's remainder, then the following days in order.
  const bookings: BreadBooking[] = [];
  let need = loaves;
  for (const d of before.days) {
    if (need === 0) break;
    const take = Math.min(need, d.loaves);
    if (take > 0) bookings.push({ day: d.day, loaves: take });
    need -= take;
  }
  const approvedQuantity = loaves - need;
  const reasons = need > 0 ? [Reasons.breadAdvanceLimit(loaves, approvedQuantity, before.maxDaysAtOnce, before.loavesPerDay)] : [];
  const draft: BreadDecision = { ...common, approved: true, approvedQuantity, reasons, bookings, remaining: before };
  return { ...draft, remaining: breadBalanceOn(policy, h, applyDecision(usage, draft), today) };
}

function rationDecision(
  policy: Policy,
  h: HouseholdInput,
  usage: HouseholdUsage,
  today: Day,
  asked: readonly RationRequestItem[],
  refusal: readonly Reason[],
): RationDecision {
  const before = rationBalanceOn(policy, h, usage, today);
  const common = { service: 'ration' as const, today, householdId: h.householdId, policyVersion: policy.version, month: before.month };
  const priceOf = (id: string): number => policy.ration.items.find((it) => it.id === id)?.price ?? 0;
  if (refusal.length > 0) {
    const items = asked.map((a) => ({ item: a.item, requested: a.quantity, approved: 0, unitPrice: priceOf(a.item), total: 0, reasons: [] }));
    return { ...common, approved: false, items, total: 0, reasons: refusal, remaining: before };
  }

  const exhausted = before.piastres === 0;
  let money = before.piastres;
  const takenNow = new Map<string, number>();
  const taken = (id: string): number => count(usage.rationItems, id) + (takenNow.get(id) ?? 0);
  // Lines are served in the order asked: the shop lists what matters most to the household first.
  const items = asked.map((a): RationLine => {
    const it = policy.ration.items.find((x) => x.id === a.item);
    const line = { item: a.item, requested: a.quantity, unitPrice: it?.price ?? 0 };
    if (it === undefined) return { ...line, approved: 0, total: 0, reasons: [Reasons.itemUnknown(a.item)] };
    const by = excludedBy(policy, it.id, taken);
    if (by !== undefined) {
      const other = policy.ration.items.find((x) => x.id === by) as RationItem;
      return { ...line, approved: 0, total: 0, reasons: [Reasons.exclusive(it, other)] };
    }
    const cap = itemCap(it, h.householdSize);
    const capLeft = Math.max(0, cap - count(usage.rationItems, it.id));
    const byMoney = Math.floor(money / it.price);
    const approved = Math.min(a.quantity, capLeft, byMoney);
    const reasons: Reason[] = [];
    if (approved < a.quantity) {
      // Name the limit that binds; when both bind equally the cap is the rule that decides.
      if (capLeft <= byMoney) reasons.push(Reasons.itemCap(it, cap, capLeft));
      else if (!exhausted) reasons.push(Reasons.balance(it, money, approved));
    }
    money -= approved * it.price;
    takenNow.set(it.id, approved);
    return { ...line, approved, total: approved * it.price, reasons };
  });
  const total = items.reduce((s, l) => s + l.total, 0);
  const reasons = [...(exhausted ? [Reasons.balanceExhausted()] : []), ...items.flatMap((l) => l.reasons)];
  const draft: RationDecision = { ...common, approved: items.some((l) => l.approved > 0), items, total, reasons, remaining: before };
  return { ...draft, remaining: rationBalanceOn(policy, h, applyDecision(usage, draft), today) };
}

/**
 * Decides a request. Refusals and partial approvals are results with reasons, never
 * exceptions; PolicyError only for malformed inputs (REQUEST_INVALID, HOUSEHOLD_INVALID,
 * USAGE_INVALID, TIME_INVALID) or a policy not yet in effect (POLICY_NOT_EFFECTIVE).
 * `policy` must come from verifyPolicy/readPolicy (it is not re-checked here).
 */
export function evaluate(
  policy: Policy,
  request: { readonly service: 'bread'; readonly loaves: number },
  household: HouseholdInput,
  usage: HouseholdUsage,
  now: number,
  shopGovernorate: number,
): BreadDecision;
export function evaluate(
  policy: Policy,
  request: { readonly service: 'ration'; readonly items: readonly RationRequestItem[] },
  household: HouseholdInput,
  usage: HouseholdUsage,
  now: number,
  shopGovernorate: number,
): RationDecision;
export function evaluate(policy: Policy, request: PolicyRequest, household: HouseholdInput, usage: HouseholdUsage, now: number, shopGovernorate: number): Decision;
export function evaluate(policy: Policy, request: PolicyRequest, household: HouseholdInput, usage: HouseholdUsage, now: number, shopGovernorate: number): Decision {
  checkRequest(request);
  checkHousehold(household);
  checkUsage(usage);
  checkShopGovernorate(shopGovernorate);
  const today = todayUnder(policy, now);
  const card = cardStatusOn(policy, household, today);
  const refusal = !card.usable
    ? card.reasons
    : servedInGovernorate(policy, household.governorate, shopGovernorate, request.service, today)
      ? []
      : [Reasons.wrongGovernorate(household.governorate, shopGovernorate)];
  return request.service === 'bread'
    ? breadDecision(policy, household, usage, today, request.loaves, refusal)
    : rationDecision(policy, household, usage, today, request.items, refusal);
}

/** What a household has left at `now`, without dispensing (the `balance` call). */
export function balance(policy: Policy, household: HouseholdInput, usage: HouseholdUsage, now: number, shopGovernorate?: number): Balance {
  checkHousehold(household);
  checkUsage(usage);
  if (shopGovernorate !== undefined) checkShopGovernorate(shopGovernorate);
  const today = todayUnder(policy, now);
  const base = {
    today,
    householdId: household.householdId,
    policyVersion: policy.version,
    card: cardStatusOn(policy, household, today),
    bread: breadBalanceOn(policy, household, usage, today),
    ration: rationBalanceOn(policy, household, usage, today),
  };
  if (shopGovernorate === undefined) return base;
  const here = (s: ServiceName): boolean => servedInGovernorate(policy, household.governorate, shopGovernorate, s, today);
  return { ...base, servedHere: { bread: here('bread'), ration: here('ration') } };
}

/**
 * The bookings of a bread decision for `dispensed` loaves actually handed over (a partial
 * commit): the earliest days are kept, later ones trimmed. REQUEST_INVALID above the approval.
 */
export function bookingsForDispensed(decision: BreadDecision, dispensed: number): BreadBooking[] {
  if (!isCount(dispensed, decision.approvedQuantity)) {
    throw new PolicyError('REQUEST_INVALID', `dispensed loaves must be a whole number in 0..${decision.approvedQuantity}`);
  }
  const out: BreadBooking[] = [];
  let left = dispensed;
  for (const b of decision.bookings) {
    if (left === 0) break;
    const take = Math.min(left, b.loaves);
    out.push({ day: b.day, loaves: take });
    left -= take;
  }
  return out;
}

/**
 * The priced lines of a ration decision for what was actually handed over (a partial
 * commit). Every item must be in the decision with at most its approved quantity
 * (REQUEST_INVALID otherwise); items not listed count 0.
 */
export function rationForDispensed(decision: RationDecision, dispensed: readonly RationRequestItem[]): { items: RationLine[]; total: number } {
  const given = new Map<string, number>();
  for (const d of dispensed) {
    const line = decision.items.find((l) => l.item === d.item);
    if (line === undefined || given.has(d.item) || !isCount(d.quantity, line.approved)) {
      throw new PolicyError('REQUEST_INVALID', `dispensed ${String(d.item).slice(0, 64)}: must be an approved item, once, with at most its approved quantity`);
    }
    given.set(d.item, d.quantity);
  }
  const items = decision.items.map((l) => {
    const q = given.get(l.item) ?? 0;
    return { ...l, approved: q, total: q * l.unitPrice };
  });
  return { items, total: items.reduce((s, l) => s + l.total, 0) };
}
