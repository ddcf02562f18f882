/**
 * TerminalSession: the host's connection to one terminal over any Link. Every host program
 * (unicardd, the unicard CLI, the conformance suite, benchmarks) talks to a terminal through
 * this class. It drives the pure MessageChannel (framing → unsealing → codec) and adds what
 * needs time and state: the boot banner, GetInfo and the handshake with a trust decision,
 * request ids, retries with the same id, keepalives, cancel, events, and link failure.
 *
 * Timing rules (PROTOCOL.md, "Requests, retries, exactly-once, keepalive and cancel"):
 *   - a request whose terminal says nothing about it (no result, no Keepalive, no Error) for
 *     `retryAfterMs` is sent again with the same id and the same CBOR body, at most
 *     `maxRetries` times in a row; hearing about it (a Keepalive) resets that count;
 *   - `deadAfterMs` (1,000 ms) of silence about an outstanding request, with no byte at all from
 *     the terminal meanwhile, declares the link dead: every request fails with
 *     TERMINAL_UNRESPONSIVE and the session closes (bytes that are not about the request — other
 *     answers, segments, even damaged frames on a noisy line — show the terminal is there; such a
 *     request still ends at its overall limit);
 *   - on a line whose received bytes showed damage in the last 30 s (a bad frame, a segment, a
 *     NAK), both allowances double (DAMAGED_LINE_FACTOR): 6 resends, 2,000 ms without a byte;
 *   - segments (stream links): reassembled, NAKed after 40 ms without progress; a segment or NAK
 *     from the terminal holds resends back; requests go in segments while the line shows damage;
 *   - every request also has an overall limit, `timeoutMs` (2 s; 10 s for card, self-test
 *     and firmware steps; a human wait's own timeout + 2 s, at least 30 s). Silence clocks
 *     and the overall limit start when the request's bytes were handed to the link, so time
 *     spent pacing a large frame onto a slow line never counts as terminal silence.
 *
 * Security rules: once a session is trusted, a request is sealed, and only sealed answers
 * about it are accepted (a clear Keepalive, Error or result for it is dropped, so nobody on
 * the wire can forge an answer). Events are accepted only sealed. A session that is lost
 * (the terminal printed its boot banner again) never falls back to clear: requests other than
 * GetInfo, Ping and Handshake fail with NO_SESSION until handshake() succeeds again.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import type { Link, LinkInfo } from '../../link/link.js';
import { CodecError, FramingError, LinkError, SessionError, UnicardError } from '../../protocol/errors.js';
import { MessageChannel, StreamPacketCodec, type ChannelEvent, type PacketCodec } from '../../protocol/message-channel.js';
import {
  Capability,
  encodeMessage,
  MAX_REQUEST_ID,
  PROTOCOL_VERSION,
  resultNameFor,
  type CardInserted,
  type CardRemoved,
  type GetInfoResult,
  type Keepalive,
  type Message,
  type MessageName,
} from '../../protocol/messages.js';
import type { CborLimits } from '../../protocol/cbor-codec.js';
import { WireError } from '../../protocol/wire-errors.js';
import { MAX_FRAME_SIZE_LIMIT, MIN_FRAME_SIZE, maxPayloadSize, type FrameDecoderCounters } from '../../protocol/stream-framing.js';
import { SEAL_MIN_RECORD_LENGTH } from '../../protocol/crypto/sealed-channel.js';
import type { SegmentationCounters, SegmenterOptions } from '../../protocol/segmentation.js';
import { HostHandshake, type HostSession, type RandomBytes } from '../../protocol/crypto/handshake.js';
import { fastestEd25519, type Ed25519 } from '../../protocol/crypto/ed25519.js';
import type { DeviceCertificate } from '../../protocol/crypto/certificates.js';
import { BannerScanner, type TerminalBanner } from './banner.js';
import { realClock, type SessionClock } from './session-clock.js';
import { TerminalError, TerminalSessionError } from './session-errors.js';
import {
  CLEAR_REQUESTS,
  defaultTimeoutMs,
  type RequestBody,
  type RequestName,
  type ResultOf,
} from './request-types.js';
import type { TrustCallback, TrustDecision } from './trust-policy.js';

/** Silence about a request after which it is sent again (same id, same body). */
export const DEFAULT_RETRY_AFTER_MS = 300;
/** Resends in a row without hearing about the request. */
export const DEFAULT_MAX_RETRIES = 3;
/** Silence about an outstanding request after which the link is declared dead (PROTOCOL.md: 1,000 ms). */
export const DEFAULT_DEAD_AFTER_MS = 1_000;
/**
 * While what the host receives shows damage (a bad frame, a segment or a NAK in the last 30 s),
 * silence more likely means lost frames than a dead terminal: the link is declared dead only
 * after this factor times deadAfterMs without a byte, and a request is resent this factor times
 * as often in a row (unless it set its own maxRetries). The resend interval stays: a terminal
 * busy with a long request is silent up to 250 ms between Keepalives.
 */
export const DAMAGED_LINE_FACTOR = 2;

/** Direction of a traced message: sent by the host, or received from the terminal. */
export type TraceDirection = 'tx' | 'rx';

/** Context of a traced message. */
export interface TraceInfo {
  /** Session clock time, ms. */
  readonly atMs: number;
  /** Sent or received inside the sealed session. */
  readonly sealed: boolean;
  /** The request id the message or error is about (0: none, or unreadable). */
  readonly requestId: number;
  /** tx only: 0 for the first send, n for the n-th resend. */
  readonly attempt?: number;
  /** tx only: the link units written (stream frames, or HID reports). */
  readonly wire?: readonly Uint8Array[];
}

/**
 * Decoded-traffic hook (the daemon's --verbose log, `unicard monitor`): every message sent or
 * received, and every bad frame or record received as the typed error it produced. `bytes`
 * is the message's canonical CBOR (plaintext, before sealing); empty for errors.
 */
export type TraceCallback = (direction: TraceDirection, item: Message | UnicardError, bytes: Uint8Array, info: TraceInfo) => void;

