import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UnicardError } from '../errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import {
  ANY_MEMBER,
  buildCardAuthBody,
  HolderResult,
  buildHolderVerifyBody,
  parseCardAuth,
  parseHolderVerify,
  signCardAuth,
  signHolderVerify,
  verifyCardAuth,
  verifyHolderVerify,
  type CardAuthFields,
  type HolderVerifyFields,
} from './card-structures.js';
import { TEST_SEEDS, testBytes, testCardAuthFields, testHolderVerifyFields } from './crypto-vectors.js';
import { Domain } from './domains.js';
import { NodeEd25519, TweetnaclEd25519 } from './ed25519.js';
import { signedBytes, signStructure } from './signed-structure.js';

const ed = new NodeEd25519();
const cardPub = ed.publicKeyFromSeed(TEST_SEEDS.card);
const nonce = testBytes('daemon nonce 1');
const auth = testCardAuthFields();
const hv = testHolderVerifyFields();
const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof UnicardError) return e.code;
    throw e;
  }
};

describe('card-auth', () => {
  it('sign → verify returns the fields; the signature covers domain ‖ 0x00 ‖ body', () => {
    const s = signCardAuth(ed, TEST_SEEDS.card, auth);
    expect(s.body).toEqual(buildCardAuthBody(auth));
    expect(new TweetnaclEd25519().verify(cardPub, signedBytes('unicard/v1/card-auth', s.body), s.signature)).toBe(true);
    expect(verifyCardAuth(ed, cardPub, s, nonce)).toEqual(auth);
    expect(parseCardAuth(s.body)).toEqual(auth);
  });
  it('a stale nonce is STRUCT_NONCE_MISMATCH, another card key SIG_INVALID', () => {
    const s = signCardAuth(ed, TEST_SEEDS.card, auth);
    expect(codeOf(() => verifyCardAuth(ed, cardPub, s, testBytes('daemon nonce 2')))).toBe('STRUCT_NONCE_MISMATCH');
    expect(codeOf(() => verifyCardAuth(ed, cardPub, s, new Uint8Array(31)))).toBe('STRUCT_NONCE_MISMATCH');
    expect(codeOf(() => verifyCardAuth(ed, ed.publicKeyFromSeed(TEST_SEEDS.device), s, nonce))).toBe('SIG_INVALID');
  });
  it('changing any field breaks the signature (quantity, counter, shop…)', () => {
    const s = signCardAuth(ed, TEST_SEEDS.card, auth);
    const changes: Partial<CardAuthFields>[] = [{ quantity: 21 }, { counter: 16 }, { shopId: 'OTHER' }, { terminalId: 'T-2' }, { service: 2 }, { time: auth.time + 1 }, { cardId: 'EG-03-000043' }];
    for (const c of changes) {
      expect(codeOf(() => verifyCardAuth(ed, cardPub, { body: buildCardAuthBody({ ...auth, ...c }), signature: s.signature }, nonce))).toBe('SIG_INVALID');
    }
  });
  it('refuses out-of-range fields when building', () => {
    const bad: Partial<CardAuthFields>[] = [{ nonce: new Uint8Array(16) }, { quantity: -1 }, { counter: 2 ** 32 }, { service: 70000 }, { shopId: '' }, { time: 1.5 }];
    for (const b of bad) expect(codeOf(() => signCardAuth(ed, TEST_SEEDS.card, { ...auth, ...b })), JSON.stringify(Object.keys(b))).toBe('STRUCT_MALFORMED');
  });
  it('refuses unknown or missing fields when verifying', () => {
    const extra = signStructure(ed, TEST_SEEDS.card, Domain.cardAuth, new Map<number, import('../cbor-codec.js').CborValue>([
      [1, nonce], [2, auth.cardId], [3, auth.service], [4, auth.quantity], [5, auth.shopId], [6, auth.terminalId], [7, auth.time], [8, auth.counter], [9, 'extra'],
    ]));
    expect(codeOf(() => verifyCardAuth(ed, cardPub, extra, nonce))).toBe('STRUCT_MALFORMED');
    const missing = signStructure(ed, TEST_SEEDS.card, Domain.cardAuth, new Map<number, import('../cbor-codec.js').CborValue>([[1, nonce], [2, auth.cardId]]));
    expect(codeOf(() => verifyCardAuth(ed, cardPub, missing, nonce))).toBe('STRUCT_MALFORMED');
  });
});

