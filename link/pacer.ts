/**
 * Pacing: makes a link that has no baud rate of its own (a pty, a TCP socket) deliver bytes
 * at the rate of a real UART, so timings measured over a pty match the wire.
 *
 * The pacer keeps a virtual "line free at" time. A write of n bytes starts when the line is
 * free (or now, if it has been idle) and byte k of it has left the wire at
 * `start + k × byteTime`. The sender hands over each byte no earlier than that moment, in
 * slices of about `sliceMs` worth of bytes. Deadlines come from the virtual line, not from
 * when a timer actually fired, so a late timer is caught up at the next step (it releases
 * every byte that is due) and the average rate equals the line rate over a long transfer.
 *
 * This class is pure: it never reads a clock and never sets a timer. Callers pass `now`
 * (milliseconds on any monotonic clock) and sleep until the `wakeAt` it returns.
 */
import { LinkError } from '../protocol/errors.js';

/** Line rate to pace to. */
export interface PaceOptions {
  /** Bits per second, e.g. 115200. */
  baudRate: number;
  /** Bits on the wire per byte: 10 for 8N1 (start + 8 data + stop), 11 for 8E1 or 8N2. */
  bitsPerByte?: number;
  /** Size of one handed-over slice, in milliseconds of line time. Default 2. */
  sliceMs?: number;
}

/** What to do at one step of a paced write. */
export interface PaceStep {
  /** Offset (into the current write) of the first byte to hand over now. */
  from: number;
  /** End offset (exclusive) of the bytes to hand over now; `to === from` means none yet. */
  to: number;
  /** True when, after handing over `[from, to)`, the whole write is out. */
  done: boolean;
  /** When to call `step` again (absent when `done`). */
  wakeAt?: number;
  /**
   * True when `wakeAt` is the moment the write's last byte leaves the wire, so the next step
   * finishes the write. A sender may wait for this one more precisely than a timer's
   * millisecond granularity: it decides when the receiver sees the end of a frame.
   */
  last?: boolean;
}

/** Absorbs floating-point error at exact deadlines (one millionth of a byte time). */
const EPSILON_BYTES = 1e-6;

/** Schedules the bytes of consecutive writes onto a virtual UART line. Pure: no clock, no timers. */
export class Pacer {
  /** Line time of one byte, in milliseconds. */
  readonly byteTimeMs: number;
  /** Bytes per slice (at least 1). */
  readonly sliceBytes: number;
  private readonly bytesPerMs: number;
  private freeAt = Number.NEGATIVE_INFINITY;
  private current: { startAt: number; length: number; sent: number } | undefined;

  constructor(options: PaceOptions) {
    const bitsPerByte = options.bitsPerByte ?? 10;
    const sliceMs = options.sliceMs ?? 2;
    if (!(Number.isFinite(options.baudRate) && options.baudRate > 0)) {
      throw new LinkError('LINK_INVALID_OPTIONS', `pace: baudRate must be a positive number (got ${options.baudRate})`);
    }
    if (!(Number.isFinite(bitsPerByte) && bitsPerByte > 0)) {
      throw new LinkError('LINK_INVALID_OPTIONS', `pace: bitsPerByte must be a positive number (got ${bitsPerByte})`);
    }
    if (!(Number.isFinite(sliceMs) && sliceMs > 0)) {
      throw new LinkError('LINK_INVALID_OPTIONS', `pace: sliceMs must be a positive number (got ${sliceMs})`);
    }
    this.bytesPerMs = options.baudRate / bitsPerByte / 1000;
    this.byteTimeMs = 1 / this.bytesPerMs;
    this.sliceBytes = Math.max(1, Math.round(sliceMs * this.bytesPerMs));
  }

  /** The time the virtual line becomes free (after every byte scheduled so far). */
  get lineFreeAt(): number {
    return this.freeAt;
  }

  /** True while a write started with `begin` still has bytes to hand over. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  /**
   * Starts pacing a write of `length` bytes issued at time `issuedAt` (when the caller wrote
   * it, which may be earlier than now if it waited behind other writes). Like a UART, its
   * bytes start when the line is free, or at `issuedAt` if the line was idle by then: idle
   * time earns no credit. Writes are paced one at a time: call `step` until it says `done`
   * before the next `begin`.
   */
  begin(issuedAt: number, length: number): void {
    if (this.current !== undefined) {
      throw new LinkError('LINK_INVALID_OPTIONS', 'pacer: begin() while a write is still being paced');
    }
    if (!Number.isInteger(length) || length < 0) {
      throw new LinkError('LINK_INVALID_OPTIONS', `pacer: length must be a non-negative integer (got ${length})`);
    }
    const startAt = Math.max(issuedAt, this.freeAt);
    this.freeAt = startAt + length * this.byteTimeMs;
    this.current = { startAt, length, sent: 0 };
  }

  /**
   * What to hand over at time `now`: every byte of the current write that has left the
   * virtual wire and was not handed over yet, and when to come back for the next slice.
   */
  step(now: number): PaceStep {
    const cur = this.current;
    if (cur === undefined) return { from: 0, to: 0, done: true };
    const elapsedBytes = (now - cur.startAt) * this.bytesPerMs + EPSILON_BYTES;
    const due = Math.min(cur.length, Math.max(cur.sent, Math.floor(elapsedBytes)));
    const from = cur.sent;
    cur.sent = due;
    if (due >= cur.length) {
      this.current = undefined;
      return { from, to: due, done: true };
    }
    const nextEnd = Math.min(cur.length, due + this.sliceBytes);
    return { from, to: due, done: false, wakeAt: cur.startAt + nextEnd * this.byteTimeMs, last: nextEnd === cur.length };
  }

  /** Time at which byte count `count` of the current write has left the wire (for tests and logs). */
  finishOf(count: number): number | undefined {
    const cur = this.current;
    return cur === undefined ? undefined : cur.startAt + count * this.byteTimeMs;
  }

  /** Abandons the current write (the link closed); the line time already reserved stays used. */
  abort(): void {
    this.current = undefined;
  }
}
