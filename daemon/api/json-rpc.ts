/**
 * JSON-RPC 2.0 on one line: parsing a request line into a typed request (or the error to
 * answer it with) and writing responses and notifications. No I/O here.
 *
 * Choices within JSON-RPC 2.0 (documented in API.md):
 *   - one object per line; batches (arrays) are refused with INVALID_REQUEST;
 *   - `params` is an object of named parameters or absent (positional arrays are refused);
 *   - a request without `id` is a notification: it runs, and nothing is sent back, ever;
 *   - when the id of a bad request can be read, the error carries it; otherwise `id: null`.
 */
import { ApiError, invalidParams } from './api-errors.js';

/** A request id: JSON-RPC allows a string, a number or null. */
export type RpcId = string | number | null;

/** What one line holds. */
export type ParsedLine =
  | {
      kind: 'request';
      /** `undefined` for a notification (no `id` member). */
      id: RpcId | undefined;
      method: string;
      /** The raw `params` (an object, or undefined when absent). */
      params: Record<string, unknown> | undefined;
    }
  | { kind: 'invalid'; id: RpcId; error: ApiError }
  /** A blank line (only whitespace): ignored. */
  | { kind: 'blank' };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isRpcId(v: unknown): v is RpcId {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

function isBlank(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

/** Longest method name accepted (anything longer cannot be one of ours). */
export const MAX_METHOD_LENGTH = 128;

/** Parses one line (without its newline). Never throws. */
export function parseRequestLine(bytes: Uint8Array): ParsedLine {
  if (isBlank(bytes)) return { kind: 'blank' };
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch {
    // Bad UTF-8, bad JSON, or nesting deep enough to exhaust the parser: all the same to a client.
    return { kind: 'invalid', id: null, error: new ApiError('PARSE_ERROR') };
  }
  if (Array.isArray(value)) {
    return {
      kind: 'invalid',
      id: null,
      error: new ApiError('INVALID_REQUEST', {
        en: 'Batches are not supported: send one request object per line.',
        ar: 'لا يمكن إرسال عدة طلبات في مصفوفة واحدة: أرسل كل طلب في سطر مستقل.',
      }),
    };
  }
  if (typeof value !== 'object' || value === null) {
    return { kind: 'invalid', id: null, error: invalidRequest('the line must hold a JSON object', 'يجب أن يحتوي السطر على كائن JSON') };
  }
  const o = value as Record<string, unknown>;
  const hasId = Object.hasOwn(o, 'id');
  const idOk = !hasId || isRpcId(o.id);
  const id: RpcId = hasId && idOk ? (o.id as RpcId) : null;
  if (!idOk) return { kind: 'invalid', id: null, error: invalidRequest('"id" must be a string, a number or null', 'الحقل "id" يجب أن يكون نصًا أو رقمًا أو null') };
  if (o.jsonrpc !== '2.0') return { kind: 'invalid', id, error: invalidRequest('"jsonrpc" must be "2.0"', 'الحقل "jsonrpc" يجب أن يكون "2.0"') };
  if (typeof o.method !== 'string' || o.method.length === 0 || o.method.length > MAX_METHOD_LENGTH) {
    return { kind: 'invalid', id, error: invalidRequest('"method" must be a non-empty string', 'الحقل "method" يجب أن يكون نصًا غير فارغ') };
  }
  for (const key of Object.keys(o)) {
    if (key !== 'jsonrpc' && key !== 'id' && key !== 'method' && key !== 'params') {
      return { kind: 'invalid', id, error: invalidRequest(`unknown member "${key}"`, `العنصر "${key}" غير معروف`) };
    }
  }
  let params: Record<string, unknown> | undefined;
  if (Object.hasOwn(o, 'params')) {
    const p = o.params;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) return { kind: 'invalid', id, error: invalidParams('params', { kind: 'not-object' }) };
    params = p as Record<string, unknown>;
  }
  return { kind: 'request', id: hasId ? id : undefined, method: o.method, params };
}

function invalidRequest(en: string, ar: string): ApiError {
  return new ApiError('INVALID_REQUEST', {
    en: `The request is not valid JSON-RPC 2.0: ${en}.`,
    ar: `الطلب غير صالح: ${ar}.`,
  });
}

/** A success response line (without the newline). Throws if `result` cannot be JSON. */
export function encodeResult(id: RpcId, result: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, result: result === undefined ? null : result });
}

/** An error response line (without the newline). */
export function encodeError(id: RpcId, error: ApiError): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: error.toJsonRpc() });
}

/** A notification line (without the newline): events from the daemon. */
export function encodeNotification(method: string, params: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}
