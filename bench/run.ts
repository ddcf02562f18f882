/**
 * `make bench`: runs every benchmark, prints one table, and writes it as JSON under results/
 * (not committed).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { renderTable, type BenchRow } from './bench-table.js';
import { codecRows, ed25519Rows, framingRows } from './protocol-bench.js';
import { firmwareRows } from './firmware-bench.js';

const quick = process.argv.includes('--quick');
const ms = quick ? 200 : 1500;

async function main(): Promise<void> {
  const rows: BenchRow[] = [];
  rows.push(...framingRows());
  rows.push(...codecRows(ms));
  rows.push(...ed25519Rows(ms));
  rows.push(...(await firmwareRows({ imageBytes: quick ? 32 * 1024 : 128 * 1024, chunkBytes: 4096 })));

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  console.log(`unicard benchmarks — ${new Date().toISOString()} — ${machine}\n`);
  console.log(renderTable(rows));
  const missed = rows.filter((r) => r.pass === false);
  console.log(`\n${rows.filter((r) => r.pass !== undefined).length - missed.length} targets met, ${missed.length} missed`);

  mkdirSync('results', { recursive: true });
  writeFileSync('results/bench.json', JSON.stringify({ date: new Date().toISOString(), machine, rows }, null, 2) + '\n');
  console.log('written: results/bench.json');
}

main().catch((e: unknown) => {
  console.error('bench failed:', e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
