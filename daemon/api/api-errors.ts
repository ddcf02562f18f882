/**
 * The local API's error catalog: every error a client can receive, with its JSON-RPC numeric
 * code, a stable name, and a message in English and in Arabic (shop staff read Arabic, so
 * the Arabic is written for a shop assistant, not for a programmer).
 *
 * On the wire an error is a JSON-RPC error object:
 *   { "code": -32602, "message": "<en>", "data": { "code": "INVALID_PARAMS", "en": "...", "ar": "...", ...detail } }
 * Clients switch on `data.code` (stable forever); the number only follows JSON-RPC's ranges:
 *   -32700..-32600  JSON-RPC's own (parse, invalid request, method, params, internal)
 *   -32001..-32099  connection and authentication
 *   1000..1999      terminals and claims
 *   2000..2999      dispensing (authorize, commit, void, balance, receipts; later issues)
 */
import { UnicardError } from '../../protocol/errors.js';

/** One catalog row. */
export interface ApiErrorEntry {
  /** The JSON-RPC `error.code`. */
  readonly rpc: number;
  /** The default English message. */
  readonly en: string;
  /** The default Arabic message. */
  readonly ar: string;
}

/** The catalog. Add rows here (a new name, never a renamed or renumbered one). */
export const API_ERRORS = {
  // JSON-RPC 2.0's own errors.
  PARSE_ERROR: {
    rpc: -32700,
    en: 'The request is not valid JSON.',
    ar: 'الطلب ليس بصيغة JSON صحيحة.',
  },
  INVALID_REQUEST: {
    rpc: -32600,
    en: 'The request is not a valid JSON-RPC 2.0 request.',
    ar: 'الطلب غير صالح: ليس بصيغة JSON-RPC 2.0.',
  },
  LINE_TOO_LONG: {
    rpc: -32600,
    en: 'The request line is longer than the service accepts; it was skipped.',
    ar: 'الطلب أطول من الحد المسموح به، ولم يتم تنفيذه.',
  },
  METHOD_NOT_FOUND: {
    rpc: -32601,
    en: 'Unknown method.',
    ar: 'العملية المطلوبة غير معروفة.',
  },
  INVALID_PARAMS: {
    rpc: -32602,
    en: 'Wrong parameters.',
    ar: 'بيانات الطلب غير صحيحة.',
  },
  INTERNAL_ERROR: {
    rpc: -32603,
    en: 'Internal error in the unicard service.',
    ar: 'حدث خطأ داخلي في خدمة الكارت الموحد.',
  },

  // Connection and authentication.
  UNAUTHENTICATED: {
    rpc: -32001,
    en: 'Say hello with your token first.',
    ar: 'يجب التعريف أولًا: أرسل hello مع رمز الدخول.',
  },
  BAD_TOKEN: {
    rpc: -32002,
    en: 'Unknown token.',
    ar: 'رمز الدخول غير معروف.',
  },
  ALREADY_AUTHENTICATED: {
    rpc: -32003,
    en: 'This connection already said hello with another token.',
    ar: 'هذا الاتصال مسجَّل بالفعل برمز دخول آخر.',
  },
  FORBIDDEN: {
    rpc: -32004,
    en: 'This program is not allowed to do that.',
    ar: 'هذا البرنامج غير مسموح له بهذه العملية.',
  },
  SHUTTING_DOWN: {
    rpc: -32005,
    en: 'The unicard service is stopping; try again in a moment.',
    ar: 'خدمة الكارت الموحد تتوقف الآن، حاول مرة أخرى بعد قليل.',
  },

  // Terminals and claims.
  UNKNOWN_TERMINAL: {
    rpc: 1001,
    en: 'There is no terminal with this id.',
    ar: 'لا يوجد قارئ بهذا الرقم.',
  },
  TERMINAL_BUSY: {
    rpc: 1002,
    en: 'The terminal is in use by another program.',
    ar: 'القارئ مشغول ببرنامج آخر.',
  },
  NOT_CLAIMED: {
    rpc: 1003,
    en: 'Claim the terminal first (terminals.claim).',
    ar: 'يجب حجز القارئ أولًا قبل استخدامه.',
  },
  TERMINAL_GONE: {
    rpc: 1004,
    en: 'The terminal is disconnected; check its cable.',
    ar: 'القارئ غير متصل، تأكد من توصيل الكابل.',
  },
  TERMINAL_NOT_READY: {
    rpc: 1005,
    en: 'The terminal is not ready yet; try again in a moment.',
    ar: 'القارئ غير جاهز بعد، حاول مرة أخرى بعد قليل.',
  },
  TERMINAL_UNTRUSTED: {
    rpc: 1006,
    en: 'The terminal is not trusted; a technician must check it.',
    ar: 'القارئ غير معتمد، يجب أن يفحصه فني.',
  },
  TERMINAL_FAILED: {
    rpc: 1007,
    en: 'The terminal did not complete the request.',
    ar: 'القارئ لم يُكمل العملية.',
  },
  TERMINAL_REFUSED: {
    rpc: 1008,
    en: 'The terminal refused the request.',
    ar: 'القارئ رفض العملية.',
  },
} as const satisfies Record<string, ApiErrorEntry>;

