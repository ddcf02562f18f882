import { readFileSync } from 'node:fs';
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
  buildInitRequest,
  buildInitResponse,
  decodeMsgPacket,
  fragmentMessage,
  fragmentPacket,
  parseInitRequest,
  parseInitResponse,
  type HidReassemblerEvent,
  type HidReassemblerOptions,
} from './hid-framing.js';

// ---------------------------------------------------------------- vectors

interface HidVectors {
  source: string;
  constants: { reportSize: number; maxMessageSize: number; broadcastCid: string; defaultTimeoutMs: number };
  fragment: { name: string; cid: string; cmd: string; dataHex: string; reportsHex: string[] }[];
  msgPacket: { cid: string; packet: { flags: number; seq: number; payloadHex: string }; dataHex: string; reportsHex: string[] };
  fragmentErrors: { name: string; cid: string; cmd: string; dataLength: number; error: string }[];
  initExchange: {
    nonceHex: string;
    requestReportsHex: string[];
    allocatorRandomBytesHex: string;
    device: { protocolVersion: number; deviceVersion: { major: number; minor: number; build: number }; capabilities: number };
    responseCid: string;
    responseDataHex: string;
    responseReportsHex: string[];
  };
  reassembly: {
    name: string;
    options?: HidReassemblerOptions;
    reports: { atMs: number; hex: string }[];
    expect: unknown[];
  }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('../test/vectors/framing-hid.json', import.meta.url), 'utf8'),
) as HidVectors;

const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hex32 = (n: number): string => '0x' + n.toString(16).toUpperCase().padStart(8, '0');
const num = (s: string): number => Number.parseInt(s, 16);

function summarize(events: HidReassemblerEvent[]): unknown[] {
  return events.map((e) =>
    e.kind === 'message'
      ? { message: { cid: hex32(e.cid), cmd: '0x' + e.cmd.toString(16), dataHex: toHex(e.data) } }
      : {
          error: e.error.code,
          cid: e.cid === null ? null : hex32(e.cid),
          hidErrorCode: '0x' + e.hidErrorCode.toString(16).padStart(2, '0'),
        },
  );
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FramingError);
    return (e as FramingError).code;
  }
  return undefined;
}

/** Reference fragmenter written from the spec's byte tables, sharing no code with the implementation. */
function referenceFragment(cid: number, cmd: number, data: Uint8Array): string[] {
  const cidHex = cid.toString(16).padStart(8, '0');
  const pad = (hex: string): string => hex + '00'.repeat(64 - hex.length / 2);
  const out = [pad(cidHex + cmd.toString(16).padStart(2, '0') + data.length.toString(16).padStart(4, '0') + toHex(data.subarray(0, 57)))];
  for (let seq = 0, off = 57; off < data.length; seq++, off += 59) {
    out.push(pad(cidHex + seq.toString(16).padStart(2, '0') + toHex(data.subarray(off, off + 59))));
  }
  return out;
}

