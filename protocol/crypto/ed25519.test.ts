import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { CryptoError } from '../errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { fromHex, toHex } from './bytes.js';
import { fastestEd25519, isCanonicalS, NodeEd25519, SodiumEd25519, TweetnaclEd25519, VerifiedSignatureCache, type Ed25519 } from './ed25519.js';

const vectorsDir = new URL('../../test/vectors/', import.meta.url);
const readJson = (name: string): unknown => JSON.parse(readFileSync(new URL(name, vectorsDir), 'utf8'));

interface Rfc8032Case { priv: string; pub: string; msg: string; sig: string }
interface WycheproofEd25519 {
  numberOfTests: number;
  testGroups: { publicKey: { pk: string }; tests: { tcId: number; msg: string; sig: string; result: 'valid' | 'invalid'; flags: string[] }[] }[];
}

const rfc = readJson('rfc8032-ed25519.json') as Rfc8032Case[];
const wycheproof = readJson('wycheproof-ed25519.json') as WycheproofEd25519;
// The daemon's libsodium must load here (CI too): a missing addon fails these tests with its
// reason instead of silently testing the fallback only.
const sodiumEd = SodiumEd25519.create();
if (sodiumEd === undefined) throw new Error(`sodium-native did not load: ${SodiumEd25519.unavailableReason}`);
const nodeEd = new NodeEd25519();
const naclEd = new TweetnaclEd25519();
const impls: Ed25519[] = [sodiumEd, nodeEd, naclEd];
// tweetnacl needs ~10 ms per operation: under `make fuzz` these properties run 1/100 of the
// long count (10,000 at 1,000,000), which still finishes in minutes.
const slowRuns = (defaultRuns: number): number => Math.max(defaultRuns, Math.floor(fuzzRuns(defaultRuns) / 100));

