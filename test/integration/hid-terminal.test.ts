/**
 * USB HID end to end, in memory: the simulated terminal serving HID (HidDevicePort) on the
 * device end of an in-memory HID device, driven by the daemon's TerminalSession with the HID
 * codec from openHidChannel. No virtual HID device can be made on most machines (no
 * /dev/uhid), so the report streams are in memory; see hid-uhid.test.ts for the real one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openHidChannel } from '../../daemon/terminals/hid-channel.js';
import { createTrustPolicy, TerminalError, TerminalSession, type TerminalEvent, type TrustCallback } from '../../daemon/session/index.js';
import { HID_TERMINAL_MAX_FRAME_SIZE, HidDevicePort } from '../../firmware-sim/terminal/hid-device-port.js';
import { SimulatedTerminal } from '../../firmware-sim/terminal/simulated-terminal.js';
import { makeTestWorld, type TestWorld } from '../../firmware-sim/terminal/test-world.js';
import { HidMemoryDevice, type HidMemoryLink } from '../../link/hid-memory.js';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { FramingError } from '../../protocol/errors.js';
import { HID_BROADCAST_CID, HID_MAX_MESSAGE_SIZE, HidCommand, HidErrorCode, buildInitRequest, fragmentMessage, parseInitResponse } from '../../protocol/hid-framing.js';
import { loadPublicKeyFile } from '../../firmware-sim/hardware/key-file.js';
import { eventually } from '../e2e/daemon-harness.js';

const ed = new NodeEd25519();
let world: TestWorld;
let stateRoot: string;
let trust: TrustCallback;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  [world, stateRoot] = await Promise.all([makeTestWorld(), mkdtemp(join(tmpdir(), 'unicard-hid-it-'))]);
  const vendor = await loadPublicKeyFile(join(world.dir, world.manifest.vendor.publicKeyFile), 'vendor-root');
  trust = createTrustPolicy({ ed, vendorRoots: trustedKeysOf([vendor.publicKey]) });
}, 60_000);
afterAll(async () => {
  await world?.cleanup();
  if (stateRoot !== undefined) await rm(stateRoot, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let n = 0;
/** A simulated terminal serving HID on a fresh in-memory HID device. */
async function startHidTerminal(options: { maxChannels?: number; maxFrameSize?: number } = {}) {
  const { maxFrameSize, ...portOptions } = options;
  const terminal = await SimulatedTerminal.fromWorld({
    worldDir: world.dir,
    stateDir: join(stateRoot, `s${++n}`),
    durable: false,
    ...(maxFrameSize === undefined ? {} : { maxFrameSize }),
  });
  const device = new HidMemoryDevice({ path: `memory-hid:${n}`, info: { vendorId: '1209', productId: 'a001' } });
  const port = new HidDevicePort({ terminal, ...portOptions });
  port.attach(device.deviceLink);
  cleanups.push(async () => {
    port.close();
    terminal.close();
    device.unplug();
  });
  return { terminal, device, port };
}

/** A host program: opens the device, allocates a channel, runs GetInfo + handshake. */
async function connect(device: HidMemoryDevice, extra: { deadAfterMs?: number; retryAfterMs?: number; maxRetries?: number } = {}) {
  const link = device.openHost();
  const tx: Uint8Array[] = [];
  const codec = await openHidChannel(link);
  const session = await TerminalSession.open(link, { codec, trust, ...extra, traceBytes: (dir, bytes) => void (dir === 'tx' && tx.push(bytes)) });
  cleanups.push(() => session.close());
  return { link, codec, session, tx };
}

/** Every report the device sends on this host end, from now on. */
function record(link: HidMemoryLink): Uint8Array[] {
  const got: Uint8Array[] = [];
  link.onData((r) => got.push(r));
  return got;
}

const u32 = (r: Uint8Array, o = 0): number => (((r[o] ?? 0) << 24) | ((r[o + 1] ?? 0) << 16) | ((r[o + 2] ?? 0) << 8) | (r[o + 3] ?? 0)) >>> 0;

