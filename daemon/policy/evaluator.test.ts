import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from './default-policy.js';
import {
  applyDecision,
  balance,
  bookingsForDispensed,
  evaluate,
  isWorkingDay,
  itemCap,
  NO_USAGE,
  rationForDispensed,
  reactivationDay,
  selectPolicy,
  servedInGovernorate,
  usageQuery,
  type HouseholdInput,
  type HouseholdUsage,
  type PolicyRequest,
} from './evaluator.js';
import type { RosterEntry } from '../../firmware-sim/issuer/signed-lists.js';
import { PolicyError } from './policy-error.js';
import type { Policy } from './policy-types.js';
import { daysAr, moneyAr, moneyEn, quantityAr, quantityEn, Reasons, REASON_CODES } from './reasons.js';

const MON_10 = 1_741_593_600; // 2025-03-10 10:00 Cairo (Monday)
const DAY = 86_400;
const household = (over: Partial<HouseholdInput> = {}): HouseholdInput => ({
  householdId: 'HH-03-0001',
  householdSize: 3,
  governorate: 3,
  state: 'active',
  since: 1_735_682_400,
  ...over,
});
const usage = (over: Partial<HouseholdUsage> = {}): HouseholdUsage => ({ ...NO_USAGE, ...over });
const bread = (loaves: number): PolicyRequest & { service: 'bread' } => ({ service: 'bread', loaves });
const ration = (...items: [string, number][]): PolicyRequest & { service: 'ration' } => ({
  service: 'ration',
  items: items.map(([item, quantity]) => ({ item, quantity })),
});
const withPolicy = (over: Partial<Policy>): Policy => ({ ...DEFAULT_POLICY, ...over });

