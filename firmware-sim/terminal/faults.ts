/**
 * Line faults the control interface injects between the terminal and its link: bytes dropped
 * or corrupted at a rate (seeded, so a failing run replays), a stall (the terminal goes
 * silent and deaf for a while, then catches up, as firmware stuck in a busy loop does), and
 * silence (the link is there but nothing crosses it: the fallback "vanish" for links that
 * cannot disappear by themselves).
 */
import { LinkError } from '../../protocol/errors.js';
import type { Link, LinkInfo } from '../../link/link.js';
import type { CancelTimer, Clock } from '../hardware/clock.js';

/** Which way a fault applies. */
export type FaultDirection = 'in' | 'out' | 'both';

/** Byte counts of what the faults did. */
export interface FaultCounters {
  droppedIn: number;
  droppedOut: number;
  corruptedIn: number;
  corruptedOut: number;
}

/** Current settings, as the control interface reports them. */
export interface FaultSettings {
  readonly drop: { readonly rate: number; readonly direction: FaultDirection };
  readonly corrupt: { readonly rate: number; readonly direction: FaultDirection };
  /** Monotonic ms left in the current stall (0 when none). */
  readonly stallMsLeft: number;
  readonly silent: boolean;
  readonly seed: number;
}

/** Mulberry32: a small seeded generator; uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkRate(rate: number): void {
  if (!(typeof rate === 'number' && Number.isFinite(rate) && rate >= 0 && rate <= 1)) {
    throw new RangeError('a fault rate is a number from 0 to 1');
  }
}

const applies = (d: FaultDirection, way: 'in' | 'out'): boolean => d === 'both' || d === way;

/** The fault settings and their byte-level effects; one per simulated terminal. */
export class FaultInjector {
  private dropRate = 0;
  private dropDir: FaultDirection = 'both';
  private corruptRate = 0;
  private corruptDir: FaultDirection = 'both';
  private stallUntil = 0;
  private stallTimer: CancelTimer | undefined;
  private silentMode = false;
  private rng: () => number;
  private readonly stallWaiters = new Set<() => void>();
  readonly counters: FaultCounters = { droppedIn: 0, droppedOut: 0, corruptedIn: 0, corruptedOut: 0 };

  constructor(
    private readonly clock: Clock,
    private seedValue = 1,
  ) {
    this.rng = mulberry32(seedValue);
  }

  /** Drop each byte with probability `rate` (0 switches it off). */
  setDrop(rate: number, direction: FaultDirection = 'both'): void {
    checkRate(rate);
    this.dropRate = rate;
    this.dropDir = direction;
  }

  /** Flip one bit of each byte with probability `rate` (0 switches it off). */
  setCorrupt(rate: number, direction: FaultDirection = 'both'): void {
    checkRate(rate);
    this.corruptRate = rate;
    this.corruptDir = direction;
  }

  /** Restart the random sequence (same seed, same faults). */
  reseed(seed: number): void {
    this.seedValue = seed >>> 0;
    this.rng = mulberry32(this.seedValue);
  }

  /**
   * Hold every byte, both ways, for `ms` of monotonic time; then deliver what was held, in
   * order. A new stall replaces the remaining time of the current one; 0 ends it now.
   */
  stall(ms: number): void {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new RangeError('a stall is a non-negative number of ms');
    this.stallTimer?.();
    this.stallTimer = undefined;
    this.stallUntil = this.clock.monotonic() + ms;
    if (ms === 0) {
      this.release();
      return;
    }
    this.stallTimer = this.clock.setTimer(ms, () => {
      this.stallTimer = undefined;
      this.release();
    });
  }

  /** True while a stall holds the bytes. */
  get stalled(): boolean {
    return this.stallTimer !== undefined;
  }

  /** Nothing crosses the link while silent (bytes both ways are discarded). */
  setSilent(silent: boolean): void {
    this.silentMode = silent;
  }

  get silent(): boolean {
    return this.silentMode;
  }

  /** Everything off (the seed sequence continues). */
  clear(): void {
    this.dropRate = 0;
    this.corruptRate = 0;
    this.silentMode = false;
    this.stall(0);
  }

  settings(): FaultSettings {
    return {
      drop: { rate: this.dropRate, direction: this.dropDir },
      corrupt: { rate: this.corruptRate, direction: this.corruptDir },
      stallMsLeft: this.stalled ? Math.max(0, this.stallUntil - this.clock.monotonic()) : 0,
      silent: this.silentMode,
      seed: this.seedValue,
    };
  }

  /** `link` with these faults applied to what crosses it. */
  wrap(link: Link): FaultyLink {
    return new FaultyLink(link, this);
  }

  /** Resolves when no stall is in force. */
  whenFlowing(): Promise<void> {
    if (!this.stalled) return Promise.resolve();
    return new Promise((resolve) => this.stallWaiters.add(resolve));
  }

  /** Applies drop and corrupt to one chunk going `way`; may return an empty chunk. */
  mangle(chunk: Uint8Array, way: 'in' | 'out'): Uint8Array {
    const drop = applies(this.dropDir, way) ? this.dropRate : 0;
    const corrupt = applies(this.corruptDir, way) ? this.corruptRate : 0;
    if (drop === 0 && corrupt === 0) return chunk;
    const out = new Uint8Array(chunk.length);
    let n = 0;
    for (const byte of chunk) {
      if (drop > 0 && this.rng() < drop) {
        if (way === 'in') this.counters.droppedIn++;
        else this.counters.droppedOut++;
        continue;
      }
      let b = byte;
      if (corrupt > 0 && this.rng() < corrupt) {
        b ^= 1 << Math.floor(this.rng() * 8);
        if (way === 'in') this.counters.corruptedIn++;
        else this.counters.corruptedOut++;
      }
      out[n++] = b;
    }
    return out.subarray(0, n);
  }

  private release(): void {
    const waiters = [...this.stallWaiters];
    this.stallWaiters.clear();
    for (const w of waiters) w();
  }
}

/**
 * A link seen through a {@link FaultInjector}. Writes and incoming chunks keep their order
 * through a stall: both are queued and released together when it ends.
 */
export class FaultyLink implements Link {
  readonly info: LinkInfo;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    /** The link underneath. */
    readonly inner: Link,
    private readonly faults: FaultInjector,
  ) {
    this.info = inner.info;
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  write(data: Uint8Array): Promise<void> {
    if (!this.inner.isOpen) return this.inner.write(data);
    const copy = data.slice();
    // Chained so a write queued during a stall cannot overtake an earlier one.
    const run = this.tail.then(async () => {
      await this.faults.whenFlowing();
      if (this.faults.silent) return;
      const out = this.faults.mangle(copy, 'out');
      if (out.length > 0) await this.inner.write(out);
    });
    this.tail = run.catch(() => {});
    return run;
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    let queue: Promise<void> = Promise.resolve();
    let held = 0;
    const deliver = (chunk: Uint8Array): void => {
      if (this.faults.silent) return;
      const c = this.faults.mangle(chunk, 'in');
      if (c.length > 0) listener(c);
    };
    return this.inner.onData((chunk) => {
      if (!this.faults.stalled && held === 0) {
        deliver(chunk);
        return;
      }
      // Held until the stall ends; later chunks queue behind so the order is kept.
      const copy = chunk.slice();
      held++;
      queue = queue
        .then(() => this.faults.whenFlowing())
        .then(() => {
          held--;
          deliver(copy);
        });
    });
  }

  onClose(listener: (error?: LinkError) => void): () => void {
    return this.inner.onClose(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
