import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CodecError, type CodecErrorCode, CryptoError, FramingError, SessionError } from './errors.js';
import { renderCodecMappingTable, renderWireErrorTable } from './messages/catalog-doc.js';
import { WIRE_ERRORS, WireError, wireErrorFor, wireErrorForCodec, wireErrorInfo, wireErrorName } from './wire-errors.js';

const CODEC_CODES: CodecErrorCode[] = [
  'CBOR_MALFORMED', 'CBOR_TRUNCATED', 'CBOR_TRAILING_BYTES', 'CBOR_NON_CANONICAL', 'CBOR_DUPLICATE_KEY', 'CBOR_UNSUPPORTED',
  'CBOR_TOO_DEEP', 'CBOR_TOO_LONG', 'MSG_NOT_A_MAP', 'MSG_UNKNOWN_TYPE', 'MSG_MISSING_FIELD', 'MSG_UNKNOWN_FIELD',
  'MSG_WRONG_TYPE', 'MSG_OUT_OF_RANGE', 'MSG_FIELD_CONFLICT',
];

describe('wire error table', () => {
  it('has unique codes that fit the Error.code field (0..65535), stable UPPER_SNAKE names and one-line meanings', () => {
    const codes = new Set<number>();
    for (const e of WIRE_ERRORS) {
      expect(codes.has(e.code), e.name).toBe(false);
      codes.add(e.code);
      expect(e.code).toBeGreaterThan(0);
      expect(e.code).toBeLessThanOrEqual(0xffff);
      expect(e.name).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(e.meaning.length).toBeGreaterThan(10);
      expect(e.meaning).not.toMatch(/\n/);
    }
    expect(WIRE_ERRORS.map((e) => e.code)).toEqual([...codes].sort((a, b) => a - b));
  });
  it('pins the numbers: changing one breaks every deployed terminal', () => {
    expect(WireError).toMatchObject({
      CBOR_MALFORMED: 0x01, UNKNOWN_MESSAGE: 0x05, INVALID_MESSAGE: 0x06, SESSION_REQUIRED: 0x10, REQUEST_ID_REUSED: 0x11,
      CANCELLED: 0x13, NO_CARD: 0x20, FINGERPRINT_NO_MATCH: 0x31, ATTEMPTS_EXHAUSTED: 0x32, FIRMWARE_BAD_SIGNATURE: 0x40,
      FIRMWARE_DOWNGRADE: 0x41, INTERNAL: 0xff,
    });
  });
  it('keeps every code in the range of its family', () => {
    for (const e of WIRE_ERRORS) {
      if (e.name.startsWith('FIRMWARE_')) expect(e.code >> 4).toBe(4);
      if (e.name.startsWith('CARD_') || e.name === 'NO_CARD') expect(e.code >> 4).toBe(2);
      if (e.name.startsWith('CBOR_')) expect(e.code >> 4).toBe(0);
    }
  });
  it('looks codes up by number and names unknown ones', () => {
    expect(wireErrorInfo(0x20)?.name).toBe('NO_CARD');
    expect(wireErrorInfo(0x9999)).toBeUndefined();
    expect(wireErrorName(0x41)).toBe('FIRMWARE_DOWNGRADE');
    expect(wireErrorName(0x5a)).toBe('ERROR_0x5a');
  });
});

describe('mapping errors to wire codes', () => {
  it('maps every CodecError code', () => {
    for (const c of CODEC_CODES) expect(WireError[wireErrorForCodec(c)]).toBeGreaterThan(0);
    expect(wireErrorForCodec('CBOR_DUPLICATE_KEY')).toBe('CBOR_NON_CANONICAL');
    expect(wireErrorForCodec('CBOR_TOO_LONG')).toBe('MESSAGE_TOO_LARGE');
    expect(wireErrorForCodec('MSG_UNKNOWN_TYPE')).toBe('UNKNOWN_MESSAGE');
    expect(wireErrorForCodec('MSG_OUT_OF_RANGE')).toBe('INVALID_MESSAGE');
    expect(wireErrorForCodec('MSG_ENCODE_INVALID')).toBe('INTERNAL');
  });
  it('maps thrown errors of any layer', () => {
    expect(wireErrorFor(new CodecError('CBOR_TRUNCATED', 'x'))).toBe('CBOR_MALFORMED');
    expect(wireErrorFor(new FramingError('FRAME_TOO_LARGE', 'x'))).toBe('FRAME_TOO_LARGE');
    expect(wireErrorFor(new SessionError('SESSION_NOT_ESTABLISHED', 'x'))).toBe('SESSION_REQUIRED');
    expect(wireErrorFor(new CryptoError('SIG_INVALID', 'x'))).toBe('INTERNAL');
    expect(wireErrorFor(new TypeError('x'))).toBe('INTERNAL');
    expect(wireErrorFor('a string')).toBe('INTERNAL');
  });
});

describe('PROTOCOL.d/60-error-codes.md', () => {
  it('contains the table and the decoder mapping exactly as the code renders them', () => {
    const doc = readFileSync(new URL('../PROTOCOL.d/60-error-codes.md', import.meta.url), 'utf8');
    expect(doc).toContain(renderWireErrorTable());
    expect(doc).toContain(renderCodecMappingTable(CODEC_CODES));
  });
});
