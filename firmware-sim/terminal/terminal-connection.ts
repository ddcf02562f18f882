/**
 * One boot of the terminal's serial line: binds the link (the current one: a TCP client may
 * come and go, the terminal's UART stays) to a MessageChannel and the firmware, and applies
 * the session rules of PROTOCOL.d/55-session-rules.md:
 *
 * - the banner line and 0x00 when a link is attached (at boot, and when a host connects);
 * - which messages may travel in clear (GetInfo, Ping, Handshake), SESSION_REQUIRED before a
 *   handshake, silent drop of other clear packets after it;
 * - exactly-once: a repeated id with the same canonical bytes is answered from the response
 *   cache (re-sealed), an id still in progress gets a Keepalive `processing`, an id reused with
 *   other bytes gets REQUEST_ID_REUSED; the cache lives as long as this boot, across handshakes;
 * - Keepalive every {@link KEEPALIVE_INTERVAL_MS} while a request runs, and at once when its
 *   status changes;
 * - Cancel: the target ends with Error CANCELLED, then the Cancel is answered with CancelResult;
 * - CardInserted / CardRemoved events (id 0), sealed, only inside a session;
 * - segmentation (PROTOCOL.d/20, Segmentation and selective repeat): reassembles what the host
 *   segments and NAKs what is missing; segments its own long packets once the Handshake said
 *   the host reassembles them and while the line looks damaged;
 * - link counters for StatusResult.
 *
 * A reboot is a new TerminalConnection: everything above starts afresh (the firmware and the
 * hardware carry on).
 */
import { Capability, EVENT_ID, encodeMessage, messageInfo, type Cancel, type KeepaliveStatusName, type Message, type MessageName } from '../../protocol/messages.js';
import type { SegmenterOptions } from '../../protocol/segmentation.js';
import { MessageChannel, type ChannelEvent } from '../../protocol/message-channel.js';
import { FramingError, SessionError, UnicardError } from '../../protocol/errors.js';
import { WireError, type WireErrorName } from '../../protocol/wire-errors.js';
import type { Link } from '../../link/link.js';
import type { CancelTimer, Clock } from '../hardware/clock.js';
import { QuirkSet, nonCanonicalMessage } from './quirks.js';
import { ResponseCache, RESPONSE_CACHE_CAPACITY, sameBytes } from './response-cache.js';
import { TerminalPacketCodec } from './terminal-packet-codec.js';
import { truncateUtf8, wireErrorOf } from './terminal-error.js';
import type { FirmwareRequest, HandlerResult, LinkCounters, RequestContext, TerminalFirmware } from './terminal-firmware.js';

/**
 * Keepalive period while a request runs. The protocol asks for at least one every 250 ms;
 * 200 leaves room for a paced line and a busy host.
 */
export const KEEPALIVE_INTERVAL_MS = 200;

/** After this much silence, the next frame gets a leading 0x00 (PROTOCOL.d/20, Sending). */
export const IDLE_GAP_MS = 100;

/** Requests a terminal accepts in clear. */
export const CLEAR_REQUESTS: ReadonlySet<MessageName> = new Set<MessageName>(['GetInfo', 'Ping', 'Handshake']);

/** Log levels of {@link TerminalConnectionOptions.log}. */
export type ConnectionLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface TerminalConnectionOptions {
  firmware: TerminalFirmware;
  clock: Clock;
  /** The bytes printed when a link is attached: the banner line and 0x00. */
  banner: () => Uint8Array;
  /** Quirks in force (shared, may change at any time). */
  quirks?: QuirkSet;
  /** Largest frame body accepted (default TERMINAL_MAX_FRAME_SIZE). */
  receiveMaxFrameSize?: number;
  /** Segmentation settings (default: on, adaptive); `false` turns it off. */
  segmentation?: SegmenterOptions | false;
  keepaliveIntervalMs?: number;
  cacheCapacity?: number;
  /** Called once the response of a Reboot or FirmwareActivate has been handed to the link. */
  onReboot?: (mode: 'normal' | 'test') => void;
  log?: (level: ConnectionLogLevel, message: string) => void;
}

interface Active {
  readonly id: number;
  readonly type: MessageName;
  /** Canonical bytes of the request, for the duplicate check. */
  readonly request: Uint8Array;
  /** Answer in clear (the request came in clear). */
  readonly clear: boolean;
  readonly controller: AbortController;
  status: KeepaliveStatusName;
  attempt: number | undefined;
  timer: CancelTimer | undefined;
  done: boolean;
}