describe('holder-verify', () => {
  it('sign → verify returns the fields', () => {
    const s = signHolderVerify(ed, TEST_SEEDS.card, hv);
    expect(verifyHolderVerify(ed, cardPub, s, nonce)).toEqual(hv);
    const anyMember: HolderVerifyFields = { nonce, cardId: hv.cardId, memberIndex: ANY_MEMBER, result: 'timeout', attempts: 0 };
    const s2 = signHolderVerify(ed, TEST_SEEDS.card, anyMember);
    expect(verifyHolderVerify(ed, cardPub, s2, nonce)).toEqual(anyMember);
    expect(parseHolderVerify(s2.body)).toEqual(anyMember);
  });
  it('every result name round-trips with the VerifyHolderResult codes; unknown names are refused', () => {
    expect(HolderResult).toEqual({ match: 0, no_match: 1, timeout: 2, cancelled: 3 });
    for (const result of ['match', 'no_match', 'timeout', 'cancelled'] as const) {
      expect(parseHolderVerify(buildHolderVerifyBody({ ...hv, result })).result).toBe(result);
    }
    expect(codeOf(() => buildHolderVerifyBody({ ...hv, result: 'retry' as never }))).toBe('STRUCT_MALFORMED');
    expect(codeOf(() => buildHolderVerifyBody({ ...hv, result: 'locked' as never }))).toBe('STRUCT_MALFORMED');
    expect(codeOf(() => buildHolderVerifyBody({ ...hv, memberIndex: 256 }))).toBe('STRUCT_MALFORMED');
    expect(codeOf(() => buildHolderVerifyBody({ ...hv, result: 'toString' as never }))).toBe('STRUCT_MALFORMED');
  });
  it('a result other than the signed one fails the signature', () => {
    const s = signHolderVerify(ed, TEST_SEEDS.card, { ...hv, result: 'no_match' });
    expect(codeOf(() => verifyHolderVerify(ed, cardPub, { body: buildHolderVerifyBody(hv), signature: s.signature }, nonce))).toBe('SIG_INVALID');
  });
});

describe('domain confusion between card structures', () => {
  it('a card-auth offered as a holder-verify fails, and the reverse', () => {
    const a = signCardAuth(ed, TEST_SEEDS.card, auth);
    const h = signHolderVerify(ed, TEST_SEEDS.card, hv);
    expect(codeOf(() => verifyHolderVerify(ed, cardPub, a, nonce))).toBe('STRUCT_WRONG_DOMAIN');
    expect(codeOf(() => verifyCardAuth(ed, cardPub, h, nonce))).toBe('STRUCT_WRONG_DOMAIN');
    expect(codeOf(() => parseHolderVerify(a.body))).toBe('STRUCT_WRONG_DOMAIN');
  });
  it('a signature over a card-auth-shaped body under another domain does not verify as card-auth', () => {
    // Someone gets the card to sign the card-auth fields under the holder-verify domain:
    // relabelling the body as card-auth leaves a signature over different bytes.
    const body = buildCardAuthBody(auth);
    const sigUnderOtherDomain = ed.sign(TEST_SEEDS.card, signedBytes(Domain.holderVerify, body));
    expect(codeOf(() => verifyCardAuth(ed, cardPub, { body, signature: sigUnderOtherDomain }, nonce))).toBe('SIG_INVALID');
  });
});

describe('card structure fuzz', () => {
  const codes = ['STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN', 'SIG_INVALID', 'STRUCT_NONCE_MISMATCH'];
  it('fuzz: mutated card-auth bodies and signatures end in typed errors only', () => {
    const s = signCardAuth(ed, TEST_SEEDS.card, auth);
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (pos, x, inBody) => {
        const body = new Uint8Array(s.body);
        const signature = new Uint8Array(s.signature);
        if (inBody) body[pos % body.length] = (body[pos % body.length] as number) ^ x;
        else signature[pos % 64] = (signature[pos % 64] as number) ^ x;
        expect(codes).toContain(codeOf(() => verifyCardAuth(ed, cardPub, { body, signature }, nonce)));
      }),
      { numRuns: fuzzRuns(5000) },
    );
  });
  it('fuzz: random bodies end in typed errors only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (body) => {
        expect(codes).toContain(codeOf(() => verifyHolderVerify(ed, cardPub, { body, signature: new Uint8Array(64) }, nonce)));
      }),
      { numRuns: fuzzRuns(5000) },
    );
  });
});
