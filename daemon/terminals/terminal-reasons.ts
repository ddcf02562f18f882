/**
 * Why a terminal is untrusted, gone or in error: a stable code, an English text for the
 * technician (with the technical detail) and an Arabic text for shop staff (plain, with the
 * port and terminal id but without internals). The API passes these through unchanged.
 */
import { UnicardError } from '../../protocol/errors.js';

/** A reason as TerminalInfo carries it. */
export interface TerminalReason {
  readonly code: TerminalReasonCode;
  readonly en: string;
  readonly ar: string;
}

/** Stable reason codes (DAEMON.md has a table of them). */
export const TERMINAL_REASON_CODES = [
  'TERMINAL_UNTRUSTED',
  'TERMINAL_GONE',
  'TERMINAL_UNRESPONSIVE',
  'TERMINAL_REBOOTED',
  'NOT_A_TERMINAL',
  'PROTOCOL_MISMATCH',
  'HANDSHAKE_FAILED',
  'PORT_NOT_FOUND',
  'PORT_PERMISSION_DENIED',
  'PORT_BUSY',
  'PORT_ERROR',
  'DUPLICATE_TERMINAL',
  'PIN_REMOVED',
  'DAEMON_STOPPING',
  'PROBE_FAILED',
] as const;
export type TerminalReasonCode = (typeof TERMINAL_REASON_CODES)[number];

/** Where the reason happened. */
export interface ReasonContext {
  /** The port or address. */
  path: string;
  /** The kind of link (TCP addresses get their own wording). */
  link?: 'serial' | 'tcp' | 'hid';
  /** The terminal id, when known. */
  terminalId?: string;
  /** duplicate: the path the terminal id is already connected on. */
  otherPath?: string;
  /** The link was open and the probe had heard the terminal answer GetInfo. */
  answered?: boolean;
}

function detailOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Builders, one per code. */
export const Reasons = {
  untrusted(ctx: ReasonContext, detail: string): TerminalReason {
    const id = ctx.terminalId ?? ctx.path;
    return {
      code: 'TERMINAL_UNTRUSTED',
      en: detail,
      ar: `الجهاز ${id} غير موثوق: شهادته ليست صادرة من مورّد معتمد ولم يعتمده فنّي. أضف المفتاح الجذري للمورّد إلى الإعدادات أو اطلب من الفنّي اعتماد الجهاز.`,
    };
  },
  gone(ctx: ReasonContext, detail?: string): TerminalReason {
    return {
      code: 'TERMINAL_GONE',
      en: detail ?? `the terminal on ${ctx.path} is gone (unplugged, or its connection closed)`,
      ar: `انقطع الاتصال بالجهاز على ${ctx.path} (فُصل الكابل أو أُغلق الاتصال).`,
    };
  },
  unresponsive(ctx: ReasonContext, detail?: string): TerminalReason {
    return {
      code: 'TERMINAL_UNRESPONSIVE',
      en: detail ?? `the terminal on ${ctx.path} stopped answering: check the cable and that it is powered`,
      ar: `الجهاز على ${ctx.path} توقف عن الاستجابة: تأكد من الكابل ومن أن الجهاز يعمل.`,
    };
  },
  rebooted(ctx: ReasonContext): TerminalReason {
    return {
      code: 'TERMINAL_REBOOTED',
      en: `the terminal on ${ctx.path} restarted; its secure session is being set up again`,
      ar: `أُعيد تشغيل الجهاز على ${ctx.path}، ويجري إنشاء الاتصال الآمن من جديد.`,
    };
  },
  notATerminal(ctx: ReasonContext, detail: string): TerminalReason {
    return {
      code: 'NOT_A_TERMINAL',
      en: `no unicard terminal answered on ${ctx.path} (${detail})`,
      ar: `لم يستجب أي جهاز قارئ على ${ctx.path}.`,
    };
  },
  protocolMismatch(ctx: ReasonContext, detail: string): TerminalReason {
    return {
      code: 'PROTOCOL_MISMATCH',
      en: detail,
      ar: `الجهاز على ${ctx.path} يستخدم إصدارًا آخر من بروتوكول الاتصال: حدّث البرنامج الثابت للجهاز أو برنامج unicard.`,
    };
  },
  handshakeFailed(ctx: ReasonContext, detail: string): TerminalReason {
    return {
      code: 'HANDSHAKE_FAILED',
      en: `the secure session with the terminal on ${ctx.path} failed: ${detail}`,
      ar: `فشل إنشاء الاتصال الآمن مع الجهاز على ${ctx.path}.`,
    };
  },
  portNotFound(ctx: ReasonContext, detail?: string): TerminalReason {
    if (ctx.link === 'tcp') {
      return {
        code: 'PORT_NOT_FOUND',
        en: detail ?? `nothing answers at ${ctx.path}`,
        ar: `لا يستجيب أي جهاز على العنوان ${ctx.path} (هل الجهاز أو خادم المنفذ يعمل؟).`,
      };
    }
    return {
      code: 'PORT_NOT_FOUND',
      en: detail ?? `${ctx.path} does not exist (is the terminal plugged in?)`,
      ar: `المنفذ ${ctx.path} غير موجود (هل الجهاز موصول؟).`,
    };
  },
  portPermission(ctx: ReasonContext, detail: string): TerminalReason {
    return {
      code: 'PORT_PERMISSION_DENIED',
      en: `${detail} (on Linux, add the daemon's user to the dialout group)`,
      ar: `لا توجد صلاحية لفتح المنفذ ${ctx.path}: أضف مستخدم الخدمة إلى مجموعة dialout.`,
    };
  },
  portBusy(ctx: ReasonContext, detail: string): TerminalReason {
    return {
      code: 'PORT_BUSY',
      en: detail,
      ar: `المنفذ ${ctx.path} مستخدم من برنامج آخر.`,
    };
  },
  portError(ctx: ReasonContext, detail: string): TerminalReason {
    return {
      code: 'PORT_ERROR',
      en: `cannot use ${ctx.path}: ${detail}`,
      ar: `تعذّر استخدام المنفذ ${ctx.path}.`,
    };
  },
  duplicate(ctx: ReasonContext): TerminalReason {
    const id = ctx.terminalId ?? '?';
    const other = ctx.otherPath ?? '?';
    return {
      code: 'DUPLICATE_TERMINAL',
      en: `the device on ${ctx.path} says it is terminal ${id}, which is already connected on ${other}: two devices claim one id; the second is not used`,
      ar: `الجهاز على ${ctx.path} يحمل الرقم ${id} وهو متصل بالفعل على ${other}؛ لن يُستخدم الجهاز الثاني.`,
    };
  },
  pinRemoved(ctx: ReasonContext): TerminalReason {
    const id = ctx.terminalId ?? ctx.path;
    return {
      code: 'PIN_REMOVED',
      en: `terminal ${id} is no longer pinned (the pins file changed) and its certificate is not under a trusted vendor root`,
      ar: `أُلغي اعتماد الجهاز ${id}، ولم يعد موثوقًا.`,
    };
  },
  stopping(ctx: ReasonContext): TerminalReason {
    return { code: 'DAEMON_STOPPING', en: `unicardd is stopping; ${ctx.path} was closed`, ar: 'خدمة unicardd تتوقف.' };
  },
  probeFailed(ctx: ReasonContext, detail: string): TerminalReason {
    return {
      code: 'PROBE_FAILED',
      en: `the terminal on ${ctx.path} could not be identified: ${detail}`,
      ar: `تعذّر التعرف على الجهاز على ${ctx.path}.`,
    };
  },
} as const;

