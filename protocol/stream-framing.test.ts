import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../test/support/fuzz.js';
import { FramingError } from './errors.js';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FrameDecoder,
  MAX_FRAME_SIZE_LIMIT,
  MIN_FRAME_SIZE,
  encodeFrame,
  framingOverhead,
  maxEncodedFrameSize,
  maxPayloadSize,
  measureFramingOverhead,
  type FrameDecoderEvent,
  type Packet,
} from './stream-framing.js';

// ---------------------------------------------------------------- vectors

interface PacketJson {
  flags: number;
  seq: number;
  payloadHex: string;
}
type ExpectJson = { frame: PacketJson } | { error: string; discarded: number };
interface StreamVectors {
  source: string;
  defaultMaxFrameSize: number;
  encode: { name: string; packet: PacketJson; leadingDelimiter?: boolean; bodyHex: string; crc: string; wireHex: string }[];
  encodeErrors: { name: string; packet: PacketJson; maxFrameSize?: number; error: string }[];
  decode: {
    name: string;
    maxFrameSize?: number;
    allSplits?: boolean;
    chunksHex: string[];
    expect: ExpectJson[];
    counters: { framesOk: number; emptyFrames: number; bytesReceived: number; bytesDiscarded: number };
  }[];
  overheadWorstCase: { payloadBytes: number; wireBytes: number; overheadBytes: number; stuffingBytes: number }[];
}
const vectors = JSON.parse(
  readFileSync(new URL('../test/vectors/framing-stream.json', import.meta.url), 'utf8'),
) as StreamVectors;

const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const packetOf = (p: PacketJson): Packet => ({ flags: p.flags, seq: p.seq, payload: fromHex(p.payloadHex) });
const jsonOf = (p: Packet): PacketJson => ({ flags: p.flags, seq: p.seq, payloadHex: toHex(p.payload) });

/** Events as plain data: frames, or error codes (with discarded when asked). */
function summarize(events: FrameDecoderEvent[], withDiscarded: boolean): unknown[] {
  return events.map((e) =>
    e.kind === 'frame'
      ? { frame: jsonOf(e.packet) }
      : withDiscarded
        ? { error: e.error.code, discarded: e.discarded }
        : { error: e.error.code },
  );
}

function decodeAll(chunks: Uint8Array[], maxFrameSize?: number): { events: FrameDecoderEvent[]; decoder: FrameDecoder } {
  const decoder = new FrameDecoder(maxFrameSize === undefined ? {} : { maxFrameSize });
  const events: FrameDecoderEvent[] = [];
  for (const c of chunks) events.push(...decoder.push(c));
  return { events, decoder };
}

// ---------------------------------------------------------------- reference decoder
// Written from the spec, whole-stream and slow, sharing no code with the implementation:
// split at 0x00, COBS-decode block by block, bitwise CRC-32C, header checks.

