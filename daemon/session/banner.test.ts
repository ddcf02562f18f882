import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { createMemoryLinkPair } from '../../link/memory-link.js';
import { encodeFrame, FrameDecoder } from '../../protocol/stream-framing.js';
import { encodeMessage } from '../../protocol/messages.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { BannerScanner, parseBanner, readBanner, type BannerScanItem } from './banner.js';

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const BANNER = 'UNICARD-TERMINAL vendor=SimVendor model=SIM-1 serial=SIM0001 fw=1.0.0 proto=1';

function cat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Feeds `stream` cut at `cuts`; returns the banner lines and the bytes handed on. */
function scan(stream: Uint8Array, cuts: number[]): { banners: string[]; bytes: Uint8Array } {
  const scanner = new BannerScanner();
  const items: BannerScanItem[] = [];
  let from = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < stream.length)].sort((a, b) => a - b).concat(stream.length)) {
    items.push(...scanner.push(stream.subarray(from, cut)));
    from = cut;
  }
  items.push({ kind: 'bytes', bytes: scanner.flush() });
  return {
    banners: items.flatMap((i) => (i.kind === 'banner' ? [i.banner.line] : [])),
    bytes: cat(items.flatMap((i) => (i.kind === 'bytes' ? [i.bytes] : []))),
  };
}

describe('parseBanner', () => {
  it('reads the fields of the identification line', () => {
    const b = parseBanner(`${BANNER}\r\n`);
    expect(b).toMatchObject({ line: BANNER, vendor: 'SimVendor', model: 'SIM-1', serial: 'SIM0001', firmware: '1.0.0', protocol: 1 });
  });

  it('refuses other lines and lines over 200 bytes', () => {
    expect(parseBanner('ESP-ROM:esp32s3-20210327')).toBeUndefined();
    expect(parseBanner(`UNICARD-TERMINAL ${'x'.repeat(190)}`)).toBeUndefined();
    expect(parseBanner('UNICARD-TERMINAL proto=one')?.protocol).toBeUndefined();
  });
});

