/**
 * `unicard ledger verify|export` as real processes on a ledger file made by the ledger's own
 * test harness: a sound ledger verifies (exit 0), a tampered one names the receipt (exit 1),
 * export writes the unicard-receipts/1 JSON Lines.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdHex } from '../../protocol/crypto/signed-structure.js';
import { savePublicKeyFile } from '../../firmware-sim/hardware/key-file.js';
import { LedgerHarness } from '../../daemon/ledger/ledger-test-kit.js';
import { runCli } from './cli-harness.js';

let h: LedgerHarness;
let keys: string[];

beforeAll(async () => {
  h = new LedgerHarness('cli');
  for (let i = 0; i < 4; i++) {
    const card = h.world.card(`H${i}`, 3);
    const req = h.bread(card, { days: 1 });
    const { authorization } = await h.ledger.createAuthorization(req);
    await h.ledger.commit(authorization.id, 3);
    h.now += 60_000;
  }
  h.ledger.close();
  const issuer = join(h.dir, 'issuer.pub.json');
  const vendor = join(h.dir, 'vendor.pub.json');
  await savePublicKeyFile(issuer, { kind: 'issuer-root', publicKey: h.world.issuerPublicKey, keyId: keyIdHex(h.world.issuerPublicKey) });
  await savePublicKeyFile(vendor, { kind: 'vendor-root', publicKey: h.world.vendorPublicKey, keyId: keyIdHex(h.world.vendorPublicKey) });
  keys = ['--issuer-root', issuer, '--vendor-root', vendor, '--daemon-key', Buffer.from(h.world.daemonPublicKey).toString('hex')];
}, 60_000);
afterAll(() => h?.dispose());

describe('unicard ledger', () => {
  it('verifies a sound ledger, exports it, and names a tampered receipt', async () => {
    const ok = await runCli(['ledger', 'verify', h.path, ...keys, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, receipts: 4 });

    const exported = await runCli(['ledger', 'export', h.path]);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBe(6); // header, 4 receipts, end
    expect(JSON.stringify(lines[0])).toContain('unicard-receipts/1');

    const db = new Database(h.path);
    const row = db.prepare('SELECT body FROM receipts WHERE seq = 2').get() as { body: Buffer };
    const body = Buffer.from(row.body);
    body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 1;
    db.prepare('UPDATE receipts SET body = ? WHERE seq = 2').run(body);
    db.close();
    const bad = await runCli(['ledger', 'verify', h.path, ...keys]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('PROBLEMS');
    expect(bad.stdout).toContain('"seq":2');
  }, 60_000);
});
