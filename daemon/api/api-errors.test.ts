import { describe, expect, it } from 'vitest';
import { UnicardError } from '../../protocol/errors.js';
import { TerminalError, TerminalSessionError } from '../session/session-errors.js';
import { API_ERRORS, ApiError, invalidParams, toApiError } from './api-errors.js';

describe('the error catalog', () => {
  it('every entry has English and Arabic text and a number in its documented range', () => {
    const arabic = /[\u0600-\u06FF]/;
    for (const [code, e] of Object.entries(API_ERRORS)) {
      expect(e.en.length, code).toBeGreaterThan(5);
      expect(e.ar, code).toMatch(arabic);
      expect(e.en, code).not.toMatch(arabic);
      const range =
        (e.rpc >= -32768 && e.rpc <= -32600) || (e.rpc >= -32099 && e.rpc <= -32000) || (e.rpc >= 1000 && e.rpc <= 2999);
      expect(range, code).toBe(true);
    }
    // Outside JSON-RPC's own codes, one number means one name.
    const own = Object.values(API_ERRORS).map((e) => e.rpc).filter((n) => n > -32600 || n < -32768);
    expect(new Set(own).size).toBe(own.length);
  });

  it('ApiError is a UnicardError with a stable code; detail never overwrites code/en/ar', () => {
    const e = new ApiError('TERMINAL_GONE', { detail: { terminalId: 'T1', code: 'X', ar: 'Y' } });
    expect(e).toBeInstanceOf(UnicardError);
    expect(e.code).toBe('TERMINAL_GONE');
    expect(e.toJsonRpc()).toEqual({
      code: 1004,
      message: 'The terminal is disconnected; check its cable.',
      data: { code: 'TERMINAL_GONE', en: 'The terminal is disconnected; check its cable.', ar: 'القارئ غير متصل، تأكد من توصيل الكابل.', terminalId: 'T1' },
    });
  });

  it('invalidParams names the field in both languages', () => {
    const e = invalidParams('waitMs', { kind: 'type', en: 'an integer', ar: 'عددًا صحيحًا' });
    expect(e.toJsonRpc().data).toMatchObject({ field: 'waitMs', en: 'Parameter "waitMs" must be an integer.', ar: 'الحقل "waitMs" يجب أن يكون عددًا صحيحًا.' });
  });

  it('toApiError: session failures keep their code in data.cause; anything else is INTERNAL_ERROR without its text', () => {
    expect(toApiError(new TerminalSessionError('TERMINAL_GONE', 'link ended')).code).toBe('TERMINAL_GONE');
    const timeout = toApiError(new TerminalSessionError('REQUEST_TIMEOUT', 'no answer'));
    expect(timeout.toJsonRpc().data).toMatchObject({ code: 'TERMINAL_FAILED', cause: 'REQUEST_TIMEOUT' });
    const refused = toApiError(new TerminalError(0x20, 7));
    expect(refused.toJsonRpc().data).toMatchObject({ code: 'TERMINAL_REFUSED', cause: 'NO_CARD' });
    const other = toApiError(new Error('secret'));
    expect(other.code).toBe('INTERNAL_ERROR');
    expect(JSON.stringify(other.toJsonRpc())).not.toContain('secret');
    const same = new ApiError('FORBIDDEN');
    expect(toApiError(same)).toBe(same);
  });
});
