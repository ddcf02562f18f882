import { describe, expect, it } from 'vitest';
import { mkdtempSync, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519FloorMs, gcPauseMsOfTraceLine, processCpuMs, processMemoryMiB, processWriteCalls, quantile, summariseCpuProfile, type CpuProfile } from '../../bench/daemon-bench.js';

describe('daemon bench arithmetic', () => {
  it('the Ed25519 floor is two verifies and one sign, in ms', () => {
    const f = ed25519FloorMs(40);
    expect(f.verifyUs).toBeGreaterThan(0);
    expect(f.signUs).toBeGreaterThan(0);
    expect(f.floorMs).toBeCloseTo((2 * f.verifyUs + f.signUs) / 1000, 9);
  });

  it('quantile is the nearest rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(xs, 0.5)).toBe(50);
    expect(quantile(xs, 0.99)).toBe(99);
    expect(quantile([7], 0.99)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('reads its own CPU time and memory from /proc', () => {
    expect(processCpuMs(process.pid)).toBeGreaterThan(0);
    const m = processMemoryMiB(process.pid);
    expect(m.rss).toBeGreaterThan(1);
    expect(m.peak).toBeGreaterThanOrEqual(m.rss);
  });
});

describe('cost counters that do not move with the machine load', () => {
  it('counts this process\'s write calls from /proc/<pid>/io', () => {
    const dir = mkdtempSync(join(tmpdir(), 'syscw-'));
    try {
      const fd = openSync(join(dir, 'f'), 'w');
      const before = processWriteCalls(process.pid);
      for (let i = 0; i < 25; i++) writeSync(fd, 'x');
      closeSync(fd);
      // Exactly our 25, plus whatever vitest's own threads wrote meanwhile.
      expect(processWriteCalls(process.pid) - before).toBeGreaterThanOrEqual(25);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the main-thread time of --trace-gc lines (pause, plus incremental marking steps)', () => {
    // Lines as node 20 prints them.
    expect(gcPauseMsOfTraceLine('[22843:0x28f17e50]       24 ms: Scavenge 3.8 (4.0) -> 3.4 (5.0) MB, 1.46 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ')).toBeCloseTo(1.46, 9);
    expect(
      gcPauseMsOfTraceLine(
        '[22851:0x11b88e70]      238 ms: Mark-Compact 77.6 (97.2) -> 62.8 (97.6) MB, 9.64 / 0.01 ms  (+ 25.3 ms in 164 steps since start of marking, biggest step 3.4 ms, walltime since start of marking 99 ms) (average mu = 1.000, current mu = 1.000) finalize incremental marking via stack guard; GC in old space requested',
      ),
    ).toBeCloseTo(34.94, 9);
    for (const other of ['{"level":30,"msg":"unicardd ready"}', '', 'Scavenge is a word', '[1:0x1] 5 ms: Scavenge 1.0 (2.0) -> 1.0 (2.0) MB']) expect(gcPauseMsOfTraceLine(other)).toBeUndefined();
  });
});

describe('summariseCpuProfile', () => {
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 9 });
  // root → handle (ours) → writeGeneric (node internals) → writeBuffer (native) ; root → (idle)
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)'), hitCount: 0, children: [2, 4] },
      { id: 2, callFrame: frame('handle', 'file:///repo/daemon/api.ts'), hitCount: 1, children: [5] },
      { id: 5, callFrame: frame('writeGeneric', 'node:internal/stream_base_commons'), hitCount: 0, children: [3] },
      { id: 3, callFrame: frame('writeBuffer'), hitCount: 3 },
      { id: 4, callFrame: frame('(idle)'), hitCount: 6 },
    ],
    // Samples 1 ms apart: an early `handle`, then writes and idle.
    samples: [2, 3, 3, 3, 4, 4, 4, 4, 4, 4],
    timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
  };

  it('ranks self time without idle and names the nearest caller in our code', () => {
    const top = summariseCpuProfile(profile, 5);
    expect(top[0]).toEqual({ what: 'writeBuffer ← handle api.ts:10', pct: 75 });
    expect(top[1]).toEqual({ what: 'handle api.ts:10', pct: 25 });
    expect(top).toHaveLength(2);
  });

  it('counts only the last milliseconds when asked', () => {
    // The last 8 ms hold two writes and the idle samples: the early `handle` is left out.
    const top = summariseCpuProfile(profile, 5, 8);
    expect(top).toEqual([{ what: 'writeBuffer ← handle api.ts:10', pct: 100 }]);
  });
});
