/**
 * Why a decision approved less than asked, or nothing: a stable code plus a sentence in
 * English and in Arabic. The Arabic is written for the cashier at the bakery or the ration
 * grocer, who reads it to the citizen; numbers and dates use Western digits, as on receipts.
 * Codes are stable forever (the shop software switches on them); the text may improve.
 */
import { dayLabel, type Day } from './cairo-calendar.js';
import type { RationItem } from './policy-types.js';

/** Every reason code a decision can carry. */
export type ReasonCode =
  | 'CARD_SUSPENDED'
  | 'CARD_REPLACED'
  | 'CARD_CANCELLED'
  | 'CARD_NOT_ACTIVATED'
  | 'WRONG_GOVERNORATE'
  | 'BREAD_TODAY_COLLECTED'
  | 'BREAD_ADVANCE_LIMIT'
  | 'RATION_ITEM_UNKNOWN'
  | 'RATION_ITEM_CAP'
  | 'RATION_EXCLUSIVE'
  | 'RATION_BALANCE'
  | 'RATION_BALANCE_EXHAUSTED';

/** All reason codes, for documents and tests. */
export const REASON_CODES: readonly ReasonCode[] = [
  'CARD_SUSPENDED',
  'CARD_REPLACED',
  'CARD_CANCELLED',
  'CARD_NOT_ACTIVATED',
  'WRONG_GOVERNORATE',
  'BREAD_TODAY_COLLECTED',
  'BREAD_ADVANCE_LIMIT',
  'RATION_ITEM_UNKNOWN',
  'RATION_ITEM_CAP',
  'RATION_EXCLUSIVE',
  'RATION_BALANCE',
  'RATION_BALANCE_EXHAUSTED',
];

/** One reason. `item` is set for reasons about one ration item; `params` carries the figures in the text. */
export interface Reason {
  readonly code: ReasonCode;
  readonly en: string;
  readonly ar: string;
  readonly item?: string;
  readonly params: Readonly<Record<string, string | number>>;
}

/** Egypt's governorates by the two-digit code of the national id (as in the roster). */
export const GOVERNORATES: Readonly<Record<number, readonly [en: string, ar: string]>> = Object.freeze({
  1: ['Cairo', 'القاهرة'],
  2: ['Alexandria', 'الإسكندرية'],
  3: ['Port Said', 'بورسعيد'],
  4: ['Suez', 'السويس'],
  11: ['Damietta', 'دمياط'],
  12: ['Dakahlia', 'الدقهلية'],
  13: ['Sharqia', 'الشرقية'],
  14: ['Qalyubia', 'القليوبية'],
  15: ['Kafr El Sheikh', 'كفر الشيخ'],
  16: ['Gharbia', 'الغربية'],
  17: ['Monufia', 'المنوفية'],
  18: ['Beheira', 'البحيرة'],
  19: ['Ismailia', 'الإسماعيلية'],
  21: ['Giza', 'الجيزة'],
  22: ['Beni Suef', 'بني سويف'],
  23: ['Fayoum', 'الفيوم'],
  24: ['Minya', 'المنيا'],
  25: ['Asyut', 'أسيوط'],
  26: ['Sohag', 'سوهاج'],
  27: ['Qena', 'قنا'],
  28: ['Aswan', 'أسوان'],
  29: ['Luxor', 'الأقصر'],
  31: ['Red Sea', 'البحر الأحمر'],
  32: ['New Valley', 'الوادي الجديد'],
  33: ['Matrouh', 'مطروح'],
  34: ['North Sinai', 'شمال سيناء'],
  35: ['South Sinai', 'جنوب سيناء'],
});

function governorateName(code: number, lang: 0 | 1): string {
  const names = Object.hasOwn(GOVERNORATES, code) ? GOVERNORATES[code] : undefined;
  if (names) return names[lang];
  const two = String(code).padStart(2, '0');
  return lang === 0 ? `number ${two}` : `رقم ${two}`;
}

/** Piastres as pounds: 'EGP 12.50'. */
export function moneyEn(piastres: number): string {
  return `EGP ${(piastres / 100).toFixed(2)}`;
}

/** Piastres as pounds in Arabic: '12.50 جنيه'. */
export function moneyAr(piastres: number): string {
  return `${(piastres / 100).toFixed(2)} جنيه`;
}

/** A count of days in Arabic as said aloud: يوم واحد، يومين، 3 أيام، 11 يومًا. */
export function daysAr(n: number): string {
  if (n === 1) return 'يوم واحد';
  if (n === 2) return 'يومين';
  if (n >= 3 && n <= 10) return `${n} أيام`;
  return `${n} يومًا`;
}

const daysEn = (n: number): string => (n === 1 ? '1 day' : `${n} days`);

/** '1 bottle', '3 bottles', '3 kg': English units take an 's' unless abbreviated (2 letters or fewer) or already plural. */
export function quantityEn(n: number, unit: string): string {
  return n === 1 || unit.length <= 2 || unit.endsWith('s') ? `${n} ${unit}` : `${n} ${unit}s`;
}

const MEASURES_AR = new Set(['كجم', 'جم', 'لتر', 'مل']);

/**
 * A quantity in Arabic. Measures read naturally after any number ('3 كجم'); counted units
 * take the invoice form 'عدد 3 زجاجة', which avoids the plural agreement of numbers 3–10.
 */
export function quantityAr(n: number, unit: string): string {
  return MEASURES_AR.has(unit) ? `${n} ${unit}` : `عدد ${n} ${unit}`;
}

function reason(code: ReasonCode, en: string, ar: string, params: Record<string, string | number>, item?: string): Reason {
  return item === undefined ? { code, en, ar, params } : { code, en, ar, item, params };
}

