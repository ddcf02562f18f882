/**
 * The dispensing errors of the local API (authorize, commit, void, balance, receipts.list):
 * the 2000–2999 range reserved in daemon/api/api-errors.ts, in the same shape (JSON-RPC
 * number, stable name, English, Arabic). Every refusal the shop can get has its own name, so
 * the POS switches on `data.code` and shows `data.ar` to the cashier.
 *
 * The API's ApiError only knows its own catalog, so {@link DispenseError} extends it and
 * replaces code/number after construction: the transport sends any ApiError as it is.
 */
import { ApiError, type ApiErrorEntry } from '../api/api-errors.js';

/** The dispensing catalog. Add rows (new names, new numbers); never rename or renumber. */
export const DISPENSE_ERRORS = {
  // The card (2001–2019).
  NO_CARD: { rpc: 2001, en: 'No card was inserted in time.', ar: 'لم يتم إدخال الكارت في الوقت المحدد.' },
  CARD_CERT_INVALID: { rpc: 2002, en: 'The card is not genuine: its certificate does not verify.', ar: 'الكارت غير سليم: شهادة الكارت غير صحيحة.' },
  CARD_UNKNOWN_ISSUER: { rpc: 2003, en: 'The card was not issued by a known authority.', ar: 'الكارت غير صادر من جهة معتمدة.' },
  CARD_EXPIRED: { rpc: 2004, en: 'The card has expired; the holder must renew it.', ar: 'انتهت صلاحية الكارت، ويجب على صاحبه تجديده.' },
  CARD_NOT_IN_ROSTER: { rpc: 2005, en: 'The card is not on the entitlement roster.', ar: 'الكارت غير مسجل في كشوف المستحقين.' },
  CARD_REVOKED: { rpc: 2006, en: 'The card has been withdrawn by the issuer.', ar: 'تم إلغاء هذا الكارت من الجهة المصدرة.' },
  CARD_SUSPENDED: { rpc: 2007, en: 'The card is suspended (reported lost).', ar: 'الكارت موقوف (تم الإبلاغ عن فقده).' },
  CARD_REPLACED: { rpc: 2008, en: 'The card was replaced by a new card; use the new one.', ar: 'تم استبدال هذا الكارت بكارت جديد، استخدم الكارت الجديد.' },
  CARD_NOT_ACTIVATED: { rpc: 2009, en: 'The card is not activated yet.', ar: 'الكارت لم يتم تفعيله بعد.' },
  CARD_CANCELLED: { rpc: 2010, en: 'The card is cancelled.', ar: 'الكارت ملغى.' },
  CARD_SIGNATURE_INVALID: { rpc: 2011, en: 'The card did not sign this transaction correctly.', ar: 'توقيع الكارت على هذه العملية غير صحيح.' },
  CARD_CLONED: { rpc: 2012, en: 'The card looks copied (its counter went backwards); keep it and call the supply office.', ar: 'يبدو أن الكارت منسوخ (العداد رجع للخلف)، احتفظ به واتصل بمكتب التموين.' },
  CARD_SIGNATURE_REPLAYED: { rpc: 2013, en: 'This card signature was already used.', ar: 'توقيع الكارت هذا تم استخدامه من قبل.' },
  CARD_ERROR: { rpc: 2014, en: 'The card could not be read; take it out and insert it again.', ar: 'تعذرت قراءة الكارت، أخرجه وأدخله مرة أخرى.' },
  WRONG_GOVERNORATE: { rpc: 2015, en: 'This card cannot be served in this governorate.', ar: 'لا يمكن صرف هذا الكارت في هذه المحافظة.' },

  // The holder (2020–2029).
  FINGERPRINT_MISMATCH: {
    rpc: 2020,
    en: 'The fingerprint did not match. Another household member may try, or a supervisor may approve.',
    ar: 'البصمة غير مطابقة. يمكن لفرد آخر من الأسرة المحاولة، أو يوافق المشرف.',
  },
  FINGERPRINT_TIMEOUT: { rpc: 2021, en: 'No finger was placed in time.', ar: 'لم يتم وضع الإصبع في الوقت المحدد.' },
  HOLDER_SIGNATURE_INVALID: { rpc: 2022, en: 'The card did not sign the fingerprint result correctly.', ar: 'توقيع الكارت على نتيجة البصمة غير صحيح.' },
  MEMBER_UNKNOWN: { rpc: 2023, en: 'This card has no household member with that number.', ar: 'لا يوجد فرد بهذا الرقم على هذا الكارت.' },
  SUPERVISOR_NOT_ALLOWED: { rpc: 2024, en: 'This supervisor may not approve exceptions.', ar: 'هذا المشرف غير مسموح له بالموافقة على الاستثناءات.' },
  SUPERVISOR_CAP_REACHED: { rpc: 2025, en: "Today's supervisor exceptions are used up.", ar: 'تم استنفاد استثناءات المشرف المسموح بها اليوم.' },

  // The quota (2030–2049): the policy's reasons, as refusals when nothing could be approved.
  BREAD_TODAY_COLLECTED: { rpc: 2030, en: "Today's bread share was already collected.", ar: 'تم صرف حصة الخبز لليوم بالفعل.' },
  BREAD_ADVANCE_LIMIT: { rpc: 2031, en: 'No more days of bread may be collected in advance.', ar: 'لا يمكن صرف خبز لأيام أخرى مقدمًا.' },
  RATION_ITEM_UNKNOWN: { rpc: 2032, en: 'This item is not on the ration list.', ar: 'هذه السلعة غير موجودة في قائمة التموين.' },
  RATION_ITEM_CAP: { rpc: 2033, en: "This item's monthly limit is reached.", ar: 'تم الوصول للحد الشهري لهذه السلعة.' },
  RATION_EXCLUSIVE: { rpc: 2034, en: 'Only one of these items may be taken each month.', ar: 'يمكن صرف سلعة واحدة فقط من هذه السلع كل شهر.' },
  RATION_BALANCE: { rpc: 2035, en: 'The ration balance is not enough.', ar: 'رصيد التموين غير كافٍ.' },
  RATION_BALANCE_EXHAUSTED: { rpc: 2036, en: "This month's ration balance is used up.", ar: 'تم استنفاد رصيد التموين لهذا الشهر.' },

  // Authorizations and receipts (2050–2069).
  AUTHORIZATION_NOT_FOUND: { rpc: 2050, en: 'No such authorization.', ar: 'لا يوجد إذن صرف بهذا الرقم.' },
  AUTHORIZATION_EXPIRED: { rpc: 2051, en: 'The authorization expired before it was committed; authorize again.', ar: 'انتهت صلاحية إذن الصرف قبل التأكيد، اطلب إذنًا جديدًا.' },
  AUTHORIZATION_VOIDED: { rpc: 2052, en: 'The authorization was cancelled.', ar: 'تم إلغاء إذن الصرف.' },
  AUTHORIZATION_COMMITTED: { rpc: 2053, en: 'The authorization is already committed; its receipt stands.', ar: 'تم تأكيد إذن الصرف بالفعل، والإيصال قائم.' },
  COMMIT_EXCEEDS_APPROVED: { rpc: 2054, en: 'You cannot hand over more than was approved.', ar: 'لا يمكن صرف كمية أكبر من المسموح بها.' },
  COMMIT_CONFLICT: { rpc: 2055, en: 'This authorization was already committed with another quantity.', ar: 'تم تأكيد إذن الصرف هذا من قبل بكمية مختلفة.' },
  IDEMPOTENCY_CONFLICT: { rpc: 2056, en: 'This idempotency key was already used for another request.', ar: 'مفتاح الطلب هذا استُخدم من قبل لطلب آخر.' },
  NOTHING_APPROVED: { rpc: 2057, en: 'Nothing could be approved.', ar: 'لا يمكن الموافقة على أي كمية.' },
  AUTHORIZE_CANCELLED: { rpc: 2058, en: 'The authorization was cancelled before it finished; nothing was recorded.', ar: 'تم إلغاء الطلب قبل اكتماله، ولم يتم تسجيل أي شيء.' },
  AUTHORIZE_IN_PROGRESS: { rpc: 2059, en: 'Another authorization is running on this terminal.', ar: 'توجد عملية صرف أخرى جارية على هذا القارئ.' },

  // The service (2090–2099).
  DISPENSE_UNAVAILABLE: { rpc: 2090, en: 'Dispensing is not available: the service is not set up for this shop.', ar: 'الصرف غير متاح: الخدمة غير مجهزة لهذا المحل.' },
  LEDGER_FAILED: { rpc: 2091, en: 'The record could not be saved; nothing was dispensed. Try again.', ar: 'تعذر حفظ السجل ولم يتم الصرف. حاول مرة أخرى.' },
  POLICY_FAILED: { rpc: 2092, en: 'The quota rules could not be applied.', ar: 'تعذر تطبيق قواعد الحصص.' },
} as const satisfies Record<string, ApiErrorEntry>;

/** A dispensing error name. */
export type DispenseErrorCode = keyof typeof DISPENSE_ERRORS;

/** Every dispensing error name (for documents and tests). */
export const DISPENSE_ERROR_CODES = Object.keys(DISPENSE_ERRORS) as DispenseErrorCode[];

/** A dispensing refusal, sent to the client like any ApiError (code, en, ar, detail). */
export class DispenseError extends ApiError {
  constructor(code: DispenseErrorCode, options: { en?: string; ar?: string; detail?: Record<string, unknown> } = {}) {
    super(code, options, DISPENSE_ERRORS[code]);
  }
}

/** True when `code` is a dispensing error name. */
export function isDispenseErrorCode(code: string): code is DispenseErrorCode {
  return Object.hasOwn(DISPENSE_ERRORS, code);
}
