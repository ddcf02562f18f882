import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../test/support/fuzz.js';
import { crc32c } from './crc32c.js';

interface CrcVectors {
  source: string;
  cases: { name: string; inputHex: string; crc: string; wireBytesLittleEndianHex: string }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('../test/vectors/crc32c.json', import.meta.url), 'utf8'),
) as CrcVectors;
const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** Bit-at-a-time CRC-32C straight from the parameters: independent of the table-driven package. */
function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('names its source', () => {
    expect(vectors.source).toMatch(/RFC 3720/);
    expect(vectors.cases.length).toBeGreaterThanOrEqual(6);
  });

  for (const c of vectors.cases) {
    it(`vector: ${c.name}`, () => {
      const input = fromHex(c.inputHex);
      const expected = Number.parseInt(c.crc, 16);
      expect(crc32c(input)).toBe(expected);
      expect(referenceCrc32c(input)).toBe(expected);
      // The frame trailer is this value little-endian, which is also how iSCSI sends it.
      const le = Buffer.alloc(4);
      le.writeUInt32LE(expected);
      expect(le.toString('hex')).toBe(c.wireBytesLittleEndianHex);
    });
  }

  it('is unsigned', () => {
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.of(0x80))).toBeGreaterThanOrEqual(0);
  });

  it('property: agrees with the bitwise reference on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(crc32c(bytes)).toBe(referenceCrc32c(bytes));
      }),
      { numRuns: fuzzRuns(2000) },
    );
  });
});
