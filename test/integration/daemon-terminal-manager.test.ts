/**
 * The TerminalManager in process, against real simulated terminals (SimulatedTerminal of a
 * demo world made by the issuer toolkit) on real TCP sockets and socat ptys: what the
 * end-to-end tests cannot reach from outside. Work in flight when a terminal vanishes,
 * a terminal restart (new handshake on the same link), a silent terminal found by the idle
 * ping, two devices claiming one id, a pin removed, enumeration by USB id with a failing or
 * filtered listing, a configured port that appears later, a port with no terminal on it,
 * and HID without node-hid.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SerialBus } from '../../link/serial-link.js';
import type { SerialPortInfo } from '../../link/serial-link.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { createLogger, type DaemonLogger } from '../../daemon/logging.js';
import { DiscoveringTerminalManager, HidDiscovery, SerialDiscovery, TcpDiscovery, type DiscoverySource, type TerminalEvent, type TerminalInfo } from '../../daemon/terminals/index.js';
import { addPin, loadRootKeyFile, removePin, TrustStore } from '../../daemon/trust/index.js';
import { PtyPort, TcpPort, type TerminalPort } from '../../firmware-sim/terminal/ports.js';
import { SimulatedTerminal } from '../../firmware-sim/terminal/simulated-terminal.js';
import { createPtyPair, type PtyPair } from '../support/pty-pair.js';
import { eventually, makeDaemonWorld, ROGUE_TERMINAL, SECOND_TERMINAL, TRUSTED_TERMINAL, type DaemonTestWorld } from '../e2e/daemon-harness.js';

const ed = new NodeEd25519();
let world: DaemonTestWorld;
let dir: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [world, dir] = await Promise.all([makeDaemonWorld(), mkdtemp(join(tmpdir(), 'unicard-manager-test-'))]);
}, 60_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

afterAll(async () => {
  await world?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** A simulated terminal on a port, in this process. */
interface InProcessSim {
  terminal: SimulatedTerminal;
  port: TerminalPort;
}

let simCount = 0;
async function startSim(terminalId: string, port: TerminalPort): Promise<InProcessSim> {
  const stateDir = join(dir, `state-${++simCount}`);
  const terminal = await SimulatedTerminal.fromWorld({ worldDir: world.worldDir, terminalId, stateDir, durable: false });
  terminal.setPort(port);
  await port.start(
    (link) => terminal.attach(link),
    () => {},
  );
  cleanups.push(async () => {
    terminal.close();
    await port.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  return { terminal, port };
}

async function tcpSim(terminalId: string): Promise<InProcessSim & { address: string }> {
  const port = new TcpPort(0);
  const sim = await startSim(terminalId, port);
  return { ...sim, address: `127.0.0.1:${port.listeningPort}` };
}

/** Log records collected from a real pino logger. */
function captureLogger(): { logger: DaemonLogger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) } });
  return { logger, records };
}

interface Harness {
  manager: DiscoveringTerminalManager;
  events: TerminalEvent[];
  records: Array<Record<string, unknown>>;
  pinsFile: string;
  waitState(id: string, state: TerminalInfo['state'], timeoutMs?: number): Promise<TerminalInfo>;
  waitEvent(pred: (e: TerminalEvent) => boolean, from?: number): Promise<TerminalEvent>;
}

let managerCount = 0;
async function startManager(sources: (logger: DaemonLogger) => DiscoverySource[], options: { pingIntervalMs?: number; traceTraffic?: boolean } = {}): Promise<Harness> {
  const { logger, records } = captureLogger();
  const pinsFile = join(dir, `pins-${++managerCount}.json`);
  const trust = await TrustStore.open({
    ed,
    vendorRoots: [await loadRootKeyFile(world.vendorPub, 'vendor-root')],
    issuerRoots: [await loadRootKeyFile(world.issuerPub, 'issuer-root')],
    pinsFile,
  });
  const manager = new DiscoveringTerminalManager({
    sources: sources(logger),
    trust,
    logger,
    rescanIntervalMs: 150,
    reconnectInitialMs: 50,
    reconnectMaxMs: 300,
    pingIntervalMs: options.pingIntervalMs ?? 0,
    probeBannerMs: 100,
    traceTraffic: options.traceTraffic ?? false,
  });
  const events: TerminalEvent[] = [];
  manager.on((e) => events.push(e));
  await manager.start();
  cleanups.push(() => manager.stop());
  return {
    manager,
    events,
    records,
    pinsFile,
    waitState: (id, state, timeoutMs = 10_000) => eventually(() => {
      const t = manager.get(id);
      return t?.state === state ? t : undefined;
    }, timeoutMs, `${id} ${state}; list: ${JSON.stringify(manager.list())}`),
    waitEvent: (pred, from = 0) => eventually(() => events.slice(from).find(pred), 10_000, 'an event'),
  };
}

