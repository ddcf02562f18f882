/**
 * Crash campaign, all real processes: the simulator on a socat pty, unicardd with a ledger,
 * and a shop client running authorize → commit (or void) transactions. At seeded random
 * points unicardd is killed with SIGKILL — while an authorize runs, between authorize and
 * commit, a few milliseconds into a commit, right after a commit was acknowledged, or
 * after an authorize the client then abandons — and restarted on the same data dir. The
 * client retries the way DISPENSE-API.md says (same idempotency key, same authorization).
 *
 * Afterwards (ledger opened read-only after a clean stop): the chain verifies with only the
 * public roots; every commit the client saw acknowledged is there exactly once with the
 * same receipt id; no idempotency key has two receipts; no authorization is left pending
 * past its expiry; the usage index sums equal the receipts' sums per household and service.
 *
 * N = UNICARD_CRASH_TRANSACTIONS (6 in `make test`, 200 under `make reliability`); the seed
 * is UNICARD_CRASH_SEED or printed, so a failing run can be replayed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClientError, UnicardClient } from '../../daemon/client/index.js';
import {
  TRUSTED_TERMINAL,
  type DaemonHandle,
  type SimHandle,
} from '../e2e/daemon-harness.js';
import { auditLedger, presentCard, setUpCampaignShop, startShopDaemon, type CampaignShop } from './campaign-shop.js';
import { envCount, reportFigures, seededRandom } from './figures.js';

const TOKEN = 'crash-campaign-token-0123456789';
const TTL_MS = 5000;
const N = envCount('UNICARD_CRASH_TRANSACTIONS', 6);
const SEED = envCount('UNICARD_CRASH_SEED', (Date.now() % 1_000_000) + 1);
/** Card files of the campaign (see campaign-cards.ts), enough quota for 200 transactions. */
let CARDS: readonly string[] = [];
/** Codes a transaction may cleanly end with (a quota used up by earlier commits, an authorization that expired while the daemon was down). */
const CLEAN_CODES = new Set(['BREAD_TODAY_COLLECTED', 'BREAD_ADVANCE_LIMIT', 'AUTHORIZATION_EXPIRED']);

type KillPoint = 'none' | 'during-authorize' | 'before-commit' | 'during-commit' | 'after-commit' | 'abandon';
const KILL_POINTS: KillPoint[] = ['during-authorize', 'before-commit', 'during-commit', 'after-commit', 'abandon'];

let shop: CampaignShop;
let sim: SimHandle;
let daemon: DaemonHandle;
let client: UnicardClient;

beforeAll(async () => {
  shop = await setUpCampaignShop({ name: 'crash', token: TOKEN, transactions: N, dispense: { authorizationTtlMs: TTL_MS, cardTimeoutMs: 20_000 } });
  ({ sim } = shop);
  CARDS = shop.cards;
  await startAndConnect();
}, 120_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  await daemon?.stop();
  await shop?.close();
}, 60_000);

async function startAndConnect(): Promise<void> {
  ({ daemon, client } = await startShopDaemon(shop, 'crash-pos', 5000));
}

