import { describe, expect, it } from 'vitest';
import { MAX_CARD_COUNTER, verifyCardAuth, verifyHolderVerify } from '../../protocol/crypto/card-structures.js';
import { verifyCardCertificate } from '../../protocol/crypto/certificates.js';
import { NodeEd25519, TweetnaclEd25519 } from '../../protocol/crypto/ed25519.js';
import { makeTestCard, makeTestIssuer } from './fixtures.js';
import { newTemplate, noisyCapture } from './fingerprint-template.js';
import { seededRandomBytes } from './random.js';
import { ANY_MEMBER_INDEX, MemoryCounterStore, SimulatedCard, type CounterStore } from './secure-element.js';

const ed = new NodeEd25519();
const random = seededRandomBytes('secure element tests');
const issuer = makeTestIssuer(ed, random);
const nonce = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const tx = (n: number) => ({ nonce: nonce(n), service: 0, quantity: 20, shopId: 'SHOP-PSD-17', terminalId: 'SIM0001', time: 1_795_000_000 + n });

function powered(data = makeTestCard(ed, random, issuer), options: ConstructorParameters<typeof SimulatedCard>[1] = {}) {
  const card = new SimulatedCard(data, options);
  card.powerOn();
  return { card, data };
}

describe('SimulatedCard: identity and key custody', () => {
  it('exposes the certified facts and a certificate that verifies under the issuer', () => {
    const { card, data } = powered();
    expect(card.info.cardId).toBe(data.cardId);
    expect(card.info.members).toEqual([
      { index: 0, role: 0 },
      { index: 1, role: 1 },
      { index: 2, role: 2 },
      { index: 3, role: 2 },
    ]);
    const cert = verifyCardCertificate(card.info.certificate, issuer.trusted, 1_800_000_000, ed);
    expect(cert.subjectPublicKey).toEqual(card.info.publicKey);
  });

  it('never shows its seed: not as a property, not in JSON, not in inspection', async () => {
    const { card, data } = powered();
    const seedHex = Buffer.from(data.seed).toString('hex');
    expect(Object.keys(card)).not.toContain('seed');
    expect(JSON.stringify(card)).not.toContain(seedHex);
    const { inspect } = await import('node:util');
    expect(inspect(card, { showHidden: true, depth: 5 })).not.toContain(seedHex);
    expect((card as unknown as Record<string, unknown>).seed).toBeUndefined();
  });
});

describe('SimulatedCard: card authentication', () => {
  it('signs each transaction with the next counter, verifiable with the card key', async () => {
    const store = new MemoryCounterStore();
    const { card } = powered(undefined, { store });
    for (let i = 1; i <= 3; i++) {
      const { signed, fields } = await card.authenticate(tx(i));
      expect(fields.counter).toBe(i);
      expect(fields.cardId).toBe(card.info.cardId);
      const checked = verifyCardAuth(ed, card.info.publicKey, signed, nonce(i));
      expect(checked).toEqual({ ...tx(i), cardId: card.info.cardId, counter: i });
    }
    expect(card.counter).toBe(3);
    expect(store.saved).toEqual([1, 2, 3]);
  });

  it('gives concurrent requests distinct, increasing counters', async () => {
    const { card } = powered();
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => card.authenticate(tx(i))));
    expect(results.map((r) => r.fields.counter)).toEqual([1, 2, 3, 4, 5]);
  });

  it('stores the counter before releasing the signature; a failed store releases nothing', async () => {
    const order: string[] = [];
    let fail = true;
    const store: CounterStore = {
      async saveCounter(c) {
        order.push(`save ${c}`);
        if (fail) throw new Error('disk full');
      },
    };
    const { card } = powered(undefined, { store });
    await expect(card.authenticate(tx(1))).rejects.toThrow('disk full');
    expect(card.counter).toBe(0);
    fail = false;
    const r = await card.authenticate(tx(2));
    order.push(`released ${r.fields.counter}`);
    expect(order).toEqual(['save 1', 'save 1', 'released 1']);
  });

  it('refuses bad transaction fields without using a counter value', async () => {
    const { card } = powered();
    await expect(card.authenticate({ ...tx(1), nonce: new Uint8Array(5) })).rejects.toMatchObject({ code: 'STRUCT_MALFORMED' });
    expect(card.counter).toBe(0);
  });

  it('refuses once the counter is exhausted', async () => {
    const { card } = powered(makeTestCard(ed, random, issuer, { counter: MAX_CARD_COUNTER }));
    await expect(card.authenticate(tx(1))).rejects.toMatchObject({ code: 'CARD_COUNTER_EXHAUSTED' });
  });

  it('does nothing without power (not in the slot)', async () => {
    const card = new SimulatedCard(makeTestCard(ed, random, issuer));
    await expect(card.authenticate(tx(1))).rejects.toMatchObject({ code: 'NO_CARD' });
    expect(() => card.startHolderVerification(nonce(1), 0)).toThrow(expect.objectContaining({ code: 'NO_CARD' }));
  });

  it('gives the same signatures with tweetnacl as with node:crypto', async () => {
    const data = makeTestCard(ed, random, issuer);
    const a = powered(data, { ed: new NodeEd25519() }).card;
    const b = powered(data, { ed: new TweetnaclEd25519() }).card;
    expect((await a.authenticate(tx(9))).signed).toEqual((await b.authenticate(tx(9))).signed);
  });
});

