import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../test/support/fuzz.js';
import { FramingError } from './errors.js';
import {
  HID_BROADCAST_CID,
  HID_MAX_MESSAGE_SIZE,
  HidChannelAllocator,
  HidCommand,
  HidErrorCode,
  HidReassembler,
  answerInit,
  buildErrorReport,
  buildInitResponse,
  fragmentMessage,
  fragmentPacket,
  decodeMsgPacket,
} from './hid-framing.js';
import { HidHostPacketCodec, type HidHostEvent } from './hid-packet-codec.js';
import { PacketFlags, type Packet } from './packet.js';

/** A counter-based byte source, so nonces and CIDs are predictable. */
function counterBytes(start: number): (n: number) => Uint8Array {
  let next = start;
  return (n) => Uint8Array.from({ length: n }, () => next++ & 0xff);
}

function codec(start = 1, now = () => 0): HidHostPacketCodec {
  return new HidHostPacketCodec({ randomBytes: counterBytes(start), now });
}

/** A device: allocator + answerInit, enough to open channels. */
function device() {
  const allocator = new HidChannelAllocator({ randomBytes: counterBytes(0xc0) });
  const reassembler = new HidReassembler({ channelFilter: (cid) => allocator.has(cid) || cid === HID_BROADCAST_CID });
  return {
    allocator,
    /** Feeds host reports to the device and returns what it answers. */
    answer(reports: Uint8Array[]): Uint8Array[] {
      const out: Uint8Array[] = [];
      for (const r of reports) {
        for (const ev of reassembler.push(r, 0)) {
          if (ev.kind === 'message' && ev.cmd === HidCommand.INIT) out.push(...answerInit(allocator, ev.cid, ev.data, { deviceVersion: { major: 1, minor: 2, build: 3 } }).reports);
        }
      }
      return out;
    },
  };
}

function open(c: HidHostPacketCodec, d = device()): number {
  const events = d.answer(c.init()).flatMap((r) => c.accept(r));
  expect(events).toMatchObject([{ kind: 'open' }]);
  return c.cid as number;
}

const packet = (payload: Uint8Array, seq = 0): Packet => ({ flags: PacketFlags.SEALED, seq, payload });

describe('HidHostPacketCodec: channel allocation', () => {
  it('sends INIT with 8 injected random bytes on the broadcast channel', () => {
    const c = codec(0x10);
    expect(c.state).toBe('idle');
    const [report, ...rest] = c.init();
    expect(rest).toEqual([]);
    expect(Array.from(report!.subarray(0, 15))).toEqual([0xff, 0xff, 0xff, 0xff, 0x86, 0x00, 0x08, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]);
    expect(c.state).toBe('allocating');
  });

  it('takes only the answer carrying its own nonce', () => {
    const c = codec(1);
    c.init();
    const other = buildInitResponse(HID_BROADCAST_CID, {
      nonce: Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9),
      cid: 0x11111111,
      protocolVersion: 1,
      deviceVersion: { major: 1, minor: 0, build: 0 },
      capabilities: 0,
    });
    expect(other.flatMap((r) => c.accept(r))).toEqual([]);
    expect(c.state).toBe('allocating');
    const ours = buildInitResponse(HID_BROADCAST_CID, {
      nonce: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      cid: 0x22222222,
      protocolVersion: 1,
      deviceVersion: { major: 4, minor: 5, build: 6 },
      capabilities: 0x80,
    });
    const events = ours.flatMap((r) => c.accept(r));
    expect(events).toMatchObject([{ kind: 'open', response: { cid: 0x22222222, deviceVersion: { major: 4, minor: 5, build: 6 }, capabilities: 0x80 } }]);
    expect(c.state).toBe('open');
    expect(c.cid).toBe(0x22222222);
    expect(c.counters().foreignInitAnswers).toBe(1);
  });

  it('ignores INIT answers when it is not allocating, and a second init() forgets the channel', () => {
    const c = codec(1);
    const d = device();
    const first = open(c, d);
    const late = buildInitResponse(HID_BROADCAST_CID, {
      nonce: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8),
      cid: 0x33333333,
      protocolVersion: 1,
      deviceVersion: { major: 1, minor: 0, build: 0 },
      capabilities: 0,
    });
    expect(late.flatMap((r) => c.accept(r))).toEqual([]);
    expect(c.cid).toBe(first);
    c.init();
    expect(c.cid).toBeUndefined();
    expect(() => c.encode(packet(Uint8Array.of(1)))).toThrow(FramingError);
  });

  it('refuses to encode before the channel is open', () => {
    const c = codec();
    try {
      c.encode(packet(Uint8Array.of(1)));
      expect.unreachable();
    } catch (e) {
      expect((e as FramingError).code).toBe('HID_BAD_CHANNEL');
    }
  });
});

