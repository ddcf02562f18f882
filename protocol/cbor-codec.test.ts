import { readFileSync } from 'node:fs';
import * as cborg from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../test/support/fuzz.js';
import {
  type CborValue,
  compareKeys,
  decodeCanonical,
  DEFAULT_CBOR_LIMITS,
  encodeCanonical,
  ENCODE_MAX_DEPTH,
  isValidUtf8,
  scanCanonical,
} from './cbor-codec.js';
import { CodecError } from './errors.js';

/** Decoder fuzz tests run the full `make fuzz` count, so their time limit grows with it. */
const DECODER_RUNS = fuzzRuns(30_000);
const decoderTimeout = Math.max(30_000, DECODER_RUNS * 2);
/** Properties of encoders and round trips are slower per case and not decoder fuzzing: a tenth of the long count. */
const slowRuns = (defaultRuns: number): number => Math.max(defaultRuns, Math.floor(fuzzRuns(defaultRuns) / 10));
const slowTimeout = Math.max(30_000, slowRuns(5000) * 3);


// ---- helpers ----

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

/** The JSON form of the vector files (see their "valueForm"). */
type JsonForm = number | string | boolean | null | JsonForm[] | { $bigint: string } | { $bytes: string } | { $map: [JsonForm, JsonForm][] };

function fromJson(j: JsonForm): CborValue {
  if (Array.isArray(j)) return j.map(fromJson);
  if (j !== null && typeof j === 'object') {
    if ('$bigint' in j) return BigInt(j.$bigint);
    if ('$bytes' in j) return unhex(j.$bytes);
    return new Map(j.$map.map(([k, v]) => [fromJson(k) as number | string, fromJson(v)]));
  }
  return j;
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CodecError) return e.code;
    throw e;
  }
  return 'OK';
}

/** cborg configured as the independent RFC 8949 deterministic implementation. */
const cborgEncode = (v: CborValue): Uint8Array => cborg.encode(v, cborg.rfc8949EncodeOptions);
const cborgDecode = (b: Uint8Array): unknown => cborg.decode(b, { useMaps: true, strict: true, rejectDuplicateMapKeys: true });

// ---- arbitraries ----

const BOUNDARY_INTS = [
  0, 1, 23, 24, 255, 256, 65535, 65536, 0xffff_ffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER,
  -1, -24, -25, -256, -257, -65536, -65537, -0x1_0000_0000, -0x1_0000_0001, Number.MIN_SAFE_INTEGER,
];
/** Integers of the data model: safe ones as number, the rest as bigint up to 64 bits. */
const intArb: fc.Arbitrary<number | bigint> = fc.oneof(
  fc.integer({ min: -30, max: 30 }),
  fc.constantFrom(...BOUNDARY_INTS),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }).map((b) =>
    b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b,
  ),
  fc.constantFrom(2n ** 64n - 1n, -(2n ** 63n), 2n ** 53n, -(2n ** 53n)),
);
/** Lengths around the head-size boundaries. */
/** Lengths around the 1- and 2-byte head boundaries (the 65536 boundary is a unit test: big values make properties slow). */
const lenArb = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constantFrom(23, 24, 255, 256), fc.integer({ min: 0, max: 300 }));
const textArb: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.tuple(lenArb, fc.constantFrom('a', 'é', 'ض', '😀')).map(([n, ch]) => ch.repeat(n)),
);
const bytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  lenArb.map((n) => new Uint8Array(n).fill(0xa5)),
);
const keyArb: fc.Arbitrary<number | string> = fc.oneof(
  fc.integer({ min: -30, max: 30 }),
  fc.constantFrom(23, 24, 255, 256, -24, -25, 0xffff_ffff, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
);
const { value: valueArb } = fc.letrec<{ value: CborValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    intArb,
    textArb,
    bytesArb,
    fc.constantFrom(true, false, null),
    fc.array(tie('value'), { maxLength: 6 }),
    fc
      .uniqueArray(fc.tuple(keyArb, tie('value')), { maxLength: 6, selector: ([k]) => `${typeof k}:${String(k)}` })
      .map((entries) => new Map(entries)),
  ),
}));

/** Small edits to valid encodings: the inputs most likely to find a scanner bug. */
const mutatedArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    valueArb.map((v) => encodeCanonical(v)),
    fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate')), { minLength: 1, maxLength: 3 }),
  )
  .map(([b, edits]) => {
    let out = Array.from(b);
    for (const [at, byte, op] of edits) {
      const i = out.length === 0 ? 0 : at % out.length;
      if (op === 'flip') out[i] = (out[i] ?? 0) ^ (1 << (byte % 8));
      else if (op === 'set') out[i] = byte;
      else if (op === 'insert') out.splice(i, 0, byte);
      else if (op === 'delete') out.splice(i, 1);
      else out = out.slice(0, i);
    }
    return Uint8Array.from(out);
  });