function refCrc(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function refCobsDecode(enc: number[]): number[] | null {
  const out: number[] = [];
  let i = 0;
  while (i < enc.length) {
    const code = enc[i] as number;
    if (code === 0 || i + code > enc.length) return null;
    out.push(...enc.slice(i + 1, i + code));
    i += code;
    if (code < 0xff && i < enc.length) out.push(0);
  }
  return enc.length === 0 ? null : out;
}

/** Codes (or frames) for a whole stream; a trailing unterminated part counts only if oversized. */
function referenceDecode(stream: Uint8Array, maxFrameSize: number): unknown[] {
  const capacity = maxFrameSize + Math.floor(maxFrameSize / 254) + 1;
  const out: unknown[] = [];
  let current: number[] = [];
  const finish = (): void => {
    const enc = current;
    current = [];
    if (enc.length === 0) return;
    if (enc.length > capacity) return void out.push({ error: 'FRAME_TOO_LARGE' });
    const body = refCobsDecode(enc);
    if (body === null) return void out.push({ error: 'FRAME_COBS_INVALID' });
    if (body.length > maxFrameSize) return void out.push({ error: 'FRAME_TOO_LARGE' });
    if (body.length < 7) return void out.push({ error: 'FRAME_TOO_SHORT' });
    const n = body.length;
    const crc = ((body[n - 4] as number) | ((body[n - 3] as number) << 8) | ((body[n - 2] as number) << 16) | ((body[n - 1] as number) << 24)) >>> 0;
    if (crc !== refCrc(Uint8Array.from(body.slice(0, n - 4)))) return void out.push({ error: 'FRAME_CRC_MISMATCH' });
    if (body[0] !== 1) return void out.push({ error: 'FRAME_BAD_VERSION' });
    // Flags: SEALED (1) and SEGMENT (2) in any mix, or LINK (4) alone.
    const f = body[1] as number;
    if ((f & ~0x07) !== 0 || ((f & 0x04) !== 0 && f !== 0x04)) return void out.push({ error: 'FRAME_BAD_FLAGS' });
    out.push({ frame: { flags: body[1], seq: body[2], payloadHex: toHex(Uint8Array.from(body.slice(3, n - 4))) } });
  };
  for (const b of stream) {
    if (b === 0) finish();
    else current.push(b);
  }
  if (current.length > capacity) out.push({ error: 'FRAME_TOO_LARGE' });
  return out;
}

describe('stream framing vectors', () => {
  it('names its source and default', () => {
    expect(vectors.source.length).toBeGreaterThan(20);
    expect(vectors.defaultMaxFrameSize).toBe(DEFAULT_MAX_FRAME_SIZE);
  });

  for (const c of vectors.encode) {
    it(`encode: ${c.name}`, () => {
      const wire = encodeFrame(packetOf(c.packet), { leadingDelimiter: c.leadingDelimiter === true });
      expect(toHex(wire)).toBe(c.wireHex);
      // The body and CRC columns agree with the reference, and the reference decodes the wire.
      const body = fromHex(c.bodyHex);
      expect(refCrc(body.subarray(0, body.length - 4))).toBe(Number.parseInt(c.crc, 16));
      expect(referenceDecode(wire, DEFAULT_MAX_FRAME_SIZE)).toEqual([{ frame: c.packet }]);
    });
  }

  for (const c of vectors.encodeErrors) {
    it(`encode refuses: ${c.name}`, () => {
      const opts = c.maxFrameSize === undefined ? {} : { maxFrameSize: c.maxFrameSize };
      let caught: unknown;
      try {
        encodeFrame(packetOf(c.packet), opts);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(FramingError);
      expect((caught as FramingError).code).toBe(c.error);
    });
  }

  for (const c of vectors.decode) {
    it(`decode: ${c.name}`, () => {
      const chunks = c.chunksHex.map(fromHex);
      const { events, decoder } = decodeAll(chunks, c.maxFrameSize);
      expect(summarize(events, true)).toEqual(c.expect);
      const counters = decoder.counters();
      expect({
        framesOk: counters.framesOk,
        emptyFrames: counters.emptyFrames,
        bytesReceived: counters.bytesReceived,
        bytesDiscarded: counters.bytesDiscarded,
      }).toEqual(c.counters);
      // Independent check of the expected codes and frames.
      const stream = concat(chunks);
      const codesOnly = c.expect.map((e) => ('frame' in e ? e : { error: e.error }));
      expect(referenceDecode(stream, c.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE)).toEqual(codesOnly);
    });

    if (c.allSplits === true) {
      it(`decode split at every position: ${c.name}`, () => {
        const stream = concat(c.chunksHex.map(fromHex));
        const codesOnly = c.expect.map((e) => ('frame' in e ? e : { error: e.error }));
        for (let cut = 0; cut <= stream.length; cut++) {
          const { events } = decodeAll([stream.subarray(0, cut), stream.subarray(cut)], c.maxFrameSize);
          expect(summarize(events, false)).toEqual(codesOnly);
        }
        const byteByByte = [...stream].map((b) => Uint8Array.of(b));
        expect(summarize(decodeAll(byteByByte, c.maxFrameSize).events, false)).toEqual(codesOnly);
      });
    }
  }

  it('worst-case overhead table', () => {
    for (const row of vectors.overheadWorstCase) expect(framingOverhead(row.payloadBytes)).toEqual(row);
  });
});

// ---------------------------------------------------------------- unit tests

describe('encodeFrame', () => {
  it('writes at most the worst case and exactly what the decoder takes back', () => {
    const payload = new Uint8Array(1000).fill(0x42);
    const wire = encodeFrame({ flags: 0, seq: 3, payload });
    expect(wire.length).toBe(framingOverhead(1000).wireBytes);
    expect(wire[wire.length - 1]).toBe(0);
    expect(wire.subarray(0, -1).includes(0)).toBe(false);
  });

  it('allows exactly maxPayloadSize bytes', () => {
    const max = maxPayloadSize(64);
    expect(max).toBe(57);
    expect(encodeFrame({ flags: 0, seq: 0, payload: new Uint8Array(max) }, { maxFrameSize: 64 }).length).toBeGreaterThan(64);
    expect(() => encodeFrame({ flags: 0, seq: 0, payload: new Uint8Array(max + 1) }, { maxFrameSize: 64 })).toThrow(
      FramingError,
    );
    expect(maxPayloadSize()).toBe(DEFAULT_MAX_FRAME_SIZE - MIN_FRAME_SIZE);
  });

  it('refuses a limit outside 7..65535', () => {
    for (const maxFrameSize of [6, 65536, 1.5, Number.NaN]) {
      expect(() => encodeFrame({ flags: 0, seq: 0, payload: new Uint8Array() }, { maxFrameSize })).toThrow(/maxFrameSize/);
    }
    expect(encodeFrame({ flags: 0, seq: 0, payload: new Uint8Array() }, { maxFrameSize: MIN_FRAME_SIZE }).length).toBe(9);
  });
});

describe('framing overhead', () => {
  it('at 256 B: 7 fixed bytes (2.7 %) plus at most 3 of stuffing and delimiter (1.2 %)', () => {
    const o = framingOverhead(256);
    expect(o.overheadBytes - o.stuffingBytes).toBe(7);
    expect(o.stuffingBytes / 256).toBeLessThanOrEqual(0.012);
    expect(framingOverhead(1024).stuffingBytes / 1024).toBeLessThanOrEqual(0.006);
  });

  it('property: the measured cost never exceeds the worst case', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (payload) => {
        const measured = measureFramingOverhead({ flags: 0, seq: 0, payload });
        const worst = framingOverhead(payload.length);
        expect(measured.wireBytes).toBeLessThanOrEqual(worst.wireBytes);
        expect(measured.overheadBytes).toBe(measured.wireBytes - payload.length);
        expect(measured.stuffingBytes).toBe(measured.overheadBytes - 7);
        expect(measured.stuffingBytes).toBeGreaterThanOrEqual(2);
      }),
      { numRuns: fuzzRuns(500) },
    );
  });
});

