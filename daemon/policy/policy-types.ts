/**
 * The quota policy as data: what the issuer (the Ministry of Supply) signs and every daemon
 * applies. Amounts of money are integer piastres (100 piastres = 1 Egyptian pound), days
 * are Egyptian calendar days 'YYYY-MM-DD' (see cairo-calendar.ts). POLICY.md explains each
 * rule in plain words; policy-format.ts maps these fields to the signed CBOR and to JSON.
 */
import type { Day } from './cairo-calendar.js';

/** The services the policy rations. */
export type ServiceName = 'bread' | 'ration';
/** Every service, in canonical order. */
export const SERVICES: readonly ServiceName[] = ['bread', 'ration'];

/** Subsidised bread. */
export interface BreadRules {
  /** Loaves a household member is entitled to each day (5). */
  readonly loavesPerPersonPerDay: number;
  /** Days of shares a household may collect in one visit, today included (3). */
  readonly maxDaysAtOnce: number;
  /** Households with at least this many members use {@link maxDaysAtOnceLarge} (4). */
  readonly largeHouseholdSize: number;
  /** Days of shares at once for large households (2). */
  readonly maxDaysAtOnceLarge: number;
  /** Piastres credited to the next month's ration balance for each unused loaf (10). */
  readonly piastresPerUnusedLoaf: number;
}

/** One ration good on the price list. */
export interface RationItem {
  /** Stable identifier the shop software uses ('sugar'): a–z, 0–9, '_' or '-', 1..32 characters. */
  readonly id: string;
  readonly nameEn: string;
  readonly nameAr: string;
  /** Unit the quantity counts ('kg', 'bottle'); quantities are whole units. */
  readonly unitEn: string;
  readonly unitAr: string;
  /** Price of one unit in piastres (≥ 1). */
  readonly price: number;
  /** Units per household member per month; absent = no per-person cap. */
  readonly perPerson?: number | undefined;
  /** Units per card per month whatever the household size; absent = no per-card cap. */
  readonly perCard?: number | undefined;
}

/** Monthly ration goods. */
export interface RationRules {
  /** Monthly credit in piastres for each of the first {@link fullCreditMembers} members (5000). */
  readonly creditPerPerson: number;
  /** How many members get the full credit (4). */
  readonly fullCreditMembers: number;
  /** Monthly credit in piastres for each further member (2500). */
  readonly creditPerFurtherPerson: number;
  /** The price list, in the order shops show it. */
  readonly items: readonly RationItem[];
  /** Groups of item ids of which a household may take only one per month (rice or pasta). */
  readonly exclusiveGroups: readonly (readonly string[])[];
}

/**
 * A dated exception to "only in the card's own governorate": between `from` and `to`
 * (inclusive), cards of `cardGovernorates` may be served in shops of `shopGovernorates`
 * (any governorate when absent), for `services` (all when absent).
 */
export interface GovernorateException {
  readonly from: Day;
  readonly to: Day;
  readonly cardGovernorates: readonly number[];
  readonly shopGovernorates?: readonly number[] | undefined;
  readonly services?: readonly ServiceName[] | undefined;
  /** Why, for the auditor ('Eid al-Adha travel'). */
  readonly note?: string | undefined;
}

/** What card states mean. */
export interface CardStateRules {
  /** A suspended (reported lost) card is usable again after this many working days (3). */
  readonly suspendedWorkingDays: number;
  /** Weekdays that are not working days, 0 Sunday … 6 Saturday (Egypt: 5 Friday, 6 Saturday). */
  readonly weekendDays: readonly number[];
  /** Public holidays that are not working days either. */
  readonly holidays: readonly Day[];
}

/** A complete policy. */
export interface Policy {
  /** Grows with every policy the issuer publishes. */
  readonly version: number;
  /** First Egyptian day on which this policy applies. */
  readonly effectiveFrom: Day;
  readonly bread: BreadRules;
  readonly ration: RationRules;
  readonly governorateExceptions: readonly GovernorateException[];
  readonly cardStates: CardStateRules;
}
