import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryLinkPair, type MemoryLink } from '../../link/memory-link.js';
import { MessageChannel, StreamPacketCodec } from '../../protocol/message-channel.js';
import { Capability, encodeMessage, type Message, type MessageName } from '../../protocol/messages.js';
import { parseLink, type SegmenterOptions } from '../../protocol/segmentation.js';
import { FrameDecoder } from '../../protocol/stream-framing.js';
import { PacketFlags, type Packet } from '../../protocol/packet.js';
import { WireError } from '../../protocol/wire-errors.js';
import { SessionError, type UnicardError } from '../../protocol/errors.js';
import { TerminalHandshake } from '../../protocol/crypto/handshake.js';
import { issueDeviceCertificate } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { TEST_SEEDS, TEST_VALIDITY, testBytes } from '../../protocol/crypto/crypto-vectors.js';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import {
  DAMAGED_LINE_FACTOR,
  DEFAULT_DEAD_AFTER_MS,
  DEFAULT_MAX_RETRIES,
  DEFAULT_RETRY_AFTER_MS,
  TerminalSession,
  type TerminalEvent,
  type TraceDirection,
} from './terminal-session.js';
import { DEFAULT_TIMEOUT_MS, HUMAN_TIMEOUT_MARGIN_MS, HUMAN_TIMEOUT_MS, SLOW_TIMEOUT_MS } from './request-types.js';
import { TerminalError, TerminalSessionError } from './session-errors.js';
import { createTrustPolicy, devicePinId, type TrustCallback } from './trust-policy.js';
import { readBanner } from './banner.js';

const ed = new NodeEd25519();
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

const deviceCertificate = issueDeviceCertificate(ed, TEST_SEEDS.vendorRoot, {
  ...TEST_VALIDITY,
  subjectPublicKey: ed.publicKeyFromSeed(TEST_SEEDS.device),
  terminalId: 'SIM0001',
  vendor: 'SimVendor',
  model: 'SIM-1',
});
const BANNER = 'UNICARD-TERMINAL vendor=SimVendor model=SIM-1 serial=SIM0001 fw=1.0.0 proto=1\r\n';

type Reply = Message | 'ignore' | 'pending';
type Handler = (m: Message, t: ScriptedTerminal) => Reply;

/**
 * A small terminal on MessageChannel + TerminalHandshake: answers GetInfo, Ping, Handshake,
 * Display, SetTime, Cancel; keeps the exactly-once cache; does what a test's handlers say.
 */
class ScriptedTerminal {
  readonly channel: MessageChannel;
  /** Every request that arrived, in order (dropped ones included). */
  readonly seen: Array<{ message: Message; sealed: boolean }> = [];
  readonly handlers = new Map<MessageName, Handler>();
  /** Requests of these types are dropped this many more times (a lost frame). */
  readonly drops = new Map<MessageName, number>();
  /** The next this many outgoing messages are lost on the line. */
  dropOutgoing = 0;
  /** Sent right after the HandshakeResult, sealed with the new session (an event racing the trust decision). */
  afterHandshake: Message | undefined;
  /** Requests executed (handlers run), by type. */
  readonly executed = new Map<MessageName, number>();
  /** Ids of requests in progress (handler said 'pending'). */
  readonly inProgress = new Map<number, Message>();
  private readonly cache = new Map<number, { bytes: string; response: Message }>();
  private readonly handshake = new TerminalHandshake({ ed, deviceSeed: TEST_SEEDS.device, deviceCertificate, randomBytes: rng });

  /** Link units (frames) written so far, and a filter that loses some of them on the line. */
  unitsSent = 0;
  loseUnit: ((index: number, unit: Uint8Array) => boolean) | undefined;
  /** Handshake requests' hostCapabilities, in order. */
  readonly offers: Array<number | undefined> = [];

  /**
   * `segments`: reassemble segments, answer NAKs, advertise `segments` in GetInfo and cut long
   * answers in this mode once the host offered it (this terminal never NAKs itself).
   */
  constructor(
    readonly link: MemoryLink,
    readonly segments?: SegmenterOptions,
  ) {
    this.channel = new MessageChannel({ codec: new StreamPacketCodec(), ...(segments === undefined ? {} : { segmentation: { ...segments, now: () => performance.now() } }) });
    link.onData((chunk) => {
      for (const ev of this.channel.receive(chunk)) {
        if (ev.kind === 'message') this.onRequest(ev.message, ev.sealed, ev.bytes);
        else if (ev.kind === 'link') this.write(ev.send);
        else if (ev.error.code === 'SESSION_NOT_ESTABLISHED') this.send({ type: 'Error', id: 0, code: WireError.SESSION_REQUIRED }, true);
      }
    });
  }

