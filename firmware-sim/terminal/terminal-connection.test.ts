/**
 * The session rules at the connection level, in memory: which messages may travel in clear,
 * exactly-once (cache hits, REQUEST_ID_REUSED, in-progress duplicates), keepalive timing on a
 * manual clock, Cancel, events, and every fault and quirk of the control interface.
 * "Nothing was answered" is always shown by a later request whose answer arrives first:
 * the terminal handles what it receives in order.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeCanonical } from '../../protocol/cbor-codec.js';
import { Capability, encodeMessage, type Message } from '../../protocol/messages.js';
import { PacketFlags, type Packet } from '../../protocol/packet.js';
import { parseLink, splitPacket } from '../../protocol/segmentation.js';
import { encodeFrame, FrameDecoder } from '../../protocol/stream-framing.js';
import { WireError } from '../../protocol/wire-errors.js';
import { flushMicrotasks, ManualClock } from '../hardware/clock.js';
import { KEEPALIVE_INTERVAL_MS } from './terminal-connection.js';
import type { TestHost } from './test-host.js';
import { makeTestWorld, startTestTerminal, type StartTestTerminalOptions, type TestTerminal, type TestWorld } from './test-world.js';

let world: TestWorld;
const running: TestTerminal[] = [];

beforeAll(async () => {
  world = await makeTestWorld();
});
afterAll(() => world.cleanup());
afterEach(async () => {
  for (const t of running.splice(0)) await t.close();
});

async function start(options: StartTestTerminalOptions = {}): Promise<TestTerminal & { h: TestHost }> {
  const t = await startTestTerminal(world, options);
  running.push(t);
  return Object.assign(t, { h: t.host });
}

const nowS = (): number => Math.floor(Date.now() / 1000);
const nonce = (): Uint8Array => new Uint8Array(randomBytes(32));
const errorName = (m: Message): string => (m.type === 'Error' ? (Object.entries(WireError).find(([, c]) => c === m.code)?.[0] ?? String(m.code)) : m.type);
const cardAuth = (id: number, quantity = 5): Message => ({
  type: 'CardAuthenticate',
  id,
  nonce: new Uint8Array(32).fill(7),
  service: 'bread',
  quantity,
  shopId: 'BAKERY-1',
  terminalId: 'SIM0001',
  time: 1_790_000_000,
});

/** Lets memory-link deliveries (one macrotask per chunk) and their handlers run. */
async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await flushMicrotasks();
}

