/**
 * The shop every fault campaign runs: a demo world, the simulator on a socat pty, the
 * campaign's own cards and signed roster, a dispense.json and a unicardd config pointing at
 * the pty. Each campaign then starts (the crash campaign: restarts) unicardd and its shop
 * client with {@link startShopDaemon}, and presents cards with {@link presentCard}.
 * `close()` stops the simulator and removes everything.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'vitest';
import { ApiClientError, UnicardClient } from '../../daemon/client/index.js';
import { verifyLedger } from '../../daemon/ledger/verify-ledger.js';
import { loadPublicKeyFile } from '../../firmware-sim/hardware/key-file.js';
import { eventually, makeDaemonWorld, startDaemon, startSim, stopAll, tempDir, TRUSTED_TERMINAL, writeDaemonConfig, type DaemonHandle, type DaemonTestWorld, type SimHandle } from '../e2e/daemon-harness.js';
import { makeCampaignCards } from './campaign-cards.js';

/** What a campaign needs of its shop. */
export interface CampaignShop {
  readonly world: DaemonTestWorld;
  readonly dir: string;
  readonly dataDir: string;
  /** The unicardd config file (`--config`). */
  readonly configPath: string;
  readonly sim: SimHandle;
  /** Card files of the campaign's households (see campaign-cards.ts). */
  readonly cards: readonly string[];
  /** The shop token of the daemon config. */
  readonly token: string;
  /** Stops the simulator and every process the harness started, removes the world and the dir. */
  close(): Promise<void>;
}