const tcpSources = (addresses: string[]) => (): DiscoverySource[] => [new TcpDiscovery({ configured: addresses.map((a) => ({ address: a, host: '127.0.0.1', port: Number(a.split(':')[1]) })) })];

describe('TerminalManager with simulated terminals', () => {
  it('work in flight fails with TERMINAL_GONE when the terminal vanishes; it is gone, then ready when it returns', async () => {
    const sim = await tcpSim(TRUSTED_TERMINAL);
    const h = await startManager(tcpSources([sim.address]));
    const ready = await h.waitState(TRUSTED_TERMINAL, 'ready');
    expect(ready).toMatchObject({ link: 'tcp', path: sim.address, vendor: 'SimVendor', model: 'SIM-1', serial: TRUSTED_TERMINAL, firmware: '1.0.0', trust: 'vendor-root' });
    const session = h.manager.session(TRUSTED_TERMINAL)!;
    expect(session.isSealed).toBe(true);
    const waiting = session.request({ type: 'CardWait', timeoutMs: 20_000 });
    const failure = waiting.catch((e: unknown) => e);
    await eventually(() => (session.counters().keepalives > 0 ? true : undefined), 5_000, 'a keepalive of the card wait');
    await sim.port.vanish();
    expect(await failure).toMatchObject({ code: 'TERMINAL_GONE' });
    const gone = await h.waitState(TRUSTED_TERMINAL, 'gone');
    expect(gone.reason?.code).toBe('TERMINAL_GONE');
    expect(h.manager.session(TRUSTED_TERMINAL)).toBeUndefined();
    expect(h.events.find((e) => e.kind === 'terminal.gone')).toMatchObject({ reason: 'TERMINAL_GONE', terminal: { id: TRUSTED_TERMINAL, state: 'gone' } });
    // While it is away, reconnect attempts fail and it stays gone (not error).
    await new Promise((r) => setTimeout(r, 400));
    expect(h.manager.get(TRUSTED_TERMINAL)?.state).toBe('gone');
    const from = h.events.length;
    await sim.port.return();
    await h.waitState(TRUSTED_TERMINAL, 'ready');
    await h.waitEvent((e) => e.kind === 'terminal.connected', from);
    expect(h.manager.session(TRUSTED_TERMINAL)).not.toBe(session);
  });

  it('a terminal that restarts gets a new handshake on the same link: gone (TERMINAL_REBOOTED), then connected', async () => {
    const sim = await tcpSim(TRUSTED_TERMINAL);
    const h = await startManager(tcpSources([sim.address]));
    await h.waitState(TRUSTED_TERMINAL, 'ready');
    const session = h.manager.session(TRUSTED_TERMINAL)!;
    const from = h.events.length;
    await sim.terminal.control({ cmd: 'reboot' });
    const gone = await h.waitEvent((e) => e.kind === 'terminal.gone', from);
    expect(gone).toMatchObject({ reason: 'TERMINAL_REBOOTED' });
    await h.waitEvent((e) => e.kind === 'terminal.connected', from);
    expect(h.manager.get(TRUSTED_TERMINAL)?.state).toBe('ready');
    // Same link, same session object, sealed again.
    expect(h.manager.session(TRUSTED_TERMINAL)).toBe(session);
    const status = await session.request({ type: 'Status' });
    expect(status.state).toBe('ready');
  });

  it('the idle ping notices a terminal that went silent', async () => {
    const sim = await tcpSim(TRUSTED_TERMINAL);
    const h = await startManager(tcpSources([sim.address]), { pingIntervalMs: 500 });
    await h.waitState(TRUSTED_TERMINAL, 'ready');
    await sim.terminal.control({ cmd: 'stall', ms: 3000 });
    const gone = await h.waitState(TRUSTED_TERMINAL, 'gone', 5_000);
    expect(gone.reason?.code).toBe('TERMINAL_UNRESPONSIVE');
    expect(gone.reason?.ar).toMatch(/لا|توقف/);
    await sim.terminal.control({ cmd: 'clear' });
    await h.waitState(TRUSTED_TERMINAL, 'ready', 10_000);
  });

  it('card events update cardPresent, and a card already in the slot is seen by the first Status', async () => {
    const sim = await tcpSim(SECOND_TERMINAL);
    await sim.terminal.insertCard('PSD-000002');
    const h = await startManager(tcpSources([sim.address]));
    expect((await h.waitState(SECOND_TERMINAL, 'ready')).cardPresent).toBe(true);
    const from = h.events.length;
    await sim.terminal.control({ cmd: 'remove' });
    expect(await h.waitEvent((e) => e.kind === 'card.removed', from)).toEqual({ kind: 'card.removed', terminalId: SECOND_TERMINAL, cardId: 'PSD-000002' });
    expect(h.manager.get(SECOND_TERMINAL)?.cardPresent).toBe(false);
  });

  it('two devices with one terminal id: the second is listed in error and never used', async () => {
    const a = await tcpSim(TRUSTED_TERMINAL);
    const b = await tcpSim(TRUSTED_TERMINAL);
    const h = await startManager(tcpSources([a.address, b.address]));
    const ready = await h.waitState(TRUSTED_TERMINAL, 'ready');
    const other = ready.path === a.address ? b.address : a.address;
    const dup = await h.waitState(`tcp:${other}`, 'error');
    expect(dup.reason?.code).toBe('DUPLICATE_TERMINAL');
    expect(dup.reason?.en).toContain(`says it is terminal ${TRUSTED_TERMINAL}, which is already connected on ${ready.path}`);
    await new Promise((r) => setTimeout(r, 300)); // retries keep it out
    expect(h.manager.list().filter((t) => t.state === 'ready').map((t) => [t.id, t.path])).toEqual([[TRUSTED_TERMINAL, ready.path]]);
  });

  it('a pinned terminal is dropped when its pin is removed', async () => {
    const sim = await tcpSim(ROGUE_TERMINAL);
    const h = await startManager(tcpSources([sim.address]));
    const refused = await h.waitState(ROGUE_TERMINAL, 'untrusted');
    expect(refused.reason?.code).toBe('TERMINAL_UNTRUSTED');
    expect(h.manager.session(ROGUE_TERMINAL)).toBeUndefined();
    await addPin(h.pinsFile, { terminalId: ROGUE_TERMINAL, keyId: world.keyIds[ROGUE_TERMINAL]!, pinnedBy: 'test' });
    expect((await h.waitState(ROGUE_TERMINAL, 'ready')).trust).toBe('pinned');
    const from = h.events.length;
    await removePin(h.pinsFile, ROGUE_TERMINAL);
    expect(await h.waitEvent((e) => e.kind === 'terminal.gone', from)).toMatchObject({ reason: 'PIN_REMOVED' });
    const after = await h.waitState(ROGUE_TERMINAL, 'untrusted');
    expect(h.manager.session(ROGUE_TERMINAL)).toBeUndefined();
    expect(['PIN_REMOVED', 'TERMINAL_UNTRUSTED']).toContain(after.reason?.code);
  });
});

