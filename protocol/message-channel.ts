/**
 * The session layer's pure core, shared by both ends: bytes (or HID reports) in, messages out,
 * and messages in, wire units out. It stacks framing → (unsealing) → codec and owns the
 * packet sequence number and the sealed channel once a handshake has produced one. It does no
 * I/O and keeps no timers: the terminal's handlers and the daemon's TerminalSession drive it.
 */
import { FramingError, SessionError, UnicardError } from './errors.js';
import { PacketFlags, type Packet } from './packet.js';
import { encodeFrame, FrameDecoder, maxPayloadSize, type FrameDecoderCounters } from './stream-framing.js';
import { Segmenter, type SegmentationCounters, type SegmenterOptions } from './segmentation.js';
import { decodeMessage, requestIdOf, encodeMessage, DEFAULT_MESSAGE_LIMITS, type Message } from './messages.js';
import type { CborLimits } from './cbor-codec.js';
import type { SealedChannel } from './crypto/sealed-channel.js';

/** A framing below the session: turns link units into packets and packets into link units. */
export interface PacketCodec {
  /** Takes what the link delivered (a chunk of bytes, or one HID report). */
  decode(unit: Uint8Array): PacketCodecEvent[];
  /** The link units (one stream frame, or several HID reports) that carry `packet`. */
  encode(packet: Packet): Uint8Array[];
  /** Largest packet payload encode() takes (stream framing: what the peer accepts). */
  readonly maxSendPayload?: number;
  /** Largest packet payload decode() delivers (the limit on a reassembled segmented packet). */
  readonly maxReceivePayload?: number;
}

/** What a {@link PacketCodec} reports. */
export type PacketCodecEvent = { kind: 'packet'; packet: Packet } | { kind: 'error'; error: FramingError };

/** Stream framing (serial, TCP) as a {@link PacketCodec}. */
export class StreamPacketCodec implements PacketCodec {
  private readonly decoder: FrameDecoder;
  private readonly maxFrameSize: number;

  constructor(options: { maxFrameSize?: number } = {}) {
    this.decoder = new FrameDecoder(options);
    this.maxFrameSize = this.decoder.maxFrameSize;
  }

  decode(unit: Uint8Array): PacketCodecEvent[] {
    return this.decoder.push(unit).map((e) => (e.kind === 'frame' ? { kind: 'packet', packet: e.packet } : { kind: 'error', error: e.error }));
  }

  encode(packet: Packet): Uint8Array[] {
    return [encodeFrame(packet, { maxFrameSize: this.maxFrameSize })];
  }

  get maxSendPayload(): number {
    return maxPayloadSize(this.maxFrameSize);
  }

  get maxReceivePayload(): number {
    return maxPayloadSize(this.maxFrameSize);
  }

  /** Link error counters of the receiving side. */
  get counters(): FrameDecoderCounters {
    return this.decoder.counters();
  }

  /** Drops a partial frame, e.g. after the link was reopened. */
  reset(): void {
    this.decoder.reset();
  }
}

/** What a {@link MessageChannel} delivers. */
export type ChannelEvent =
  | {
      kind: 'message';
      message: Message;
      /** True when the packet was sealed with the current session. */
      sealed: boolean;
      /** The message's canonical CBOR bytes (after unsealing): the exactly-once cache compares these. */
      bytes: Uint8Array;
    }
  | {
      kind: 'error';
      /** FramingError, SessionError or CodecError. */
      error: UnicardError;
      /** The request the bad message was about, when it could be read (else 0). */
      requestId: number;
      sealed: boolean;
    }
  | {
      /**
       * A segment that did not complete a packet, or a link packet (a NAK): the peer is there
       * and sending. `send`: link units to write now (segments the peer asked for again).
       */
      kind: 'link';
      send: Uint8Array[];
    };

/** Segmentation of a {@link MessageChannel} (stream links only; see protocol/segmentation.ts). */
export interface ChannelSegmentation extends SegmenterOptions {
  /** Monotonic milliseconds, handed in (protocol/ keeps no clock of its own). */
  now: () => number;
}