describe('which messages may travel in clear', () => {
  it('answers a clear request other than GetInfo, Ping and Handshake with SESSION_REQUIRED, executing nothing', async () => {
    const { h, terminal } = await start({ card: 'PSD-000001' });
    const id = h.id();
    const r = await h.request(cardAuth(id) as never, { clear: true });
    expect(errorName(r)).toBe('SESSION_REQUIRED');
    expect(r.id).toBe(id);
    expect(terminal.slot.card?.counter).toBe(0);
    // Not cached: the same request after the handshake runs.
    await h.handshake();
    const again = await h.request(cardAuth(id) as never);
    expect(again).toMatchObject({ type: 'CardAuthenticateResult', counter: 1 });
  });

  it('drops clear requests after the handshake, but still answers GetInfo and Ping in clear', async () => {
    const { h } = await start();
    await h.handshake();
    const dropped = h.id();
    h.send({ type: 'Status', id: dropped }, { clear: true });
    const info = await h.request({ type: 'GetInfo' }, { clear: true });
    expect(info.type).toBe('GetInfoResult');
    expect(h.sealed[h.messages.indexOf(info)]).toBe(false);
    const st = await h.expect('StatusResult', { type: 'Status' });
    expect(h.messages.some((m) => m.id === dropped)).toBe(false);
    expect(st.link.rxRejected).toBe(1);
  });

  it('tells a host with a stale session that there is none (SESSION_REQUIRED, id 0)', async () => {
    const { h } = await start();
    const frame = encodeFrame({ flags: PacketFlags.SEALED, seq: 0, payload: new Uint8Array(40) });
    const from = h.mark;
    h.sendRaw(frame);
    const r = await h.waitFor((m) => m.type === 'Error', from);
    expect(r.id).toBe(0);
    expect(errorName(r)).toBe('SESSION_REQUIRED');
  });

  it('answers undecodable requests under their id with the wire code, and counts bad frames', async () => {
    const { h } = await start();
    const id = h.id();
    // key 0 as 18 02 (non-shortest): CBOR_NON_CANONICAL, id still readable.
    // CBOR is checked before the id is read: a non-canonical message is answered under id 0.
    const nonCanonical = new Uint8Array([0xa2, 0x00, 0x18, 0x02, 0x01, 0x1a, ...u32be(id)]);
    const from = h.mark;
    for (const u of h.channel.sendPayload(nonCanonical, { clear: true })) h.sendRaw(u);
    const nc = await h.waitFor((m) => m.type === 'Error', from);
    expect(nc.id).toBe(0);
    expect(errorName(nc)).toBe('CBOR_NON_CANONICAL');
    // A body error is answered under the id (MSG_WRONG_TYPE: Ping data as text).
    for (const u of h.channel.sendPayload(encodeCanonical(new Map<number, never>([[0, 0x02 as never], [1, id as never], [2, 'text' as never]])), { clear: true })) h.sendRaw(u);
    expect(errorName(await h.waitFor((m) => m.id === id, from))).toBe('INVALID_MESSAGE');
    const id2 = h.id();
    for (const u of h.channel.sendPayload(encodeCanonical(new Map([[0, 0x3e], [1, id2]])), { clear: true })) h.sendRaw(u);
    expect(errorName(await h.waitFor((m) => m.id === id2, from))).toBe('UNKNOWN_MESSAGE');
    // A result sent to the terminal is valid but not accepted.
    const r = await h.request({ type: 'PingResult' } as never, { clear: true });
    expect(errorName(r)).toBe('UNEXPECTED_MESSAGE');
    // Garbage and a frame with a bad CRC are dropped and counted.
    h.sendRaw(new Uint8Array([1, 2, 3, 0, 0x55, 0x55, 0]));
    await h.handshake();
    const st = await h.expect('StatusResult', { type: 'Status' });
    expect(st.link.rxBadFrames).toBe(2);
  });
});

describe('exactly-once', () => {
  it('answers a repeated request id from the cache: same signature, card counter advanced once', async () => {
    const { h, terminal } = await start({ card: 'PSD-000001' });
    await h.handshake();
    const id = h.id();
    const first = await h.request(cardAuth(id) as never);
    const from = h.mark;
    h.send(cardAuth(id));
    const second = await h.waitFor((m) => m.id === id, from);
    expect(second).toEqual(first);
    expect(terminal.slot.card?.counter).toBe(1);
    const st = await h.expect('StatusResult', { type: 'Status' });
    expect(st.link.retriesAnswered).toBe(1);
  });

  it('refuses the same id with another body (REQUEST_ID_REUSED), executing nothing', async () => {
    const { h, terminal } = await start({ card: 'PSD-000001' });
    await h.handshake();
    const id = h.id();
    await h.request(cardAuth(id, 5) as never);
    const r = await h.request(cardAuth(id, 6) as never);
    expect(errorName(r)).toBe('REQUEST_ID_REUSED');
    expect(terminal.slot.card?.counter).toBe(1);
  });

  it('answers a duplicate of a request in progress with Keepalive processing, and runs it once', async () => {
    const { h, terminal } = await start();
    await h.handshake();
    const id = h.id();
    const wait: Message = { type: 'CardWait', id, timeoutMs: 60_000 };
    h.send(wait);
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id);
    const from = h.mark;
    h.send(wait);
    const ka = await h.waitFor((m) => m.id === id, from);
    expect(ka).toMatchObject({ type: 'Keepalive', status: 'processing' });
    // Same id, other body, while in progress: REQUEST_ID_REUSED.
    h.send({ type: 'CardWait', id, timeoutMs: 1 });
    expect(errorName(await h.waitFor((m) => m.type === 'Error' && m.id === id, from))).toBe('REQUEST_ID_REUSED');
    await terminal.insertCard('PSD-000002');
    await h.waitFor((m) => m.type === 'CardWaitResult' && m.id === id, from);
    await settle();
    expect(h.messages.filter((m) => m.type === 'CardWaitResult')).toHaveLength(1);
  });

  it('keeps the cache across a new handshake, and starts it afresh at reboot', async () => {
    const { h, terminal } = await start({ card: 'PSD-000001' });
    await h.handshake();
    const id = h.id();
    const first = await h.request(cardAuth(id) as never);
    await h.handshake();
    expect(await h.request(cardAuth(id) as never)).toEqual(first);
    expect(terminal.slot.card?.counter).toBe(1);
    await h.expect('RebootResult', { type: 'Reboot', mode: 'normal' });
    await h.waitForBanner(2);
    await h.handshake();
    expect(await h.request(cardAuth(id) as never)).toMatchObject({ type: 'CardAuthenticateResult', counter: 2 });
  });

  it('remembers at least the 32 most recent responses', async () => {
    const { h } = await start();
    await h.handshake();
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) {
      const id = h.id();
      ids.push(id);
      await h.request({ type: 'Ping', id, data: new Uint8Array([i]) });
    }
    for (const [i, id] of ids.slice(-32).entries()) {
      expect(await h.request({ type: 'Ping', id, data: new Uint8Array([i + 8]) })).toMatchObject({ type: 'PingResult' });
    }
    const st = await h.expect('StatusResult', { type: 'Status' });
    expect(st.link.retriesAnswered).toBe(32);
  });
});

