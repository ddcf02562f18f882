import { readFileSync } from 'node:fs';
import * as cborg from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../test/support/fuzz.js';
import { type CborValue, decodeCanonical, encodeCanonical } from './cbor-codec.js';
import { CodecError } from './errors.js';
import {
  allMessages,
  Capability,
  decodeEnvelope,
  decodeMessage,
  DEFAULT_MESSAGE_LIMITS,
  encodeMessage,
  type FieldType,
  type Message,
  MESSAGE_SCHEMAS,
  type MessageName,
  type MessageSchema,
  messageFromJson,
  messageInfo,
  messageToCbor,
  messageToJson,
  requestIdOf,
  resultNameFor,
  utf8Length,
} from './messages.js';
import { renderMessageIndex, renderMessageSections } from './messages/catalog-doc.js';

/** Decoder fuzz tests run the full `make fuzz` count, so their time limit grows with it. */
const DECODER_RUNS = fuzzRuns(30_000);
const decoderTimeout = Math.max(30_000, DECODER_RUNS * 2);
/** Properties of encoders and round trips are slower per case and not decoder fuzzing: a tenth of the long count. */
const slowRuns = (defaultRuns: number): number => Math.max(defaultRuns, Math.floor(fuzzRuns(defaultRuns) / 10));
const slowTimeout = Math.max(30_000, slowRuns(5000) * 3);


const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CodecError) return e.code;
    throw e;
  }
  return 'OK';
}
function errorOf(f: () => unknown): CodecError {
  try {
    f();
  } catch (e) {
    if (e instanceof CodecError) return e;
    throw e;
  }
  throw new Error('expected a CodecError');
}

const NAMES = Object.keys(MESSAGE_SCHEMAS) as MessageName[];

// ---- arbitraries derived from the catalog itself ----

function arbFor(t: FieldType): fc.Arbitrary<unknown> {
  switch (t.kind) {
    case 'uint':
      return fc.oneof(
        fc.constantFrom(t.min, t.max),
        fc.integer({ min: t.min, max: Math.min(t.max, 0x7fff_ffff) }),
        fc.double({ min: t.min, max: t.max, noNaN: true }).map((d) => Math.min(t.max, Math.max(t.min, Math.round(d)))),
      );
    case 'bool':
      return fc.boolean();
    case 'bytes':
      // The longest allowed value now and then (large ones make every run slow).
      return fc.oneof(
        { arbitrary: fc.uint8Array({ minLength: t.minLen, maxLength: Math.max(t.minLen, Math.min(t.maxLen, 40)) }), weight: 20 },
        { arbitrary: fc.constant(null).map(() => new Uint8Array(t.maxLen).fill(7)), weight: 1 },
      );
    case 'text':
      return fc
        .string({ unit: fc.constantFrom('a', 'Z', '0', ' ', 'é', 'ض', 'ع', '€', '😀'), minLength: t.minBytes > 0 ? 1 : 0, maxLength: 12 })
        .filter((s) => utf8Length(s) >= t.minBytes && utf8Length(s) <= t.maxBytes);
    case 'enum':
      return fc.constantFrom(...Object.keys(t.values));
    case 'array':
      return fc.array(arbFor(t.of), { minLength: t.minItems, maxLength: Math.min(t.maxItems, 4) });
    case 'struct':
      return structArb(t.fields);
  }
}
function structArb(fields: MessageSchema['fields']): fc.Arbitrary<Record<string, unknown>> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  const required: string[] = [];
  for (const [name, f] of Object.entries(fields)) {
    const a = arbFor(f.type);
    model[name] = f.nullable ? fc.option(a, { nil: null }) : a;
    if (!f.optional) required.push(name);
  }
  return fc.record(model, { requiredKeys: required }) as fc.Arbitrary<Record<string, unknown>>;
}
const messageArb: fc.Arbitrary<Message> = fc.constantFrom(...NAMES).chain((name) => {
  const s: MessageSchema = MESSAGE_SCHEMAS[name];
  const id = s.kind === 'event' ? fc.constant(0) : name === 'Error' ? fc.nat({ max: 0xffff_ffff }) : fc.integer({ min: 1, max: 0xffff_ffff });
  return fc
    .tuple(id, structArb(s.fields))
    .filter(([, body]) => (s.exactlyOne ?? []).every((g) => g.filter((n) => body[n] !== undefined).length === 1))
    .map(([i, body]) => ({ type: name, id: i, ...body }) as Message);
});

// ---- tests ----

