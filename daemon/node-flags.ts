/**
 * The Node/V8 flags unicardd runs with, for its resident-memory budget (DESIGN.md §10: ≤ 80 MB
 * with 32 terminals). V8 sizes its heap when the process starts (v8.setFlagsFromString later
 * has no effect on it), so these are command-line flags: the launcher passes them
 * (`node <UNICARDD_NODE_FLAGS> dist/daemon/unicardd.js`), and so does the benchmark that
 * measures the daemon's RSS. Why each, with the figures: BENCHMARKS.md "Daemon RSS".
 */
export const UNICARDD_NODE_FLAGS: readonly string[] = [
  // Young generation at most 2 × 2 MiB instead of node's 2 × 16 MiB. Session 3 measured after
  // a 32-terminal run (main-thread GC pause per authorization from --trace-gc, which unlike
  // total CPU is not drowned in the shared machine's noise): semi-space 8 MiB 95 MiB RSS and
  // 46 µs; 4 MiB 84 MiB and 69 µs; 2 MiB 79-81 MiB and 132 µs; 1 MiB 78 MiB and 207 µs, and
  // shipped 4. Session 4 found the bakery-pace reading had counted idempotent replays: with
  // real authorizations a fresh daemon peaks at 79.5-80.0 MiB with 4 and 75.8 MiB with 2, so
  // 2 it is: a few per cent of CPU at stress load (where the CPU target is missed anyway) for
  // the 80 MB budget where a shop runs. Below 2 each MiB costs more pauses than it is worth
  // (a scavenge costs ~1 ms whatever its size). BENCHMARKS.md "Daemon RSS".
  '--max-semi-space-size=2',
  // A heap limit below 256 MiB gives V8's old generation its smallest growth factor (1.3 ×
  // the live heap instead of up to 4 ×): promoted garbage is collected sooner. The live heap
  // is 10-30 MiB (SQLite's pages are not in it), so the limit itself is far off.
  '--max-old-space-size=256',
  // The old generation's first collection limit at 8 MiB instead of V8's default (a share of
  // the 256 MiB maximum): until its first mark-compact the old generation grew with garbage,
  // 10 → 15 MiB in the first minutes at a bakery's pace. Measured on a fresh daemon with 32
  // terminals authorizing every 2 s: peak RSS 72.0-72.1 MiB instead of 75.4-76.5; under
  // stress load the limit soon follows the live heap either way (GC per authorization 84-88
  // µs against 76-87, within noise). BENCHMARKS.md "Daemon RSS".
  '--initial-old-space-size=8',
  // One V8 helper thread instead of four (node's default): fewer thread stacks and malloc
  // arenas; GC and compilation still run beside the main thread.
  '--v8-pool-size=1',
];

/** The flags of {@link UNICARDD_NODE_FLAGS} this process was started without. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return UNICARDD_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