// L = 2^252 + 27742317777372353535851937790883648493
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
function readLe(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] as number);
  return v;
}
function writeLe(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** The signature with S + L in place of S (the classic malleation), when that still fits 32 bytes. */
function withSPlusL(sig: Uint8Array): Uint8Array | undefined {
  const s = readLe(sig.subarray(32));
  if (s + L >= 1n << 256n) return undefined;
  const malleable = new Uint8Array(sig);
  malleable.set(writeLe(s + L, 32), 32);
  return malleable;
}

describe('Ed25519 RFC 8032 §7.1', () => {
  it('has the three published cases', () => {
    expect(rfc).toHaveLength(3);
  });
  for (const ed of impls) {
    it.each(rfc.map((c, i) => [i + 1, c] as const))(`${ed.name}: test %i gives the published key and signature`, (_n, c) => {
      const seed = fromHex(c.priv);
      const msg = fromHex(c.msg);
      expect(toHex(ed.publicKeyFromSeed(seed))).toBe(c.pub);
      expect(toHex(ed.sign(seed, msg))).toBe(c.sig);
      expect(ed.verify(fromHex(c.pub), msg, fromHex(c.sig))).toBe(true);
    });
  }
  it('all implementations give byte-identical signatures', () => {
    for (const c of rfc) {
      const [first, ...rest] = impls.map((ed) => ed.sign(fromHex(c.priv), fromHex(c.msg)));
      for (const sig of rest) expect(sig).toEqual(first);
    }
  });
});

describe('Ed25519 Wycheproof (151 cases)', () => {
  const cases = wycheproof.testGroups.flatMap((g) => g.tests.map((t) => ({ pk: g.publicKey.pk, ...t })));
  it('has all 151 cases', () => {
    expect(cases).toHaveLength(151);
    expect(wycheproof.numberOfTests).toBe(151);
  });
  for (const ed of impls) {
    it(`${ed.name} gives the expected result on every case`, () => {
      const wrong = cases.filter((c) => ed.verify(fromHex(c.pk), fromHex(c.msg), fromHex(c.sig)) !== (c.result === 'valid'));
      expect(wrong.map((c) => c.tcId)).toEqual([]);
    });
  }
  it('plain tweetnacl (without our S < L check) accepts exactly tcId 63–66 and 85', () => {
    const accepted = cases.filter((c) => {
      const pk = fromHex(c.pk);
      const sig = fromHex(c.sig);
      return sig.length === 64 && c.result === 'invalid' && nacl.sign.detached.verify(fromHex(c.msg), sig, pk);
    });
    expect(accepted.map((c) => c.tcId)).toEqual([63, 64, 65, 66, 85]);
  });
  it('the malleable cases (tcId 63–66, 85) are the ones the S < L check catches', () => {
    const caught = cases.filter((c) => fromHex(c.sig).length === 64 && !isCanonicalS(fromHex(c.sig))).map((c) => c.tcId);
    expect(caught).toEqual(expect.arrayContaining([63, 64, 65, 66, 85]));
    for (const c of cases.filter((x) => caught.includes(x.tcId))) expect(c.result).toBe('invalid');
  });
});

describe('isCanonicalS', () => {
  const sig = (s: bigint): Uint8Array => {
    const out = new Uint8Array(64);
    out.set(writeLe(s, 32), 32);
    return out;
  };
  it('accepts 0 and L-1, rejects L, L+1 and 2^256-1', () => {
    expect(isCanonicalS(sig(0n))).toBe(true);
    expect(isCanonicalS(sig(L - 1n))).toBe(true);
    expect(isCanonicalS(sig(L))).toBe(false);
    expect(isCanonicalS(sig(L + 1n))).toBe(false);
    expect(isCanonicalS(sig((1n << 256n) - 1n))).toBe(false);
  });
  it('rejects wrong lengths', () => {
    expect(isCanonicalS(new Uint8Array(63))).toBe(false);
    expect(isCanonicalS(new Uint8Array(65))).toBe(false);
  });
});

describe('Ed25519 bad inputs', () => {
  const seed = new Uint8Array(32).fill(7);
  for (const ed of impls) {
    it(`${ed.name}: wrong seed lengths throw KEY_INVALID`, () => {
      for (const n of [0, 31, 33, 64]) {
        expect(() => ed.sign(new Uint8Array(n), new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
        expect(() => ed.publicKeyFromSeed(new Uint8Array(n))).toThrow(CryptoError);
      }
      expect(() => ed.sign('x' as unknown as Uint8Array, new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
    });
    it(`${ed.name}: wrong key or signature lengths verify false`, () => {
      const pk = ed.publicKeyFromSeed(seed);
      const msg = new Uint8Array([1, 2, 3]);
      const s = ed.sign(seed, msg);
      expect(ed.verify(pk, msg, s)).toBe(true);
      expect(ed.verify(pk.subarray(0, 31), msg, s)).toBe(false);
      expect(ed.verify(new Uint8Array([...pk, 0]), msg, s)).toBe(false);
      expect(ed.verify(pk, msg, s.subarray(0, 63))).toBe(false);
      expect(ed.verify(pk, msg, new Uint8Array([...s, 0]))).toBe(false);
      expect(ed.verify(new Uint8Array(32), msg, s)).toBe(false);
      expect(ed.verify(new Uint8Array(32).fill(0xff), msg, s)).toBe(false);
      expect(ed.verify(pk, msg, new Uint8Array(64))).toBe(false);
    });
  }
  it('node:crypto keeps its public-key cache bounded', () => {
    const ed = new NodeEd25519({ publicKeyCacheSize: 8 });
    const msg = new Uint8Array([9]);
    for (let i = 0; i < 20; i++) {
      const sd = new Uint8Array(32).fill(i);
      expect(ed.verify(ed.publicKeyFromSeed(sd), msg, ed.sign(sd, msg))).toBe(true);
    }
    expect(ed.cachedPublicKeys).toBe(8);
  });
});

describe('Ed25519 property: the implementations agree', () => {
  it('fastestEd25519 is libsodium here, and node:crypto only when the addon cannot load', () => {
    expect(fastestEd25519().name).toBe('libsodium');
    expect(SodiumEd25519.unavailableReason).toBeUndefined();
    // A process where the addon does not load (a preload makes require throw, as on a platform
    // without a prebuilt binary): node:crypto, with the reason, and it still signs and verifies.
    const code = `const m = await import('./protocol/crypto/ed25519.ts'); const ed = m.fastestEd25519(); const seed = new Uint8Array(32).fill(1); const msg = new Uint8Array([1, 2]); console.log(JSON.stringify({ name: ed.name, reason: m.SodiumEd25519.unavailableReason, ok: ed.verify(ed.publicKeyFromSeed(seed), msg, ed.sign(seed, msg)) }));`;
    const out = execFileSync(process.execPath, ['--require', fileURLToPath(new URL('../../test/support/no-sodium.cjs', import.meta.url)), '--import', 'tsx', '--input-type=module', '-e', code], { cwd: fileURLToPath(new URL('../../', import.meta.url)), encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(out.trim())).toEqual({ name: 'node:crypto', reason: 'No native build was found for this platform (test preload)', ok: true });
  });
  it('property: libsodium and node:crypto give the same keys, signatures and verdicts, S+L and flipped bits refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), fc.nat(63), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (seed, msg, flip, junkKey, junkSig) => {
        const pk = nodeEd.publicKeyFromSeed(seed);
        expect(sodiumEd.publicKeyFromSeed(seed)).toEqual(pk);
        const sig = sodiumEd.sign(seed, msg);
        expect(nodeEd.sign(seed, msg)).toEqual(sig);
        expect(sodiumEd.verify(pk, msg, sig)).toBe(true);
        const malleable = withSPlusL(sig);
        if (malleable !== undefined) expect(sodiumEd.verify(pk, msg, malleable)).toBe(false);
        const bad = new Uint8Array(sig);
        bad[flip] = (bad[flip] as number) ^ 1;
        expect(sodiumEd.verify(pk, msg, bad)).toBe(false);
        // Random keys and signatures (most keys are not even curve points): the same verdict.
        expect(sodiumEd.verify(junkKey, msg, junkSig)).toBe(nodeEd.verify(junkKey, msg, junkSig));
        expect(sodiumEd.verify(pk, msg, junkSig)).toBe(nodeEd.verify(pk, msg, junkSig));
      }),
      { numRuns: fuzzRuns(2000) },
    );
  });
  it('property: same keys, same signatures, same verdicts; S+L rejected by both', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), fc.nat(63), (seed, msg, flip) => {
        const pk = nodeEd.publicKeyFromSeed(seed);
        expect(naclEd.publicKeyFromSeed(seed)).toEqual(pk);
        const sig = nodeEd.sign(seed, msg);
        expect(naclEd.sign(seed, msg)).toEqual(sig);
        expect(nodeEd.verify(pk, msg, sig)).toBe(true);
        expect(naclEd.verify(pk, msg, sig)).toBe(true);
        // S + L: same point equation, different bytes — must be refused.
        const malleable = withSPlusL(sig);
        if (malleable !== undefined) {
          expect(nodeEd.verify(pk, msg, malleable)).toBe(false);
          expect(naclEd.verify(pk, msg, malleable)).toBe(false);
        }
        // One flipped bit anywhere in the signature: both say no.
        const bad = new Uint8Array(sig);
        bad[flip] = (bad[flip] as number) ^ 1;
        expect(nodeEd.verify(pk, msg, bad)).toBe(false);
        expect(naclEd.verify(pk, msg, bad)).toBe(false);
      }),
      { numRuns: slowRuns(100) },
    );
  });
  it('property: random key/message/signature bytes get the same verdict from both', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (pk, msg, sig) => {
        expect(naclEd.verify(pk, msg, sig)).toBe(nodeEd.verify(pk, msg, sig));
      }),
      { numRuns: slowRuns(100) },
    );
  });
});