describe('keepalive', () => {
  it('sends one at once on a status change and at least every 250 ms while waiting', async () => {
    const clock = new ManualClock();
    const { h } = await start({ clock });
    await h.handshake();
    const id = h.id();
    void h.request({ type: 'CardWait', id, timeoutMs: 60_000 });
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id);
    expect(h.keepalives(id)).toHaveLength(1);
    for (let t = 0; t < 10; t++) {
      const before = h.keepalives(id).length;
      await clock.advanceAsync(250);
      await h.until(() => h.keepalives(id).length > before, 'a keepalive within 250 ms');
    }
    expect(KEEPALIVE_INTERVAL_MS).toBeLessThanOrEqual(250);
    expect(h.keepalives(id).every((k) => k.status === 'waiting_card')).toBe(true);
  });

  it('sends the retry status of the sensor at once, without waiting for the period', async () => {
    const clock = new ManualClock();
    const { h, terminal } = await start({ clock, card: 'PSD-000001' });
    await h.handshake();
    const id = h.id();
    void h.request({ type: 'VerifyHolder', id, nonce: nonce(), member: 0, timeoutMs: 60_000, maxAttempts: 3 });
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id && m.status === 'waiting_finger');
    await terminal.control({ cmd: 'finger', finger: 'not_centred' });
    const ka = await h.waitFor((m) => m.type === 'Keepalive' && m.id === id && m.status === 'finger_not_centred');
    expect(ka).toMatchObject({ attempt: 1 });
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id && m.status === 'waiting_finger', h.messages.indexOf(ka));
  });
});

describe('cancel', () => {
  it('ends the target with CANCELLED, then answers CancelResult; a retry of the target gets CANCELLED again', async () => {
    const { h } = await start();
    await h.handshake();
    const id = h.id();
    const wait = h.request({ type: 'CardWait', id, timeoutMs: 60_000 });
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id);
    const c = await h.expect('CancelResult', { type: 'Cancel', targetId: id });
    expect(c.cancelled).toBe(true);
    const end = await wait;
    expect(errorName(end)).toBe('CANCELLED');
    expect(h.messages.indexOf(end)).toBeLessThan(h.messages.indexOf(c));
    expect(errorName(await h.request({ type: 'CardWait', id, timeoutMs: 60_000 }))).toBe('CANCELLED');
  });

  it('answers cancelled: false for an unknown or finished id', async () => {
    const { h } = await start();
    await h.handshake();
    const ping = h.id();
    await h.request({ type: 'Ping', id: ping });
    expect((await h.expect('CancelResult', { type: 'Cancel', targetId: ping })).cancelled).toBe(false);
    expect((await h.expect('CancelResult', { type: 'Cancel', targetId: 12345 })).cancelled).toBe(false);
  });

  it('stops a holder verification (the sensor is free again)', async () => {
    const { h, terminal } = await start({ card: 'PSD-000001' });
    await h.handshake();
    const id = h.id();
    const v = h.request({ type: 'VerifyHolder', id, nonce: nonce(), member: 0, timeoutMs: 60_000, maxAttempts: 3 });
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id);
    await h.expect('CancelResult', { type: 'Cancel', targetId: id });
    expect(errorName(await v)).toBe('CANCELLED');
    await settle();
    expect(terminal.sensor.capturing).toBe(false);
    await terminal.control({ cmd: 'finger', finger: 0 });
    expect(await h.request({ type: 'VerifyHolder', nonce: nonce(), member: 0, timeoutMs: 60_000, maxAttempts: 3 })).toMatchObject({ result: 'match' });
  });
});