describe('HID framing vectors', () => {
  it('names its source and constants', () => {
    expect(vectors.source).toMatch(/CTAPHID/);
    expect(vectors.constants.maxMessageSize).toBe(HID_MAX_MESSAGE_SIZE);
    expect(num(vectors.constants.broadcastCid)).toBe(HID_BROADCAST_CID);
  });

  for (const c of vectors.fragment) {
    it(`fragment: ${c.name}`, () => {
      const data = fromHex(c.dataHex);
      const reports = fragmentMessage(num(c.cid), num(c.cmd), data);
      expect(reports.map(toHex)).toEqual(c.reportsHex);
      expect(referenceFragment(num(c.cid), num(c.cmd), data)).toEqual(c.reportsHex);
      const r = new HidReassembler();
      const events = c.reportsHex.flatMap((hex, i) => r.push(fromHex(hex), i));
      expect(summarize(events)).toEqual([{ message: { cid: hex32(num(c.cid)), cmd: c.cmd, dataHex: c.dataHex } }]);
    });
  }

  it('fragment: the 7609-byte message uses every sequence number 0..127', () => {
    const big = vectors.fragment.find((f) => f.dataHex.length === 2 * 7609);
    expect(big?.reportsHex).toHaveLength(129);
    expect(big?.reportsHex[128]?.slice(8, 10)).toBe('7f');
  });

  it('MSG carries the packet bytes', () => {
    const m = vectors.msgPacket;
    const packet = { flags: m.packet.flags, seq: m.packet.seq, payload: fromHex(m.packet.payloadHex) };
    expect(fragmentPacket(num(m.cid), packet).map(toHex)).toEqual(m.reportsHex);
    expect(referenceFragment(num(m.cid), HidCommand.MSG, fromHex(m.dataHex))).toEqual(m.reportsHex);
    expect(decodeMsgPacket(fromHex(m.dataHex))).toEqual(packet);
  });

  for (const c of vectors.fragmentErrors) {
    it(`fragment refuses: ${c.name}`, () => {
      expect(codeOf(() => fragmentMessage(num(c.cid), num(c.cmd), new Uint8Array(c.dataLength)))).toBe(c.error);
    });
  }

  it('INIT exchange', () => {
    const v = vectors.initExchange;
    const nonce = fromHex(v.nonceHex);
    expect(buildInitRequest(nonce).map(toHex)).toEqual(v.requestReportsHex);

    // Device: reassemble the request, allocate with the recorded random bytes, answer.
    const device = new HidReassembler();
    const [req] = device.push(fromHex(v.requestReportsHex[0] ?? ''), 0);
    expect(req?.kind === 'message' && req.cid === HID_BROADCAST_CID && req.cmd === HidCommand.INIT).toBe(true);
    const allocator = new HidChannelAllocator({ randomBytes: () => fromHex(v.allocatorRandomBytesHex) });
    const answer = answerInit(allocator, HID_BROADCAST_CID, req?.kind === 'message' ? req.data : new Uint8Array(), v.device);
    expect(answer.reports.map(toHex)).toEqual(v.responseReportsHex);
    expect(hex32(answer.cid)).toBe(v.responseCid);
    expect(referenceFragment(HID_BROADCAST_CID, HidCommand.INIT, fromHex(v.responseDataHex))).toEqual(v.responseReportsHex);

    // Host: reassemble the response and parse it.
    const host = new HidReassembler();
    const [resp] = host.push(fromHex(v.responseReportsHex[0] ?? ''), 0);
    expect(resp?.kind === 'message' && toHex(resp.data)).toBe(v.responseDataHex);
    const parsed = parseInitResponse(fromHex(v.responseDataHex), nonce);
    expect(parsed).toEqual({
      nonce,
      cid: num(v.responseCid),
      protocolVersion: v.device.protocolVersion,
      deviceVersion: v.device.deviceVersion,
      capabilities: v.device.capabilities,
    });
  });

  for (const c of vectors.reassembly) {
    it(`reassembly: ${c.name}`, () => {
      const r = new HidReassembler(c.options);
      const events = c.reports.flatMap((rep) => r.push(fromHex(rep.hex), rep.atMs));
      expect(summarize(events)).toEqual(c.expect);
    });
  }
});

// ---------------------------------------------------------------- unit tests

describe('fragmentMessage', () => {
  it('pads with zeros and sets BCNT big-endian', () => {
    const [r] = fragmentMessage(0x01020304, HidCommand.PING, Uint8Array.of(0xaa, 0xbb));
    expect(toHex(r ?? new Uint8Array())).toBe('0102030481' + '0002' + 'aabb' + '00'.repeat(55));
  });

  it('honours a smaller configured limit', () => {
    expect(codeOf(() => fragmentMessage(5, HidCommand.MSG, new Uint8Array(101), { maxMessageSize: 100 }))).toBe(
      'HID_MESSAGE_TOO_LARGE',
    );
    expect(codeOf(() => fragmentMessage(5, HidCommand.MSG, new Uint8Array(1), { maxMessageSize: 7610 }))).toBe(
      'FRAME_BAD_LIMIT',
    );
  });

  it('error report carries one byte', () => {
    expect(toHex(buildErrorReport(7, HidErrorCode.INVALID_SEQ).subarray(0, 8))).toBe('00000007bf000104');
  });
});

