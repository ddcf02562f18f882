/**
 * The daemon's HID discovery end to end in one process: HidDiscovery lists devices through a
 * node-hid stand-in whose devices are in-memory HID devices served by simulated terminals
 * (HidDevicePort), opens the matching one with HidLink (so the 0x00 report-ID byte and the
 * 64-byte report rule are exercised), allocates a channel and runs the TerminalManager's
 * probe and handshake over it. Devices with other USB ids are never opened.
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../daemon/logging.js';
import { openHidChannel } from '../../daemon/terminals/hid-channel.js';
import { DiscoveringTerminalManager, HidDiscovery, type HidDeviceInfo, type HidModule, type TerminalInfo } from '../../daemon/terminals/index.js';
import { loadRootKeyFile, TrustStore } from '../../daemon/trust/index.js';
import { HidDevicePort } from '../../firmware-sim/terminal/hid-device-port.js';
import { SimulatedTerminal } from '../../firmware-sim/terminal/simulated-terminal.js';
import { HidMemoryDevice, type HidMemoryLink } from '../../link/hid-memory.js';
import type { NodeHidDevice } from '../../link/hid-link.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { eventually, makeDaemonWorld, TRUSTED_TERMINAL, type DaemonTestWorld } from '../e2e/daemon-harness.js';

const ed = new NodeEd25519();
let world: DaemonTestWorld;
let dir: string;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  [world, dir] = await Promise.all([makeDaemonWorld(), mkdtemp(join(tmpdir(), 'unicard-hid-discovery-'))]);
}, 60_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await world?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** node-hid's HIDAsync device over a host end of an in-memory HID device. */
class MemoryHidDevice extends EventEmitter implements NodeHidDevice {
  readonly writes: number[] = [];
  constructor(private readonly link: HidMemoryLink) {
    super();
    link.onData((r) => this.emit('data', Buffer.from(r)));
    link.onClose((e) => {
      if (e !== undefined) this.emit('error', new Error(`could not read from HID device: ${e.message}`));
    });
  }
  async write(values: number[] | Buffer): Promise<number> {
    const buf = Buffer.from(values);
    this.writes.push(buf.length);
    // hidapi's rule: the first byte is the report ID, 0x00 for devices without IDs.
    if (buf[0] !== 0) throw new Error('report ID byte missing');
    await this.link.write(Uint8Array.from(buf.subarray(1)));
    return buf.length;
  }
  async close(): Promise<void> {
    await this.link.close();
  }
}

/** A node-hid stand-in: devices() lists `plugged`, HIDAsync.open opens them. */
function memoryNodeHid(plugged: Map<string, { info: HidDeviceInfo; device: HidMemoryDevice }>) {
  const opened: string[] = [];
  const handles: MemoryHidDevice[] = [];
  const module: HidModule = {
    devices: () => [...plugged.values()].map((p) => p.info),
    HIDAsync: {
      open: async (path: string) => {
        opened.push(path);
        const p = plugged.get(path);
        if (p === undefined) throw new Error(`cannot open device with path ${path}: Failed to open a device with path '${path}': No such file or directory`);
        const handle = new MemoryHidDevice(p.device.openHost());
        handles.push(handle);
        return handle;
      },
    },
  };
  return { module, opened, handles };
}

let simCount = 0;
async function hidSim(terminalId: string, path: string) {
  const stateDir = join(dir, `state-${++simCount}`);
  const terminal = await SimulatedTerminal.fromWorld({ worldDir: world.worldDir, terminalId, stateDir, durable: false });
  const device = new HidMemoryDevice({ path });
  const port = new HidDevicePort({ terminal });
  port.attach(device.deviceLink);
  cleanups.push(async () => {
    port.close();
    terminal.close();
    device.unplug();
  });
  return { terminal, device, port, info: { vendorId: 0x1209, productId: 0xa001, path, product: 'SIM-1 HID', serialNumber: terminalId } };
}

async function startManager(module: HidModule) {
  const records: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) } });
  const trust = await TrustStore.open({
    ed,
    vendorRoots: [await loadRootKeyFile(world.vendorPub, 'vendor-root')],
    issuerRoots: [await loadRootKeyFile(world.issuerPub, 'issuer-root')],
    pinsFile: join(dir, `pins-${simCount}.json`),
  });
  const manager = new DiscoveringTerminalManager({
    sources: [new HidDiscovery({ enabled: true, usb: [{ vendorId: '1209', productId: 'a001' }], logger, load: () => Promise.resolve(module), channel: { retryMs: 100, attempts: 2 } })],
    trust,
    logger,
    rescanIntervalMs: 100,
    reconnectInitialMs: 50,
    reconnectMaxMs: 200,
    pingIntervalMs: 0,
    probeBannerMs: 0,
    traceTraffic: false,
  });
  await manager.start();
  cleanups.push(() => manager.stop());
  const waitState = (id: string, state: TerminalInfo['state']) =>
    eventually(() => {
      const t = manager.get(id);
      return t?.state === state ? t : undefined;
    }, 10_000, `${id} ${state}; list: ${JSON.stringify(manager.list())}`);
  return { manager, records, waitState };
}