describe('events', () => {
  it('are sent only inside a session, sealed, with id 0', async () => {
    const { h, terminal } = await start();
    await terminal.insertCard('PSD-000001');
    terminal.removeCard();
    await h.expect('PingResult', { type: 'Ping' }, { clear: true });
    expect(h.messages.some((m) => m.type === 'CardInserted' || m.type === 'CardRemoved')).toBe(false);
    await h.handshake();
    const from = h.mark;
    await terminal.insertCard('PSD-000001');
    const ev = await h.waitFor((m) => m.type === 'CardInserted', from);
    expect(ev.id).toBe(0);
    expect(h.sealed[h.messages.indexOf(ev)]).toBe(true);
  });
});

describe('faults', () => {
  it('drop: incoming bytes lost at rate 1 reach nothing; at rate 0 the line works again', async () => {
    const { h, terminal } = await start();
    await h.handshake();
    expect((await terminal.control({ cmd: 'drop', rate: 1, direction: 'in' })).ok).toBe(true);
    h.send({ type: 'Ping', id: h.id() });
    await settle();
    expect(terminal.faults.counters.droppedIn).toBeGreaterThan(0);
    await terminal.control({ cmd: 'drop', rate: 0 });
    await h.expect('PingResult', { type: 'Ping' });
    expect(terminal.connection.counters().rxFrames).toBe(2); // the handshake and the last ping
  });

  it('corrupt: damaged outgoing bytes arrive as bad frames, seeded so a run replays', async () => {
    const { h, terminal } = await start();
    await terminal.control({ cmd: 'corrupt', rate: 1, direction: 'out' });
    const e0 = h.errors.length; // the banner line was one bad frame already
    h.send({ type: 'Ping', id: h.id() }, { clear: true });
    await h.until(() => h.errors.length > e0, 'a bad frame');
    expect(h.errors[e0]?.code).toMatch(/^FRAME_/);
    expect(terminal.faults.counters.corruptedOut).toBeGreaterThan(0);
  });

  it('stall: nothing crosses until the stall ends, then everything does, in order', async () => {
    const clock = new ManualClock();
    const { h, terminal } = await start({ clock });
    await h.handshake();
    await terminal.control({ cmd: 'stall', ms: 1000 });
    const id = h.id();
    h.send({ type: 'Ping', id });
    await settle();
    expect(h.messages.some((m) => m.id === id)).toBe(false);
    await clock.advanceAsync(1000);
    expect((await h.waitFor((m) => m.id === id)).type).toBe('PingResult');
  });

  it('vanish and return on a link that cannot vanish: silence, then the banner again', async () => {
    const { h, terminal } = await start();
    await h.handshake();
    await terminal.control({ cmd: 'vanish' });
    const lost = h.id();
    h.send({ type: 'Ping', id: lost });
    await settle();
    await terminal.control({ cmd: 'return' });
    await h.waitForBanner(2);
    expect((await h.request({ type: 'Ping' })).type).toBe('PingResult');
    expect(h.messages.some((m) => m.id === lost)).toBe(false);
  });

  it('reboot: banner again, no session, no cache', async () => {
    const { h, terminal } = await start();
    await h.handshake();
    const r = await terminal.control({ cmd: 'reboot' });
    expect(r).toMatchObject({ ok: true, mode: 'normal' });
    await h.waitForBanner(2);
    expect(terminal.connection.hasSession).toBe(false);
  });
});