/** The reason for an error that ended a probe or a session. */
export function reasonForError(error: unknown, ctx: ReasonContext): TerminalReason {
  const detail = detailOf(error);
  if (!(error instanceof UnicardError)) return Reasons.probeFailed(ctx, detail);
  switch (error.code) {
    case 'HANDSHAKE_UNTRUSTED':
      return Reasons.untrusted(ctx, detail);
    case 'HANDSHAKE_BAD_SIGNATURE':
    case 'HANDSHAKE_MALFORMED':
    case 'HANDSHAKE_WEAK_KEY':
    case 'BAD_RESPONSE':
    case 'UNEXPECTED_RESPONSE':
      return Reasons.handshakeFailed(ctx, `${error.code}: ${detail}`);
    case 'PROTOCOL_MISMATCH':
      return Reasons.protocolMismatch(ctx, detail);
    case 'TERMINAL_GONE':
    case 'LINK_CLOSED':
    case 'LINK_IO':
      return Reasons.gone(ctx, detail);
    case 'TERMINAL_UNRESPONSIVE':
    case 'REQUEST_TIMEOUT':
      return ctx.answered === false ? Reasons.notATerminal(ctx, detail) : Reasons.unresponsive(ctx, detail);
    case 'TERMINAL_REBOOTED':
    case 'SESSION_LOST':
      return Reasons.rebooted(ctx);
    case 'LINK_NOT_FOUND':
      return Reasons.portNotFound(ctx, detail);
    case 'LINK_PERMISSION_DENIED':
      return Reasons.portPermission(ctx, detail);
    case 'LINK_BUSY':
      return Reasons.portBusy(ctx, detail);
    case 'LINK_TIMEOUT':
    case 'LINK_UNAVAILABLE':
    case 'LINK_INVALID_OPTIONS':
      return Reasons.portError(ctx, detail);
    default:
      return Reasons.probeFailed(ctx, `${error.code}: ${detail}`);
  }
}
