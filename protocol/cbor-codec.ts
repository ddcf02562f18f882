/**
 * Canonical CBOR (RFC 8949 §4.2.1 core deterministic encoding) for every unicard message and
 * signed structure.
 *
 * The data model is a strict subset of CBOR: integers, byte strings, UTF-8 text strings,
 * arrays, maps with integer or text keys, true, false and null. Floats, tags, undefined,
 * other simple values and indefinite lengths are refused.
 *
 * Encoding is done by cbor-x; we hand it values it is known to encode in shortest form
 * (see `prepare`) and re-check its output with the same scanner the decoder uses.
 * Decoding first runs `scanCanonical`, a plain validating scanner (meant to be ported to C
 * line by line), and only hands the bytes to cbor-x once they are known to be canonical,
 * bounded and within the caller's limits.
 */
import { Decoder, Encoder } from 'cbor-x';
import { CodecError } from './errors.js';

/** A value of the CBOR subset unicard uses. Integers outside the JS safe range are bigints. */
export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | CborValue[]
  | Map<number | string, CborValue>;

/** Limits enforced by the decoder before anything is allocated. */
export interface CborLimits {
  /** Maximum size of the whole encoded item. Default 1,048,576. */
  maxBytes?: number;
  /** Maximum nesting of arrays and maps (a top-level array has depth 1). Default 16. */
  maxDepth?: number;
  /** Maximum number of data items in total (every key, value and element counts). Default 65,536. */
  maxItems?: number;
  /** Maximum length in bytes of one byte or text string. Default 1,048,576. */
  maxStringBytes?: number;
}

/** The limits used when the caller gives none. */
export const DEFAULT_CBOR_LIMITS: Readonly<Required<CborLimits>> = Object.freeze({
  maxBytes: 1_048_576,
  maxDepth: 16,
  maxItems: 65_536,
  maxStringBytes: 1_048_576,
});

/** Nesting beyond this is refused by the encoder (it also stops cyclic structures). */
export const ENCODE_MAX_DEPTH = 64;

/** Smallest integer we carry: the int64_t minimum, so a C port can hold every integer in int64_t/uint64_t. */
export const CBOR_INT_MIN = -(2n ** 63n);
/** Largest integer we carry: the uint64_t maximum. */
export const CBOR_INT_MAX = 2n ** 64n - 1n;

const TWO_POW_32 = 0x1_0000_0000;

// cbor-x configured for plain CBOR: no records, no tags on typed arrays, Maps stay Maps,
// map headers sized to their content. These instances hold only cbor-x's scratch buffer;
// every result is copied out, so nothing is shared between calls.
const encoder = new Encoder({
  mapsAsObjects: false,
  useRecords: false,
  variableMapSize: true,
  tagUint8Array: false,
  pack: false,
  bundleStrings: false,
  structuredClone: false,
  largeBigIntToFloat: false,
});
const decoder = new Decoder({
  mapsAsObjects: false,
  useRecords: false,
  bundleStrings: false,
  structuredClone: false,
  copyBuffers: true,
});
const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/**
 * Encode `value` in canonical CBOR.
 *
 * Integers may be given as number (safe integers) or bigint (any value in
 * [-2^63, 2^64-1]); a bigint within the safe range is encoded like the number, so it
 * decodes back as a number. Map entries may be in any order: they are written sorted.
 *
 * @throws CodecError MSG_ENCODE_INVALID for anything outside the data model (floats,
 *   unsafe numbers, out-of-range bigints, ill-formed UTF-16 strings, plain objects,
 *   undefined, holes in arrays, nesting deeper than ENCODE_MAX_DEPTH).
 */
export function encodeCanonical(value: CborValue): Uint8Array {
  const prepared = prepare(value, 0);
  let out: Uint8Array;
  try {
    // Copy: cbor-x returns a view of its reusable buffer.
    out = new Uint8Array(encoder.encode(prepared));
  } catch (e) {
    throw new CodecError('MSG_ENCODE_INVALID', `cbor-x could not encode the value: ${String(e)}`);
  }
  // Belt and braces: a cbor-x change must never silently yield non-canonical bytes, which
  // would break signatures. The scan is linear and allocation-free.
  try {
    scanCanonical(out, {
      maxBytes: Number.MAX_SAFE_INTEGER,
      maxDepth: ENCODE_MAX_DEPTH,
      maxItems: Number.MAX_SAFE_INTEGER,
      maxStringBytes: Number.MAX_SAFE_INTEGER,
    });
  } catch (e) {
    throw new CodecError('MSG_ENCODE_INVALID', 'internal: encoder output is not canonical', {
      cause: e instanceof CodecError ? e.code : String(e),
    });
  }
  return out;
}

