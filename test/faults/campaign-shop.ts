/**
 * The shop every fault campaign runs: a demo world, the simulator on a socat pty, the
 * campaign's own cards and signed roster, a dispense.json and a unicardd config pointing at
 * the pty. Each campaign then starts (and, for the crash campaign, restarts) unicardd and
 * its shop client itself. `close()` stops the simulator and removes everything.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnicardClient } from '../../daemon/client/index.js';
import { eventually, makeDaemonWorld, startSim, stopAll, tempDir, TRUSTED_TERMINAL, writeDaemonConfig, type DaemonTestWorld, type SimHandle } from '../e2e/daemon-harness.js';
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
