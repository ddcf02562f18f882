/**
 * The terminal's stream framing: receives frames up to its advertised maxFrameSize (large
 * enough for a 16 KiB firmware chunk), sends frames no larger than the protocol default so
 * any host can read them, puts a leading 0x00 before the first frame after an idle gap, and
 * applies the bad_crc quirk.
 */
import type { PacketCodec, PacketCodecEvent } from '../../protocol/message-channel.js';
import type { Packet } from '../../protocol/packet.js';
import { DEFAULT_MAX_FRAME_SIZE, encodeFrame, FrameDecoder, maxPayloadSize } from '../../protocol/stream-framing.js';
import { withBadCrc, type QuirkSet } from './quirks.js';

/**
 * Largest frame body the reference terminal accepts: a sealed FirmwareChunk with 16,384 data
 * bytes needs 16,435 (CBOR 16,404 + seal 24 + header 3 + CRC 4); the rest is margin.
 */
export const TERMINAL_MAX_FRAME_SIZE = 16_896;

export interface TerminalPacketCodecOptions {
  /** Largest frame body accepted (default {@link TERMINAL_MAX_FRAME_SIZE}). */
  receiveMaxFrameSize?: number;
  /** Largest frame body sent (default the protocol default, 4096). */
  sendMaxFrameSize?: number;
  quirks?: QuirkSet;
}

/** See the module comment. */
export class TerminalPacketCodec implements PacketCodec {
  private readonly decoder: FrameDecoder;
  readonly receiveMaxFrameSize: number;
  readonly sendMaxFrameSize: number;
  private readonly quirks: QuirkSet | undefined;
  /** Set by the connection: the next frame gets a leading delimiter. */
  leadNext = false;

  constructor(options: TerminalPacketCodecOptions = {}) {
    this.receiveMaxFrameSize = options.receiveMaxFrameSize ?? TERMINAL_MAX_FRAME_SIZE;
    this.sendMaxFrameSize = options.sendMaxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.decoder = new FrameDecoder({ maxFrameSize: this.receiveMaxFrameSize });
    this.quirks = options.quirks;
  }

  decode(unit: Uint8Array): PacketCodecEvent[] {
    return this.decoder.push(unit).map((e) => (e.kind === 'frame' ? { kind: 'packet', packet: e.packet } : { kind: 'error', error: e.error }));
  }

  encode(packet: Packet): Uint8Array[] {
    const frame = encodeFrame(packet, { maxFrameSize: this.sendMaxFrameSize, leadingDelimiter: this.leadNext });
    this.leadNext = false;
    return [this.quirks?.has('bad_crc') ? withBadCrc(frame) : frame];
  }

  get maxSendPayload(): number {
    return maxPayloadSize(this.sendMaxFrameSize);
  }

  get maxReceivePayload(): number {
    return maxPayloadSize(this.receiveMaxFrameSize);
  }

  /** Drops a partial incoming frame (a new link was attached). */
  reset(): void {
    this.decoder.reset();
  }
}