describe('catalog', () => {
  it('numbers follow the scheme: requests 0x01..0x3F with result t|0x80, events 0x40..0x5F, control 0x70..0x7F', () => {
    for (const m of allMessages()) {
      if (m.kind === 'request') {
        expect(m.type === 0x70 || (m.type >= 0x01 && m.type <= 0x3f)).toBe(true);
        const r = resultNameFor(m.name);
        expect(r).toBeDefined();
        expect(messageInfo(r as MessageName).type).toBe(m.type | 0x80);
      } else if (m.kind === 'result') {
        expect(m.type & 0x80).toBe(0x80);
        expect(messageInfo(m.answers as MessageName).type).toBe(m.type & 0x7f);
        expect(m.name).toBe(`${m.answers}Result`);
      } else if (m.kind === 'event') {
        expect(m.type >= 0x40 && m.type <= 0x5f).toBe(true);
      } else {
        expect(m.type >= 0x71 && m.type <= 0x7f).toBe(true);
      }
    }
  });
  it('covers every family of DESIGN.md §3', () => {
    for (const n of ['GetInfo', 'Ping', 'Handshake', 'Status', 'SelfTest', 'Display', 'Reboot', 'SetTime', 'ReadLog', 'CardWait', 'CardInserted',
      'CardRemoved', 'CardAuthenticate', 'VerifyHolder', 'FirmwareBegin', 'FirmwareChunk', 'FirmwareFinish', 'FirmwareActivate',
      'FirmwareConfirm', 'FirmwareStatus', 'Cancel', 'Keepalive', 'Error']) {
      expect(NAMES).toContain(n);
    }
  });
  it('every field key is one byte on the wire (2..23 at the top, 0..23 nested)', () => {
    const walk = (fields: MessageSchema['fields'], min: number): void => {
      for (const f of Object.values(fields)) {
        expect(f.key).toBeGreaterThanOrEqual(min);
        expect(f.key).toBeLessThanOrEqual(23);
        const t = f.type.kind === 'array' ? f.type.of : f.type;
        if (t.kind === 'struct') walk(t.fields, 0);
      }
    };
    for (const s of Object.values(MESSAGE_SCHEMAS) as MessageSchema[]) walk(s.fields, 2);
  });
});

describe('messages.json vectors', () => {
  const file = JSON.parse(readFileSync(new URL('../test/vectors/messages.json', import.meta.url), 'utf8')) as {
    source: string;
    messages: { name: string; hex: string; message: Record<string, unknown> }[];
  };
  it('names its source and has an example of every message type', () => {
    expect(file.source).toMatch(/generated by unicard/);
    const covered = new Set(file.messages.map((m) => m.message.type));
    for (const n of NAMES) expect(covered, n).toContain(n);
  });
  it.each(file.messages.map((m) => [m.name, m] as const))('%s: hex → message', (_n, v) => {
    expect(messageToJson(decodeMessage(unhex(v.hex)))).toEqual(v.message);
  });
  it.each(file.messages.map((m) => [m.name, m] as const))('%s: message → hex', (_n, v) => {
    expect(hex(encodeMessage(messageFromJson(v.message)))).toBe(v.hex);
  });
  it.each(file.messages.map((m) => [m.name, m] as const))('%s: cborg reads the same integer-keyed map', (_n, v) => {
    const theirs = cborg.decode(unhex(v.hex), { useMaps: true, strict: true, rejectDuplicateMapKeys: true }) as Map<number, unknown>;
    expect(theirs).toEqual(messageToCbor(messageFromJson(v.message)));
    expect(theirs.get(0)).toBe(MESSAGE_SCHEMAS[v.message.type as MessageName].type);
    expect(theirs.get(1)).toBe(v.message.id);
  });
});

describe('hostile message vectors', () => {
  const file = JSON.parse(readFileSync(new URL('../test/vectors/hostile-cbor.json', import.meta.url), 'utf8')) as {
    message: { name: string; hex: string; error: string; requestId: number }[];
    cbor: { name: string; hex: string; error: string }[];
  };
  it.each(file.message.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const e = errorOf(() => decodeMessage(unhex(c.hex)));
    expect(e.code).toBe(c.error);
    expect(requestIdOf(e)).toBe(c.requestId);
  });
  it('every hostile CBOR case is also refused by decodeMessage with a CBOR_* code', () => {
    for (const c of file.cbor) {
      const code = codeOf(() => decodeMessage(unhex(c.hex)));
      expect(code, c.name).toMatch(/^CBOR_/);
    }
  });
});

