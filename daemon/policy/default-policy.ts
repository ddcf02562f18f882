/**
 * The rules shipped as the default (DESIGN.md §6, from press reports of the Ministry of
 * Supply's rules). Bread figures, credits, the sugar and oil caps and "rice or pasta" are the
 * reported rules; the prices, the rice/pasta caps and the tea line are illustrative values
 * the issuer replaces with its own price list.
 */
import { signPolicy } from './policy-format.js';
import type { Policy } from './policy-types.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The default policy (version 1, effective from 2025-01-01). Frozen. */
export const DEFAULT_POLICY: Policy = deepFreeze({
  version: 1,
  effectiveFrom: '2025-01-01',
  bread: {
    loavesPerPersonPerDay: 5,
    maxDaysAtOnce: 3,
    largeHouseholdSize: 4,
    maxDaysAtOnceLarge: 2,
    piastresPerUnusedLoaf: 10,
  },
  ration: {
    creditPerPerson: 5000,
    fullCreditMembers: 4,
    creditPerFurtherPerson: 2500,
    items: [
      { id: 'sugar', nameEn: 'Sugar', nameAr: 'سكر', unitEn: 'kg', unitAr: 'كجم', price: 1260, perPerson: 1, perCard: 6 },
      { id: 'oil', nameEn: 'Cooking oil', nameAr: 'زيت', unitEn: 'bottle', unitAr: 'زجاجة', price: 3000, perPerson: 1, perCard: 4 },
      { id: 'rice', nameEn: 'Rice', nameAr: 'أرز', unitEn: 'kg', unitAr: 'كجم', price: 1200, perPerson: 1, perCard: 6 },
      { id: 'pasta', nameEn: 'Pasta', nameAr: 'مكرونة', unitEn: 'pack', unitAr: 'كيس', price: 1000, perPerson: 1, perCard: 6 },
      { id: 'tea', nameEn: 'Tea', nameAr: 'شاي', unitEn: 'pack', unitAr: 'علبة', price: 550 },
    ],
    exclusiveGroups: [['rice', 'pasta']],
  },
  governorateExceptions: [],
  cardStates: {
    suspendedWorkingDays: 3,
    weekendDays: [5, 6],
    holidays: [],
  },
});

/**
 * The default policy signed by an issuer root: the envelope bytes the issuer toolkit
 * publishes. `overrides` replaces top-level fields (a new version, another effective day).
 */
export function signDefaultPolicy(ed: Ed25519, issuerSeed: Uint8Array, overrides: Partial<Policy> = {}): Uint8Array {
  return signPolicy(ed, issuerSeed, { ...DEFAULT_POLICY, ...overrides });
}
