/**
 * Unplug campaign, all real processes: the simulator on a socat pty, unicardd, a shop
 * client. In about half of N authorize → commit/void transactions the terminal vanishes
 * (socat killed: the USB adapter pulled) at a seeded random moment while the authorize
 * runs, and comes back by itself 300 ms later. The authorize must then fail with a typed
 * error (TERMINAL_GONE and kin) or complete; the daemon must find the terminal again; and
 * afterwards there is no receipt without a commit the client made, nothing pending, the
 * chain verifies and the usage index equals the receipts.
 *
 * N = UNICARD_UNPLUG_TRANSACTIONS (3 in `make test`, 100 under `make reliability`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnicardClient } from '../../daemon/client/index.js';
import {
  eventually,
  TRUSTED_TERMINAL,
  type DaemonHandle,
  type SimHandle,
} from '../e2e/daemon-harness.js';
import { auditLedger, counts, newTally, presentCard, settleCycle, setUpCampaignShop, startShopDaemon, terminalReady, typedFailureCode, type CampaignShop } from './campaign-shop.js';
import { envCount, reportFigures, seededRandom } from './figures.js';

const TOKEN = 'unplug-campaign-token-0123456789';
const N = envCount('UNICARD_UNPLUG_TRANSACTIONS', 3);
const SEED = envCount('UNICARD_UNPLUG_SEED', (Date.now() % 1_000_000) + 1);
/** Card files of the campaign (see campaign-cards.ts), enough quota for 200 transactions. */
let CARDS: readonly string[] = [];

let shop: CampaignShop;
let sim: SimHandle;
let daemon: DaemonHandle;
let client: UnicardClient;

beforeAll(async () => {
  shop = await setUpCampaignShop({ name: 'unplug', token: TOKEN, transactions: N });
  ({ sim } = shop);
  CARDS = shop.cards;
  ({ daemon, client } = await startShopDaemon(shop, 'unplug-pos'));
  await client.subscribe(['authorization.progress'], (_event, params) => progress.push(params as Record<string, unknown>));
}, 120_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  await daemon?.stop();
  await shop?.close();
}, 60_000);


/** Progress stages of an authorize (DISPENSE-API.md) at which the terminal is pulled. */
const STAGES = ['waiting_card', 'card_read', 'waiting_finger'];
const progress: Array<Record<string, unknown>> = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));



describe('the terminal unplugged at random points', () => {
  it(`every transaction completes or fails with a typed error; no receipt without a commit; the daemon finds the terminal again (N=${N})`, async () => {
    const rnd = seededRandom(SEED);
    console.log(`unplug campaign: N=${N} seed=${SEED}`);
    const f = { ...newTally(), faultsInjected: 0 };

    for (let i = 0; i < N; i++) {
      const card = CARDS[i % CARDS.length]!;
      const key = `unplug-${SEED}-${i}`;
      let auth: Record<string, unknown> | undefined;
      let lastCode = '';
      const unplug = rnd() < 0.5;
      // Pulled once the authorize reached a random stage, a few ms later.
      const stage = STAGES[Math.floor(rnd() * STAGES.length)]!;
      const delay = Math.floor(rnd() * 40);
      for (let attempt = 0; attempt < 2 && auth === undefined; attempt++) {
        if (attempt > 0) f.retries++;
        await terminalReady(client);
        await presentCard(sim, card);
        try {
          const call = client.call<Record<string, unknown>>('authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', quantity: 1, idempotencyKey: key }, { timeoutMs: 90_000 });
          if (unplug && attempt === 0) {
            call.catch(() => undefined);
            const reached = await eventually(() => (progress.some((p) => p.idempotencyKey === key && p.stage === stage) ? true : undefined), 20_000, `stage ${stage}`).catch(() => false);
            await sleep(delay);
            expect((await sim.control({ cmd: 'vanish', ms: 300 })).ok).toBe(true);
            if (reached !== true) console.log(`cycle ${i}: stage ${stage} not seen before the unplug`);
            f.faultsInjected++;
          }
          auth = await call;
        } catch (e) {
          lastCode = typedFailureCode(e, i);
          if (lastCode.startsWith('BREAD_')) break; // a quota used up: retrying cannot help
        }
      }
      await settleCycle(client, f, rnd, key, auth, lastCode);
    }
    await terminalReady(client);
    await client.close();
    expect((await daemon.stop('SIGTERM')).code).toBe(0);

    const a = await auditLedger(shop, f.acks);
    reportFigures({
      campaign: 'unplug',
      seed: SEED,
      transactions: N,
      faultsInjected: f.faultsInjected,
      ...counts(f),
      duplicates: a.duplicates,
      lost: a.lost,
      notes: `terminal vanished ${f.faultsInjected}×; ${a.receipts} receipts; clean failures ${JSON.stringify(f.clean)}`,
    });
    expect(a.problems).toEqual([]);
    expect(a.lost).toBe(0);
    expect(a.duplicates).toBe(0);
    expect(f.wrongApprovals).toBe(0);
    expect(a.receipts).toBe(f.acks.length);
    expect(a.pending).toEqual([]);
    expect(a.usageSums).toEqual(a.receiptSums);
    expect(f.completed + f.failedCleanly).toBe(N);
  }, 120_000 + N * 60_000);
});