/** Sets up a campaign's shop; `dispense` adds to or overrides the dispense.json defaults. */
export async function setUpCampaignShop(options: { name: string; token: string; transactions: number; dispense?: Record<string, unknown> }): Promise<CampaignShop> {
  const [world, dir] = await Promise.all([makeDaemonWorld(), tempDir(`unicard-faults-${options.name}-`)]);
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  const campaign = await makeCampaignCards(world, join(dir, 'cards'), Math.min(6, options.transactions));
  await writeFile(
    join(dataDir, 'dispense.json'),
    JSON.stringify({
      shopId: `BAKERY-${options.name.toUpperCase()}-1`,
      shopGovernorate: 3,
      roster: campaign.rosterPath,
      authorizationTtlMs: 60_000,
      cardTimeoutMs: 10_000,
      fingerTimeoutMs: 10_000,
      ...options.dispense,
    }),
  );
  const sim = await startSim(world, { terminalId: TRUSTED_TERMINAL, dir, pty: join(dir, 'sim.tty') });
  const configPath = await writeDaemonConfig(join(dir, 'unicardd.json'), {
    dataDir,
    tokens: { bakery: { token: options.token, role: 'shop' } },
    terminals: { serial: [{ path: sim.address }], enumerate: { enabled: false }, hid: { enabled: false }, rescanIntervalMs: 200 },
    trust: { vendorRoots: [world.vendorPub], issuerRoots: [world.issuerPub] },
  });
  return {
    world,
    dir,
    dataDir,
    configPath,
    sim,
    cards: campaign.cardPaths,
    token: options.token,
    close: async () => {
      await sim.stop();
      await stopAll();
      await world.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until the daemon lists the campaign's terminal as ready. */
export async function terminalReady(client: UnicardClient, timeoutMs = 60_000): Promise<void> {
  await eventually(async () => ((await client.listTerminals()).find((t) => t.id === TRUSTED_TERMINAL)?.state === 'ready' ? true : undefined), timeoutMs, 'terminal ready');
}

/**
 * Starts unicardd on the shop's config and a shop client named `clientName`, which claims the
 * terminal once the daemon lists it ready (waiting up to `claimWaitMs` for a claim another
 * client still holds).
 */
export async function startShopDaemon(shop: CampaignShop, clientName: string, claimWaitMs?: number): Promise<{ daemon: DaemonHandle; client: UnicardClient }> {
  const daemon = await startDaemon(['--config', shop.configPath]);
  const client = await UnicardClient.connect(daemon.ready.socket, { token: shop.token, name: clientName });
  await terminalReady(client);
  await client.claim(TRUSTED_TERMINAL, claimWaitMs === undefined ? {} : { waitMs: claimWaitMs });
  return { daemon, client };
}

/** The customer at the counter: whatever card is in the terminal comes out, `card` goes in, one matching finger is queued. */
export async function presentCard(sim: SimHandle, card: string): Promise<void> {
  await sim.control({ cmd: 'remove' });
  expect((await sim.control({ cmd: 'insert', card })).ok).toBe(true);
  expect((await sim.control({ cmd: 'finger', finger: 0, count: 1 })).ok).toBe(true);
}

/** A commit the shop client saw acknowledged. */
export interface Ack {
  authorizationId: string;
  receiptId: string;
  seq: number;
}

/** What a campaign's ledger holds after the daemon was stopped cleanly. */
export interface LedgerAudit {
  /** verifyLedger's problems with only the public roots (chain, signatures, usage index). */
  problems: unknown[];
  /** Acknowledged commits that are not there exactly once with the receipt the client saw. */
  lost: number;
  /** Sales (idempotency keys) behind more than one receipt, plus receipts for authorizations the client voided. */
  duplicates: number;
  receipts: number;
  /** Authorizations in state committed: equal to `receipts` when none is half-written. */
  committed: number;
  /** Authorizations still pending (the sweeper voids them at expiry). */
  pending: unknown[];
  /** Per household and service: receipts' sums and the usage index's sums (equal when nothing is lost or double-counted). */
  receiptSums: unknown[];
  usageSums: unknown[];
}

/** Opens the campaign's ledger read-only and checks it against what the client saw. */
export async function auditLedger(shop: CampaignShop, acks: readonly Ack[], voided: Iterable<string> = []): Promise<LedgerAudit> {
  const roots = {
    issuerRoots: [(await loadPublicKeyFile(shop.world.issuerPub)).publicKey],
    vendorRoots: [(await loadPublicKeyFile(shop.world.vendorPub)).publicKey],
    daemonPublicKeys: [new Uint8Array(Buffer.from((await readFile(join(shop.dataDir, 'daemon.pub'), 'utf8')).trim(), 'hex'))],
  };
  const ledgerPath = join(shop.dataDir, 'ledger.sqlite');
  const { problems } = verifyLedger(ledgerPath, roots);
  const db = new Database(ledgerPath, { readonly: true });
  try {
    const count = (sql: string, ...args: unknown[]): number => (db.prepare(sql).get(...args) as { n: number }).n;
    let lost = 0;
    for (const a of acks) {
      const rows = db.prepare('SELECT seq, hex(id) AS id FROM receipts WHERE auth_id = ?').all(a.authorizationId) as Array<{ seq: number; id: string }>;
      if (rows.length !== 1 || rows[0]!.seq !== a.seq || rows[0]!.id.toLowerCase() !== a.receiptId) lost++;
    }
    const dupKeys = db.prepare('SELECT a.idem_key, count(*) AS n FROM receipts r JOIN authorizations a ON a.id = r.auth_id GROUP BY a.idem_key HAVING n > 1').all().length;
    const receiptsForVoided = [...voided].filter((id) => count('SELECT count(*) AS n FROM receipts WHERE auth_id = ?', id) > 0).length;
    return {
      problems,
      lost,
      duplicates: dupKeys + receiptsForVoided,
      receipts: count('SELECT count(*) AS n FROM receipts'),
      committed: count("SELECT count(*) AS n FROM authorizations WHERE state = 'committed'"),
      pending: db.prepare("SELECT id, expires FROM authorizations WHERE state = 'pending'").all(),
      receiptSums: db.prepare('SELECT household_id AS h, service AS s, sum(quantity) AS q FROM receipts GROUP BY household_id, service ORDER BY h, s').all(),
      usageSums: db.prepare('SELECT household_id AS h, service AS s, sum(quantity) AS q FROM usage GROUP BY household_id, service HAVING q > 0 ORDER BY h, s').all(),
    };
  } finally {
    db.close();
  }
}

/** What a campaign counts as its cycles run. */
export interface CampaignTally {
  completed: number;
  failedCleanly: number;
  retries: number;
  wrongApprovals: number;
  /** Clean failures by error code. */
  clean: Record<string, number>;
  /** Commits the client saw acknowledged. */
  acks: Ack[];
}

/** The tally's counters, for reportFigures (without the ack list and clean-failure map). */
export function counts(t: CampaignTally): Pick<CampaignTally, 'completed' | 'failedCleanly' | 'retries' | 'wrongApprovals'> {
  return { completed: t.completed, failedCleanly: t.failedCleanly, retries: t.retries, wrongApprovals: t.wrongApprovals };
}

/** A new, empty tally. */
export function newTally(): CampaignTally {
  return { completed: 0, failedCleanly: 0, retries: 0, wrongApprovals: 0, clean: {}, acks: [] };
}

/**
 * Checks that a failed call failed the way DESIGN.md §11 promises — a typed API error with a
 * code and an Arabic text — and returns its code.
 */
export function typedFailureCode(e: unknown, cycle: number): string {
  expect(e, `cycle ${cycle}: ${String(e)}`).toBeInstanceOf(ApiClientError);
  const err = e as ApiClientError;
  expect(err.ar, err.code).toMatch(/[\u0600-\u06ff]/);
  return err.code;
}

/**
 * Ends one cycle of a one-loaf campaign: a failed authorize counts as a clean failure under
 * its last code; an approved one is voided (two times in three) or committed, and anything
 * but one loaf counts as a wrong approval.
 */
export async function settleCycle(client: UnicardClient, tally: CampaignTally, rnd: () => number, key: string, auth: Record<string, unknown> | undefined, lastCode: string): Promise<void> {
  if (auth === undefined) {
    tally.clean[lastCode] = (tally.clean[lastCode] ?? 0) + 1;
    tally.failedCleanly++;
    return;
  }
  if ((auth.approvedQuantity as number) > 1) tally.wrongApprovals++;
  const authorizationId = auth.authorizationId as string;
  // A third commit (the daily share lasts the campaign), the rest void: both must hold under faults.
  if (rnd() < 0.67) {
    expect(await client.call('void', { authorizationId })).toMatchObject({ state: 'voided' });
  } else {
    const r = await client.call<Record<string, unknown>>('commit', { authorizationId, quantity: 1, idempotencyKey: `${key}-c` });
    if ((r.quantity as number) !== 1) tally.wrongApprovals++;
    tally.acks.push({ authorizationId, receiptId: r.receiptId as string, seq: r.seq as number });
  }
  tally.completed++;
}
