/**
 * unicardd end to end, all real processes: three simulators (SIM0001 on a socat pty,
 * SIM0002 on TCP, SIM0666 on a pty with a certificate from an unknown vendor), unicardd with
 * a config pointing at them and the demo world's roots, and a client on the API socket.
 * Discovery and probe, refusal of the untrusted terminal, its admission once pinned, card
 * events, unplug and replug on both link kinds, and a clean SIGTERM.
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnicardClient } from '../../daemon/client/index.js';
import { addPin } from '../../daemon/trust/pins-file.js';
import {
  eventually,
  makeDaemonWorld,
  ROGUE_TERMINAL,
  SECOND_TERMINAL,
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
import { rm } from 'node:fs/promises';

const TOKEN = 'e2e-token-0123456789abcdef';

interface SeenEvent {
  event: string;
  params: Record<string, unknown>;
}

let world: DaemonTestWorld;
let dir: string;
let simPty: SimHandle;
let simTcp: SimHandle;
let simRogue: SimHandle;
let daemon: DaemonHandle;
let client: UnicardClient;
let pinsFile: string;
const events: SeenEvent[] = [];

async function terminal(id: string): Promise<Record<string, unknown> | undefined> {
  const list = await client.listTerminals();
  return list.find((t) => t.id === id) as Record<string, unknown> | undefined;
}

function whenState(id: string, state: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      const t = await terminal(id);
      return t?.state === state ? t : undefined;
    },
    timeoutMs,
    `${id} ${state}`,
  );
}

function whenEvent(pred: (e: SeenEvent) => boolean, from: number, what: string): Promise<SeenEvent> {
  return eventually(() => events.slice(from).find(pred), 15_000, what);
}

beforeAll(async () => {
  [world, dir] = await Promise.all([makeDaemonWorld(), tempDir('unicard-e2e-daemon-')]);
  [simPty, simTcp, simRogue] = await Promise.all([
    startSim(world, { terminalId: TRUSTED_TERMINAL, dir, pty: join(dir, 'sim1.tty') }),
    startSim(world, { terminalId: SECOND_TERMINAL, dir }),
    startSim(world, { terminalId: ROGUE_TERMINAL, dir, pty: join(dir, 'rogue.tty') }),
  ]);
  pinsFile = join(dir, 'data', 'pins.json');
  const config = await writeDaemonConfig(join(dir, 'unicardd.json'), {
    dataDir: 'data',
    tokens: { e2e: { token: TOKEN, role: 'admin' } },
    terminals: {
      serial: [{ path: simPty.address }, { path: simRogue.address }],
      tcp: [{ address: simTcp.address }],
      enumerate: { enabled: false },
      hid: { enabled: false },
      rescanIntervalMs: 200,
      reconnectInitialMs: 100,
      reconnectMaxMs: 400,
      pingIntervalMs: 1000,
    },
    trust: { vendorRoots: [world.vendorPub], issuerRoots: [world.issuerPub] },
  });
  daemon = await startDaemon(['--config', config]);
  client = await UnicardClient.connect(daemon.ready.socket, { token: TOKEN, name: 'e2e' });
  await client.subscribe(['terminal.connected', 'terminal.gone', 'card.inserted', 'card.removed'], (event, params) => {
    events.push({ event, params: params as Record<string, unknown> });
  });
}, 90_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  await Promise.all([daemon?.stop(), simPty?.stop(), simTcp?.stop(), simRogue?.stop()]);
  await stopAll();
  await world?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('unicardd with simulated terminals', () => {
  it('finds and probes the pty and TCP terminals: listed ready with vendor, model, serial and firmware', async () => {
    const pty = await whenState(TRUSTED_TERMINAL, 'ready');
    expect(pty).toMatchObject({
      id: TRUSTED_TERMINAL,
      link: 'serial',
      path: simPty.address,
      vendor: 'SimVendor',
      model: 'SIM-1',
      serial: TRUSTED_TERMINAL,
      firmware: '1.0.0',
      trust: 'vendor-root',
      cardPresent: false,
    });
    const tcp = await whenState(SECOND_TERMINAL, 'ready');
    expect(tcp).toMatchObject({ id: SECOND_TERMINAL, link: 'tcp', path: simTcp.address, model: 'SIM-1', firmware: '1.0.0', trust: 'vendor-root' });
    const status = await client.status();
    expect(status.terminals.ready).toBeGreaterThanOrEqual(2);
    const ready = daemon.logs().find((r) => r.terminal === TRUSTED_TERMINAL && r.state === 'ready');
    expect(ready).toMatchObject({ level: 30, link: 'serial', firmware: '1.0.0' });
  });

  it('refuses the terminal certified by an unknown vendor: listed untrusted with a bilingual reason, never used', async () => {
    const rogue = await whenState(ROGUE_TERMINAL, 'untrusted');
    expect(rogue).toMatchObject({ id: ROGUE_TERMINAL, link: 'serial', path: simRogue.address, vendor: 'SimVendor', model: 'SIM-1' });
    const reason = rogue.reason as { code: string; en: string; ar: string };
    expect(reason.code).toBe('TERMINAL_UNTRUSTED');
    expect(reason.en).toContain(`terminal ${ROGUE_TERMINAL}`);
    expect(reason.en).toContain('is not trusted');
    expect(reason.ar).toMatch(/غير موثوق/);
    expect(rogue.trust).toBeUndefined();
    await expect(client.claim(ROGUE_TERMINAL)).rejects.toThrow();
  });

  it('reports card insertion and removal as events and in the list', async () => {
    const from = events.length;
    await simPty.control({ cmd: 'insert', card: 'PSD-000001' });
    const inserted = await whenEvent((e) => e.event === 'card.inserted', from, 'card.inserted');
    expect(inserted.params).toMatchObject({ terminalId: TRUSTED_TERMINAL, cardId: 'PSD-000001' });
    expect((await terminal(TRUSTED_TERMINAL))?.cardPresent).toBe(true);
    await simPty.control({ cmd: 'remove' });
    const removed = await whenEvent((e) => e.event === 'card.removed', from, 'card.removed');
    expect(removed.params).toMatchObject({ terminalId: TRUSTED_TERMINAL, cardId: 'PSD-000001' });
    expect((await terminal(TRUSTED_TERMINAL))?.cardPresent).toBe(false);
  });

  it('admits the refused terminal once a technician pins its id and key', async () => {
    const from = events.length;
    await addPin(pinsFile, { terminalId: ROGUE_TERMINAL, keyId: world.keyIds[ROGUE_TERMINAL]!, pinnedBy: 'e2e technician' });
    const pinned = await whenState(ROGUE_TERMINAL, 'ready');
    expect(pinned).toMatchObject({ trust: 'pinned', vendor: 'SimVendor', firmware: '1.0.0' });
    expect(pinned.reason).toBeUndefined();
    const connected = await whenEvent((e) => e.event === 'terminal.connected' && (e.params.terminal as { id?: string }).id === ROGUE_TERMINAL, from, 'connected');
    expect((connected.params.terminal as Record<string, unknown>).trust).toBe('pinned');
  });

  it('unplug and replug on the pty: gone, then ready again', async () => {
    const from = events.length;
    await simPty.control({ cmd: 'vanish' });
    const gone = await whenState(TRUSTED_TERMINAL, 'gone');
    expect((gone.reason as { code: string }).code).toBe('TERMINAL_GONE');
    const ev = await whenEvent((e) => e.event === 'terminal.gone' && (e.params.terminal as { id?: string }).id === TRUSTED_TERMINAL, from, 'gone event');
    expect(ev.params.reason).toBe('TERMINAL_GONE');
    await simPty.control({ cmd: 'return' });
    const back = await whenState(TRUSTED_TERMINAL, 'ready');
    expect(back).toMatchObject({ path: simPty.address, firmware: '1.0.0' });
    await whenEvent((e) => e.event === 'terminal.connected' && (e.params.terminal as { id?: string }).id === TRUSTED_TERMINAL, from, 'connected again');
  });

  it('unplug and replug on TCP: gone, then ready again', async () => {
    const from = events.length;
    await simTcp.control({ cmd: 'vanish' });
    await whenState(SECOND_TERMINAL, 'gone');
    await whenEvent((e) => e.event === 'terminal.gone' && (e.params.terminal as { id?: string }).id === SECOND_TERMINAL, from, 'gone event');
    await simTcp.control({ cmd: 'return' });
    await whenState(SECOND_TERMINAL, 'ready');
  });

  it('SIGTERM: the client is disconnected, links close, the socket is removed, exit 0', async () => {
    const closed = new Promise<void>((resolveClosed) => client.onClose(() => resolveClosed()));
    const status = await daemon.stop('SIGTERM');
    expect(status).toEqual({ code: 0, signal: null });
    await closed;
    await expect(lstat(daemon.ready.socket)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(daemon.logs().some((r) => r.msg === 'unicardd stopped' && r.code === 0)).toBe(true);
    expect(daemon.process.stderr.some((l) => /^\s+at /.test(l))).toBe(false);
  });
});
