/** ProgressLine with an injected clock: the numbers a technician reads. */
import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, ProgressLine } from './progress-line.js';

describe('ProgressLine', () => {
  it('shows percent, bytes, rate of this run and time left', () => {
    let t = 0;
    const out: string[] = [];
    const p = new ProgressLine((s) => out.push(s), false, 100 * 1024, 20 * 1024, () => t);
    t = 2000; // 40 KiB more in 2 s: 20 KiB/s, 40 KiB left: 2 s
    expect(p.line(60 * 1024)).toBe('[##############----------]  60%  60.0 KiB / 100.0 KiB  20.0 KiB/s  2s left');
  });

  it('prints plain lines once per 10 % off a TTY, redraws one line on a TTY', () => {
    let t = 0;
    const plain: string[] = [];
    const p = new ProgressLine((s) => plain.push(s), false, 1000, 0, () => t);
    for (let done = 0; done <= 1000; done += 50) (t += 10), p.update(done);
    p.finish(1000);
    expect(plain).toHaveLength(11);
    expect(plain.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    const tty: string[] = [];
    const q = new ProgressLine((s) => tty.push(s), true, 1000, 0, () => t);
    q.update(500);
    q.finish(1000);
    expect(tty[0]).toMatch(/^\r\[/);
    expect(tty.at(-1)).toMatch(/done\x1b\[K\n$/);
  });

  it('formats sizes and durations', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.00 MiB');
    expect(formatDuration(184)).toBe('3m04s');
    expect(formatDuration(Infinity)).toBe('?');
  });
});