describe('HidReassembler', () => {
  const CID = 0x11223344;
  const msg = (n: number, cid = CID, cmd: number = HidCommand.MSG): Uint8Array[] =>
    fragmentMessage(cid, cmd, Uint8Array.from({ length: n }, (_, i) => i & 0xff));

  it('refuses channels the filter does not accept', () => {
    const allocator = new HidChannelAllocator({ randomBytes: () => Uint8Array.of(0, 0, 0, 9) });
    const { cid } = allocator.allocate();
    const r = new HidReassembler({ channelFilter: (c) => allocator.has(c) });
    expect(summarize(r.push(msg(3, cid)[0] ?? new Uint8Array(), 0))).toHaveLength(1);
    const events = r.push(msg(3, 0x77)[0] ?? new Uint8Array(), 0);
    expect(events[0]?.kind === 'error' && events[0].error.code).toBe('HID_BAD_CHANNEL');
    expect(events[0]?.kind === 'error' && events[0].hidErrorCode).toBe(HidErrorCode.INVALID_CHANNEL);
    const cont = r.push(msg(100, 0x77)[1] ?? new Uint8Array(), 0);
    expect(cont[0]?.kind === 'error' && cont[0].error.code).toBe('HID_BAD_CHANNEL');
    // INIT on the broadcast channel passes whatever the filter says.
    expect(r.push(buildInitRequest(new Uint8Array(8))[0] ?? new Uint8Array(), 0)[0]?.kind).toBe('message');
  });

  it('expire() gives up overdue messages without a report, and late continuations are skipped silently', () => {
    const r = new HidReassembler({ timeoutMs: 100 });
    const reports = msg(200);
    r.push(reports[0] ?? new Uint8Array(), 0);
    expect(r.pendingChannels).toBe(1);
    expect(r.expire(100)).toEqual([]);
    const expired = r.expire(101);
    expect(expired[0]?.kind === 'error' && expired[0].error.code).toBe('HID_TIMEOUT');
    expect(r.pendingChannels).toBe(0);
    expect(r.push(reports[1] ?? new Uint8Array(), 102)).toEqual([]);
    expect(r.push(reports[2] ?? new Uint8Array(), 103)).toEqual([]);
    // The skip memory itself times out: a stray continuation much later is reported.
    const stray = r.push(reports[3] ?? new Uint8Array(), 1000);
    expect(stray[0]?.kind === 'error' && stray[0].error.code).toBe('HID_UNEXPECTED_CONTINUATION');
    const c = r.counters();
    expect(c.errors.HID_TIMEOUT).toBe(1);
    expect(c.reportsDiscarded).toBe(4);
    expect(c.reportsReceived).toBe(4);
  });

  it('a new message on the channel after an error is accepted', () => {
    const r = new HidReassembler();
    const a = msg(130);
    r.push(a[0] ?? new Uint8Array(), 0);
    r.push(a[2] ?? new Uint8Array(), 1); // gap
    const again = a.flatMap((rep) => r.push(rep, 2));
    expect(again.map((e) => e.kind)).toEqual(['message']);
  });

  it('dropChannel forgets a message in progress', () => {
    const r = new HidReassembler();
    const a = msg(130);
    r.push(a[0] ?? new Uint8Array(), 0);
    r.dropChannel(CID);
    expect(r.pendingChannels).toBe(0);
    const e = r.push(a[1] ?? new Uint8Array(), 0);
    expect(e[0]?.kind === 'error' && e[0].error.code).toBe('HID_UNEXPECTED_CONTINUATION');
  });

  it('refuses bad limits', () => {
    expect(codeOf(() => new HidReassembler({ maxMessageSize: 7610 }))).toBe('FRAME_BAD_LIMIT');
    expect(codeOf(() => new HidReassembler({ timeoutMs: 0 }))).toBe('FRAME_BAD_LIMIT');
    expect(codeOf(() => new HidReassembler({ maxPendingChannels: 0 }))).toBe('FRAME_BAD_LIMIT');
  });

  it('counts messages and errors', () => {
    const r = new HidReassembler();
    for (const rep of msg(60)) r.push(rep, 0);
    r.push(new Uint8Array(10), 0);
    const c = r.counters();
    expect(c.messagesOk).toBe(1);
    expect(c.errors.HID_REPORT_SIZE).toBe(1);
    expect(c.reportsReceived).toBe(3);
  });

  it('MSG data that is not a valid packet gives a typed error', () => {
    expect(codeOf(() => decodeMsgPacket(Uint8Array.of(1, 0)))).toBe('FRAME_TOO_SHORT');
    expect(codeOf(() => decodeMsgPacket(Uint8Array.of(9, 0, 0)))).toBe('FRAME_BAD_VERSION');
    expect(codeOf(() => decodeMsgPacket(Uint8Array.of(1, 4, 0)))).toBe('FRAME_BAD_FLAGS');
  });
});

