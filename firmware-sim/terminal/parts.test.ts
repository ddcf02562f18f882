/**
 * The small parts of the terminal: banner line, response cache, quirk byte surgery, fault
 * injection (seeded, stall order), wire error mapping, event log ring, control word parsing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeCanonical } from '../../protocol/cbor-codec.js';
import { CodecError } from '../../protocol/errors.js';
import { decodeMessage, encodeMessage, type Message } from '../../protocol/messages.js';
import { encodeFrame, FrameDecoder } from '../../protocol/stream-framing.js';
import { WireError } from '../../protocol/wire-errors.js';
import { createMemoryLinkPair } from '../../link/memory-link.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { flushMicrotasks, ManualClock } from '../hardware/clock.js';
import { HardwareError } from '../hardware/hardware-error.js';
import { bannerBytes, bannerLine, MAX_BANNER_BYTES, parseBannerLine } from './banner.js';
import { parseControlLine, parseControlWords } from './control-server.js';
import { EventLog } from './event-log.js';
import { FaultInjector } from './faults.js';
import { nonCanonicalMessage, QuirkSet, withBadCrc } from './quirks.js';
import { ResponseCache } from './response-cache.js';
import { TerminalError, truncateUtf8, wireErrorOf } from './terminal-error.js';

describe('banner', () => {
  const info = { vendor: 'SimVendor', model: 'SIM-1', serial: 'SIM0001', firmwareVersion: [1, 2, 3] as const, protocolVersion: 1 };

  it('is the identification line of the overview, then 0x00', () => {
    expect(bannerLine(info)).toBe('UNICARD-TERMINAL vendor=SimVendor model=SIM-1 serial=SIM0001 fw=1.2.3 proto=1\r\n');
    const bytes = bannerBytes(info);
    expect(bytes[bytes.length - 1]).toBe(0);
    expect(parseBannerLine(bannerLine(info))).toEqual(info);
  });

  it('stays printable ASCII without spaces in values, and within 200 bytes, whatever the names', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string({ maxLength: 100 }), fc.string({ maxLength: 100 }), (vendor, model, serial) => {
        const line = bannerLine({ ...info, vendor, model, serial, firmwareVersion: [65535, 65535, 65535] });
        expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_BANNER_BYTES);
        expect(/^[\x20-\x7e]*\r\n$/.test(line)).toBe(true);
        expect(parseBannerLine(line)).toBeDefined();
      }),
      { numRuns: fuzzRuns(500) },
    );
  });

  it('refuses lines that are not banners', () => {
    expect(parseBannerLine('HELLO')).toBeUndefined();
    expect(parseBannerLine('UNICARD-TERMINAL vendor=a model=b serial=c fw=1.0 proto=1')).toBeUndefined();
  });
});

describe('response cache', () => {
  it('hits on the same bytes, conflicts on other bytes, evicts the oldest beyond its capacity', () => {
    const c = new ResponseCache(32);
    const req = (n: number): Uint8Array => new Uint8Array([n, n]);
    for (let id = 1; id <= 33; id++) c.put(id, { request: req(id), response: new Uint8Array([0xff, id]) });
    expect(c.size).toBe(32);
    expect(c.lookup(1, req(1))).toEqual({ kind: 'miss' });
    expect(c.lookup(2, req(2))).toEqual({ kind: 'hit', response: new Uint8Array([0xff, 2]) });
    expect(c.lookup(2, req(3))).toEqual({ kind: 'conflict' });
    expect(() => new ResponseCache(31)).toThrow(RangeError);
  });
});

describe('quirks', () => {
  const msg: Message = { type: 'Ping', id: 77, data: new Uint8Array([1, 2]) };

  it('non-canonical CBOR keeps the value but fails the canonical decoder', () => {
    const bytes = encodeMessage(msg);
    const bad = nonCanonicalMessage(bytes);
    expect(bad.length).toBe(bytes.length + 1);
    expect(() => decodeMessage(bad)).toThrow(CodecError);
    try {
      decodeCanonical(bad);
    } catch (e) {
      expect((e as CodecError).code).toBe('CBOR_NON_CANONICAL');
    }
  });

  it('bad CRC keeps valid COBS and fails exactly at the CRC check, with or without a leading delimiter', () => {
    for (const leadingDelimiter of [false, true]) {
      const frame = encodeFrame({ flags: 0, seq: 3, payload: encodeMessage(msg) }, { leadingDelimiter });
      const events = new FrameDecoder().push(withBadCrc(frame));
      expect(events).toHaveLength(1);
      expect(events[0]?.kind === 'error' && events[0].error.code).toBe('FRAME_CRC_MISMATCH');
    }
  });

  it('a quirk set lists what is on, in table order', () => {
    const q = new QuirkSet();
    q.set('no_keepalive');
    q.set('bad_crc');
    q.set('no_keepalive', false);
    q.set('non_canonical_cbor');
    expect(q.list()).toEqual(['non_canonical_cbor', 'bad_crc']);
  });
});

describe('faults', () => {
  it('drop and corrupt at a rate are seeded: the same seed damages the same bytes', () => {
    const run = (seed: number): Uint8Array => {
      const f = new FaultInjector(new ManualClock(), seed);
      f.setDrop(0.1);
      f.setCorrupt(0.1);
      return f.mangle(new Uint8Array(1000).fill(0x55), 'out');
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
    const out = run(42);
    expect(out.length).toBeGreaterThan(800);
    expect(out.length).toBeLessThan(1000);
    expect(out.some((b) => b !== 0x55)).toBe(true);
  });

  it('applies only in the direction asked for, and not at rate 0', () => {
    const f = new FaultInjector(new ManualClock(), 1);
    const data = new Uint8Array(100).fill(1);
    expect(f.mangle(data, 'in')).toBe(data);
    f.setDrop(1, 'in');
    expect(f.mangle(data, 'in').length).toBe(0);
    expect(f.mangle(data, 'out')).toEqual(data);
    expect(() => f.setDrop(-0.1)).toThrow(RangeError);
    expect(() => f.setCorrupt(1.5)).toThrow(RangeError);
  });

  it('a stall holds both directions and releases them in order', async () => {
    const clock = new ManualClock();
    const f = new FaultInjector(clock, 1);
    const [a, b] = createMemoryLinkPair();
    const fa = f.wrap(a);
    const gotAtB: number[] = [];
    const gotAtA: number[] = [];
    b.onData((c) => gotAtB.push(...c));
    fa.onData((c) => gotAtA.push(...c));
    f.stall(500);
    void fa.write(new Uint8Array([1]));
    void fa.write(new Uint8Array([2]));
    void b.write(new Uint8Array([9]));
    for (let i = 0; i < 10; i++) await flushMicrotasks();
    expect(gotAtB).toEqual([]);
    expect(gotAtA).toEqual([]);
    await clock.advanceAsync(500);
    for (let i = 0; i < 10; i++) await flushMicrotasks();
    expect(gotAtB).toEqual([1, 2]);
    expect(gotAtA).toEqual([9]);
    await a.close();
  });
});

describe('wire errors', () => {
  it('maps terminal, hardware, codec and unknown errors to the wire table', () => {
    expect(wireErrorOf(new TerminalError('NO_CARD', 'x'))).toMatchObject({ name: 'NO_CARD', code: WireError.NO_CARD });
    expect(wireErrorOf(new HardwareError('FIRMWARE_WRONG_MODEL', 'x')).name).toBe('FIRMWARE_BAD_HEADER');
    expect(wireErrorOf(new CodecError('MSG_UNKNOWN_TYPE', 'x')).name).toBe('UNKNOWN_MESSAGE');
    const internal = wireErrorOf(new Error('secret stack details'));
    expect(internal).toEqual({ name: 'INTERNAL', code: 0xff, message: 'internal error' });
  });

  it('cuts messages to 256 UTF-8 bytes on a character boundary', () => {
    const s = 'ب'.repeat(200); // 2 bytes each
    const cut = truncateUtf8(s, 255);
    expect(Buffer.byteLength(cut)).toBe(254);
    expect(cut).toBe('ب'.repeat(127));
  });
});

describe('event log', () => {
  it('keeps the newest entries with increasing sequence numbers', () => {
    const log = new EventLog(() => null, 4);
    for (let i = 0; i < 6; i++) log.append('info', `e${i}`);
    expect(log.read(0, 10).map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect(log.read(5, 10).map((e) => e.event)).toEqual(['e4', 'e5']);
    expect(log.nextSeq).toBe(7);
    expect(log.read(0, 1)[0]?.unixMs).toBeNull();
  });
});

describe('control lines', () => {
  it('reads JSON objects and words', () => {
    expect(parseControlLine('{"cmd":"insert","card":"PSD-000001"}')).toEqual({ cmd: 'insert', card: 'PSD-000001' });
    expect(parseControlWords('finger 2')).toEqual({ cmd: 'finger', finger: '2' });
    expect(parseControlWords('  drop 0.5 in ')).toEqual({ cmd: 'drop', rate: '0.5', direction: 'in' });
    expect(parseControlWords('quirk bad_crc off')).toEqual({ cmd: 'quirk', name: 'bad_crc', enabled: 'off' });
    expect(() => parseControlLine('{nope')).toThrow(SyntaxError);
  });
});
