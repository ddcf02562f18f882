import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { type LineItem, LineSplitter } from './line-splitter.js';

function drain(s: LineSplitter): LineItem[] {
  const out: LineItem[] = [];
  for (let item = s.next(); item !== undefined; item = s.next()) out.push(item);
  return out;
}

function summary(items: LineItem[]): Array<string | number> {
  // Lines as text, oversized lines as -1.
  return items.map((i) => (i.kind === 'line' ? i.bytes.toString('latin1') : -1));
}

describe('LineSplitter', () => {
  it('splits lines, strips \\r\\n, keeps empty lines', () => {
    const s = new LineSplitter(100);
    s.push(Buffer.from('a\r\nbb\n\nccc'));
    expect(summary(drain(s))).toEqual(['a', 'bb', '']);
    s.push(Buffer.from('c\n'));
    expect(summary(drain(s))).toEqual(['cccc']);
    expect(s.bufferedBytes).toBe(0);
  });

  it('reports an oversized line once, as soon as it crosses the limit, and drops the rest of it', () => {
    const s = new LineSplitter(4);
    s.push(Buffer.from('abc'));
    expect(drain(s)).toEqual([]);
    s.push(Buffer.from('de'));
    expect(drain(s)).toEqual([{ kind: 'oversized', seenBytes: 5 }]);
    s.push(Buffer.alloc(100_000, 0x78));
    expect(drain(s)).toEqual([]);
    expect(s.bufferedBytes).toBe(0); // nothing of it is kept
    s.push(Buffer.from('xyz\nok\n'));
    expect(summary(drain(s))).toEqual(['ok']);
  });

  it('a line of exactly the limit is accepted', () => {
    const s = new LineSplitter(3);
    s.push(Buffer.from('abc\nabcd\n'));
    expect(summary(drain(s))).toEqual(['abc', -1]);
  });

  it('end(): the unterminated last line, unless it was oversized', () => {
    const s = new LineSplitter(10);
    s.push(Buffer.from('a\nlast'));
    expect(summary(drain(s))).toEqual(['a']);
    expect(s.end()).toEqual({ kind: 'line', bytes: Buffer.from('last') });
    expect(s.end()).toBeUndefined();
    s.push(Buffer.from('x'.repeat(20)));
    expect(summary(drain(s))).toEqual([-1]);
    expect(s.end()).toBeUndefined();
  });

  it('property: any chunking gives the same items, and memory stays bounded', () => {
    const line = fc.oneof(
      fc.string({ maxLength: 12 }).map((x) => x.replace(/\n/g, '')),
      fc.string({ minLength: 13, maxLength: 60 }).map((x) => x.replace(/\n/g, 'y')),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 10 }), (lines, cuts) => {
        const max = 12;
        const text = Buffer.from(lines.map((l) => l + '\n').join(''), 'latin1');
        const expected = lines.map((l) => {
          const b = Buffer.from(l, 'latin1');
          if (b.length > max) return -1;
          return (b[b.length - 1] === 0x0d ? b.subarray(0, b.length - 1) : b).toString('latin1');
        });
        const s = new LineSplitter(max);
        const got: LineItem[] = [];
        let at = 0;
        let k = 0;
        while (at < text.length) {
          const n = cuts[k++ % cuts.length] ?? 1;
          s.push(text.subarray(at, at + n));
          at += n;
          got.push(...drain(s));
          // Held: at most one partial line (≤ max) — chunks are fully scanned by drain().
          expect(s.bufferedBytes).toBeLessThanOrEqual(max);
        }
        expect(summary(got)).toEqual(expected);
      }),
      { numRuns: fuzzRuns(300) },
    );
  });
});