// ---- tests ----

describe('encodeCanonical: shortest heads', () => {
  const cases: [CborValue, string][] = [
    [0, '00'], [23, '17'], [24, '1818'], [255, '18ff'], [256, '190100'], [65535, '19ffff'], [65536, '1a00010000'],
    [0xffff_ffff, '1affffffff'], [0x1_0000_0000, '1b0000000100000000'], [Number.MAX_SAFE_INTEGER, '1b001fffffffffffff'],
    [2n ** 64n - 1n, '1bffffffffffffffff'], [-1, '20'], [-24, '37'], [-25, '3818'], [-256, '38ff'], [-257, '390100'],
    [-0x1_0000_0000, '3affffffff'], [-0x1_0000_0001, '3b0000000100000000'], [-(2n ** 63n), '3b7fffffffffffffff'],
    [-0, '00'], [5n, '05'], [-(2n ** 32n), '3affffffff'],
  ];
  it.each(cases)('integer %s → %s', (v, h) => {
    expect(hex(encodeCanonical(v))).toBe(h);
  });

  // cbor-x reserves header room for strings and shifts afterwards; prove every boundary.
  const heads = (major: number, n: number): string => {
    const m = major << 5;
    if (n < 24) return (m | n).toString(16).padStart(2, '0');
    if (n < 0x100) return (m | 24).toString(16) + n.toString(16).padStart(2, '0');
    if (n < 0x10000) return (m | 25).toString(16) + n.toString(16).padStart(4, '0');
    return (m | 26).toString(16) + n.toString(16).padStart(8, '0');
  };
  const lengths = [0, 1, 22, 23, 24, 25, 254, 255, 256, 257, 65534, 65535, 65536, 65537, 70000];
  it.each(lengths)('byte string, array and map of length %i have shortest length heads', (n) => {
    expect(hex(encodeCanonical(new Uint8Array(n))).slice(0, heads(2, n).length)).toBe(heads(2, n));
    expect(hex(encodeCanonical(new Array<CborValue>(n).fill(0))).slice(0, heads(4, n).length)).toBe(heads(4, n));
    const m = new Map<number, CborValue>();
    for (let i = 0; i < n; i++) m.set(i, 0);
    expect(hex(encodeCanonical(m)).slice(0, heads(5, n).length)).toBe(heads(5, n));
  });
  it.each(lengths)('text of %i UTF-8 bytes has a shortest length head, whatever the characters', (n) => {
    // 1-, 2-, 3- and 4-byte characters: cbor-x sizes its header from the UTF-16 length.
    for (const [ch, w] of [['a', 1], ['é', 2], ['ض', 2], ['€', 3], ['😀', 4]] as const) {
      const s = ch.repeat(Math.floor(n / w)) + 'a'.repeat(n % w);
      const out = encodeCanonical(s);
      expect(hex(out).slice(0, heads(3, n).length)).toBe(heads(3, n));
      expect(out.length).toBe(heads(3, n).length / 2 + n);
    }
  });
});

describe('encodeCanonical: maps', () => {
  it('writes keys in bytewise order of their encodings, whatever the insertion order', () => {
    const m = new Map<number | string, CborValue>([['b', 1], [24, 2], [-1, 3], [10, 4], ['aa', 5], ['a', 6], [-25, 7], [0, 8]]);
    // 00, 0a, 1818, 20, 3818, 6161, 6162, 626161
    expect(hex(encodeCanonical(m))).toBe('a8' + '0008' + '0a04' + '181802' + '2003' + '381807' + '616106' + '616201' + '62616105');
  });
  it('compareKeys agrees with bytewise comparison of the encoded keys', () => {
    fc.assert(
      fc.property(keyArb, keyArb, (a, b) => {
        const ea = hex(encodeCanonical(a));
        const eb = hex(encodeCanonical(b));
        const bytewise = ea.length !== eb.length && (ea.startsWith(eb) || eb.startsWith(ea)) ? ea.length - eb.length : ea < eb ? -1 : ea > eb ? 1 : 0;
        expect(Math.sign(compareKeys(a, b))).toBe(Math.sign(bytewise));
      }),
      { numRuns: 2000 },
    );
  });
  it('leaves the caller\'s map untouched', () => {
    const m = new Map<number, CborValue>([[2, 1], [1, 2]]);
    encodeCanonical(m);
    expect([...m.keys()]).toEqual([2, 1]);
  });
});