/** Builders, one per code. */
export const Reasons = {
  cardSuspended(usableFrom: Day): Reason {
    return reason(
      'CARD_SUSPENDED',
      `This card is suspended (reported lost). It can be used again from ${dayLabel(usableFrom, 'en')} unless it is replaced.`,
      `هذه البطاقة موقوفة (تم الإبلاغ عن فقدها). يمكن استخدامها مرة أخرى ابتداءً من يوم ${dayLabel(usableFrom, 'ar')} إذا لم يتم استبدالها.`,
      { usableFrom },
    );
  },
  cardReplaced(): Reason {
    return reason(
      'CARD_REPLACED',
      'This card has been replaced by a new card and can no longer be used.',
      'تم استبدال هذه البطاقة ببطاقة جديدة، ولا يمكن الصرف بها.',
      {},
    );
  },
  cardCancelled(): Reason {
    return reason('CARD_CANCELLED', 'This card has been cancelled and can no longer be used.', 'هذه البطاقة ملغاة، ولا يمكن الصرف بها.', {});
  },
  cardNotActivated(): Reason {
    return reason(
      'CARD_NOT_ACTIVATED',
      'This card has not been activated yet; it must first be activated at the supply office.',
      'هذه البطاقة لم يتم تفعيلها بعد، ويجب تفعيلها أولًا في مكتب التموين.',
      {},
    );
  },
  wrongGovernorate(cardGovernorate: number, shopGovernorate: number): Reason {
    return reason(
      'WRONG_GOVERNORATE',
      `This card belongs to ${governorateName(cardGovernorate, 0)} governorate and can only be used there.`,
      `هذه البطاقة تابعة لمحافظة ${governorateName(cardGovernorate, 1)}، ولا يمكن الصرف بها إلا داخل محافظتها.`,
      { cardGovernorate, shopGovernorate },
    );
  },
  breadTodayCollected(nextShareDay: Day): Reason {
    return reason(
      'BREAD_TODAY_COLLECTED',
      `Today's bread share was already collected. The next share can be collected on ${dayLabel(nextShareDay, 'en')}.`,
      `تم صرف حصة اليوم من الخبز بالفعل. يمكن صرف الحصة التالية يوم ${dayLabel(nextShareDay, 'ar')}.`,
      { nextShareDay },
    );
  },
  breadAdvanceLimit(requested: number, approved: number, maxDays: number, perDay: number): Reason {
    return reason(
      'BREAD_ADVANCE_LIMIT',
      `${requested} loaves asked, ${approved} allowed: today's remaining share and at most ${daysEn(maxDays)} of shares at once (${perDay} loaves a day).`,
      `المطلوب ${requested} رغيف، والمسموح ${approved} رغيف فقط: حصة اليوم المتبقية، وبحد أقصى حصة ${daysAr(maxDays)} مرة واحدة (${perDay} رغيف في اليوم).`,
      { requested, approved, maxDays, perDay },
    );
  },
  itemUnknown(item: string): Reason {
    return reason(
      'RATION_ITEM_UNKNOWN',
      `"${item}" is not on the ration price list.`,
      `الصنف "${item}" غير موجود في قائمة السلع التموينية.`,
      {},
      item,
    );
  },
  itemCap(it: RationItem, cap: number, left: number): Reason {
    return reason(
      'RATION_ITEM_CAP',
      left === 0
        ? `${it.nameEn}: at most ${quantityEn(cap, it.unitEn)} a month for this card; nothing is left this month.`
        : `${it.nameEn}: at most ${quantityEn(cap, it.unitEn)} a month for this card; ${quantityEn(left, it.unitEn)} left this month.`,
      left === 0
        ? `${it.nameAr}: الحد الأقصى ${quantityAr(cap, it.unitAr)} في الشهر لهذه البطاقة، وتم صرفها بالكامل هذا الشهر.`
        : `${it.nameAr}: الحد الأقصى ${quantityAr(cap, it.unitAr)} في الشهر لهذه البطاقة، والمتبقي ${quantityAr(left, it.unitAr)}.`,
      { cap, left },
      it.id,
    );
  },
  exclusive(it: RationItem, other: RationItem): Reason {
    return reason(
      'RATION_EXCLUSIVE',
      `${it.nameEn} and ${other.nameEn.toLowerCase()} cannot both be taken in the same month (one or the other); ${other.nameEn.toLowerCase()} was chosen this month.`,
      `لا يمكن صرف ${it.nameAr} و${other.nameAr} معًا في نفس الشهر (أحدهما فقط)، وتم اختيار ${other.nameAr} هذا الشهر.`,
      { other: other.id },
      it.id,
    );
  },
  balance(it: RationItem, balance: number, approved: number): Reason {
    return reason(
      'RATION_BALANCE',
      approved === 0
        ? `${it.nameEn}: the remaining balance (${moneyEn(balance)}) is not enough for ${quantityEn(1, it.unitEn)}.`
        : `${it.nameEn}: the remaining balance (${moneyEn(balance)}) covers only ${quantityEn(approved, it.unitEn)}.`,
      approved === 0
        ? `${it.nameAr}: الرصيد المتبقي (${moneyAr(balance)}) غير كافٍ.`
        : `${it.nameAr}: الرصيد المتبقي (${moneyAr(balance)}) يكفي ${quantityAr(approved, it.unitAr)} فقط.`,
      { balance, approved },
      it.id,
    );
  },
  balanceExhausted(): Reason {
    return reason(
      'RATION_BALANCE_EXHAUSTED',
      "This month's ration balance is used up.",
      'تم استهلاك رصيد التموين لهذا الشهر بالكامل.',
      {},
    );
  },
} as const;