function invalid(message: string): CodecError {
  return new CodecError('MSG_ENCODE_INVALID', message);
}

/**
 * Check `value` and return something cbor-x encodes canonically: numbers outside
 * ±2^32 become bigints (cbor-x writes such numbers as float64), safe bigints become
 * numbers (cbor-x always writes bigints with an 8-byte head), maps are rebuilt in key
 * order. Unchanged subtrees are returned as they are, so a well-formed value costs no copies.
 */
function prepare(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'number':
      if (!Number.isSafeInteger(value)) throw invalid(`not a safe integer: ${String(value)}`);
      if (value >= TWO_POW_32 || value < -TWO_POW_32) return BigInt(value);
      return value === 0 ? 0 : value; // -0 is written as 0
    case 'bigint':
      if (value < CBOR_INT_MIN || value > CBOR_INT_MAX) throw invalid(`integer out of range: ${value}`);
      if (value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)) {
        return prepare(Number(value), depth);
      }
      return value;
    case 'string':
      if (!isWellFormedUtf16(value)) throw invalid('text string contains a lone surrogate');
      return value;
    case 'boolean':
      return value;
    case 'object':
      break;
    default:
      throw invalid(`unsupported type: ${typeof value}`);
  }
  if (value === null) return null;
  if (value instanceof Uint8Array) return value;
  if (depth >= ENCODE_MAX_DEPTH) throw invalid(`nesting deeper than ${ENCODE_MAX_DEPTH}`);
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw invalid('array has a hole');
      const item: unknown = value[i];
      const p = prepare(item, depth + 1);
      if (p !== item && copy === undefined) copy = value.slice(0, i);
      if (copy !== undefined) copy.push(p);
    }
    return copy ?? value;
  }
  if (value instanceof Map) {
    const entries: [number | string, unknown][] = [];
    let changed = false;
    let prevKey: number | string | undefined;
    let sorted = true;
    for (const [k, v] of value as Map<unknown, unknown>) {
      if (typeof k === 'number') {
        if (!Number.isSafeInteger(k)) throw invalid(`map key is not a safe integer: ${String(k)}`);
      } else if (typeof k === 'string') {
        if (!isWellFormedUtf16(k)) throw invalid('map key contains a lone surrogate');
      } else {
        throw invalid(`map key must be an integer or a text string, got ${typeof k}`);
      }
      const p = prepare(v, depth + 1);
      if (p !== v || (typeof k === 'number' && k >= TWO_POW_32) || (typeof k === 'number' && k < -TWO_POW_32)) {
        changed = true;
      }
      if (prevKey !== undefined && compareKeys(prevKey, k) > 0) sorted = false;
      prevKey = k;
      entries.push([k, p]);
    }
    if (!changed && sorted) return value;
    if (!sorted) entries.sort((a, b) => compareKeys(a[0], b[0]));
    const m = new Map<number | string | bigint, unknown>();
    for (const [k, v] of entries) {
      m.set(typeof k === 'number' && (k >= TWO_POW_32 || k < -TWO_POW_32) ? BigInt(k) : k, v);
    }
    return m;
  }
  throw invalid(`unsupported object: ${Object.prototype.toString.call(value)}`);
}

/**
 * Order of two map keys by their canonical encodings, bytewise (RFC 8949 §4.2.1):
 * unsigned integers (ascending), then negative integers (-1, -2, ...), then text strings
 * (shorter UTF-8 length first, then bytewise).
 */
export function compareKeys(a: number | string, b: number | string): number {
  const ca = keyClass(a);
  const cb = keyClass(b);
  if (ca !== cb) return ca - cb;
  if (typeof a === 'number' && typeof b === 'number') return ca === 0 ? a - b : b - a;
  const ea = utf8.encode(a as string);
  const eb = utf8.encode(b as string);
  if (ea.length !== eb.length) return ea.length - eb.length;
  return compareBytes(ea, 0, ea.length, eb, 0, eb.length);
}