describe('FrameDecoder', () => {
  const frame = (seq: number, payloadHex = '0102'): Uint8Array =>
    encodeFrame({ flags: 0, seq, payload: fromHex(payloadHex) });

  it('allocates its receive buffer for the encoded limit', () => {
    expect(new FrameDecoder().capacity).toBe(maxEncodedFrameSize(DEFAULT_MAX_FRAME_SIZE));
    expect(new FrameDecoder({ maxFrameSize: 254 }).capacity).toBe(256);
    expect(new FrameDecoder({ maxFrameSize: MAX_FRAME_SIZE_LIMIT }).capacity).toBe(65535 + 258 + 1);
  });

  it('refuses a limit outside 7..65535 with FRAME_BAD_LIMIT', () => {
    for (const maxFrameSize of [0, 6, 65536, 100.5]) {
      let caught: unknown;
      try {
        new FrameDecoder({ maxFrameSize });
      } catch (e) {
        caught = e;
      }
      expect((caught as FramingError).code).toBe('FRAME_BAD_LIMIT');
    }
  });

  it('accepts a frame of exactly maxFrameSize and refuses one byte more', () => {
    const ok = encodeFrame({ flags: 0, seq: 0, payload: new Uint8Array(9).fill(1) }, { maxFrameSize: 16 });
    const tooBig = encodeFrame({ flags: 0, seq: 0, payload: new Uint8Array(10).fill(1) }, { maxFrameSize: 17 });
    const { events } = decodeAll([ok, tooBig], 16);
    expect(summarize(events, false)).toEqual([
      { frame: { flags: 0, seq: 0, payloadHex: '01'.repeat(9) } },
      { error: 'FRAME_TOO_LARGE' },
    ]);
  });

  it('accepts the paper form of COBS (extra 0x01 block after a full block)', () => {
    // A 254-byte body with no zero byte ends on a full block: FF + 254 bytes. Find a payload
    // whose CRC has no zero byte either.
    let wire: Uint8Array = new Uint8Array();
    for (let v = 1; v < 256 && wire.length !== 256; v++) {
      wire = encodeFrame({ flags: 1, seq: 1, payload: new Uint8Array(247).fill(v) });
    }
    expect(wire.length).toBe(256);
    expect(wire[0]).toBe(0xff);
    const paper = concat([wire.subarray(0, -1), Uint8Array.of(0x01, 0x00)]);
    const { events } = decodeAll([paper]);
    expect(events).toHaveLength(1);
    expect(events[0]?.kind === 'frame' && events[0].packet.payload.length).toBe(247);
  });

  it('reports an oversized frame once, then resynchronises at the next 0x00', () => {
    const decoder = new FrameDecoder({ maxFrameSize: 16 });
    const first = decoder.push(new Uint8Array(17).fill(0x41));
    expect(first).toEqual([]);
    const second = decoder.push(new Uint8Array(100).fill(0x41));
    expect(second).toHaveLength(1);
    expect(second[0]?.kind === 'error' && second[0].error.code).toBe('FRAME_TOO_LARGE');
    expect(second[0]?.kind === 'error' && second[0].discarded).toBe(117);
    expect(decoder.pendingBytes).toBe(0);
    expect(decoder.push(new Uint8Array(1000).fill(0x41))).toEqual([]);
    const after = decoder.push(concat([Uint8Array.of(0), frame(5)]));
    expect(summarize(after, false)).toEqual([{ frame: { flags: 0, seq: 5, payloadHex: '0102' } }]);
    const counters = decoder.counters();
    expect(counters.errors.FRAME_TOO_LARGE).toBe(1);
    expect(counters.bytesDiscarded).toBe(1117);
    expect(counters.bytesReceived).toBe(1117 + 1 + frame(5).length);
  });

  it('reset drops a partial frame', () => {
    const decoder = new FrameDecoder();
    const f = frame(1);
    decoder.push(f.subarray(0, 4));
    expect(decoder.pendingBytes).toBe(4);
    decoder.reset();
    expect(decoder.pendingBytes).toBe(0);
    expect(summarize(decoder.push(f), false)).toEqual([{ frame: { flags: 0, seq: 1, payloadHex: '0102' } }]);
    expect(decoder.counters().bytesDiscarded).toBe(4);
  });

  it('counts errors by code and returns snapshots', () => {
    const decoder = new FrameDecoder();
    decoder.push(fromHex('0511220000070102030405060000'));
    const snap = decoder.counters();
    expect(snap.errors.FRAME_COBS_INVALID).toBe(1);
    expect(snap.errors.FRAME_TOO_SHORT).toBe(1);
    expect(snap.emptyFrames).toBe(2);
    snap.errors.FRAME_COBS_INVALID = 99;
    expect(decoder.counters().errors.FRAME_COBS_INVALID).toBe(1);
  });

  it('payloads do not alias the receive buffer', () => {
    const decoder = new FrameDecoder();
    const [a] = decoder.push(frame(1, 'aaaa'));
    decoder.push(frame(2, 'bbbb'));
    expect(a?.kind === 'frame' && toHex(a.packet.payload)).toBe('aaaa');
  });
});

