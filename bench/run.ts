/**
 * `make bench`: runs every benchmark, prints one table, and writes it as JSON under results/
 * (not committed).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { renderTable, type BenchRow } from './bench-table.js';
import { codecRows, ed25519Rows, framingRows } from './protocol-bench.js';
import { firmwareRows } from './firmware-bench.js';
import { latencyBench } from './latency-bench.js';
import { daemonBench } from './daemon-bench.js';
import { ledgerRows } from './ledger-bench.js';
import { lineChart } from './chart.js';

const quick = process.argv.includes('--quick');
const ms = quick ? 200 : 1500;

async function main(): Promise<void> {
  // The machines are shared: the load before and after says how much the absolute figures can be trusted.
  const loadBefore = loadavg()[0] ?? 0;
  const rows: BenchRow[] = [];
  rows.push(...framingRows());
  rows.push(...codecRows(ms));
  rows.push(...ed25519Rows(ms));
  rows.push(...(await firmwareRows({ imageBytes: quick ? 32 * 1024 : 128 * 1024, chunkBytes: 4096 })));
  const latency = await latencyBench(quick ? { authorizations: 15, counted: 5 } : { authorizations: 50, counted: 20 });
  rows.push(...latency.rows);
  const daemon = await daemonBench(quick ? { seconds: 2, warmSeconds: 0.5, pacedSeconds: 5 } : { seconds: 6, warmSeconds: 1.5, compare: true });
  rows.push(...daemon.rows.filter((r) => r.group !== 'growth'));
  const ledger = await ledgerRows(quick ? { sizes: [10_000], samples: 2000, commits: 200 } : {});
  rows.push(...ledger);
  // How cost grows: per terminal count (unpaced), then quota check per ledger size.
  rows.push(...daemon.rows.filter((r) => r.group === 'growth'));
  for (const r of ledger.filter((x) => x.name.startsWith('quota check') && x.name.endsWith('p99'))) {
    rows.push({ group: 'growth', name: r.name.replace('quota check, ', 'quota check p99, ').replace(/: p99$/, ''), value: r.value, unit: r.unit, note: 'from the ledger rows above' });
  }

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; 1-min load ${loadBefore.toFixed(1)} before, ${(loadavg()[0] ?? 0).toFixed(1)} after`;
  console.log(`unicard benchmarks — ${new Date().toISOString()} — ${machine}\n`);
  console.log(renderTable(rows));
  const missed = rows.filter((r) => r.pass === false);
  console.log(`\n${rows.filter((r) => r.pass !== undefined).length - missed.length} targets met, ${missed.length} missed`);

  mkdirSync('results', { recursive: true });
  const chart = lineChart([
    { name: 'authorize p50 (ms)', colour: [31, 119, 180], points: daemon.runs.map((r) => [r.terminals, r.authorizeP50] as const) },
    { name: 'authorize p99 (ms)', colour: [214, 39, 40], points: daemon.runs.map((r) => [r.terminals, r.authorizeP99] as const) },
    { name: 'authorize + commit p50 (ms)', colour: [44, 160, 44], points: daemon.runs.map((r) => [r.terminals, r.pairP50] as const) },
  ]);
  writeFileSync('results/latency-vs-terminals.png', chart);
  writeFileSync(
    'results/bench.json',
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine,
        quick,
        rows,
        latencyVsTerminals: daemon.runs,
        profileTop: daemon.profileTop,
        perfProfile: daemon.perfProfile ?? null,
        pacedRun: daemon.paced ?? null,
        chart: { file: 'latency-vs-terminals.png', x: 'terminals (unpaced TCP)', series: ['authorize p50 (blue)', 'authorize p99 (red)', 'authorize + commit p50 (green)'], y: 'ms, from 0' },
      },
      null,
      2,
    ) + '\n',
  );
  console.log('written: results/bench.json, results/latency-vs-terminals.png (blue: authorize p50, red: p99, green: authorize + commit p50; x: 1, 8, 32 terminals)');
}

main().catch((e: unknown) => {
  console.error('bench failed:', e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