/** Options of a session. */
export interface TerminalSessionOptions {
  /** Decides whether to accept the terminal after the handshake. Required by open() and handshake(). */
  trust?: TrustCallback;
  /** Framing below the session (default: stream framing, for serial and TCP). */
  codec?: PacketCodec;
  /** maxFrameSize of the default stream codec (default 65,535, the framing's limit). */
  maxFrameSize?: number;
  /**
   * Segmentation on the default stream codec (PROTOCOL.md, Segmentation and selective repeat):
   * reassemble what the terminal segments, and segment requests to a terminal that advertises
   * `segments` while the line looks damaged (mode 'adaptive', the default). `false` turns it off
   * (the Handshake then does not offer it). Not used with another codec (HID).
   */
  segmentation?: SegmenterOptions | false;
  /** CBOR limits for received messages. */
  limits?: CborLimits;
  /** Take boot banners out of the byte stream (default: true with the default stream codec). */
  scanBanners?: boolean;
  /** Bytes already read from the link by a probe (readBanner's `rest`), processed first. */
  initialBytes?: Uint8Array;
  /** A banner a probe already read (readBanner's `banner`). */
  banner?: TerminalBanner;
  /** open(): wait this long for a boot banner before GetInfo (default 0: do not wait). */
  bannerTimeoutMs?: number;
  retryAfterMs?: number;
  maxRetries?: number;
  deadAfterMs?: number;
  /** Close the session when the link is declared dead (default true); false fails only the request. */
  closeWhenUnresponsive?: boolean;
  /** Signature verification for the handshake (default node:crypto). */
  ed?: Ed25519;
  /** Randomness for the handshake and the first request id (default node:crypto). */
  randomBytes?: RandomBytes;
  clock?: SessionClock;
  trace?: TraceCallback;
  /** Raw bytes as they cross the link (before banner scanning and framing), for hex dumps. */
  traceBytes?: (direction: TraceDirection, bytes: Uint8Array) => void;
}

/** Options of one request. */
export interface RequestOptions {
  /** Overall limit (default from defaultTimeoutMs). */
  timeoutMs?: number;
  retryAfterMs?: number;
  maxRetries?: number;
  /** Aborting cancels the request (as cancel()). */
  signal?: AbortSignal;
  /** Called with each Keepalive about this request (its status: waiting_finger, ...). */
  onKeepalive?: (keepalive: Keepalive) => void;
  /**
   * Send in clear even when a session exists, and accept a clear answer. For GetInfo/Ping,
   * and for conformance checks that a terminal refuses or drops what it must.
   */
  clear?: boolean;
  /** Use this request id instead of the next one (conformance: exactly-once replay). */
  id?: number;
}

/** Round-trip statistics of requests answered at the first send. */
export interface RoundTripStats {
  count: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
  lastMs: number;
}

/** Counters for a technician (`unicard test`, `unicard ping`) and the daemon's status. */
export interface TerminalSessionCounters {
  /** Requests sent (first sends). */
  requests: number;
  /** Results received for outstanding requests. */
  results: number;
  /** Error answers received for outstanding requests. */
  terminalErrors: number;
  /** Resends of a request after silence. */
  retries: number;
  /** Requests that hit their overall limit. */
  timeouts: number;
  /** Times the link was declared dead. */
  unresponsive: number;
  /** Requests cancelled by the host. */
  cancelled: number;
  keepalives: number;
  events: number;
  banners: number;
  /**
   * Well-formed messages dropped: about no outstanding request (a late duplicate after a
   * resend, an answer after a cancel or a timeout), clear where sealed was required, or of a
   * kind a host never receives.
   */
  dropped: number;
  /** Bad frames by FramingError code. */
  framingErrors: Record<string, number>;
  /** Records refused by the session by SessionError code (SEAL_AUTH_FAILED, SEAL_REPLAY, ...). */
  sealErrors: Record<string, number>;
  /** Messages that did not decode, by CodecError code. */
  codecErrors: Record<string, number>;
  rtt: RoundTripStats;
  /** The stream decoder's own counters (bytes, good and empty frames), with the default codec. */
  frames?: FrameDecoderCounters;
  /** Segments and NAKs both ways, when segmentation is on. */
  segments?: SegmentationCounters;
}

/** What handshake() established. */
export interface HandshakeOutcome {
  /** The terminal's device certificate (its key signed the handshake). */
  device: DeviceCertificate;
  decision: 'trusted' | 'pinned';
  transcriptHash: Uint8Array;
}

/** An event from the terminal (request id 0). */
export type TerminalEvent = CardInserted | CardRemoved;

/** Where the session stands. */
export type TerminalSessionState = 'clear' | 'handshaking' | 'sealed' | 'lost' | 'closed';

interface Pending {
  readonly id: number;
  readonly name: MessageName;
  readonly message: Message;
  readonly expect: MessageName;
  readonly payload: Uint8Array;
  readonly sealed: boolean;
  readonly timeoutMs: number;
  readonly retryAfterMs: number;
  readonly maxRetries: number;
  /** The caller chose retryAfterMs or maxRetries for this request: no damaged-line schedule. */
  readonly retryChosen: boolean;
  readonly resolve: (m: Message) => void;
  readonly reject: (e: UnicardError) => void;
  /** Runs synchronously when the result arrives, before later packets are read; throws to reject. */
  readonly onResult: ((m: Message) => void) | undefined;
  readonly onKeepalive: ((k: Keepalive) => void) | undefined;
  startedAt: number;
  /** Sends so far minus one. */
  attempt: number;
  /** Resends since the terminal last said something about the request. */
  silentRetries: number;
  /** A write of this request is still being handed to the link. */
  writing: boolean;
  /** The first write was handed over: the clocks run. */
  started: boolean;
  overallTimer: unknown;
  retryTimer: unknown;
  deadTimer: unknown;
  abort: { signal: AbortSignal; listener: () => void } | undefined;
}

/** How many finished ids to remember, to tell late answers from strays in traces. */
const RECENT_IDS = 64;

/**
 * The host's connection to one terminal. Use {@link TerminalSession.open} (banner, GetInfo,
 * handshake, trust) unless you want to drive those steps yourself (the conformance suite).
 * All methods are safe in any state; after close every request rejects with SESSION_CLOSED.
 */