function errorCode(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof PolicyError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('bread: 5 loaves a person a day', () => {
  it('the daily share grows with the household', () => {
    for (const size of [1, 2, 3, 4, 5, 7, 12]) {
      const b = balance(DEFAULT_POLICY, household({ householdSize: size }), NO_USAGE, MON_10);
      expect(b.bread.loavesPerDay).toBe(5 * size);
      expect(b.bread.today).toBe(5 * size);
    }
  });

  it('up to 3 days at once below 4 members, 2 days from 4 members', () => {
    const days = (size: number): number => balance(DEFAULT_POLICY, household({ householdSize: size }), NO_USAGE, MON_10).bread.maxDaysAtOnce;
    expect([1, 2, 3].map(days)).toEqual([3, 3, 3]);
    expect([4, 5, 7, 64].map(days)).toEqual([2, 2, 2, 2]);
  });

  it('books the earliest days first and reports what is left per day', () => {
    const d = evaluate(DEFAULT_POLICY, bread(20), household(), NO_USAGE, MON_10, 3);
    expect(d.bookings).toEqual([
      { day: '2025-03-10', loaves: 15 },
      { day: '2025-03-11', loaves: 5 },
    ]);
    expect(d.remaining.days).toEqual([
      { day: '2025-03-10', loaves: 0 },
      { day: '2025-03-11', loaves: 10 },
      { day: '2025-03-12', loaves: 15 },
    ]);
    expect(d.remaining.collectableNow).toBe(0);
    expect(d.remaining.nextShareDay).toBe('2025-03-11');
  });

  it("once today's share is gone, later free days cannot be taken today (they are blocked, not advanced)", () => {
    const u = usage({ breadByDay: { '2025-03-10': 15 } });
    const d = evaluate(DEFAULT_POLICY, bread(5), household(), u, MON_10, 3);
    expect(d.approved).toBe(false);
    expect(d.reasons.map((r) => r.code)).toEqual(['BREAD_TODAY_COLLECTED']);
    expect(d.reasons[0]?.en).toContain("Today's bread share was already collected");
    expect(d.reasons[0]?.ar).toContain('تم صرف حصة اليوم من الخبز بالفعل');
    expect(d.reasons[0]?.en).toContain('Tuesday 2025-03-11');
    expect(d.reasons[0]?.ar).toContain('الثلاثاء 2025-03-11');
  });

  it('when the whole window is taken, the next share is the first day after it', () => {
    const u = usage({ breadByDay: { '2025-03-10': 15, '2025-03-11': 15, '2025-03-12': 15 } });
    expect(balance(DEFAULT_POLICY, household(), u, MON_10).bread.nextShareDay).toBe('2025-03-13');
  });

  it('usage outside the window and over the share never makes a day negative', () => {
    const u = usage({ breadByDay: { '2025-03-09': 99, '2025-03-10': 40, '2025-03-20': 5 } });
    const b = balance(DEFAULT_POLICY, household(), u, MON_10).bread;
    expect(b.days.map((d) => d.loaves)).toEqual([0, 15, 15]);
  });

  it('asking more than allowed approves the allowed part with the reason in both languages', () => {
    const d = evaluate(DEFAULT_POLICY, bread(50), household({ householdSize: 4 }), NO_USAGE, MON_10, 3);
    expect(d.approvedQuantity).toBe(40);
    const r = d.reasons[0];
    expect(r?.code).toBe('BREAD_ADVANCE_LIMIT');
    expect(r?.en).toBe("50 loaves asked, 40 allowed: today's remaining share and at most 2 days of shares at once (20 loaves a day).");
    expect(r?.ar).toBe('المطلوب 50 رغيف، والمسموح 40 رغيف فقط: حصة اليوم المتبقية، وبحد أقصى حصة يومين مرة واحدة (20 رغيف في اليوم).');
  });

  it('a policy with other figures is applied as written', () => {
    const p = withPolicy({ bread: { loavesPerPersonPerDay: 3, maxDaysAtOnce: 1, largeHouseholdSize: 65, maxDaysAtOnceLarge: 1, piastresPerUnusedLoaf: 0 } });
    const d = evaluate(p, bread(100), household({ householdSize: 10 }), NO_USAGE, MON_10, 3);
    expect(d.approvedQuantity).toBe(30);
    expect(d.bookings).toEqual([{ day: '2025-03-10', loaves: 30 }]);
  });
});

describe('bread points', () => {
  it('unused loaves of last month × 10 piastres go to this month', () => {
    const b = balance(DEFAULT_POLICY, household(), usage({ breadPreviousMonth: 400 }), MON_10);
    expect(b.ration.credit).toEqual({ base: 15000, unusedLoaves: 20, breadPoints: 200, total: 15200 });
  });

  it('a card that became active after last month earns no points; a suspended card counts the whole month', () => {
    const activeThisMonth = household({ since: MON_10 - 3 * DAY });
    expect(balance(DEFAULT_POLICY, activeThisMonth, NO_USAGE, MON_10).ration.credit.breadPoints).toBe(0);
    const suspendedLastMonth = household({ state: 'suspended', since: MON_10 - 30 * DAY });
    expect(balance(DEFAULT_POLICY, suspendedLastMonth, NO_USAGE, MON_10).ration.credit.unusedLoaves).toBe(15 * 28);
  });

  it('no points when the policy values a loaf at 0', () => {
    const p = withPolicy({ bread: { ...DEFAULT_POLICY.bread, piastresPerUnusedLoaf: 0 } });
    expect(balance(p, household(), NO_USAGE, MON_10).ration.credit).toMatchObject({ unusedLoaves: 420, breadPoints: 0, total: 15000 });
  });
});

describe('ration goods', () => {
  const full = usage({ breadPreviousMonth: 420 });

  it('credit: EGP 50 for each of the first 4 members, EGP 25 after', () => {
    const base = (size: number): number => balance(DEFAULT_POLICY, household({ householdSize: size }), NO_USAGE, MON_10).ration.credit.base;
    expect([1, 2, 3, 4, 5, 6, 10].map(base)).toEqual([5000, 10000, 15000, 20000, 22500, 25000, 35000]);
  });

  it('item caps: per person, at most per card, uncapped items', () => {
    const [sugar, oil, , , tea] = DEFAULT_POLICY.ration.items;
    expect([1, 3, 6, 9].map((s) => itemCap(sugar!, s))).toEqual([1, 3, 6, 6]);
    expect([1, 3, 4, 9].map((s) => itemCap(oil!, s))).toEqual([1, 3, 4, 4]);
    expect(itemCap(tea!, 5)).toBe(Number.POSITIVE_INFINITY);
  });

  it('when cap and balance bind equally, the cap is named', () => {
    // 3 persons, EGP 37.80 left: exactly 3 kg of sugar by money and by cap; asks 4.
    const d = evaluate(DEFAULT_POLICY, ration(['sugar', 4]), household(), usage({ breadPreviousMonth: 420, rationSpent: 15000 - 3780 }), MON_10, 3);
    expect(d.items[0]?.approved).toBe(3);
    expect(d.reasons.map((r) => r.code)).toEqual(['RATION_ITEM_CAP']);
  });

  it('an exclusive group of three: the first taken excludes the other two', () => {
    const p = withPolicy({ ration: { ...DEFAULT_POLICY.ration, exclusiveGroups: [['rice', 'pasta', 'tea']] } });
    const d = evaluate(p, ration(['tea', 1], ['rice', 1], ['pasta', 1]), household(), full, MON_10, 3);
    expect(d.items.map((l) => l.approved)).toEqual([1, 0, 0]);
    expect(d.remaining.items.filter((i) => i.excludedBy === 'tea').map((i) => i.item)).toEqual(['rice', 'pasta']);
  });

  it('an item approved 0 (balance) does not exclude its group partner; a recorded 0 is not a purchase', () => {
    // EGP 11 left: 1 kg of rice (EGP 12) does not fit, a pack of pasta (EGP 10) does.
    const d = evaluate(DEFAULT_POLICY, ration(['rice', 1], ['pasta', 1]), household(), usage({ breadPreviousMonth: 420, rationSpent: 15000 - 1100 }), MON_10, 3);
    expect(d.items.map((l) => l.approved)).toEqual([0, 1]);
    expect(d.reasons.map((r) => r.code)).toEqual(['RATION_BALANCE']);
    const d2 = evaluate(DEFAULT_POLICY, ration(['pasta', 1]), household(), usage({ breadPreviousMonth: 420, rationItems: { rice: 0 } }), MON_10, 3);
    expect(d2.items[0]?.approved).toBe(1);
  });

  it('reason texts name the item, the unit and the money', () => {
    const d = evaluate(DEFAULT_POLICY, ration(['oil', 5], ['sugar', 3]), household(), usage({ breadPreviousMonth: 420, rationSpent: 4000 }), MON_10, 3);
    // EGP 110 left: oil capped at 3 (EGP 90), then EGP 20 buys 1 kg of sugar.
    expect(d.items.map((l) => l.approved)).toEqual([3, 1]);
    expect(d.reasons[0]?.en).toBe('Cooking oil: at most 3 bottles a month for this card; 3 bottles left this month.');
    expect(d.reasons[0]?.ar).toBe('زيت: الحد الأقصى عدد 3 زجاجة في الشهر لهذه البطاقة، والمتبقي عدد 3 زجاجة.');
    expect(d.reasons[1]?.en).toBe('Sugar: the remaining balance (EGP 20.00) covers only 1 kg.');
    expect(d.reasons[1]?.ar).toBe('سكر: الرصيد المتبقي (20.00 جنيه) يكفي 1 كجم فقط.');
  });

  it('a card or governorate refusal lists every line with 0 and its price', () => {
    const d = evaluate(DEFAULT_POLICY, ration(['sugar', 1], ['flour', 1]), household({ state: 'replaced' }), full, MON_10, 3);
    expect(d.items).toEqual([
      { item: 'sugar', requested: 1, approved: 0, unitPrice: 1260, total: 0, reasons: [] },
      { item: 'flour', requested: 1, approved: 0, unitPrice: 0, total: 0, reasons: [] },
    ]);
    expect(d.remaining.piastres).toBe(15000);
  });
});

describe('governorate', () => {
  const exception = { from: '2025-03-01', to: '2025-03-15', cardGovernorates: [1], shopGovernorates: [3], services: ['bread'] as const };
  const p = withPolicy({ governorateExceptions: [exception] });

  it('own governorate always; another only under a dated exception for that service and shop', () => {
    expect(servedInGovernorate(DEFAULT_POLICY, 3, 3, 'ration', '2025-03-10')).toBe(true);
    expect(servedInGovernorate(DEFAULT_POLICY, 1, 3, 'bread', '2025-03-10')).toBe(false);
    expect(servedInGovernorate(p, 1, 3, 'bread', '2025-03-01')).toBe(true);
    expect(servedInGovernorate(p, 1, 3, 'bread', '2025-03-15')).toBe(true);
    expect(servedInGovernorate(p, 1, 3, 'bread', '2025-02-28')).toBe(false);
    expect(servedInGovernorate(p, 1, 3, 'bread', '2025-03-16')).toBe(false);
    expect(servedInGovernorate(p, 1, 3, 'ration', '2025-03-10')).toBe(false);
    expect(servedInGovernorate(p, 1, 4, 'bread', '2025-03-10')).toBe(false);
    expect(servedInGovernorate(p, 2, 3, 'bread', '2025-03-10')).toBe(false);
  });

  it('the refusal names the card governorate in both languages (number when unknown)', () => {
    const d = evaluate(DEFAULT_POLICY, bread(5), household({ governorate: 1 }), NO_USAGE, MON_10, 3);
    expect(d.reasons[0]?.en).toBe('This card belongs to Cairo governorate and can only be used there.');
    expect(d.reasons[0]?.ar).toBe('هذه البطاقة تابعة لمحافظة القاهرة، ولا يمكن الصرف بها إلا داخل محافظتها.');
    expect(Reasons.wrongGovernorate(7, 3).en).toContain('number 07');
  });
});

describe('card states', () => {
  const rules = DEFAULT_POLICY.cardStates;

  it('working days: Friday and Saturday are the weekend, holidays do not count', () => {
    expect(isWorkingDay(rules, '2025-03-13')).toBe(true);
    expect(isWorkingDay(rules, '2025-03-14')).toBe(false);
    expect(isWorkingDay(rules, '2025-03-15')).toBe(false);
    expect(isWorkingDay(rules, '2025-03-16')).toBe(true);
    expect(isWorkingDay({ ...rules, holidays: ['2025-03-16'] }, '2025-03-16')).toBe(false);
  });

  it('a suspended card is usable again after 3 working days following the report day', () => {
    expect(reactivationDay(rules, '2025-03-09')).toBe('2025-03-13'); // Sunday → Mon, Tue, Wed
    expect(reactivationDay(rules, '2025-03-11')).toBe('2025-03-17'); // Tuesday → Wed, Thu, Sun
    expect(reactivationDay(rules, '2025-03-13')).toBe('2025-03-19'); // Thursday → Sun, Mon, Tue
    expect(reactivationDay(rules, '2025-03-14')).toBe('2025-03-19'); // Friday → Sun, Mon, Tue
    expect(reactivationDay(rules, '2025-03-15')).toBe('2025-03-19'); // Saturday → Sun, Mon, Tue
    expect(reactivationDay({ ...rules, suspendedWorkingDays: 0 }, '2025-03-13')).toBe('2025-03-14');
    expect(reactivationDay({ ...rules, weekendDays: [] }, '2025-03-13')).toBe('2025-03-17');
  });

  it('each refused state has its own code and the suspension says until when', () => {
    const code = (h: HouseholdInput): string[] => evaluate(DEFAULT_POLICY, bread(5), h, NO_USAGE, MON_10, 3).reasons.map((r) => r.code);
    expect(code(household({ state: 'replaced' }))).toEqual(['CARD_REPLACED']);
    expect(code(household({ state: 'cancelled' }))).toEqual(['CARD_CANCELLED']);
    expect(code(household({ state: 'not_activated' }))).toEqual(['CARD_NOT_ACTIVATED']);
    const s = evaluate(DEFAULT_POLICY, bread(5), household({ state: 'suspended', since: MON_10 - 3600 }), NO_USAGE, MON_10, 3);
    expect(s.reasons[0]?.code).toBe('CARD_SUSPENDED');
    expect(s.reasons[0]?.params).toEqual({ usableFrom: '2025-03-14' });
    expect(s.reasons[0]?.en).toContain('Friday 2025-03-14');
    expect(s.reasons[0]?.ar).toContain('الجمعة 2025-03-14');
  });

  it('a suspension reported just before midnight Cairo counts from that day', () => {
    // Thursday 2025-03-13 23:59:59 Cairo = 21:59:59 UTC.
    const b = balance(DEFAULT_POLICY, household({ state: 'suspended', since: 1_741_903_199 }), NO_USAGE, MON_10 + 9 * DAY);
    expect(b.card.usableFrom).toBe('2025-03-19');
  });
});

describe('partial commit helpers', () => {
  it('bookingsForDispensed keeps the earliest days', () => {
    const d = evaluate(DEFAULT_POLICY, bread(40), household(), NO_USAGE, MON_10, 3);
    expect(bookingsForDispensed(d, 20)).toEqual([
      { day: '2025-03-10', loaves: 15 },
      { day: '2025-03-11', loaves: 5 },
    ]);
    expect(bookingsForDispensed(d, 0)).toEqual([]);
    expect(bookingsForDispensed(d, 40)).toEqual(d.bookings);
    expect(errorCode(() => bookingsForDispensed(d, 41))).toBe('REQUEST_INVALID');
    expect(errorCode(() => bookingsForDispensed(d, 1.5))).toBe('REQUEST_INVALID');
  });

  it('rationForDispensed re-prices what was handed over', () => {
    const d = evaluate(DEFAULT_POLICY, ration(['sugar', 3], ['oil', 2]), household(), usage({ breadPreviousMonth: 420 }), MON_10, 3);
    const r = rationForDispensed(d, [{ item: 'sugar', quantity: 2 }]);
    expect(r.items.map((l) => [l.item, l.approved, l.total])).toEqual([
      ['sugar', 2, 2520],
      ['oil', 0, 0],
    ]);
    expect(r.total).toBe(2520);
    expect(errorCode(() => rationForDispensed(d, [{ item: 'sugar', quantity: 4 }]))).toBe('REQUEST_INVALID');
    expect(errorCode(() => rationForDispensed(d, [{ item: 'tea', quantity: 1 }]))).toBe('REQUEST_INVALID');
    expect(errorCode(() => rationForDispensed(d, [{ item: 'oil', quantity: 1 }, { item: 'oil', quantity: 1 }]))).toBe('REQUEST_INVALID');
  });

  it('applyDecision then balance gives the decision remaining figures', () => {
    const u = usage({ breadPreviousMonth: 420 });
    const d = evaluate(DEFAULT_POLICY, ration(['sugar', 2], ['rice', 1]), household(), u, MON_10, 3);
    expect(balance(DEFAULT_POLICY, household(), applyDecision(u, d), MON_10).ration).toEqual(d.remaining);
  });
});

describe('ledger interface', () => {
  it('takes the card roster entry as it is', () => {
    const entry: RosterEntry = { cardId: 'EG-03-000042', cardSerial: 1, householdId: 'HH-03-0042', householdSize: 5, governorate: 3, state: 'active', since: 1_735_682_400 };
    const d = evaluate(DEFAULT_POLICY, bread(25), entry, NO_USAGE, MON_10, 3);
    expect(d.householdId).toBe('HH-03-0042');
    expect(d.approvedQuantity).toBe(25);
  });

  it('usageQuery names the day ranges and the month to read', () => {
    expect(usageQuery(DEFAULT_POLICY, MON_10)).toEqual({
      today: '2025-03-10',
      breadFrom: '2025-03-10',
      breadTo: '2025-03-12',
      previousMonthFrom: '2025-02-01',
      previousMonthTo: '2025-02-28',
      month: '2025-03',
    });
    // 1 January: the previous month is last year's December.
    expect(usageQuery(DEFAULT_POLICY, 1_767_218_400)).toMatchObject({ today: '2026-01-01', previousMonthFrom: '2025-12-01', previousMonthTo: '2025-12-31' });
  });

  it('selectPolicy takes the highest version in effect', () => {
    const v2 = withPolicy({ version: 2, effectiveFrom: '2025-03-11' });
    expect(selectPolicy([DEFAULT_POLICY, v2], MON_10).version).toBe(1);
    expect(selectPolicy([v2, DEFAULT_POLICY], MON_10 + DAY).version).toBe(2);
    expect(errorCode(() => selectPolicy([v2], MON_10))).toBe('POLICY_NONE_EFFECTIVE');
    expect(errorCode(() => evaluate(v2, bread(5), household(), NO_USAGE, MON_10, 3))).toBe('POLICY_NOT_EFFECTIVE');
  });
});

describe('inputs the evaluator refuses to work with', () => {
  const bad: [string, () => unknown, string][] = [
    ['loaves 0', () => evaluate(DEFAULT_POLICY, bread(0), household(), NO_USAGE, MON_10, 3), 'REQUEST_INVALID'],
    ['loaves 2.5', () => evaluate(DEFAULT_POLICY, bread(2.5), household(), NO_USAGE, MON_10, 3), 'REQUEST_INVALID'],
    ['unknown service', () => evaluate(DEFAULT_POLICY, { service: 'health' } as unknown as PolicyRequest, household(), NO_USAGE, MON_10, 3), 'REQUEST_INVALID'],
    ['no items', () => evaluate(DEFAULT_POLICY, ration(), household(), NO_USAGE, MON_10, 3), 'REQUEST_INVALID'],
    ['quantity 0', () => evaluate(DEFAULT_POLICY, ration(['sugar', 0]), household(), NO_USAGE, MON_10, 3), 'REQUEST_INVALID'],
    ['shop governorate 100', () => evaluate(DEFAULT_POLICY, bread(5), household(), NO_USAGE, MON_10, 100), 'REQUEST_INVALID'],
    ['size 65', () => evaluate(DEFAULT_POLICY, bread(5), household({ householdSize: 65 }), NO_USAGE, MON_10, 3), 'HOUSEHOLD_INVALID'],
    ['state lost', () => evaluate(DEFAULT_POLICY, bread(5), household({ state: 'lost' as never }), NO_USAGE, MON_10, 3), 'HOUSEHOLD_INVALID'],
    ['empty household id', () => evaluate(DEFAULT_POLICY, bread(5), household({ householdId: '' }), NO_USAGE, MON_10, 3), 'HOUSEHOLD_INVALID'],
    ['bad day key', () => evaluate(DEFAULT_POLICY, bread(5), household(), usage({ breadByDay: { '10/03/2025': 5 } }), MON_10, 3), 'USAGE_INVALID'],
    ['fractional spent', () => evaluate(DEFAULT_POLICY, bread(5), household(), usage({ rationSpent: 0.5 }), MON_10, 3), 'USAGE_INVALID'],
    ['negative item count', () => balance(DEFAULT_POLICY, household(), usage({ rationItems: { sugar: -1 } }), MON_10), 'USAGE_INVALID'],
    ['now NaN', () => evaluate(DEFAULT_POLICY, bread(5), household(), NO_USAGE, Number.NaN, 3), 'TIME_INVALID'],
  ];
  for (const [what, f, code] of bad) it(`${what} → ${code}`, () => expect(errorCode(f)).toBe(code));
});

describe('purity', () => {
  it('the same inputs give the same decision, and inputs are not modified', () => {
    const deepFreeze = <T>(v: T): T => {
      if (v !== null && typeof v === 'object') {
        for (const x of Object.values(v)) deepFreeze(x);
        Object.freeze(v);
      }
      return v;
    };
    const h = deepFreeze(household());
    const u = deepFreeze(usage({ breadByDay: { '2025-03-10': 3 }, breadPreviousMonth: 100, rationItems: { rice: 1 }, rationSpent: 1200 }));
    const req = deepFreeze(ration(['sugar', 2], ['pasta', 1], ['oil', 9]));
    const a = evaluate(DEFAULT_POLICY, req, h, u, MON_10, 3);
    const b = evaluate(DEFAULT_POLICY, req, h, u, MON_10, 3);
    expect(a).toEqual(b);
    expect(evaluate(DEFAULT_POLICY, bread(30), h, u, MON_10, 3)).toEqual(evaluate(DEFAULT_POLICY, bread(30), h, u, MON_10, 3));
  });
});

describe('reason texts', () => {
  const item = DEFAULT_POLICY.ration.items[0]!;
  const all = [
    Reasons.cardSuspended('2025-03-19'),
    Reasons.cardReplaced(),
    Reasons.cardCancelled(),
    Reasons.cardNotActivated(),
    Reasons.wrongGovernorate(1, 3),
    Reasons.breadTodayCollected('2025-03-11'),
    Reasons.breadAdvanceLimit(60, 45, 3, 15),
    Reasons.itemUnknown('flour'),
    Reasons.itemCap(item, 3, 0),
    Reasons.exclusive(DEFAULT_POLICY.ration.items[3]!, DEFAULT_POLICY.ration.items[2]!),
    Reasons.balance(item, 500, 0),
    Reasons.balanceExhausted(),
  ];

  it('every code has a builder, English and Arabic text without placeholders', () => {
    expect(all.map((r) => r.code)).toEqual(REASON_CODES);
    for (const r of all) {
      expect(r.en.length, r.code).toBeGreaterThan(10);
      expect(r.ar, r.code).toMatch(/[\u0600-\u06FF]{3}/);
      for (const t of [r.en, r.ar]) expect(t, r.code).not.toMatch(/undefined|NaN|\$\{|Infinity/);
    }
  });

  it('numbers of days, units and money read naturally', () => {
    expect([1, 2, 3, 10, 11].map(daysAr)).toEqual(['يوم واحد', 'يومين', '3 أيام', '10 أيام', '11 يومًا']);
    expect(quantityEn(1, 'bottle')).toBe('1 bottle');
    expect(quantityEn(3, 'bottle')).toBe('3 bottles');
    expect(quantityEn(3, 'kg')).toBe('3 kg');
    expect(quantityAr(3, 'كجم')).toBe('3 كجم');
    expect(quantityAr(3, 'زجاجة')).toBe('عدد 3 زجاجة');
    expect(moneyEn(1260)).toBe('EGP 12.60');
    expect(moneyAr(5)).toBe('0.05 جنيه');
  });
});
