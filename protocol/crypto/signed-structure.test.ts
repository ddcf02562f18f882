import nacl from 'tweetnacl';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCanonical, type CborValue } from '../cbor-codec.js';
import { CryptoError, UnicardError } from '../errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { concatBytes, sha512, toHex, utf8 } from './bytes.js';
import { ALL_DOMAINS, Domain, isDomain } from './domains.js';
import { NodeEd25519, TweetnaclEd25519 } from './ed25519.js';
import {
  decodeSignedStructure,
  encodeBody,
  encodeSignedStructure,
  keyIdHex,
  keyIdOf,
  lookupTrustedKey,
  signedBytes,
  signStructure,
  verifyStructure,
} from './signed-structure.js';

const ed = new NodeEd25519();
const seed = new Uint8Array(32).fill(0x42);
const pub = ed.publicKeyFromSeed(seed);
const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof UnicardError) return e.code;
    throw e;
  }
};

describe('domains', () => {
  it('are the registered unicard/v1 strings, ASCII without NUL, all distinct', () => {
    expect(ALL_DOMAINS).toEqual([
      'unicard/v1/card-cert',
      'unicard/v1/device-cert',
      'unicard/v1/card-auth',
      'unicard/v1/holder-verify',
      'unicard/v1/handshake',
      'unicard/v1/firmware',
      'unicard/v1/roster',
      'unicard/v1/policy',
      'unicard/v1/revocation',
      'unicard/v1/receipt',
    ]);
    expect(new Set(ALL_DOMAINS).size).toBe(ALL_DOMAINS.length);
    for (const d of ALL_DOMAINS) expect(d).toMatch(/^[\x21-\x7e]+$/);
    expect(isDomain('unicard/v1/policy')).toBe(true);
    expect(isDomain('unicard/v2/policy')).toBe(false);
  });
  it('no domain is a prefix of another (the 0x00 separator makes this moot, but keep it obvious)', () => {
    for (const a of ALL_DOMAINS) for (const b of ALL_DOMAINS) if (a !== b) expect(b.startsWith(`${a}\u0000`)).toBe(false);
  });
});

describe('key id', () => {
  it('is the first 8 bytes of SHA-512(public key), with nacl.hash and node:crypto alike', () => {
    expect(keyIdOf(pub)).toEqual(nacl.hash(pub).slice(0, 8));
    expect(keyIdOf(pub)).toEqual(sha512(pub).slice(0, 8));
    expect(keyIdHex(pub)).toBe(toHex(sha512(pub).slice(0, 8)));
    expect(() => keyIdOf(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }));
  });
  it('lookupTrustedKey refuses a key stored under another id', () => {
    const other = ed.publicKeyFromSeed(new Uint8Array(32).fill(1));
    const map = new Map([[keyIdHex(pub), other]]);
    expect(lookupTrustedKey(map, keyIdOf(pub))).toBeUndefined();
    expect(lookupTrustedKey(new Map([[keyIdHex(pub), pub]]), keyIdOf(pub))).toEqual(pub);
    expect(lookupTrustedKey((id) => (toHex(id) === keyIdHex(pub) ? pub : undefined), keyIdOf(pub))).toEqual(pub);
    expect(lookupTrustedKey(() => new Uint8Array(5), keyIdOf(pub))).toBeUndefined();
  });
  it('sha512 agrees with nacl.hash on random inputs', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      expect(sha512(b)).toEqual(nacl.hash(b));
    }), { numRuns: fuzzRuns(200) });
  });
});