describe('HidHostPacketCodec: messages', () => {
  it('packets go out as MSG on the allocated channel and come back reassembled', () => {
    const c = codec();
    const cid = open(c);
    const payload = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const reports = c.encode(packet(payload, 7));
    expect(reports).toHaveLength(1 + Math.ceil((303 - 57) / 59));
    const dev = new HidReassembler({ channelFilter: (x) => x === cid });
    const msgs = reports.flatMap((r) => dev.push(r, 0));
    expect(msgs).toHaveLength(1);
    const m = msgs[0]!;
    if (m.kind !== 'message') throw new Error('expected a message');
    expect(m.cmd).toBe(HidCommand.MSG);
    expect(decodeMsgPacket(m.data)).toEqual(packet(payload, 7));

    const back = fragmentPacket(cid, packet(payload, 9)).flatMap((r) => c.decode(r));
    expect(back).toEqual([{ kind: 'packet', packet: packet(payload, 9) }]);
  });

  it('ignores reports on other programs\' channels without an error', () => {
    const c = codec();
    const cid = open(c);
    const other = (cid + 1) >>> 0;
    expect(fragmentPacket(other, packet(new Uint8Array(200))).flatMap((r) => c.accept(r))).toEqual([]);
    expect(buildErrorReport(other, HidErrorCode.INVALID_SEQ)).toBeDefined();
    expect(c.accept(buildErrorReport(other, HidErrorCode.INVALID_SEQ))).toEqual([]);
    expect(c.counters().foreignReports).toBe(1 + Math.ceil((203 - 57) / 59) + 1);
  });

  it('turns ERROR reports on its channel into typed HID_DEVICE_ERROR errors', () => {
    const c = codec();
    const cid = open(c);
    const events = c.decode(buildErrorReport(cid, HidErrorCode.INVALID_CHANNEL));
    expect(events).toHaveLength(1);
    const e = events[0]!;
    if (e.kind !== 'error') throw new Error('expected an error');
    expect(e.error).toBeInstanceOf(FramingError);
    expect(e.error.code).toBe('HID_DEVICE_ERROR');
    expect(e.error.detail).toEqual({ cid, hidErrorCode: 0x0b, name: 'INVALID_CHANNEL' });
    expect(c.counters().deviceErrors).toBe(1);
  });

  it('INVALID_CHANNEL on its channel calls onChannelLost (the device dropped channel and session); other errors do not', () => {
    const lost: number[] = [];
    const c = new HidHostPacketCodec({ randomBytes: counterBytes(1), now: () => 0, onChannelLost: (cid) => lost.push(cid) });
    const cid = open(c);
    c.decode(buildErrorReport(cid, HidErrorCode.CHANNEL_BUSY));
    expect(lost).toEqual([]);
    c.decode(buildErrorReport(cid, HidErrorCode.INVALID_CHANNEL));
    expect(lost).toEqual([cid]);
  });

  it('a broadcast ERROR (another program\'s bad INIT) is not its business', () => {
    const c = codec();
    open(c);
    expect(c.accept(buildErrorReport(HID_BROADCAST_CID, HidErrorCode.INVALID_LEN))).toEqual([]);
  });

  it('an MSG whose data is not a packet is a framing error', () => {
    const c = codec();
    const cid = open(c);
    const events = fragmentMessage(cid, HidCommand.MSG, Uint8Array.of(9, 0, 0)).flatMap((r) => c.decode(r));
    expect(events.map((e) => (e.kind === 'error' ? e.error.code : e.kind))).toEqual(['FRAME_BAD_VERSION']);
  });

  it('PING echoes are reported by accept(), not decode()', () => {
    const c = codec();
    const cid = open(c);
    const [report] = c.ping(Uint8Array.of(1, 2, 3));
    expect(Array.from(report!.subarray(0, 10))).toEqual([cid >>> 24, (cid >>> 16) & 0xff, (cid >>> 8) & 0xff, cid & 0xff, 0x81, 0, 3, 1, 2, 3]);
    expect(c.accept(report!)).toEqual([{ kind: 'ping', data: Uint8Array.of(1, 2, 3) }]);
    expect(c.decode(report!)).toEqual([]);
  });

  it('a reassembly timeout uses the injected clock', () => {
    let t = 0;
    const c = codec(1, () => t);
    const cid = open(c);
    const reports = fragmentPacket(cid, packet(new Uint8Array(100)));
    expect(c.decode(reports[0]!)).toEqual([]);
    t = 3001;
    const events = c.decode(reports[1]!);
    expect(events.map((e) => (e.kind === 'error' ? e.error.code : e.kind))).toEqual(['HID_TIMEOUT']);
  });

  it('respects the 7,609-byte message limit both ways', () => {
    const c = codec();
    const cid = open(c);
    // A packet is 3 header bytes + payload.
    const biggest = packet(new Uint8Array(HID_MAX_MESSAGE_SIZE - 3));
    const reports = c.encode(biggest);
    expect(reports).toHaveLength(129);
    expect(reports[128]![4]).toBe(127);
    expect(() => c.encode(packet(new Uint8Array(HID_MAX_MESSAGE_SIZE - 2)))).toThrow(/exceeds 7609/);
    // Received: 7,609 bytes reassemble; a BCNT of 7,610 is refused before any allocation.
    expect(reports.flatMap((r) => c.decode(Uint8Array.from(r)))).toHaveLength(1);
    const tooLong = new Uint8Array(64);
    tooLong.set(reports[0]!.subarray(0, 7));
    tooLong[5] = (HID_MAX_MESSAGE_SIZE + 1) >>> 8;
    tooLong[6] = (HID_MAX_MESSAGE_SIZE + 1) & 0xff;
    expect(c.decode(tooLong).map((e) => (e.kind === 'error' ? e.error.code : e.kind))).toEqual(['HID_MESSAGE_TOO_LARGE']);
    expect(cid).toBeGreaterThan(0);
  });

  it('a smaller maxMessageSize is enforced on encode', () => {
    const c = new HidHostPacketCodec({ randomBytes: counterBytes(1), now: () => 0, maxMessageSize: 100 });
    open(c);
    expect(() => c.encode(packet(new Uint8Array(98)))).toThrow(FramingError);
    expect(c.encode(packet(new Uint8Array(97)))).toHaveLength(2);
  });
});

describe('HidHostPacketCodec: hostile reports', () => {
  it('every report, random or mutated, ends in events or nothing, never a throw', () => {
    const c = codec();
    const cid = open(c);
    const cidBytes = [cid >>> 24, (cid >>> 16) & 0xff, (cid >>> 8) & 0xff, cid & 0xff];
    const report = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 80 }),
      fc.uint8Array({ minLength: 60, maxLength: 60 }).map((rest) => Uint8Array.from([...cidBytes, ...rest])),
      fc.uint8Array({ minLength: 60, maxLength: 60 }).map((rest) => Uint8Array.from([0xff, 0xff, 0xff, 0xff, ...rest])),
    );
    fc.assert(
      fc.property(fc.array(report, { maxLength: 8 }), (reports) => {
        for (const r of reports) {
          const events: HidHostEvent[] = c.accept(r);
          for (const e of events) if (e.kind === 'error') expect(e.error).toBeInstanceOf(FramingError);
        }
      }),
      { numRuns: fuzzRuns(2000) },
    );
  });
});
