import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { sha512 } from '../../protocol/crypto/bytes.js';
import { Domain } from '../../protocol/crypto/domains.js';
import { signedBytes } from '../../protocol/crypto/signed-structure.js';
import { LedgerError } from './ledger-error.js';
import { Ledger, authorizationIdAt } from './ledger.js';
import { LedgerHarness, T0 } from './ledger-test-kit.js';
import { GENESIS_PREV, parseReceiptBody, receiptId } from './receipt.js';
import { addDays, dayKey } from './periods.js';
import { verifyLedger } from './verify-ledger.js';

const harnesses: LedgerHarness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.dispose();
});

function harness(name = 'test'): LedgerHarness {
  const h = new LedgerHarness(name);
  harnesses.push(h);
  return h;
}

async function refused(p: Promise<unknown>, code: string): Promise<LedgerError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(LedgerError);
  expect((e as LedgerError).code).toBe(code);
  return e as LedgerError;
}

describe('opening', () => {
  it('creates the file in WAL mode with synchronous FULL and schema version 1', () => {
    const h = harness();
    const db = h.ledger.db;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(h.ledger.head()).toEqual({ seq: 0, id: GENESIS_PREV });
  });

  it('refuses a file that is not a ledger, and a newer schema', () => {
    const h = harness();
    const other = join(h.dir, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE t (x)');
    db.close();
    expect(() => Ledger.open(other, { daemonSeed: h.world.daemonSeed })).toThrowError(expect.objectContaining({ code: 'LEDGER_CORRUPT' }));
    const text = join(h.dir, 'text.db');
    writeFileSync(text, 'this is not a database at all, it is far too plain for SQLite'.repeat(100));
    expect(() => Ledger.open(text, { daemonSeed: h.world.daemonSeed })).toThrowError(expect.objectContaining({ code: 'LEDGER_CORRUPT' }));
    h.ledger.close();
    const raw = new Database(h.path);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => h.open()).toThrowError(expect.objectContaining({ code: 'LEDGER_VERSION_UNSUPPORTED' }));
  });

  it('refuses a chain head that does not hash to its id', async () => {
    const h = harness();
    const card = h.world.card('H1');
    const { authorization } = await h.ledger.createAuthorization(h.bread(card));
    await h.ledger.commit(authorization.id, 5);
    h.ledger.close();
    const raw = new Database(h.path);
    raw.prepare('UPDATE receipts SET id = ? WHERE seq = 1').run(new Uint8Array(64).fill(1));
    raw.close();
    expect(() => h.open()).toThrowError(expect.objectContaining({ code: 'LEDGER_CORRUPT' }));
  });

  it('refuses a daemon seed of the wrong length and calls after close', async () => {
    const h = harness();
    expect(() => Ledger.open(join(h.dir, 'x.db'), { daemonSeed: new Uint8Array(31) })).toThrowError(expect.objectContaining({ code: 'LEDGER_INVALID_INPUT' }));
    h.ledger.close();
    expect(() => h.ledger.head()).toThrowError(expect.objectContaining({ code: 'LEDGER_CLOSED' }));
    await refused(h.ledger.void('x'), 'LEDGER_CLOSED');
    h.ledger.close(); // idempotent
  });
});