export class TerminalSession {
  readonly link: Link;
  private readonly options: TerminalSessionOptions;
  private readonly clock: SessionClock;
  private readonly ed: Ed25519;
  private readonly randomBytes: RandomBytes;
  private readonly codec: PacketCodec;
  private readonly channel: MessageChannel;
  private readonly scanner: BannerScanner | undefined;
  private readonly retryAfterMs: number;
  private readonly maxRetries: number;
  private readonly deadAfterMs: number;

  private readonly pending = new Map<number, Pending>();
  /** The NAK timer of the segmentation, and when it is due. */
  private segmentTimer: unknown;
  private segmentTimerAt: number | undefined;
  /** When the last bytes came from the terminal (session clock): a link that talks is not dead. */
  private lastHeardAt = Number.NEGATIVE_INFINITY;
  private readonly recentIds: number[] = [];
  private nextId: number;
  private stateValue: TerminalSessionState = 'clear';
  private closeError: UnicardError | undefined;
  private lostReason: string | undefined;
  private queuedEvents: TerminalEvent[] = [];

  private infoValue: GetInfoResult | undefined;
  private deviceValue: DeviceCertificate | undefined;
  private decisionValue: 'trusted' | 'pinned' | undefined;
  private bannerValue: TerminalBanner | undefined;
  private bannerWaiters: Array<{ resolve: (b: TerminalBanner | undefined) => void; timer: unknown }> = [];

  private readonly eventListeners: Array<(e: TerminalEvent) => void> = [];
  private readonly keepaliveListeners: Array<(k: Keepalive) => void> = [];
  private readonly bannerListeners: Array<(b: TerminalBanner) => void> = [];
  private readonly closeListeners: Array<(e?: UnicardError) => void> = [];
  private readonly unsubscribe: Array<() => void> = [];

  private readonly stats = {
    requests: 0,
    results: 0,
    terminalErrors: 0,
    retries: 0,
    timeouts: 0,
    unresponsive: 0,
    cancelled: 0,
    keepalives: 0,
    events: 0,
    banners: 0,
    dropped: 0,
    framingErrors: {} as Record<string, number>,
    sealErrors: {} as Record<string, number>,
    codecErrors: {} as Record<string, number>,
    rttCount: 0,
    rttTotal: 0,
    rttMin: Infinity,
    rttMax: 0,
    rttLast: 0,
  };