describe('HID terminal driven by the daemon\'s TerminalSession', () => {
  it('handshake over HID, then sealed requests', async () => {
    const { device, terminal, port } = await startHidTerminal();
    const { session, codec } = await connect(device);
    expect(codec.state).toBe('open');
    expect(port.channelIds).toEqual([codec.cid]);
    expect(session.isSealed).toBe(true);
    expect(session.trustDecision).toBe('trusted');
    expect(session.info?.terminalId).toBe(terminal.identity.terminalId);
    expect(session.device?.terminalId).toBe(terminal.identity.terminalId);
    const status = await session.request({ type: 'Status' });
    expect(status.type).toBe('StatusResult');
    const ping = await session.request({ type: 'Ping', data: Uint8Array.from({ length: 250 }, (_, i) => i & 0xff) });
    expect(ping.data?.length).toBe(250);
    expect(port.connectionOf(codec.cid!)?.hasSession).toBe(true);
    expect(session.counters().framingErrors).toEqual({});
  });

  it('a card event arrives sealed on the channel', async () => {
    const { device, terminal } = await startHidTerminal();
    const { session } = await connect(device);
    const events: TerminalEvent[] = [];
    session.onEvent((e) => events.push(e));
    const card = world.manifest.cards[0]!.cardId;
    await terminal.insertCard(card);
    const inserted = await eventually(() => events.find((e) => e.type === 'CardInserted'), 5_000, 'CardInserted');
    expect(inserted).toMatchObject({ type: 'CardInserted', cardId: card });
    terminal.removeCard();
    await eventually(() => events.find((e) => e.type === 'CardRemoved'), 5_000, 'CardRemoved');
  });

  it('the 7,609-byte message limit: a packet of exactly 7,609 bytes reaches the terminal (129 reports), one byte more is refused before sending', async () => {
    const { device } = await startHidTerminal();
    const { session, tx } = await connect(device);
    // Measure the packet size of a FirmwareChunk with 7,000 data bytes from its init report's BCNT.
    tx.length = 0;
    const probe = await session.request({ type: 'FirmwareChunk', offset: 0, data: new Uint8Array(7000) }).catch((e: unknown) => e);
    expect(probe).toBeInstanceOf(TerminalError);
    const bcnt = ((tx[0]![5] ?? 0) << 8) | (tx[0]![6] ?? 0);
    const exact = 7000 + (HID_MAX_MESSAGE_SIZE - bcnt);

    tx.length = 0;
    const atLimit = await session.request({ type: 'FirmwareChunk', offset: 0, data: new Uint8Array(exact) }).catch((e: unknown) => e);
    // The terminal read it and answered (no upload is in progress): the message got through whole.
    expect(atLimit).toBeInstanceOf(TerminalError);
    expect(((tx[0]![5] ?? 0) << 8) | (tx[0]![6] ?? 0)).toBe(HID_MAX_MESSAGE_SIZE);
    expect(tx).toHaveLength(129);

    tx.length = 0;
    const over = await session.request({ type: 'FirmwareChunk', offset: 0, data: new Uint8Array(exact + 1) }).catch((e: unknown) => e);
    expect(over).toBeInstanceOf(FramingError);
    expect((over as FramingError).code).toBe('HID_MESSAGE_TOO_LARGE');
    expect(tx).toHaveLength(0);
    // The session is still good.
    expect((await session.request({ type: 'Status' })).type).toBe('StatusResult');
  });

  it('a HID terminal advertises maxFrameSize 7,613, so a host sizing firmware chunks from GetInfo stays within HID', async () => {
    const { device } = await startHidTerminal({ maxFrameSize: HID_TERMINAL_MAX_FRAME_SIZE });
    const { session, tx } = await connect(device);
    expect(session.info?.maxFrameSize).toBe(7613);
    // The flash command's rule: chunk = maxFrameSize - 128.
    tx.length = 0;
    const e = await session.request({ type: 'FirmwareChunk', offset: 0, data: new Uint8Array(7613 - 128) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TerminalError);
    expect(tx.length).toBeGreaterThan(100);
    expect(tx.length).toBeLessThanOrEqual(129);
  });
});

describe('two host programs on one HID terminal', () => {
  it('get separate channels and sessions, and never read each other\'s replies', async () => {
    const { device, terminal, port } = await startHidTerminal();
    const a = await connect(device);
    const b = await connect(device);
    expect(a.codec.cid).not.toBe(b.codec.cid);
    expect(port.channelIds.sort()).toEqual([a.codec.cid, b.codec.cid].sort());
    expect(port.connectionOf(a.codec.cid!)).not.toBe(port.connectionOf(b.codec.cid!));

    // Interleaved requests; each host's answers come back on its own channel only.
    const results = await Promise.all([
      a.session.request({ type: 'Ping', data: Uint8Array.of(0xaa) }),
      b.session.request({ type: 'Ping', data: Uint8Array.of(0xbb) }),
      a.session.request({ type: 'Status' }),
      b.session.request({ type: 'Ping', data: new Uint8Array(250).fill(0xbb) }),
      a.session.request({ type: 'Ping', data: new Uint8Array(250).fill(0xaa) }),
    ]);
    expect(results.map((r) => r.type)).toEqual(['PingResult', 'PingResult', 'StatusResult', 'PingResult', 'PingResult']);
    expect(Array.from((results[1] as { data: Uint8Array }).data)).toEqual([0xbb]);
    expect((results[4] as { data: Uint8Array }).data.every((x) => x === 0xaa)).toBe(true);

    // Each saw the other's reports on the wire (hidraw hands every reader everything) and
    // ignored them at the HID layer: nothing foreign reached either session.
    for (const h of [a, b]) {
      expect(h.codec.counters().foreignReports).toBeGreaterThan(0);
      const c = h.session.counters();
      expect(c.framingErrors).toEqual({});
      expect(c.sealErrors).toEqual({});
      expect(c.dropped).toBe(0);
    }

    // A card event goes to both sessions, each sealed with its own keys.
    const seen: string[] = [];
    a.session.onEvent((e) => seen.push(`a:${e.type}`));
    b.session.onEvent((e) => seen.push(`b:${e.type}`));
    await terminal.insertCard(world.manifest.cards[0]!.cardId);
    await eventually(() => (seen.length >= 2 ? true : undefined), 5_000, 'events on both channels');
    expect(seen.sort()).toEqual(['a:CardInserted', 'b:CardInserted']);
  });

  it('a channel reused for a newer program: the old one gets INVALID_CHANNEL as a typed error, and a new channel works', async () => {
    const { device } = await startHidTerminal({ maxChannels: 1 });
    const a = await connect(device, { retryAfterMs: 50, maxRetries: 1, deadAfterMs: 300 });
    const b = await connect(device);
    const failed = await a.session.request({ type: 'Status' }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ code: 'TERMINAL_UNRESPONSIVE' });
    expect(a.session.counters().framingErrors.HID_DEVICE_ERROR).toBeGreaterThanOrEqual(1);
    expect(a.codec.counters().deviceErrors).toBeGreaterThanOrEqual(1);
    expect((await b.session.request({ type: 'Status' })).type).toBe('StatusResult');
  });
});