// ---------------------------------------------------------------- property and fuzz tests

const smallPacketArb: fc.Arbitrary<Packet> = fc.record({
  flags: fc.constantFrom(0, 1),
  seq: fc.integer({ min: 0, max: 255 }),
  // Long payloads (crossing a 254-byte COBS block) are rarer: generating them dominates run time.
  payload: fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 24 }), weight: 3 },
    { arbitrary: fc.uint8Array({ minLength: 250, maxLength: 300 }), weight: 1 },
    { arbitrary: fc.array(fc.constantFrom(0, 0, 1, 0xff), { maxLength: 40 }).map((a) => Uint8Array.from(a)), weight: 3 },
  ),
});

const packetArb: fc.Arbitrary<Packet> = fc.record({
  flags: fc.constantFrom(0, 1),
  seq: fc.integer({ min: 0, max: 255 }),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.uint8Array({ minLength: 240, maxLength: 600, size: 'max' }),
    fc.array(fc.constantFrom(0, 0, 1, 0xff), { maxLength: 80 }).map((a) => Uint8Array.from(a)),
  ),
});

/** Cuts `bytes` at the given positions (taken modulo its length). */
function chunkify(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

const STREAM_CODES = new Set([
  'FRAME_TOO_LARGE',
  'FRAME_TOO_SHORT',
  'FRAME_COBS_INVALID',
  'FRAME_CRC_MISMATCH',
  'FRAME_BAD_VERSION',
  'FRAME_BAD_FLAGS',
]);

/** Plain check for hot loops (vitest's expect is slow at 40,000 runs). */
function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`invariant broken: ${what}`);
}