  /**
   * Attaches to `link` at once (reading starts now, so nothing the terminal sends is missed)
   * but sends nothing: call getInfo() and handshake(), or use {@link open}.
   */
  constructor(link: Link, options: TerminalSessionOptions = {}) {
    this.link = link;
    this.options = options;
    this.clock = options.clock ?? realClock;
    this.ed = options.ed ?? fastestEd25519();
    this.randomBytes = options.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n)));
    const stream = options.codec === undefined;
    // The host has memory to spare: accept and send any frame the framing allows; what the
    // terminal accepts is its GetInfo maxFrameSize, checked per request.
    this.codec = options.codec ?? new StreamPacketCodec({ maxFrameSize: options.maxFrameSize ?? MAX_FRAME_SIZE_LIMIT });
    const segmentation = stream && options.segmentation !== false ? { ...options.segmentation, now: () => this.clock.now() } : undefined;
    this.channel = new MessageChannel({
      codec: this.codec,
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      ...(segmentation === undefined ? {} : { segmentation }),
    });
    this.scanner = options.scanBanners ?? stream ? new BannerScanner() : undefined;
    this.retryAfterMs = options.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.deadAfterMs = options.deadAfterMs ?? DEFAULT_DEAD_AFTER_MS;
    const r = this.randomBytes(4);
    this.nextId = ((((r[0] ?? 0) << 24) | ((r[1] ?? 0) << 16) | ((r[2] ?? 0) << 8) | (r[3] ?? 0)) >>> 0) || 1;
    this.bannerValue = options.banner;

    if (options.initialBytes !== undefined && options.initialBytes.length > 0) this.receive(options.initialBytes);
    if (!link.isOpen) {
      this.shutdown(this.goneError(undefined), (p) => this.goneError(undefined, p.id));
      return;
    }
    this.unsubscribe.push(link.onData((chunk) => this.receive(chunk)));
    this.unsubscribe.push(link.onClose((error) => this.shutdown(this.goneError(error), (p) => this.goneError(error, p.id))));
  }

  /**
   * Connects to a terminal: waits up to `bannerTimeoutMs` for its boot banner (when asked),
   * asks GetInfo in clear, runs the handshake and the trust callback. Closes the link and
   * rejects on any failure: SessionError HANDSHAKE_UNTRUSTED when the terminal is refused,
   * HANDSHAKE_BAD_SIGNATURE / HANDSHAKE_MALFORMED / HANDSHAKE_WEAK_KEY from the handshake,
   * TerminalSessionError PROTOCOL_MISMATCH, TERMINAL_UNRESPONSIVE, TERMINAL_GONE, ...
   */
  static async open(link: Link, options: TerminalSessionOptions & { trust: TrustCallback }): Promise<TerminalSession> {
    const session = new TerminalSession(link, options);
    try {
      if ((options.bannerTimeoutMs ?? 0) > 0) await session.waitForBanner(options.bannerTimeoutMs ?? 0);
      await session.getInfo();
      await session.handshake();
      return session;
    } catch (e) {
      await session.close();
      throw e;
    }
  }

  // ------------------------------------------------------------------ state

  /** clear (no handshake yet), handshaking, sealed (trusted session), lost (terminal restarted), closed. */
  get state(): TerminalSessionState {
    return this.stateValue;
  }

  /** True while requests can be sealed: a handshake succeeded and the terminal was trusted. */
  get isSealed(): boolean {
    return this.stateValue === 'sealed';
  }

  get isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  /** The last GetInfo answer. */
  get info(): GetInfoResult | undefined {
    return this.infoValue;
  }

  /** The device certificate of the current session. */
  get device(): DeviceCertificate | undefined {
    return this.deviceValue;
  }

  /** How the current session's terminal was accepted. */
  get trustDecision(): 'trusted' | 'pinned' | undefined {
    return this.decisionValue;
  }

  /** The last boot banner seen (or handed in by a probe). */
  get banner(): TerminalBanner | undefined {
    return this.bannerValue;
  }

  get linkInfo(): LinkInfo {
    return this.link.info;
  }

  /** Why the session closed (undefined while open, or after close()). */
  get closeReason(): UnicardError | undefined {
    return this.closeError;
  }

  /** Ids of the requests still outstanding. */
  get outstanding(): number[] {
    return [...this.pending.keys()];
  }

  /** A snapshot of the counters. */
  counters(): TerminalSessionCounters {
    const s = this.stats;
    const out: TerminalSessionCounters = {
      requests: s.requests,
      results: s.results,
      terminalErrors: s.terminalErrors,
      retries: s.retries,
      timeouts: s.timeouts,
      unresponsive: s.unresponsive,
      cancelled: s.cancelled,
      keepalives: s.keepalives,
      events: s.events,
      banners: s.banners,
      dropped: s.dropped,
      framingErrors: { ...s.framingErrors },
      sealErrors: { ...s.sealErrors },
      codecErrors: { ...s.codecErrors },
      rtt: {
        count: s.rttCount,
        minMs: s.rttCount === 0 ? 0 : s.rttMin,
        maxMs: s.rttMax,
        meanMs: s.rttCount === 0 ? 0 : s.rttTotal / s.rttCount,
        lastMs: s.rttLast,
      },
    };
    if (this.codec instanceof StreamPacketCodec) out.frames = this.codec.counters;
    const segments = this.channel.segmentCounters();
    if (segments !== undefined) out.segments = segments;
    return out;
  }

  // ------------------------------------------------------------------ listeners

  /** Card events (CardInserted, CardRemoved), only from a trusted session. Returns the unsubscribe function. */
  onEvent(listener: (event: TerminalEvent) => void): () => void {
    return subscribe(this.eventListeners, listener);
  }

  /** Every Keepalive about any request (the per-request `onKeepalive` option sees only its own). */
  onKeepalive(listener: (keepalive: Keepalive) => void): () => void {
    return subscribe(this.keepaliveListeners, listener);
  }

  /** Boot banners (the terminal started or restarted). */
  onBanner(listener: (banner: TerminalBanner) => void): () => void {
    return subscribe(this.bannerListeners, listener);
  }

  /**
   * The end of the session, once: no argument after close(), else the reason
   * (TERMINAL_GONE, TERMINAL_UNRESPONSIVE, HANDSHAKE_UNTRUSTED...). Subscribing after the end
   * calls the listener on the next microtask.
   */
  onClose(listener: (error?: UnicardError) => void): () => void {
    if (this.stateValue === 'closed') {
      const e = this.closeError;
      queueMicrotask(() => listener(e));
      return () => {};
    }
    return subscribe(this.closeListeners, listener);
  }

  /**
   * Resolves with the next boot banner, or at once with one already seen, or with undefined
   * after `timeoutMs` or when the session closes.
   */
  waitForBanner(timeoutMs: number): Promise<TerminalBanner | undefined> {
    if (this.bannerValue !== undefined) return Promise.resolve(this.bannerValue);
    if (this.stateValue === 'closed') return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter = {
        resolve,
        timer: this.clock.setTimeout(() => {
          this.bannerWaiters = this.bannerWaiters.filter((w) => w !== waiter);
          resolve(undefined);
        }, Math.max(0, timeoutMs)),
      };
      this.bannerWaiters.push(waiter);
    });
  }

  // ------------------------------------------------------------------ high-level steps

  /**
   * Asks GetInfo (in clear before a session, sealed inside one) and remembers the answer.
   * PROTOCOL_MISMATCH when the terminal speaks another protocol version.
   */
  async getInfo(options: RequestOptions = {}): Promise<GetInfoResult> {
    const info = await this.request({ type: 'GetInfo' }, options);
    if (info.protocolVersion !== PROTOCOL_VERSION) {
      throw new TerminalSessionError(
        'PROTOCOL_MISMATCH',
        `the terminal speaks protocol version ${info.protocolVersion}; this host speaks ${PROTOCOL_VERSION}: update the host or the terminal firmware`,
        { terminalVersion: info.protocolVersion, hostVersion: PROTOCOL_VERSION },
      );
    }
    this.infoValue = info;
    // Segments go to a terminal only once it said it reassembles them.
    this.channel.peerReassembles = this.channel.segments && (info.capabilities & Capability.segments) !== 0;
    return info;
  }

  /**
   * Runs the handshake (in clear) and asks `trust` (default: the session's trust option)
   * about the terminal's certificate. The session is usable for sealed requests only once
   * the terminal is trusted; events that arrive meanwhile are held and delivered then.
   * Needs an idle session (SESSION_BUSY otherwise). Any failure closes the session: a
   * terminal that fails a handshake is broken or not the terminal it claims to be.
   */
  async handshake(trust: TrustCallback | undefined = this.options.trust, options: RequestOptions = {}): Promise<HandshakeOutcome> {
    if (trust === undefined) {
      throw new TerminalSessionError('NO_SESSION', 'handshake() needs a trust callback (the trust option)');
    }
    if (this.stateValue === 'closed') throw this.closedError();
    if (this.pending.size > 0) {
      throw new TerminalSessionError('SESSION_BUSY', `handshake needs an idle session; requests ${this.outstanding.join(', ')} are outstanding`);
    }
    const hs = new HostHandshake({ ed: this.ed, randomBytes: this.randomBytes });
    this.stateValue = 'handshaking';
    let established: HostSession | undefined;
    try {
      // hostCapabilities only to a terminal that advertised segments: an older one refuses unknown fields.
      const offer = this.channel.peerReassembles ? { hostCapabilities: Capability.segments } : {};
      await this.start(
        { type: 'Handshake', hostEphemeralKey: hs.hello.hostEphemeral, hostNonce: hs.hello.hostNonce, ...offer },
        { ...options, clear: true },
        (m) => {
          if (m.type !== 'HandshakeResult') return;
          // Synchronously, so a sealed packet right behind the result opens with the new keys.
          established = hs.finish({ terminalEphemeral: m.terminalEphemeralKey, deviceCertificate: m.deviceCertificate, signature: m.signature });
          this.channel.setSession(established.channel);
          this.deviceValue = established.device;
          this.decisionValue = undefined;
        },
      );
      const session = established as HostSession | undefined;
      if (session === undefined) throw new SessionError('HANDSHAKE_MALFORMED', 'handshake ended without a session');
      const info = this.infoValue;
      // GetInfo travelled in clear; the certificate is what the terminal proved. They must agree.
      const decision =
        info !== undefined && info.terminalId !== session.device.terminalId
          ? { refused: `GetInfo names terminal ${info.terminalId} but its device certificate names ${session.device.terminalId}` }
          : await this.decide(trust, session.device);
      if (this.isClosed) throw this.closeError ?? this.closedError();
      if (typeof decision !== 'string') {
        throw new SessionError('HANDSHAKE_UNTRUSTED', decision.refused, {
          terminalId: session.device.terminalId,
          vendor: session.device.vendor,
          model: session.device.model,
          ...(decision.cause === undefined ? {} : { cause: decision.cause.code }),
        });
      }
      this.decisionValue = decision;
      this.stateValue = 'sealed';
      this.lostReason = undefined;
      const queued = this.queuedEvents;
      this.queuedEvents = [];
      for (const e of queued) this.emit(this.eventListeners, e);
      return { device: session.device, decision, transcriptHash: session.transcriptHash };
    } catch (e) {
      const error = e instanceof UnicardError ? e : new SessionError('HANDSHAKE_MALFORMED', 'handshake failed', { cause: String(e) });
      this.channel.setSession(undefined);
      this.queuedEvents = [];
      this.shutdown(error, (p) => this.sessionClosedError(p.id));
      void this.link.close();
      throw error;
    }
  }

  /** Ping; resolves with the round-trip time in ms (first send to answer, retries included). */
  async ping(data?: Uint8Array, options: RequestOptions = {}): Promise<{ rttMs: number; data: Uint8Array | undefined }> {
    const t0 = this.clock.now();
    const res = await this.request(data === undefined ? { type: 'Ping' } : { type: 'Ping', data }, options);
    return { rttMs: this.clock.now() - t0, data: res.data };
  }

  // ------------------------------------------------------------------ requests

  /**
   * Sends a request and resolves with its result. Rejects with TerminalError (the terminal
   * answered Error: `code` is the wire name, e.g. NO_CARD), TerminalSessionError
   * (REQUEST_TIMEOUT, TERMINAL_UNRESPONSIVE, TERMINAL_GONE, CANCELLED, NO_SESSION, ...) or the
   * CodecError/FramingError that stopped the message from being encoded.
   */
  request<N extends RequestName>(message: RequestBody<N>, options: RequestOptions = {}): Promise<ResultOf<N>> {
    return this.start(message as unknown as DistributiveOmitId<Message>, options) as Promise<ResultOf<N>>;
  }

  /**
   * Cancels an outstanding request: it rejects at once with CANCELLED, and a Cancel goes to
   * the terminal. Resolves with the terminal's CancelResult.cancelled (false when there is no
   * session to send it in). A result that crossed the Cancel on the wire is dropped.
   */
  async cancel(requestId: number): Promise<boolean> {
    const p = this.pending.get(requestId);
    if (p !== undefined) {
      this.stats.cancelled++;
      this.settle(p, new TerminalSessionError('CANCELLED', `request ${requestId} (${p.name}) was cancelled`, { request: p.name }, requestId));
    }
    if (this.stateValue !== 'sealed') return false;
    const res = await this.request({ type: 'Cancel', targetId: requestId });
    return res.cancelled;
  }

  /** Closes the session and the link: outstanding requests reject with SESSION_CLOSED. Idempotent. */
  async close(): Promise<void> {
    this.shutdown(undefined, (p) => this.sessionClosedError(p.id));
    await this.link.close();
  }

  private start(body: DistributiveOmitId<Message>, options: RequestOptions, onResult?: (m: Message) => void): Promise<Message> {
    if (this.stateValue === 'closed') return Promise.reject(this.closedError());
    const name = body.type;
    const expect = resultNameFor(name);
    if (expect === undefined) {
      return Promise.reject(new CodecError('MSG_ENCODE_INVALID', `${name} is not a request`, { type: name }));
    }
    let sealed: boolean;
    if (name === 'Handshake' || options.clear === true) sealed = false;
    else if (this.stateValue === 'sealed') sealed = true;
    else if (CLEAR_REQUESTS.has(name)) sealed = false;
    else return Promise.reject(this.noSessionError(name));

    let id: number;
    if (options.id !== undefined) {
      if (!Number.isInteger(options.id) || options.id < 1 || options.id > MAX_REQUEST_ID) {
        return Promise.reject(new CodecError('MSG_ENCODE_INVALID', `request id ${options.id} is not in 1..${MAX_REQUEST_ID}`));
      }
      if (this.pending.has(options.id)) {
        return Promise.reject(new TerminalSessionError('SESSION_BUSY', `request id ${options.id} is already outstanding`));
      }
      id = options.id;
    } else id = this.allocateId();

    const message = { ...body, id } as Message;
    let payload: Uint8Array;
    try {
      payload = encodeMessage(message);
    } catch (e) {
      return Promise.reject(asUnicardError(e));
    }
    const limit = this.infoValue?.maxFrameSize;
    const packetPayload = payload.length + (sealed ? SEAL_MIN_RECORD_LENGTH : 0);
    if (limit !== undefined && packetPayload > maxPayloadSize(Math.min(limit, MAX_FRAME_SIZE_LIMIT))) {
      // The terminal could not even read the id to refuse it: the request would only time out.
      return Promise.reject(
        new FramingError('FRAME_TOO_LARGE', `${name} needs a ${packetPayload + MIN_FRAME_SIZE}-byte frame; the terminal accepts at most ${limit}`, {
          type: name,
          frameSize: packetPayload + MIN_FRAME_SIZE,
          maxFrameSize: limit,
        }),
      );
    }
    if (options.signal?.aborted === true) {
      this.stats.cancelled++;
      return Promise.reject(new TerminalSessionError('CANCELLED', `${name} was cancelled before it was sent`, { request: name }, id));
    }
    return new Promise<Message>((resolve, reject) => {
      const p: Pending = {
        id,
        name,
        message,
        expect,
        payload,
        sealed,
        timeoutMs: options.timeoutMs ?? defaultTimeoutMs(message),
        retryAfterMs: options.retryAfterMs ?? this.retryAfterMs,
        maxRetries: options.maxRetries ?? this.maxRetries,
        retryChosen: options.retryAfterMs !== undefined || options.maxRetries !== undefined,
        resolve,
        reject,
        onResult,
        onKeepalive: options.onKeepalive,
        startedAt: this.clock.now(),
        attempt: -1,
        silentRetries: 0,
        writing: false,
        started: false,
        overallTimer: undefined,
        retryTimer: undefined,
        deadTimer: undefined,
        abort: undefined,
      };
      if (options.signal !== undefined) {
        const signal = options.signal;
        const listener = (): void => void this.cancel(id).catch(() => {});
        signal.addEventListener('abort', listener, { once: true });
        p.abort = { signal, listener };
      }
      this.pending.set(id, p);
      this.stats.requests++;
      this.transmit(p);
    });
  }

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= MAX_REQUEST_ID ? 1 : id + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  /** Sends (or resends) the request's bytes: same id, same CBOR body; a new seal counter. */
  private transmit(p: Pending): void {
    if (p.sealed && !this.channel.hasSession) {
      this.settle(p, this.noSessionError(p.name, p.id));
      return;
    }
    let units: Uint8Array[];
    try {
      units = this.channel.sendPayload(p.payload, { clear: !p.sealed });
    } catch (e) {
      this.settle(p, asUnicardError(e));
      return;
    }
    p.attempt++;
    if (p.attempt === 0) p.startedAt = this.clock.now();
    this.traceOut(p, units);
    p.writing = true;
    const writes = units.map((u) => {
      this.traceBytes('tx', u);
      return this.link.write(u);
    });
    Promise.all(writes).then(
      () => {
        if (this.pending.get(p.id) !== p) return;
        p.writing = false;
        this.written(p);
      },
      (e: unknown) => {
        if (this.pending.get(p.id) !== p) return;
        // The link's close handler fails everything; this covers a write refused on an open link.
        const error = e instanceof LinkError ? e : undefined;
        this.settle(p, this.goneError(error, p.id));
      },
    );
  }

  /** The request's bytes are on their way: start or continue its clocks. */
  private written(p: Pending): void {
    if (!p.started) {
      p.started = true;
      p.overallTimer = this.clock.setTimeout(() => this.timedOut(p), Math.max(0, p.timeoutMs));
      this.armDead(p);
    }
    this.armRetry(p);
  }

  private armRetry(p: Pending): void {
    this.clock.clearTimeout(p.retryTimer);
    p.retryTimer = undefined;
    // On a line that shows damage, a short request gets 7 chances, not 4, before the terminal's
    // silence counts as a dead link (see DAMAGED_LINE_FACTOR).
    const maxRetries = !p.retryChosen && this.channel.lineDamaged ? p.maxRetries * DAMAGED_LINE_FACTOR : p.maxRetries;
    if (p.silentRetries >= maxRetries || p.writing) return;
    p.retryTimer = this.clock.setTimeout(() => {
      p.retryTimer = undefined;
      if (this.pending.get(p.id) !== p) return;
      p.silentRetries++;
      this.stats.retries++;
      // Something was lost: an adaptive channel now segments what it sends.
      this.channel.noteTrouble();
      this.transmit(p);
    }, Math.max(0, p.retryAfterMs));
  }

  private armDead(p: Pending): void {
    this.clock.clearTimeout(p.deadTimer);
    p.deadTimer = this.clock.setTimeout(() => this.unresponsive(p), Math.max(0, this.deadAfterMs));
  }

  /** The terminal said something about the request: it is alive and has it. */
  private heard(p: Pending): void {
    p.silentRetries = 0;
    if (!p.started) return;
    this.armDead(p);
    this.armRetry(p);
  }

  private timedOut(p: Pending): void {
    if (this.pending.get(p.id) !== p) return;
    this.stats.timeouts++;
    this.settle(
      p,
      new TerminalSessionError('REQUEST_TIMEOUT', `${p.name} (request ${p.id}) got no answer within ${p.timeoutMs} ms`, { request: p.name, timeoutMs: p.timeoutMs }, p.id),
    );
    // Tell the terminal to stop (a prompt on its display, a finger wait); its answer does not matter.
    if (this.stateValue === 'sealed' && p.name !== 'Cancel') void this.cancel(p.id).catch(() => {});
  }

  private unresponsive(p: Pending): void {
    if (this.pending.get(p.id) !== p) return;
    const quietMs = this.clock.now() - this.lastHeardAt;
    const deadAfterMs = this.channel.lineDamaged ? this.deadAfterMs * DAMAGED_LINE_FACTOR : this.deadAfterMs;
    if (quietMs < deadAfterMs) {
      // The terminal is talking (about other things, or in frames the line damaged), or was until
      // recently on a line that loses frames: not dead yet.
      p.deadTimer = this.clock.setTimeout(() => this.unresponsive(p), Math.max(1, deadAfterMs - quietMs));
      return;
    }
    this.stats.unresponsive++;
    const make = (q: Pending): TerminalSessionError =>
      new TerminalSessionError(
        'TERMINAL_UNRESPONSIVE',
        `the terminal on ${this.link.info.path} sent nothing for ${Math.round(this.clock.now() - Math.max(this.lastHeardAt, q.startedAt))} ms with ${q.name} (request ${q.id}) outstanding after ${q.attempt + 1} sends: check the cable and that it is powered`,
        { path: this.link.info.path, request: q.name, sends: q.attempt + 1 },
        q.id,
      );
    if (this.options.closeWhenUnresponsive === false) {
      this.settle(p, make(p));
      return;
    }
    this.shutdown(make(p), make);
    void this.link.close();
  }

  /** Ends a request once: clears its clocks, forgets it, resolves or rejects it. */
  private settle(p: Pending, outcome: Message | UnicardError): void {
    if (this.pending.get(p.id) !== p) return;
    this.pending.delete(p.id);
    this.clock.clearTimeout(p.overallTimer);
    this.clock.clearTimeout(p.retryTimer);
    this.clock.clearTimeout(p.deadTimer);
    p.overallTimer = p.retryTimer = p.deadTimer = undefined;
    if (p.abort !== undefined) p.abort.signal.removeEventListener('abort', p.abort.listener);
    this.recentIds.push(p.id);
    if (this.recentIds.length > RECENT_IDS) this.recentIds.shift();
    if (outcome instanceof UnicardError) p.reject(outcome);
    else p.resolve(outcome);
  }

  // ------------------------------------------------------------------ receiving

  private receive(chunk: Uint8Array): void {
    if (this.stateValue === 'closed') return;
    this.lastHeardAt = this.clock.now();
    this.traceBytes('rx', chunk);
    if (this.scanner === undefined) this.receiveFrames(chunk);
    else {
      for (const item of this.scanner.push(chunk)) {
        if (this.isClosed) return;
        if (item.kind === 'bytes') this.receiveFrames(item.bytes);
        else this.bannerSeen(item.banner);
      }
    }
    this.armSegmentTimer();
  }

  /**
   * A segment or a NAK arrived: the terminal is there and sending (most likely the answer, a
   * segment at a time). Send what it asked for again and hold the resends of every request
   * back: a resend now would only make the terminal start its answer over.
   */
  private linkActivity(send: Uint8Array[]): void {
    this.writeUnits(send);
    for (const p of this.pending.values()) if (p.started) this.armRetry(p);
  }

  /** Writes link units that belong to no request (segments asked for again, NAKs). */
  private writeUnits(units: Uint8Array[]): void {
    for (const u of units) {
      this.traceBytes('tx', u);
      void this.link.write(u).catch(() => {});
    }
  }

  /** Keeps the NAK timer at the segmentation's next deadline. */
  private armSegmentTimer(): void {
    const at = this.stateValue === 'closed' ? undefined : this.channel.nextDeadline;
    if (at === this.segmentTimerAt) return;
    this.clock.clearTimeout(this.segmentTimer);
    this.segmentTimer = undefined;
    this.segmentTimerAt = at;
    if (at === undefined) return;
    this.segmentTimer = this.clock.setTimeout(() => {
      this.segmentTimer = undefined;
      this.segmentTimerAt = undefined;
      if (this.stateValue === 'closed') return;
      this.writeUnits(this.channel.poll());
      this.armSegmentTimer();
    }, Math.max(0, at - this.clock.now()));
  }

  private receiveFrames(bytes: Uint8Array): void {
    // MessageChannel.receive opens every packet of a unit before returning. A stream chunk can
    // hold the HandshakeResult and a sealed packet right behind it, which must be opened with
    // the keys that result installs: so hand the channel one frame (up to a 0x00) at a time.
    if (this.codec instanceof StreamPacketCodec) {
      let from = 0;
      while (from < bytes.length && this.stateValue !== 'closed') {
        const z = bytes.indexOf(0x00, from);
        const end = z < 0 ? bytes.length : z + 1;
        this.receiveUnit(bytes.subarray(from, end));
        from = end;
      }
      return;
    }
    this.receiveUnit(bytes);
  }

  private receiveUnit(unit: Uint8Array): void {
    for (const ev of this.channel.receive(unit)) {
      if (this.stateValue === 'closed') return;
      if (ev.kind === 'error') this.receiveError(ev);
      else if (ev.kind === 'link') this.linkActivity(ev.send);
      else this.receiveMessage(ev.message, ev.sealed, ev.bytes);
    }
  }

  private receiveError(ev: Extract<ChannelEvent, { kind: 'error' }>): void {
    const e = ev.error;
    const bucket = e instanceof FramingError ? this.stats.framingErrors : e instanceof CodecError ? this.stats.codecErrors : this.stats.sealErrors;
    bucket[e.code] = (bucket[e.code] ?? 0) + 1;
    this.traceIn(e, new Uint8Array(0), ev.sealed, ev.requestId);
    // A decodable frame whose message is broken: the terminal's answer itself is bad (line
    // noise is caught by the CRC or the seal first), and a resend would get the same bytes.
    const p = ev.requestId === 0 ? undefined : this.pending.get(ev.requestId);
    if (p !== undefined && (ev.sealed || !p.sealed) && e instanceof CodecError) {
      this.settle(
        p,
        new TerminalSessionError('BAD_RESPONSE', `the terminal's answer to ${p.name} (request ${p.id}) is invalid: ${e.code}: ${e.message}`, { request: p.name, cause: e.code }, p.id),
      );
    }
  }

  private receiveMessage(m: Message, sealed: boolean, bytes: Uint8Array): void {
    this.traceIn(m, bytes, sealed, m.id);
    if (m.type === 'CardInserted' || m.type === 'CardRemoved') {
      if (!sealed) {
        this.stats.dropped++;
        return;
      }
      this.stats.events++;
      if (this.stateValue === 'sealed') this.emit(this.eventListeners, m);
      else this.queuedEvents.push(m);
      return;
    }
    const p = m.id === 0 ? undefined : this.pending.get(m.id);
    if (
      m.type === 'Error' &&
      m.code === WireError.SESSION_REQUIRED &&
      !sealed &&
      this.stateValue === 'sealed' &&
      (p === undefined ? m.id === 0 : p.sealed)
    ) {
      // A terminal that lost its session (restarted without our seeing the banner) says so
      // in clear. Unauthenticated, but all it can do is end the session sooner than the
      // silence rule would; it can never make the host send or accept anything in clear.
      this.loseSession('SESSION_LOST', 'the terminal says it has no session (did it restart?)');
      return;
    }
    if (p === undefined || (p.sealed && !sealed)) {
      this.stats.dropped++;
      return;
    }
    if (m.type === 'Keepalive') {
      this.stats.keepalives++;
      this.heard(p);
      if (p.onKeepalive !== undefined) this.call(p.onKeepalive, m);
      this.emit(this.keepaliveListeners, m);
      return;
    }
    if (m.type === 'Error') {
      this.stats.terminalErrors++;
      this.settle(p, new TerminalError(m.code, m.id, m.message, p.name));
      return;
    }
    if (m.type !== p.expect) {
      this.settle(
        p,
        new TerminalSessionError('UNEXPECTED_RESPONSE', `the terminal answered ${p.name} (request ${p.id}) with ${m.type}, not ${p.expect}`, { request: p.name, got: m.type }, p.id),
      );
      return;
    }
    if (p.onResult !== undefined) {
      try {
        p.onResult(m);
      } catch (e) {
        this.settle(p, asUnicardError(e));
        return;
      }
    }
    this.stats.results++;
    if (p.attempt === 0) {
      const rtt = this.clock.now() - p.startedAt;
      const s = this.stats;
      s.rttCount++;
      s.rttTotal += rtt;
      s.rttMin = Math.min(s.rttMin, rtt);
      s.rttMax = Math.max(s.rttMax, rtt);
      s.rttLast = rtt;
    }
    this.settle(p, m);
  }

  /** A boot banner in the stream: the terminal (re)started. */
  private bannerSeen(banner: TerminalBanner): void {
    this.stats.banners++;
    this.bannerValue = banner;
    const waiters = this.bannerWaiters;
    this.bannerWaiters = [];
    for (const w of waiters) {
      this.clock.clearTimeout(w.timer);
      w.resolve(banner);
    }
    this.emit(this.bannerListeners, banner);
    if (this.stateValue === 'closed') return;
    // Half-received segments of the old boot will never complete.
    this.channel.resetSegments();
    if (this.channel.hasSession || this.stateValue === 'sealed') {
      this.loseSession('TERMINAL_REBOOTED', 'the terminal restarted (boot banner received)');
      return;
    }
    // No session yet: whatever was sent before the terminal came up was lost; send it now.
    for (const p of [...this.pending.values()]) {
      if (p.writing) continue;
      p.silentRetries = 0;
      this.clock.clearTimeout(p.retryTimer);
      p.retryTimer = undefined;
      if (p.started) this.armDead(p);
      this.transmit(p);
    }
  }

  /**
   * The terminal no longer holds the session keys. Never fall back to clear: outstanding
   * requests fail and the caller runs the handshake again (with a new trust decision).
   */
  private loseSession(code: 'TERMINAL_REBOOTED' | 'SESSION_LOST', reason: string): void {
    this.channel.setSession(undefined);
    this.stateValue = 'lost';
    this.decisionValue = undefined;
    this.lostReason = reason;
    this.queuedEvents = [];
    for (const p of [...this.pending.values()]) {
      this.settle(p, new TerminalSessionError(code, `${reason} while ${p.name} (request ${p.id}) was outstanding: run the handshake again`, { request: p.name }, p.id));
    }
  }

  // ------------------------------------------------------------------ ending

  /** Ends the session once: fails outstanding requests, stops every timer, tells listeners. */
  private shutdown(error: UnicardError | undefined, pendingError: (p: Pending) => UnicardError): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.closeError = error;
    for (const off of this.unsubscribe.splice(0)) off();
    this.clock.clearTimeout(this.segmentTimer);
    this.segmentTimer = this.segmentTimerAt = undefined;
    this.channel.setSession(undefined);
    this.queuedEvents = [];
    const waiters = this.bannerWaiters;
    this.bannerWaiters = [];
    for (const w of waiters) {
      this.clock.clearTimeout(w.timer);
      w.resolve(undefined);
    }
    for (const p of [...this.pending.values()]) this.settle(p, pendingError(p));
    const listeners = this.closeListeners.splice(0);
    for (const l of listeners) this.call(l, error);
  }

  private goneError(error: LinkError | undefined, requestId?: number): TerminalSessionError {
    const path = this.link.info.path;
    return new TerminalSessionError(
      'TERMINAL_GONE',
      `the terminal on ${path} is gone${error === undefined ? ' (the link was closed)' : `: ${error.message}`}`,
      { path, ...(error === undefined ? {} : { cause: error.code }) },
      requestId,
    );
  }

  private sessionClosedError(requestId?: number): TerminalSessionError {
    return new TerminalSessionError('SESSION_CLOSED', `the session with ${this.link.info.path} was closed`, { path: this.link.info.path }, requestId);
  }

  private closedError(): UnicardError {
    return this.closeError ?? this.sessionClosedError();
  }

  private noSessionError(name: MessageName, requestId?: number): TerminalSessionError {
    const why = this.lostReason ?? 'no trusted session yet';
    return new TerminalSessionError('NO_SESSION', `${name} needs a trusted session: ${why}; run the handshake first`, { request: name }, requestId);
  }

  private async decide(trust: TrustCallback, device: DeviceCertificate): Promise<TrustDecision> {
    try {
      return await trust(device, { info: this.infoValue, banner: this.bannerValue, link: this.link.info });
    } catch (e) {
      return { refused: `the trust check failed: ${e instanceof Error ? e.message : String(e)}`, ...(e instanceof UnicardError ? { cause: e } : {}) };
    }
  }

  // ------------------------------------------------------------------ hooks

  private traceOut(p: Pending, units: Uint8Array[]): void {
    const trace = this.options.trace;
    if (trace === undefined) return;
    this.call(() =>
      trace('tx', p.message, p.payload, { atMs: this.clock.now(), sealed: p.sealed, requestId: p.id, attempt: p.attempt, wire: units }),
    );
  }

  private traceIn(item: Message | UnicardError, bytes: Uint8Array, sealed: boolean, requestId: number): void {
    const trace = this.options.trace;
    if (trace === undefined) return;
    this.call(() => trace('rx', item, bytes, { atMs: this.clock.now(), sealed, requestId }));
  }

  private traceBytes(direction: TraceDirection, bytes: Uint8Array): void {
    const hook = this.options.traceBytes;
    if (hook !== undefined) this.call(() => hook(direction, bytes));
  }

  private emit<T>(listeners: Array<(v: T) => void>, value: T): void {
    for (const l of listeners.slice()) this.call(l, value);
  }

  /** Runs a caller's callback; its bug must not break the session, but must not vanish either. */
  private call<A extends unknown[]>(fn: (...args: A) => void, ...args: A): void {
    try {
      fn(...args);
    } catch (e) {
      queueMicrotask(() => {
        throw e;
      });
    }
  }
}

/** A message without its id, for each message type separately. */
type DistributiveOmitId<T> = T extends unknown ? Omit<T, 'id'> : never;

function subscribe<T>(list: T[], listener: T): () => void {
  list.push(listener);
  return () => {
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  };
}

function asUnicardError(e: unknown): UnicardError {
  if (e instanceof UnicardError) return e;
  return new UnicardError('INTERNAL', `unexpected failure: ${e instanceof Error ? e.message : String(e)}`);
}
