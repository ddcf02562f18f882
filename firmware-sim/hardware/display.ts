/**
 * The terminal's display: every screen carries an Arabic line (what shop staff and citizens
 * read) and an English line. Prompts come from one catalogue so wording stays consistent;
 * the host can also show its own text (the Display message). Arabic numbers are written
 * with Arabic-Indic digits, as on Egyptian ministry displays.
 */
import type { Clock } from './clock.js';

/** One line of a screen in both languages. */
export interface BilingualText {
  readonly ar: string;
  readonly en: string;
}

/** Identifiers of the built-in prompts. */
export type PromptId =
  | 'ready'
  | 'insert_card'
  | 'reading_card'
  | 'card_error'
  | 'card_not_valid'
  | 'place_finger'
  | 'lift_and_retry'
  | 'poor_capture'
  | 'finger_not_centred'
  | 'too_fast'
  | 'finger_not_recognised'
  | 'attempts_exhausted'
  | 'another_member'
  | 'holder_verified'
  | 'please_wait'
  | 'remove_card'
  | 'approved'
  | 'refused'
  | 'timeout'
  | 'cancelled'
  | 'updating_firmware'
  | 'verifying_firmware'
  | 'firmware_ready'
  | 'firmware_test_boot'
  | 'firmware_rolled_back'
  | 'rebooting';

/** Values a prompt may interpolate: {attempts}, {percent}, {reason}, {version}. */
export interface PromptParams {
  attempts?: number;
  percent?: number;
  reason?: BilingualText;
  version?: string;
}

type PromptTemplate = (p: PromptParams) => BilingualText;

/** Western digits → Arabic-Indic digits (٠١٢٣٤٥٦٧٨٩). */
export function toArabicDigits(s: string | number): string {
  return String(s).replace(/[0-9]/g, (d) => String.fromCharCode(0x0660 + Number(d)));
}

const fixed = (ar: string, en: string): PromptTemplate => () => ({ ar, en });

/** The prompt catalogue. Each entry gives the Arabic and English text of one screen. */
export const PROMPTS: Readonly<Record<PromptId, PromptTemplate>> = {
  ready: fixed('الكارت الموحد — الجهاز جاهز', 'Unified card — terminal ready'),
  insert_card: fixed('برجاء إدخال الكارت', 'Please insert the card'),
  reading_card: fixed('جارٍ قراءة الكارت…', 'Reading the card…'),
  card_error: fixed('تعذّرت قراءة الكارت، أعد إدخاله', 'Cannot read the card, insert it again'),
  card_not_valid: fixed('هذا الكارت غير صالح', 'This card is not valid'),
  place_finger: fixed('ضع إصبعك على جهاز البصمة', 'Place your finger on the sensor'),
  lift_and_retry: fixed('ارفع إصبعك وأعد المحاولة', 'Lift your finger and try again'),
  poor_capture: fixed('البصمة غير واضحة، ارفع إصبعك وأعد المحاولة', 'Fingerprint unclear, lift and try again'),
  finger_not_centred: fixed('ضع إصبعك في منتصف الجهاز', 'Finger not centred, place it in the middle'),
  too_fast: fixed('لا ترفع إصبعك بسرعة، اتركه حتى تنتهي القراءة', 'Too fast, keep your finger still until done'),
  finger_not_recognised: (p) => ({
    ar: `البصمة غير مطابقة — المحاولات المتبقية: ${toArabicDigits(p.attempts ?? 0)}`,
    en: `Fingerprint not recognised — attempts left: ${p.attempts ?? 0}`,
  }),
  attempts_exhausted: fixed('تم استنفاد عدد المحاولات', 'No attempts left'),
  another_member: fixed('يمكن لفرد آخر من الأسرة التحقق ببصمته', 'Another household member may verify'),
  holder_verified: fixed('تم التحقق من البصمة', 'Fingerprint verified'),
  please_wait: fixed('برجاء الانتظار…', 'Please wait…'),
  remove_card: fixed('برجاء سحب الكارت', 'Please remove the card'),
  approved: fixed('تمت الموافقة', 'Approved'),
  refused: (p) => ({
    ar: p.reason ? `مرفوض: ${p.reason.ar}` : 'مرفوض',
    en: p.reason ? `Refused: ${p.reason.en}` : 'Refused',
  }),
  timeout: fixed('انتهت المهلة', 'Timed out'),
  cancelled: fixed('تم الإلغاء', 'Cancelled'),
  updating_firmware: (p) => ({
    ar:
      p.percent === undefined
        ? 'جارٍ تحديث البرنامج — لا تفصل الجهاز'
        : `جارٍ تحديث البرنامج ${toArabicDigits(Math.floor(p.percent))}٪ — لا تفصل الجهاز`,
    en:
      p.percent === undefined
        ? 'Updating firmware — do not unplug'
        : `Updating firmware ${Math.floor(p.percent)}% — do not unplug`,
  }),
  verifying_firmware: fixed('جارٍ التحقق من البرنامج…', 'Verifying firmware…'),
  firmware_ready: (p) => ({
    ar: `الإصدار ${toArabicDigits(p.version ?? '')} جاهز للتشغيل`,
    en: `Version ${p.version ?? ''} ready to start`,
  }),
  firmware_test_boot: (p) => ({
    ar: `تم تشغيل الإصدار ${toArabicDigits(p.version ?? '')} تجريبياً — في انتظار التأكيد`,
    en: `Version ${p.version ?? ''} on trial — awaiting confirmation`,
  }),
  firmware_rolled_back: (p) => ({
    ar: `لم يُؤكَّد التحديث، تمت العودة إلى الإصدار ${toArabicDigits(p.version ?? '')}`,
    en: `Update not confirmed, rolled back to version ${p.version ?? ''}`,
  }),
  rebooting: fixed('جارٍ إعادة التشغيل…', 'Restarting…'),
};