/** SIGKILL, then a restart on the same data dir and a fresh client. */
async function crashAndRestart(): Promise<void> {
  const st = await daemon.stop('SIGKILL');
  expect(st.signal).toBe('SIGKILL');
  await client.close().catch(() => {});
  await startAndConnect();
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const codeOf = (e: unknown): string => (e instanceof ApiClientError ? e.code : `RAW:${String(e)}`);

interface Ack {
  authorizationId: string;
  receiptId: string;
  seq: number;
  key: string;
}

describe('unicardd killed with SIGKILL at random points', () => {
  it(`keeps every acknowledged commit exactly once, leaves nothing pending, usage = receipts (N=${N})`, async () => {
    const rnd = seededRandom(SEED);
    console.log(`crash campaign: N=${N} seed=${SEED}`);
    const acks: Ack[] = [];
    const voided = new Set<string>();
    const f = { faultsInjected: 0, completed: 0, failedCleanly: 0, retries: 0, wrongApprovals: 0 };
    const clean: Record<string, number> = {};

    for (let i = 0; i < N; i++) {
      const card = CARDS[i % CARDS.length]!;
      const key = `crash-${SEED}-${i}`;
      const kill: KillPoint = rnd() < 0.5 ? KILL_POINTS[Math.floor(rnd() * KILL_POINTS.length)]! : 'none';
      // A third of the transactions void instead of committing (the quota lasts longer, and voids are crash-tested too).
      const finish: 'commit' | 'void' = rnd() < 0.33 ? 'void' : 'commit';
      if (kill !== 'none') f.faultsInjected++;
      try {
        // authorize, retried under the same key after a crash.
        let auth: Record<string, unknown> | undefined;
        for (let attempt = 0; auth === undefined; attempt++) {
          if (attempt > 0) f.retries++;
          await presentCard(sim, card);
          const call = client.call<Record<string, unknown>>('authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', quantity: 1, idempotencyKey: key }, { timeoutMs: 60_000 });
          if (kill === 'during-authorize' && attempt === 0) {
            call.catch(() => undefined);
            await sleep(Math.floor(rnd() * 600));
            await crashAndRestart();
            const r = await call.then((v) => v, (e: unknown) => e);
            if (!(r instanceof ApiClientError)) auth = r as Record<string, unknown>; // it finished before the kill
            continue;
          }
          auth = await call;
        }
        if ((auth.approvedQuantity as number) > 1) f.wrongApprovals++;
        const authorizationId = auth.authorizationId as string;
        if (kill === 'abandon') {
          // The client goes away too: the authorization must expire by itself after the restart.
          await crashAndRestart();
          f.completed++;
          continue;
        }
        if (kill === 'before-commit') await crashAndRestart();

        if (finish === 'void') {
          expect(await client.call('void', { authorizationId })).toMatchObject({ authorizationId, state: 'voided' });
          voided.add(authorizationId);
          f.completed++;
          if (kill === 'during-commit' || kill === 'after-commit') await crashAndRestart();
          continue;
        }
        const commitParams = { authorizationId, quantity: 1, idempotencyKey: `${key}-c` };
        let receipt: Record<string, unknown> | undefined;
        if (kill === 'during-commit') {
          const call = client.call<Record<string, unknown>>('commit', commitParams);
          call.catch(() => undefined);
          await sleep(Math.floor(rnd() * 15));
          await crashAndRestart();
          const r = await call.then((v) => v, (e: unknown) => e);
          if (!(r instanceof ApiClientError)) receipt = r as Record<string, unknown>;
          else f.retries++;
        }
        receipt ??= await client.call<Record<string, unknown>>('commit', commitParams);
        if ((receipt.quantity as number) !== 1) f.wrongApprovals++;
        acks.push({ authorizationId, receiptId: receipt.receiptId as string, seq: receipt.seq as number, key });
        f.completed++;
        if (kill === 'after-commit') {
          await crashAndRestart();
          // The retried commit after the crash gives the same receipt.
          const again = await client.call<Record<string, unknown>>('commit', commitParams);
          expect(again).toMatchObject({ receiptId: receipt.receiptId, seq: receipt.seq });
        }
      } catch (e) {
        const code = codeOf(e);
        expect(CLEAN_CODES.has(code), `transaction ${i} (${kill}, seed ${SEED}): ${code} ${String(e)}`).toBe(true);
        clean[code] = (clean[code] ?? 0) + 1;
        f.failedCleanly++;
      }
    }

    // Let every abandoned authorization pass its expiry; the restarted daemon's sweeper must void it.
    await sleep(TTL_MS + 2500);
    await client.close();
    expect((await daemon.stop('SIGTERM')).code).toBe(0);

    const a = await auditLedger(shop, acks, voided);
    reportFigures({
      campaign: 'crash',
      seed: SEED,
      transactions: N,
      ...f,
      duplicates: a.duplicates,
      lost: a.lost,
      notes: `unicardd SIGKILLed ${f.faultsInjected}×; ${a.receipts} receipts; clean failures ${JSON.stringify(clean)}`,
    });
    expect(a.problems).toEqual([]);
    expect(a.lost).toBe(0);
    expect(a.duplicates).toBe(0);
    expect(f.wrongApprovals).toBe(0);
    expect(a.pending).toEqual([]);
    expect(a.usageSums).toEqual(a.receiptSums);
    // Every acknowledged commit is a receipt, and every receipt is a committed authorization (none half-written).
    expect(a.receipts).toBeGreaterThanOrEqual(acks.length);
    expect(a.committed).toBe(a.receipts);
    expect(f.completed + f.failedCleanly).toBe(N);
  }, 120_000 + N * 12_000);
});
