import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LinkError } from '../protocol/errors.js';
import { fuzzRuns } from '../test/support/fuzz.js';
import { HOLD_LIMIT_BYTES, type Link } from './link.js';
import { MemoryBus, createMemoryLinkPair } from './memory-link.js';
import { closed } from '../test/support/link-waits.js';

/** Collects what a link receives. */
function collect(link: Link): { chunks: Uint8Array[]; bytes: () => number[] } {
  const chunks: Uint8Array[] = [];
  link.onData((c) => chunks.push(c));
  return { chunks, bytes: () => chunks.flatMap((c) => [...c]) };
}

/** Resolves with the argument of the link's single onClose call. */

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('memory link pair', () => {
  it('delivers bytes both ways, one chunk per write without chunking', async () => {
    const [a, b] = createMemoryLinkPair();
    const atA = collect(a);
    const atB = collect(b);
    await a.write(Uint8Array.of(1, 2, 3));
    await a.write(Uint8Array.of(4));
    await b.write(Uint8Array.of(9, 8));
    expect(atB.chunks).toEqual([Uint8Array.of(1, 2, 3), Uint8Array.of(4)]);
    expect(atA.chunks).toEqual([Uint8Array.of(9, 8)]);
    expect(a.info).toMatchObject({ kind: 'memory', path: 'memory:a' });
    await a.close();
  });

  it('keeps order across writes that are not awaited', async () => {
    const [a, b] = createMemoryLinkPair({ chunking: { seed: 7, maxChunk: 5 } });
    const atB = collect(b);
    await Promise.all([a.write(bytes(40, 1)), a.write(bytes(3, 2)), a.write(bytes(17, 3))]);
    expect(atB.bytes()).toEqual([...bytes(40, 1), ...bytes(3, 2), ...bytes(17, 3)]);
    await a.close();
  });

  it('splits writes into seeded chunks within the bounds, the same way for the same seed', async () => {
    const sizes = async (seed: number): Promise<number[]> => {
      const [a, b] = createMemoryLinkPair({ chunking: { seed, minChunk: 2, maxChunk: 9 } });
      const atB = collect(b);
      await a.write(bytes(300));
      expect(atB.bytes()).toEqual([...bytes(300)]);
      await a.close();
      return atB.chunks.map((c) => c.length);
    };
    const first = await sizes(42);
    expect(first.length).toBeGreaterThanOrEqual(300 / 9);
    expect(first.slice(0, -1).every((n) => n >= 2 && n <= 9)).toBe(true);
    expect(await sizes(42)).toEqual(first);
    expect(await sizes(43)).not.toEqual(first);
  });

  it('the write resolves once the peer has the bytes; the caller may reuse its buffer', async () => {
    const [a, b] = createMemoryLinkPair();
    const atB = collect(b);
    const buf = Uint8Array.of(1, 2, 3);
    await a.write(buf);
    buf.fill(0);
    expect(atB.bytes()).toEqual([1, 2, 3]);
    await a.close();
  });

  it('holds bytes that arrive before anyone subscribes and hands them to the first subscriber', async () => {
    const [a, b] = createMemoryLinkPair();
    await a.write(Uint8Array.of(5, 6));
    await a.write(Uint8Array.of(7));
    const atB = collect(b);
    expect(atB.bytes()).toEqual([5, 6, 7]);
    await a.close();
  });

  it('stops delivering to an unsubscribed listener', async () => {
    const [a, b] = createMemoryLinkPair();
    const got: number[] = [];
    const off = b.onData((c) => got.push(...c));
    const other = collect(b);
    await a.write(Uint8Array.of(1));
    off();
    await a.write(Uint8Array.of(2));
    expect(got).toEqual([1]);
    expect(other.bytes()).toEqual([1, 2]);
    await a.close();
  });

  it('close: this end ends cleanly, the other end sees LINK_CLOSED, both once', async () => {
    const [a, b] = createMemoryLinkPair();
    let aCalls = 0;
    let bCalls = 0;
    a.onClose(() => aCalls++);
    b.onClose(() => bCalls++);
    const aEnd = closed(a);
    const bEnd = closed(b);
    const first = a.close();
    expect(a.isOpen).toBe(false);
    await first;
    await a.close();
    await b.close();
    expect(await aEnd).toBeUndefined();
    const bError = await bEnd;
    expect(bError).toBeInstanceOf(LinkError);
    expect(bError?.code).toBe('LINK_CLOSED');
    expect(b.isOpen).toBe(false);
    expect(aCalls).toBe(1);
    expect(bCalls).toBe(1);
    // Subscribing after the end still hears about it, with the same argument.
    expect(await closed(a)).toBeUndefined();
    expect((await closed(b))?.code).toBe('LINK_CLOSED');
  });

  it('writes on a closed link reject with LINK_CLOSED and never throw synchronously', async () => {
    const [a, b] = createMemoryLinkPair();
    await a.close();
    let pa: Promise<void> | undefined;
    let pb: Promise<void> | undefined;
    expect(() => {
      pa = a.write(Uint8Array.of(1));
      pb = b.write(Uint8Array.of(1));
    }).not.toThrow();
    await expect(pa).rejects.toMatchObject({ code: 'LINK_CLOSED' });
    await expect(pb).rejects.toMatchObject({ code: 'LINK_CLOSED' });
  });

  it('a write pending when the link closes rejects; a write that resolved was delivered', async () => {
    const [a, b] = createMemoryLinkPair({ chunking: { seed: 1, maxChunk: 1 } });
    const atB = collect(b);
    const pending = expect(a.write(bytes(1000))).rejects.toMatchObject({ code: 'LINK_CLOSED' });
    await a.close();
    await pending;
    expect(atB.bytes().length).toBeLessThan(1000);
  });

  it('unplug ends both sides with LINK_IO and the writes in flight with it', async () => {
    const [a, b] = createMemoryLinkPair({ chunking: { seed: 3, maxChunk: 2 } });
    const aEnd = closed(a);
    const bEnd = closed(b);
    const inFlight = expect(b.write(bytes(500))).rejects.toMatchObject({ code: 'LINK_IO' });
    a.unplug();
    await inFlight;
    expect((await aEnd)?.code).toBe('LINK_IO');
    expect((await bEnd)?.code).toBe('LINK_IO');
    await expect(a.write(Uint8Array.of(1))).rejects.toMatchObject({ code: 'LINK_CLOSED', detail: { endedBy: 'LINK_IO' } });
  });

  it('a data listener that throws ends the link with LINK_IO instead of losing bytes quietly', async () => {
    const [a, b] = createMemoryLinkPair();
    const bEnd = closed(b);
    b.onData(() => {
      throw new Error('decoder bug');
    });
    // The writer's end goes down with it, so this write may reject; the ends are what we check.
    await a.write(Uint8Array.of(1)).catch(() => undefined);
    const error = await bEnd;
    expect(error?.code).toBe('LINK_IO');
    expect(error?.message).toContain('decoder bug');
    expect((await closed(a))?.code).toBe('LINK_CLOSED');
  });

  it('write() rejects a non-Uint8Array with LINK_INVALID_OPTIONS', async () => {
    const [a] = createMemoryLinkPair();
    await expect(a.write('text' as unknown as Uint8Array)).rejects.toMatchObject({ code: 'LINK_INVALID_OPTIONS' });
    await a.close();
  });

  it('holds at most HOLD_LIMIT_BYTES for a late subscriber and drops the rest, like an overrun', async () => {
    const [a, b] = createMemoryLinkPair();
    await a.write(new Uint8Array(HOLD_LIMIT_BYTES - 1));
    await a.write(Uint8Array.of(1, 2)); // would exceed the limit: dropped
    await a.write(Uint8Array.of(3));
    const atB = collect(b);
    expect(atB.chunks.map((c) => c.length)).toEqual([HOLD_LIMIT_BYTES - 1, 1]);
    expect(atB.chunks[1]).toEqual(Uint8Array.of(3));
    await a.close();
  });

  it('rejects impossible chunk bounds', () => {
    expect(() => createMemoryLinkPair({ chunking: { seed: 1, minChunk: 5, maxChunk: 2 } })).toThrow(LinkError);
    expect(() => createMemoryLinkPair({ chunking: { seed: 1, minChunk: 0 } })).toThrow(LinkError);
  });

  it('property: any writes, any seed, the peer receives exactly the concatenation', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 12 }),
        fc.integer(),
        fc.integer({ min: 1, max: 50 }),
        async (writes, seed, maxChunk) => {
          const [a, b] = createMemoryLinkPair({ chunking: { seed, maxChunk } });
          const atB = collect(b);
          await Promise.all(writes.map((w) => a.write(w)));
          await a.close();
          expect(atB.bytes()).toEqual(writes.flatMap((w) => [...w]));
          expect(atB.chunks.every((c) => c.length >= 1 && c.length <= maxChunk)).toBe(true);
        },
      ),
      { numRuns: fuzzRuns(100) },
    );
  });
});

