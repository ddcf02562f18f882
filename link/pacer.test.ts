import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LinkError } from '../protocol/errors.js';
import { fuzzRuns } from '../test/support/fuzz.js';
import { Pacer, type PaceStep } from './pacer.js';

// 10,000 baud at 10 bits per byte is exactly 1 byte per millisecond: schedules are integers.
const ONE_BYTE_PER_MS = { baudRate: 10_000, bitsPerByte: 10, sliceMs: 2 };

/** Runs one write to the end, stepping exactly at each wakeAt plus `late(i)`; returns the steps. */
function drain(pacer: Pacer, start: number, late: (i: number) => number = () => 0): Array<PaceStep & { at: number }> {
  const steps: Array<PaceStep & { at: number }> = [];
  let at = start;
  for (let i = 0; i < 1_000_000; i++) {
    const step = pacer.step(at);
    steps.push({ ...step, at });
    if (step.done) return steps;
    at = (step.wakeAt ?? at) + late(i);
  }
  throw new Error('pacer never finished');
}

describe('Pacer', () => {
  it('derives byte time and slice size from the line settings', () => {
    const p = new Pacer({ baudRate: 115200 });
    expect(p.byteTimeMs).toBeCloseTo(1000 / 11520, 12);
    expect(p.sliceBytes).toBe(23); // 2 ms at 11,520 bytes/s
    expect(new Pacer({ baudRate: 115200, sliceMs: 1 }).sliceBytes).toBe(12);
    expect(new Pacer({ baudRate: 300, sliceMs: 1 }).sliceBytes).toBe(1);
  });

  it('hands over each slice when its last byte has left the wire', () => {
    const p = new Pacer(ONE_BYTE_PER_MS);
    p.begin(0, 5);
    expect(p.lineFreeAt).toBe(5);
    expect(drain(p, 0)).toEqual([
      { at: 0, from: 0, to: 0, done: false, wakeAt: 2, last: false },
      { at: 2, from: 0, to: 2, done: false, wakeAt: 4, last: false },
      { at: 4, from: 2, to: 4, done: false, wakeAt: 5, last: true },
      { at: 5, from: 4, to: 5, done: true },
    ]);
    expect(p.busy).toBe(false);
  });

  it('a short frame waits exactly its own wire time, not a whole slice', () => {
    const p = new Pacer({ baudRate: 10_000, bitsPerByte: 10, sliceMs: 50 });
    p.begin(0, 3);
    expect(p.step(0)).toEqual({ from: 0, to: 0, done: false, wakeAt: 3, last: true });
    expect(p.step(3)).toEqual({ from: 0, to: 3, done: true });
  });

  it('catches up after a late timer by releasing every due byte', () => {
    const p = new Pacer(ONE_BYTE_PER_MS);
    p.begin(0, 10);
    expect(p.step(0)).toEqual({ from: 0, to: 0, done: false, wakeAt: 2, last: false });
    expect(p.step(7.5)).toEqual({ from: 0, to: 7, done: false, wakeAt: 9, last: false });
    expect(p.step(9)).toEqual({ from: 7, to: 9, done: false, wakeAt: 10, last: true });
    expect(p.step(10)).toEqual({ from: 9, to: 10, done: true });
  });

  it('a step between deadlines (early or odd timer) releases only the bytes already on the wire', () => {
    const p = new Pacer(ONE_BYTE_PER_MS);
    p.begin(0, 4);
    expect(p.step(1.999)).toEqual({ from: 0, to: 1, done: false, wakeAt: 3, last: false });
    expect(p.step(2.5)).toEqual({ from: 1, to: 2, done: false, wakeAt: 4, last: true });
    expect(p.step(3.99)).toEqual({ from: 2, to: 3, done: false, wakeAt: 4, last: true });
    expect(p.step(4)).toEqual({ from: 3, to: 4, done: true });
  });

  it('queues a write issued while the line is busy behind the previous one', () => {
    const p = new Pacer(ONE_BYTE_PER_MS);
    p.begin(0, 4);
    drain(p, 0);
    // The second write was issued at t=1 (while the first was on the line): it starts at t=4.
    p.begin(1, 3);
    expect(p.lineFreeAt).toBe(7);
    // The pump reaches it late, at t=6: the bytes due by then go at once.
    expect(p.step(6)).toEqual({ from: 0, to: 2, done: false, wakeAt: 7, last: true });
    expect(p.step(7)).toEqual({ from: 2, to: 3, done: true });
  });

  it('gives no credit for idle time: a write after a pause starts when issued', () => {
    const p = new Pacer(ONE_BYTE_PER_MS);
    p.begin(0, 2);
    drain(p, 0);
    p.begin(100, 2);
    expect(p.lineFreeAt).toBe(102);
    expect(p.step(100)).toEqual({ from: 0, to: 0, done: false, wakeAt: 102, last: true });
    expect(p.step(102)).toEqual({ from: 0, to: 2, done: true });
  });

  it('finishes an empty write at once', () => {
    const p = new Pacer(ONE_BYTE_PER_MS);
    p.begin(5, 0);
    expect(p.step(5)).toEqual({ from: 0, to: 0, done: true });
    expect(p.lineFreeAt).toBe(5);
  });

  it('paces 115200 baud in 23-byte slices ending exactly at the wire time', () => {
    const p = new Pacer({ baudRate: 115200 });
    p.begin(0, 1000);
    const steps = drain(p, 0);
    const sizes = steps.map((s) => s.to - s.from);
    expect(sizes[0]).toBe(0);
    expect(sizes.slice(1, -1).every((n) => n === 23)).toBe(true);
    expect(sizes.reduce((x, y) => x + y, 0)).toBe(1000);
    expect(sizes.at(-1)).toBe(1000 % 23);
    expect(steps.at(-1)?.at).toBeCloseTo((1000 * 10 * 1000) / 115200, 9);
  });

  it('keeps 64 KiB within a percent of line rate even when every timer fires 1 ms late', () => {
    const p = new Pacer({ baudRate: 115200 });
    const n = 64 * 1024;
    p.begin(0, n);
    const steps = drain(p, 0, () => 1);
    const ideal = (n * 10 * 1000) / 115200;
    const finished = steps.at(-1)?.at ?? Infinity;
    expect(finished).toBeGreaterThanOrEqual(ideal);
    expect(finished).toBeLessThanOrEqual(ideal + 1 + 1e-9);
    expect(finished / ideal).toBeLessThan(1.01);
  });

  it('property: slices are contiguous, never early, and at most the worst lateness late', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 9600, max: 1_000_000 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.array(fc.double({ min: 0, max: 3, noNaN: true }), { minLength: 1, maxLength: 20 }),
        (baudRate, length, lateness) => {
          const p = new Pacer({ baudRate });
          p.begin(0, length);
          const steps = drain(p, 0, (i) => lateness[i % lateness.length] ?? 0);
          let next = 0;
          let ok = true;
          for (const s of steps) {
            // Contiguous, in order, and byte `to - 1` has left the wire by `at`.
            ok &&= s.from === next && s.to >= s.from && s.to * p.byteTimeMs <= s.at + 1e-6;
            next = s.to;
          }
          const ideal = length * p.byteTimeMs;
          const last = steps.at(-1)?.at ?? 0;
          return ok && next === length && last <= ideal + Math.max(0, ...lateness) + 1e-6;
        },
      ),
      { numRuns: fuzzRuns(300) },
    );
  });

  it('rejects bad settings and misuse with LINK_INVALID_OPTIONS', () => {
    for (const bad of [{ baudRate: 0 }, { baudRate: NaN }, { baudRate: 9600, bitsPerByte: 0 }, { baudRate: 9600, sliceMs: -1 }]) {
      expect(() => new Pacer(bad)).toThrow(LinkError);
    }
    const p = new Pacer(ONE_BYTE_PER_MS);
    expect(() => p.begin(0, -1)).toThrow(expect.objectContaining({ code: 'LINK_INVALID_OPTIONS' }));
    expect(() => p.begin(0, 1.5)).toThrow(expect.objectContaining({ code: 'LINK_INVALID_OPTIONS' }));
    p.begin(0, 3);
    expect(() => p.begin(0, 3)).toThrow(expect.objectContaining({ code: 'LINK_INVALID_OPTIONS' }));
    p.abort();
    expect(p.busy).toBe(false);
    expect(p.step(10)).toEqual({ from: 0, to: 0, done: true });
  });
});

