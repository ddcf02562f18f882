import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../protocol/crypto/bytes.js';
import { encodeFrame } from '../../protocol/stream-framing.js';
import { describeLinkPacket, formatLinkTrace, LinkTracer } from './link-trace.js';

interface WirePacket {
  flags: number;
  seq: number;
  payloadHex: string;
  wireHex?: string;
}
const vectors = JSON.parse(readFileSync(new URL('../../test/vectors/segmentation.json', import.meta.url), 'utf8')) as {
  split: { name: string; packet: WirePacket; stride: number; segments: WirePacket[] }[];
  naks: { name: string; nak: { seq: number; count: number; missing: number[] }; packet: WirePacket }[];
  badSegments: { name: string; payloadHex: string; error: string }[];
  badLinks: { name: string; payloadHex: string; error: string }[];
};

describe('unicard monitor: segments and NAKs on the wire (the segmentation vectors)', () => {
  it('describes every segment of every split vector, however the wire bytes are cut, and nothing for message frames', () => {
    for (const v of vectors.split) {
      const wire = Buffer.concat(v.segments.map((s) => fromHex(s.wireHex ?? '')));
      for (const cut of [1, 7, wire.length]) {
        const tracer = new LinkTracer();
        const items = [];
        for (let i = 0; i < wire.length; i += cut) items.push(...tracer.push('rx', wire.subarray(i, i + cut)));
        expect(items, v.name).toEqual(
          v.segments.map((s, index) => ({ kind: 'segment', seq: v.packet.seq, index, count: v.segments.length, stride: v.stride, bytes: fromHex(s.payloadHex).length - 3, sealed: (v.packet.flags & 1) === 1 })),
        );
      }
      expect(formatLinkTrace(describeLinkPacket({ flags: v.segments[0]!.flags, seq: v.packet.seq, payload: fromHex(v.segments[0]!.payloadHex) })!)).toBe(
        `segment 1/${v.segments.length} of packet seq ${v.packet.seq}${(v.packet.flags & 1) === 1 ? ' (sealed)' : ''}: ${v.stride} bytes, stride ${v.stride}`,
      );
    }
    // A whole message frame is the session's to print, not the link tracer's.
    const whole = vectors.split[0]!.packet;
    expect(new LinkTracer().push('tx', encodeFrame({ flags: whole.flags, seq: whole.seq, payload: fromHex(whole.payloadHex) }))).toEqual([]);
  });

  it('describes the NAK vectors, numbering segments from 1 for people', () => {
    for (const v of vectors.naks) {
      const [item] = new LinkTracer().push('tx', fromHex(v.packet.wireHex ?? ''));
      expect(item, v.name).toEqual({ kind: 'nak', seq: v.nak.seq, count: v.nak.count, missing: v.nak.missing });
      expect(formatLinkTrace(item!)).toBe(`NAK for packet seq ${v.nak.seq}: missing segment${v.nak.missing.length === 1 ? '' : 's'} ${v.nak.missing.map((i) => i + 1).join(', ')} of ${v.nak.count}`);
    }
  });

  it('shows malformed segments and link packets with their typed code instead of dropping them silently', () => {
    for (const v of vectors.badSegments) expect(describeLinkPacket({ flags: 2, seq: 1, payload: fromHex(v.payloadHex) }), v.name).toMatchObject({ kind: 'bad', code: v.error });
    for (const v of vectors.badLinks) {
      const item = describeLinkPacket({ flags: 4, seq: 0, payload: fromHex(v.payloadHex) });
      expect(item, v.name).toMatchObject({ kind: 'bad', code: v.error });
      expect(formatLinkTrace(item!)).toMatch(new RegExp(`^BAD link packet ${v.error}: `));
    }
    expect(describeLinkPacket({ flags: 4, seq: 0, payload: Uint8Array.of(0x7f, 1, 2) })).toMatchObject({ kind: 'bad', code: 'LINK_KIND_UNKNOWN' });
  });
});