/** One screen: its lines, where it came from, and when it was shown (wall ms). */
export interface Screen {
  readonly lines: readonly BilingualText[];
  /** The prompt id, or 'text' for host-supplied text. */
  readonly source: PromptId | 'text';
  readonly shownAt: number;
}

/** The display as the handlers see it. */
export interface Display {
  /** Show a catalogue prompt. */
  show(prompt: PromptId, params?: PromptParams): Screen;
  /** Show host-supplied lines (the Display message). */
  showText(lines: readonly BilingualText[]): Screen;
  /** What is on the screen now. */
  readonly current: Screen;
}

export interface SimulatedDisplayOptions {
  clock: Clock;
  /** Screens kept in {@link SimulatedDisplay.history} (default 100). */
  historyLimit?: number;
}

/** A display that remembers what it showed (for tests, the control interface and ReadLog). */
export class SimulatedDisplay implements Display {
  private screen: Screen;
  private readonly past: Screen[] = [];
  private readonly limit: number;
  private readonly listeners = new Set<(s: Screen) => void>();

  constructor(private readonly options: SimulatedDisplayOptions) {
    this.limit = options.historyLimit ?? 100;
    this.screen = this.record([PROMPTS.ready({})], 'ready');
  }

  get current(): Screen {
    return this.screen;
  }

  /** Screens shown so far, oldest first (including the current one). */
  get history(): readonly Screen[] {
    return [...this.past];
  }

  show(prompt: PromptId, params: PromptParams = {}): Screen {
    return this.record([PROMPTS[prompt](params)], prompt);
  }

  showText(lines: readonly BilingualText[]): Screen {
    return this.record(
      lines.map((l) => ({ ar: l.ar, en: l.en })),
      'text',
    );
  }

  /** Subscribe to screen changes; returns the unsubscribe function. */
  onChange(listener: (s: Screen) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private record(lines: BilingualText[], source: Screen['source']): Screen {
    const screen: Screen = Object.freeze({ lines: Object.freeze(lines), source, shownAt: this.options.clock.now() });
    this.screen = screen;
    this.past.push(screen);
    if (this.past.length > this.limit) this.past.splice(0, this.past.length - this.limit);
    for (const l of [...this.listeners]) l(screen);
    return screen;
  }
}
