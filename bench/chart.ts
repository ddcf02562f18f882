/**
 * A small PNG line chart (latency against terminals) written with node:zlib alone: an RGB
 * raster, axes with tick marks, each series as points joined by lines, and a legend of
 * coloured swatches. Tick marks fall on the x values and on round y values, labelled with
 * digits from a 3 × 5 pixel font (drawn at 2 ×); series names go in the JSON and
 * BENCHMARKS.md.
 */
import { deflateSync } from 'node:zlib';

/** An RGB colour. */
export type Rgb = readonly [number, number, number];

/** An RGB raster. */
export class Raster {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.data.set(background, i * 3);
  }

  set(x: number, y: number, c: Rgb): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    this.data.set(c, (yi * this.width + xi) * 3);
  }

  /** A line `thick` pixels wide (Bresenham-like stepping along the longer axis). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const r = (thick - 1) / 2;
    for (let i = 0; i <= steps; i++) {
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      for (let dx = -r; dx <= r; dx++) for (let dy = -r; dy <= r; dy++) this.set(x + dx, y + dy, c);
    }
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let i = 0; i < w; i++) for (let j = 0; j < h; j++) this.set(x + i, y + j, c);
  }
}

/** Digits 0-9 and '.', each 5 rows of 3 bits (MSB left). */
const GLYPHS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7],
  '1': [2, 6, 2, 2, 7],
  '2': [7, 1, 7, 4, 7],
  '3': [7, 1, 7, 1, 7],
  '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7],
  '6': [7, 4, 7, 5, 7],
  '7': [7, 1, 1, 1, 1],
  '8': [7, 5, 7, 5, 7],
  '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2],
};

/** Draws `text` (digits and '.') with its top-left at (x, y), `scale` pixels a font pixel; returns its width. */
export function drawText(r: Raster, text: string, x: number, y: number, c: Rgb, scale = 2): number {
  let cx = x;
  for (const ch of text) {
    const g = GLYPHS[ch];
    if (g !== undefined) {
      g.forEach((row, j) => {
        for (let i = 0; i < 3; i++) if (row & (4 >> i)) r.rect(cx + i * scale, y + j * scale, scale, scale, c);
      });
    }
    cx += 4 * scale;
  }
  return cx - x;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, as PNG uses) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/** The PNG signature. */
export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Encodes a raster as a PNG (8-bit RGB, filter 0 on every row). */
export function encodePng(r: Raster): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(r.width, 0);
  ihdr.writeUInt32BE(r.height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  const rows = Buffer.alloc((r.width * 3 + 1) * r.height);
  for (let y = 0; y < r.height; y++) rows.set(r.data.subarray(y * r.width * 3, (y + 1) * r.width * 3), y * (r.width * 3 + 1) + 1);
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array(0))]);
}

/** One series of the chart. */
export interface Series {
  name: string;
  colour: Rgb;
  points: ReadonlyArray<readonly [number, number]>;
}

/** A step of 1, 2 or 5 × 10^k giving about `n` ticks over `span`. */
export function niceStep(span: number, n = 5): number {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** Draws series over a shared x axis (values as given; ticks at each x) and y from 0. */
export function lineChart(series: readonly Series[], width = 640, height = 400): Buffer {
  const r = new Raster(width, height);
  const left = 60;
  const right = width - 20;
  const top = 40;
  const bottom = height - 40;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMin = Math.min(...xs, 0);
  const xMax = Math.max(...xs, 1);
  const step = niceStep(Math.max(...ys, 1));
  const yMax = Math.ceil(Math.max(...ys, 1) / step) * step;
  const px = (x: number) => left + ((x - xMin) / (xMax - xMin || 1)) * (right - left);
  const py = (y: number) => bottom - (y / yMax) * (bottom - top);
  const grey: Rgb = [220, 220, 220];
  const black: Rgb = [0, 0, 0];
  const label = (v: number) => String(Number(v.toPrecision(4)));
  for (let y = 0; y <= yMax + 1e-9; y += step) {
    if (y > 0) r.line(left, py(y), right, py(y), grey);
    r.line(left - 6, py(y), left, py(y), black);
    const t = label(y);
    drawText(r, t, left - 10 - t.length * 8, py(y) - 5, black);
  }
  for (const x of new Set(xs)) {
    r.line(px(x), bottom, px(x), bottom + 6, black);
    const t = label(x);
    drawText(r, t, px(x) - (t.length * 8) / 2, bottom + 12, black);
  }
  r.line(left, top, left, bottom, black, 2);
  r.line(left, bottom, right, bottom, black, 2);
  series.forEach((s, i) => {
    r.rect(left + 10 + i * 30, 12, 20, 10, s.colour);
    const pts = s.points.map(([x, y]) => [px(x), py(y)] as const);
    for (let j = 1; j < pts.length; j++) r.line(pts[j - 1]![0], pts[j - 1]![1], pts[j]![0], pts[j]![1], s.colour, 2);
    for (const [x, y] of pts) r.rect(x - 3, y - 3, 7, 7, s.colour);
  });
  return encodePng(r);
}
