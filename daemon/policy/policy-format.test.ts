import { decode as cborgDecode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCanonical, type CborValue } from '../../protocol/cbor-codec.js';
import { fromHex, toHex } from '../../protocol/crypto/bytes.js';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { TEST_SEEDS, testBytes } from '../../protocol/crypto/crypto-vectors.js';
import { Domain } from '../../protocol/crypto/domains.js';
import { NodeEd25519, TweetnaclEd25519 } from '../../protocol/crypto/ed25519.js';
import { keyIdHex, keyIdOf, signedBytes } from '../../protocol/crypto/signed-structure.js';
import { signRoster } from '../../firmware-sim/issuer/signed-lists.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { DEFAULT_POLICY, signDefaultPolicy } from './default-policy.js';
import { PolicyError } from './policy-error.js';
import { loadPolicyCases } from './policy-cases.js';
import {
  encodePolicyBody,
  parsePolicy,
  POLICY_JSON_FORMAT,
  PolicyKey,
  policyFromJson,
  policyToJson,
  readPolicy,
  signPolicy,
  verifyPolicy,
} from './policy-format.js';
import type { Policy } from './policy-types.js';

/** Decoder fuzzing runs the full `make fuzz` count; its time limit grows with it. */
const DECODER_RUNS = fuzzRuns(2000);
const DECODER_TIMEOUT = Math.max(30_000, DECODER_RUNS * 2);

const node = new NodeEd25519();
const tweet = new TweetnaclEd25519();
const issuerSeed = TEST_SEEDS.issuerRoot;
const issuerKey = node.publicKeyFromSeed(issuerSeed);
const trusted = trustedKeysOf([issuerKey]);

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof PolicyError) return e.code;
    throw e;
  }
  return 'no error';
}

const json = (): Record<string, unknown> => JSON.parse(JSON.stringify(policyToJson(DEFAULT_POLICY))) as Record<string, unknown>;
const withJson = (edit: (j: any) => void): unknown => {
  const j = json();
  edit(j);
  return j;
};

describe('policy JSON form', () => {
  it('round-trips the default policy through JSON text', () => {
    const text = JSON.stringify(policyToJson(DEFAULT_POLICY), null, 2);
    expect(policyFromJson(JSON.parse(text))).toEqual(readPolicy(DEFAULT_POLICY));
    expect(JSON.parse(text).format).toBe(POLICY_JSON_FORMAT);
  });

  it('refuses a missing or other format tag, unknown fields and wrong types (POLICY_MALFORMED)', () => {
    const cases: [string, unknown][] = [
      ['no format', withJson((j) => delete j.format)],
      ['other format', withJson((j) => (j.format = 'unicard-policy/2'))],
      ['unknown top field', withJson((j) => (j.extra = 1))],
      ['unknown bread field', withJson((j) => (j.bread.loavesPerChild = 2))],
      ['fractional loaves', withJson((j) => (j.bread.loavesPerPersonPerDay = 5.5))],
      ['zero loaves', withJson((j) => (j.bread.loavesPerPersonPerDay = 0))],
      ['price as text', withJson((j) => (j.ration.items[0].price = '1260'))],
      ['price 0', withJson((j) => (j.ration.items[0].price = 0))],
      ['bad item id', withJson((j) => (j.ration.items[0].id = 'Sugar!'))],
      ['duplicate item id', withJson((j) => (j.ration.items[1].id = 'sugar'))],
      ['group names unknown item', withJson((j) => (j.ration.exclusiveGroups = [['rice', 'flour']]))],
      ['group of one', withJson((j) => (j.ration.exclusiveGroups = [['rice']]))],
      ['group names item twice', withJson((j) => (j.ration.exclusiveGroups = [['rice', 'rice']]))],
      ['no items', withJson((j) => (j.ration.items = []))],
      ['bad effective day', withJson((j) => (j.effectiveFrom = '2025-02-30'))],
      ['version 0', withJson((j) => (j.version = 0))],
      ['a week without working days', withJson((j) => (j.cardStates.weekendDays = [0, 1, 2, 3, 4, 5, 6]))],
      ['unsorted weekend', withJson((j) => (j.cardStates.weekendDays = [6, 5]))],
      ['unsorted holidays', withJson((j) => (j.cardStates.holidays = ['2025-05-01', '2025-01-07']))],
      ['duplicate holiday', withJson((j) => (j.cardStates.holidays = ['2025-01-07', '2025-01-07']))],
      ['exception ends before it starts', withJson((j) => (j.governorateExceptions = [{ from: '2025-03-10', to: '2025-03-01', cardGovernorates: [1] }]))],
      ['exception without card governorates', withJson((j) => (j.governorateExceptions = [{ from: '2025-03-01', to: '2025-03-10', cardGovernorates: [] }]))],
      ['exception governorate 100', withJson((j) => (j.governorateExceptions = [{ from: '2025-03-01', to: '2025-03-10', cardGovernorates: [100] }]))],
      ['exception unknown service', withJson((j) => (j.governorateExceptions = [{ from: '2025-03-01', to: '2025-03-10', cardGovernorates: [1], services: ['health'] }]))],
      ['exception empty note', withJson((j) => (j.governorateExceptions = [{ from: '2025-03-01', to: '2025-03-10', cardGovernorates: [1], note: ' ' }]))],
      ['not an object', [1, 2]],
      ['null', null],
    ];
    for (const [what, value] of cases) expect(code(() => policyFromJson(value)), what).toBe('POLICY_MALFORMED');
  });

  it('names the field at fault', () => {
    expect(() => policyFromJson(withJson((j) => (j.ration.items[2].perCard = -1)))).toThrow(/ration\.items\[2\]\.perCard/);
  });

  it('accepts a dated governorate exception with every optional field', () => {
    const p = policyFromJson(
      withJson((j) => (j.governorateExceptions = [{ from: '2025-06-01', to: '2025-06-10', cardGovernorates: [1, 21], shopGovernorates: [3], services: ['bread'], note: 'Eid al-Adha travel' }])),
    );
    expect(p.governorateExceptions[0]).toEqual({ from: '2025-06-01', to: '2025-06-10', cardGovernorates: [1, 21], shopGovernorates: [3], services: ['bread'], note: 'Eid al-Adha travel' });
  });
});

