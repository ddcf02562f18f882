/**
 * Stream framing for byte links (serial UART / USB-CDC, TCP).
 *
 * Frame body = version u8 ‖ flags u8 ‖ seq u8 ‖ payload ‖ CRC-32C u32 little-endian over
 * everything before it. On the wire: COBS(body) followed by one 0x00 delimiter. Because COBS
 * output never contains 0x00, a receiver that lost its place (noise, a banner line, a cable
 * plugged in mid-frame) is back in step at the next 0x00.
 */
import { cobsDecodeInto, cobsEncodeInto, cobsMaxEncodedLength } from './cobs.js';
import { crc32c } from './crc32c.js';
import { FramingError } from './errors.js';
import {
  PACKET_HEADER_SIZE,
  STREAM_PACKET_FLAGS,
  checkPacket,
  packetError,
  packetHeaderError,
  writePacket,
  type Packet,
} from './packet.js';

export { PROTOCOL_VERSION, PacketFlags, type Packet } from './packet.js';

/** The frame delimiter on the wire. */
export const FRAME_DELIMITER = 0x00;
/** Bytes of CRC-32C at the end of a frame body. */
export const FRAME_CRC_SIZE = 4;
/** Header plus CRC: the smallest valid frame body (an empty payload). */
export const MIN_FRAME_SIZE = PACKET_HEADER_SIZE + FRAME_CRC_SIZE;
/** The largest maxFrameSize any endpoint may use (lengths fit a u16 in a C port). */
export const MAX_FRAME_SIZE_LIMIT = 65535;
/** maxFrameSize used when none is given: body bytes (header + payload + CRC). */
export const DEFAULT_MAX_FRAME_SIZE = 4096;

/** The codes a FrameDecoder reports. */
export type StreamFramingErrorCode =
  | 'FRAME_TOO_LARGE'
  | 'FRAME_TOO_SHORT'
  | 'FRAME_COBS_INVALID'
  | 'FRAME_CRC_MISMATCH'
  | 'FRAME_BAD_VERSION'
  | 'FRAME_BAD_FLAGS';

/** Throws FramingError FRAME_BAD_LIMIT unless `maxFrameSize` is an integer in [7, 65535]. */
export function checkMaxFrameSize(maxFrameSize: number): void {
  if (!Number.isInteger(maxFrameSize) || maxFrameSize < MIN_FRAME_SIZE || maxFrameSize > MAX_FRAME_SIZE_LIMIT) {
    throw new FramingError(
      'FRAME_BAD_LIMIT',
      `maxFrameSize ${maxFrameSize} is outside ${MIN_FRAME_SIZE}..${MAX_FRAME_SIZE_LIMIT}`,
      { maxFrameSize },
    );
  }
}

/** The largest payload a frame of at most `maxFrameSize` body bytes can carry. */
export function maxPayloadSize(maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE): number {
  return maxFrameSize - MIN_FRAME_SIZE;
}

/**
 * The most bytes a frame of at most `maxFrameSize` body bytes occupies before its delimiter,
 * for any conforming COBS encoder: maxFrameSize + floor(maxFrameSize / 254) + 1.
 */
export function maxEncodedFrameSize(maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE): number {
  return cobsMaxEncodedLength(maxFrameSize);
}

/** Options of {@link encodeFrame}. */
export interface EncodeFrameOptions {
  /** The receiver's limit on body bytes (header + payload + CRC). Default 4096. */
  maxFrameSize?: number;
  /**
   * Put a 0x00 before the frame too. Senders do this for their first frame after opening the
   * link or after an idle gap, so that a receiver holding a partial frame drops it here
   * instead of losing this frame with it.
   */
  leadingDelimiter?: boolean;
}

/**
 * The wire bytes of one frame: [0x00] COBS(version ‖ flags ‖ seq ‖ payload ‖ CRC-32C LE) 0x00.
 * Throws FramingError: FRAME_BAD_FLAGS (flag bits outside STREAM_PACKET_FLAGS, LINK with another
 * bit, seq not a byte), FRAME_TOO_LARGE
 * (body larger than maxFrameSize), FRAME_BAD_LIMIT (maxFrameSize out of range).
 */
export function encodeFrame(packet: Packet, options: EncodeFrameOptions = {}): Uint8Array {
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  checkMaxFrameSize(maxFrameSize);
  checkPacket(packet, STREAM_PACKET_FLAGS);
  const bodyLength = MIN_FRAME_SIZE + packet.payload.length;
  if (bodyLength > maxFrameSize) {
    throw new FramingError(
      'FRAME_TOO_LARGE',
      `payload of ${packet.payload.length} bytes exceeds the ${maxPayloadSize(maxFrameSize)}-byte limit`,
      { payloadLength: packet.payload.length, maxFrameSize },
    );
  }
  const body = new Uint8Array(bodyLength);
  const crcAt = writePacket(packet, body, 0);
  writeU32LE(body, crcAt, crc32c(body.subarray(0, crcAt)));

  const lead = options.leadingDelimiter === true ? 1 : 0;
  const out = new Uint8Array(lead + cobsMaxEncodedLength(bodyLength) + 1);
  // A new Uint8Array is zero-filled, so out[0] is already the leading delimiter.
  const end = cobsEncodeInto(body, out, lead);
  out[end] = FRAME_DELIMITER;
  return out.slice(0, end + 1);
}