describe('quirks', () => {
  it('non_canonical_cbor: the host decoder refuses what the terminal sends', async () => {
    const { h, terminal } = await start();
    await terminal.control({ cmd: 'quirk', name: 'non_canonical_cbor' });
    const e0 = h.errors.length;
    h.send({ type: 'Ping', id: h.id() }, { clear: true });
    await h.until(() => h.errors.length > e0, 'a decode error');
    expect(h.errors[e0]?.code).toBe('CBOR_NON_CANONICAL');
  });

  it('bad_crc: every frame fails the CRC check', async () => {
    const { h, terminal } = await start();
    await terminal.control({ cmd: 'quirk', name: 'bad_crc', enabled: true });
    const e0 = h.errors.length;
    h.send({ type: 'Ping', id: h.id() }, { clear: true });
    await h.until(() => h.errors.length > e0, 'a bad frame');
    expect(h.errors[e0]?.code).toBe('FRAME_CRC_MISMATCH');
    await terminal.control({ cmd: 'quirk', name: 'bad_crc', enabled: false });
    expect((await h.request({ type: 'Ping' }, { clear: true })).type).toBe('PingResult');
  });

  it('no_replay_cache: a repeated request is executed again (the card signs twice)', async () => {
    const { h, terminal } = await start({ card: 'PSD-000001' });
    await h.handshake();
    await terminal.control({ cmd: 'quirk', name: 'no_replay_cache' });
    const id = h.id();
    const a = await h.request(cardAuth(id) as never);
    const b = await h.request(cardAuth(id) as never);
    expect(a).toMatchObject({ counter: 1 });
    expect(b).toMatchObject({ counter: 2 });
  });

  it('no_keepalive: a long request runs silent', async () => {
    const clock = new ManualClock();
    const { h, terminal } = await start({ clock });
    await h.handshake();
    await terminal.control({ cmd: 'quirk', name: 'no_keepalive' });
    const id = h.id();
    const wait = h.request({ type: 'CardWait', id, timeoutMs: 2000 });
    await settle();
    await clock.advanceAsync(1000);
    await settle();
    await clock.advanceAsync(1000);
    expect(errorName(await wait)).toBe('TIMEOUT');
    expect(h.keepalives(id)).toHaveLength(0);
  });

  it('accept_clear: clear requests are executed after the handshake', async () => {
    const { h, terminal } = await start();
    await h.handshake();
    await terminal.control({ cmd: 'quirk', name: 'accept_clear' });
    expect((await h.request({ type: 'Status' }, { clear: true })).type).toBe('StatusResult');
  });

  it('no_banner: no identification line at the next boot', async () => {
    const { h, terminal } = await start();
    await terminal.control({ cmd: 'quirk', name: 'no_banner' });
    await terminal.control({ cmd: 'reboot' });
    expect((await h.request({ type: 'GetInfo' }, { clear: true })).type).toBe('GetInfoResult');
    expect(h.bannerCount()).toBe(1);
  });
});

describe('control commands', () => {
  it('refuses unknown commands and bad arguments with typed errors', async () => {
    const { terminal } = await start();
    expect(await terminal.control({ cmd: 'explode', id: 7 })).toMatchObject({ ok: false, id: 7, error: { code: 'CONTROL_BAD_COMMAND' } });
    expect(await terminal.control({ cmd: 'drop', rate: 2 })).toMatchObject({ ok: false, error: { code: 'CONTROL_BAD_ARGUMENT' } });
    expect(await terminal.control({ cmd: 'quirk', name: 'nope' })).toMatchObject({ ok: false, error: { code: 'CONTROL_BAD_ARGUMENT' } });
    expect(await terminal.control({ cmd: 'finger', finger: 'thumb' })).toMatchObject({ ok: false, error: { code: 'CONTROL_BAD_ARGUMENT' } });
    expect(await terminal.control({ cmd: 'remove' })).toMatchObject({ ok: false, error: { code: 'NO_CARD' } });
    expect(await terminal.control({ cmd: 'insert', card: 'NO-SUCH-CARD' })).toMatchObject({ ok: false, error: { code: 'CARD_FILE_INVALID' } });
    expect(await terminal.control('status')).toMatchObject({ ok: false, error: { code: 'CONTROL_BAD_COMMAND' } });
  });

  it('inserts by card id, keeps the counter in the state dir, and reports status', async () => {
    const { h, terminal, stateDir } = await start();
    expect(await terminal.control({ cmd: 'insert', card: 'PSD-000005' })).toMatchObject({ ok: true, cardId: 'PSD-000005', counter: 0 });
    expect(await terminal.control({ cmd: 'insert', card: 'PSD-000001' })).toMatchObject({ ok: false, error: { code: 'CARD_ALREADY_PRESENT' } });
    await h.handshake();
    await h.request({ type: 'CardAuthenticate', nonce: nonce(), service: 'postal', quantity: 1, shopId: 'PO-1', terminalId: 'SIM0001', time: nowS() });
    expect(await terminal.control({ cmd: 'remove' })).toMatchObject({ ok: true, cardId: 'PSD-000005' });
    expect(await terminal.control({ cmd: 'insert', card: 'PSD-000005' })).toMatchObject({ ok: true, counter: 1 });
    const st = await terminal.control({ cmd: 'status' });
    expect(st).toMatchObject({ ok: true, status: { session: true, card: { cardId: 'PSD-000005', counter: 1 }, firmware: '1.0.0' } });
    expect(stateDir.length).toBeGreaterThan(0);
  });
});