describe('VerifiedSignatureCache', () => {
  /** The real node:crypto implementation, counting the curve checks it is asked for. */
  class CountingEd25519 extends NodeEd25519 {
    verifies = 0;
    override verify(p: Uint8Array, m: Uint8Array, s: Uint8Array): boolean {
      this.verifies++;
      return super.verify(p, m, s);
    }
  }
  const cases = wycheproof.testGroups.flatMap((g) => g.tests.map((t) => ({ pk: g.publicKey.pk, ...t })));

  it('gives the expected result on every Wycheproof case, asked twice', () => {
    const cache = new VerifiedSignatureCache(new NodeEd25519());
    for (const round of [1, 2]) {
      const wrong = cases.filter((c) => cache.verify(fromHex(c.pk), fromHex(c.msg), fromHex(c.sig)) !== (c.result === 'valid'));
      expect({ round, wrong: wrong.map((c) => c.tcId) }).toEqual({ round, wrong: [] });
    }
  });

  it('checks a signature on the curve once, then answers from memory; failures are never remembered', () => {
    const inner = new CountingEd25519();
    const cache = new VerifiedSignatureCache(inner);
    const seed = new Uint8Array(32).fill(3);
    const pk = inner.publicKeyFromSeed(seed);
    const msg = new Uint8Array([1, 2, 3, 4]);
    const sig = inner.sign(seed, msg);
    expect(cache.verify(pk, msg, sig)).toBe(true);
    expect(cache.verify(pk, msg, sig)).toBe(true);
    expect(inner.verifies).toBe(1);
    const forged = Uint8Array.from(sig);
    forged[0] = (forged[0] as number) ^ 1;
    expect(cache.verify(pk, msg, forged)).toBe(false);
    expect(cache.verify(pk, msg, forged)).toBe(false);
    expect(inner.verifies).toBe(3);
    // A remembered signature does not vouch for another message or another key.
    expect(cache.verify(pk, new Uint8Array([1, 2, 3, 5]), sig)).toBe(false);
    expect(cache.verify(inner.publicKeyFromSeed(new Uint8Array(32).fill(4)), msg, sig)).toBe(false);
    expect(cache.verify(pk, msg, sig.subarray(0, 63))).toBe(false);
  });

  it('keeps at most `capacity` signatures, dropping the least recently used', () => {
    const inner = new CountingEd25519();
    const cache = new VerifiedSignatureCache(inner, 2);
    const seed = new Uint8Array(32).fill(9);
    const pk = inner.publicKeyFromSeed(seed);
    const signed = [1, 2, 3].map((n) => ({ m: new Uint8Array([n]), s: inner.sign(seed, new Uint8Array([n])) }));
    const [a, b, c] = signed as [typeof signed[0], typeof signed[0], typeof signed[0]];
    cache.verify(pk, a.m, a.s);
    cache.verify(pk, b.m, b.s);
    cache.verify(pk, a.m, a.s); // a is now the most recent
    cache.verify(pk, c.m, c.s); // evicts b
    expect(cache.size).toBe(2);
    const before = inner.verifies;
    cache.verify(pk, a.m, a.s);
    expect(inner.verifies).toBe(before);
    cache.verify(pk, b.m, b.s);
    expect(inner.verifies).toBe(before + 1);
  });
});