describe('encodeCanonical: refuses values outside the data model', () => {
  const cyclic: CborValue[] = [];
  cyclic.push(cyclic);
  let deep: CborValue = 0;
  for (let i = 0; i <= ENCODE_MAX_DEPTH; i++) deep = [deep];
  const bad: [string, unknown][] = [
    ['float', 1.5], ['NaN', NaN], ['Infinity', Infinity], ['unsafe number', 2 ** 53], ['bigint 2^64', 2n ** 64n],
    ['bigint below -2^63', -(2n ** 63n) - 1n], ['undefined', undefined], ['plain object', { a: 1 }], ['symbol', Symbol('x')],
    ['function', () => 1], ['Date', new Date(0)], ['Int8Array', new Int8Array(1)], ['lone high surrogate', 'a\ud800'],
    ['lone low surrogate', '\udc00b'], ['array with a hole', [1, , 2]], ['nested undefined', [1, [undefined]]],
    ['cyclic array', cyclic], [`nesting deeper than ${ENCODE_MAX_DEPTH}`, deep], ['boolean map key', new Map([[true, 1]])],
    ['bigint map key', new Map([[1n, 1]])], ['float map key', new Map([[1.5, 1]])], ['surrogate map key', new Map([['\ud800', 1]])],
    ['float inside a map', new Map([[1, 0.5]])],
  ];
  it.each(bad)('%s → MSG_ENCODE_INVALID', (_name, v) => {
    expect(codeOf(() => encodeCanonical(v as CborValue))).toBe('MSG_ENCODE_INVALID');
  });
});