describe('MemoryBus', () => {
  it('lists plugged devices and opens them, handing the device its end', async () => {
    const bus = new MemoryBus();
    const deviceEnds: Link[] = [];
    bus.plug('sim-1', { info: { label: 'SIM-1', vendorId: '1209' }, onOpen: (l) => deviceEnds.push(l) });
    expect(await bus.list()).toEqual([{ kind: 'memory', path: 'sim-1', label: 'SIM-1', vendorId: '1209' }]);
    const host = await bus.open('sim-1');
    expect(host.info).toMatchObject({ kind: 'memory', path: 'sim-1', label: 'SIM-1' });
    const device = deviceEnds[0];
    if (device === undefined) throw new Error('device end not handed out');
    const atDevice = collect(device);
    await host.write(Uint8Array.of(1, 2));
    expect(atDevice.bytes()).toEqual([1, 2]);
    await host.close();
  });

  it('one host at a time; reopening after close gives the device a fresh end', async () => {
    const bus = new MemoryBus();
    const deviceEnds: Link[] = [];
    bus.plug('sim-1', { onOpen: (l) => deviceEnds.push(l) });
    const first = await bus.open('sim-1');
    await expect(bus.open('sim-1')).rejects.toMatchObject({ code: 'LINK_BUSY' });
    const deviceEnd = deviceEnds[0];
    const deviceSaw = deviceEnd === undefined ? Promise.resolve(undefined) : closed(deviceEnd);
    await first.close();
    expect((await deviceSaw)?.code).toBe('LINK_CLOSED');
    const second = await bus.open('sim-1');
    expect(deviceEnds).toHaveLength(2);
    expect(deviceEnds[1]?.isOpen).toBe(true);
    await second.close();
  });

  it('unplug ends the open link with LINK_IO and removes the device', async () => {
    const bus = new MemoryBus();
    bus.plug('sim-1', { onOpen: () => {} });
    expect(() => bus.plug('sim-1', { onOpen: () => {} })).toThrow(expect.objectContaining({ code: 'LINK_BUSY' }));
    const host = await bus.open('sim-1');
    const end = closed(host);
    bus.unplug('sim-1');
    expect((await end)?.code).toBe('LINK_IO');
    expect(await bus.list()).toEqual([]);
    await expect(bus.open('sim-1')).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
  });
});
