/**
 * A small progress display for uploads: on a TTY one line redrawn in place (bar, percent,
 * bytes, rate, time left); elsewhere (logs, pipes, tests) a plain line at every 10 %.
 */

/** Formats bytes as B / KiB / MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** Formats seconds as `12s` or `3m04s`. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.max(0, Math.round(s));
  return t < 60 ? `${t}s` : `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
}

/** Draws upload progress to `write`. */
export class ProgressLine {
  private readonly startedAt: number;
  private lastDecile = -1;
  private lastDraw = 0;

  /**
   * @param total bytes to reach
   * @param from bytes already there (a resumed upload): the rate counts only what this run sends
   */
  constructor(
    private readonly write: (text: string) => void,
    private readonly tty: boolean,
    private readonly total: number,
    private readonly from: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.startedAt = now();
  }

  /** The line for `done` bytes (exposed for tests). */
  line(done: number): string {
    const elapsedS = (this.now() - this.startedAt) / 1000;
    const rate = elapsedS > 0 ? (done - this.from) / elapsedS : 0;
    const left = rate > 0 ? (this.total - done) / rate : Infinity;
    const pct = this.total === 0 ? 100 : Math.floor((done / this.total) * 100);
    const width = 24;
    const filled = Math.round((pct / 100) * width);
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(pct).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(this.total)}  ${formatBytes(Math.round(rate))}/s  ${done >= this.total ? 'done' : `${formatDuration(left)} left`}`;
  }

  update(done: number): void {
    if (this.tty) {
      const t = this.now();
      if (t - this.lastDraw < 100 && done < this.total) return;
      this.lastDraw = t;
      this.write(`\r${this.line(done)}\x1b[K`);
      return;
    }
    const decile = Math.floor((done / Math.max(1, this.total)) * 10);
    if (decile === this.lastDecile) return;
    this.lastDecile = decile;
    this.write(`${this.line(done)}\n`);
  }

  /** Ends the display (a newline after the TTY line). */
  finish(done: number): void {
    if (this.tty) this.write(`\r${this.line(done)}\x1b[K\n`);
    else if (Math.floor((done / Math.max(1, this.total)) * 10) !== this.lastDecile) this.write(`${this.line(done)}\n`);
  }
}
