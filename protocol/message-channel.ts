/**
 * The session layer's pure core, shared by both ends: bytes (or HID reports) in, messages out,
 * and messages in, wire units out. It stacks framing → (unsealing) → codec and owns the
 * packet sequence number and the sealed channel once a handshake has produced one. It does no
 * I/O and keeps no timers: the terminal's handlers and the daemon's TerminalSession drive it.
 */
import { SessionError, UnicardError, type FramingError } from './errors.js';
import { PacketFlags, type Packet } from './packet.js';
import { encodeFrame, FrameDecoder, type FrameDecoderCounters } from './stream-framing.js';
import { decodeMessage, requestIdOf, encodeMessage, DEFAULT_MESSAGE_LIMITS, type Message } from './messages.js';
import type { CborLimits } from './cbor-codec.js';
import type { SealedChannel } from './crypto/sealed-channel.js';

/** A framing below the session: turns link units into packets and packets into link units. */
export interface PacketCodec {
  /** Takes what the link delivered (a chunk of bytes, or one HID report). */
  decode(unit: Uint8Array): PacketCodecEvent[];
  /** The link units (one stream frame, or several HID reports) that carry `packet`. */
  encode(packet: Packet): Uint8Array[];
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
    };

/** Options of a {@link MessageChannel}. */
export interface MessageChannelOptions {
  codec: PacketCodec;
  /** CBOR limits for incoming messages; DEFAULT_MESSAGE_LIMITS when omitted. */
  limits?: CborLimits;
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

  constructor(options: MessageChannelOptions) {
    this.codec = options.codec;
    this.limits = options.limits ?? DEFAULT_MESSAGE_LIMITS;
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
        yield { kind: 'error', error: ev.error, requestId: 0, sealed: false };
        continue;
      }
      yield this.receivePacket(ev.packet);
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
   */
  sendPayload(payload: Uint8Array, options: { clear?: boolean } = {}): Uint8Array[] {
    const seal = this.session !== undefined && options.clear !== true;
    const packet: Packet = {
      flags: seal ? PacketFlags.SEALED : 0,
      seq: this.nextSeq,
      payload: seal ? (this.session as SealedChannel).seal(payload) : payload,
    };
    this.nextSeq = (this.nextSeq + 1) & 0xff;
    return this.codec.encode(packet);
  }
}

function asUnicardError(e: unknown): UnicardError {
  if (e instanceof UnicardError) return e;
  // Every layer below throws only typed errors; this keeps the promise if one ever does not.
  return new UnicardError('INTERNAL', 'unexpected failure while reading a packet');
}