describe('reassembly errors on the wire are answered with ERROR reports', () => {
  it('bad sequence, busy channel, over-long BCNT, unknown channel, unknown command, bad INIT', async () => {
    const { device } = await startHidTerminal();
    const link = device.openHost();
    const got = record(link);
    const nonce = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    for (const r of buildInitRequest(nonce)) await link.write(r);
    const answer = await eventually(() => got.find((r) => u32(r) === HID_BROADCAST_CID), 5_000, 'INIT answer');
    const cid = parseInitResponse(answer.slice(7, 24), nonce)!.cid;
    got.length = 0;

    const ping = fragmentMessage(cid, HidCommand.PING, new Uint8Array(200));
    const tooLong = fragmentMessage(cid, HidCommand.MSG, new Uint8Array(10))[0]!;
    tooLong[5] = 0x1d;
    tooLong[6] = 0xba; // 7,610
    const sends: Uint8Array[] = [
      ping[0]!, ping[2]!, // INVALID_SEQ
      ping[0]!, ping[0]!, // CHANNEL_BUSY
      tooLong, // INVALID_LEN
      fragmentMessage(0x0badcafe, HidCommand.MSG, Uint8Array.of(1, 0, 0))[0]!, // INVALID_CHANNEL
      fragmentMessage(cid, 0x99, Uint8Array.of(1))[0]!, // INVALID_CMD
      fragmentMessage(HID_BROADCAST_CID, HidCommand.INIT, Uint8Array.of(1, 2, 3))[0]!, // INVALID_LEN on broadcast
      new Uint8Array(65), // counted only
    ];
    for (const r of sends) await link.write(r);
    const errors = await eventually(() => (got.length >= 6 ? got : undefined), 5_000, 'six ERROR reports');
    expect(errors.map((r) => [u32(r), r[4], r[7]])).toEqual([
      [cid, HidCommand.ERROR, HidErrorCode.INVALID_SEQ],
      [cid, HidCommand.ERROR, HidErrorCode.CHANNEL_BUSY],
      [cid, HidCommand.ERROR, HidErrorCode.INVALID_LEN],
      [0x0badcafe, HidCommand.ERROR, HidErrorCode.INVALID_CHANNEL],
      [cid, HidCommand.ERROR, HidErrorCode.INVALID_CMD],
      [HID_BROADCAST_CID, HidCommand.ERROR, HidErrorCode.INVALID_LEN],
    ]);
    expect(errors.every((r) => r.length === 64)).toBe(true);
    // The channel still works after all that.
    const echo = fragmentMessage(cid, HidCommand.PING, Uint8Array.of(7));
    got.length = 0;
    for (const r of echo) await link.write(r);
    expect(await eventually(() => got[0], 5_000, 'PING echo')).toEqual(echo[0]);
  });
});
