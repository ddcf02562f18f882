import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { ApiError } from './api-errors.js';
import { encodeError, encodeNotification, encodeResult, parseRequestLine } from './json-rpc.js';

const line = (s: string) => Buffer.from(s, 'utf8');

describe('parseRequestLine', () => {
  it('reads a request, a notification and a request without params', () => {
    expect(parseRequestLine(line('{"jsonrpc":"2.0","id":1,"method":"terminals.claim","params":{"terminalId":"T1"}}'))).toEqual({
      kind: 'request',
      id: 1,
      method: 'terminals.claim',
      params: { terminalId: 'T1' },
    });
    expect(parseRequestLine(line('{"jsonrpc":"2.0","method":"status"}'))).toEqual({ kind: 'request', id: undefined, method: 'status', params: undefined });
    expect(parseRequestLine(line('{"jsonrpc":"2.0","id":null,"method":"status"}'))).toMatchObject({ kind: 'request', id: null });
    expect(parseRequestLine(line('{"jsonrpc":"2.0","id":"abc","method":"status"}'))).toMatchObject({ kind: 'request', id: 'abc' });
    expect(parseRequestLine(line('  \t\r'))).toEqual({ kind: 'blank' });
  });

  it('classifies bad lines with the right code and id', () => {
    const cases: Array<[string, string, unknown]> = [
      ['{', 'PARSE_ERROR', null],
      ['{"jsonrpc":"2.0","id":1,"method":"status"} trailing', 'PARSE_ERROR', null],
      ['[]', 'INVALID_REQUEST', null],
      ['42', 'INVALID_REQUEST', null],
      ['{"jsonrpc":"2.0","id":true,"method":"status"}', 'INVALID_REQUEST', null],
      ['{"jsonrpc":"2.0","id":3}', 'INVALID_REQUEST', 3],
      ['{"jsonrpc":"2.0","id":3,"method":""}', 'INVALID_REQUEST', 3],
      [`{"jsonrpc":"2.0","id":3,"method":"${'m'.repeat(129)}"}`, 'INVALID_REQUEST', 3],
      ['{"jsonrpc":"2.0","id":4,"method":"status","params":"x"}', 'INVALID_PARAMS', 4],
      ['{"jsonrpc":"2.0","id":4,"method":"status","params":null}', 'INVALID_PARAMS', 4],
    ];
    for (const [text, code, id] of cases) {
      const p = parseRequestLine(line(text));
      expect(p.kind, text).toBe('invalid');
      if (p.kind === 'invalid') {
        expect(p.error.code, text).toBe(code);
        expect(p.id, text).toEqual(id);
      }
    }
    // Deep nesting exhausts nobody's stack.
    expect(parseRequestLine(line('['.repeat(100_000)))).toMatchObject({ kind: 'invalid' });
  });

  it('property: never throws, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const p = parseRequestLine(bytes);
        expect(['request', 'invalid', 'blank']).toContain(p.kind);
      }),
      { numRuns: fuzzRuns(2_000) },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const p = parseRequestLine(line(JSON.stringify(v) ?? 'null'));
        expect(['request', 'invalid']).toContain(p.kind);
      }),
      { numRuns: fuzzRuns(1_000) },
    );
  });
});

describe('encoders', () => {
  it('write JSON-RPC 2.0 lines', () => {
    expect(encodeResult(1, { a: 1 })).toBe('{"jsonrpc":"2.0","id":1,"result":{"a":1}}');
    expect(encodeResult('x', undefined)).toBe('{"jsonrpc":"2.0","id":"x","result":null}');
    expect(encodeNotification('card.inserted', { terminalId: 'T1' })).toBe('{"jsonrpc":"2.0","method":"card.inserted","params":{"terminalId":"T1"}}');
    const e = JSON.parse(encodeError(null, new ApiError('TERMINAL_BUSY', { detail: { code: 'overridden?', holder: { name: 'pos' } } })));
    expect(e).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: {
        code: 1002,
        message: 'The terminal is in use by another program.',
        data: { code: 'TERMINAL_BUSY', en: 'The terminal is in use by another program.', ar: 'القارئ مشغول ببرنامج آخر.', holder: { name: 'pos' } },
      },
    });
  });
});