/** Byte counts for sending one payload as a stream frame. */
export interface FramingOverhead {
  /** Payload bytes. */
  payloadBytes: number;
  /** Bytes on the wire: COBS(body) + delimiter. */
  wireBytes: number;
  /** wireBytes - payloadBytes: header, CRC, stuffing and delimiter. */
  overheadBytes: number;
  /** COBS code bytes plus the delimiter: wireBytes - body bytes. */
  stuffingBytes: number;
}

/**
 * Worst-case framing cost of a `payloadLength`-byte payload (pure arithmetic): body
 * n = payloadLength + 7; this encoder writes at most n + max(1, ceil(n / 254)) COBS bytes,
 * plus the delimiter.
 */
export function framingOverhead(payloadLength: number): FramingOverhead {
  const body = payloadLength + MIN_FRAME_SIZE;
  const cobs = body + Math.max(1, Math.ceil(body / 254));
  const wire = cobs + 1;
  return {
    payloadBytes: payloadLength,
    wireBytes: wire,
    overheadBytes: wire - payloadLength,
    stuffingBytes: wire - body,
  };
}

/** The actual framing cost of `packet` (encodes it; same limits and errors as encodeFrame). */
export function measureFramingOverhead(packet: Packet, options: EncodeFrameOptions = {}): FramingOverhead {
  const wire = encodeFrame(packet, { ...options, leadingDelimiter: false }).length;
  const payload = packet.payload.length;
  return {
    payloadBytes: payload,
    wireBytes: wire,
    overheadBytes: wire - payload,
    stuffingBytes: wire - payload - MIN_FRAME_SIZE,
  };
}

/** First size of a decoder's receive buffer (bytes); it doubles up to the frame limit as needed. */
const INITIAL_RECEIVE_BUFFER = 1024;

/** What {@link FrameDecoder.push} reports: a good frame, or a bad one that was discarded. */
export type FrameDecoderEvent =
  | { kind: 'frame'; packet: Packet }
  | {
      kind: 'error';
      error: FramingError;
      /** Wire bytes of the bad frame dropped so far (its delimiter not counted). */
      discarded: number;
    };

/** Options of {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest body (header + payload + CRC) accepted, 7..65535. Default 4096. */
  maxFrameSize?: number;
}

/** Link error counters, for a technician's `unicard test`. */
export interface FrameDecoderCounters {
  /** Frames delivered. */
  framesOk: number;
  /** Empty frames (0x00 0x00): idle or resync padding, not errors. */
  emptyFrames: number;
  /** All bytes pushed. */
  bytesReceived: number;
  /** Bytes of bad frames (and garbage) thrown away, delimiters not counted. */
  bytesDiscarded: number;
  /** Bad frames by error code. */
  errors: Record<StreamFramingErrorCode, number>;
}

/**
 * Streaming receiver for stream frames. Feed it whatever the link delivers, split anywhere;
 * it returns the frames completed so far and one typed error for each bad frame, and always
 * continues with the next frame. Memory is bounded: one receive buffer, at most
 * maxEncodedFrameSize(maxFrameSize) bytes; it starts at 1 KiB and doubles only when a frame
 * needs it (a daemon holds one per terminal, and frames are mostly a few hundred bytes: 32
 * terminals at the 64 KiB limit would otherwise pin 2 MiB). A frame longer than the limit is
 * reported once (FRAME_TOO_LARGE) and skipped up to the next 0x00.
 */
export class FrameDecoder {
  /** Largest body accepted (header + payload + CRC). */
  readonly maxFrameSize: number;
  /** Size of the receive buffer (the largest COBS-encoded frame accepted). */
  readonly capacity: number;

  private buffer: Uint8Array;
  /** Encoded bytes of the current frame held in `buffer`. */
  private fill = 0;
  /** True while dropping the rest of an oversized frame, up to the next 0x00. */
  private skipping = false;
  private readonly stats: FrameDecoderCounters;

  /** Throws FramingError FRAME_BAD_LIMIT for a maxFrameSize outside 7..65535. */
  constructor(options: FrameDecoderOptions = {}) {
    const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    checkMaxFrameSize(maxFrameSize);
    this.maxFrameSize = maxFrameSize;
    this.capacity = maxEncodedFrameSize(maxFrameSize);
    this.buffer = new Uint8Array(Math.min(this.capacity, INITIAL_RECEIVE_BUFFER));
    this.stats = {
      framesOk: 0,
      emptyFrames: 0,
      bytesReceived: 0,
      bytesDiscarded: 0,
      errors: {
        FRAME_TOO_LARGE: 0,
        FRAME_TOO_SHORT: 0,
        FRAME_COBS_INVALID: 0,
        FRAME_CRC_MISMATCH: 0,
        FRAME_BAD_VERSION: 0,
        FRAME_BAD_FLAGS: 0,
      },
    };
  }

