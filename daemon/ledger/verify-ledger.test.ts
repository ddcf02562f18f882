import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { issueCardCertificate } from '../../protocol/crypto/certificates.js';
import { FixtureWorld, seedFrom } from './ledger-fixtures.js';
import { LedgerHarness } from './ledger-test-kit.js';
import { verifyLedger, type LedgerReport } from './verify-ledger.js';

const harnesses: LedgerHarness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.dispose();
});

/** A ledger with `n` receipts of different kinds: bread, ration, supervisor exceptions. */
async function filled(n = 5): Promise<LedgerHarness> {
  const h = new LedgerHarness('verify');
  harnesses.push(h);
  for (let i = 0; i < n; i++) {
    const card = h.world.card(`H${i % 3}`, 2 + (i % 4));
    const req =
      i % 5 === 3
        ? h.ration(card, [{ item: 'sugar', quantity: 1, unitPiastres: 1260 }])
        : i % 5 === 4
          ? h.bread(card, { evidence: { holder: 'no_match', supervisor: { supervisorId: 'SUP-1', reason: 'fingerprint_failed', withCard: i % 2 === 0 } } })
          : h.bread(card, { days: 1 + (i % 2) });
    const { authorization } = await h.ledger.createAuthorization(req);
    await h.ledger.commit(authorization.id, req.service === 'ration' ? [{ item: 'sugar', quantity: 1 }] : 3);
    h.now += 60_000;
  }
  return h;
}

function codesAt(report: LedgerReport): string[] {
  return report.problems.map((p) => `${p.seq ?? '-'}:${p.code}`);
}