const u32 = (n: number): number => n >>> 0;

/** See the module comment. */
export class TerminalConnection {
  private readonly firmware: TerminalFirmware;
  private readonly clock: Clock;
  private readonly quirks: QuirkSet;
  private readonly codec: TerminalPacketCodec;
  private readonly channel: MessageChannel;
  private readonly cache: ResponseCache;
  private readonly active = new Set<Active>();
  private readonly keepaliveMs: number;
  private readonly offEvents: () => void;
  private current: Link | undefined;
  private offLink: (() => void)[] = [];
  private lastTxAt = Number.NEGATIVE_INFINITY;
  /** The NAK timer of the segmentation, and when it is due. */
  private segmentTimer: CancelTimer | undefined;
  private segmentTimerAt: number | undefined;
  private closed = false;
  private rebooting = false;
  private readonly stats: LinkCounters = { rxFrames: 0, txFrames: 0, rxBadFrames: 0, rxRejected: 0, retriesAnswered: 0 };

  constructor(private readonly options: TerminalConnectionOptions) {
    this.firmware = options.firmware;
    this.clock = options.clock;
    this.quirks = options.quirks ?? new QuirkSet();
    this.keepaliveMs = options.keepaliveIntervalMs ?? KEEPALIVE_INTERVAL_MS;
    this.codec = new TerminalPacketCodec({
      quirks: this.quirks,
      ...(options.receiveMaxFrameSize !== undefined ? { receiveMaxFrameSize: options.receiveMaxFrameSize } : {}),
    });
    const segmentation = options.segmentation === false ? undefined : { ...options.segmentation, now: () => this.clock.monotonic() };
    this.channel = new MessageChannel({ codec: this.codec, ...(segmentation === undefined ? {} : { segmentation }) });
    this.cache = new ResponseCache(options.cacheCapacity ?? RESPONSE_CACHE_CAPACITY);
    this.offEvents = this.firmware.onEvent((event) => {
      // Events only inside a session: before a handshake nobody could tell them from forgeries.
      if (this.channel.hasSession && !this.closed) this.send(event, false);
    });
  }

  /** The link bytes currently go to, if any. */
  get link(): Link | undefined {
    return this.current;
  }

  /** True once a handshake installed a session. */
  get hasSession(): boolean {
    return this.channel.hasSession;
  }

  /** True when this connection reassembles segments (GetInfo may then advertise `segments`). */
  get reassemblesSegments(): boolean {
    return this.channel.segments;
  }

  /** The segmentation's counters, if on. */
  segmentCounters(): ReturnType<MessageChannel['segmentCounters']> {
    return this.channel.segmentCounters();
  }

  /** Requests in progress. */
  get activeCount(): number {
    return this.active.size;
  }

  /** Link counters since this boot (StatusResult.link). */
  counters(): LinkCounters {
    return { ...this.stats };
  }

  /**
   * Bytes now go to and come from `link`, and the banner is printed on it. Attaching the link
   * already attached only prints the banner again (the port came back).
   */
  attach(link: Link): void {
    if (this.closed) return;
    if (link === this.current) {
      this.announce();
      return;
    }
    this.detach();
    this.current = link;
    this.codec.reset();
    // Perhaps another host: it says again in its Handshake whether it reassembles segments.
    this.channel.resetSegments();
    this.channel.peerReassembles = false;
    this.offLink = [
      link.onData((chunk) => this.receive(chunk)),
      link.onClose(() => {
        if (this.current === link) this.detach();
      }),
    ];
    this.announce();
  }

  /** Stops using the current link (it closed, or another replaced it). State is kept. */
  detach(): void {
    for (const off of this.offLink.splice(0)) off();
    this.current = undefined;
  }

  /** Prints the banner line and 0x00 on the current link. */
  announce(): void {
    const link = this.current;
    if (!link || this.closed || this.quirks.has('no_banner')) return;
    link.write(this.options.banner()).catch(() => {});
    this.lastTxAt = this.clock.monotonic();
  }

