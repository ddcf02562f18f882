import { describe, expect, it } from 'vitest';
import { LinkError } from '../protocol/errors.js';
import { WriteQueue, type LinkTimer } from './write-queue.js';

/**
 * A manual clock: timers fire only when the test advances time. `setTimeout` fires `lateBy` ms
 * after its deadline (as Node's do, by up to a few ms); one `setImmediate` turn takes 0.25 ms.
 */
class FakeTimer implements LinkTimer {
  t = 0;
  private seq = 0;
  private timers: Array<{ id: number; at: number; fn: () => void }> = [];

  constructor(private readonly lateBy = 0) {}

  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    return this.add(this.t + ms + this.lateBy, fn);
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  setImmediate(fn: () => void): unknown {
    return this.add(this.t + 0.25, fn);
  }
  clearImmediate(handle: unknown): void {
    this.clearTimeout(handle);
  }
  private add(at: number, fn: () => void): number {
    const id = ++this.seq;
    this.timers.push({ id, at, fn });
    return id;
  }
  get pending(): number {
    return this.timers.length;
  }
  /** Fires every timer due up to `until`, letting promise chains settle in between. */
  async advanceTo(until: number): Promise<void> {
    for (;;) {
      await settle();
      this.timers.sort((x, y) => x.at - y.at || x.id - y.id);
      const next = this.timers[0];
      if (next === undefined || next.at > until) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = until;
    await settle();
  }
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A transport that records when each slice was handed over. */
function recorder(timer: FakeTimer): { log: Array<[number, number[]]>; raw: (c: Uint8Array) => Promise<void> } {
  const log: Array<[number, number[]]> = [];
  return { log, raw: async (c) => void log.push([timer.now(), [...c]]) };
}

const ONE_BYTE_PER_MS = { baudRate: 10_000, bitsPerByte: 10, sliceMs: 2 };

describe('WriteQueue', () => {
  it('unpaced: hands every write straight to the transport, in order', async () => {
    const timer = new FakeTimer();
    const { log, raw } = recorder(timer);
    const q = new WriteQueue(raw, undefined, timer);
    await Promise.all([q.write(Uint8Array.of(1, 2)), q.write(Uint8Array.of(3))]);
    expect(log).toEqual([
      [0, [1, 2]],
      [0, [3]],
    ]);
    expect(q.paced).toBe(false);
  });

  it('paced: hands over slices at their wire times and resolves with the last one', async () => {
    const timer = new FakeTimer();
    const { log, raw } = recorder(timer);
    const q = new WriteQueue(raw, ONE_BYTE_PER_MS, timer);
    let resolvedAt: number | undefined;
    const done = q.write(Uint8Array.of(1, 2, 3, 4, 5)).then(() => (resolvedAt = timer.now()));
    await timer.advanceTo(10);
    await done;
    expect(log).toEqual([
      [2, [1, 2]],
      [4, [3, 4]],
      [5, [5]],
    ]);
    expect(resolvedAt).toBe(5);
  });

  it('paced: late timers are caught up, and the end of a write is still handed over on time', async () => {
    const timer = new FakeTimer(1);
    const { log, raw } = recorder(timer);
    const q = new WriteQueue(raw, ONE_BYTE_PER_MS, timer);
    let resolvedAt: number | undefined;
    const done = q.write(Uint8Array.of(1, 2, 3, 4, 5)).then(() => (resolvedAt = timer.now()));
    await timer.advanceTo(10);
    await done;
    // The 2 ms timer fired at 3: three bytes were due. The last slice's wait ends on
    // event-loop turns, not on a (late) timer, so it lands exactly at 5.
    expect(log).toEqual([
      [3, [1, 2, 3]],
      [5, [4, 5]],
    ]);
    expect(resolvedAt).toBe(5);
  });

  it('paced: a write issued while another is on the line follows it without a gap', async () => {
    const timer = new FakeTimer();
    const { log, raw } = recorder(timer);
    const q = new WriteQueue(raw, ONE_BYTE_PER_MS, timer);
    const first = q.write(Uint8Array.of(1, 2, 3));
    await timer.advanceTo(1);
    const second = q.write(Uint8Array.of(4, 5));
    await timer.advanceTo(20);
    await Promise.all([first, second]);
    expect(log).toEqual([
      [2, [1, 2]],
      [3, [3]],
      [5, [4, 5]],
    ]);
  });

  it('paced: abort rejects the current and queued writes and cancels the timer', async () => {
    const timer = new FakeTimer();
    const { log, raw } = recorder(timer);
    const q = new WriteQueue(raw, ONE_BYTE_PER_MS, timer);
    const error = new LinkError('LINK_IO', 'unplugged');
    const first = expect(q.write(new Uint8Array(10))).rejects.toBe(error);
    const second = expect(q.write(new Uint8Array(10))).rejects.toBe(error);
    await timer.advanceTo(3);
    q.abort(error);
    await first;
    await second;
    await expect(q.write(new Uint8Array(1))).rejects.toBe(error);
    expect(timer.pending).toBe(0);
    const handedOver = log.reduce((n, [, bytes]) => n + bytes.length, 0);
    await timer.advanceTo(100);
    expect(log.reduce((n, [, bytes]) => n + bytes.length, 0)).toBe(handedOver);
  });

  it('unpaced: abort settles writes the transport never finishes', async () => {
    const q = new WriteQueue(() => new Promise<void>(() => {}), undefined, new FakeTimer());
    const pending = q.write(Uint8Array.of(1));
    const error = new LinkError('LINK_CLOSED', 'closed');
    q.abort(error);
    await expect(pending).rejects.toBe(error);
  });

  it('a transport failure rejects that write with a LinkError', async () => {
    const timer = new FakeTimer();
    const q = new WriteQueue(() => Promise.reject(new Error('EPIPE')), ONE_BYTE_PER_MS, timer);
    const w = expect(q.write(Uint8Array.of(1))).rejects.toMatchObject({ code: 'LINK_IO' });
    await timer.advanceTo(5);
    await w;
    const unpaced = new WriteQueue(() => Promise.reject(new Error('EPIPE')), undefined, timer);
    await expect(unpaced.write(Uint8Array.of(1))).rejects.toBeInstanceOf(LinkError);
  });
});