describe('verifyLedger', () => {
  it('accepts a good ledger with only the public keys, from an open ledger or the file', async () => {
    const h = await filled(10);
    const live = verifyLedger(h.ledger, h.world.roots());
    expect(live).toMatchObject({ ok: true, receipts: 10, problems: [], warnings: [], truncated: 0 });
    expect(live.head).toEqual({ seq: 10, idHex: Buffer.from(h.ledger.head().id).toString('hex') });
    h.ledger.close();
    expect(verifyLedger(h.path, h.world.roots())).toMatchObject({ ok: true, receipts: 10 });
  });

  it('names the receipt whose body was altered with an UPDATE', async () => {
    const h = await filled(5);
    const body = h.ledger.db.prepare('SELECT body FROM receipts WHERE seq = 3').get() as { body: Buffer };
    const altered = Buffer.from(body.body);
    const at = altered.indexOf(Buffer.from('PS-BAKERY-0042'));
    altered[at + 3] = (altered[at + 3] as number) ^ 0x01; // one byte of the shop id
    h.ledger.db.prepare('UPDATE receipts SET body = ? WHERE seq = 3').run(altered);
    const report = verifyLedger(h.ledger, h.world.roots());
    expect(report.ok).toBe(false);
    expect(new Set(report.problems.map((p) => p.seq))).toEqual(new Set([3]));
    expect(codesAt(report)).toEqual(expect.arrayContaining(['3:RECEIPT_ID_MISMATCH', '3:DAEMON_SIGNATURE_INVALID', '3:CARD_AUTH_MISMATCH']));
  });

  it('names the receipt when one byte of the SQLite file is altered', async () => {
    const h = await filled(4);
    const body = Buffer.from((h.ledger.db.prepare('SELECT body FROM receipts WHERE seq = 2').get() as { body: Buffer }).body);
    h.ledger.close(); // checkpoints the WAL into the file
    const file = readFileSync(h.path);
    const at = file.indexOf(body);
    expect(at).toBeGreaterThan(0);
    expect(file.indexOf(body, at + 1)).toBe(-1);
    // A byte in the middle of the body (inside the card certificate).
    file[at + Math.floor(body.length / 2)] = (file[at + Math.floor(body.length / 2)] as number) ^ 0x40;
    writeFileSync(h.path, file);
    const report = verifyLedger(h.path, h.world.roots());
    expect(report.ok).toBe(false);
    expect(report.problems.length).toBeGreaterThan(0);
    expect(new Set(report.problems.map((p) => p.seq))).toEqual(new Set([2]));
    expect(codesAt(report)).toContain('2:RECEIPT_ID_MISMATCH');
  });

  it('finds a usage index that does not equal the sums of the receipts', async () => {
    const h = await filled(5);
    const row = h.ledger.db.prepare('SELECT household_id, period, service, item FROM usage LIMIT 1').get() as Record<string, unknown>;
    h.ledger.db.prepare('UPDATE usage SET quantity = quantity - 1 WHERE household_id = @household_id AND period = @period AND service = @service AND item = @item').run(row);
    let report = verifyLedger(h.ledger, h.world.roots());
    expect(codesAt(report)).toEqual(['-:USAGE_INDEX_MISMATCH', '-:USAGE_INDEX_MISMATCH']);
    expect(report.problems[0]?.message).toMatch(/household H\d/);
    h.ledger.db.prepare("INSERT INTO usage VALUES ('H9', '2026-11-20', 0, 'loaf', 5, 0, 1)").run();
    report = verifyLedger(h.ledger, h.world.roots());
    expect(report.problems.filter((p) => p.code === 'USAGE_INDEX_MISMATCH')).toHaveLength(3);
  });

  it('finds a removed receipt: the seq gap, the broken chain and the orphaned authorization', async () => {
    const h = await filled(5);
    h.ledger.db.prepare('DELETE FROM receipts WHERE seq = 3').run();
    const report = verifyLedger(h.ledger, h.world.roots());
    expect(codesAt(report)).toEqual(expect.arrayContaining(['4:SEQ_GAP', '4:CHAIN_BROKEN', '-:USAGE_INDEX_MISMATCH', '-:AUTHORIZATION_STATE_MISMATCH']));
  });

  it('refuses receipts signed by an unknown daemon key and cards under an unknown issuer', async () => {
    const h = await filled(2);
    const stranger = new FixtureWorld('stranger');
    const report = verifyLedger(h.ledger, { ...stranger.roots(), vendorRoots: [h.world.vendorPublicKey] });
    expect(codesAt(report)).toEqual(['1:DAEMON_KEY_UNKNOWN', '1:CARD_CERT_INVALID', '2:DAEMON_KEY_UNKNOWN', '2:CARD_CERT_INVALID']);
    // A terminal under no vendor root given is a warning (pinned by a technician), not a failure.
    const pinned = verifyLedger(h.ledger, { ...h.world.roots(), vendorRoots: [stranger.vendorPublicKey] });
    expect(pinned.ok).toBe(true);
    expect(pinned.warnings.map((w) => w.code)).toEqual(['TERMINAL_VENDOR_UNKNOWN', 'TERMINAL_VENDOR_UNKNOWN']);
  });

  it('finds forged evidence the daemon was handed: certificate, card signature, holder signature, quantity', async () => {
    const h = new LedgerHarness('forged');
    harnesses.push(h);
    const card = h.world.card('H1', 2);
    const commit = async (req: ReturnType<LedgerHarness['bread']>) => {
      const { authorization } = await h.ledger.createAuthorization(req);
      await h.ledger.commit(authorization.id, 5);
    };
    // 1: a certificate for the same card key, signed by someone who is not the issuer.
    const forgedCert = issueCardCertificate(h.world.ed, seedFrom('forger'), {
      subjectPublicKey: h.world.ed.publicKeyFromSeed(card.seed),
      validFrom: 0,
      validUntil: 2 ** 31,
      cardId: card.cardId,
      householdId: 'H1',
      governorate: 3,
      members: [{ index: 0, role: 0 }],
      cardSerial: 1,
    });
    const r1 = h.bread(card);
    await commit({ ...r1, evidence: { ...r1.evidence, cardCertificate: forgedCert } });
    // 2: a card signature with one bit flipped.
    const r2 = h.bread(card);
    const sig2 = new Uint8Array(r2.evidence.cardAuth.signature);
    sig2[5] = (sig2[5] as number) ^ 1;
    await commit({ ...r2, evidence: { ...r2.evidence, cardAuth: { body: r2.evidence.cardAuth.body, signature: sig2 } } });
    // 3: a holder verification with a bad signature.
    const r3 = h.bread(card);
    const sig3 = new Uint8Array(r3.evidence.holderVerify!.signature);
    sig3[7] = (sig3[7] as number) ^ 1;
    await commit({ ...r3, evidence: { ...r3.evidence, holderVerify: { body: r3.evidence.holderVerify!.body, signature: sig3 } } });
    // 4: the card approved 2 loaves, the receipt says 5.
    await commit(h.bread(card, { evidence: { quantity: 2 } }));
    const report = verifyLedger(h.ledger, h.world.roots());
    expect(codesAt(report)).toEqual(['1:CARD_CERT_INVALID', '2:CARD_AUTH_INVALID', '3:HOLDER_VERIFY_INVALID', '4:DISPENSED_EXCEEDS_CARD_AUTH']);
  });

  it('finds one card signature behind two receipts, and a reused counter', async () => {
    const h = new LedgerHarness('reuse');
    harnesses.push(h);
    const card = h.world.card('H1');
    const req = h.bread(card, { evidence: { counter: 4 } });
    await h.ledger.commit((await h.ledger.createAuthorization(req)).authorization.id, 1);
    // Someone with write access removes the replay and counter records and tries again.
    h.ledger.db.exec('DELETE FROM card_auths; DELETE FROM card_counters');
    await h.ledger.commit((await h.ledger.createAuthorization({ ...req, idempotencyKey: 'again' })).authorization.id, 1);
    h.ledger.db.exec('DELETE FROM card_counters');
    await h.ledger.commit((await h.ledger.createAuthorization(h.bread(card, { evidence: { counter: 4 } }))).authorization.id, 1);
    expect(codesAt(verifyLedger(h.ledger, h.world.roots()))).toEqual(['2:CARD_SIGNATURE_REUSED', '3:CARD_COUNTER_REUSED']);
  });

  it('finds stored columns that disagree with the signed body', async () => {
    const h = await filled(3);
    h.ledger.db.prepare('UPDATE receipts SET quantity = 99, household_id = ? WHERE seq = 2').run('H7');
    expect(codesAt(verifyLedger(h.ledger, h.world.roots()))).toEqual(['2:COLUMN_MISMATCH']);
  });

  it('lists at most maxProblems and counts the rest', async () => {
    const h = await filled(6);
    const report = verifyLedger(h.ledger, { ...h.world.roots(), daemonPublicKeys: [] }, { maxProblems: 2 });
    expect(report.problems).toHaveLength(2);
    expect(report.truncated).toBe(4);
    expect(report.ok).toBe(false);
  });

  it('throws LEDGER_CORRUPT for a file that is not a ledger', async () => {
    const h = await filled(1);
    const other = join(h.dir, 'other.db');
    new Database(other).exec('CREATE TABLE receipts (x)');
    expect(() => verifyLedger(other, h.world.roots())).toThrowError(expect.objectContaining({ code: 'LEDGER_CORRUPT' }));
  });
});