describe('signed policy (unicard/v1/policy)', () => {
  const envelope = signDefaultPolicy(node, issuerSeed);

  it('sign → verify round trip gives the same policy, under both Ed25519 implementations', () => {
    for (const ed of [node, tweet]) {
      const signed = verifyPolicy(envelope, trusted, ed);
      expect(signed.policy).toEqual(readPolicy(DEFAULT_POLICY));
      expect(toHex(signed.issuerKeyId)).toBe(keyIdHex(issuerKey));
    }
    expect(toHex(signDefaultPolicy(tweet, issuerSeed))).toBe(toHex(envelope));
  });

  it('matches the vector in test/vectors/policy-cases.json, and cborg decodes it to the documented keys', () => {
    const v = loadPolicyCases().signedDefaultPolicy;
    expect(toHex(issuerKey)).toBe(v.issuerPublicKey);
    expect(keyIdHex(issuerKey)).toBe(v.issuerKeyId);
    expect(toHex(envelope)).toBe(v.envelope);
    const [body, signature] = cborgDecode(fromHex(v.envelope)) as [Uint8Array, Uint8Array];
    expect(signature.length).toBe(64);
    const map = cborgDecode(body, { useMaps: true }) as Map<number, unknown>;
    expect([...map.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(map.get(PolicyKey.domain)).toBe('unicard/v1/policy');
    expect(map.get(PolicyKey.version)).toBe(1);
    expect(map.get(PolicyKey.effectiveFrom)).toBe('2025-01-01');
    const bread = map.get(PolicyKey.bread) as Map<number, number>;
    expect([...bread.entries()]).toEqual([[1, 5], [2, 3], [3, 4], [4, 2], [5, 10]]);
    const ration = map.get(PolicyKey.ration) as Map<number, unknown>;
    expect(ration.get(1)).toBe(5000);
    expect(ration.get(3)).toBe(2500);
    expect(ration.get(5)).toEqual([['rice', 'pasta']]);
    expect(tweet.verify(issuerKey, signedBytes(Domain.policy, body), signature)).toBe(true);
  });

  it('refuses a policy signed by another key (POLICY_UNKNOWN_ISSUER)', () => {
    const other = signDefaultPolicy(node, testBytes('some other issuer'));
    expect(code(() => verifyPolicy(other, trusted, node))).toBe('POLICY_UNKNOWN_ISSUER');
    expect(parsePolicy(other).policy.version).toBe(1);
  });

  it('refuses a tampered policy: a price changed in the body (POLICY_BAD_SIGNATURE)', () => {
    const { body, signature } = parsePolicy(envelope);
    // Sugar's price 1260 is 0x04ec: "06 19 04 ec" (key 6, uint16) inside the body; make it 1261.
    const hex = toHex(body);
    const at = hex.indexOf('061904ec');
    expect(at).toBeGreaterThan(0);
    const tampered = fromHex(hex.slice(0, at) + '061904ed' + hex.slice(at + 8));
    const forged = encodeCanonical([tampered, signature]);
    expect(parsePolicy(forged).policy.ration.items[0]?.price).toBe(1261);
    expect(code(() => verifyPolicy(forged, trusted, node))).toBe('POLICY_BAD_SIGNATURE');
    expect(code(() => verifyPolicy(forged, trusted, tweet))).toBe('POLICY_BAD_SIGNATURE');
  });

  it('refuses a flipped signature bit and a malleable signature (S + L)', () => {
    const { body, signature } = parsePolicy(envelope);
    const flipped = signature.slice();
    flipped[5] = (flipped[5] as number) ^ 1;
    expect(code(() => verifyPolicy(encodeCanonical([body, flipped]), trusted, node))).toBe('POLICY_BAD_SIGNATURE');
    // S + L: add the group order to the little-endian S half.
    const L = [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
    const mall = signature.slice();
    let carry = 0;
    for (let i = 0; i < 32; i++) {
      const s = (mall[32 + i] as number) + (L[i] as number) + carry;
      mall[32 + i] = s & 0xff;
      carry = s >> 8;
    }
    if (carry === 0) {
      expect(code(() => verifyPolicy(encodeCanonical([body, mall]), trusted, node))).toBe('POLICY_BAD_SIGNATURE');
      expect(code(() => verifyPolicy(encodeCanonical([body, mall]), trusted, tweet))).toBe('POLICY_BAD_SIGNATURE');
    }
  });

  it('refuses another kind of signed document (POLICY_WRONG_DOMAIN)', () => {
    const roster = signRoster(node, issuerSeed, { sequence: 1, issuedAt: 1_741_593_600, entries: [] });
    expect(code(() => verifyPolicy(roster, trusted, node))).toBe('POLICY_WRONG_DOMAIN');
  });

  it('refuses a correctly signed body with an unknown field or a missing one (POLICY_MALFORMED)', () => {
    const keyId = keyIdOf(issuerKey);
    const good = encodePolicyBody(DEFAULT_POLICY, keyId);
    const map = cborgDecode(good, { useMaps: true }) as Map<number, CborValue>;
    const signWith = (m: Map<number, CborValue>): Uint8Array => {
      const body = encodeCanonical(m);
      return encodeCanonical([body, node.sign(issuerSeed, signedBytes(Domain.policy, body))]);
    };
    const extra = new Map(map).set(99, 1);
    expect(code(() => verifyPolicy(signWith(extra), trusted, node))).toBe('POLICY_MALFORMED');
    const missing = new Map(map);
    missing.delete(PolicyKey.cardStates);
    expect(code(() => verifyPolicy(signWith(missing), trusted, node))).toBe('POLICY_MALFORMED');
    const badBread = new Map(map).set(PolicyKey.bread, new Map([[1, 5]]));
    expect(code(() => verifyPolicy(signWith(badBread), trusted, node))).toBe('POLICY_MALFORMED');
    const textKey = new Map<number | string, CborValue>(map).set('x', 1);
    expect(code(() => parsePolicy(encodeCanonical([encodeCanonical(textKey), new Uint8Array(64)])))).toBe('POLICY_MALFORMED');
  });

  it('refuses to sign an invalid policy, and sorts order-free lists before signing', () => {
    expect(code(() => signPolicy(node, issuerSeed, { ...DEFAULT_POLICY, version: -1 }))).toBe('POLICY_MALFORMED');
    const unsorted: Policy = {
      ...DEFAULT_POLICY,
      governorateExceptions: [{ from: '2025-03-01', to: '2025-03-15', cardGovernorates: [21, 1], services: ['ration', 'bread'] }],
      cardStates: { suspendedWorkingDays: 3, weekendDays: [6, 5], holidays: ['2025-05-01', '2025-01-07'] },
    };
    const p = verifyPolicy(signPolicy(node, issuerSeed, unsorted), trusted, node).policy;
    expect(p.governorateExceptions[0]?.cardGovernorates).toEqual([1, 21]);
    expect(p.governorateExceptions[0]?.services).toEqual(['bread', 'ration']);
    expect(p.cardStates).toEqual({ suspendedWorkingDays: 3, weekendDays: [5, 6], holidays: ['2025-01-07', '2025-05-01'] });
  });

  it('refuses bytes that are not an envelope (POLICY_MALFORMED)', () => {
    for (const bytes of [new Uint8Array(0), new Uint8Array([0x82, 0x40]), fromHex('a0'), encodeCanonical([new Uint8Array(3), new Uint8Array(64)])]) {
      expect(code(() => verifyPolicy(bytes, trusted, node))).toBe('POLICY_MALFORMED');
    }
  });

  it('fuzz: a mutated envelope never verifies and always fails with a PolicyError', { timeout: DECODER_TIMEOUT }, () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: envelope.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const bad = envelope.slice();
        bad[at] = (bad[at] as number) ^ x;
        const c = code(() => verifyPolicy(bad, trusted, node));
        expect(['POLICY_MALFORMED', 'POLICY_WRONG_DOMAIN', 'POLICY_UNKNOWN_ISSUER', 'POLICY_BAD_SIGNATURE']).toContain(c);
      }),
      { numRuns: DECODER_RUNS },
    );
  });

  it('fuzz: random bytes never throw anything but a PolicyError', { timeout: DECODER_TIMEOUT }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expect(code(() => parsePolicy(bytes))).not.toBe('no error');
      }),
      { numRuns: DECODER_RUNS },
    );
  });
});