function keyClass(k: number | string): number {
  if (typeof k === 'string') return 3;
  return k >= 0 ? 0 : 1;
}

/** True when `s` has no unpaired surrogate, so it has an exact UTF-8 form. */
function isWellFormedUtf16(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c >= 0xdc00) return false; // low surrogate without a high one
    const d = s.charCodeAt(i + 1); // NaN past the end
    if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
    i++;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/**
 * Decode one canonical CBOR item that must fill `bytes` exactly.
 *
 * Maps come back as Map (keys number or string), byte strings as fresh Uint8Arrays (never
 * views of `bytes`), integers as number when safe and bigint otherwise.
 *
 * @throws CodecError with a CBOR_* code for anything that is not canonical CBOR of the
 *   subset, or exceeds `limits`; never any other exception.
 */
export function decodeCanonical(bytes: Uint8Array, limits?: CborLimits): CborValue {
  const view = toPlainView(bytes);
  const info = scanCanonical(view, limits);
  try {
    const value: unknown = decoder.decode(view);
    return (info.hasWideInt ? narrowInts(value) : value) as CborValue;
  } catch (e) {
    // cbor-x recurses: a caller who raised maxDepth far enough can exhaust the stack.
    if (e instanceof RangeError) throw new CodecError('CBOR_TOO_DEEP', 'nesting too deep for this runtime');
    // Otherwise unreachable for scanned input; kept so that no raw exception can escape.
    throw new CodecError('CBOR_MALFORMED', `cbor-x rejected scanned input: ${String(e)}`);
  }
}

/** cbor-x gives Buffer results for Buffer input; a plain Uint8Array view keeps results plain. */
function toPlainView(bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new CodecError('CBOR_MALFORMED', 'input is not a Uint8Array');
  }
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** cbor-x returns every 8-byte integer as bigint; our model uses number when it is safe. */
function narrowInts(v: unknown): unknown {
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = narrowInts(v[i]);
    return v;
  }
  if (v instanceof Map) {
    const m = new Map<unknown, unknown>();
    for (const [k, x] of v as Map<unknown, unknown>) m.set(narrowInts(k), narrowInts(x));
    return m;
  }
  return v;
}

/** What the scanner learned on the way. */
export interface ScanInfo {
  /** An integer with an 8-byte argument was seen (cbor-x returns those as bigint). */
  hasWideInt: boolean;
  /** Number of data items in the document. */
  items: number;
}

interface Frame {
  /** Items still to read in this container (a map of n pairs starts at 2n). */
  remaining: number;
  isMap: boolean;
  /** Byte range of the previous key, for the strictly-increasing check. */
  prevKeyStart: number;
  prevKeyEnd: number;
}

function fail(code: 'CBOR_MALFORMED' | 'CBOR_TRUNCATED' | 'CBOR_TRAILING_BYTES' | 'CBOR_NON_CANONICAL' |
  'CBOR_DUPLICATE_KEY' | 'CBOR_UNSUPPORTED' | 'CBOR_TOO_DEEP' | 'CBOR_TOO_LONG', message: string, offset: number): never {
  throw new CodecError(code, `${message} at offset ${offset}`, { offset });
}

function limitOf(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v >= 0)) throw new CodecError('CBOR_TOO_LONG', `invalid limit ${name}`);
  return v;
}

/**
 * Validate that `bytes` is exactly one canonical CBOR item of the unicard subset, within
 * `limits`, without allocating anything proportional to a declared length. Iterative (an
 * explicit stack bounded by maxDepth), so hostile nesting cannot exhaust the call stack.
 *
 * Checks, in order per data item: head well-formed and complete (CBOR_MALFORMED,
 * CBOR_TRUNCATED); major type and simple value allowed (CBOR_UNSUPPORTED); argument in
 * shortest form, definite length (CBOR_NON_CANONICAL); declared length within the limits
 * (CBOR_TOO_LONG, CBOR_TOO_DEEP) and the remaining input (CBOR_TRUNCATED); text is UTF-8
 * (CBOR_MALFORMED); map keys are integers or text and strictly increasing
 * (CBOR_NON_CANONICAL, CBOR_DUPLICATE_KEY). Finally no byte may follow the item
 * (CBOR_TRAILING_BYTES).
 *
 * @throws CodecError with a CBOR_* code and `detail.offset` of the offending byte.
 */