describe('decodeCanonical', () => {
  it('returns plain Uint8Array copies, never views of the input (even for a Buffer)', () => {
    const input = Buffer.from('824201026161', 'hex');
    const v = decodeCanonical(input) as [Uint8Array, string];
    expect(Object.getPrototypeOf(v[0])).toBe(Uint8Array.prototype);
    input[2] = 0xff;
    expect(Array.from(v[0])).toEqual([1, 2]);
  });
  it('returns numbers for safe 8-byte integers and bigints beyond, in values and keys', () => {
    expect(decodeCanonical(unhex('1b001fffffffffffff'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decodeCanonical(unhex('1b0020000000000000'))).toBe(2n ** 53n);
    expect(decodeCanonical(unhex('3b001ffffffffffffe'))).toBe(Number.MIN_SAFE_INTEGER);
    expect(decodeCanonical(unhex('3b001fffffffffffff'))).toBe(-(2n ** 53n));
    expect(decodeCanonical(unhex('a11b0000000100000000f6'))).toEqual(new Map([[2 ** 32, null]]));
  });
  it('refuses map key -2^53 (not a safe integer) but accepts -(2^53 - 1)', () => {
    expect(codeOf(() => decodeCanonical(unhex('a13b001ffffffffffffff6')))).toBe('CBOR_UNSUPPORTED');
    expect(decodeCanonical(unhex('a13b001ffffffffffffef6'))).toEqual(new Map([[Number.MIN_SAFE_INTEGER, null]]));
  });
  it('reports the offset of the offending byte', () => {
    try {
      decodeCanonical(unhex('8301021800'));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CodecError);
      expect((e as CodecError).code).toBe('CBOR_NON_CANONICAL');
      expect((e as CodecError).detail?.offset).toBe(3);
    }
  });
  it('turns stack exhaustion under a raised maxDepth into CBOR_TOO_DEEP', () => {
    const n = 200_000;
    const deep = unhex('81'.repeat(n) + '00');
    expect(codeOf(() => decodeCanonical(deep, { maxDepth: n + 1, maxItems: n + 2 }))).toBe('CBOR_TOO_DEEP');
  });
  it('refuses a non-Uint8Array input with a CodecError', () => {
    expect(codeOf(() => decodeCanonical('00' as unknown as Uint8Array))).toBe('CBOR_MALFORMED');
  });
});

describe('limits', () => {
  it('maxBytes counts the whole input', () => {
    expect(codeOf(() => decodeCanonical(new Uint8Array(10).fill(0), { maxBytes: 9 }))).toBe('CBOR_TOO_LONG');
    expect(decodeCanonical(unhex('4400000000'), { maxBytes: 5 })).toEqual(new Uint8Array(4));
  });
  it('maxDepth counts nested arrays and maps (a top-level array is depth 1)', () => {
    const nested = (n: number): Uint8Array => unhex('81'.repeat(n - 1) + '80');
    expect(codeOf(() => decodeCanonical(nested(DEFAULT_CBOR_LIMITS.maxDepth)))).toBe('OK');
    expect(codeOf(() => decodeCanonical(nested(DEFAULT_CBOR_LIMITS.maxDepth + 1)))).toBe('CBOR_TOO_DEEP');
    expect(codeOf(() => decodeCanonical(nested(3), { maxDepth: 2 }))).toBe('CBOR_TOO_DEEP');
    expect(codeOf(() => decodeCanonical(unhex('00'), { maxDepth: 0 }))).toBe('OK');
    expect(codeOf(() => decodeCanonical(unhex('80'), { maxDepth: 0 }))).toBe('CBOR_TOO_DEEP');
  });
  it('maxItems counts every data item, keys included, before reading them', () => {
    // [1, {2: 3}] = 1 + 2 + 2 items
    expect(codeOf(() => decodeCanonical(unhex('8201a10203'), { maxItems: 5 }))).toBe('OK');
    expect(codeOf(() => decodeCanonical(unhex('8201a10203'), { maxItems: 4 }))).toBe('CBOR_TOO_LONG');
  });
  it('maxStringBytes applies to byte and text strings', () => {
    expect(codeOf(() => decodeCanonical(unhex('43000000'), { maxStringBytes: 3 }))).toBe('OK');
    expect(codeOf(() => decodeCanonical(unhex('4400000000'), { maxStringBytes: 3 }))).toBe('CBOR_TOO_LONG');
    expect(codeOf(() => decodeCanonical(unhex('6461616161'), { maxStringBytes: 3 }))).toBe('CBOR_TOO_LONG');
  });
  it('a declared length is refused before anything of that size exists', () => {
    // 2^32 - 1 declared bytes in a 5-byte input: refused by the limit, then by the remaining bytes.
    expect(codeOf(() => decodeCanonical(unhex('5affffffff')))).toBe('CBOR_TOO_LONG');
    expect(codeOf(() => decodeCanonical(unhex('5affffffff'), { maxStringBytes: 2 ** 32 }))).toBe('CBOR_TRUNCATED');
    expect(codeOf(() => decodeCanonical(unhex('9affffffff'), { maxItems: 2 ** 40 }))).toBe('CBOR_TRUNCATED');
  });
  it('invalid limits are refused with a CodecError', () => {
    expect(codeOf(() => decodeCanonical(unhex('00'), { maxDepth: -1 }))).toBe('CBOR_TOO_LONG');
    expect(codeOf(() => decodeCanonical(unhex('00'), { maxBytes: NaN }))).toBe('CBOR_TOO_LONG');
  });
});

describe('isValidUtf8 agrees with a strict TextDecoder', () => {
  it('on random bytes', () => {
    const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 6 }).map((s) => new TextEncoder().encode(s))),
        (b) => {
          let ok = true;
          try {
            strict.decode(b);
          } catch {
            ok = false;
          }
          expect(isValidUtf8(b, 0, b.length)).toBe(ok);
        },
      ),
      { numRuns: 20_000 },
    );
  });
});

describe('RFC 8949 Appendix A vectors', () => {
  const file = JSON.parse(readFileSync(new URL('../test/vectors/cbor-rfc8949.json', import.meta.url), 'utf8')) as {
    source: string;
    accepted: { diagnostic: string; hex: string; value: JsonForm }[];
    rejected: { diagnostic: string; hex: string; error: string }[];
  };
  it('names its source', () => {
    expect(file.source).toMatch(/RFC 8949 Appendix A/);
  });
  it.each(file.accepted.map((c) => [c.diagnostic, c] as const))('accepts %s', (_d, c) => {
    const value = fromJson(c.value);
    expect(decodeCanonical(unhex(c.hex))).toEqual(value);
    expect(hex(encodeCanonical(value))).toBe(c.hex);
    expect(hex(cborgEncode(value))).toBe(c.hex); // the transcription agrees with cborg too
  });
  it.each(file.rejected.map((c) => [c.diagnostic, c] as const))('rejects %s', (d, c) => {
    expect(codeOf(() => decodeCanonical(unhex(c.hex)))).toBe(c.error);
    // Check the transcription of the float examples with cborg, which decodes floats.
    const n = Number(d);
    if (/^-?(\d[\d.e+-]*\.[\d.e+-]*|Infinity|NaN)$/.test(d)) {
      const got = cborg.decode(unhex(c.hex), { allowInfinity: true, allowNaN: true });
      expect(Object.is(got, n) || (Number.isNaN(n) && Number.isNaN(got))).toBe(true);
    }
  });
});