describe('channel allocation', () => {
  /** randomBytes stub that returns the given u32 values in turn. */
  const sequence = (...values: number[]): ((n: number) => Uint8Array) => {
    let i = 0;
    return () => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, values[i++ % values.length] ?? 0);
      return b;
    };
  };

  it('never hands out 0, broadcast or a CID in use', () => {
    const a = new HidChannelAllocator({ randomBytes: sequence(0, 0xffffffff, 5, 5, 0, 6) });
    expect(a.allocate()).toEqual({ cid: 5, evicted: null });
    expect(a.allocate()).toEqual({ cid: 6, evicted: null });
    expect(a.channels()).toEqual([5, 6]);
  });

  it('evicts the least recently used channel when full', () => {
    const a = new HidChannelAllocator({ randomBytes: sequence(1, 2, 3, 4), maxChannels: 3 });
    a.allocate();
    a.allocate();
    a.allocate();
    a.touch(1);
    expect(a.allocate()).toEqual({ cid: 4, evicted: 2 });
    expect(a.size).toBe(3);
    expect(a.has(2)).toBe(false);
  });

  it('without eviction, full means HID_NO_CHANNELS; release frees a slot', () => {
    const a = new HidChannelAllocator({ randomBytes: sequence(1, 2, 3), maxChannels: 2, evictWhenFull: false });
    a.allocate();
    a.allocate();
    expect(codeOf(() => a.allocate())).toBe('HID_NO_CHANNELS');
    expect(a.release(1)).toBe(true);
    expect(a.release(1)).toBe(false);
    expect(a.allocate().cid).toBeGreaterThan(0);
  });

  it('a broken random source ends in HID_NO_CHANNELS, not a hang', () => {
    expect(codeOf(() => new HidChannelAllocator({ randomBytes: () => new Uint8Array(4) }).allocate())).toBe('HID_NO_CHANNELS');
    expect(codeOf(() => new HidChannelAllocator({ randomBytes: () => new Uint8Array(0) }).allocate())).toBe('HID_NO_CHANNELS');
    expect(codeOf(() => new HidChannelAllocator({ randomBytes: sequence(1), maxChannels: 0 }))).toBe('FRAME_BAD_LIMIT');
  });

  it('two host programs tell their replies apart by the nonce', () => {
    const allocator = new HidChannelAllocator({ randomBytes: sequence(0xa1, 0xb2) });
    const device = new HidReassembler({ channelFilter: (c) => allocator.has(c) });
    const nonceA = Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 1);
    const nonceB = Uint8Array.of(2, 2, 2, 2, 2, 2, 2, 2);
    const replies: Uint8Array[] = [];
    for (const nonce of [nonceA, nonceB]) {
      for (const ev of device.push(buildInitRequest(nonce)[0] ?? new Uint8Array(), 0)) {
        if (ev.kind === 'message') {
          replies.push(...answerInit(allocator, ev.cid, ev.data, { deviceVersion: { major: 0, minor: 1, build: 0 } }).reports);
        }
      }
    }
    // Both hosts read both replies on the broadcast channel.
    for (const [nonce, cid] of [
      [nonceA, 0xa1],
      [nonceB, 0xb2],
    ] as const) {
      const host = new HidReassembler();
      const mine = replies
        .flatMap((rep) => host.push(rep, 0))
        .map((e) => (e.kind === 'message' ? parseInitResponse(e.data, nonce) : undefined))
        .filter((p) => p !== null);
      expect(mine).toHaveLength(1);
      expect(mine[0]?.cid).toBe(cid);
    }
    // INIT on an allocated channel resynchronises it and keeps the CID.
    const resync = answerInit(allocator, 0xa1, nonceA, { deviceVersion: { major: 0, minor: 1, build: 0 } });
    expect(resync.cid).toBe(0xa1);
    expect(toHex(resync.reports[0]?.subarray(0, 4) ?? new Uint8Array())).toBe('000000a1');
  });

  it('INIT helpers check lengths', () => {
    const nonce = new Uint8Array(8);
    expect(codeOf(() => buildInitRequest(new Uint8Array(7)))).toBe('HID_BAD_NONCE');
    expect(codeOf(() => parseInitRequest(new Uint8Array(9)))).toBe('HID_BAD_LENGTH');
    expect(codeOf(() => parseInitResponse(new Uint8Array(16), nonce))).toBe('HID_BAD_LENGTH');
    expect(codeOf(() => parseInitResponse(new Uint8Array(17), new Uint8Array(4)))).toBe('HID_BAD_NONCE');
    expect(codeOf(() => parseInitResponse(new Uint8Array(17), nonce))).toBe('HID_BAD_CHANNEL');
    expect(
      codeOf(() =>
        buildInitResponse(HID_BROADCAST_CID, {
          nonce,
          cid: HID_BROADCAST_CID,
          protocolVersion: 1,
          deviceVersion: { major: 1, minor: 0, build: 0 },
          capabilities: 0,
        }),
      ),
    ).toBe('HID_BAD_CHANNEL');
  });
});

