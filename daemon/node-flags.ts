/**
 * The Node/V8 flags unicardd runs with, for its resident-memory budget (DESIGN.md §10: ≤ 80 MB
 * with 32 terminals). V8 sizes its heap when the process starts (v8.setFlagsFromString later
 * has no effect on it), so these are command-line flags: the launcher passes them
 * (`node <UNICARDD_NODE_FLAGS> dist/daemon/unicardd.js`), and so does the benchmark that
 * measures the daemon's RSS. Why each, with the figures: BENCHMARKS.md "Daemon RSS".
 */
export const UNICARDD_NODE_FLAGS: readonly string[] = [
  // Young generation at most 2 × 8 MiB instead of 2 × 16 MiB: −9 to −17 MiB after a
  // throughput run for no measurable CPU. 2 × 4 MiB saved 9 MiB more but cost 4-10 % CPU per
  // authorization in scavenges (the daemon allocates ~300 KiB per authorization); revisit
  // when that allocation drops.
  '--max-semi-space-size=8',
  // A heap limit below 256 MiB gives V8's old generation its smallest growth factor (1.3 ×
  // the live heap instead of up to 4 ×): promoted garbage is collected sooner. The live heap
  // is 10-30 MiB (SQLite's pages are not in it), so the limit itself is far off.
  '--max-old-space-size=256',
  // One V8 helper thread instead of four (node's default): fewer thread stacks and malloc
  // arenas; GC and compilation still run beside the main thread.
  '--v8-pool-size=1',
];

/** The flags of {@link UNICARDD_NODE_FLAGS} this process was started without. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return UNICARDD_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}