/** Options of a {@link MessageChannel}. */
export interface MessageChannelOptions {
  codec: PacketCodec;
  /** CBOR limits for incoming messages; DEFAULT_MESSAGE_LIMITS when omitted. */
  limits?: CborLimits;
  /**
   * Reassemble segmented packets and answer NAKs (and segment what is sent, once the peer
   * reassembles too: {@link MessageChannel.peerReassembles}). Without it a SEGMENT or LINK
   * packet is refused (FRAME_BAD_FLAGS).
   */
  segmentation?: ChannelSegmentation;
}

/**
 * One end of a terminal connection above the framing. Before {@link setSession} it sends
 * and accepts clear packets only; afterwards it seals what it sends (unless told to send in
 * clear) and opens sealed packets with the session, while still passing clear packets up
 * marked `sealed: false` so the application can apply the rule of which messages may travel
 * in clear.
 */
export class MessageChannel {
  private readonly codec: PacketCodec;
  private readonly limits: CborLimits;
  private session: SealedChannel | undefined;
  private nextSeq = 0;
  private readonly segmenter: Segmenter | undefined;
  private readonly now: () => number;

  constructor(options: MessageChannelOptions) {
    this.codec = options.codec;
    this.limits = options.limits ?? DEFAULT_MESSAGE_LIMITS;
    const seg = options.segmentation;
    this.now = seg?.now ?? (() => 0);
    if (seg !== undefined) {
      const { now: _now, ...rest } = seg;
      this.segmenter = new Segmenter(this.codec.maxReceivePayload ?? maxPayloadSize(), rest);
    }
  }

  /** True when this channel reassembles segments (it was given `segmentation`). */
  get segments(): boolean {
    return this.segmenter !== undefined;
  }

  /** Whether the peer reassembles segments: only then does this channel cut what it sends. */
  get peerReassembles(): boolean {
    return this.segmenter?.peerReassembles ?? false;
  }

  set peerReassembles(value: boolean) {
    if (this.segmenter !== undefined) this.segmenter.peerReassembles = value;
  }

  /**
   * A sign of a damaged line seen above the framing (the host resent a request; the terminal
   * got a request it had answered already): an adaptive channel segments for a while.
   */
  noteTrouble(): void {
    this.segmenter?.trouble(this.now());
  }

  /**
   * True while what this end receives shows damage (a bad frame, a segment or a NAK in the
   * last noisyHoldMs): the line carries bytes and loses some. False without segmentation, and
   * after mere silence ({@link noteTrouble} does not count: a dead link is silent too).
   */
  get lineDamaged(): boolean {
    return this.segmenter?.damaged(this.now()) ?? false;
  }

  /** True while this channel would cut a long packet it sends. */
  get segmenting(): boolean {
    const s = this.segmenter;
    return s !== undefined && s.peerReassembles && s.mode !== 'never' && (s.mode === 'always' || s.noisy(this.now()));
  }

  /** Link units due now: NAKs for transfers that stopped moving. Call at {@link nextDeadline}. */
  poll(): Uint8Array[] {
    const s = this.segmenter;
    if (s === undefined) return [];
    return s.due(this.now()).flatMap((p) => this.codec.encode(p));
  }

  /** When {@link poll} next has something to send (the `now` clock), or undefined. */
  get nextDeadline(): number | undefined {
    return this.segmenter?.nextDue();
  }

  /** Counters of the segmentation, when enabled. */
  segmentCounters(): SegmentationCounters | undefined {
    return this.segmenter?.counters();
  }

  /** Drops partly received segmented packets (the link was reopened). */
  resetSegments(): void {
    this.segmenter?.reset();
  }

  /** True once a handshake produced a sealed channel. */
  get hasSession(): boolean {
    return this.session !== undefined;
  }

  /** Installs the session from a finished handshake (replacing any earlier one), or drops it. */
  setSession(session: SealedChannel | undefined): void {
    this.session = session;
  }