// ---------------------------------------------------------------- property and fuzz tests

const HID_CODES = new Set([
  'HID_REPORT_SIZE',
  'HID_BAD_CHANNEL',
  'HID_BAD_COMMAND',
  'HID_BAD_SEQUENCE',
  'HID_UNEXPECTED_CONTINUATION',
  'HID_MESSAGE_TOO_LARGE',
  'HID_CHANNEL_BUSY',
  'HID_TIMEOUT',
]);

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`invariant broken: ${what}`);
}

/** Pushes reports checking the invariants; returns the events. */
function checkedPush(r: HidReassembler, reports: [Uint8Array, number][]): HidReassemblerEvent[] {
  const events: HidReassemblerEvent[] = [];
  for (const [report, now] of reports) {
    for (const e of r.push(report, now)) {
      if (e.kind === 'message') {
        check(e.data.length <= r.maxMessageSize, 'message within the limit');
      } else {
        check(e.error instanceof FramingError && HID_CODES.has(e.error.code), 'typed HID error');
        check(Object.values(HidErrorCode).includes(e.hidErrorCode), 'known HID error code');
      }
      events.push(e);
    }
    check(r.pendingChannels <= r.maxPendingChannels, 'pending channels bounded');
  }
  return events;
}

describe('HidReassembler properties', () => {
  it('property: fragment then reassemble, several channels interleaved, gives the messages back', () => {
    const message = fc.record({
      cmd: fc.constantFrom(HidCommand.PING, HidCommand.MSG),
      data: fc.oneof(fc.uint8Array({ maxLength: 130 }), fc.uint8Array({ maxLength: HID_MAX_MESSAGE_SIZE, size: 'max' })),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 0xfffffffe }), { minLength: 1, maxLength: 4 }),
        fc.array(message, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 600 }),
        (cids, messages, picks) => {
          // One message per channel, reports interleaved in a random order that keeps each
          // channel's own order.
          const queues = cids.slice(0, messages.length).map((cid, i) => {
            const m = messages[i] ?? { cmd: HidCommand.PING, data: new Uint8Array() };
            return { cid, m, reports: fragmentMessage(cid, m.cmd, m.data) };
          });
          const order: Uint8Array[] = [];
          let p = 0;
          while (queues.some((q) => q.reports.length > 0)) {
            const live = queues.filter((q) => q.reports.length > 0);
            const q = live[(picks[p++ % Math.max(1, picks.length)] ?? 0) % live.length];
            const next = q?.reports.shift();
            if (next !== undefined) order.push(next);
          }
          const r = new HidReassembler();
          const events = checkedPush(r, order.map((rep, i) => [rep, i]));
          const got = new Map(events.map((e) => [e.kind === 'message' ? e.cid : -1, e]));
          expect(events.every((e) => e.kind === 'message')).toBe(true);
          for (const q of queues) {
            const e = got.get(q.cid);
            expect(e?.kind === 'message' && e.cmd === q.m.cmd && toHex(e.data) === toHex(q.m.data)).toBe(true);
          }
        },
      ),
      { numRuns: fuzzRuns(1500) },
    );
  });

  it('fuzz: random reports end in messages or typed errors, within the limits', () => {
    const cidArb = fc.oneof(fc.constantFrom(0, 1, 2, 0xffffffff), fc.nat());
    const reportArb = fc.oneof(
      // Structured: a plausible header with random fields.
      fc
        .record({
          cid: cidArb,
          b4: fc.oneof(fc.constantFrom(0x81, 0x83, 0x86, 0xbf), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 })),
          bcnt: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 0xffff })),
          fill: fc.integer({ min: 0, max: 255 }),
          length: fc.oneof(fc.constant(64), fc.constant(64), fc.constant(64), fc.integer({ min: 0, max: 70 })),
        })
        .map(({ cid, b4, bcnt, fill, length }) => {
          const r = new Uint8Array(length).fill(fill);
          const full = new Uint8Array(64).fill(fill);
          new DataView(full.buffer).setUint32(0, cid >>> 0);
          full[4] = b4;
          full[5] = bcnt >>> 8;
          full[6] = bcnt & 0xff;
          r.set(full.subarray(0, Math.min(64, length)));
          return r;
        }),
      fc.uint8Array({ minLength: 64, maxLength: 64 }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(reportArb, fc.integer({ min: 0, max: 4000 })), { maxLength: 12 }),
        fc.record({ maxMessageSize: fc.constantFrom(100, 7609), maxPendingChannels: fc.constantFrom(1, 4) }),
        (items, options) => {
          const r = new HidReassembler(options);
          let now = 0;
          checkedPush(
            r,
            items.map(([rep, dt]) => [rep, (now += dt)]),
          );
        },
      ),
      { numRuns: fuzzRuns(40000) },
    );
  });

  it('fuzz: damaged report streams end in typed errors, and a message after the timeout always arrives', () => {
    const damage = fc.oneof(
      fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('dup' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), pos: fc.integer({ min: 0, max: 63 }), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), length: fc.integer({ min: 0, max: 65 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(0x10, 0x20), fc.uint8Array({ maxLength: 300 })), { minLength: 1, maxLength: 3 }),
        fc.array(damage, { minLength: 1, maxLength: 4 }),
        (messages, damages) => {
          const reports = messages.flatMap(([cid, data]) => fragmentMessage(cid, HidCommand.MSG, data));
          for (const d of damages) {
            const at = d.at % Math.max(1, reports.length);
            const rep = reports[at];
            if (rep === undefined) continue;
            if (d.kind === 'drop') reports.splice(at, 1);
            else if (d.kind === 'dup') reports.splice(at, 0, rep);
            else if (d.kind === 'swap' && at + 1 < reports.length) {
              reports[at] = reports[at + 1] ?? rep;
              reports[at + 1] = rep;
            } else if (d.kind === 'byte') {
              const copy = rep.slice();
              copy[d.pos] = d.value;
              reports[at] = copy;
            } else if (d.kind === 'cut') {
              const copy = new Uint8Array(d.length);
              copy.set(rep.subarray(0, d.length));
              reports[at] = copy;
            }
          }
          const r = new HidReassembler();
          checkedPush(
            r,
            reports.map((rep, i) => [rep, i]),
          );
          // After the timeout, a clean message on a damaged channel is delivered.
          const later = reports.length + 3001;
          const marker = Uint8Array.from({ length: 100 }, (_, i) => i);
          const events = checkedPush(
            r,
            fragmentMessage(0x10, HidCommand.MSG, marker).map((rep) => [rep, later]),
          );
          const last = events[events.length - 1];
          expect(last?.kind === 'message' && last.cid === 0x10 && toHex(last.data) === toHex(marker)).toBe(true);
        },
      ),
      { numRuns: fuzzRuns(40000) },
    );
  });
});