describe('--verbose traffic log', () => {
  it('logs every decoded message at debug level, clear and sealed', async () => {
    const sim = await tcpSim(TRUSTED_TERMINAL);
    const h = await startManager(tcpSources([sim.address]), { traceTraffic: true });
    await h.waitState(TRUSTED_TERMINAL, 'ready');
    const info = h.records.find((r) => r.msg === 'rx GetInfoResult');
    expect(info).toMatchObject({ level: 20, dir: 'rx', type: 'GetInfoResult', sealed: false, path: sim.address, message: { terminalId: TRUSTED_TERMINAL, model: 'SIM-1' } });
    expect(h.records.find((r) => r.msg === 'tx Handshake')).toMatchObject({ dir: 'tx', sealed: false });
    // Byte strings are hex in the log.
    expect((h.records.find((r) => r.msg === 'rx HandshakeResult')?.message as { deviceCertificate?: unknown })?.deviceCertificate).toMatch(/^[0-9a-f]+$/);
    expect(h.records.find((r) => r.msg === 'rx StatusResult')).toMatchObject({ sealed: true, message: { state: 'ready' } });
  });
});

describe('serial discovery', () => {
  it('probes enumerated ports whose USB ids match, ignores the others, and skips ports not on USB', async () => {
    const path = join(dir, 'enum.tty');
    await startSim(TRUSTED_TERMINAL, new PtyPort(path, { pace: false }));
    const listed: SerialPortInfo[] = [
      { path, vendorId: '1209', productId: 'a001', manufacturer: 'SimVendor' },
      { path: join(dir, 'printer.tty'), vendorId: '0416', productId: '5011' },
      { path: '/dev/ttyS0' },
    ];
    const h = await startManager((logger) => [
      new SerialDiscovery({ configured: [], enumerate: { enabled: true, usb: [{ vendorId: '1209' }], anyUsb: false }, logger, bus: new SerialBus({ listPorts: () => Promise.resolve(listed) }) }),
    ]);
    const t = await h.waitState(TRUSTED_TERMINAL, 'ready');
    expect(t).toMatchObject({ link: 'serial', path });
    expect(h.manager.list().map((x) => x.id)).toEqual([TRUSTED_TERMINAL]);
  });

  it('enumeration that fails is one warning, and the configured paths still work', async () => {
    const path = join(dir, 'configured.tty');
    await startSim(SECOND_TERMINAL, new PtyPort(path, { pace: false }));
    const failing = new SerialBus({ listPorts: () => Promise.reject(new Error('udevadm: not found')), sysfsTtyDir: join(dir, 'no-sysfs') });
    const h = await startManager((logger) => [
      new SerialDiscovery({ configured: [{ path, baudRate: 115200 }], enumerate: { enabled: true, usb: [{ vendorId: '1209' }], anyUsb: false }, logger, bus: failing }),
    ]);
    await h.waitState(SECOND_TERMINAL, 'ready');
    await new Promise((r) => setTimeout(r, 500)); // a few rescans
    const warnings = h.records.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('serial enumeration unavailable'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40 });
    expect(String(warnings[0]?.msg)).toContain('carrying on with the configured serial paths');
  });

  it('a configured port that does not exist is listed in error, and used once it appears', async () => {
    const path = join(dir, 'later.tty');
    const h = await startManager((logger) => [new SerialDiscovery({ configured: [{ path, baudRate: 115200 }], enumerate: { enabled: false, usb: [], anyUsb: false }, logger })]);
    const missing = await h.waitState(`serial:${path}`, 'error');
    expect(missing.reason).toMatchObject({ code: 'PORT_NOT_FOUND' });
    expect(missing.reason?.ar).toContain(path);
    await startSim(TRUSTED_TERMINAL, new PtyPort(path, { pace: false }));
    await h.waitState(TRUSTED_TERMINAL, 'ready');
    // The provisional entry made way for the terminal's own.
    expect(h.manager.get(`serial:${path}`)).toBeUndefined();
  });

  it('a port with no terminal behind it is NOT_A_TERMINAL', async () => {
    const pair: PtyPair = await createPtyPair();
    cleanups.push(() => pair.close());
    const h = await startManager((logger) => [new SerialDiscovery({ configured: [{ path: pair.a, baudRate: 115200 }], enumerate: { enabled: false, usb: [], anyUsb: false }, logger })]);
    const t = await h.waitState(`serial:${pair.a}`, 'error', 10_000);
    expect(t.reason?.code).toBe('NOT_A_TERMINAL');
    expect(t.reason?.en).toContain(`no unicard terminal answered on ${pair.a}`);
  });
});