  /**
   * Decodes what the link delivered into messages and typed errors. Never throws.
   *
   * The packets are unsealed and decoded lazily, one per iteration step, so that a caller who
   * installs a session on a HandshakeResult (or after answering a Handshake) gets the sealed
   * packets that followed it in the same chunk opened with that session. Iterate to the end:
   * packets not iterated over are dropped.
   */
  *receive(unit: Uint8Array): Generator<ChannelEvent, void, undefined> {
    for (const ev of this.codec.decode(unit)) {
      if (ev.kind === 'error') {
        this.segmenter?.sawDamage(this.now());
        yield { kind: 'error', error: ev.error, requestId: 0, sealed: false };
        continue;
      }
      const packet = ev.packet;
      if ((packet.flags & (PacketFlags.SEGMENT | PacketFlags.LINK)) === 0) {
        yield this.receivePacket(packet);
        continue;
      }
      const s = this.segmenter;
      if (s === undefined) {
        yield { kind: 'error', error: new FramingError('FRAME_BAD_FLAGS', 'segments and link packets are not enabled on this link', { flags: packet.flags }), requestId: 0, sealed: false };
        continue;
      }
      let whole: Packet | undefined;
      let send: Uint8Array[];
      try {
        const r = s.receive(packet, this.now());
        whole = r.packet;
        send = r.send.flatMap((p) => this.codec.encode(p));
      } catch (e) {
        yield { kind: 'error', error: asUnicardError(e), requestId: 0, sealed: false };
        continue;
      }
      if (whole !== undefined) yield this.receivePacket(whole);
      else yield { kind: 'link', send };
    }
  }

  private receivePacket(packet: Packet): ChannelEvent {
    const sealed = (packet.flags & PacketFlags.SEALED) !== 0;
    let bytes = packet.payload;
    if (sealed) {
      if (this.session === undefined) {
        return {
          kind: 'error',
          error: new SessionError('SESSION_NOT_ESTABLISHED', 'sealed packet received before a handshake'),
          requestId: 0,
          sealed,
        };
      }
      try {
        bytes = this.session.open(packet.payload);
      } catch (e) {
        return { kind: 'error', error: asUnicardError(e), requestId: 0, sealed };
      }
    }
    try {
      return { kind: 'message', message: decodeMessage(bytes, this.limits), sealed, bytes };
    } catch (e) {
      return { kind: 'error', error: asUnicardError(e), requestId: requestIdOf(e), sealed };
    }
  }

  /**
   * Encodes `message` into link units. Sealed when a session exists, unless `clear` is set
   * (GetInfo, Ping and Handshake travel in clear). Throws CodecError for a message the
   * catalog refuses and FramingError when it does not fit in a frame.
   */
  send(message: Message, options: { clear?: boolean } = {}): Uint8Array[] {
    return this.sendPayload(encodeMessage(message), options);
  }

  /**
   * Encodes already-encoded message bytes (a cached response, or deliberately broken bytes
   * from a conformance check or a simulator quirk) into link units, sealing as {@link send}.
   * Cut into segments when segmentation, the peer and the policy allow, unless `segment` is false.
   */
  sendPayload(payload: Uint8Array, options: { clear?: boolean; segment?: boolean } = {}): Uint8Array[] {
    const seal = this.session !== undefined && options.clear !== true;
    const packet: Packet = {
      flags: seal ? PacketFlags.SEALED : 0,
      seq: this.nextSeq,
      payload: seal ? (this.session as SealedChannel).seal(payload) : payload,
    };
    const fits = packet.payload.length <= (this.codec.maxSendPayload ?? Number.POSITIVE_INFINITY);
    // A packet too large for the peer is not cut either: encode() refuses it (FRAME_TOO_LARGE).
    const segments = fits && options.segment !== false ? this.segmenter?.split(packet, this.now()) : undefined;
    const units = segments === undefined ? this.codec.encode(packet) : segments.flatMap((p) => this.codec.encode(p));
    this.nextSeq = (this.nextSeq + 1) & 0xff;
    return units;
  }
}

function asUnicardError(e: unknown): UnicardError {
  if (e instanceof UnicardError) return e;
  // Every layer below throws only typed errors; this keeps the promise if one ever does not.
  return new UnicardError('INTERNAL', 'unexpected failure while reading a packet');
}