describe('decodeMessage', () => {
  it('carries the request id and field path in the error detail', () => {
    // SetTime id 9 with unixMs as text
    const e = errorOf(() => decodeMessage(unhex('a3000c0109026131')));
    expect(e.code).toBe('MSG_WRONG_TYPE');
    expect(e.detail).toMatchObject({ requestId: 9, messageType: 'SetTime', field: 'unixMs' });
  });
  it('names nested fields in the path', () => {
    const m = messageToCbor({ type: 'Display', id: 4, lines: [{ ar: 'أ', en: 'a' }, { ar: 'ب', en: 'b' }] });
    ((m.get(2) as Map<number, CborValue>[])[1] as Map<number, CborValue>).set(1, 5);
    const e = errorOf(() => decodeMessage(encodeCanonical(m)));
    expect(e.detail).toMatchObject({ requestId: 4, field: 'lines[1].en' });
  });
  it('decodeEnvelope reads id and type of a message whose body is invalid', () => {
    expect(decodeEnvelope(unhex('a3000c0109026131'))).toEqual({ id: 9, type: 12, name: 'SetTime' });
    expect(decodeEnvelope(unhex('a20018630107'))).toEqual({ id: 7, type: 0x63, name: undefined });
    expect(decodeEnvelope(unhex('80'))).toEqual({ id: undefined, type: undefined, name: undefined });
  });
  it('requestIdOf is 0 for errors without an id and for foreign errors', () => {
    expect(requestIdOf(errorOf(() => decodeMessage(unhex('ff'))))).toBe(0);
    expect(requestIdOf(new Error('x'))).toBe(0);
  });
  it('text limits count UTF-8 bytes, not characters', () => {
    const ar = 'ض'.repeat(64); // 64 characters, 128 bytes: the Display line limit
    expect(codeOf(() => encodeMessage({ type: 'Display', id: 1, lines: [{ ar, en: '' }] }))).toBe('OK');
    const msg = messageToCbor({ type: 'Display', id: 1, lines: [{ ar, en: '' }] });
    ((msg.get(2) as Map<number, CborValue>[])[0] as Map<number, CborValue>).set(0, ar + 'ض');
    expect(codeOf(() => decodeMessage(encodeCanonical(msg)))).toBe('MSG_OUT_OF_RANGE');
  });
  it('applies DEFAULT_MESSAGE_LIMITS, and caller limits when given', () => {
    const chunk = { type: 'FirmwareChunk', id: 1, offset: 0, data: new Uint8Array(16_384) } as const;
    const bytes = encodeMessage(chunk);
    expect(decodeMessage(bytes)).toEqual(chunk);
    expect(codeOf(() => decodeMessage(bytes, { ...DEFAULT_MESSAGE_LIMITS, maxBytes: 1000 }))).toBe('CBOR_TOO_LONG');
    const big = messageToCbor(chunk);
    big.set(3, new Uint8Array(16_385));
    expect(codeOf(() => decodeMessage(encodeCanonical(big)))).toBe('CBOR_TOO_LONG');
    expect(codeOf(() => decodeMessage(encodeCanonical(big), { maxStringBytes: 20_000 }))).toBe('MSG_OUT_OF_RANGE');
  });
});

describe('encodeMessage refuses what decodeMessage would refuse', () => {
  const nonce = new Uint8Array(32);
  const bad: [string, unknown][] = [
    ['unknown type', { type: 'Nope', id: 1 }],
    ['not an object', 7],
    ['id 2^32', { type: 'GetInfo', id: 2 ** 32 }],
    ['id 1.5', { type: 'GetInfo', id: 1.5 }],
    ['id 0 on a request', { type: 'GetInfo', id: 0 }],
    ['event with id 3', { type: 'CardRemoved', id: 3, cardId: 'x' }],
    ['extra property', { type: 'GetInfo', id: 1, extra: 1 }],
    ['missing field', { type: 'SetTime', id: 1 }],
    ['null for a non-nullable field', { type: 'SetTime', id: 1, unixMs: null }],
    ['unknown enum name', { type: 'Reboot', id: 1, mode: 'fast' }],
    ['nonce of 31 bytes', { type: 'Handshake', id: 1, hostEphemeralKey: nonce, hostNonce: new Uint8Array(31) }],
    ['bytes given as array', { type: 'Handshake', id: 1, hostEphemeralKey: nonce, hostNonce: Array.from(nonce) }],
    ['uint out of range', { type: 'VerifyHolder', id: 1, nonce, member: 256, timeoutMs: 1, maxAttempts: 1 }],
    ['negative uint', { type: 'Cancel', id: 1, targetId: -1 }],
    ['empty id text', { type: 'CardRemoved', id: 0, cardId: '' }],
    ['Display with both lines and prompt', { type: 'Display', id: 1, lines: [{ ar: '', en: '' }], prompt: 'idle' }],
    ['Display with neither', { type: 'Display', id: 1 }],
    ['version of 2 numbers', { type: 'FirmwareStatusResult', id: 1, runningVersion: [1, 0], pendingVersion: null, state: 'idle', antiRollbackCounter: 0, uploadOffset: 0 }],
    ['struct given as Map', { type: 'Display', id: 1, lines: [new Map()] }],
    ['lone surrogate in text', { type: 'Error', id: 1, code: 1, message: '\ud800' }],
  ];
  it.each(bad)('%s → MSG_ENCODE_INVALID', (_n, m) => {
    expect(codeOf(() => encodeMessage(m as Message))).toBe('MSG_ENCODE_INVALID');
  });
  it('treats an optional property set to undefined as absent', () => {
    expect(hex(encodeMessage({ type: 'Ping', id: 3, data: undefined }))).toBe('a200020103');
  });
});