describe('HID discovery', () => {
  it('without node-hid: one clear log line, and the daemon carries on', async () => {
    const h = await startManager((logger) => [
      new HidDiscovery({
        enabled: true,
        usb: [{ vendorId: '1209' }],
        logger,
        load: () => Promise.reject(Object.assign(new Error("Cannot find package 'node-hid' imported from /x"), { code: 'ERR_MODULE_NOT_FOUND' })),
      }),
    ]);
    await h.manager.rescan();
    await h.manager.rescan();
    const lines = h.records.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('HID disabled'));
    expect(lines.map((r) => r.msg)).toEqual(['HID disabled: node-hid not installed']);
    expect(h.manager.list()).toEqual([]);
  });

  it('node-hid present but its native library missing: one warning naming libusb', async () => {
    const h = await startManager((logger) => [
      new HidDiscovery({ enabled: true, usb: [], logger, load: () => Promise.reject(new Error('libusb-1.0.so.0: cannot open shared object file')) }),
    ]);
    const lines = h.records.filter((r) => typeof r.msg === 'string' && r.msg.startsWith('HID disabled'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40 });
    expect(String(lines[0]?.msg)).toContain('install libusb-1.0-0');
  });

  it('matching HID devices are listed; without a HID link they are in error, and others are never touched', async () => {
    const devices = [
      { vendorId: 0x1209, productId: 0xa001, path: '/dev/hidraw7', product: 'SIM-1' },
      { vendorId: 0x046d, productId: 0xc31c, path: '/dev/hidraw0', product: 'Keyboard' },
    ];
    const h = await startManager((logger) => [new HidDiscovery({ enabled: true, usb: [{ vendorId: '1209', productId: 'a001' }], logger, load: () => Promise.resolve({ devices: () => devices }) })]);
    const t = await h.waitState('hid:/dev/hidraw7', 'error');
    expect(t).toMatchObject({ link: 'hid', path: '/dev/hidraw7', reason: { code: 'PORT_ERROR' } });
    expect(h.manager.list().map((x) => x.id)).toEqual(['hid:/dev/hidraw7']);
  });
});
