/**
 * Randomness for the simulated terminal and the issuer toolkit, injected as a function so
 * tests can replay exactly the same card keys, templates and bit flips.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Returns `n` random bytes. */
export type RandomBytes = (n: number) => Uint8Array;

/** Cryptographically secure randomness from the OS (node:crypto). */
export const systemRandomBytes: RandomBytes = (n) => new Uint8Array(randomBytes(n));

/**
 * A deterministic byte stream for tests: SHA-256(seed ‖ counter) blocks. Not for keys that
 * protect anything real; it exists so a test run can be reproduced bit for bit.
 */
export function seededRandomBytes(seed: string | Uint8Array): RandomBytes {
  const seedBytes = typeof seed === 'string' ? new TextEncoder().encode(seed) : seed;
  let counter = 0;
  let pool = new Uint8Array(0);
  let pos = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (pos === pool.length) {
        const ctr = Buffer.alloc(8);
        ctr.writeBigUInt64BE(BigInt(counter++));
        pool = new Uint8Array(createHash('sha256').update(seedBytes).update(ctr).digest());
        pos = 0;
      }
      out[i] = pool[pos++]!;
    }
    return out;
  };
}

/** Uniform integer in [0, bound) from `random` (rejection sampling, no modulo bias). */
export function randomInt(random: RandomBytes, bound: number): number {
  if (!Number.isInteger(bound) || bound <= 0 || bound > 2 ** 32) throw new RangeError('bound out of range');
  const limit = Math.floor(2 ** 32 / bound) * bound;
  for (;;) {
    const b = random(4);
    const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (v < limit) return v % bound;
  }
}