describe('BannerScanner', () => {
  it('takes the banner out and hands on the 0x00 and the frames after it', () => {
    const frame = encodeFrame({ flags: 0, seq: 0, payload: encodeMessage({ type: 'GetInfo', id: 5 }) });
    const stream = cat([enc(`${BANNER}\r\n`), new Uint8Array([0]), frame]);
    const { banners, bytes } = scan(stream, []);
    expect(banners).toEqual([BANNER]);
    expect(bytes).toEqual(cat([new Uint8Array([0]), frame]));
  });

  it('skips bootloader text lines before the banner, passing them on as noise', () => {
    const noise = 'ESP-ROM:esp32s3-20210327\r\nboot:0x8 (SPI_FAST_FLASH_BOOT)\r\n';
    const { banners, bytes } = scan(cat([enc(noise), enc(`${BANNER}\r\n`), new Uint8Array([0])]), []);
    expect(banners).toEqual([BANNER]);
    expect(bytes).toEqual(cat([enc(noise), new Uint8Array([0])]));
  });

  it('never cuts a banner-like line out of a valid frame', () => {
    // Ping data is echoed in clear, so a host could make a frame carry this text.
    const data = enc(`\n${BANNER}\r\n`);
    const frame = encodeFrame({ flags: 0, seq: 1, payload: encodeMessage({ type: 'PingResult', id: 9, data }) });
    const { banners, bytes } = scan(cat([new Uint8Array([0]), frame, frame]), []);
    expect(banners).toEqual([]);
    expect(bytes).toEqual(cat([new Uint8Array([0]), frame, frame]));
  });

  it('holds a partial banner across chunks and releases a line that is not one', () => {
    const { banners, bytes } = scan(enc('UNICARD-TERMINA\x01L x\r\n'), [3, 9]);
    expect(banners).toEqual([]);
    expect(bytes).toEqual(enc('UNICARD-TERMINA\x01L x\r\n'));
  });

  it('splits anywhere: banners found, every other byte handed on in order, frames intact (property)', () => {
    const line = fc.stringMatching(/^[a-zA-Z0-9 :=().,_-]{0,40}$/).filter((s) => !s.startsWith('UNICARD-TERMINAL '));
    const frame = fc.uint8Array({ maxLength: 60 }).map((payload) => encodeFrame({ flags: 0, seq: 3, payload }));
    const piece = fc.oneof(
      line.map((s) => ({ kind: 'noise' as const, bytes: enc(`${s}\r\n`) })),
      fc.constant({ kind: 'banner' as const, bytes: enc(`${BANNER}\r\n`) }),
      frame.map((bytes) => ({ kind: 'frame' as const, bytes })),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 8 }), (pieces, rawCuts) => {
        // A banner is printed at boot: at the start or after a frame, then a 0x00 (as the spec says).
        const parts: Uint8Array[] = [];
        const kept: Uint8Array[] = [];
        let expectedBanners = 0;
        let atBoundary = true;
        let cleanStart = true; // the decoder starts this piece clean (stream start or after a 0x00)
        let decodable = 0;
        for (const p of pieces) {
          if (p.kind === 'banner') {
            if (!atBoundary) continue;
            parts.push(p.bytes, new Uint8Array([0]));
            kept.push(new Uint8Array([0]));
            expectedBanners++;
            cleanStart = true;
            continue;
          }
          parts.push(p.bytes);
          kept.push(p.bytes);
          if (p.kind === 'frame' && cleanStart) decodable++;
          cleanStart = p.kind === 'frame';
          atBoundary = p.kind === 'frame' || (atBoundary && p.kind === 'noise');
        }
        const stream = cat(parts);
        const { banners, bytes } = scan(stream, rawCuts.map((c) => (stream.length === 0 ? 0 : c % stream.length)));
        expect(banners).toHaveLength(expectedBanners);
        expect(Buffer.from(bytes).equals(cat(kept))).toBe(true);
        // Noise is passed on (the decoder counts it as a bad frame); a frame that starts clean decodes.
        const decoded = new FrameDecoder().push(bytes).filter((e) => e.kind === 'frame');
        expect(decoded).toHaveLength(decodable);
      }),
      { numRuns: fuzzRuns(2000) },
    );
  });
});

describe('readBanner', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('returns the banner and the bytes after it, and stops reading', async () => {
    const [host, terminal] = createMemoryLinkPair({ chunking: { seed: 7, maxChunk: 5 } });
    const read = readBanner(host, 2_000);
    await terminal.write(cat([enc(`boot noise\r\n${BANNER}\r\n`), new Uint8Array([0, 0x42])]));
    const r = await read;
    expect(r.banner?.serial).toBe('SIM0001');
    // Whatever arrived after the banner is either in rest or still held by the link for the next reader.
    const later: Uint8Array[] = [];
    host.onData((c) => later.push(c));
    expect(cat([r.rest, ...later])).toEqual(cat([enc('boot noise\r\n'), new Uint8Array([0, 0x42])]));
    expect(vi.getTimerCount()).toBe(0);
    await host.close();
  });

  it('gives up after the timeout with the bytes it saw', async () => {
    const [host, terminal] = createMemoryLinkPair();
    const read = readBanner(host, 500);
    await terminal.write(new Uint8Array([0x11, 0x00]));
    await vi.advanceTimersByTimeAsync(500);
    const r = await read;
    expect(r.banner).toBeUndefined();
    expect(r.rest).toEqual(new Uint8Array([0x11, 0x00]));
    await host.close();
  });

  it('rejects with TERMINAL_GONE when the link ends', async () => {
    const [host] = createMemoryLinkPair();
    const read = readBanner(host, 5_000);
    host.unplug();
    await expect(read).rejects.toMatchObject({ code: 'TERMINAL_GONE', detail: { cause: 'LINK_IO' } });
    expect(vi.getTimerCount()).toBe(0);
  });
});