/** Runs the decoder over `chunks` checking the invariants after every push. */
function checkedDecode(chunks: Uint8Array[], maxFrameSize: number): FrameDecoderEvent[] {
  const decoder = new FrameDecoder({ maxFrameSize });
  const capacity = decoder.capacity;
  const events: FrameDecoderEvent[] = [];
  for (const c of chunks) {
    const got = decoder.push(c); // never throws: a throw fails the property
    for (const e of got) {
      if (e.kind === 'frame') {
        check(e.packet.payload.length <= maxFrameSize - MIN_FRAME_SIZE, 'payload within the limit');
      } else {
        check(e.error instanceof FramingError && STREAM_CODES.has(e.error.code), 'typed stream error');
        check(e.discarded > 0, 'an error discards bytes');
      }
    }
    check(decoder.pendingBytes <= capacity && decoder.capacity === capacity, 'buffer within capacity');
    events.push(...got);
  }
  const counters = decoder.counters();
  const errors = Object.values(counters.errors).reduce((a, b) => a + b, 0);
  check(counters.framesOk + errors === events.length, 'counters match events');
  check(counters.bytesDiscarded <= counters.bytesReceived, 'discarded within received');
  return events;
}

describe('FrameDecoder properties', () => {
  it('property: encode then decode gives the packets back, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(packetArb, fc.boolean()), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (items, cuts) => {
          const wire = concat(items.map(([p, lead]) => encodeFrame(p, { leadingDelimiter: lead })));
          const events = checkedDecode(chunkify(wire, cuts), DEFAULT_MAX_FRAME_SIZE);
          expect(summarize(events, false)).toEqual(items.map(([p]) => ({ frame: jsonOf(p) })));
        },
      ),
      { numRuns: fuzzRuns(5000) },
    );
  });

  it('property: frames up to the 64 KiB limit decode however they are cut, as the receive buffer grows from 1 KiB', () => {
    const big: fc.Arbitrary<Packet> = fc.record({
      flags: fc.constantFrom(0, 1),
      seq: fc.integer({ min: 0, max: 255 }),
      payload: fc.integer({ min: 0, max: MAX_FRAME_SIZE_LIMIT - 7 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.oneof(packetArb, big), fc.boolean()), { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 12 }), (items, cuts) => {
        const wire = concat(items.map(([p, lead]) => encodeFrame(p, { leadingDelimiter: lead, maxFrameSize: MAX_FRAME_SIZE_LIMIT })));
        const events = checkedDecode(chunkify(wire, cuts), MAX_FRAME_SIZE_LIMIT);
        expect(summarize(events, false)).toEqual(items.map(([p]) => ({ frame: jsonOf(p) })));
      }),
      { numRuns: fuzzRuns(60) },
    );
  });

  it('fuzz: random bytes end in frames or typed errors, agree with the reference decoder, stay within the limit', () => {
    const byte = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(
        fc.array(byte, { maxLength: 160 }),
        fc.constantFrom(7, 16, 64, 300),
        fc.array(fc.nat(), { maxLength: 6 }),
        (arr, maxFrameSize, cuts) => {
          const stream = Uint8Array.from(arr);
          const events = checkedDecode(chunkify(stream, cuts), maxFrameSize);
          expect(summarize(events, false)).toEqual(referenceDecode(stream, maxFrameSize));
        },
      ),
      { numRuns: fuzzRuns(40000) },
    );
  });

  it('fuzz: mutated valid streams end in frames or typed errors, and the decoder recovers at the next delimiter', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0xff) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.array(smallPacketArb, { minLength: 1, maxLength: 3 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.constantFrom(64, 300, DEFAULT_MAX_FRAME_SIZE),
        fc.array(fc.nat(), { maxLength: 6 }),
        (packets, mutations, maxFrameSize, cuts) => {
          const small = packets.filter((p) => p.payload.length + MIN_FRAME_SIZE <= maxFrameSize);
          let bytes = [...concat(small.map((p) => encodeFrame(p, { maxFrameSize })))];
          for (const m of mutations) {
            const at = bytes.length === 0 ? 0 : m.at % bytes.length;
            if (m.kind === 'flip') bytes[at] = ((bytes[at] ?? 0) ^ (1 << m.bit)) & 0xff;
            else if (m.kind === 'delete') bytes.splice(at, m.n);
            else if (m.kind === 'insert') bytes.splice(at, 0, m.value);
            else if (m.kind === 'set') bytes[at] = m.value;
            else bytes = bytes.slice(0, at);
          }
          // A clean frame sent with a leading delimiter always arrives after any damage.
          const marker: Packet = { flags: 1, seq: 0xa5, payload: Uint8Array.of(0xde, 0xad) };
          const stream = concat([Uint8Array.from(bytes), encodeFrame(marker, { leadingDelimiter: true })]);
          const events = checkedDecode(chunkify(stream, cuts), maxFrameSize);
          expect(summarize(events, false)).toEqual(referenceDecode(stream, maxFrameSize));
          expect(summarize(events.slice(-1), false)).toEqual([{ frame: jsonOf(marker) }]);
        },
      ),
      { numRuns: fuzzRuns(40000) },
    );
  });
});