/** A stable error name. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** JSON-RPC's reserved numbers, for readers of this file. */
export const JSON_RPC = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
} as const;

/** The `data` member of every error the API sends. */
export interface ApiErrorData {
  /** A stable name: from API_ERRORS, or from an extension's catalog (see DISPENSE-API.md). */
  code: string;
  en: string;
  ar: string;
  [detail: string]: unknown;
}

/** A JSON-RPC error object as sent. */
export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data: ApiErrorData;
}

/** Options for a specific error: messages that say more than the catalog's, and detail fields. */
export interface ApiErrorOptions {
  en?: string;
  ar?: string;
  /** Extra members of `data` (e.g. `field`, `holder`); plain JSON values only. */
  detail?: Record<string, unknown>;
}

/** An error the API reports to a client. Throw it from a method handler. */
export class ApiError extends UnicardError {
  /** A name from {@link API_ERRORS}, or from the catalog of a module that extends the API (dispensing). */
  declare readonly code: string;
  /** The JSON-RPC `error.code`. */
  readonly rpcCode: number;
  readonly en: string;
  readonly ar: string;

  constructor(code: ApiErrorCode, options?: ApiErrorOptions);
  /** An error of another catalog in the same shape (its own name, number and both texts). */
  constructor(code: string, options: ApiErrorOptions, entry: ApiErrorEntry);
  constructor(code: string, options: ApiErrorOptions = {}, entry: ApiErrorEntry = API_ERRORS[code as ApiErrorCode]) {
    const en = options.en ?? entry.en;
    super(code, en, options.detail);
    this.rpcCode = entry.rpc;
    this.en = en;
    this.ar = options.ar ?? entry.ar;
  }

  /** The JSON-RPC error object: `data` starts with code, en, ar (detail never overwrites them). */
  toJsonRpc(): JsonRpcErrorObject {
    const data: ApiErrorData = { code: this.code, en: this.en, ar: this.ar };
    for (const [k, v] of Object.entries(this.detail ?? {})) if (!(k in data)) data[k] = v;
    return { code: this.rpcCode, message: this.en, data };
  }
}

/** True when `e` is an ApiError. */
export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** How a wrong parameter is wrong, for {@link invalidParams}. */
export type ParamProblem =
  | { kind: 'missing' }
  /** Missing, but a field differing only in letter case was sent (`terminalID`). */
  | { kind: 'miscased'; found: string }
  | { kind: 'unknown' }
  | { kind: 'type'; en: string; ar: string }
  | { kind: 'not-object' };

/**
 * INVALID_PARAMS naming the field (`data.field`), e.g. `waitMs` or `events[2]`, with a
 * message in both languages that says what was expected.
 */
export function invalidParams(field: string, problem: ParamProblem): ApiError {
  switch (problem.kind) {
    case 'missing':
      return new ApiError('INVALID_PARAMS', {
        en: `Missing parameter "${field}".`,
        ar: `الحقل "${field}" مطلوب.`,
        detail: { field },
      });
    case 'miscased':
      return new ApiError('INVALID_PARAMS', {
        en: `Missing parameter "${field}" (there is "${problem.found}": names are case-sensitive).`,
        ar: `الحقل "${field}" مطلوب (يوجد "${problem.found}"، وحالة الأحرف مهمة).`,
        detail: { field },
      });
    case 'unknown':
      return new ApiError('INVALID_PARAMS', {
        en: `Unknown parameter "${field}".`,
        ar: `الحقل "${field}" غير معروف.`,
        detail: { field },
      });
    case 'type':
      return new ApiError('INVALID_PARAMS', {
        en: `Parameter "${field}" must be ${problem.en}.`,
        ar: `الحقل "${field}" يجب أن يكون ${problem.ar}.`,
        detail: { field },
      });
    case 'not-object':
      return new ApiError('INVALID_PARAMS', {
        en: 'params must be a JSON object of named parameters.',
        ar: 'يجب أن تكون بيانات الطلب (params) كائن JSON بأسماء الحقول.',
        detail: { field: 'params' },
      });
  }
}