// ---------------------------------------------------------------- the spec's examples

describe('PROTOCOL.d/30-hid-framing.md examples come from the vectors', () => {
  const doc = readFileSync(new URL('../PROTOCOL.d/30-hid-framing.md', import.meta.url), 'utf8');
  const raw = readFileSync(new URL('../test/vectors/framing-hid.json', import.meta.url), 'utf8');
  const all = JSON.parse(raw) as HidVectors & { errorReports: { cid: string; hidErrorCode: string; reportHex: string }[] };
  const known = new Set<string>([
    ...all.fragment.flatMap((f) => f.reportsHex),
    ...all.msgPacket.reportsHex,
    ...all.initExchange.requestReportsHex,
    ...all.initExchange.responseReportsHex,
    ...all.errorReports.map((e) => e.reportHex),
    ...all.reassembly.flatMap((c) => c.reports.map((r) => r.hex)),
  ]);
  const reports = [...doc.matchAll(/^report {2,}([0-9a-f]{2}(?: [0-9a-f]{2})*)(?: \(\+(\d+) × 00\))?$/gm)].map(
    (m) => (m[1] ?? '').replaceAll(' ', '') + '00'.repeat(Number(m[2] ?? 0)),
  );

  it('has worked examples, each a 64-byte report from the vectors', () => {
    expect(reports.length).toBeGreaterThanOrEqual(7);
    for (const hex of reports) {
      expect(hex.length, hex).toBe(128);
      expect(known.has(hex), hex).toBe(true);
    }
  });

  it('error reports in the vectors are what buildErrorReport writes', () => {
    for (const e of all.errorReports) expect(toHex(buildErrorReport(num(e.cid), num(e.hidErrorCode)))).toBe(e.reportHex);
  });

  it('the error-code table matches HidErrorCode', () => {
    for (const [name, code] of Object.entries(HidErrorCode)) {
      expect(doc).toContain(`| \`0x${code.toString(16).toUpperCase().padStart(2, '0')}\` | ${name} |`);
    }
  });
});
