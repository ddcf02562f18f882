/**
 * DispenseService against the reference terminal firmware on an in-memory link (the same
 * firmware the e2e tests run as a process), with a real ledger in a temp dir: the cases
 * that need a hand on the daemon's nonce and clock (a replayed card signature), ration
 * goods with item caps and the exclusive group, and the supervisor-free paths' evidence
 * verifying offline.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { createMemoryLinkPair } from '../../link/memory-link.js';
import { loadPublicKeyFile } from '../../firmware-sim/hardware/key-file.js';
import { verifyRevocationList, verifyRoster } from '../../firmware-sim/issuer/signed-lists.js';
import { SimulatedTerminal } from '../../firmware-sim/terminal/simulated-terminal.js';
import { makeTestWorld, type TestWorld } from '../../firmware-sim/terminal/test-world.js';
import { issuerRootsOf, trustFor } from '../../test/e2e/sim-harness.js';
import { TerminalSession } from '../session/index.js';
import { Ledger } from '../ledger/ledger.js';
import { verifyLedger } from '../ledger/verify-ledger.js';
import { addDays, cairoDay, daysBetween, DEFAULT_POLICY, firstDayOf, lastDayOf, monthOf } from '../policy/index.js';
import { DispenseService, DISPENSE_DEFAULTS } from './dispense-service.js';
import { DispenseError } from './dispense-errors.js';

const ed = new NodeEd25519();
let world: TestWorld;
let dir: string;
let terminal: SimulatedTerminal;
let session: TerminalSession;
let ledger: Ledger;
let nonce = new Uint8Array(32).fill(7);
let service: DispenseService;
const daemonSeed = new Uint8Array(32).fill(3);
const T0 = Date.now();
const cardFile = (id: string): string => join(world.dir, world.manifest.cards.find((c) => c.cardId === id)!.file);

async function insert(ref: string): Promise<void> {
  await terminal.control({ cmd: 'remove' }).catch(() => undefined);
  const r = await terminal.control({ cmd: 'insert', card: ref });
  expect(r.ok).toBe(true);
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DispenseError);
    return (e as DispenseError).code as string;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  world = await makeTestWorld();
  dir = await mkdtemp(join(tmpdir(), 'unicard-dispense-'));
  terminal = await SimulatedTerminal.fromWorld({ durable: false, worldDir: world.dir, stateDir: join(dir, 'state') });
  const [hostLink, deviceLink] = createMemoryLinkPair();
  terminal.attach(deviceLink);
  session = await TerminalSession.open(hostLink, { trust: await trustFor(world), bannerTimeoutMs: 2000 });
  const issuerKeys = await issuerRootsOf(world);
  ledger = Ledger.open(join(dir, 'ledger.sqlite'), { daemonSeed, ed });
  service = new DispenseService({
    ledger,
    policies: [DEFAULT_POLICY],
    roster: verifyRoster(new Uint8Array(await readFile(join(world.dir, world.manifest.roster.file))), issuerKeys, ed),
    revocation: verifyRevocationList(new Uint8Array(await readFile(join(world.dir, world.manifest.revocation.file))), issuerKeys, ed),
    issuerKeys,
    ed,
    settings: { ...DISPENSE_DEFAULTS, shopId: 'GROCER-PSD-3', shopGovernorate: 3, supervisors: [], fingerTimeoutMs: 5000, cardTimeoutMs: 5000 },
    // A fixed nonce (and second) lets a copied card produce the very same signature twice.
    nonce: () => nonce,
    clock: () => T0,
  });
});

afterAll(async () => {
  await session?.close();
  terminal?.close();
  ledger?.close();
  await world?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('DispenseService on the reference firmware', () => {
  it('approves ration goods under the item caps and the exclusive group, and commits items', async () => {
    await insert('PSD-000001');
    await terminal.control({ cmd: 'finger', finger: 0 });
    const a = await service.authorize(
      { terminalId: 'SIM0001', service: 'ration', items: [{ item: 'sugar', quantity: 10 }, { item: 'rice', quantity: 2 }, { item: 'pasta', quantity: 1 }], idempotencyKey: 'r1' },
      { clientId: 'grocer', session },
    );
    // Household of 5: sugar 1 kg a person, at most 6 a card → 5; rice and pasta exclude each other.
    expect(a.approved).toEqual([
      { item: 'sugar', quantity: 5 },
      { item: 'rice', quantity: 2 },
    ]);
    expect(a.reasons.map((r) => r.code)).toEqual(['RATION_ITEM_CAP', 'RATION_EXCLUSIVE']);
    const r = await service.commit('grocer', a.authorizationId, [
      { item: 'sugar', quantity: 5 },
      { item: 'rice', quantity: 1 },
    ]);
    expect(r.lines).toEqual([
      { item: 'sugar', quantity: 5, piastres: 6300 },
      { item: 'rice', quantity: 1, piastres: 1200 },
    ]);
    expect(r.remaining?.piastres).toBeGreaterThan(0);
    // Another client cannot see or commit it.
    expect(await code(service.commit('other-shop', a.authorizationId, [{ item: 'sugar', quantity: 5 }]))).toBe('AUTHORIZATION_NOT_FOUND');
  });

  it('a retry gets the very answer while the authorization is pending, and the ledger record once it is closed', async () => {
    await insert('PSD-000001');
    await terminal.control({ cmd: 'finger', finger: 0 });
    const req = { terminalId: 'SIM0001', service: 'ration' as const, items: [{ item: 'pasta', quantity: 1 }, { item: 'rice', quantity: 1 }], idempotencyKey: 'r-retry' };
    const a = await service.authorize(req, { clientId: 'grocer', session });
    expect(a.reasons.length).toBeGreaterThan(0);
    expect(a.remaining).toBeDefined();
    expect(await service.authorize(req, { clientId: 'grocer', session })).toEqual({ ...a, replayed: true });
    await service.void('grocer', a.authorizationId);
    // Closed: the kept answer is gone (memory follows the open authorizations); the record stays.
    const after = await service.authorize(req, { clientId: 'grocer', session });
    expect(after).toEqual({ ...a, state: 'voided', reasons: [], remaining: undefined, verifiedMember: null, replayed: true });
  });

  it('refuses ration goods that are not on the price list, naming the item', async () => {
    await insert('PSD-000001');
    await terminal.control({ cmd: 'finger', finger: 0 });
    try {
      await service.authorize({ terminalId: 'SIM0001', service: 'ration', items: [{ item: 'caviar', quantity: 1 }], idempotencyKey: 'r-unknown' }, { clientId: 'grocer', session });
      throw new Error('expected a refusal');
    } catch (e) {
      expect(e).toBeInstanceOf(DispenseError);
      expect((e as DispenseError).code as string).toBe('RATION_ITEM_UNKNOWN');
      expect((e as DispenseError).en).toContain('caviar');
    }
  });

  it('refuses a replayed card signature: a copied card signing the same nonce, time and counter', async () => {
    nonce = new Uint8Array(32).fill(9);
    await copyFile(cardFile('PSD-000002'), join(dir, 'a-PSD-000002.json'));
    await copyFile(cardFile('PSD-000002'), join(dir, 'b-PSD-000002.json'));
    await insert(join(dir, 'a-PSD-000002.json'));
    await terminal.control({ cmd: 'finger', finger: 0 });
    const first = await service.authorize({ terminalId: 'SIM0001', service: 'bread', quantity: 5, idempotencyKey: 'p1' }, { clientId: 'bakery', session });
    expect(first.approvedQuantity).toBe(5);
    await insert(join(dir, 'b-PSD-000002.json'));
    await terminal.control({ cmd: 'finger', finger: 0 });
    expect(await code(service.authorize({ terminalId: 'SIM0001', service: 'bread', quantity: 5, idempotencyKey: 'p2' }, { clientId: 'bakery', session }))).toBe(
      'CARD_SIGNATURE_REPLAYED',
    );
    // With another nonce the copy signs other bytes with the same counter: a clone.
    nonce = new Uint8Array(32).fill(10);
    const fresh = join(dir, 'c-PSD-000002.json');
    await copyFile(cardFile('PSD-000002'), fresh);
    await insert(fresh);
    await terminal.control({ cmd: 'finger', finger: 0 });
    expect(await code(service.authorize({ terminalId: 'SIM0001', service: 'bread', quantity: 5, idempotencyKey: 'p3' }, { clientId: 'bakery', session }))).toBe('CARD_CLONED');
  });

  it('writes evidence an auditor verifies with only the public roots', async () => {
    const issuer = await loadPublicKeyFile(join(world.dir, world.manifest.issuer.publicKeyFile));
    const vendor = await loadPublicKeyFile(join(world.dir, world.manifest.vendor.publicKeyFile));
    const report = verifyLedger(ledger, { issuerRoots: [issuer.publicKey], vendorRoots: [vendor.publicKey], daemonPublicKeys: [ed.publicKeyFromSeed(daemonSeed)] });
    expect(report.problems).toEqual([]);
    expect(report.receipts).toBe(1);
  });
});

describe('bread points through the ledger', () => {
  it('credits last month’s uncollected loaves (10 piastres each) to this month’s ration balance', async () => {
    const card = world.manifest.cards.find((c) => c.cardId === 'PSD-000001')!;
    // A day early in the card's life, and the second day of the following month (noon, Cairo).
    const a = (card.validFrom + 86_400 + 3600) * 1000;
    const month = monthOf(cairoDay(a / 1000));
    const next = addDays(lastDayOf(month), 2);
    const b = Date.parse(`${next}T10:00:00Z`);
    let now = a;
    const issuerKeys = await issuerRootsOf(world);
    const pointsLedger = Ledger.open(join(dir, 'points.sqlite'), { daemonSeed, ed, clock: () => now });
    try {
      const svc = new DispenseService({
        ledger: pointsLedger,
        policies: [{ ...DEFAULT_POLICY, effectiveFrom: '2000-01-01' }],
        roster: verifyRoster(new Uint8Array(await readFile(join(world.dir, world.manifest.roster.file))), issuerKeys, ed),
        revocation: undefined,
        issuerKeys,
        ed,
        settings: { ...DISPENSE_DEFAULTS, shopId: 'BAKERY-PSD-1', shopGovernorate: 3, supervisors: [], fingerTimeoutMs: 5000, cardTimeoutMs: 5000 },
        clock: () => now,
      });
      await insert('PSD-000001');
      await terminal.control({ cmd: 'finger', finger: 0 });
      const auth = await svc.authorize({ terminalId: 'SIM0001', service: 'bread', quantity: 25, idempotencyKey: 'bp1' }, { clientId: 'bakery', session });
      await svc.commit('bakery', auth.authorizationId, 25);
      now = b;
      const balance = (await svc.balance(session, 1000)) as { ration: { credit: { base: number; unusedLoaves: number; breadPoints: number; total: number } } };
      // Household of 5: 25 loaves a day from the card's active day to the month's end, 25 collected.
      const from = cairoDay(card.validFrom) > firstDayOf(month) ? cairoDay(card.validFrom) : firstDayOf(month);
      const unused = 25 * (daysBetween(from, lastDayOf(month)) + 1) - 25;
      expect(balance.ration.credit).toEqual({ base: 4 * 5000 + 2500, unusedLoaves: unused, breadPoints: unused * 10, total: 22_500 + unused * 10 });
    } finally {
      pointsLedger.close();
    }
  });
});
