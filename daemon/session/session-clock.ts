/**
 * The clock and timers the session uses. Injected so tests can drive time; the default reads
 * the globals at call time, so vitest's fake timers (installed after import) take effect.
 * Compatible with link/'s LinkTimer (which has these three members and more).
 */
export interface SessionClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** `performance.now()` and the global timers. */
export const realClock: SessionClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
