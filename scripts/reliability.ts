/**
 * `make reliability`: runs the fault campaigns (test/faults/) at their full counts and the
 * attack tests (test/security/), then prints one summary table from the figures each
 * campaign wrote (see test/faults/figures.ts) and keeps it in results/reliability/summary.md.
 *
 * Exit status: 0 only if every test passed and no campaign counted a wrong approval, a
 * duplicate or a lost receipt. Counts can be changed through the environment
 * (UNICARD_CRASH_TRANSACTIONS, UNICARD_NOISE_TRANSACTIONS, UNICARD_NOISE_RATE,
 * UNICARD_UNPLUG_TRANSACTIONS, and the campaigns' *_SEED).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CampaignFigures } from '../test/faults/figures.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'results', 'reliability');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const env = {
  ...process.env,
  UNICARD_RELIABILITY_OUT: out,
  UNICARD_CRASH_TRANSACTIONS: process.env.UNICARD_CRASH_TRANSACTIONS ?? '200',
  UNICARD_NOISE_TRANSACTIONS: process.env.UNICARD_NOISE_TRANSACTIONS ?? '200',
  UNICARD_UNPLUG_TRANSACTIONS: process.env.UNICARD_UNPLUG_TRANSACTIONS ?? '100',
};
console.log(`reliability: crash ${env.UNICARD_CRASH_TRANSACTIONS} transactions, line noise ${env.UNICARD_NOISE_TRANSACTIONS}, unplug ${env.UNICARD_UNPLUG_TRANSACTIONS}; figures in ${out}`);
const run = spawnSync('npx', ['vitest', 'run', 'test/faults', 'test/security'], { cwd: root, env, stdio: 'inherit' });

const figures: CampaignFigures[] = readdirSync(out)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(out, f), 'utf8')) as CampaignFigures);

const cols: Array<[keyof CampaignFigures, string]> = [
  ['campaign', 'campaign'],
  ['faultsInjected', 'faults injected'],
  ['transactions', 'transactions'],
  ['completed', 'completed'],
  ['failedCleanly', 'failed cleanly'],
  ['retries', 'retries'],
  ['wrongApprovals', 'wrong approvals'],
  ['duplicates', 'duplicates'],
  ['lost', 'lost'],
  ['attacksTried', 'attacks tried'],
  ['attacksRefused', 'refused'],
];
const cell = (v: unknown): string => (v === undefined ? '–' : String(v));
const lines = [
  `| ${cols.map(([, h]) => h).join(' | ')} |`,
  `|${cols.map(() => '---').join('|')}|`,
  ...figures.map((f) => `| ${cols.map(([k]) => cell(f[k])).join(' | ')} |`),
];
const notes = figures.filter((f) => f.notes !== undefined || f.seed !== undefined).map((f) => `- ${f.campaign}${f.seed !== undefined ? ` (seed ${f.seed})` : ''}: ${f.notes ?? ''}`);
const bad = figures.filter((f) => (f.wrongApprovals ?? 0) > 0 || (f.duplicates ?? 0) > 0 || (f.lost ?? 0) > 0 || (f.attacksRefused ?? 0) < (f.attacksTried ?? 0));
const verdict = run.status === 0 && bad.length === 0 ? 'PASS' : `FAIL (tests exit ${run.status}${bad.length > 0 ? `; bad figures in ${bad.map((b) => b.campaign).join(', ')}` : ''})`;
const summary = [`# Reliability run ${new Date().toISOString()}: ${verdict}`, '', ...lines, '', ...notes, ''].join('\n');
writeFileSync(join(out, 'summary.md'), summary);
console.log(`\n${summary}`);
process.exit(verdict === 'PASS' ? 0 : 1);