// ---------------------------------------------------------------- the spec's examples

describe('PROTOCOL.d/20-stream-framing.md examples come from the vectors', () => {
  const doc = readFileSync(new URL('../PROTOCOL.d/20-stream-framing.md', import.meta.url), 'utf8');
  const lines = [...doc.matchAll(/^(body|wire|in|data|cobs) {2,}([0-9a-f]{2}(?: [0-9a-f]{2})*)$/gm)].map((m) => ({
    label: m[1] ?? '',
    hex: (m[2] ?? '').replaceAll(' ', ''),
  }));

  it('has worked examples', () => {
    expect(lines.length).toBeGreaterThanOrEqual(25);
  });

  it('every body and wire line is an encode vector', () => {
    for (const { label, hex } of lines.filter((l) => l.label === 'body' || l.label === 'wire')) {
      const field = label === 'body' ? 'bodyHex' : 'wireHex';
      expect(vectors.encode.map((e) => e[field]), `${label} ${hex}`).toContain(hex);
    }
  });

  it('every in line is the stream of a decode vector', () => {
    const streams = vectors.decode.map((d) => d.chunksHex.join(''));
    for (const { hex } of lines.filter((l) => l.label === 'in')) expect(streams, hex).toContain(hex);
  });

  it('every data/cobs pair is a COBS vector', () => {
    const cobs = (JSON.parse(readFileSync(new URL('../test/vectors/framing-stream.json', import.meta.url), 'utf8')) as {
      cobs: { decodedHex: string; encodedHex: string }[];
    }).cobs.map((c) => `${c.decodedHex}>${c.encodedHex}`);
    const pairs = lines.filter((l) => l.label === 'data' || l.label === 'cobs');
    expect(pairs.length % 2).toBe(0);
    for (let i = 0; i < pairs.length; i += 2) {
      expect(pairs[i]?.label).toBe('data');
      expect(cobs).toContain(`${pairs[i]?.hex}>${pairs[i + 1]?.hex}`);
    }
  });

  it('the CRC table lists every CRC-32C vector with its trailer bytes', () => {
    const crc = JSON.parse(readFileSync(new URL('../test/vectors/crc32c.json', import.meta.url), 'utf8')) as {
      cases: { crc: string; wireBytesLittleEndianHex: string }[];
    };
    for (const c of crc.cases) {
      const trailer = c.wireBytesLittleEndianHex.match(/../g)?.join(' ') ?? '';
      expect(doc).toContain(`| \`${c.crc}\` | \`${trailer}\` |`);
    }
  });

  it('the overhead table is framingOverhead()', () => {
    for (const p of [64, 256, 512, 1024, 4089]) {
      const o = framingOverhead(p);
      const pct = (n: number): string => `${((100 * n) / p).toFixed(1)} %`;
      const row = `| ${p.toLocaleString('en-US')} | ${o.wireBytes.toLocaleString('en-US')} | ${o.overheadBytes} (${pct(o.overheadBytes)}) | 7 (${pct(7)}) | ${o.stuffingBytes} (${pct(o.stuffingBytes)}) |`;
      expect(doc).toContain(row);
    }
  });
});
