import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../test/support/fuzz.js';
import {
  DEFAULT_MATCH_THRESHOLD,
  DEFAULT_MAX_NOISE_BITS,
  hammingDistance,
  newTemplate,
  noisyCapture,
  TEMPLATE_BYTES,
  templateMatches,
} from './fingerprint-template.js';
import { randomInt, seededRandomBytes } from './random.js';

describe('fingerprint templates', () => {
  it('counts differing bits', () => {
    expect(hammingDistance(new Uint8Array([0xff, 0x00]), new Uint8Array([0x0f, 0x01]))).toBe(5);
    expect(hammingDistance(new Uint8Array(64), new Uint8Array(64))).toBe(0);
    expect(hammingDistance(new Uint8Array(2), new Uint8Array(3))).toBe(Infinity);
    expect(templateMatches(new Uint8Array(64), new Uint8Array(63))).toBe(false);
  });

  it('property: a noisy capture of a template matches it, flipping at most the noise bound', () => {
    fc.assert(
      fc.property(fc.string(), (seed) => {
        const random = seededRandomBytes(seed);
        const t = newTemplate(random);
        expect(t).toHaveLength(TEMPLATE_BYTES);
        const c = noisyCapture(t, random);
        expect(hammingDistance(t, c)).toBeLessThanOrEqual(DEFAULT_MAX_NOISE_BITS);
        expect(templateMatches(t, c)).toBe(true);
      }),
      { numRuns: fuzzRuns(500) },
    );
  });

  it('property: a different finger (random bytes) does not match', () => {
    fc.assert(
      fc.property(fc.string(), (seed) => {
        const random = seededRandomBytes(seed);
        const t = newTemplate(random);
        expect(templateMatches(t, random(TEMPLATE_BYTES))).toBe(false);
        expect(templateMatches(t, noisyCapture(newTemplate(random), random))).toBe(false);
      }),
      { numRuns: fuzzRuns(500) },
    );
  });

  it('the threshold sits far from both distributions', () => {
    // Mean distance of unrelated 512-bit strings is 256 with sd ≈ 11.3: 80 is > 15 sd away.
    expect(DEFAULT_MATCH_THRESHOLD).toBeGreaterThan(DEFAULT_MAX_NOISE_BITS * 2);
    expect(256 - DEFAULT_MATCH_THRESHOLD).toBeGreaterThan(15 * Math.sqrt(512 / 4));
  });

  it('randomInt stays in range and refuses bad bounds', () => {
    const random = seededRandomBytes('x');
    for (let i = 0; i < 200; i++) {
      const v = randomInt(random, 7);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(7);
    }
    expect(() => randomInt(random, 0)).toThrow(RangeError);
    expect(() => randomInt(random, 1.5)).toThrow(RangeError);
  });

  it('seeded randomness is reproducible and differs by seed', () => {
    expect(seededRandomBytes('a')(100)).toEqual(seededRandomBytes('a')(100));
    expect(seededRandomBytes('a')(100)).not.toEqual(seededRandomBytes('b')(100));
    const r = seededRandomBytes('a');
    const joined = new Uint8Array([...r(10), ...r(90)]);
    expect(joined).toEqual(seededRandomBytes('a')(100));
  });
});
