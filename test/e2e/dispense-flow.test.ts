/**
 * Dispensing end to end, all real processes: the simulator on a socat pty (paced at
 * 115,200 baud, its default), unicardd with a config and dispense.json pointing at the demo
 * world's roots, roster and a revocation list, and a shop client on the API socket. Each
 * test moves cards and fingers through the simulator's control socket and asks the daemon.
 *
 * Covered: authorize → commit with progress events; idempotent retries of authorize (the
 * card is not touched again) and commit (same receipt); partial approval and partial commit
 * with the multi-day bread rule, then today's share refused; void (idempotent) and commit
 * after void; expiry by the daemon's sweeper; wrong finger up to the attempt limit, then
 * another member, then the supervisor exception (flagged, capped per day); cards refused for
 * a forged certificate, an unknown issuer, revocation, suspension, replacement, not
 * activated, expiry, not on the roster and another governorate; a cloned card (counter
 * regression); balance; receipts.list; a client that disconnects mid-authorize (nothing
 * recorded); and the ledger verifying offline, then failing after one altered byte.
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { ApiClientError, UnicardClient } from '../../daemon/client/index.js';
import { verifyLedger } from '../../daemon/ledger/verify-ledger.js';
import { loadPublicKeyFile } from '../../firmware-sim/hardware/key-file.js';
import { systemRandomBytes } from '../../firmware-sim/hardware/random.js';
import { initIssuer, makeCard, makeRevocation, type ToolkitContext } from '../../firmware-sim/issuer/toolkit.js';
import { eventually, makeDaemonWorld, startShop, tempDir, TRUSTED_TERMINAL, type DaemonHandle, type DaemonTestWorld, type Shop, type SimHandle } from './daemon-harness.js';

const TOKEN = 'dispense-e2e-token-0123456789';
const TTL_MS = 4000;
const ed = new NodeEd25519();
const ctx: ToolkitContext = { ed, random: systemRandomBytes, nowMs: () => Date.now() };

let world: DaemonTestWorld;
let dir: string;
let shop: Shop;
let dataDir: string;
let sim: SimHandle;
let daemon: DaemonHandle;
let client: UnicardClient;
const progress: Array<Record<string, unknown>> = [];
const expired: string[][] = [];
let keyNo = 0;
const cards: Record<string, string> = {};

const key = (what: string): string => `${what}-${++keyNo}-${Date.now()}`;

async function insert(card: string): Promise<void> {
  await sim.control({ cmd: 'remove' });
  const r = await sim.control({ cmd: 'insert', card });
  expect(r.ok, JSON.stringify(r)).toBe(true);
}

async function finger(f: number | string, count = 1): Promise<void> {
  expect((await sim.control({ cmd: 'finger', finger: f, count })).ok).toBe(true);
}

async function cardCounter(): Promise<number> {
  const st = (await sim.control({ cmd: 'status' })) as { status: { card: { counter: number } } };
  return st.status.card.counter;
}

function authorize(params: Record<string, unknown>): Promise<Record<string, unknown>> {
  return client.call<Record<string, unknown>>('authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', ...params }, { timeoutMs: 60_000 });
}

async function refusal(p: Promise<unknown>): Promise<ApiClientError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiClientError);
    const err = e as ApiClientError;
    // Every refusal: a stable code, English and Arabic.
    expect(err.en.length).toBeGreaterThan(0);
    expect(err.ar).toMatch(/[\u0600-\u06ff]/);
    return err;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  [world, dir] = await Promise.all([makeDaemonWorld(), tempDir('unicard-e2e-dispense-')]);
  const extra = join(dir, 'extra');
  await mkdir(extra, { recursive: true });
  const manifest = JSON.parse(await readFile(join(world.worldDir, 'manifest.json'), 'utf8')) as { cards: { cardId: string; file: string }[] };
  for (const c of manifest.cards) cards[c.cardId] = join(world.worldDir, c.file);
  const issuerKey = join(world.worldDir, 'issuer.key');

  // A forged card: a genuine card file whose certificate signature has one bit flipped.
  const genuine = JSON.parse(await readFile(cards['PSD-000002']!, 'utf8')) as { certificate: string };
  const cert = Buffer.from(genuine.certificate, 'hex');
  cert[cert.length - 1]! ^= 0x01;
  cards.forged = join(extra, 'forged-PSD-000002.json');
  await writeFile(cards.forged, JSON.stringify({ ...genuine, certificate: cert.toString('hex') }), { mode: 0o600 });
  // A card from an issuer nobody configured.
  const rogueDir = join(extra, 'rogue');
  const rogue = await initIssuer(ctx, { dir: rogueDir });
  const rogueCard = await makeCard(ctx, { dir: rogueDir, issuerKeyPath: rogue.keyPath, cardId: 'PSD-000002', householdId: 'HH-03-000002', governorate: 3, members: [{ role: 'head' }] });
  cards.rogue = join(extra, 'rogue-PSD-000002.json');
  await copyFile(rogueCard.cardPath, cards.rogue);
  // Genuine cards the roster does not list: one revoked (stolen), one simply unknown.
  const stolen = await makeCard(ctx, { dir: extra, issuerKeyPath: issuerKey, cardId: 'PSD-000098', householdId: 'HH-03-000098', governorate: 3, members: [{ role: 'head' }] });
  const unlisted = await makeCard(ctx, { dir: extra, issuerKeyPath: issuerKey, cardId: 'PSD-000099', householdId: 'HH-03-000099', governorate: 3, members: [{ role: 'head' }] });
  cards.stolen = stolen.cardPath;
  cards.unlisted = unlisted.cardPath;
  const now = Math.floor(Date.now() / 1000);
  const revocation = await makeRevocation(ctx, {
    dir: extra,
    issuerKeyPath: issuerKey,
    cards: [
      { cardId: 'PSD-000004', cardSerial: 1, revokedAt: now - 864_000, reason: 'replaced' },
      { cardId: 'PSD-000098', cardSerial: 1, revokedAt: now - 3600, reason: 'stolen' },
    ],
    terminals: [],
  });
  // A clone: a copy of a card file (its counter where the card was issued), under another name.
  cards.clone = join(extra, 'clone-PSD-000005.json');
  await copyFile(cards['PSD-000005']!, cards.clone);

  shop = await startShop(world, {
    dir,
    token: TOKEN,
    clientName: 'bakery-pos',
    dispense: {
      shopId: 'BAKERY-PSD-7',
      shopGovernorate: 3,
      roster: join(world.worldDir, 'roster.cbor'),
      revocation: revocation.path,
      supervisors: ['SUP-PSD-1'],
      supervisorDailyCap: 1,
      authorizationTtlMs: TTL_MS,
      cardTimeoutMs: 20_000,
      fingerTimeoutMs: 10_000,
    },
  });
  ({ sim, daemon, client, dataDir } = shop);
  await client.subscribe(['authorization.progress', 'authorization.expired'], (event, params) => {
    if (event === 'authorization.expired') expired.push((params as { authorizationIds: string[] }).authorizationIds);
    else progress.push(params as Record<string, unknown>);
  });
}, 120_000);

afterAll(async () => {
  // The test that reconnects leaves its own client here; the shop closes the first one.
  await client?.close().catch(() => {});
  await shop?.stop();
  await world?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('dispensing over a real pty', () => {
  it('authorizes and commits bread: progress, approval, signed receipt, remaining; retries return the same answers', async () => {
    await insert('PSD-000002');
    await finger(0);
    const k = key('full');
    const from = progress.length;
    const a = await authorize({ quantity: 10, idempotencyKey: k });
    expect(a).toMatchObject({ service: 'bread', cardId: 'PSD-000002', householdId: 'HH-03-000002', approvedQuantity: 10, partial: false, state: 'pending', verifiedMember: 0, replayed: false });
    expect((a.expiresAt as number) - Date.now()).toBeLessThanOrEqual(TTL_MS);
    const stages = progress.slice(from).map((p) => p.stage);
    expect(stages).toEqual(expect.arrayContaining(['waiting_card', 'card_read', 'waiting_finger', 'authorized']));
    expect(progress.slice(from).every((p) => p.idempotencyKey === k)).toBe(true);

    // A retried authorize: the stored answer; the card was not asked again.
    const counter = await cardCounter();
    const again = await authorize({ quantity: 10, idempotencyKey: k });
    expect(again).toMatchObject({ authorizationId: a.authorizationId, approvedQuantity: 10, replayed: true });
    expect(await cardCounter()).toBe(counter);
    // The same key for another request is refused.
    expect((await refusal(authorize({ quantity: 3, idempotencyKey: k }))).code).toBe('IDEMPOTENCY_CONFLICT');

    const r = await client.call<Record<string, unknown>>('commit', { authorizationId: a.authorizationId, quantity: 10, idempotencyKey: `${k}-c` });
    expect(r).toMatchObject({ authorizationId: a.authorizationId, quantity: 10, service: 'bread', shopId: 'BAKERY-PSD-7', terminalId: TRUSTED_TERMINAL, supervisorException: false });
    expect(r.receiptId).toMatch(/^[0-9a-f]{128}$/);
    expect(r.remaining).toMatchObject({ today: 0 });
    expect(r.ar).toMatch(/إيصال/);
    const r2 = await client.call<Record<string, unknown>>('commit', { authorizationId: a.authorizationId, quantity: 10, idempotencyKey: `${k}-c` });
    expect(r2).toMatchObject({ receiptId: r.receiptId, seq: r.seq, replayed: true });
    expect((await refusal(client.call('commit', { authorizationId: a.authorizationId, quantity: 9 }))).code).toBe('COMMIT_CONFLICT');
    expect((await refusal(client.call('void', { authorizationId: a.authorizationId }))).code).toBe('AUTHORIZATION_COMMITTED');
  }, 60_000);

  it('approves less than asked under the multi-day rule, commits part of it, then refuses: today’s share was collected', async () => {
    // Household of 5: 25 loaves a day, at most 2 days at once (households of 4 or more).
    await insert('PSD-000001');
    await finger(0);
    const a = await authorize({ quantity: 60, idempotencyKey: key('multi') });
    expect(a).toMatchObject({ approvedQuantity: 50, partial: true });
    const reasons = a.reasons as Array<{ code: string; en: string; ar: string }>;
    expect(reasons[0]?.code).toBe('BREAD_ADVANCE_LIMIT');
    expect(reasons[0]?.ar).toMatch(/[\u0600-\u06ff]/);
    expect((await refusal(client.call('commit', { authorizationId: a.authorizationId, quantity: 51 }))).code).toBe('COMMIT_EXCEEDS_APPROVED');
    const r = await client.call<Record<string, unknown>>('commit', { authorizationId: a.authorizationId, quantity: 30 });
    expect(r).toMatchObject({ quantity: 30 });
    // Today's 25 and 5 of tomorrow's are taken: nothing more today, whatever tomorrow has left.
    await finger(0);
    const e = await refusal(authorize({ quantity: 5, idempotencyKey: key('multi-again') }));
    expect(e.code).toBe('BREAD_TODAY_COLLECTED');
    expect(e.en).toMatch(/already collected/);
  }, 60_000);

  it('voids an authorization (idempotently); a commit after the void is refused', async () => {
    await insert('PSD-000005');
    await finger(0);
    const a = await authorize({ quantity: 5, idempotencyKey: key('void') });
    expect(await client.call('void', { authorizationId: a.authorizationId })).toEqual({ authorizationId: a.authorizationId, state: 'voided' });
    expect(await client.call('void', { authorizationId: a.authorizationId })).toEqual({ authorizationId: a.authorizationId, state: 'voided' });
    expect((await refusal(client.call('commit', { authorizationId: a.authorizationId, quantity: 5 }))).code).toBe('AUTHORIZATION_VOIDED');
    expect((await refusal(client.call('commit', { authorizationId: 'no-such-authorization', quantity: 5 }))).code).toBe('AUTHORIZATION_NOT_FOUND');
  }, 60_000);

  it('expires an authorization nobody committed: the daemon voids it itself', async () => {
    await insert('PSD-000005');
    await finger(0);
    const a = await authorize({ quantity: 5, idempotencyKey: key('expire') });
    const seen = await eventually(() => expired.find((ids) => ids.includes(a.authorizationId as string)), TTL_MS + 5000, 'the authorization.expired event');
    expect(seen).toContain(a.authorizationId);
    expect((await refusal(client.call('commit', { authorizationId: a.authorizationId, quantity: 5 }))).code).toBe('AUTHORIZATION_EXPIRED');
    expect(await client.call('void', { authorizationId: a.authorizationId })).toEqual({ authorizationId: a.authorizationId, state: 'expired' });
  }, 60_000);

  it('refuses a wrong finger after the attempt limit, lets another member verify, then a supervisor (flagged, capped)', async () => {
    // Household of 3 (PSD-000005): the head, then the two others.
    await insert('PSD-000005');
    await finger('unknown', 3);
    const e = await refusal(authorize({ quantity: 5, idempotencyKey: key('finger') }));
    expect(e.code).toBe('FINGERPRINT_MISMATCH');
    expect(e.data).toMatchObject({ member: 0, attemptsUsed: 3, otherMembers: [1, 2] });
    // The spouse verifies instead.
    await finger(1);
    const a = await authorize({ quantity: 5, idempotencyKey: key('member'), member: 1 });
    expect(a).toMatchObject({ approvedQuantity: 5, verifiedMember: 1, supervisorException: false });
    await client.call('void', { authorizationId: a.authorizationId });
    // Any member (the head is locked out for this card session): the third member matches.
    await finger(2);
    const any = await authorize({ quantity: 5, idempotencyKey: key('any'), holder: 'any' });
    expect(any).toMatchObject({ verifiedMember: 2 });
    await client.call('void', { authorizationId: any.authorizationId });
    // Fingers fail for everyone: a supervisor approves (flagged on the receipt), once a day here.
    expect((await refusal(authorize({ quantity: 5, idempotencyKey: key('sup'), supervisorId: 'SUP-UNKNOWN' }))).code).toBe('SUPERVISOR_NOT_ALLOWED');
    const s = await authorize({ quantity: 5, idempotencyKey: key('sup'), supervisorId: 'SUP-PSD-1' });
    expect(s).toMatchObject({ approvedQuantity: 5, supervisorException: true, verifiedMember: null });
    const r = await client.call<Record<string, unknown>>('commit', { authorizationId: s.authorizationId, quantity: 5 });
    expect(r).toMatchObject({ supervisorException: true, quantity: 5 });
    expect((await refusal(authorize({ quantity: 5, idempotencyKey: key('sup2'), supervisorId: 'SUP-PSD-1' }))).code).toBe('SUPERVISOR_CAP_REACHED');
  }, 90_000);

  it.each([
    ['forged', 'CARD_CERT_INVALID'],
    ['rogue', 'CARD_UNKNOWN_ISSUER'],
    ['stolen', 'CARD_REVOKED'],
    ['unlisted', 'CARD_NOT_IN_ROSTER'],
    ['PSD-000003', 'CARD_SUSPENDED'],
    ['PSD-000004', 'CARD_REPLACED'],
    ['PSD-000006', 'CARD_NOT_ACTIVATED'],
    ['PSD-000007', 'CARD_EXPIRED'],
    ['CAI-000001', 'WRONG_GOVERNORATE'],
  ])('refuses card %s with %s before asking for a finger', async (card, code) => {
    await insert(cards[card] ?? card);
    const from = progress.length;
    const e = await refusal(authorize({ quantity: 5, idempotencyKey: key(card) }));
    expect(e.code).toBe(code);
    expect(progress.slice(from).some((p) => p.stage === 'waiting_finger')).toBe(false);
  }, 60_000);

  it('refuses a cloned card: its counter does not exceed the highest the ledger saw', async () => {
    // PSD-000005 was authorized above (its counter is in the ledger); the copy starts lower.
    await insert(cards.clone!);
    const e = await refusal(authorize({ quantity: 5, idempotencyKey: key('clone') }));
    expect(e.code).toBe('CARD_CLONED');
    expect(e.data).toMatchObject({ cardId: 'PSD-000005' });
  }, 60_000);

  it('refuses a replayed card signature: a terminal answering with the previous transaction’s signature', async () => {
    await insert('PSD-000005');
    await finger(0);
    const genuine = await authorize({ quantity: 1, idempotencyKey: key('replay-genuine') });
    await client.call('void', { authorizationId: genuine.authorizationId });
    expect((await sim.control({ cmd: 'quirk', name: 'replay_card_auth' })).ok).toBe(true);
    try {
      // The replayed signature was made over another nonce: it cannot verify over this one.
      const e = await refusal(authorize({ quantity: 1, idempotencyKey: key('replayed') }));
      expect(e.code).toBe('CARD_SIGNATURE_INVALID');
      expect(e.data).toMatchObject({ cardId: 'PSD-000005' });
    } finally {
      expect((await sim.control({ cmd: 'quirk', name: 'replay_card_auth', enabled: false })).ok).toBe(true);
    }
  }, 60_000);

  it('shows the balance of the card in the slot without dispensing', async () => {
    await insert('PSD-000001');
    const counter = await cardCounter();
    const b = await client.call<Record<string, any>>('balance', { terminalId: TRUSTED_TERMINAL });
    expect(b).toMatchObject({ cardId: 'PSD-000001', householdId: 'HH-03-000001', householdSize: 5, bread: { today: 0, collectableNow: 0 } });
    expect(b.ration.piastres).toBeGreaterThan(0);
    expect(b.bread.remaining.ar).toMatch(/[\u0600-\u06ff]/);
    expect(await cardCounter()).toBe(counter);
  }, 60_000);

  it('authorizes ration goods under the item caps and the rice-or-pasta rule, and commits items', async () => {
    await insert('PSD-000001');
    await finger(0);
    const a = await client.call<Record<string, any>>(
      'authorize',
      { terminalId: TRUSTED_TERMINAL, service: 'ration', items: [{ item: 'sugar', quantity: 8 }, { item: 'pasta', quantity: 2 }, { item: 'rice', quantity: 1 }], idempotencyKey: key('ration') },
      { timeoutMs: 60_000 },
    );
    // Household of 5: sugar 1 kg a person (at most 6 a card) → 5; pasta excludes rice this month.
    expect(a.approved).toEqual([
      { item: 'sugar', quantity: 5 },
      { item: 'pasta', quantity: 2 },
    ]);
    expect(a.reasons.map((r: { code: string }) => r.code)).toEqual(['RATION_ITEM_CAP', 'RATION_EXCLUSIVE']);
    expect((await refusal(client.call('commit', { authorizationId: a.authorizationId, items: [{ item: 'rice', quantity: 1 }] }))).code).toBe('COMMIT_EXCEEDS_APPROVED');
    const r = await client.call<Record<string, any>>('commit', { authorizationId: a.authorizationId, items: [{ item: 'sugar', quantity: 5 }, { item: 'pasta', quantity: 1 }] });
    expect(r.lines).toEqual([
      { item: 'sugar', quantity: 5, piastres: 6300 },
      { item: 'pasta', quantity: 1, piastres: 1000 },
    ]);
    expect(r.remaining.piastres).toBeGreaterThan(0);
  }, 60_000);

  it('lists receipts since a sequence number', async () => {
    const all = await client.call<{ receipts: Array<Record<string, unknown>>; last: number }>('receipts.list', {});
    expect(all.receipts.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(all.last).toBe(4);
    expect(all.receipts.map((r) => r.service)).toEqual(['bread', 'bread', 'bread', 'ration']);
    const after = await client.call<{ receipts: Array<Record<string, unknown>> }>('receipts.list', { since: 2 });
    expect(after.receipts.map((r) => r.seq)).toEqual([3, 4]);
  });

  it('cancels a running authorize on request (authorize.cancel): AUTHORIZE_CANCELLED, nothing recorded', async () => {
    await sim.control({ cmd: 'remove' });
    const k = key('cancel');
    const from = progress.length;
    const pending = refusal(authorize({ quantity: 5, idempotencyKey: k }));
    await eventually(() => progress.slice(from).find((p) => p.stage === 'waiting_card'), 10_000, 'waiting_card');
    expect(await client.call('authorize.cancel', { terminalId: TRUSTED_TERMINAL })).toEqual({ terminalId: TRUSTED_TERMINAL, cancelled: true });
    expect((await pending).code).toBe('AUTHORIZE_CANCELLED');
    expect(await client.call('authorize.cancel', { terminalId: TRUSTED_TERMINAL })).toEqual({ terminalId: TRUSTED_TERMINAL, cancelled: false });
    const receipts = await client.call<{ last: number }>('receipts.list', {});
    expect(receipts.last).toBe(4);
  }, 60_000);

  it('cancels an authorize whose client disconnects, and records nothing', async () => {
    await sim.control({ cmd: 'remove' });
    const k = key('gone');
    const from = progress.length;
    const pending = authorize({ quantity: 5, idempotencyKey: k }).catch((e: unknown) => e);
    await eventually(() => progress.slice(from).find((p) => p.stage === 'waiting_card'), 10_000, 'waiting_card');
    expect(((await sim.control({ cmd: 'status' })) as { status: { activeRequests: number } }).status.activeRequests).toBeGreaterThanOrEqual(1);
    await client.close();
    expect(await pending).toBeInstanceOf(ApiClientError);
    // The daemon sent Cancel: the terminal stops waiting for a card.
    await eventually(async () => (((await sim.control({ cmd: 'status' })) as { status: { activeRequests: number } }).status.activeRequests === 0 ? true : undefined), 5000, 'the CardWait cancelled');
    client = await UnicardClient.connect(daemon.ready.socket, { token: TOKEN, name: 'bakery-pos' });
    await client.subscribe(['authorization.progress'], (_event, params) => progress.push(params as Record<string, unknown>));
    await eventually(async () => ((await client.claim(TRUSTED_TERMINAL, { waitMs: 2000 })).terminalId ? true : undefined), 10_000, 'the claim');
    await insert('PSD-000005');
    await finger(0);
    // The same key again: nothing was recorded under it, so this is a fresh authorization.
    const a = await authorize({ quantity: 5, idempotencyKey: k });
    expect(a).toMatchObject({ approvedQuantity: 5, replayed: false });
    await client.call('void', { authorizationId: a.authorizationId });
  }, 60_000);

  it('a terminal unplugged mid-authorize: TERMINAL_GONE, nothing recorded, and it works again once back', async () => {
    await insert('PSD-000005');
    const k = key('unplug');
    const from = progress.length;
    const before = (await client.call<{ last: number }>('receipts.list', {})).last;
    const pending = authorize({ quantity: 5, idempotencyKey: k }).catch((e: unknown) => e);
    await eventually(() => progress.slice(from).find((p) => p.stage === 'waiting_finger'), 10_000, 'waiting_finger');
    expect((await sim.control({ cmd: 'vanish' })).ok).toBe(true);
    const e = (await pending) as ApiClientError;
    expect(e).toBeInstanceOf(ApiClientError);
    expect(e.code).toBe('TERMINAL_GONE');
    expect((await sim.control({ cmd: 'return' })).ok).toBe(true);
    await eventually(async () => ((await client.listTerminals()).find((t) => t.id === TRUSTED_TERMINAL)?.state === 'ready' ? true : undefined), 20_000, 'terminal ready again');
    // The citizen takes the card out and in again (the old verification ends with it).
    await insert('PSD-000005');
    await finger(0);
    const a = await authorize({ quantity: 5, idempotencyKey: k });
    expect(a).toMatchObject({ approvedQuantity: 5, replayed: false });
    await client.call('void', { authorizationId: a.authorizationId });
    expect((await client.call<{ last: number }>('receipts.list', {})).last).toBe(before);
  }, 60_000);

  it('the ledger verifies offline with only the public roots, and fails after one altered byte', async () => {
    await client.close();
    expect((await daemon.stop('SIGTERM')).code).toBe(0);
    const roots = {
      issuerRoots: [(await loadPublicKeyFile(world.issuerPub)).publicKey],
      vendorRoots: [(await loadPublicKeyFile(world.vendorPub)).publicKey],
      daemonPublicKeys: [new Uint8Array(Buffer.from((await readFile(join(dataDir, 'daemon.pub'), 'utf8')).trim(), 'hex'))],
    };
    const ledgerPath = join(dataDir, 'ledger.sqlite');
    const good = verifyLedger(ledgerPath, roots);
    expect(good.problems).toEqual([]);
    expect(good.ok).toBe(true);
    const altered = join(dir, 'altered.sqlite');
    await copyFile(ledgerPath, altered);
    const db = new Database(altered);
    const row = db.prepare('SELECT seq, body FROM receipts WHERE seq = 2').get() as { seq: number; body: Buffer };
    const body = Buffer.from(row.body);
    body[body.length - 3]! ^= 0x01;
    db.prepare('UPDATE receipts SET body = ? WHERE seq = ?').run(body, row.seq);
    db.close();
    const bad = verifyLedger(altered, roots);
    expect(bad.ok).toBe(false);
    expect(bad.problems.length).toBeGreaterThan(0);
  }, 60_000);
});
