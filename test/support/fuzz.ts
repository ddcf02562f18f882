/**
 * How many cases a property/fuzz test runs. `make test` uses each test's default;
 * `make fuzz` sets UNICARD_FUZZ_RUNS to run every decoder with the long count.
 */
export function fuzzRuns(defaultRuns: number): number {
  const fromEnv = Number(process.env.UNICARD_FUZZ_RUNS);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? Math.floor(fromEnv) : defaultRuns;
}