  /** Bytes of an unfinished frame held (0 between frames and while skipping). */
  get pendingBytes(): number {
    return this.fill;
  }

  /** Takes the next bytes from the link; returns the frames and errors they complete. */
  push(chunk: Uint8Array): FrameDecoderEvent[] {
    const events: FrameDecoderEvent[] = [];
    this.stats.bytesReceived += chunk.length;
    let i = 0;
    while (i < chunk.length) {
      const zeroAt = chunk.indexOf(FRAME_DELIMITER, i);
      const end = zeroAt < 0 ? chunk.length : zeroAt;
      const n = end - i;
      if (this.skipping) {
        this.stats.bytesDiscarded += n;
        if (zeroAt >= 0) this.skipping = false;
      } else if (this.fill + n > this.capacity) {
        // Reported once, with what was seen so far; the rest of the frame is skipped up to
        // the next 0x00 and only counted in bytesDiscarded.
        const discarded = this.fill + n;
        this.fill = 0;
        this.skipping = zeroAt < 0;
        events.push(this.error(this.tooLarge(discarded), discarded));
      } else {
        if (this.fill + n > this.buffer.length) this.grow(this.fill + n);
        this.buffer.set(chunk.subarray(i, end), this.fill);
        this.fill += n;
        if (zeroAt >= 0) this.finishFrame(events);
      }
      if (zeroAt < 0) break;
      i = zeroAt + 1;
    }
    return events;
  }

  /** Doubles the receive buffer until `needed` fits (never past `capacity`, checked by the caller). */
  private grow(needed: number): void {
    let size = this.buffer.length;
    while (size < needed) size *= 2;
    const bigger = new Uint8Array(Math.min(size, this.capacity));
    bigger.set(this.buffer.subarray(0, this.fill));
    this.buffer = bigger;
  }

  /** Drops any partial frame (e.g. after the link was reopened). Counters are kept. */
  reset(): void {
    this.stats.bytesDiscarded += this.fill;
    this.fill = 0;
    this.skipping = false;
  }

  /** A snapshot of the link counters. */
  counters(): FrameDecoderCounters {
    return { ...this.stats, errors: { ...this.stats.errors } };
  }

  /** A delimiter arrived: decode the frame in the buffer. */
  private finishFrame(events: FrameDecoderEvent[]): void {
    const encodedLength = this.fill;
    this.fill = 0;
    if (encodedLength === 0) {
      this.stats.emptyFrames++;
      return;
    }
    const buf = this.buffer;
    const n = cobsDecodeInto(buf, encodedLength, buf);
    if (n < 0) {
      events.push(
        this.error(
          new FramingError('FRAME_COBS_INVALID', 'frame is not valid COBS', { encodedLength }),
          encodedLength,
        ),
      );
      return;
    }
    if (n > this.maxFrameSize) {
      events.push(this.error(this.tooLarge(encodedLength), encodedLength));
      return;
    }
    if (n < MIN_FRAME_SIZE) {
      events.push(
        this.error(
          new FramingError('FRAME_TOO_SHORT', `frame body of ${n} bytes is shorter than ${MIN_FRAME_SIZE}`, {
            length: n,
          }),
          encodedLength,
        ),
      );
      return;
    }
    const crcAt = n - FRAME_CRC_SIZE;
    const expected = readU32LE(buf, crcAt);
    const actual = crc32c(buf.subarray(0, crcAt));
    if (expected !== actual) {
      events.push(
        this.error(
          new FramingError('FRAME_CRC_MISMATCH', 'frame CRC-32C does not match', { expected, actual }),
          encodedLength,
        ),
      );
      return;
    }
    const headerError = packetHeaderError(buf, crcAt, STREAM_PACKET_FLAGS);
    if (headerError !== undefined) {
      events.push(this.error(packetError(headerError, buf, crcAt), encodedLength));
      return;
    }
    this.stats.framesOk++;
    events.push({
      kind: 'frame',
      packet: { flags: buf[1] ?? 0, seq: buf[2] ?? 0, payload: buf.slice(PACKET_HEADER_SIZE, crcAt) },
    });
  }

  private tooLarge(encodedLength: number): FramingError {
    return new FramingError('FRAME_TOO_LARGE', `frame exceeds the ${this.maxFrameSize}-byte limit`, {
      encodedLength,
      maxFrameSize: this.maxFrameSize,
    });
  }

  private error(error: FramingError, discarded: number): FrameDecoderEvent {
    this.stats.errors[error.code as StreamFramingErrorCode]++;
    this.stats.bytesDiscarded += discarded;
    return { kind: 'error', error, discarded };
  }
}

function writeU32LE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value & 0xff;
  out[offset + 1] = (value >>> 8) & 0xff;
  out[offset + 2] = (value >>> 16) & 0xff;
  out[offset + 3] = (value >>> 24) & 0xff;
}

function readU32LE(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] ?? 0) |
      ((bytes[offset + 1] ?? 0) << 8) |
      ((bytes[offset + 2] ?? 0) << 16) |
      ((bytes[offset + 3] ?? 0) << 24)) >>>
    0
  );
}