export function scanCanonical(bytes: Uint8Array, limits?: CborLimits): ScanInfo {
  const maxBytes = limitOf(limits?.maxBytes, DEFAULT_CBOR_LIMITS.maxBytes, 'maxBytes');
  const maxDepth = limitOf(limits?.maxDepth, DEFAULT_CBOR_LIMITS.maxDepth, 'maxDepth');
  const maxItems = limitOf(limits?.maxItems, DEFAULT_CBOR_LIMITS.maxItems, 'maxItems');
  const maxStringBytes = limitOf(limits?.maxStringBytes, DEFAULT_CBOR_LIMITS.maxStringBytes, 'maxStringBytes');

  const len = bytes.length;
  if (len > maxBytes) fail('CBOR_TOO_LONG', `input of ${len} bytes exceeds maxBytes ${maxBytes}`, 0);
  if (len === 0) fail('CBOR_TRUNCATED', 'empty input', 0);
  if (maxItems < 1) fail('CBOR_TOO_LONG', 'maxItems is 0', 0);

  const stack: Frame[] = [];
  let pos = 0;
  let items = 1; // the top-level item
  let hasWideInt = false;

  for (;;) {
    const start = pos;
    if (pos >= len) fail('CBOR_TRUNCATED', 'input ends before the item', pos);
    const top = stack.length > 0 ? stack[stack.length - 1] : undefined;
    const isKey = top !== undefined && top.isMap && top.remaining % 2 === 0;

    const ib = bytes[pos] as number;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    pos++;

    // --- major type 7: only false, true, null ---
    if (major === 7) {
      if (ai === 20 || ai === 21 || ai === 22) {
        if (isKey) fail('CBOR_UNSUPPORTED', 'map key must be an integer or a text string', start);
      } else if (ai === 24) {
        if (pos >= len) fail('CBOR_TRUNCATED', 'simple value truncated', start);
        if ((bytes[pos] as number) < 32) fail('CBOR_MALFORMED', 'two-byte simple value below 32', start);
        fail('CBOR_UNSUPPORTED', 'simple value', start);
      } else if (ai >= 25 && ai <= 27) {
        fail('CBOR_UNSUPPORTED', 'floating-point numbers are not allowed', start);
      } else if (ai === 31) {
        fail('CBOR_MALFORMED', 'break outside an indefinite-length item', start);
      } else if (ai >= 28) {
        fail('CBOR_MALFORMED', 'reserved additional information', start);
      } else {
        fail('CBOR_UNSUPPORTED', ai === 23 ? 'undefined is not allowed' : 'simple value', start);
      }
    } else {
      // --- read the argument: value in argHi * 2^32 + argLo ---
      if (ai >= 28 && ai <= 30) fail('CBOR_MALFORMED', 'reserved additional information', start);
      if (ai === 31) {
        if (major >= 2 && major <= 5) fail('CBOR_NON_CANONICAL', 'indefinite length', start);
        fail('CBOR_MALFORMED', 'indefinite length on an integer or tag', start);
      }
      let argHi = 0;
      let argLo = 0;
      if (ai < 24) {
        argLo = ai;
      } else {
        const n = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : 8;
        if (len - pos < n) fail('CBOR_TRUNCATED', 'head truncated', start);
        if (n === 8) {
          argHi = readU32(bytes, pos);
          argLo = readU32(bytes, pos + 4);
        } else {
          for (let i = 0; i < n; i++) argLo = argLo * 256 + (bytes[pos + i] as number);
        }
        pos += n;
        // Shortest form: each width is only allowed for values the narrower one cannot hold.
        const shortest = ai === 24 ? argLo >= 24 : ai === 25 ? argLo >= 0x100 : ai === 26 ? argLo >= 0x10000 : argHi > 0;
        if (!shortest) fail('CBOR_NON_CANONICAL', 'integer or length not in shortest form', start);
      }
      if (major === 6) fail('CBOR_UNSUPPORTED', 'tags are not allowed', start);
      if (isKey && major !== 0 && major !== 1 && major !== 3) {
        fail('CBOR_UNSUPPORTED', 'map key must be an integer or a text string', start);
      }
      switch (major) {
        case 0:
        case 1:
          if (ai === 27) {
            if (major === 1 && argHi >= 0x8000_0000) fail('CBOR_UNSUPPORTED', 'negative integer below -2^63', start);
            // Keys decode to numbers, so they must be safe integers (|value| <= 2^53 - 1).
            const unsafe = argHi > 0x1f_ffff || (major === 1 && argHi === 0x1f_ffff && argLo === 0xffff_ffff);
            if (isKey && unsafe) fail('CBOR_UNSUPPORTED', 'map key outside the safe integer range', start);
            hasWideInt = true;
          }
          break;
        case 2:
        case 3: {
          if (argHi > 0 || argLo > maxStringBytes) {
            fail('CBOR_TOO_LONG', 'string longer than maxStringBytes', start);
          }
          if (argLo > len - pos) fail('CBOR_TRUNCATED', 'string runs past the end of the input', start);
          if (major === 3 && !isValidUtf8(bytes, pos, pos + argLo)) {
            fail('CBOR_MALFORMED', 'text string is not valid UTF-8', start);
          }
          pos += argLo;
          break;
        }
        case 4:
        case 5: {
          if (stack.length + 1 > maxDepth) fail('CBOR_TOO_DEEP', `nesting deeper than maxDepth ${maxDepth}`, start);
          // Children to come: n for an array, 2n for a map. Every child takes at least one byte.
          const children = argHi > 0 ? Infinity : major === 5 ? argLo * 2 : argLo;
          if (children > maxItems - items) fail('CBOR_TOO_LONG', `more than maxItems ${maxItems} items`, start);
          if (children > len - pos) fail('CBOR_TRUNCATED', 'container declares more items than bytes remain', start);
          items += children;
          if (children > 0) {
            stack.push({ remaining: children, isMap: major === 5, prevKeyStart: -1, prevKeyEnd: -1 });
            continue; // read the first child; this container completes when its children do
          }
          break;
        }
      }
    }

    // The item [start, pos) is complete. A key is compared with the previous key of its map.
    if (isKey && top !== undefined) {
      if (top.prevKeyStart >= 0) {
        const c = compareBytes(bytes, top.prevKeyStart, top.prevKeyEnd, bytes, start, pos);
        if (c === 0) fail('CBOR_DUPLICATE_KEY', 'duplicate map key', start);
        if (c > 0) fail('CBOR_NON_CANONICAL', 'map keys not in canonical order', start);
      }
      top.prevKeyStart = start;
      top.prevKeyEnd = pos;
    }
    // Pop every container this item completes.
    for (;;) {
      const f = stack[stack.length - 1];
      if (f === undefined) {
        if (pos !== len) fail('CBOR_TRAILING_BYTES', `${len - pos} bytes after the item`, pos);
        return { hasWideInt, items };
      }
      f.remaining--;
      if (f.remaining > 0) break;
      stack.pop();
    }
  }
}

function readU32(b: Uint8Array, p: number): number {
  return ((b[p] as number) * 0x100_0000) + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number));
}

/** Bytewise lexicographic comparison of a[as, ae) and b[bs, be); a proper prefix sorts first. */
function compareBytes(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  const n = Math.min(ae - as, be - bs);
  for (let i = 0; i < n; i++) {
    const d = (a[as + i] as number) - (b[bs + i] as number);
    if (d !== 0) return d;
  }
  return (ae - as) - (be - bs);
}

/**
 * Strict UTF-8 check (Unicode Table 3-7): no overlong forms, no surrogates (U+D800..DFFF),
 * nothing above U+10FFFF, no truncated sequences.
 */
export function isValidUtf8(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // overlong
      if (c === 0xed) hi = 0x9f; // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90; // overlong
      if (c === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return false;
    if (end - i - 1 < need) return false;
    const c1 = b[i + 1] as number;
    if (c1 < lo || c1 > hi) return false;
    for (let k = 2; k <= need; k++) {
      const ck = b[i + k] as number;
      if (ck < 0x80 || ck > 0xbf) return false;
    }
    i += need + 1;
  }
  return true;
}
