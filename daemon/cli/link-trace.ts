/**
 * What `unicard monitor` shows below the messages: the link-level packets of the stream
 * framing that carry no message of their own — the segments of a long packet on a damaged
 * line, and the NAKs that ask for missing ones (PROTOCOL.md, Segmentation). The session
 * prints a segmented message once, whole, when it completes; a technician chasing a bad cable
 * wants to see the pieces and what was asked for again.
 *
 * Fed the raw bytes of each direction (split anywhere), it keeps one frame decoder per
 * direction and describes every SEGMENT and LINK packet; message frames, empty frames and bad
 * frames are the session's to report.
 */
import { PacketFlags, type Packet } from '../../protocol/packet.js';
import { parseLink, parseSegment } from '../../protocol/segmentation.js';
import { FrameDecoder, MAX_FRAME_SIZE_LIMIT } from '../../protocol/stream-framing.js';
import { UnicardError } from '../../protocol/errors.js';

/** One link-level packet, described. */
export type LinkTraceItem =
  | { readonly kind: 'segment'; readonly seq: number; readonly index: number; readonly count: number; readonly stride: number; readonly bytes: number; readonly sealed: boolean }
  | { readonly kind: 'nak'; readonly seq: number; readonly count: number; readonly missing: readonly number[] }
  | { readonly kind: 'bad'; readonly code: string; readonly message: string };

/** The link-level packet a decoded frame carries, or undefined for a message frame. */
export function describeLinkPacket(packet: Packet): LinkTraceItem | undefined {
  try {
    if ((packet.flags & PacketFlags.SEGMENT) !== 0) {
      const s = parseSegment(packet.payload);
      return { kind: 'segment', seq: packet.seq, index: s.index, count: s.count, stride: s.stride, bytes: s.data.length, sealed: (packet.flags & PacketFlags.SEALED) !== 0 };
    }
    if ((packet.flags & PacketFlags.LINK) !== 0) {
      const nak = parseLink(packet.payload);
      // An unknown link kind is skipped by receivers (forward compatibility): shown as such.
      if (nak === undefined) return { kind: 'bad', code: 'LINK_KIND_UNKNOWN', message: `a link packet of unknown kind 0x${(packet.payload[0] ?? 0).toString(16).padStart(2, '0')}` };
      return { kind: 'nak', seq: nak.seq, count: nak.count, missing: nak.missing };
    }
  } catch (e) {
    return { kind: 'bad', code: e instanceof UnicardError ? e.code : 'FRAME_BAD', message: e instanceof Error ? e.message : String(e) };
  }
  return undefined;
}

/** One line of text for an item (the JSON form is the item itself). */
export function formatLinkTrace(item: LinkTraceItem): string {
  switch (item.kind) {
    case 'segment':
      return `segment ${item.index + 1}/${item.count} of packet seq ${item.seq}${item.sealed ? ' (sealed)' : ''}: ${item.bytes} bytes, stride ${item.stride}`;
    case 'nak':
      return `NAK for packet seq ${item.seq}: missing segment${item.missing.length === 1 ? '' : 's'} ${item.missing.map((i) => i + 1).join(', ')} of ${item.count}`;
    case 'bad':
      return `BAD link packet ${item.code}: ${item.message}`;
  }
}

/** Decodes both directions of a stream link and keeps what {@link describeLinkPacket} finds. */
export class LinkTracer {
  private readonly decoders = { tx: new FrameDecoder({ maxFrameSize: MAX_FRAME_SIZE_LIMIT }), rx: new FrameDecoder({ maxFrameSize: MAX_FRAME_SIZE_LIMIT }) };

  /** Bytes that went out (`tx`) or came in (`rx`); returns the link-level packets they completed. */
  push(direction: 'tx' | 'rx', bytes: Uint8Array): LinkTraceItem[] {
    const out: LinkTraceItem[] = [];
    for (const ev of this.decoders[direction].push(bytes)) {
      if (ev.kind !== 'frame') continue;
      const item = describeLinkPacket(ev.packet);
      if (item !== undefined) out.push(item);
    }
    return out;
  }
}
