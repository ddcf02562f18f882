/**
 * A small canonical CBOR writer for the ledger's own hot path (receipt bodies): heads in
 * shortest form, definite lengths, and the caller writes map keys in ascending order. It
 * produces exactly what protocol/cbor-codec's encodeCanonical produces for the same value
 * (a property test checks this), at a fraction of the cost: a receipt is written on every
 * commit. Only unsigned integers, byte strings, text strings, arrays and maps are supported.
 */

const utf8 = new TextEncoder();
// A lone surrogate (high not followed by low, or low not preceded by high).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Appends canonical CBOR items to a growing buffer. */
export class CborWriter {
  private buf: Uint8Array;
  private len = 0;

  constructor(capacity = 1024) {
    this.buf = new Uint8Array(capacity);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** A head: major type (0..7) and argument, in the shortest form. */
  head(major: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`CBOR argument out of range: ${value}`);
    const m = major << 5;
    this.reserve(9);
    const b = this.buf;
    let i = this.len;
    if (value < 24) b[i++] = m | value;
    else if (value < 0x100) {
      b[i++] = m | 24;
      b[i++] = value;
    } else if (value < 0x10000) {
      b[i++] = m | 25;
      b[i++] = value >>> 8;
      b[i++] = value & 0xff;
    } else if (value < 0x1_0000_0000) {
      b[i++] = m | 26;
      b[i++] = value >>> 24;
      b[i++] = (value >>> 16) & 0xff;
      b[i++] = (value >>> 8) & 0xff;
      b[i++] = value & 0xff;
    } else {
      b[i++] = m | 27;
      const hi = Math.floor(value / 0x1_0000_0000);
      const lo = value >>> 0;
      b[i++] = hi >>> 24;
      b[i++] = (hi >>> 16) & 0xff;
      b[i++] = (hi >>> 8) & 0xff;
      b[i++] = hi & 0xff;
      b[i++] = lo >>> 24;
      b[i++] = (lo >>> 16) & 0xff;
      b[i++] = (lo >>> 8) & 0xff;
      b[i++] = lo & 0xff;
    }
    this.len = i;
    return this;
  }

  /** An unsigned integer (0 ≤ v ≤ 2^53 − 1). */
  uint(v: number): this {
    return this.head(0, v);
  }

  /** A byte string. */
  bytes(v: Uint8Array): this {
    this.head(2, v.length);
    this.reserve(v.length);
    this.buf.set(v, this.len);
    this.len += v.length;
    return this;
  }

  /** A text string (UTF-8). Lone surrogates are refused, as the canonical encoder refuses them. */
  text(v: string): this {
    if (LONE_SURROGATE.test(v)) throw new RangeError('text string contains a lone surrogate');
    const bytes = utf8.encode(v);
    this.head(3, bytes.length);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
    return this;
  }

  /** An array header of `n` items (write the items next). */
  array(n: number): this {
    return this.head(4, n);
  }

  /** A map header of `n` pairs (write keys in ascending canonical order, each followed by its value). */
  map(n: number): this {
    return this.head(5, n);
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