describe('SimulatedCard: match-on-card holder verification', () => {
  const r = seededRandomBytes('captures');

  it('signs a match for the member whose finger was captured', () => {
    const { card, data } = powered();
    const v = card.startHolderVerification(nonce(7), 1);
    const a = v.attempt(noisyCapture(data.members[1]!.template, r));
    expect(a.outcome).toBe('match');
    if (a.outcome !== 'match') return;
    expect(a.memberIndex).toBe(1);
    const fields = verifyHolderVerify(ed, card.info.publicKey, a.result.signed, nonce(7));
    expect(fields).toEqual({ nonce: nonce(7), cardId: card.info.cardId, memberIndex: 1, result: 'match', attempts: 1 });
    expect(v.ended).toBe(true);
    expect(() => v.attempt(new Uint8Array(64))).toThrow();
    expect(() => v.end('no_match')).toThrow();
  });

  it('counts failed attempts per member and per card session, then refuses', () => {
    const { card, data } = powered(undefined, { attemptLimit: 3 });
    const v = card.startHolderVerification(nonce(1), 0);
    const stranger = () => newTemplate(r);
    expect(v.attempt(stranger())).toEqual({ outcome: 'no_match', attemptsLeft: 2 });
    expect(v.attempt(noisyCapture(data.members[1]!.template, r))).toEqual({ outcome: 'no_match', attemptsLeft: 1 });
    expect(v.attempt(stranger())).toEqual({ outcome: 'no_match', attemptsLeft: 0 });
    expect(() => v.attempt(noisyCapture(data.members[0]!.template, r))).toThrow(expect.objectContaining({ code: 'ATTEMPTS_EXHAUSTED' }));
    const end = v.end('no_match');
    expect(verifyHolderVerify(ed, card.info.publicKey, end.signed, nonce(1))).toMatchObject({ result: 'no_match', memberIndex: 0, attempts: 3 });
    // The limit holds across verifications in the same session, for that member only.
    const again = card.startHolderVerification(nonce(2), 0);
    expect(() => again.attempt(noisyCapture(data.members[0]!.template, r))).toThrow(expect.objectContaining({ code: 'ATTEMPTS_EXHAUSTED' }));
    expect(card.attemptsLeft(0)).toBe(0);
    expect(card.attemptsLeft(1)).toBe(3);
    const other = card.startHolderVerification(nonce(2), 1);
    expect(other.attempt(noisyCapture(data.members[1]!.template, r)).outcome).toBe('match');
    // Removal ends the session: a fresh budget after re-insertion.
    card.powerOff();
    card.powerOn();
    expect(card.attemptsLeft(0)).toBe(3);
  });

  it('clears a member failures after a match', () => {
    const { card, data } = powered();
    const v = card.startHolderVerification(nonce(1), 2);
    v.attempt(newTemplate(r));
    expect(card.attemptsLeft(2)).toBe(2);
    expect(v.attempt(noisyCapture(data.members[2]!.template, r)).outcome).toBe('match');
    expect(card.attemptsLeft(2)).toBe(3);
  });

  it('matches any member when none is named, with a budget of its own', () => {
    const { card, data } = powered();
    const v = card.startHolderVerification(nonce(3), null);
    expect(v.requestedMember).toBeNull();
    expect(v.attempt(newTemplate(r))).toEqual({ outcome: 'no_match', attemptsLeft: 2 });
    const a = v.attempt(noisyCapture(data.members[3]!.template, r));
    expect(a.outcome === 'match' && a.memberIndex).toBe(3);
    if (a.outcome === 'match') expect(a.result.fields).toMatchObject({ memberIndex: 3, attempts: 2, result: 'match' });
    const w = card.startHolderVerification(nonce(4), null);
    const end = w.end('timeout');
    expect(verifyHolderVerify(ed, card.info.publicKey, end.signed, nonce(4))).toMatchObject({
      memberIndex: ANY_MEMBER_INDEX,
      result: 'timeout',
      attempts: 0,
    });
  });

  it('signs timeout and cancelled outcomes, bound to the nonce', () => {
    const { card } = powered();
    const end = card.startHolderVerification(nonce(5), 1).end('cancelled');
    expect(() => verifyHolderVerify(ed, card.info.publicKey, end.signed, nonce(6))).toThrow(expect.objectContaining({ code: 'STRUCT_NONCE_MISMATCH' }));
    expect(verifyHolderVerify(ed, card.info.publicKey, end.signed, nonce(5)).result).toBe('cancelled');
  });

  it('refuses a member that is not on the card', () => {
    const { card } = powered();
    expect(() => card.startHolderVerification(nonce(1), 4)).toThrow(expect.objectContaining({ code: 'NO_SUCH_MEMBER' }));
  });

  it('stops a verification when the card is pulled', () => {
    const { card, data } = powered();
    const v = card.startHolderVerification(nonce(1), 0);
    card.powerOff();
    expect(() => v.attempt(noisyCapture(data.members[0]!.template, r))).toThrow(expect.objectContaining({ code: 'NO_CARD' }));
  });
});
