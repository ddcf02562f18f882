/**
 * Time for the simulated terminal, injected everywhere so tests are deterministic and
 * benchmarks can run unpaced. Three implementations: the real one, a manual one for tests,
 * and the terminal's own clock whose wall time a host can set (SetTime) without touching the
 * monotonic source that timeouts use.
 */

/** Cancels a timer made by {@link Clock.setTimer}; calling it twice is harmless. */
export type CancelTimer = () => void;

/** A time source with timers. */
export interface Clock {
  /** Wall-clock time, ms since the Unix epoch (what signatures and receipts carry). */
  now(): number;
  /** Monotonic ms from an arbitrary origin; never goes backwards (what timeouts use). */
  monotonic(): number;
  /** Run `callback` once after `delayMs` (≥ 0) of monotonic time. */
  setTimer(delayMs: number, callback: () => void): CancelTimer;
}

/** The machine's clock: Date.now, performance.now and setTimeout. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }
  monotonic(): number {
    return performance.now();
  }
  setTimer(delayMs: number, callback: () => void): CancelTimer {
    const t = setTimeout(callback, Math.max(0, delayMs));
    return () => clearTimeout(t);
  }
}

interface ManualTimer {
  readonly id: number;
  readonly due: number;
  readonly callback: () => void;
}

/**
 * A clock that moves only when told to. Timers fire in due order (ties in creation order)
 * from {@link advance}; {@link advanceAsync} also lets promise continuations run between
 * timers, which is what code awaiting a timer needs.
 */
export class ManualClock implements Clock {
  private wall: number;
  private mono = 0;
  private nextId = 1;
  private timers: ManualTimer[] = [];

  constructor(startWallMs = Date.UTC(2026, 10, 22, 8, 0, 0)) {
    this.wall = startWallMs;
  }

  now(): number {
    return this.wall + this.mono;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimer(delayMs: number, callback: () => void): CancelTimer {
    const timer: ManualTimer = { id: this.nextId++, due: this.mono + Math.max(0, delayMs), callback };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Number of timers not yet fired or cancelled. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing every timer that falls due, synchronously. */
  advance(ms: number): void {
    const target = this.mono + ms;
    for (let t = this.takeDue(target); t; t = this.takeDue(target)) {
      this.mono = t.due;
      t.callback();
    }
    this.mono = target;
  }

  /** Like {@link advance}, but drains pending promise jobs before and after each timer. */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.mono + ms;
    await flushMicrotasks();
    for (let t = this.takeDue(target); t; t = this.takeDue(target)) {
      this.mono = t.due;
      t.callback();
      await flushMicrotasks();
    }
    this.mono = target;
    await flushMicrotasks();
  }

  private takeDue(limit: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers) {
      if (t.due <= limit && (!best || t.due < best.due || (t.due === best.due && t.id < best.id))) best = t;
    }
    if (best) this.timers = this.timers.filter((t) => t !== best);
    return best;
  }
}

/** Let queued promise continuations run (a macrotask boundary drains the microtask queue). */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The terminal's clock: wall time = base wall time + an offset the host sets with SetTime.
 * Monotonic time and timers come from the base unchanged, so setting the time never
 * shortens or stretches a running timeout.
 */
export class DeviceClock implements Clock {
  private offset = 0;

  constructor(private readonly base: Clock) {}

  now(): number {
    return this.base.now() + this.offset;
  }
  monotonic(): number {
    return this.base.monotonic();
  }
  setTimer(delayMs: number, callback: () => void): CancelTimer {
    return this.base.setTimer(delayMs, callback);
  }

  /** Set the wall time to `wallMs` (ms since epoch); returns the old offset. */
  setTime(wallMs: number): number {
    const old = this.offset;
    this.offset = wallMs - this.base.now();
    return old;
  }

  /** Current offset from the base clock, in ms. */
  get offsetMs(): number {
    return this.offset;
  }
}

/**
 * Wait `ms` on `clock`; resolves 'elapsed', or 'aborted' as soon as `signal` aborts
 * (immediately if already aborted). Never rejects. A zero delay resolves without a timer so
 * unpaced runs do not pay for one.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<'elapsed' | 'aborted'> {
  if (signal?.aborted) return Promise.resolve('aborted');
  if (ms <= 0) return Promise.resolve('elapsed');
  return new Promise((resolve) => {
    const onAbort = (): void => {
      cancel();
      resolve('aborted');
    };
    const cancel = clock.setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve('elapsed');
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
