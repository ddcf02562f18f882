/**
 * Applies a {@link Pacer} with real (or injected) timers, keeps writes in call order, and
 * settles every pending write when the link ends. Shared by the serial and TCP links.
 */
import { LinkError } from '../protocol/errors.js';
import { Pacer, type PaceOptions } from './pacer.js';

/** The clock and timers a WriteQueue uses; injected by tests, real ones by default. */
export interface LinkTimer {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Runs `fn` after pending I/O (one event-loop turn), for waits finer than a timer's millisecond. */
  setImmediate(fn: () => void): unknown;
  clearImmediate(handle: unknown): void;
}

/** `performance.now()` and the global timers. */
export const realTimer: LinkTimer = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  setImmediate: (fn) => setImmediate(fn),
  clearImmediate: (handle) => clearImmediate(handle as ReturnType<typeof setImmediate>),
};

/**
 * Node timers fire on whole milliseconds, often one or two late. The wait for the end of a
 * write sleeps on a timer until this close to the deadline, then yields turn by turn.
 */
const PRECISE_MARGIN_MS = 1.5;

/** Hands one slice to the transport; resolves when the transport has taken it. */
export type RawWrite = (chunk: Uint8Array) => Promise<void>;

interface Job {
  data: Uint8Array;
  /** When write() was called: a UART would have had the bytes from then on. */
  issuedAt: number;
  resolve: () => void;
  reject: (error: LinkError) => void;
  settled: boolean;
}

/**
 * Serialises writes onto a transport. Unpaced, each write goes straight to the transport
 * (which keeps order itself) and many may be in flight. Paced, one write at a time is cut
 * into slices that are handed over when the virtual line says they have left the wire.
 */
export class WriteQueue {
  private readonly pacer: Pacer | undefined;
  private readonly jobs: Job[] = [];
  private readonly inFlight = new Set<Job>();
  private pumping = false;
  private abortError: LinkError | undefined;
  private sleeping: { cancel: () => void; wake: () => void } | undefined;

  constructor(
    private readonly rawWrite: RawWrite,
    pace?: PaceOptions,
    private readonly timer: LinkTimer = realTimer,
  ) {
    this.pacer = pace === undefined ? undefined : new Pacer(pace);
  }

  /** True when writes are paced. */
  get paced(): boolean {
    return this.pacer !== undefined;
  }

  /** Queues `data`; resolves when its last byte is handed to the transport. */
  write(data: Uint8Array): Promise<void> {
    if (this.abortError !== undefined) return Promise.reject(this.abortError);
    return new Promise<void>((resolve, reject) => {
      const job: Job = { data, issuedAt: this.timer.now(), resolve, reject, settled: false };
      if (this.pacer === undefined) {
        this.inFlight.add(job);
        this.rawWrite(data).then(
          () => this.settle(job),
          (e: unknown) => this.settle(job, asLinkError(e)),
        );
        return;
      }
      this.jobs.push(job);
      if (!this.pumping) void this.pump(this.pacer);
    });
  }

  /** Rejects every pending write with `error` and stops pacing. Later writes reject too. */
  abort(error: LinkError): void {
    if (this.abortError !== undefined) return;
    this.abortError = error;
    this.pacer?.abort();
    for (const job of this.inFlight) this.settle(job, error);
    for (const job of this.jobs.splice(0)) this.settle(job, error);
    const sleeping = this.sleeping;
    if (sleeping !== undefined) {
      sleeping.cancel();
      sleeping.wake();
    }
  }

  private settle(job: Job, error?: LinkError): void {
    this.inFlight.delete(job);
    if (job.settled) return;
    job.settled = true;
    if (error === undefined) job.resolve();
    else job.reject(error);
  }

  private async pump(pacer: Pacer): Promise<void> {
    this.pumping = true;
    try {
      while (this.abortError === undefined) {
        const job = this.jobs[0];
        if (job === undefined) break;
        pacer.begin(job.issuedAt, job.data.length);
        for (;;) {
          const step = pacer.step(this.timer.now());
          if (step.to > step.from) {
            try {
              await this.rawWrite(job.data.subarray(step.from, step.to));
            } catch (e) {
              pacer.abort();
              this.jobs.shift();
              this.settle(job, asLinkError(e));
              break;
            }
          }
          if (this.abortError !== undefined) return;
          if (step.done) {
            this.jobs.shift();
            this.settle(job);
            break;
          }
          // Intermediate slices may wake late (the next step catches up); the end of a write
          // is when the receiver sees a whole frame, so that wait is precise.
          await this.sleepUntil(step.wakeAt ?? 0, step.last === true);
          if (this.abortError !== undefined) return;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private sleepUntil(deadline: number, precise: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.timer;
      let cancel: () => void = () => {};
      const sleeping = {
        cancel: () => cancel(),
        wake: () => {
          if (this.sleeping === sleeping) this.sleeping = undefined;
          resolve();
        },
      };
      this.sleeping = sleeping;
      const spin = (): void => {
        if (timer.now() >= deadline) return sleeping.wake();
        const handle = timer.setImmediate(spin);
        cancel = () => timer.clearImmediate(handle);
      };
      const ms = deadline - timer.now();
      if (!precise) {
        const handle = timer.setTimeout(sleeping.wake, Math.max(0, ms));
        cancel = () => timer.clearTimeout(handle);
      } else if (ms > PRECISE_MARGIN_MS) {
        const handle = timer.setTimeout(spin, ms - PRECISE_MARGIN_MS);
        cancel = () => timer.clearTimeout(handle);
      } else {
        spin();
      }
    });
  }
}

/** Transports reject with LinkErrors; anything else is wrapped so callers only see LinkErrors. */
function asLinkError(e: unknown): LinkError {
  if (e instanceof LinkError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new LinkError('LINK_IO', `write failed: ${message}`, { cause: message });
}