describe('segments (PROTOCOL.d/22-segmentation.md)', () => {
  const data = Uint8Array.from({ length: 200 }, (_, i) => 255 - i);
  /** Packets in the frames the terminal writes. */
  function watch(t: TestTerminal): Packet[] {
    const decoder = new FrameDecoder();
    const seen: Packet[] = [];
    t.hostLink.onData((chunk) => {
      for (const ev of decoder.push(chunk)) if (ev.kind === 'frame') seen.push(ev.packet);
    });
    return seen;
  }
  const isSegment = (p: Packet): boolean => (p.flags & PacketFlags.SEGMENT) !== 0;

  it('reassembles a request sent in segments, NAKs the missing one 40 ms after the last, and answers once it comes', async () => {
    const clock = new ManualClock();
    const t = await start({ clock });
    const fromTerminal = watch(t);
    const session = await t.h.handshake();
    const id = t.h.id();
    const record = session.channel.seal(encodeMessage({ type: 'Ping', id, data }));
    const segments = splitPacket({ flags: PacketFlags.SEALED, seq: 77, payload: record }, 32);
    for (const [i, seg] of segments.entries()) if (i !== 1) t.h.sendRaw(encodeFrame(seg));
    await settle();
    await clock.advanceAsync(39);
    await settle();
    expect(fromTerminal.filter((p) => p.flags === PacketFlags.LINK)).toEqual([]);
    await clock.advanceAsync(1);
    await settle();
    const naks = fromTerminal.filter((p) => p.flags === PacketFlags.LINK).map((p) => parseLink(p.payload));
    expect(naks).toEqual([{ seq: 77, count: segments.length, missing: [1] }]);
    t.h.sendRaw(encodeFrame(segments[1]!));
    const answer = await t.h.waitFor((m) => m.id === id);
    expect(answer).toMatchObject({ type: 'PingResult', data });
    expect(t.terminal.connection.segmentCounters()?.received).toMatchObject({ completed: 1, naks: 1 });
    expect(t.terminal.connection.counters().rxBadFrames).toBe(0);
  });

  it('segments its answers only to a host that offered it in the Handshake, and only once the line showed damage', async () => {
    const badFrame = encodeFrame({ flags: 0, seq: 0, payload: Uint8Array.of(1, 2, 3) });
    badFrame[4] = (badFrame[4] ?? 0) ^ 0x10; // a CRC error: the line is damaged

    const offered = await start({ hostSegments: true });
    const seen = watch(offered);
    await offered.h.handshake({ hostCapabilities: Capability.segments });
    const clean = await offered.h.request({ type: 'Ping', data });
    expect(clean).toMatchObject({ type: 'PingResult', data });
    expect(seen.filter(isSegment)).toEqual([]);
    offered.h.sendRaw(badFrame);
    const noisy = await offered.h.request({ type: 'Ping', data });
    expect(noisy).toMatchObject({ type: 'PingResult', data });
    const segs = seen.filter(isSegment);
    expect(segs.length).toBeGreaterThanOrEqual(7);
    expect(segs.every((p) => p.flags === (PacketFlags.SEGMENT | PacketFlags.SEALED) && p.payload[2] === 32)).toBe(true);

    const notOffered = await start({ hostSegments: true });
    const seen2 = watch(notOffered);
    await notOffered.h.handshake();
    notOffered.h.sendRaw(badFrame);
    expect(await notOffered.h.request({ type: 'Ping', data })).toMatchObject({ type: 'PingResult', data });
    expect(seen2.filter(isSegment)).toEqual([]);
  });
});

function u32be(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}
