import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, encodePng, lineChart, niceStep, PNG_SIGNATURE, Raster } from '../../bench/chart.js';
import { latencyTargetMs, wireTimeMs } from '../../bench/latency-bench.js';

/** Splits a PNG into its chunks, checking each CRC. */
function chunks(png: Buffer): Array<{ type: string; body: Buffer }> {
  expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  const out: Array<{ type: string; body: Buffer }> = [];
  let o = 8;
  while (o < png.length) {
    const len = png.readUInt32BE(o);
    const type = png.toString('latin1', o + 4, o + 8);
    const body = png.subarray(o + 8, o + 8 + len);
    expect(png.readUInt32BE(o + 8 + len)).toBe(crc32(png.subarray(o + 4, o + 8 + len)));
    out.push({ type, body });
    o += 12 + len;
  }
  return out;
}

describe('PNG encoder', () => {
  it('crc32 matches the check value of CRC-32/ISO-HDLC', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('writes signature, IHDR with the dimensions, IDAT rows and IEND, every CRC valid', () => {
    const r = new Raster(3, 2, [1, 2, 3]);
    r.set(2, 1, [200, 100, 50]);
    const c = chunks(encodePng(r));
    expect(c.map((x) => x.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    const ihdr = c[0]!.body;
    expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]]).toEqual([3, 2, 8, 2]);
    const rows = inflateSync(c[1]!.body);
    expect(rows.length).toBe(2 * (1 + 3 * 3));
    expect([...rows.subarray(0, 4)]).toEqual([0, 1, 2, 3]);
    expect([...rows.subarray(10 + 1 + 6, 10 + 1 + 9)]).toEqual([200, 100, 50]);
  });

  it('draws a chart of the asked size with the series colour in it', () => {
    const png = lineChart([{ name: 'p50', colour: [255, 0, 0], points: [[1, 10], [8, 40], [32, 200]] }], 200, 120);
    const c = chunks(png);
    expect(c[0]!.body.readUInt32BE(0)).toBe(200);
    expect(c[0]!.body.readUInt32BE(4)).toBe(120);
    const rows = inflateSync(c[1]!.body);
    let red = 0;
    for (let i = 0; i + 2 < rows.length; i++) if (rows[i] === 255 && rows[i + 1] === 0 && rows[i + 2] === 0) red++;
    expect(red).toBeGreaterThan(50);
  });

  it('niceStep picks 1, 2 or 5 × 10^k', () => {
    expect(niceStep(230)).toBe(50);
    expect(niceStep(9)).toBe(2);
    expect(niceStep(0)).toBe(1);
  });
});

describe('wire floor arithmetic', () => {
  it('10 bits a byte at 115,200 baud: 11,520 bytes take one second', () => {
    expect(wireTimeMs(11_520)).toBeCloseTo(1000, 9);
    expect(wireTimeMs(1173)).toBeCloseTo(101.82, 2);
    expect(wireTimeMs(100, 9600)).toBeCloseTo(104.17, 2);
  });

  it('the target is 1.3 × floor + 2 ms', () => {
    expect(latencyTargetMs(100)).toBeCloseTo(132, 9);
    expect(latencyTargetMs(0)).toBe(2);
  });
});