describe('signStructure / verifyStructure', () => {
  const fields = new Map<number, CborValue>([[1, 'hello'], [2, 7]]);
  it('signs UTF-8(domain) ‖ 0x00 ‖ canonical CBOR {0: domain, ...fields}', () => {
    const s = signStructure(ed, seed, Domain.policy, fields);
    expect(s.body).toEqual(encodeCanonical(new Map<number, CborValue>([[0, Domain.policy], [1, 'hello'], [2, 7]])));
    expect(signedBytes(Domain.policy, s.body)).toEqual(concatBytes(utf8('unicard/v1/policy'), new Uint8Array([0]), s.body));
    expect(ed.verify(pub, signedBytes(Domain.policy, s.body), s.signature)).toBe(true);
    const map = verifyStructure(new TweetnaclEd25519(), pub, Domain.policy, s);
    expect(map.get(1)).toBe('hello');
  });
  it('refuses key 0 in the caller fields and bad domains', () => {
    expect(codeOf(() => encodeBody(Domain.policy, new Map([[0, 'x']])))).toBe('STRUCT_MALFORMED');
    expect(codeOf(() => signedBytes('', new Uint8Array()))).toBe('STRUCT_WRONG_DOMAIN');
    expect(codeOf(() => signedBytes('a\u0000b', new Uint8Array()))).toBe('STRUCT_WRONG_DOMAIN');
  });
  it('domain confusion: a signature for one domain never verifies for another', () => {
    for (const a of ALL_DOMAINS) {
      const s = signStructure(ed, seed, a, fields);
      for (const b of ALL_DOMAINS) {
        expect(codeOf(() => verifyStructure(ed, pub, b, s))).toBe(a === b ? 'ok' : 'STRUCT_WRONG_DOMAIN');
        // Even with key 0 rewritten to the other domain, the prefix makes the signature fail.
        if (a !== b) {
          const forged = { body: encodeBody(b, fields), signature: s.signature };
          expect(codeOf(() => verifyStructure(ed, pub, b, forged))).toBe('SIG_INVALID');
        }
      }
    }
  });
  it('wrong key, wrong signature, non-canonical or non-map bodies are typed errors', () => {
    const s = signStructure(ed, seed, Domain.receipt, fields);
    const other = ed.publicKeyFromSeed(new Uint8Array(32));
    expect(codeOf(() => verifyStructure(ed, other, Domain.receipt, s))).toBe('SIG_INVALID');
    expect(codeOf(() => verifyStructure(ed, pub, Domain.receipt, { body: s.body, signature: s.signature.subarray(1) }))).toBe('SIG_INVALID');
    // {0: ""}: well-formed, but key 0 names no expected domain.
    expect(codeOf(() => verifyStructure(ed, pub, Domain.receipt, { body: new Uint8Array([0xa1, 0x00, 0x60]), signature: s.signature }))).toBe('STRUCT_WRONG_DOMAIN');
    // Non-canonical: 0x18 0x00 is a two-byte encoding of key 0.
    expect(codeOf(() => verifyStructure(ed, pub, Domain.receipt, { body: new Uint8Array([0xa1, 0x18, 0x00, 0x60]), signature: s.signature }))).toBe('STRUCT_MALFORMED');
    expect(codeOf(() => verifyStructure(ed, pub, Domain.receipt, { body: encodeCanonical([1, 2]), signature: s.signature }))).toBe('STRUCT_MALFORMED');
    expect(codeOf(() => verifyStructure(ed, pub, Domain.receipt, { body: encodeCanonical(new Map([['0', Domain.receipt]])), signature: s.signature }))).toBe('STRUCT_MALFORMED');
    expect(codeOf(() => verifyStructure(ed, pub, Domain.receipt, { body: encodeCanonical(new Map([[0, 5]])), signature: s.signature }))).toBe('STRUCT_MALFORMED');
  });
  it('envelope round-trips and rejects other shapes', () => {
    const s = signStructure(ed, seed, Domain.roster, fields);
    const bytes = encodeSignedStructure(s);
    expect(bytes[0]).toBe(0x82);
    expect(decodeSignedStructure(bytes)).toEqual(s);
    for (const bad of [encodeCanonical([s.body]), encodeCanonical([s.body, s.signature.subarray(1)]), encodeCanonical(['x', s.signature]), new Uint8Array([...bytes, 0]), new Uint8Array()]) {
      expect(codeOf(() => decodeSignedStructure(bad))).toBe('STRUCT_MALFORMED');
    }
  });
  it('fuzz: random bodies and envelopes end in typed errors only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...ALL_DOMAINS), (b, domain) => {
        const c1 = codeOf(() => verifyStructure(ed, pub, domain, { body: b, signature: new Uint8Array(64) }));
        expect(['STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN', 'SIG_INVALID']).toContain(c1);
        const c2 = codeOf(() => decodeSignedStructure(b));
        expect(['ok', 'STRUCT_MALFORMED']).toContain(c2);
      }),
      { numRuns: fuzzRuns(20000) },
    );
    expect(new CryptoError('STRUCT_MALFORMED', 'x')).toBeInstanceOf(UnicardError);
  });
});
