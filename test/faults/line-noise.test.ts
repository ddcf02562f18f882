/**
 * Line-noise campaign, all real processes: the simulator on a socat pty (paced at 115,200
 * baud) drops and corrupts a share of the bytes on the line in both directions (its `drop`
 * and `corrupt` faults, seeded) while a shop client runs authorize → commit/void cycles
 * through unicardd. A cycle whose authorize fails is retried once under the same
 * idempotency key, as DISPENSE-API.md tells clients to.
 *
 * Every cycle must end either completed or with a typed API error (a code, English and
 * Arabic); afterwards no approval exceeds what was asked, no sale has two receipts, every
 * acknowledged receipt is in the ledger exactly once, the chain verifies, nothing is left
 * pending and the usage index equals the receipts.
 *
 * N = UNICARD_NOISE_TRANSACTIONS (3 in `make test`, 200 under `make reliability`); the
 * noise rate (drop + corrupt, half each) = UNICARD_NOISE_RATE (default 0.01, the 1 %).
 * Long frames get through such a line only because both ends then cut them into segments and
 * resend just the missing ones (PROTOCOL.d/22-segmentation.md); the figures report the bytes
 * damaged, the client's retries, the host's resends the terminal answered from its cache, and
 * the NAKs and segments sent again both ways. RELIABILITY.md has the latest figures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnicardClient, type ApiClientError } from '../../daemon/client/index.js';
import {
  TRUSTED_TERMINAL,
  type DaemonHandle,
  type SimHandle,
} from '../e2e/daemon-harness.js';
import { auditLedger, counts, newTally, presentCard, settleCycle, setUpCampaignShop, startShopDaemon, terminalReady, typedFailureCode, type CampaignShop } from './campaign-shop.js';
import { envCount, reportFigures, seededRandom } from './figures.js';

const TOKEN = 'noise-campaign-token-0123456789';
const N = envCount('UNICARD_NOISE_TRANSACTIONS', 3);
const RATE = Number(process.env.UNICARD_NOISE_RATE ?? '0.01');
const SEED = envCount('UNICARD_NOISE_SEED', (Date.now() % 1_000_000) + 1);
/** Card files of the campaign (see campaign-cards.ts), enough quota for 200 transactions. */
let CARDS: readonly string[] = [];

let shop: CampaignShop;
let sim: SimHandle;
let daemon: DaemonHandle;
let client: UnicardClient;

beforeAll(async () => {
  shop = await setUpCampaignShop({ name: 'noise', token: TOKEN, transactions: N });
  ({ sim } = shop);
  CARDS = shop.cards;
  ({ daemon, client } = await startShopDaemon(shop, 'noise-pos'));
}, 120_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  await daemon?.stop();
  await shop?.close();
}, 60_000);


async function noise(on: boolean): Promise<void> {
  expect((await sim.control({ cmd: 'drop', rate: on ? RATE / 2 : 0 })).ok).toBe(true);
  expect((await sim.control({ cmd: 'corrupt', rate: on ? RATE / 2 : 0 })).ok).toBe(true);
}



describe('line noise on the terminal link', () => {
  it(`every cycle completes or fails with a typed error; nothing wrong, doubled or lost in the ledger (N=${N}, rate=${RATE})`, async () => {
    const rnd = seededRandom(SEED);
    console.log(`line-noise campaign: N=${N} rate=${RATE} seed=${SEED}`);
    expect((await sim.control({ cmd: 'seed', seed: SEED })).ok).toBe(true);
    const f = newTally();
    /** Codes of authorize attempts that failed (retried or not), and how long completed ones took. */
    const attemptFailures: Record<string, number> = {};
    const authorizeMs: number[] = [];

    for (let i = 0; i < N; i++) {
      const card = CARDS[i % CARDS.length]!;
      const key = `noise-${SEED}-${i}`;
      let auth: Record<string, unknown> | undefined;
      let lastCode = '';
      for (let attempt = 0; attempt < 2 && auth === undefined; attempt++) {
        if (attempt > 0) f.retries++;
        await noise(false);
        await terminalReady(client);
        await presentCard(sim, card);
        await noise(true);
        const t0 = performance.now();
        try {
          auth = await client.call<Record<string, unknown>>('authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', quantity: 1, idempotencyKey: key }, { timeoutMs: 90_000 });
          authorizeMs.push(performance.now() - t0);
        } catch (e) {
          lastCode = typedFailureCode(e, i);
          const cause = (e as ApiClientError).data.cause;
          const what = typeof cause === 'string' ? `${lastCode} (${cause})` : lastCode;
          attemptFailures[what] = (attemptFailures[what] ?? 0) + 1;
          if (lastCode.startsWith('BREAD_')) break; // a quota used up: retrying cannot help
        }
      }
      await settleCycle(client, f, rnd, key, auth, lastCode);
    }
    await noise(false);
    const st = (await sim.control({ cmd: 'status' })) as {
      status: {
        counters: Record<string, number>;
        faults: { counters: Record<string, number> };
        segments: { sent: Record<string, number>; received: Record<string, number> } | null;
      };
    };
    const damaged = Object.values(st.status.faults.counters).reduce((a, b) => a + b, 0);
    const sorted = authorizeMs.sort((a, b) => a - b);
    const pct = (q: number): string => (sorted.length === 0 ? '–' : `${Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0)} ms`);
    const seg = st.status.segments;
    await client.close();
    expect((await daemon.stop('SIGTERM')).code).toBe(0);

    const a = await auditLedger(shop, f.acks);
    reportFigures({
      campaign: 'line-noise',
      seed: SEED,
      transactions: N,
      faultsInjected: damaged,
      ...counts(f),
      duplicates: a.duplicates,
      lost: a.lost,
      notes:
        `rate ${RATE}: ${damaged} bytes dropped or corrupted ${JSON.stringify(st.status.faults.counters)}; ` +
        `authorize attempts failed ${JSON.stringify(attemptFailures)}; completed authorize took median ${pct(0.5)}, p95 ${pct(0.95)}, max ${pct(1)}; ` +
        `host resends answered from the terminal's cache ${st.status.counters.retriesAnswered ?? 0}; ` +
        `segments: terminal→host ${seg?.sent.segments ?? 0} sent, ${seg?.sent.resent ?? 0} resent for ${seg?.sent.naks ?? 0} host NAKs; ` +
        `host→terminal ${seg?.received.segments ?? 0} received, ${seg?.received.naks ?? 0} terminal NAKs, ${seg?.received.abandoned ?? 0} transfers abandoned; ` +
        `terminal counters ${JSON.stringify(st.status.counters)}; ${a.receipts} receipts; clean failures ${JSON.stringify(f.clean)}`,
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
