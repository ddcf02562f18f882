/**
 * Test fixtures: a demo world in a temp dir (made once per test file), and a simulated
 * terminal on an in-memory link with a {@link TestHost} on the other end. Everything made
 * here is removed by the returned `cleanup`/`close` functions.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { createMemoryLinkPair, type MemoryLink } from '../../link/memory-link.js';
import type { Clock } from '../hardware/clock.js';
import { systemRandomBytes } from '../hardware/random.js';
import { demoWorld, type DemoManifest } from '../issuer/demo-world.js';
import { SimulatedTerminal, type WorldTerminalOptions } from './simulated-terminal.js';
import { TestHost } from './test-host.js';

/** A demo world on disk. */
export interface TestWorld {
  readonly dir: string;
  readonly manifest: DemoManifest;
  /** Removes the world. */
  cleanup(): Promise<void>;
}

/** Makes a demo world (small firmware images: 8 KiB bodies) in a fresh temp dir. */
export async function makeTestWorld(options: { firmwareSize?: number } = {}): Promise<TestWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'unicard-world-'));
  const manifest = await demoWorld({ ed: new NodeEd25519(), random: systemRandomBytes, nowMs: () => Date.now() }, dir, {
    firmwareSize: options.firmwareSize ?? 8192,
  });
  return { dir, manifest, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A terminal on a memory link, and a host on the other end. */
export interface TestTerminal {
  readonly terminal: SimulatedTerminal;
  readonly host: TestHost;
  readonly hostLink: MemoryLink;
  readonly deviceLink: MemoryLink;
  readonly stateDir: string;
  /** Closes the terminal, both links, and removes the state dir. */
  close(): Promise<void>;
}

/** Options of {@link startTestTerminal}. */
export interface StartTestTerminalOptions extends Partial<Omit<WorldTerminalOptions, 'worldDir' | 'stateDir'>> {
  clock?: Clock;
  /** Card (id or file) in the slot from the start. */
  card?: string;
  /** Reuse a state dir (a "power cycle" of the process); it is then not removed by close(). */
  stateDir?: string;
  /** The test host reassembles segmented packets. */
  hostSegments?: boolean;
}

/** Starts a terminal of `world` on a memory link and waits for its banner. */
export async function startTestTerminal(world: TestWorld, options: StartTestTerminalOptions = {}): Promise<TestTerminal> {
  const ownState = options.stateDir === undefined;
  const stateDir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'unicard-state-')));
  const { card, stateDir: _s, hostSegments, ...rest } = options;
  const terminal = await SimulatedTerminal.fromWorld({ durable: false, ...rest, worldDir: world.dir, stateDir });
  if (card !== undefined) await terminal.insertCard(card);
  const [hostLink, deviceLink] = createMemoryLinkPair();
  const host = new TestHost(hostLink, hostSegments === true ? { segments: true } : {});
  terminal.attach(deviceLink);
  await host.waitForBanner();
  return {
    terminal,
    host,
    hostLink,
    deviceLink,
    stateDir,
    close: async () => {
      host.close();
      terminal.close();
      await hostLink.close();
      await deviceLink.close();
      if (ownState) await rm(stateDir, { recursive: true, force: true });
    },
  };
}