describe('HID discovery with HidLink and the HID codec', () => {
  it('finds the terminal by USB id, opens it over HID, admits it, and never opens other devices', async () => {
    const sim = await hidSim(TRUSTED_TERMINAL, '/dev/hidraw7');
    const plugged = new Map([
      ['/dev/hidraw7', { info: sim.info, device: sim.device }],
      ['/dev/hidraw0', { info: { vendorId: 0x046d, productId: 0xc31c, path: '/dev/hidraw0', product: 'Keyboard' }, device: new HidMemoryDevice() }],
    ]);
    const fake = memoryNodeHid(plugged);
    const h = await startManager(fake.module);
    const ready = await h.waitState(TRUSTED_TERMINAL, 'ready');
    expect(ready).toMatchObject({ link: 'hid', path: '/dev/hidraw7', serial: TRUSTED_TERMINAL, trust: 'vendor-root' });
    expect(fake.opened).toEqual(['/dev/hidraw7']);
    // Every write went out as one 64-byte report with the report-ID byte in front.
    expect(new Set(fake.handles.flatMap((d) => d.writes))).toEqual(new Set([65]));

    const session = h.manager.session(TRUSTED_TERMINAL)!;
    expect((await session.request({ type: 'Status' })).type).toBe('StatusResult');
    expect(sim.port.channelIds).toHaveLength(1);
  });

  it('unplugged: gone; plugged back: ready again on a new channel', async () => {
    const first = await hidSim(TRUSTED_TERMINAL, '/dev/hidraw7');
    const plugged = new Map([['/dev/hidraw7', { info: first.info, device: first.device }]]);
    const fake = memoryNodeHid(plugged);
    const h = await startManager(fake.module);
    await h.waitState(TRUSTED_TERMINAL, 'ready');
    const session = h.manager.session(TRUSTED_TERMINAL)!;
    const waiting = session.request({ type: 'CardWait', timeoutMs: 20_000 }).catch((e: unknown) => e);

    plugged.delete('/dev/hidraw7');
    first.device.unplug();
    expect(await waiting).toMatchObject({ code: 'TERMINAL_GONE' });
    await h.waitState(TRUSTED_TERMINAL, 'gone');

    const second = await hidSim(TRUSTED_TERMINAL, '/dev/hidraw7');
    plugged.set('/dev/hidraw7', { info: second.info, device: second.device });
    await h.waitState(TRUSTED_TERMINAL, 'ready');
    expect(second.port.channelIds).toHaveLength(1);
  });

  it('its channel reused by another program: the daemon reconnects on a new channel at once', async () => {
    const stateDir = join(dir, `state-${++simCount}`);
    const terminal = await SimulatedTerminal.fromWorld({ worldDir: world.worldDir, terminalId: TRUSTED_TERMINAL, stateDir, durable: false });
    const device = new HidMemoryDevice({ path: '/dev/hidraw5' });
    const port = new HidDevicePort({ terminal, maxChannels: 1 });
    port.attach(device.deviceLink);
    cleanups.push(async () => {
      port.close();
      terminal.close();
      device.unplug();
    });
    const info = { vendorId: 0x1209, productId: 0xa001, path: '/dev/hidraw5' };
    const fake = memoryNodeHid(new Map([['/dev/hidraw5', { info, device }]]));
    const h = await startManager(fake.module);
    await h.waitState(TRUSTED_TERMINAL, 'ready');
    const first = port.channelIds[0];
    const session = h.manager.session(TRUSTED_TERMINAL)!;

    // Another program on the same device takes the only channel.
    const other = device.openHost();
    const otherCodec = await openHidChannel(other);
    cleanups.push(() => other.close());
    expect(port.channelIds).toEqual([otherCodec.cid]);

    // The daemon's next request is answered INVALID_CHANNEL: the link is dropped at once (no
    // waiting for the dead-terminal timeout), and the terminal comes back on a new channel.
    const failed = await session.request({ type: 'Status' }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: 'TERMINAL_GONE' });
    await eventually(() => (h.manager.session(TRUSTED_TERMINAL)?.isSealed && h.manager.session(TRUSTED_TERMINAL) !== session ? true : undefined), 10_000, 'a new session');
    expect(port.channelIds).toHaveLength(1);
    expect(port.channelIds[0]).not.toBe(first);
    expect((await h.manager.session(TRUSTED_TERMINAL)!.request({ type: 'Status' })).type).toBe('StatusResult');
  });

  it('a matching HID device that does not answer INIT is not a terminal', async () => {
    const silent = new HidMemoryDevice({ path: '/dev/hidraw9' });
    const fake = memoryNodeHid(new Map([['/dev/hidraw9', { info: { vendorId: 0x1209, productId: 0xa001, path: '/dev/hidraw9' }, device: silent }]]));
    const h = await startManager(fake.module);
    const t = await h.waitState('hid:/dev/hidraw9', 'error');
    expect(t.reason?.code).toBe('NOT_A_TERMINAL');
  });
});