/** Who holds a terminal, for TERMINAL_BUSY and NOT_CLAIMED. */
export interface HolderDescription {
  /** The holder's token name from the daemon's config. */
  name: string;
  /** The name the holder gave in hello, if any. */
  client?: string;
}

function holderLabel(h: HolderDescription): string {
  return h.client === undefined || h.client === h.name ? h.name : `${h.name} (${h.client})`;
}

/** TERMINAL_BUSY naming who holds the terminal. */
export function terminalBusy(terminalId: string, holder: HolderDescription, waitedMs?: number): ApiError {
  const who = holderLabel(holder);
  return new ApiError('TERMINAL_BUSY', {
    en: `Terminal ${terminalId} is in use by ${who}.`,
    ar: `القارئ ${terminalId} مشغول ببرنامج آخر: ${who}.`,
    detail: { terminalId, holder, ...(waitedMs === undefined ? {} : { waitedMs }) },
  });
}

/** NOT_CLAIMED: the caller does not hold the terminal (someone else may). */
export function notClaimed(terminalId: string, holder?: HolderDescription): ApiError {
  if (holder === undefined) {
    return new ApiError('NOT_CLAIMED', {
      en: `Claim terminal ${terminalId} first (terminals.claim).`,
      ar: `يجب حجز القارئ ${terminalId} أولًا قبل استخدامه.`,
      detail: { terminalId },
    });
  }
  const who = holderLabel(holder);
  return new ApiError('NOT_CLAIMED', {
    en: `Terminal ${terminalId} is claimed by ${who}, not by this connection.`,
    ar: `القارئ ${terminalId} محجوز لبرنامج آخر وليس لهذا الاتصال: ${who}.`,
    detail: { terminalId, holder },
  });
}

/** UNKNOWN_TERMINAL naming the id asked for. */
export function unknownTerminal(terminalId: string): ApiError {
  return new ApiError('UNKNOWN_TERMINAL', {
    en: `There is no terminal "${terminalId}".`,
    ar: `لا يوجد قارئ بالرقم "${terminalId}".`,
    detail: { terminalId },
  });
}

/**
 * Any error a method handler threw, as the client will see it: ApiErrors as they are,
 * the session layer's failures as TERMINAL_GONE / TERMINAL_FAILED / TERMINAL_REFUSED (the
 * original code in `data.cause`), everything else INTERNAL_ERROR (the text goes to the log,
 * never to the client).
 */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof UnicardError) {
    if (e.code === 'TERMINAL_GONE' || e.code === 'LINK_CLOSED') {
      return new ApiError('TERMINAL_GONE', { detail: { cause: e.code } });
    }
    if (e.name === 'TerminalError') return new ApiError('TERMINAL_REFUSED', { detail: { cause: e.code } });
    if (e.name === 'TerminalSessionError') return new ApiError('TERMINAL_FAILED', { detail: { cause: e.code } });
    return new ApiError('INTERNAL_ERROR', { detail: { cause: e.code } });
  }
  return new ApiError('INTERNAL_ERROR');
}

/** Why the API server could not start (for the daemon's operator, not for clients). */
export type ApiServerErrorCode =
  /** Another process is listening on the socket path. */
  | 'SOCKET_IN_USE'
  /** The path exists and is not a socket, or is too long for a Unix socket. */
  | 'SOCKET_PATH_INVALID'
  /** listen() failed (missing directory, permissions, ...); `detail.errno` says why. */
  | 'SOCKET_LISTEN_FAILED';

/** The API server could not start. */
export class ApiServerError extends UnicardError {
  declare readonly code: ApiServerErrorCode;
  constructor(code: ApiServerErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}