describe('hostile CBOR vectors', () => {
  const file = JSON.parse(readFileSync(new URL('../test/vectors/hostile-cbor.json', import.meta.url), 'utf8')) as {
    source: string;
    cbor: { name: string; hex: string; error: string }[];
  };
  it.each(file.cbor.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    expect(codeOf(() => decodeCanonical(unhex(c.hex)))).toBe(c.error);
  });
});

describe('cross-check with cborg (independent RFC 8949 implementation)', () => {
  it('property: random values encode to identical bytes; each decodes the other\'s output', { timeout: slowTimeout }, () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const ours = encodeCanonical(v);
        expect(hex(ours)).toBe(hex(cborgEncode(v)));
        expect(cborgDecode(ours)).toEqual(v);
        expect(decodeCanonical(ours)).toEqual(v);
        const theirs = cborgEncode(v);
        expect(decodeCanonical(theirs)).toEqual(v);
        scanCanonical(ours); // throws if not canonical
      }),
      { numRuns: slowRuns(3000) },
    );
  });
});

describe('fuzz: decodeCanonical returns a value or throws CodecError, nothing else', () => {
  /** A decoded value must re-encode to exactly the input: canonical means one encoding per value. */
  const check = (b: Uint8Array): void => {
    let v: CborValue;
    try {
      v = decodeCanonical(b);
    } catch (e) {
      if (!(e instanceof CodecError)) throw e;
      expect(e.code).toMatch(/^CBOR_/);
      return;
    }
    expect(hex(encodeCanonical(v))).toBe(hex(b));
  };
  it('property: random bytes', { timeout: decoderTimeout }, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 48 }), check), { numRuns: DECODER_RUNS });
  });
  it('property: mutated valid encodings', { timeout: decoderTimeout }, () => {
    fc.assert(fc.property(mutatedArb, check), { numRuns: DECODER_RUNS });
  });
  it('property: random small limits never let an oversized item through', { timeout: slowTimeout }, () => {
    fc.assert(
      fc.property(
        valueArb.map((v) => encodeCanonical(v)),
        fc.record({ maxBytes: fc.nat(64), maxDepth: fc.nat(4), maxItems: fc.nat(16), maxStringBytes: fc.nat(32) }),
        (b, limits) => {
          let info;
          try {
            info = scanCanonical(b, limits);
          } catch (e) {
            if (!(e instanceof CodecError)) throw e;
            expect(['CBOR_TOO_LONG', 'CBOR_TOO_DEEP']).toContain(e.code);
            return;
          }
          expect(b.length).toBeLessThanOrEqual(limits.maxBytes);
          expect(info.items).toBeLessThanOrEqual(limits.maxItems);
        },
      ),
      { numRuns: slowRuns(5000) },
    );
  });
});

describe('PROTOCOL.d/40-cbor.md', () => {
  it('every example row agrees with the vector files and the decoder', () => {
    const doc = readFileSync(new URL('../PROTOCOL.d/40-cbor.md', import.meta.url), 'utf8');
    const rfc = JSON.parse(readFileSync(new URL('../test/vectors/cbor-rfc8949.json', import.meta.url), 'utf8')) as {
      accepted: { hex: string }[];
      rejected: { hex: string; error: string }[];
    };
    const hostile = JSON.parse(readFileSync(new URL('../test/vectors/hostile-cbor.json', import.meta.url), 'utf8')) as {
      cbor: { hex: string; error: string }[];
    };
    const expected = new Map<string, string>([
      ...rfc.accepted.map((c) => [c.hex, 'OK'] as const),
      ...rfc.rejected.map((c) => [c.hex, c.error] as const),
      ...hostile.cbor.map((c) => [c.hex, c.error] as const),
    ]);
    const rows = [...doc.matchAll(/^\| `([0-9a-f ]+)` \| [^|]* \| (OK|CBOR_[A-Z_]+) \|$/gm)];
    expect(rows.length).toBeGreaterThan(10);
    for (const [, h = '', result] of rows) {
      const bytes = h.replace(/ /g, '');
      expect(expected.get(bytes), h).toBe(result);
      expect(codeOf(() => decodeCanonical(unhex(bytes))), h).toBe(result);
    }
  });
});
