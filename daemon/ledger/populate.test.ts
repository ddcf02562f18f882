import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/crypto/bytes.js';
import { buildCardAuthBody, buildHolderVerifyBody } from '../../protocol/crypto/card-structures.js';
import { LedgerHarness } from './ledger-test-kit.js';
import { placeholderCardAuthBody, placeholderHolderBody, populateLedger } from './populate.js';
import { verifyLedger } from './verify-ledger.js';

const harnesses: LedgerHarness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.dispose();
});

describe('populateLedger', () => {
  it('fills a ledger that verifies (with signed card evidence), in more than one call', () => {
    const h = new LedgerHarness('bench');
    harnesses.push(h);
    const first = populateLedger(h.ledger, 300, { world: h.world, signCards: true, households: 12, chunk: 100 });
    expect(first.householdIds).toHaveLength(12);
    const second = populateLedger(h.ledger, 200, { world: h.world, signCards: true, households: 12, startMs: first.lastMs + 86_400_000, seed: 2 });
    expect(second.lastMs).toBeGreaterThan(first.lastMs);
    expect(h.ledger.head().seq).toBe(500);
    const report = verifyLedger(h.ledger, h.world.roots());
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, receipts: 500 });
    const services = h.ledger.db.prepare('SELECT service, count(*) AS n FROM receipts GROUP BY service ORDER BY service').all() as { service: number; n: number }[];
    expect(services.map((s) => s.service)).toEqual([0, 1]); // bread and ration
    expect(h.ledger.db.prepare("SELECT count(*) AS n FROM authorizations WHERE state = 'committed'").get()).toEqual({ n: 500 });
    expect(h.ledger.db.prepare('SELECT count(*) AS n FROM pending_evidence').get()).toEqual({ n: 0 });
    // Usage of the most recent days is there for quota checks.
    expect(h.ledger.usageFor(first.householdIds[0]!, second.lastMs).rows.length).toBeGreaterThan(0);
  });

  it('writes placeholder card-auth and holder-verify bodies exactly as the protocol builders do', () => {
    const f = { nonce: new Uint8Array(32).fill(9), cardId: 'C-H000001', service: 1, quantity: 123_456, shopId: 'PS-1', terminalId: 'T-1', time: 1_795_161_600, counter: 70_000 };
    expect(toHex(placeholderCardAuthBody(f))).toBe(toHex(buildCardAuthBody(f)));
    expect(toHex(placeholderHolderBody(f.nonce, f.cardId))).toBe(toHex(buildHolderVerifyBody({ nonce: f.nonce, cardId: f.cardId, memberIndex: 0, result: 'match', attempts: 1 })));
  });

  it('appendDispensedNow leaves the rows of an authorize followed by a full commit', async () => {
    const h = new LedgerHarness('append');
    harnesses.push(h);
    const card = h.world.card('H1', 2);
    const direct = h.ledger.bulk(() => h.ledger.appendDispensedNow(h.bread(card, { days: 2 })));
    expect(direct).toMatchObject({ seq: 1, quantity: 20 });
    const viaCommit = (await h.ledger.commit((await h.ledger.createAuthorization(h.bread(card, { days: 2 }))).authorization.id, 20)).receipt;
    expect(viaCommit.usage).toEqual(direct.usage);
    const rows = h.ledger.db.prepare('SELECT state, receipt_seq, ended, created FROM authorizations ORDER BY receipt_seq').all();
    expect(rows).toEqual([
      { state: 'committed', receipt_seq: 1, ended: h.now, created: h.now },
      { state: 'committed', receipt_seq: 2, ended: h.now, created: h.now },
    ]);
    expect(() => h.ledger.bulk(() => h.ledger.appendDispensedNow({ ...h.bread(card), idempotencyKey: 'key-1' }))).toThrowError(expect.objectContaining({ code: 'LEDGER_INVALID_INPUT' }));
    expect(verifyLedger(h.ledger, h.world.roots()).ok).toBe(true);
  });
});