  /**
   * Ends this boot: every request in progress is aborted without an answer, the link is
   * released (not closed), events stop.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.segmentTimer?.();
    this.segmentTimer = this.segmentTimerAt = undefined;
    for (const a of [...this.active]) {
      this.end(a);
      a.controller.abort();
    }
    this.offEvents();
    this.detach();
  }

  // ------------------------------------------------------------------ receiving

  /** Bytes from the link. Never throws. */
  receive(chunk: Uint8Array): void {
    if (this.closed || this.rebooting) return;
    for (const ev of this.channel.receive(chunk)) {
      try {
        this.onChannelEvent(ev);
      } catch (e) {
        this.log('error', `failed to handle an incoming message: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.armSegmentTimer();
  }

  /** Keeps the NAK timer at the segmentation's next deadline. */
  private armSegmentTimer(): void {
    const at = this.closed ? undefined : this.channel.nextDeadline;
    if (at === this.segmentTimerAt) return;
    this.segmentTimer?.();
    this.segmentTimer = undefined;
    this.segmentTimerAt = at;
    if (at === undefined) return;
    this.segmentTimer = this.clock.setTimer(Math.max(0, at - this.clock.monotonic()), () => {
      this.segmentTimer = undefined;
      this.segmentTimerAt = undefined;
      if (this.closed || this.rebooting) return;
      const due = this.channel.poll();
      // The quirk keeps the segmentation's state moving but never sends its NAKs.
      if (!this.quirks.has('no_segment_nak')) this.writeUnits(due);
      this.armSegmentTimer();
    });
  }

  /** Writes link units that belong to no message (segments asked for again, NAKs). */
  private writeUnits(units: Uint8Array[]): void {
    const link = this.current;
    if (!link || units.length === 0) return;
    this.lastTxAt = this.clock.monotonic();
    for (const u of units) {
      this.stats.txFrames = u32(this.stats.txFrames + 1);
      link.write(u).catch(() => {});
    }
  }

  private onChannelEvent(ev: ChannelEvent): void {
    if (ev.kind === 'error') {
      this.onBadPacket(ev.error, ev.requestId, ev.sealed);
      return;
    }
    if (ev.kind === 'link') {
      this.stats.rxFrames = u32(this.stats.rxFrames + 1);
      this.writeUnits(ev.send);
      return;
    }
    this.stats.rxFrames = u32(this.stats.rxFrames + 1);
    const { message, sealed, bytes } = ev;
    const kind = messageInfo(message.type).kind;
    const clearAfterSession = !sealed && this.channel.hasSession && !this.quirks.has('accept_clear');
    if (kind !== 'request') {
      // Results, events, Keepalive and Error are the terminal's to send, not to receive.
      if (clearAfterSession) return this.reject('clear non-request after the handshake');
      this.sendError(message.id, 'UNEXPECTED_MESSAGE', `${message.type} is not a request`, !sealed);
      return;
    }
    if (!sealed && !CLEAR_REQUESTS.has(message.type)) {
      if (clearAfterSession) return this.reject(`clear ${message.type} after the handshake`);
      if (!this.channel.hasSession) {
        this.sendError(message.id, 'SESSION_REQUIRED', `${message.type} needs a session: run Handshake first`, true);
        return;
      }
    }
    this.onRequest(message as FirmwareRequest | Cancel, bytes, !sealed);
  }

  private onBadPacket(error: UnicardError, requestId: number, sealed: boolean): void {
    if (error instanceof FramingError) {
      this.stats.rxBadFrames = u32(this.stats.rxBadFrames + 1);
      this.log('debug', `bad frame: ${error.code}`);
      return;
    }
    this.stats.rxFrames = u32(this.stats.rxFrames + 1);
    if (error instanceof SessionError) {
      this.stats.rxRejected = u32(this.stats.rxRejected + 1);
      this.log('debug', `record rejected: ${error.code}`);
      // A sealed record with no session: the host still holds a session this terminal lost
      // (it rebooted). Tell it at once instead of letting it time out.
      if (error.code === 'SESSION_NOT_ESTABLISHED') this.sendError(EVENT_ID, 'SESSION_REQUIRED', 'no session: run Handshake first', true);
      return;
    }
    if (!sealed && this.channel.hasSession && !this.quirks.has('accept_clear')) return this.reject('undecodable clear packet after the handshake');
    const failure = wireErrorOf(error);
    this.log('debug', `bad message (${error.code}) for request ${requestId}`);
    this.sendError(requestId, failure.name, failure.message, !sealed);
  }

  private reject(why: string): void {
    this.stats.rxRejected = u32(this.stats.rxRejected + 1);
    this.log('debug', `dropped: ${why}`);
  }

  private onRequest(message: FirmwareRequest | Cancel, bytes: Uint8Array, clear: boolean): void {
    const id = message.id;
    // The host says in each Handshake whether it reassembles segments (an older host does not).
    if (message.type === 'Handshake') this.channel.peerReassembles = this.channel.segments && ((message.hostCapabilities ?? 0) & Capability.segments) !== 0;
    if (!this.quirks.has('no_replay_cache')) {
      const running = [...this.active].find((a) => a.id === id);
      if (running) {
        // A repeated request: something was lost on the line (this answer, or a Keepalive).
        this.channel.noteTrouble();
        if (sameBytes(running.request, bytes)) this.sendKeepalive(running, 'processing', clear);
        else this.sendError(id, 'REQUEST_ID_REUSED', `request id ${id} is in use by another request`, clear);
        return;
      }
      const cached = this.cache.lookup(id, bytes);
      if (cached.kind === 'hit') {
        this.channel.noteTrouble();
        this.stats.retriesAnswered = u32(this.stats.retriesAnswered + 1);
        this.log('debug', `request ${id} answered from the cache`);
        this.transmit(cached.response, clear, !clear || message.type === 'Handshake');
        return;
      }
      if (cached.kind === 'conflict') {
        this.sendError(id, 'REQUEST_ID_REUSED', `request id ${id} was used for another request`, clear);
        return;
      }
    }
    this.start(message, bytes, clear);
  }

  // ------------------------------------------------------------------ executing

  private start(message: FirmwareRequest | Cancel, bytes: Uint8Array, clear: boolean): void {
    const a: Active = {
      id: message.id,
      type: message.type,
      request: bytes.slice(),
      clear,
      controller: new AbortController(),
      status: 'processing',
      attempt: undefined,
      timer: undefined,
      done: false,
    };
    this.active.add(a);
    this.log('debug', `request ${a.id} ${a.type}`);
    if (message.type === 'Cancel') {
      this.finish(a, { response: this.cancel(message, a) });
      return;
    }
    this.armKeepalive(a);
    const ctx: RequestContext = {
      signal: a.controller.signal,
      status: (status, attempt) => this.setStatus(a, status, attempt),
      linkCounters: () => this.counters(),
      activeRequests: () => this.active.size,
      linkCapabilities: () => (this.channel.segments ? Capability.segments : 0),
    };
    let run: Promise<HandlerResult>;
    try {
      run = this.firmware.handle(message, ctx);
    } catch (e) {
      run = Promise.reject(e);
    }
    run.then(
      (result) => this.finish(a, result),
      (error: unknown) => this.fail(a, error),
    );
  }

  private cancel(m: Cancel, self: Active): Message {
    const target = [...this.active].find((a) => a.id === m.targetId && a !== self && !a.done);
    if (!target) return { type: 'CancelResult', id: m.id, cancelled: false };
    this.end(target);
    target.controller.abort();
    const response = this.errorMessage(target.id, 'CANCELLED', `cancelled by request ${m.id}`);
    const sent = this.send(response, target.clear);
    if (sent) this.cache.put(target.id, { request: target.request, response: sent.payload });
    this.log('info', `request ${target.id} ${target.type} cancelled`);
    return { type: 'CancelResult', id: m.id, cancelled: true };
  }

  private finish(a: Active, result: HandlerResult): void {
    if (a.done || this.closed) return;
    this.end(a);
    const sent = this.send(this.replayCardAuth(result.response), a.clear);
    if (!sent) return;
    this.cache.put(a.id, { request: a.request, response: sent.payload });
    if (result.session) this.channel.setSession(result.session);
    const mode = result.reboot;
    if (mode !== undefined) {
      this.rebooting = true;
      // Restart only once the answer is on the wire (paced links take a while).
      void sent.written.finally(() => this.options.onReboot?.(mode));
    }
  }

  /** The `replay_card_auth` quirk: answer with the previous transaction's card signature. */
  private replayCardAuth(response: Message): Message {
    if (response.type !== 'CardAuthenticateResult') return response;
    const previous = this.quirks.lastCardAuth;
    if (this.quirks.has('replay_card_auth') && previous !== undefined) return { ...response, ...previous };
    this.quirks.lastCardAuth = { counter: response.counter, signature: response.signature, cardCertificate: response.cardCertificate };
    return response;
  }

  private fail(a: Active, error: unknown): void {
    if (a.done || this.closed) return;
    const f = wireErrorOf(error);
    if (!(error instanceof UnicardError)) this.log('error', `request ${a.id} ${a.type} failed: ${error instanceof Error ? error.stack : String(error)}`);
    else this.log('debug', `request ${a.id} ${a.type} failed: ${error.code}`);
    this.finish(a, { response: this.errorMessage(a.id, f.name, f.message) });
  }

  private end(a: Active): void {
    a.done = true;
    a.timer?.();
    a.timer = undefined;
    this.active.delete(a);
  }

  // ------------------------------------------------------------------ keepalive

  private setStatus(a: Active, status: KeepaliveStatusName, attempt?: number): void {
    if (a.done) return;
    const att = attempt !== undefined && attempt >= 1 && attempt <= 10 ? attempt : undefined;
    if (status === a.status && att === a.attempt) return;
    a.status = status;
    a.attempt = att;
    this.sendKeepalive(a, status, a.clear);
    this.armKeepalive(a);
  }

  private armKeepalive(a: Active): void {
    a.timer?.();
    a.timer = this.clock.setTimer(this.keepaliveMs, () => {
      a.timer = undefined;
      if (a.done || this.closed) return;
      this.sendKeepalive(a, a.status, a.clear);
      this.armKeepalive(a);
    });
  }

  private sendKeepalive(a: Active, status: KeepaliveStatusName, clear: boolean): void {
    if (this.quirks.has('no_keepalive')) return;
    const m: Message =
      a.attempt !== undefined && status === a.status
        ? { type: 'Keepalive', id: a.id, status, attempt: a.attempt }
        : { type: 'Keepalive', id: a.id, status };
    this.send(m, clear);
  }

  // ------------------------------------------------------------------ sending

  private errorMessage(id: number, name: WireErrorName, message: string): Message {
    return { type: 'Error', id, code: WireError[name], message: truncateUtf8(message, 256) };
  }

  private sendError(id: number, name: WireErrorName, message: string, clear: boolean): void {
    this.send(this.errorMessage(id, name, message), clear);
  }

  /**
   * Encodes (applying the non-canonical quirk), seals unless `clear`, frames and writes. Only
   * sealed packets and the HandshakeResult may go in segments: they reach the host whose
   * Handshake offered to reassemble; a clear answer may be for another host on the same line.
   * Returns the message bytes as sent (what the cache keeps) and when they were handed over;
   * undefined when the message could not be encoded (logged; an INTERNAL error goes instead).
   */
  private send(message: Message, clear: boolean): { payload: Uint8Array; written: Promise<void> } | undefined {
    let payload: Uint8Array;
    try {
      payload = encodeMessage(message);
    } catch (e) {
      this.log('error', `cannot encode ${message.type}: ${e instanceof Error ? e.message : String(e)}`);
      if (message.type === 'Error') return undefined;
      return this.send(this.errorMessage(message.id, 'INTERNAL', `the ${message.type} could not be encoded`), clear);
    }
    if (this.quirks.has('non_canonical_cbor')) payload = nonCanonicalMessage(payload);
    const written = this.transmit(payload, clear, !clear || message.type === 'HandshakeResult');
    if (written === undefined) {
      if (message.type === 'Error') return undefined;
      return this.send(this.errorMessage(message.id, 'INTERNAL', `the ${message.type} does not fit in a frame`), clear);
    }
    return { payload, written };
  }

  /** Seals (unless `clear`), frames (in segments when `segment` and the channel's policy say so) and writes message bytes; undefined when they do not fit a frame. */
  private transmit(payload: Uint8Array, clear: boolean, segment: boolean): Promise<void> | undefined {
    const now = this.clock.monotonic();
    if (now - this.lastTxAt >= IDLE_GAP_MS) this.codec.leadNext = true;
    let units: Uint8Array[];
    try {
      units = this.channel.sendPayload(payload, { clear, segment });
    } catch (e) {
      this.codec.leadNext = false;
      this.log('error', `cannot frame a message: ${e instanceof UnicardError ? e.code : String(e)}`);
      return undefined;
    }
    this.lastTxAt = now;
    const link = this.current;
    if (!link) return Promise.resolve();
    const writes = units.map((u) => {
      this.stats.txFrames = u32(this.stats.txFrames + 1);
      return link.write(u);
    });
    // A write fails only when the link went away; the link's own close handling deals with it.
    return Promise.all(writes).then(
      () => undefined,
      () => undefined,
    );
  }

  private log(level: ConnectionLogLevel, message: string): void {
    this.options.log?.(level, message);
  }
}
