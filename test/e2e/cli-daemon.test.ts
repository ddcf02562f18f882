/**
 * The CLI with unicardd running: `unicard devices` shows the terminals the daemon holds
 * (through its API), and commands that need the port refuse plainly instead of fighting
 * the daemon for it. Real daemon, real simulator on a socat pty.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnicardClient } from '../../daemon/client/index.js';
import {
  eventually,
  makeDaemonWorld,
  startDaemon,
  startSim,
  stopAll,
  tempDir,
  TRUSTED_TERMINAL,
  writeDaemonConfig,
  type DaemonHandle,
  type DaemonTestWorld,
  type SimHandle,
} from './daemon-harness.js';
import { runCli } from './cli-harness.js';

const TOKEN = 'cli-e2e-token-0123456789abcdef';
let world: DaemonTestWorld;
let dir: string;
let sim: SimHandle;
let daemon: DaemonHandle;

beforeAll(async () => {
  [world, dir] = await Promise.all([makeDaemonWorld(), tempDir('unicard-e2e-cli-daemon-')]);
  sim = await startSim(world, { terminalId: TRUSTED_TERMINAL, dir, pty: join(dir, 'sim.tty') });
  const config = await writeDaemonConfig(join(dir, 'unicardd.json'), {
    dataDir: 'data',
    tokens: { tech: { token: TOKEN, role: 'admin' } },
    terminals: { serial: [{ path: sim.address }], enumerate: { enabled: false }, hid: { enabled: false }, rescanIntervalMs: 200 },
    trust: { vendorRoots: [world.vendorPub], issuerRoots: [world.issuerPub] },
  });
  daemon = await startDaemon(['--config', config]);
  const client = await UnicardClient.connect(daemon.ready.socket, { token: TOKEN, name: 'cli-e2e' });
  try {
    await eventually(async () => (await client.listTerminals()).find((t) => t.id === TRUSTED_TERMINAL && t.state === 'ready'), 20_000, 'terminal ready in the daemon');
  } finally {
    await client.close();
  }
}, 90_000);

afterAll(async () => {
  await Promise.all([daemon?.stop(), sim?.stop()]);
  await stopAll();
  await world?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('unicard with unicardd running', () => {
  it('devices lists the terminals the daemon holds, through its API', async () => {
    const r = await runCli(['devices', '--socket', daemon.ready.socket, '--token', TOKEN, '--json']);
    expect(r.code).toBe(0);
    const rows = (JSON.parse(r.stdout) as { devices: { source: string; terminalId: string; path: string; state: string }[] }).devices;
    expect(rows).toContainEqual(expect.objectContaining({ source: 'daemon', terminalId: TRUSTED_TERMINAL, path: sim.address }));
    expect(rows.find((d) => d.terminalId === TRUSTED_TERMINAL)!.state).toContain('held by unicardd');
  }, 30_000);

  it('info asks the daemon about a terminal it holds', async () => {
    const r = await runCli(['info', '--port', sim.address, '--socket', daemon.ready.socket, '--token', TOKEN, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: TRUSTED_TERMINAL, state: 'ready', model: 'SIM-1', source: expect.stringContaining('unicardd') });
  }, 30_000);

  it('ping, test and flash do not fight the daemon for its port: exit 3, saying to stop unicardd', async () => {
    for (const args of [['ping'], ['test'], ['flash', join(world.worldDir, 'firmware-1.1.0.img'), '--vendor-root', world.vendorPub]]) {
      const r = await runCli([...args, '--port', sim.address, '--socket', daemon.ready.socket, '--token', TOKEN]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain('unicardd');
      expect(r.stderr).toContain('stop unicardd');
    }
  }, 30_000);

  it('a daemon socket without a token is noted, not fatal', async () => {
    const r = await runCli(['devices', '--socket', daemon.ready.socket, '--json'], { UNICARD_TOKEN: '' });
    expect((JSON.parse(r.stdout) as { notes: string[] }).notes.join(' ')).toMatch(/token|TOKEN|unicardd/);
  }, 30_000);
});
