/**
 * The packet: the unit both framings (stream and HID) carry. The session layer above sees
 * only packets; it never sees COBS, CRCs or HID reports.
 *
 * Packet bytes = version u8 ‖ flags u8 ‖ seq u8 ‖ payload. The stream framing appends a
 * CRC-32C and COBS-encodes the result; the HID framing sends these bytes as the data of an
 * MSG command (USB has its own CRC).
 */
import { FramingError } from './errors.js';

/** One packet of the unicard wire protocol. */
export interface Packet {
  /** Bit field, see {@link PacketFlags}. Unknown bits must be 0. */
  flags: number;
  /** Sender's packet sequence number, 0..255, interpreted by the session layer only. */
  seq: number;
  /** The packet's content (a CBOR message, or a sealed session record when SEALED is set). */
  payload: Uint8Array;
}

/** The only protocol version this code speaks; a packet with another version is refused. */
export const PROTOCOL_VERSION = 1;

/** Packet flag bits. */
export const PacketFlags = {
  /** bit0: the payload is a sealed session record. */
  SEALED: 0x01,
  /** bit1 (stream framing only): the payload is one segment of a larger packet (protocol/segmentation.ts). */
  SEGMENT: 0x02,
  /** bit2 (stream framing only, alone): a link control packet, e.g. a segment NAK (protocol/segmentation.ts). */
  LINK: 0x04,
} as const;

/** The flag bits a packet may carry on any framing (HID carries only these); the others are reserved. */
export const KNOWN_PACKET_FLAGS = PacketFlags.SEALED;

/** The flag bits a stream frame may carry: SEALED, SEGMENT (with or without SEALED), LINK (alone). */
export const STREAM_PACKET_FLAGS = PacketFlags.SEALED | PacketFlags.SEGMENT | PacketFlags.LINK;

/** True when `flags` uses a bit outside `known`, or LINK together with another bit. */
export function badFlags(flags: number, known: number): boolean {
  if ((flags & ~known) !== 0) return true;
  return (flags & PacketFlags.LINK) !== 0 && flags !== PacketFlags.LINK;
}

/** version ‖ flags ‖ seq. */
export const PACKET_HEADER_SIZE = 3;

/**
 * Throws FramingError unless `packet` can be sent: flags with reserved bits set
 * (FRAME_BAD_FLAGS; `known` are the bits the framing allows, default SEALED only), or a seq
 * that is not an integer 0..255 (FRAME_BAD_FLAGS too: the header byte cannot hold it).
 */
export function checkPacket(packet: Packet, known: number = KNOWN_PACKET_FLAGS): void {
  const { flags, seq } = packet;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff || badFlags(flags, known)) {
    throw new FramingError('FRAME_BAD_FLAGS', `packet flags 0x${flags.toString(16)} use reserved bits`, {
      flags,
    });
  }
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xff) {
    throw new FramingError('FRAME_BAD_FLAGS', `packet seq ${seq} is not a byte`, { seq });
  }
}

/** Writes version ‖ flags ‖ seq ‖ payload into `out` at `offset`; returns the offset after it. */
export function writePacket(packet: Packet, out: Uint8Array, offset: number): number {
  out[offset] = PROTOCOL_VERSION;
  out[offset + 1] = packet.flags;
  out[offset + 2] = packet.seq;
  out.set(packet.payload, offset + PACKET_HEADER_SIZE);
  return offset + PACKET_HEADER_SIZE + packet.payload.length;
}

/**
 * The packet's bytes without any framing: version ‖ flags ‖ seq ‖ payload. This is the
 * DATA of an HID MSG command. Throws FramingError (FRAME_BAD_FLAGS) for an unsendable packet.
 */
export function encodePacket(packet: Packet): Uint8Array {
  checkPacket(packet);
  const out = new Uint8Array(PACKET_HEADER_SIZE + packet.payload.length);
  writePacket(packet, out, 0);
  return out;
}

/**
 * Parses version ‖ flags ‖ seq ‖ payload (the payload is copied). Throws FramingError:
 * FRAME_TOO_SHORT (fewer than 3 bytes), FRAME_BAD_VERSION, FRAME_BAD_FLAGS, in that order.
 */
export function decodePacket(bytes: Uint8Array): Packet {
  const code = packetHeaderError(bytes, bytes.length);
  if (code !== undefined) throw packetError(code, bytes, bytes.length);
  return {
    flags: bytes[1] ?? 0,
    seq: bytes[2] ?? 0,
    payload: bytes.slice(PACKET_HEADER_SIZE),
  };
}

/**
 * The first header rule that `bytes[0..length)` breaks, if any (shared with the stream decoder,
 * which passes STREAM_PACKET_FLAGS as `known`).
 */
export function packetHeaderError(
  bytes: Uint8Array,
  length: number,
  known: number = KNOWN_PACKET_FLAGS,
): 'FRAME_TOO_SHORT' | 'FRAME_BAD_VERSION' | 'FRAME_BAD_FLAGS' | undefined {
  if (length < PACKET_HEADER_SIZE) return 'FRAME_TOO_SHORT';
  if (bytes[0] !== PROTOCOL_VERSION) return 'FRAME_BAD_VERSION';
  if (badFlags(bytes[1] ?? 0, known)) return 'FRAME_BAD_FLAGS';
  return undefined;
}

/** The typed error for a header rule broken by `bytes[0..length)`. */
export function packetError(
  code: 'FRAME_TOO_SHORT' | 'FRAME_BAD_VERSION' | 'FRAME_BAD_FLAGS',
  bytes: Uint8Array,
  length: number,
): FramingError {
  switch (code) {
    case 'FRAME_TOO_SHORT':
      return new FramingError(code, `packet of ${length} bytes is shorter than its header`, { length });
    case 'FRAME_BAD_VERSION':
      return new FramingError(code, `packet version ${bytes[0]} is not ${PROTOCOL_VERSION}`, {
        version: bytes[0],
      });
    case 'FRAME_BAD_FLAGS':
      return new FramingError(code, `packet flags 0x${(bytes[1] ?? 0).toString(16)} use reserved bits`, {
        flags: bytes[1],
      });
  }
}
