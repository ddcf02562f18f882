import { describe, expect, it } from 'vitest';
import { ed25519FloorMs, processCpuMs, processMemoryMiB, quantile, summariseCpuProfile, type CpuProfile } from '../../bench/daemon-bench.js';

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