  send(message: Message, clear = false): void {
    if (this.dropOutgoing > 0) {
      this.dropOutgoing--;
      return;
    }
    this.write(this.channel.send(message, { clear }));
  }

  private write(units: Uint8Array[]): void {
    for (const unit of units) {
      const index = this.unitsSent++;
      if (this.loseUnit?.(index, unit) === true) continue;
      void this.link.write(unit).catch(() => {});
    }
  }

  /** Finishes a request left 'pending' by a handler. */
  finish(id: number, response: Message): void {
    const req = this.inProgress.get(id);
    if (req === undefined) return;
    this.inProgress.delete(id);
    this.cache.set(id, { bytes: Buffer.from(encodeMessage(req)).toString('hex'), response });
    this.send(response);
  }

  /** Reboots: forgets the session, prints the banner and the 0x00. */
  reboot(): void {
    this.channel.setSession(undefined);
    this.inProgress.clear();
    void this.link.write(new Uint8Array([...Buffer.from(BANNER, 'latin1'), 0x00]));
  }

  private onRequest(m: Message, sealed: boolean, bytes: Uint8Array): void {
    this.seen.push({ message: m, sealed });
    const drops = this.drops.get(m.type) ?? 0;
    if (drops > 0) {
      this.drops.set(m.type, drops - 1);
      return;
    }
    if (m.type === 'Handshake') {
      this.offers.push(m.hostCapabilities);
      this.channel.peerReassembles = this.segments !== undefined && m.hostCapabilities === Capability.segments;
      const t = this.handshake.respond({ hostEphemeral: m.hostEphemeralKey, hostNonce: m.hostNonce });
      const reply: Message = {
        type: 'HandshakeResult',
        id: m.id,
        terminalEphemeralKey: t.reply.terminalEphemeral,
        deviceCertificate: t.reply.deviceCertificate,
        signature: t.reply.signature,
      };
      const units = this.channel.send(reply, { clear: true });
      this.channel.setSession(t.channel);
      // An event right behind the result, in the same chunk: the host must already hold the new keys.
      if (this.afterHandshake !== undefined) units.push(...this.channel.send(this.afterHandshake));
      void this.link.write(new Uint8Array(Buffer.concat(units))).catch(() => {});
      return;
    }
    const clearOk = m.type === 'GetInfo' || m.type === 'Ping';
    if (!sealed && !clearOk) {
      this.send({ type: 'Error', id: m.id, code: WireError.SESSION_REQUIRED }, true);
      return;
    }
    // Exactly-once: a repeated id is answered from the cache, or with a keepalive while in progress.
    const hex = Buffer.from(bytes).toString('hex');
    const cached = this.cache.get(m.id);
    if (cached !== undefined) {
      this.send(cached.bytes === hex ? cached.response : { type: 'Error', id: m.id, code: WireError.REQUEST_ID_REUSED }, !sealed);
      return;
    }
    if (this.inProgress.has(m.id)) {
      this.send({ type: 'Keepalive', id: m.id, status: 'processing' });
      return;
    }
    this.executed.set(m.type, (this.executed.get(m.type) ?? 0) + 1);
    const reply = (this.handlers.get(m.type) ?? defaultHandler)(m, this);
    if (reply === 'ignore') return;
    if (reply === 'pending') {
      this.inProgress.set(m.id, m);
      return;
    }
    this.cache.set(m.id, { bytes: hex, response: reply });
    this.send(reply, !sealed);
  }
}

function defaultHandler(m: Message, t: ScriptedTerminal): Reply {
  switch (m.type) {
    case 'GetInfo':
      return {
        type: 'GetInfoResult',
        id: m.id,
        vendor: 'SimVendor',
        model: 'SIM-1',
        serial: 'SIM0001',
        firmwareVersion: [1, 0, 0],
        protocolVersion: 1,
        maxFrameSize: 4096,
        capabilities: 0x3f | (t.segments === undefined ? 0 : Capability.segments),
        terminalId: 'SIM0001',
      };
    case 'Ping':
      return m.data === undefined ? { type: 'PingResult', id: m.id } : { type: 'PingResult', id: m.id, data: m.data };
    case 'Display':
      return { type: 'DisplayResult', id: m.id };
    case 'SetTime':
      return { type: 'SetTimeResult', id: m.id, previousUnixMs: null };
    case 'CardWait':
      return 'pending';
    case 'Cancel': {
      const stopped = t.inProgress.has(m.targetId);
      if (stopped) t.finish(m.targetId, { type: 'Error', id: m.targetId, code: WireError.CANCELLED });
      return { type: 'CancelResult', id: m.id, cancelled: stopped };
    }
    default:
      return { type: 'Error', id: m.id, code: WireError.NOT_SUPPORTED };
  }
}