describe('property: every valid message round-trips', () => {
  it('decode(encode(m)) equals m, and JSON form round-trips', { timeout: slowTimeout }, () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const bytes = encodeMessage(m);
        expect(decodeMessage(bytes)).toEqual(m);
        expect(messageFromJson(JSON.parse(JSON.stringify(messageToJson(m))))).toEqual(m);
      }),
      { numRuns: slowRuns(5000) },
    );
  });
});

describe('fuzz: decodeMessage returns a message or throws CodecError, nothing else', () => {
  const check = (b: Uint8Array): void => {
    let m: Message;
    try {
      m = decodeMessage(b);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      expect(e.code).toMatch(/^(CBOR|MSG)_/);
      expect(e.code).not.toBe('MSG_ENCODE_INVALID');
      return;
    }
    // Decoding is exact: what was accepted re-encodes to the same bytes.
    expect(hex(encodeMessage(m))).toBe(hex(b));
  };
  it('property: random bytes', { timeout: decoderTimeout }, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), check), { numRuns: DECODER_RUNS });
  });
  it('property: mutated valid messages (byte edits)', { timeout: decoderTimeout }, () => {
    const arb = fc
      .tuple(
        messageArb.map((m) => encodeMessage(m)),
        fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate')), { minLength: 1, maxLength: 3 }),
      )
      .map(([b, edits]) => {
        let out = Array.from(b);
        for (const [at, byte, op] of edits) {
          const i = at % Math.max(out.length, 1);
          if (op === 'flip') out[i] = (out[i] ?? 0) ^ (1 << (byte % 8));
          else if (op === 'set') out[i] = byte;
          else if (op === 'insert') out.splice(i, 0, byte);
          else if (op === 'delete') out.splice(i, 1);
          else out = out.slice(0, i);
        }
        return Uint8Array.from(out);
      });
    fc.assert(fc.property(arb, check), { numRuns: DECODER_RUNS });
  });
  it('property: mutated valid messages (a field replaced, added or removed, canonical CBOR)', { timeout: decoderTimeout }, () => {
    const anyValue = fc.oneof(
      fc.integer({ min: -5, max: 300 }),
      fc.constantFrom(0xffff_ffff, 2 ** 32, Number.MAX_SAFE_INTEGER, 2n ** 60n),
      fc.string({ maxLength: 4 }),
      fc.uint8Array({ maxLength: 66 }),
      fc.constantFrom(true, false, null),
      fc.array(fc.nat(3), { maxLength: 4 }),
      fc.constant(new Map<number, CborValue>([[0, 1]])),
    );
    const arb = fc
      .tuple(messageArb, fc.nat(25), anyValue, fc.boolean())
      .map(([m, key, v, remove]) => {
        const map = messageToCbor(m) as Map<number, CborValue>;
        if (remove) map.delete(key);
        else map.set(key, v as CborValue);
        return encodeCanonical(map);
      });
    fc.assert(fc.property(arb, check), { numRuns: DECODER_RUNS });
  });
});

describe('PROTOCOL.d/50-messages.md', () => {
  const doc = readFileSync(new URL('../PROTOCOL.d/50-messages.md', import.meta.url), 'utf8');
  it('contains the message index and every message section exactly as the catalog renders them', () => {
    expect(doc).toContain(renderMessageIndex());
    expect(doc).toContain(renderMessageSections());
  });
  it.each(['50-messages.md', '60-error-codes.md'])('%s shows worked examples that are vectors of messages.json', (name) => {
    const text = readFileSync(new URL(`../PROTOCOL.d/${name}`, import.meta.url), 'utf8');
    const vectors = JSON.parse(readFileSync(new URL('../test/vectors/messages.json', import.meta.url), 'utf8')) as {
      messages: { hex: string }[];
    };
    const known = new Set(vectors.messages.map((m) => m.hex));
    const shown = [...text.matchAll(/^hex: ([0-9a-f ]+)$/gm)].map((x) => (x[1] ?? '').replace(/ /g, ''));
    expect(shown.length).toBeGreaterThan(0);
    for (const h of shown) {
      expect(known).toContain(h);
      expect(codeOf(() => decodeMessage(unhex(h)))).toBe('OK');
    }
  });
  it('lists every capability bit', () => {
    for (const [name, bit] of Object.entries(Capability)) {
      expect(doc).toContain(`| 0x${bit.toString(16).padStart(2, '0')} | ${name} |`);
    }
  });
});
