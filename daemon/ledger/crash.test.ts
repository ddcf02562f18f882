import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Ledger } from './ledger.js';
import { FixtureWorld } from './ledger-fixtures.js';
import { verifyLedger } from './verify-ledger.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

interface Ack {
  readonly authorizationId: string;
  readonly seq: number;
  readonly idHex: string;
}

/** Runs the child until it acknowledged `acks` commits, then kills it with SIGKILL. */
function runAndKill(path: string, round: number, acks: number): Promise<{ acked: Ack[]; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, 'crash', String(round)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: Ack[] = [];
    let buffered = '';
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const m = /^ACK (\S+) (\d+) ([0-9a-f]{128})$/.exec(line);
        if (m !== null) acked.push({ authorizationId: m[1]!, seq: Number(m[2]), idHex: m[3]! });
        if (!killed && acked.length >= acks) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (!killed) reject(new Error(`child exited by itself (code ${code}): ${stderr}`));
      else resolve({ acked, signal });
    });
  });
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('crash safety', () => {
  it('keeps every acknowledged commit exactly once, with a verifying chain, after SIGKILL mid-stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unicard-ledger-crash-'));
    dirs.push(dir);
    const path = join(dir, 'ledger.db');
    const world = new FixtureWorld('crash');
    const all: Ack[] = [];
    for (let round = 0; round < 3; round++) {
      const { acked, signal } = await runAndKill(path, round, 40 + round * 25);
      expect(signal).toBe('SIGKILL');
      all.push(...acked);

      // Reopen as the restarted daemon would.
      const ledger = Ledger.open(path, { daemonSeed: world.daemonSeed });
      try {
        const report = verifyLedger(ledger, world.roots());
        expect(report.problems).toEqual([]);
        expect(report.ok).toBe(true);
        expect(report.receipts).toBeGreaterThanOrEqual(all.length);
        for (const a of all) {
          const r = ledger.receipt(a.seq);
          expect(r?.idHex).toBe(a.idHex);
          expect(r?.authorizationId).toBe(a.authorizationId);
          expect(ledger.authorization(a.authorizationId)).toMatchObject({ state: 'committed', receiptSeq: a.seq });
          const count = ledger.db.prepare('SELECT count(*) AS n FROM receipts WHERE auth_id = ?').get(a.authorizationId) as { n: number };
          expect(count.n).toBe(1);
        }
        // Commits not acknowledged before the kill are either whole or absent, never half-written.
        const committed = ledger.db.prepare("SELECT count(*) AS n FROM authorizations WHERE state = 'committed'").get() as { n: number };
        expect(committed.n).toBe(report.receipts);
        const orphans = ledger.db.prepare("SELECT count(*) AS n FROM pending_evidence e JOIN authorizations a ON a.id = e.auth_id WHERE a.state = 'committed'").get() as { n: number };
        expect(orphans.n).toBe(0);
      } finally {
        ledger.close();
      }
    }
    expect(new Set(all.map((a) => a.seq)).size).toBe(all.length);
  });
});
