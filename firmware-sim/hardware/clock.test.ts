import { describe, expect, it } from 'vitest';
import { DeviceClock, ManualClock, sleep, SystemClock } from './clock.js';

describe('ManualClock', () => {
  it('fires timers in due order, ties in creation order, only when advanced', () => {
    const clock = new ManualClock(1_000_000);
    const fired: string[] = [];
    clock.setTimer(30, () => fired.push('c'));
    clock.setTimer(10, () => fired.push('a'));
    clock.setTimer(10, () => fired.push('b'));
    const cancel = clock.setTimer(20, () => fired.push('x'));
    cancel();
    cancel();
    expect(clock.pendingTimers).toBe(3);
    clock.advance(9);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual(['a', 'b']);
    clock.advance(100);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(clock.monotonic()).toBe(110);
    expect(clock.now()).toBe(1_000_110);
  });

  it('runs timers set by timers within the same advance, at their due time', () => {
    const clock = new ManualClock(0);
    const at: number[] = [];
    clock.setTimer(5, () => {
      at.push(clock.monotonic());
      clock.setTimer(5, () => at.push(clock.monotonic()));
    });
    clock.advance(20);
    expect(at).toEqual([5, 10]);
  });

  it('advanceAsync lets awaiting code continue between timers', async () => {
    const clock = new ManualClock(0);
    const log: number[] = [];
    const task = (async () => {
      await sleep(clock, 10);
      log.push(clock.monotonic());
      await sleep(clock, 10);
      log.push(clock.monotonic());
    })();
    await clock.advanceAsync(25);
    await task;
    expect(log).toEqual([10, 20]);
  });
});

describe('DeviceClock', () => {
  it('sets wall time without moving monotonic time or timers', () => {
    const base = new ManualClock(1_000);
    const clock = new DeviceClock(base);
    let fired = false;
    clock.setTimer(100, () => {
      fired = true;
    });
    expect(clock.setTime(5_000_000)).toBe(0);
    expect(clock.now()).toBe(5_000_000);
    expect(clock.offsetMs).toBe(4_999_000);
    expect(clock.monotonic()).toBe(0);
    base.advance(99);
    expect(fired).toBe(false);
    expect(clock.now()).toBe(5_000_099);
    base.advance(1);
    expect(fired).toBe(true);
  });
});

describe('sleep', () => {
  it('resolves at once for 0 ms and for an aborted signal, without a timer', async () => {
    const clock = new ManualClock(0);
    expect(await sleep(clock, 0)).toBe('elapsed');
    const ac = new AbortController();
    ac.abort();
    expect(await sleep(clock, 50, ac.signal)).toBe('aborted');
    expect(clock.pendingTimers).toBe(0);
  });

  it('is cut short by an abort and cancels its timer', async () => {
    const clock = new ManualClock(0);
    const ac = new AbortController();
    const p = sleep(clock, 1000, ac.signal);
    expect(clock.pendingTimers).toBe(1);
    ac.abort();
    expect(await p).toBe('aborted');
    expect(clock.pendingTimers).toBe(0);
  });

  it('works on the system clock', async () => {
    expect(await sleep(new SystemClock(), 1)).toBe('elapsed');
  });
});