/** Lets the memory links deliver (each chunk takes one macrotask) and both ends react. */
async function settle(turns = 12): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Lets `ms` of fake time pass in small steps, delivering bytes between steps. */
async function elapse(ms: number, stepMs = 10): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    await vi.advanceTimersByTimeAsync(Math.min(stepMs, ms - t));
    await settle(4);
  }
}

const trustAll: TrustCallback = () => 'trusted';

async function connect(options: { trust?: TrustCallback; trace?: (d: TraceDirection, item: Message | UnicardError) => void } = {}) {
  const [hostLink, terminalLink] = createMemoryLinkPair();
  const terminal = new ScriptedTerminal(terminalLink);
  const session = await TerminalSession.open(hostLink, {
    trust: options.trust ?? trustAll,
    ed,
    ...(options.trace === undefined ? {} : { trace: options.trace }),
  });
  return { hostLink, terminalLink, terminal, session };
}

/** Catches a rejection now (so it is never "unhandled" while fake time runs) and returns it. */
function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

beforeEach(() => {
  // Only the clocks the session uses are faked; setImmediate stays real for the memory links.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TerminalSession: connecting', () => {
  it('asks GetInfo in clear, runs the handshake, and seals what follows', async () => {
    const seenDevices: string[] = [];
    const { terminal, session } = await connect({
      trust: (device, ctx) => {
        seenDevices.push(`${device.terminalId}/${ctx.info?.serial}`);
        return 'trusted';
      },
    });
    expect(session.state).toBe('sealed');
    expect(session.trustDecision).toBe('trusted');
    expect(session.info?.terminalId).toBe('SIM0001');
    expect(session.device?.vendor).toBe('SimVendor');
    expect(seenDevices).toEqual(['SIM0001/SIM0001']);
    expect(terminal.seen.map((s) => [s.message.type, s.sealed])).toEqual([
      ['GetInfo', false],
      ['Handshake', false],
    ]);
    const res = await session.request({ type: 'Display', prompt: 'insert_card' });
    expect(res.type).toBe('DisplayResult');
    expect(terminal.seen.at(-1)).toMatchObject({ sealed: true, message: { type: 'Display', prompt: 'insert_card' } });
    await session.close();
  });

  it('refuses an untrusted terminal with HANDSHAKE_UNTRUSTED and closes the link', async () => {
    const [hostLink, terminalLink] = createMemoryLinkPair();
    new ScriptedTerminal(terminalLink);
    const otherRoot = ed.publicKeyFromSeed(testBytes('some other vendor'));
    const trust = createTrustPolicy({ ed, vendorRoots: trustedKeysOf([otherRoot]), nowSeconds: () => TEST_VALIDITY.validFrom + 1 });
    const error = await TerminalSession.open(hostLink, { trust, ed }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).code).toBe('HANDSHAKE_UNTRUSTED');
    expect((error as SessionError).detail).toMatchObject({ terminalId: 'SIM0001', cause: 'CERT_UNKNOWN_ISSUER' });
    expect(hostLink.isOpen).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('trust policy: vendor root → trusted, pinned key → pinned, expired and unpinned → refused', async () => {
    const roots = trustedKeysOf([ed.publicKeyFromSeed(TEST_SEEDS.vendorRoot)]);
    const inside = () => TEST_VALIDITY.validFrom + 1;
    const after = () => TEST_VALIDITY.validUntil + 1;
    const pin = devicePinId({ subjectPublicKey: ed.publicKeyFromSeed(TEST_SEEDS.device) } as never);
    const a = await connect({ trust: createTrustPolicy({ ed, vendorRoots: roots, nowSeconds: inside }) });
    expect(a.session.trustDecision).toBe('trusted');
    await a.session.close();
    const b = await connect({ trust: createTrustPolicy({ ed, vendorRoots: new Map(), pins: new Set([pin]), nowSeconds: inside }) });
    expect(b.session.trustDecision).toBe('pinned');
    await b.session.close();
    const c = await connect({ trust: createTrustPolicy({ ed, vendorRoots: roots, nowSeconds: after }) }).catch((e: unknown) => e);
    expect((c as SessionError).detail).toMatchObject({ cause: 'CERT_EXPIRED' });
  });

  it('waits for the boot banner of a terminal that is still starting, then connects', async () => {
    const [hostLink, terminalLink] = createMemoryLinkPair();
    const terminal = new ScriptedTerminal(terminalLink);
    const opening = outcome(TerminalSession.open(hostLink, { trust: trustAll, ed, bannerTimeoutMs: 5_000 }));
    await elapse(1_500);
    expect(terminal.seen).toHaveLength(0);
    terminal.reboot(); // boot noise could come first; the banner line and its 0x00 follow
    await settle();
    const r = await opening;
    if (!r.ok) throw r.error;
    expect(r.value.banner?.serial).toBe('SIM0001');
    expect(r.value.counters()).toMatchObject({ banners: 1, framingErrors: {} });
    await r.value.close();
  });

  it('holds card events that arrive before the trust decision and delivers them once trusted', async () => {
    const [hostLink, terminalLink] = createMemoryLinkPair();
    const terminal = new ScriptedTerminal(terminalLink);
    terminal.afterHandshake = { type: 'CardInserted', id: 0, cardId: 'CARD-9', cardCertificate: new Uint8Array([9]) };
    const events: string[] = [];
    let decided = false;
    const session = new TerminalSession(hostLink, { ed });
    session.onEvent((e) => events.push(`${e.cardId} after trust: ${decided}`));
    await session.getInfo();
    await session.handshake(async () => {
      await settle(); // the event is read while the decision is pending
      decided = true;
      return 'pinned' as const;
    });
    expect(events).toEqual(['CARD-9 after trust: true']);
    expect(session.counters().sealErrors).toEqual({});
    await session.close();
  });

  it('takes over from a probe: the banner it read and the bytes after it', async () => {
    const [hostLink, terminalLink] = createMemoryLinkPair({ chunking: { seed: 3, maxChunk: 7 } });
    const terminal = new ScriptedTerminal(terminalLink);
    const probe = readBanner(hostLink, 5_000);
    terminal.reboot();
    const { banner, rest } = await probe;
    const session = await TerminalSession.open(hostLink, { trust: trustAll, ed, banner, initialBytes: rest, bannerTimeoutMs: 5_000 });
    expect(session.banner?.model).toBe('SIM-1');
    expect(session.counters().framingErrors).toEqual({});
    await session.close();
  });

  it('refuses a terminal whose clear GetInfo names another terminal than its certificate', async () => {
    const [hostLink, terminalLink] = createMemoryLinkPair();
    const terminal = new ScriptedTerminal(terminalLink);
    terminal.handlers.set('GetInfo', (m, t) => ({ ...(defaultHandler(m, t) as Extract<Message, { type: 'GetInfoResult' }>), terminalId: 'OTHER' }));
    await expect(TerminalSession.open(hostLink, { trust: trustAll, ed })).rejects.toMatchObject({ code: 'HANDSHAKE_UNTRUSTED' });
  });

  it('rejects requests that need a session before the handshake, without sending them', async () => {
    const [hostLink, terminalLink] = createMemoryLinkPair();
    const terminal = new ScriptedTerminal(terminalLink);
    const session = new TerminalSession(hostLink, { ed });
    await expect(session.request({ type: 'SetTime', unixMs: 5 })).rejects.toMatchObject({ code: 'NO_SESSION' });
    // A conformance check may still send it in clear on purpose: the terminal refuses it.
    await expect(session.request({ type: 'SetTime', unixMs: 5 }, { clear: true })).rejects.toMatchObject({ code: 'SESSION_REQUIRED' });
    expect(terminal.seen).toHaveLength(1);
    await session.close();
  });
});

describe('TerminalSession: requests', () => {
  it('rejects with the wire error name when the terminal answers Error', async () => {
    const { terminal, session } = await connect();
    terminal.handlers.set('SelfTest', (m) => ({ type: 'Error', id: m.id, code: WireError.NO_CARD, message: 'slot empty' }));
    const error = await session.request({ type: 'SelfTest' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TerminalError);
    expect(error).toMatchObject({ code: 'NO_CARD', wireCode: 0x20, terminalMessage: 'slot empty' });
    expect(session.counters().terminalErrors).toBe(1);
    await session.close();
  });

  it('resends a dropped request with the same id and body, and takes the answer', async () => {
    const { terminal, session } = await connect();
    terminal.drops.set('SetTime', 1);
    const result = outcome(session.request({ type: 'SetTime', unixMs: 1_767_225_600_000 }));
    await settle();
    expect(terminal.seen.filter((s) => s.message.type === 'SetTime')).toHaveLength(1);
    await elapse(310);
    const r = await result;
    expect(r.ok && r.value.type).toBe('SetTimeResult');
    const sent = terminal.seen.filter((s) => s.message.type === 'SetTime').map((s) => s.message);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]); // same id, same fields
    expect(session.counters().retries).toBe(1);
    await session.close();
  });

  it('a lost answer: the resend is answered from the terminal\'s cache, executed once', async () => {
    const { terminal, session } = await connect();
    terminal.dropOutgoing = 1;
    const result = outcome(session.request({ type: 'SetTime', unixMs: 42 }));
    await elapse(310);
    const r = await result;
    expect(r.ok && r.value.type).toBe('SetTimeResult');
    expect(terminal.seen.filter((s) => s.message.type === 'SetTime')).toHaveLength(2);
    expect(terminal.executed.get('SetTime')).toBe(1);
    await session.close();
  });

  it('refuses locally a request larger than the terminal\'s maxFrameSize (it could not even refuse it)', async () => {
    const [hostLink, terminalLink] = createMemoryLinkPair();
    const terminal = new ScriptedTerminal(terminalLink);
    terminal.handlers.set('GetInfo', (m, t) => ({ ...(defaultHandler(m, t) as Extract<Message, { type: 'GetInfoResult' }>), maxFrameSize: 100 }));
    const session = await TerminalSession.open(hostLink, { trust: trustAll, ed });
    const before = terminal.seen.length;
    await expect(session.ping(new Uint8Array(80))).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE', detail: { maxFrameSize: 100 } });
    await expect(session.ping(new Uint8Array(40))).resolves.toMatchObject({ data: new Uint8Array(40) });
    expect(terminal.seen.length).toBe(before + 1);
    await session.close();
  });

  it('rejects an answer of the wrong type with UNEXPECTED_RESPONSE', async () => {
    const { terminal, session } = await connect();
    terminal.handlers.set('SetTime', (m) => ({ type: 'DisplayResult', id: m.id }));
    await expect(session.request({ type: 'SetTime', unixMs: 1 })).rejects.toMatchObject({ code: 'UNEXPECTED_RESPONSE', detail: { got: 'DisplayResult' } });
    await session.close();
  });

  it('drops a clear answer to a sealed request (nobody on the wire can forge one)', async () => {
    const { terminal, session } = await connect();
    terminal.handlers.set('SetTime', (m, t) => {
      t.send({ type: 'Error', id: m.id, code: WireError.INTERNAL }, true); // forged, in clear
      return { type: 'SetTimeResult', id: m.id, previousUnixMs: 7 };
    });
    const res = await session.request({ type: 'SetTime', unixMs: 9 });
    expect(res.previousUnixMs).toBe(7);
    expect(session.counters().dropped).toBe(1);
    await session.close();
  });

  it('keepalives keep a long request alive far past retryAfterMs and the dead-link limit', async () => {
    const { terminal, session } = await connect();
    const statuses: string[] = [];
    const result = outcome(session.request({ type: 'CardWait', timeoutMs: 20_000 }, { onKeepalive: (k) => statuses.push(k.status) }));
    await settle();
    const id = session.outstanding[0] as number;
    for (let i = 0; i < 12; i++) {
      await elapse(250);
      terminal.send({ type: 'Keepalive', id, status: 'waiting_card' });
      await settle();
    }
    terminal.finish(id, { type: 'CardWaitResult', id, cardId: 'CARD-1', cardCertificate: new Uint8Array([1]) });
    await settle();
    const r = await result;
    expect(r.ok && r.value.cardId).toBe('CARD-1');
    expect(statuses).toHaveLength(12);
    expect(session.counters()).toMatchObject({ retries: 0, keepalives: 12 });
    await session.close();
  });

  it('declares the link dead after 1,000 ms of silence, having resent 3 times', async () => {
    const { terminal, session, hostLink } = await connect();
    terminal.handlers.set('SetTime', () => 'ignore');
    terminal.drops.set('SetTime', 99);
    const closed: Array<UnicardError | undefined> = [];
    session.onClose((e) => closed.push(e));
    const result = outcome(session.request({ type: 'SetTime', unixMs: 1 }));
    await elapse(1_010);
    const r = await result;
    expect(!r.ok && r.error).toBeInstanceOf(TerminalSessionError);
    expect(!r.ok && (r.error as TerminalSessionError).code).toBe('TERMINAL_UNRESPONSIVE');
    const ids = terminal.seen.filter((s) => s.message.type === 'SetTime').map((s) => s.message.id);
    expect(ids).toHaveLength(4);
    expect(new Set(ids).size).toBe(1);
    expect(closed.map((e) => e?.code)).toEqual(['TERMINAL_UNRESPONSIVE']);
    expect(hostLink.isOpen).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('on a line that shows damage, resends up to 6 times and waits 2,000 ms of silence before the link counts as dead', async () => {
    const { terminal, session, terminalLink } = await connect();
    terminal.drops.set('SetTime', 99);
    // A damaged frame from the terminal: the host's decoder drops it (FRAME_CRC_MISMATCH).
    const bad = terminal.channel.send({ type: 'DisplayResult', id: 5 })[0]!;
    bad[3] = (bad[3] ?? 0) ^ 0x40;
    await terminalLink.write(bad);
    await settle();
    expect(session.counters().framingErrors).toEqual({ FRAME_CRC_MISMATCH: 1 });
    const result = outcome(session.request({ type: 'SetTime', unixMs: 1 }, { timeoutMs: 5_000 }));
    await elapse(1_500);
    expect(session.isClosed).toBe(false);
    await elapse(DAMAGED_LINE_FACTOR * DEFAULT_DEAD_AFTER_MS - 1_500 + 10);
    const r = await result;
    expect(!r.ok && (r.error as TerminalSessionError).code).toBe('TERMINAL_UNRESPONSIVE');
    // Sent at 0, 300, … 1,800 ms: 7 chances instead of 4.
    expect(terminal.seen.filter((s) => s.message.type === 'SetTime')).toHaveLength(1 + DAMAGED_LINE_FACTOR * DEFAULT_MAX_RETRIES);
  });

  it('is not dead while the terminal talks about other things: an unanswered request ends at its own limit', async () => {
    const { terminal, session } = await connect();
    terminal.handlers.set('SetTime', () => 'ignore');
    const wait = outcome(session.request({ type: 'CardWait', timeoutMs: 20_000 }));
    await settle();
    const waitId = session.outstanding[0] as number;
    const lost = outcome(session.request({ type: 'SetTime', unixMs: 1 }));
    for (let i = 0; i < 10; i++) {
      await elapse(250);
      terminal.send({ type: 'Keepalive', id: waitId, status: 'waiting_card' });
      await settle();
    }
    const r = await lost;
    expect(!r.ok && (r.error as TerminalSessionError).code).toBe('REQUEST_TIMEOUT');
    expect(session.isClosed).toBe(false);
    expect(session.counters()).toMatchObject({ unresponsive: 0, timeouts: 1 });
    terminal.finish(waitId, { type: 'CardWaitResult', id: waitId, cardId: 'CARD-1', cardCertificate: new Uint8Array([1]) });
    await settle();
    expect((await wait).ok).toBe(true);
    await session.close();
  });

  it('fails a request at its overall time limit and cancels it on the terminal', async () => {
    const { terminal, session } = await connect();
    const result = outcome(session.request({ type: 'CardWait', timeoutMs: 100 }, { timeoutMs: 500 }));
    await settle();
    const id = session.outstanding[0] as number;
    for (let i = 0; i < 3; i++) {
      await elapse(200);
      terminal.send({ type: 'Keepalive', id, status: 'waiting_card' });
    }
    const r = await result;
    expect(!r.ok && (r.error as TerminalSessionError).code).toBe('REQUEST_TIMEOUT');
    await settle();
    expect(terminal.seen.at(-1)?.message).toMatchObject({ type: 'Cancel', targetId: id });
    expect(session.counters().timeouts).toBe(1);
    await session.close();
  });

  it('cancel(): the request rejects with CANCELLED and the terminal stops it', async () => {
    const { terminal, session } = await connect();
    const result = outcome(session.request({ type: 'CardWait', timeoutMs: 20_000 }));
    await settle();
    const id = session.outstanding[0] as number;
    const stopped = outcome(session.cancel(id));
    const r = await result;
    expect(!r.ok && (r.error as TerminalSessionError).code).toBe('CANCELLED');
    await settle();
    const s = await stopped;
    expect(s.ok && s.value).toBe(true);
    expect(terminal.inProgress.size).toBe(0);
    // The terminal's Error CANCELLED for the old id arrives late and is dropped.
    expect(session.counters()).toMatchObject({ cancelled: 1, dropped: 1 });
    await session.close();
  });

  it('an AbortSignal cancels the request', async () => {
    const { terminal, session } = await connect();
    const ac = new AbortController();
    const result = outcome(session.request({ type: 'CardWait', timeoutMs: 20_000 }, { signal: ac.signal }));
    await settle();
    ac.abort();
    const r = await result;
    expect(!r.ok && (r.error as TerminalSessionError).code).toBe('CANCELLED');
    await settle();
    expect(terminal.seen.at(-1)?.message.type).toBe('Cancel');
    await session.close();
  });
});

describe('TerminalSession: events, failures, closing', () => {
  it('delivers sealed card events and drops clear ones', async () => {
    const { terminal, session } = await connect();
    const events: TerminalEvent[] = [];
    session.onEvent((e) => events.push(e));
    terminal.send({ type: 'CardInserted', id: 0, cardId: 'CARD-1', cardCertificate: new Uint8Array([1, 2]) });
    terminal.send({ type: 'CardRemoved', id: 0, cardId: 'FORGED' }, true);
    terminal.send({ type: 'CardRemoved', id: 0, cardId: 'CARD-1' });
    await settle();
    expect(events.map((e) => `${e.type}:${e.cardId}`)).toEqual(['CardInserted:CARD-1', 'CardRemoved:CARD-1']);
    expect(session.counters()).toMatchObject({ events: 2, dropped: 1 });
    await session.close();
  });

  it('unplugging fails every outstanding request at once with TERMINAL_GONE', async () => {
    const { session, hostLink } = await connect();
    const closed: Array<string | undefined> = [];
    session.onClose((e) => closed.push(e?.code));
    const a = outcome(session.request({ type: 'CardWait', timeoutMs: 20_000 }));
    const b = outcome(session.request({ type: 'CardWait', timeoutMs: 20_000 }));
    await settle();
    hostLink.unplug();
    await settle();
    for (const r of [await a, await b]) expect(!r.ok && (r.error as TerminalSessionError).code).toBe('TERMINAL_GONE');
    expect(closed).toEqual(['TERMINAL_GONE']);
    await expect(session.request({ type: 'Ping' })).rejects.toMatchObject({ code: 'TERMINAL_GONE' });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a boot banner mid-session fails outstanding work, refuses clear fallback, and a new handshake recovers', async () => {
    const { terminal, session } = await connect();
    const banners: string[] = [];
    session.onBanner((b) => banners.push(`${b.serial} ${b.firmware}`));
    const pending = outcome(session.request({ type: 'CardWait', timeoutMs: 20_000 }));
    await settle();
    terminal.reboot();
    await settle();
    const r = await pending;
    expect(!r.ok && (r.error as TerminalSessionError).code).toBe('TERMINAL_REBOOTED');
    expect(banners).toEqual(['SIM0001 1.0.0']);
    expect(session.state).toBe('lost');
    await expect(session.request({ type: 'SetTime', unixMs: 1 })).rejects.toMatchObject({ code: 'NO_SESSION' });
    await session.handshake();
    expect(session.state).toBe('sealed');
    await expect(session.request({ type: 'SetTime', unixMs: 1 })).resolves.toMatchObject({ type: 'SetTimeResult' });
    // The banner and its 0x00 never reached the frame decoder as garbage.
    expect(session.counters().framingErrors).toEqual({});
    await session.close();
  });

  it('a terminal that lost its session unseen says SESSION_REQUIRED in clear: the session is lost, not downgraded', async () => {
    const { terminal, session } = await connect();
    terminal.channel.setSession(undefined); // restarted, banner lost on the line
    const before = terminal.seen.length;
    const r = await outcome(session.request({ type: 'SetTime', unixMs: 1 }));
    expect(!r.ok && (r.error as TerminalSessionError).code).toBe('SESSION_LOST');
    expect(terminal.seen.length).toBe(before); // the terminal could not read it
    expect(session.state).toBe('lost');
    await session.handshake();
    await expect(session.request({ type: 'SetTime', unixMs: 1 })).resolves.toMatchObject({ type: 'SetTimeResult' });
    await session.close();
  });

  it('close() rejects outstanding requests with SESSION_CLOSED and leaves no timers', async () => {
    const { session, hostLink, terminal } = await connect();
    terminal.handlers.set('SetTime', () => 'pending');
    const a = outcome(session.request({ type: 'CardWait', timeoutMs: 20_000 }));
    const b = outcome(session.request({ type: 'SetTime', unixMs: 3 }));
    await elapse(50);
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    await session.close();
    for (const r of [await a, await b]) expect(!r.ok && (r.error as TerminalSessionError).code).toBe('SESSION_CLOSED');
    expect(vi.getTimerCount()).toBe(0);
    expect(hostLink.isOpen).toBe(false);
    await expect(session.request({ type: 'Ping' })).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
  });

  it('traces every message both ways, counts round trips, and pings', async () => {
    const log: string[] = [];
    const { session } = await connect({ trace: (d, item) => log.push(`${d} ${'type' in item ? item.type : item.code}`) });
    const pong = await session.ping(new Uint8Array([7, 7]));
    expect(pong.data).toEqual(new Uint8Array([7, 7]));
    expect(log).toEqual([
      'tx GetInfo',
      'rx GetInfoResult',
      'tx Handshake',
      'rx HandshakeResult',
      'tx Ping',
      'rx PingResult',
    ]);
    expect(session.counters()).toMatchObject({ requests: 3, results: 3, rtt: { count: 3 } });
    expect(session.counters().frames?.framesOk).toBe(3);
    await session.close();
  });
});

describe('TerminalSession: segments on a damaged line', () => {
  const data = Uint8Array.from({ length: 200 }, (_, i) => i);
  /** Packets in the frames `link` receives (what the other end wrote). */
  function watch(link: MemoryLink): Packet[] {
    const decoder = new FrameDecoder();
    const seen: Packet[] = [];
    link.onData((chunk) => {
      for (const ev of decoder.push(chunk)) if (ev.kind === 'frame') seen.push(ev.packet);
    });
    return seen;
  }
  const isSegment = (p: Packet): boolean => (p.flags & PacketFlags.SEGMENT) !== 0;
  async function connectSegmenting(segments: SegmenterOptions | undefined, options: { segmentation?: SegmenterOptions | false } = {}) {
    const [hostLink, terminalLink] = createMemoryLinkPair();
    const terminal = new ScriptedTerminal(terminalLink, segments);
    const toTerminal = watch(terminalLink);
    const session = await TerminalSession.open(hostLink, { trust: trustAll, ed, ...options });
    return { terminal, session, toTerminal };
  }

  it('offers hostCapabilities segments only to a terminal that advertises it, and only when enabled', async () => {
    const old = await connectSegmenting(undefined);
    const fresh = await connectSegmenting({ mode: 'never' });
    const off = await connectSegmenting({ mode: 'never' }, { segmentation: false });
    expect([old.terminal.offers, fresh.terminal.offers, off.terminal.offers]).toEqual([[undefined], [Capability.segments], [undefined]]);
    for (const c of [old, fresh, off]) await c.session.close();
  });

  it('reassembles a segmented answer; a lost segment is NAKed after 40 ms and sent again; the request is not resent', async () => {
    const { terminal, session, toTerminal } = await connectSegmenting({ mode: 'always' });
    let lost = false;
    terminal.loseUnit = (_i, unit) => {
      const ev = new FrameDecoder().push(unit)[0];
      if (lost || ev?.kind !== 'frame' || !isSegment(ev.packet) || ev.packet.payload[0] !== 2) return false;
      return (lost = true);
    };
    const ping = outcome(session.ping(data));
    await elapse(100);
    const r = await ping;
    if (!r.ok) throw r.error;
    expect(r.value.data).toEqual(data);
    expect(lost).toBe(true);
    const naks = toTerminal.filter((p) => p.flags === PacketFlags.LINK).map((p) => parseLink(p.payload));
    expect(naks).toEqual([{ seq: expect.any(Number) as number, count: 8, missing: [2] }]);
    const c = session.counters();
    expect(c.retries).toBe(0);
    // The HandshakeResult came in segments too (the offer was in the Handshake), then the PingResult.
    expect(c.segments?.received).toMatchObject({ completed: 2, naks: 1, abandoned: 0 });
    expect(terminal.executed.get('Ping')).toBe(1);
    await session.close();
  });

  it('segments long requests after a resend, and stops once the line has been clean for 30 s', async () => {
    const { terminal, session, toTerminal } = await connectSegmenting({ mode: 'never' });
    terminal.drops.set('Ping', 1);
    const first = outcome(session.ping(data));
    await elapse(400);
    expect((await first).ok).toBe(true);
    const pings = (): Packet[] => toTerminal.filter((p) => p.flags !== PacketFlags.LINK);
    // The lost send went whole (sealed, one frame); the resend in segments of 32 bytes.
    const sealedFrames = pings().filter((p) => p.flags === PacketFlags.SEALED);
    const segmented = pings().filter(isSegment);
    expect(sealedFrames.at(-1)?.payload.length).toBeGreaterThan(200);
    expect(segmented).toHaveLength(8);
    expect(segmented.every((p) => p.flags === (PacketFlags.SEGMENT | PacketFlags.SEALED) && p.payload[2] === 32)).toBe(true);
    expect(session.counters().retries).toBe(1);
    await elapse(30_000, 1_000);
    const before = pings().length;
    const second = outcome(session.ping(data));
    await elapse(50);
    expect((await second).ok).toBe(true);
    expect(pings().slice(before).filter(isSegment)).toEqual([]);
    await session.close();
  });
});

describe('PROTOCOL.d/57-host-session.md', () => {
  const doc = readFileSync(new URL('../../PROTOCOL.d/57-host-session.md', import.meta.url), 'utf8');
  const ms = (n: number): string => `${n.toLocaleString('en-US')} ms`;

  it('states the timing constants the code uses', () => {
    expect(doc).toContain(`| retry after | ${ms(DEFAULT_RETRY_AFTER_MS)} |`);
    expect(doc).toContain(`| retries in a row | ${DEFAULT_MAX_RETRIES} |`);
    expect(doc).toContain(`| dead after | ${ms(DEFAULT_DEAD_AFTER_MS)} |`);
    expect(doc).toContain(`own \`timeoutMs\` + ${ms(HUMAN_TIMEOUT_MARGIN_MS)}, at least ${ms(HUMAN_TIMEOUT_MS)} |`);
    expect(doc).toContain(`\`FirmwareConfirm\` | ${ms(SLOW_TIMEOUT_MS)} |`);
    expect(doc).toContain(`| every other request | ${ms(DEFAULT_TIMEOUT_MS)} |`);
  });
});
