/**
 * The simulated biometrics. A member's enrolled template is a random 512-bit string; a
 * capture of that member's finger is the template with a few bits flipped (sensor noise);
 * a stranger's finger is fresh random bits. Match-on-card compares by Hamming distance:
 * two captures of the same finger differ in a handful of bits, two different fingers in
 * about half of them (mean 256, standard deviation ≈ 11.3), so a threshold far between the
 * two gives no false accepts in practice.
 */
import { randomInt, type RandomBytes } from './random.js';

/** Template and capture size in bytes (512 bits). */
export const TEMPLATE_BYTES = 64;
/** A capture matches when its Hamming distance to the template is below this (bits). */
export const DEFAULT_MATCH_THRESHOLD = 80;
/** Most bits a genuine capture differs from its template by (default sensor noise). */
export const DEFAULT_MAX_NOISE_BITS = 16;

/** A fresh enrolment template. */
export function newTemplate(random: RandomBytes): Uint8Array {
  return random(TEMPLATE_BYTES);
}

/** A capture of the finger enrolled as `template`: a copy with 0..maxFlips distinct bits flipped. */
export function noisyCapture(
  template: Uint8Array,
  random: RandomBytes,
  maxFlips = DEFAULT_MAX_NOISE_BITS,
): Uint8Array {
  const out = Uint8Array.from(template);
  const bits = out.length * 8;
  const flips = randomInt(random, Math.min(maxFlips, bits) + 1);
  const flipped = new Set<number>();
  while (flipped.size < flips) flipped.add(randomInt(random, bits));
  for (const bit of flipped) out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/** Number of differing bits; inputs of different length never match (returns Infinity). */
export function hammingDistance(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    let x = a[i]! ^ b[i]!;
    while (x) {
      x &= x - 1;
      d++;
    }
  }
  return d;
}

/** True when `capture` is close enough to `template` to be the same finger. */
export function templateMatches(template: Uint8Array, capture: Uint8Array, threshold = DEFAULT_MATCH_THRESHOLD): boolean {
  return hammingDistance(template, capture) < threshold;
}