describe('authorize, commit, void, expire', () => {
  it('records an authorization and commits it into a signed, chained receipt', async () => {
    const h = harness();
    const card = h.world.card('H1', 2);
    const req = h.bread(card, { days: 3 });
    const { authorization, created } = await h.ledger.createAuthorization(req);
    expect(created).toBe(true);
    expect(authorization).toMatchObject({ state: 'pending', cardId: 'C-H1', householdId: 'H1', service: 'bread', expiresAt: T0 + 120_000 });
    expect(authorization.approved.map((a) => a.period)).toEqual([dayKey(T0), addDays(dayKey(T0), 1), addDays(dayKey(T0), 2)]);
    expect(h.ledger.authorization(authorization.id)).toEqual(authorization);
    expect(h.ledger.authorizationByKey('pos-1', req.idempotencyKey)).toEqual(authorization);

    h.now += 1000;
    const { receipt, replayed } = await h.ledger.commit(authorization.id, 30);
    expect(replayed).toBe(false);
    expect(receipt).toMatchObject({ seq: 1, authorizationId: authorization.id, householdId: 'H1', service: 'bread', time: T0 + 1000, quantity: 30, supervisorException: false });
    expect(receipt.prev).toEqual(GENESIS_PREV);
    expect(receipt.id).toEqual(sha512(signedBytes(Domain.receipt, receipt.body)));
    expect(h.world.ed.verify(h.world.daemonPublicKey, signedBytes(Domain.receipt, receipt.body), receipt.signature)).toBe(true);
    expect(parseReceiptBody(receipt.body)).toMatchObject({ seq: 1, householdId: 'H1' });
    expect(h.ledger.authorization(authorization.id)).toMatchObject({ state: 'committed', receiptSeq: 1, endedAt: T0 + 1000 });
    expect(h.ledger.receiptForAuthorization(authorization.id)?.idHex).toBe(receipt.idHex);

    const second = await h.ledger.createAuthorization(h.bread(h.world.card('H2')));
    const r2 = (await h.ledger.commit(second.authorization.id, 15)).receipt;
    expect(r2.seq).toBe(2);
    expect(r2.prev).toEqual(receipt.id);
    expect(h.ledger.head()).toEqual({ seq: 2, id: r2.id });
    expect(h.ledger.receipts().map((r) => r.seq)).toEqual([1, 2]);
    expect(h.ledger.receipts({ sinceSeq: 1 }).map((r) => r.seq)).toEqual([2]);
    expect(h.ledger.receipts({ sinceTime: T0 + 1001 })).toEqual([]);
    expect(h.ledger.receipts({ sinceTime: T0 }).length).toBe(2);
    expect(verifyLedger(h.ledger, h.world.roots()).ok).toBe(true);
  });

  it('fills a partial commit from the first approved days and counts it in the usage index', async () => {
    const h = harness();
    const card = h.world.card('H1', 2); // 10 loaves a day
    const { authorization } = await h.ledger.createAuthorization(h.bread(card, { days: 3 }));
    const { receipt } = await h.ledger.commit(authorization.id, 25);
    const today = dayKey(T0);
    expect(receipt.lines).toEqual([{ item: 'loaf', quantity: 25, piastres: 500 }]);
    expect(receipt.usage).toEqual([
      { period: today, item: 'loaf', quantity: 10, piastres: 200 },
      { period: addDays(today, 1), item: 'loaf', quantity: 10, piastres: 200 },
      { period: addDays(today, 2), item: 'loaf', quantity: 5, piastres: 100 },
    ]);
    const usage = h.ledger.usageFor('H1');
    expect(usage).toMatchObject({ householdId: 'H1', day: today, month: '2026-11', fromPeriod: '2026-10' });
    expect(usage.rows).toEqual([
      { service: 'bread', period: today, item: 'loaf', quantity: 10, piastres: 200 },
      { service: 'bread', period: addDays(today, 1), item: 'loaf', quantity: 10, piastres: 200 },
      { service: 'bread', period: addDays(today, 2), item: 'loaf', quantity: 5, piastres: 100 },
    ]);
    expect(h.ledger.usageFor('nobody').rows).toEqual([]);
  });

  it('commits ration goods per item and sums repeated purchases in the index', async () => {
    const h = harness();
    const card = h.world.card('H1', 4);
    const items = [
      { item: 'sugar', quantity: 4, unitPiastres: 1260 },
      { item: 'oil', quantity: 2, unitPiastres: 3000 },
    ];
    const a = (await h.ledger.createAuthorization(h.ration(card, items))).authorization;
    await refused(h.ledger.commit(a.id, 3), 'LEDGER_INVALID_INPUT'); // several items: per item
    const { receipt } = await h.ledger.commit(a.id, [
      { item: 'oil', quantity: 1 },
      { item: 'sugar', quantity: 4 },
    ]);
    // Lines in the order of approval, whatever the order given.
    expect(receipt.lines).toEqual([
      { item: 'sugar', quantity: 4, piastres: 5040 },
      { item: 'oil', quantity: 1, piastres: 3000 },
    ]);
    const b = (await h.ledger.createAuthorization(h.ration(card, [{ item: 'sugar', quantity: 2, unitPiastres: 1260 }]))).authorization;
    await h.ledger.commit(b.id, 2);
    expect(h.ledger.usageFor('H1').rows).toEqual([
      { service: 'ration', period: '2026-11', item: 'oil', quantity: 1, piastres: 3000 },
      { service: 'ration', period: '2026-11', item: 'sugar', quantity: 6, piastres: 7560 },
    ]);
    expect(verifyLedger(h.ledger, h.world.roots()).ok).toBe(true);
  });

  it('refuses a commit of more than approved, of an item not approved, and of nothing', async () => {
    const h = harness();
    const card = h.world.card('H1', 1);
    const { authorization } = await h.ledger.createAuthorization(h.bread(card)); // 5 loaves
    const e = await refused(h.ledger.commit(authorization.id, 6), 'COMMIT_EXCEEDS_APPROVED');
    expect(e.detail).toMatchObject({ item: 'loaf', approved: 5, dispensed: 6 });
    await refused(h.ledger.commit(authorization.id, [{ item: 'cake', quantity: 1 }]), 'COMMIT_EXCEEDS_APPROVED');
    await refused(h.ledger.commit(authorization.id, 0), 'LEDGER_INVALID_INPUT');
    await refused(h.ledger.commit(authorization.id, -1), 'LEDGER_INVALID_INPUT');
    await refused(h.ledger.commit(authorization.id, 1.5), 'LEDGER_INVALID_INPUT');
    await refused(
      h.ledger.commit(authorization.id, [
        { item: 'loaf', quantity: 1 },
        { item: 'loaf', quantity: 1 },
      ]),
      'LEDGER_INVALID_INPUT',
    );
    await refused(h.ledger.commit('no-such-id', 1), 'AUTHORIZATION_NOT_FOUND');
    expect(h.ledger.authorization(authorization.id)?.state).toBe('pending');
    expect(h.ledger.head().seq).toBe(0);
    // An authorization that approved nothing cannot be committed.
    const none = (await h.ledger.createAuthorization({ ...h.bread(h.world.card('H2')), approved: [] })).authorization;
    await refused(h.ledger.commit(none.id, 1), 'COMMIT_EXCEEDS_APPROVED');
  });

  it('returns the same receipt for a retried commit and refuses a different second commit', async () => {
    const h = harness();
    const card = h.world.card('H1', 2);
    const { authorization } = await h.ledger.createAuthorization(h.bread(card, { days: 2 }));
    const first = await h.ledger.commit(authorization.id, 12);
    h.now += 5000;
    const again = await h.ledger.commit(authorization.id, 12);
    expect(again.replayed).toBe(true);
    expect(again.receipt.idHex).toBe(first.receipt.idHex);
    expect(Buffer.from(again.receipt.body).equals(Buffer.from(first.receipt.body))).toBe(true);
    const sameAsList = await h.ledger.commit(authorization.id, [{ item: 'loaf', quantity: 12 }]);
    expect(sameAsList.receipt.idHex).toBe(first.receipt.idHex);
    const e = await refused(h.ledger.commit(authorization.id, 11), 'COMMIT_CONFLICT');
    expect(e.detail).toMatchObject({ receiptId: first.receipt.idHex, seq: 1 });
    // Concurrent retries of one commit: one receipt.
    const b = (await h.ledger.createAuthorization(h.bread(h.world.card('H2')))).authorization;
    const results = await Promise.all([h.ledger.commit(b.id, 5), h.ledger.commit(b.id, 5), h.ledger.commit(b.id, 5)]);
    expect(new Set(results.map((r) => r.receipt.idHex)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(h.ledger.head().seq).toBe(2);
    expect(h.ledger.usageFor('H1').rows.reduce((s, r) => s + r.quantity, 0)).toBe(12);
  });

  it('voids a pending authorization, idempotently, and refuses to commit or void across states', async () => {
    const h = harness();
    const card = h.world.card('H1');
    const { authorization } = await h.ledger.createAuthorization(h.bread(card));
    const voided = await h.ledger.void(authorization.id);
    expect(voided).toMatchObject({ state: 'voided', endedAt: T0 });
    h.now += 10;
    expect(await h.ledger.void(authorization.id)).toEqual(voided);
    await refused(h.ledger.commit(authorization.id, 1), 'AUTHORIZATION_VOIDED');
    await refused(h.ledger.void('nope'), 'AUTHORIZATION_NOT_FOUND');
    const b = (await h.ledger.createAuthorization(h.bread(h.world.card('H2')))).authorization;
    await h.ledger.commit(b.id, 1);
    await refused(h.ledger.void(b.id), 'AUTHORIZATION_COMMITTED');
    expect(h.ledger.usageFor('H1').rows).toEqual([]);
  });

  it('expires pending authorizations past their expiry, and a late commit finds it expired', async () => {
    const h = harness();
    const a = (await h.ledger.createAuthorization(h.bread(h.world.card('H1'), { expiresInMs: 1000 }))).authorization;
    const b = (await h.ledger.createAuthorization(h.bread(h.world.card('H2'), { expiresInMs: 5000 }))).authorization;
    const c = (await h.ledger.createAuthorization(h.bread(h.world.card('H3'), { expiresInMs: 500 }))).authorization;
    await h.ledger.commit(c.id, 1);
    expect(await h.ledger.expire(T0 + 999)).toEqual([]);
    expect(await h.ledger.expire(T0 + 1000)).toEqual([a.id]);
    expect(await h.ledger.expire(T0 + 1000)).toEqual([]); // idempotent
    expect(h.ledger.authorization(a.id)).toMatchObject({ state: 'expired', endedAt: T0 + 1000 });
    expect(h.ledger.authorization(c.id)?.state).toBe('committed');
    await refused(h.ledger.commit(a.id, 1), 'AUTHORIZATION_EXPIRED');
    expect((await h.ledger.void(a.id)).state).toBe('expired');
    // Not yet swept, but the commit comes too late: refused and marked expired durably.
    h.now = T0 + 5000;
    await refused(h.ledger.commit(b.id, 1), 'AUTHORIZATION_EXPIRED');
    expect(h.reopen().authorization(b.id)?.state).toBe('expired');
    expect(h.ledger.head().seq).toBe(1);
  });

  it('answers a retried authorize under the same key with the stored authorization', async () => {
    const h = harness();
    const card = h.world.card('H1');
    const req = h.bread(card, { key: 'same' });
    const first = await h.ledger.createAuthorization(req);
    // The retry carries fresh evidence (a new card signature) but the same key and request.
    const retry = await h.ledger.createAuthorization({ ...h.bread(card, { key: 'same' }) });
    expect(retry.created).toBe(false);
    expect(retry.authorization).toEqual(first.authorization);
    // Another client may use the same key.
    const other = await h.ledger.createAuthorization(h.bread(card, { key: 'same', clientId: 'pos-2' }));
    expect(other.created).toBe(true);
    // The same key for another request is refused.
    await refused(h.ledger.createAuthorization(h.bread(card, { key: 'same', days: 2 })), 'IDEMPOTENCY_CONFLICT');
    // Concurrent retries: one authorization.
    const req2 = h.bread(h.world.card('H2'), { key: 'k2' });
    const all = await Promise.all([h.ledger.createAuthorization(req2), h.ledger.createAuthorization(req2), h.ledger.createAuthorization(req2)]);
    expect(new Set(all.map((r) => r.authorization.id)).size).toBe(1);
    expect(all.filter((r) => r.created)).toHaveLength(1);
  });

  it('validates its input', async () => {
    const h = harness();
    const card = h.world.card('H1');
    const base = h.bread(card);
    const bad = [
      { ...base, clientId: '' },
      { ...base, idempotencyKey: 'has space' },
      { ...base, service: 'pizza' as never },
      { ...base, requested: [] },
      { ...base, approved: [{ period: '2026-13-01', item: 'loaf', quantity: 1, unitPiastres: 0 }] },
      { ...base, approved: [{ period: '2026-02-30', item: 'loaf', quantity: 1, unitPiastres: 0 }] },
      { ...base, approved: [{ period: '2026-11-20', item: 'loaf', quantity: 0, unitPiastres: 0 }] },
      {
        ...base,
        approved: [
          { period: '2026-11-20', item: 'loaf', quantity: 1, unitPiastres: 0 },
          { period: '2026-11-20', item: 'loaf', quantity: 1, unitPiastres: 0 },
        ],
      },
      { ...base, expiresAt: T0 },
      { ...base, evidence: { ...base.evidence, cardCertificate: new Uint8Array([1, 2, 3]) } },
      { ...base, evidence: { ...base.evidence, holderVerify: undefined } },
    ];
    for (const req of bad) await refused(h.ledger.createAuthorization(req), 'LEDGER_INVALID_INPUT');
    expect(h.ledger.db.prepare('SELECT count(*) AS n FROM authorizations').get()).toEqual({ n: 0 });
  });

  it('refuses evidence that belongs to another transaction', async () => {
    const h = harness();
    const card = h.world.card('H1');
    const other = h.world.card('H2');
    const base = h.bread(card);
    const cases = [
      // card-auth signed by the card for another shop, terminal, service
      h.bread(card, { evidence: { shopId: 'OTHER-SHOP' } }),
      h.bread(card, { evidence: { terminalId: 'SIM0002' } }),
      { ...base, service: 'ration' as const },
      // certificate of another card
      { ...base, evidence: { ...base.evidence, cardCertificate: other.certificate } },
      // holder verification of another transaction (other nonce)
      { ...base, evidence: { ...base.evidence, holderVerify: h.world.evidence(card, { service: 'bread', quantity: 5, timeMs: T0 }).holderVerify } },
      // holder verification that did not match, and no supervisor exception
      h.bread(card, { evidence: { holder: 'no_match' } }),
      // a device certificate of another terminal
      { ...base, evidence: { ...base.evidence, terminalCertificate: h.world.deviceCertificate('SIM0009') } },
    ];
    for (const req of cases) await refused(h.ledger.createAuthorization(req), 'EVIDENCE_MISMATCH');
  });
});

describe('card counters and replayed signatures', () => {
  it('refuses a card counter that does not go up (a clone)', async () => {
    const h = harness();
    const card = h.world.card('H1');
    await h.ledger.createAuthorization(h.bread(card, { evidence: { counter: 10 } }));
    expect(h.ledger.cardCounter(card.cardId)).toBe(10);
    const e = await refused(h.ledger.createAuthorization(h.bread(card, { evidence: { counter: 10 } })), 'CARD_COUNTER_REGRESSION');
    expect(e.detail).toMatchObject({ cardId: card.cardId, counter: 10, highest: 10 });
    await refused(h.ledger.createAuthorization(h.bread(card, { evidence: { counter: 3 } })), 'CARD_COUNTER_REGRESSION');
    await h.ledger.createAuthorization(h.bread(card, { evidence: { counter: 11 } }));
    // The standalone check.
    await refused(h.ledger.checkAndRecordCardCounter(card.cardId, 11), 'CARD_COUNTER_REGRESSION');
    await h.ledger.checkAndRecordCardCounter(card.cardId, 12);
    expect(h.reopen().cardCounter(card.cardId)).toBe(12);
    await refused(h.ledger.checkAndRecordCardCounter(card.cardId, -1), 'LEDGER_INVALID_INPUT');
    // Other cards are independent.
    await h.ledger.checkAndRecordCardCounter('C-other', 1);
  });

  it('binds a card-auth checked during authorize without counting it twice', async () => {
    const h = harness();
    const card = h.world.card('H1');
    const req = h.bread(card, { evidence: { counter: 5 } });
    await h.ledger.checkAndRecordCardCounter(card.cardId, 5, req.evidence.cardAuth);
    const { authorization } = await h.ledger.createAuthorization(req);
    expect(authorization.state).toBe('pending');
    // The same card-auth again, whether checked first or not: replayed.
    await refused(h.ledger.checkAndRecordCardCounter(card.cardId, 5, req.evidence.cardAuth), 'CARD_SIGNATURE_REPLAYED');
    await refused(h.ledger.createAuthorization({ ...req, idempotencyKey: 'other' }), 'CARD_SIGNATURE_REPLAYED');
  });

  it('refuses a card signature already used for another authorization', async () => {
    const h = harness();
    const card = h.world.card('H1');
    const req = h.bread(card);
    const { authorization } = await h.ledger.createAuthorization(req);
    await h.ledger.commit(authorization.id, 5);
    const e = await refused(h.ledger.createAuthorization({ ...req, idempotencyKey: 'replay' }), 'CARD_SIGNATURE_REPLAYED');
    expect(e.detail).toMatchObject({ authorizationId: authorization.id });
    expect(h.ledger.head().seq).toBe(1);
  });
});

describe('supervisor exceptions', () => {
  it('records exceptions flagged on the receipt, capped per day, released by a void', async () => {
    const h = harness();
    const sup = { supervisorId: 'SUP-7', reason: 'fingerprint_failed' };
    const a = (await h.ledger.createAuthorization(h.bread(h.world.card('H1'), { evidence: { holder: 'no_match', supervisor: sup }, supervisorDailyCap: 2 }))).authorization;
    expect(a.supervisorException).toBe(true);
    const b = (await h.ledger.createAuthorization(h.bread(h.world.card('H2'), { evidence: { holder: null, supervisor: { ...sup, withCard: true } }, supervisorDailyCap: 2 }))).authorization;
    expect(h.ledger.supervisorExceptionsOn(dayKey(T0))).toBe(2);
    await refused(h.ledger.createAuthorization(h.bread(h.world.card('H3'), { evidence: { holder: 'no_match', supervisor: sup }, supervisorDailyCap: 2 })), 'SUPERVISOR_CAP_REACHED');
    await h.ledger.void(b.id);
    expect(h.ledger.supervisorExceptionsOn(dayKey(T0))).toBe(1);
    const c = (await h.ledger.createAuthorization(h.bread(h.world.card('H3'), { evidence: { holder: 'no_match', supervisor: { ...sup, withCard: true } }, supervisorDailyCap: 2 })))
      .authorization;
    const ra = (await h.ledger.commit(a.id, 5)).receipt;
    const rc = (await h.ledger.commit(c.id, 5)).receipt;
    expect(ra.supervisorException).toBe(true);
    expect(ra.supervisor).toEqual(sup);
    expect(rc.supervisor?.card?.certificate).toBeInstanceOf(Uint8Array);
    // The next day has its own cap.
    h.now += 86_400_000;
    await h.ledger.createAuthorization(h.bread(h.world.card('H4'), { evidence: { holder: 'timeout', supervisor: sup }, supervisorDailyCap: 1 }));
    expect(verifyLedger(h.ledger, h.world.roots()).ok).toBe(true);
  });
});

describe('durability and the chain across reopen', () => {
  it('keeps every receipt and continues the chain after close and reopen', async () => {
    const h = harness();
    for (let i = 0; i < 3; i++) {
      const a = (await h.ledger.createAuthorization(h.bread(h.world.card(`H${i}`)))).authorization;
      await h.ledger.commit(a.id, 1);
    }
    const head = h.ledger.head();
    const l = h.reopen();
    expect(l.head()).toEqual(head);
    const a = (await l.createAuthorization(h.bread(h.world.card('H9')))).authorization;
    const r = (await l.commit(a.id, 1)).receipt;
    expect(r.seq).toBe(4);
    expect(r.prev).toEqual(head.id);
    expect(verifyLedger(h.path, h.world.roots())).toMatchObject({ ok: true, receipts: 4 });
  });

  it('continues the chain when another handle wrote in between', async () => {
    const h = harness();
    const second = h.open();
    try {
      const a = (await h.ledger.createAuthorization(h.bread(h.world.card('H1')))).authorization;
      await h.ledger.commit(a.id, 1);
      const b = (await second.createAuthorization(h.bread(h.world.card('H2')))).authorization;
      await second.commit(b.id, 1);
      const c = (await h.ledger.createAuthorization(h.bread(h.world.card('H3')))).authorization;
      const r = (await h.ledger.commit(c.id, 1)).receipt;
      expect(r.seq).toBe(3);
      expect(verifyLedger(h.ledger, h.world.roots()).ok).toBe(true);
    } finally {
      second.close();
    }
  });

  it('bulk loads in one transaction and rolls back everything on a failure', async () => {
    const h = harness();
    const card = h.world.card('H1');
    expect(() => h.ledger.createAuthorizationNow(h.bread(card))).toThrowError(expect.objectContaining({ code: 'LEDGER_INVALID_INPUT' }));
    expect(() =>
      h.ledger.bulk(() => {
        const { authorization } = h.ledger.createAuthorizationNow(h.bread(card));
        h.ledger.commitNow(authorization.id, 1);
        h.ledger.commitNow('missing', 1);
      }),
    ).toThrowError(expect.objectContaining({ code: 'AUTHORIZATION_NOT_FOUND' }));
    expect(h.ledger.head().seq).toBe(0);
    expect(h.ledger.db.prepare('SELECT count(*) AS n FROM authorizations').get()).toEqual({ n: 0 });
    // The terminal's certificate went with the rollback; the ledger must not think it stored.
    expect(h.ledger.db.prepare('SELECT count(*) AS n FROM device_certificates').get()).toEqual({ n: 0 });
    const a = (await h.ledger.createAuthorization(h.bread(card))).authorization;
    expect((await h.ledger.commit(a.id, 1)).receipt.seq).toBe(1);
    expect(h.ledger.db.prepare('SELECT count(*) AS n FROM device_certificates').get()).toEqual({ n: 1 });
    expect(verifyLedger(h.ledger, h.world.roots()).ok).toBe(true);
  });
});

describe('authorization ids', () => {
  it('sort by time and are unique', () => {
    const a = authorizationIdAt(1000);
    const b = authorizationIdAt(1001);
    expect(a < b).toBe(true);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(Array.from({ length: 1000 }, () => authorizationIdAt(5))).size).toBe(1000);
  });
});

describe('receipt ids', () => {
  it('are the SHA-512 of the signed bytes, not of the signature', async () => {
    const h = harness();
    const a = (await h.ledger.createAuthorization(h.bread(h.world.card('H1')))).authorization;
    const { receipt } = await h.ledger.commit(a.id, 1);
    expect(receipt.id).toEqual(receiptId(receipt.body));
    expect(receipt.id).not.toEqual(sha512(receipt.signature));
  });
});