describe('line timing vectors (test/vectors/link-line-timing.json)', () => {
  const file = JSON.parse(readFileSync(new URL('../test/vectors/link-line-timing.json', import.meta.url), 'utf8')) as {
    source: string;
    baudRate: number;
    bitsPerByte: number;
    bytesPerSecond: number;
    cases: Array<{ wireBytes: number; ms: string; what: string }>;
  };
  const doc = readFileSync(new URL('../PROTOCOL.d/10-links.md', import.meta.url), 'utf8');

  it('names its source and matches the line rate', () => {
    expect(file.source.length).toBeGreaterThan(0);
    expect(file.bytesPerSecond).toBe(file.baudRate / file.bitsPerByte);
    expect(file.cases.length).toBeGreaterThan(0);
  });

  it.each(file.cases)('$wireBytes bytes finish at $ms ms, in the pacer and in PROTOCOL.d/10-links.md', ({ wireBytes, ms, what }) => {
    const p = new Pacer({ baudRate: file.baudRate, bitsPerByte: file.bitsPerByte });
    p.begin(0, wireBytes);
    const end = drain(p, 0).at(-1)?.at ?? NaN;
    expect(end.toFixed(3)).toBe(ms);
    expect(((wireBytes * file.bitsPerByte * 1000) / file.baudRate).toFixed(3)).toBe(ms);
    expect(doc).toContain(`| ${wireBytes} | ${ms} ms | ${what} |`);
  });
});
