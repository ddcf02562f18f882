import { describe, expect, it } from 'vitest';
import { FramingError } from './errors.js';
import { PROTOCOL_VERSION, PacketFlags, checkPacket, decodePacket, encodePacket } from './packet.js';

const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FramingError);
    return (e as FramingError).code;
  }
  return undefined;
}

describe('packet', () => {
  it('is version ‖ flags ‖ seq ‖ payload', () => {
    expect(PROTOCOL_VERSION).toBe(1);
    expect(PacketFlags.SEALED).toBe(1);
    expect(toHex(encodePacket({ flags: PacketFlags.SEALED, seq: 9, payload: Uint8Array.of(0xaa, 0) }))).toBe('010109aa00');
  });

  it('decodes and copies the payload', () => {
    const bytes = Uint8Array.of(1, 0, 255, 7, 8);
    const p = decodePacket(bytes);
    expect(p).toEqual({ flags: 0, seq: 255, payload: Uint8Array.of(7, 8) });
    bytes[3] = 0;
    expect(p.payload[0]).toBe(7);
  });

  it('refuses bad headers in order: short, version, flags', () => {
    expect(codeOf(() => decodePacket(Uint8Array.of(1, 0)))).toBe('FRAME_TOO_SHORT');
    expect(codeOf(() => decodePacket(Uint8Array.of(2, 0x80, 0)))).toBe('FRAME_BAD_VERSION');
    expect(codeOf(() => decodePacket(Uint8Array.of(1, 0x02, 0)))).toBe('FRAME_BAD_FLAGS');
    expect(codeOf(() => decodePacket(Uint8Array.of(1, 0x01, 0)))).toBeUndefined();
  });

  it('refuses unsendable packets', () => {
    const payload = new Uint8Array(0);
    expect(codeOf(() => checkPacket({ flags: 0x80, seq: 0, payload }))).toBe('FRAME_BAD_FLAGS');
    expect(codeOf(() => checkPacket({ flags: 0.5, seq: 0, payload }))).toBe('FRAME_BAD_FLAGS');
    expect(codeOf(() => checkPacket({ flags: 0, seq: -1, payload }))).toBe('FRAME_BAD_FLAGS');
    expect(codeOf(() => checkPacket({ flags: 0, seq: 256, payload }))).toBe('FRAME_BAD_FLAGS');
    expect(codeOf(() => checkPacket({ flags: 1, seq: 255, payload }))).toBeUndefined();
  });
});
