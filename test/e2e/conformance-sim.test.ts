/**
 * The conformance suite against the real simulator process on a real pty, run through the
 * `unicard conformance` command: the simulator passes every check (card, holder and
 * firmware checks included, with --sim-control and --firmware-dir); each quirk mode fails
 * exactly the checks about the rule it breaks (the others pass, or are skipped because
 * they need a check that failed).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestWorld, type TestWorld } from '../../firmware-sim/terminal/test-world.js';
import { CHECKS } from '../../daemon/conformance/conformance-suite.js';
import { startSim, type SimHandle } from './sim-harness.js';
import { runCli } from './cli-harness.js';

interface JsonReport {
  results: { id: string; status: 'PASS' | 'FAIL' | 'SKIP'; evidence: string[] }[];
  passed: number;
  failed: number;
  skipped: number;
}

let world: TestWorld;
let sim: SimHandle;

beforeAll(async () => {
  world = await makeTestWorld();
  sim = await startSim({ world, link: 'pty' });
}, 60_000);
afterAll(async () => {
  await sim?.stop();
  await world?.cleanup();
});

async function conformance(extra: string[] = []): Promise<{ code: number | null; report: JsonReport; stderr: string }> {
  const run = await runCli([
    'conformance',
    '--port',
    sim.ptyPath!,
    '--vendor-root',
    join(world.dir, world.manifest.vendor.publicKeyFile),
    '--sim-control',
    join(sim.dir, 'sim.ctl'),
    '--json',
    ...extra,
  ]);
  return { code: run.code, report: JSON.parse(run.stdout) as JsonReport, stderr: run.stderr };
}

const failing = (r: JsonReport): string[] => r.results.filter((x) => x.status === 'FAIL').map((x) => x.id);

describe('unicard conformance against unicard-sim', () => {
  it('passes every check, with card, holder and firmware checks, and exits 0', async () => {
    const { code, report } = await conformance(['--firmware-dir', world.dir, '--issuer-root', join(world.dir, world.manifest.issuer.publicKeyFile)]);
    expect(report.results.map((r) => r.id)).toEqual(CHECKS.map(([id]) => id));
    expect(report.results.filter((r) => r.status !== 'PASS')).toEqual([]);
    expect(code).toBe(0);
    const hostile = report.results.find((r) => r.id === 'hostile.messages')!;
    expect(hostile.evidence.join(' ')).toContain('35 cases');
  }, 120_000);

  it('skips the firmware checks without --firmware-dir, naming what they need', async () => {
    const { code, report } = await conformance(['--only', 'firmware']);
    const fw = report.results.filter((r) => r.id.startsWith('firmware.'));
    expect(fw.map((r) => r.status)).toEqual(['SKIP', 'SKIP', 'SKIP', 'SKIP']);
    expect(fw[0]!.evidence.join(' ')).toContain('--firmware-dir');
    expect(report.results.filter((r) => !r.id.startsWith('firmware.')).map((r) => r.id)).toEqual(['framing.good-frame', 'cbor.canonical-responses', 'session.handshake']);
    expect(code).toBe(0);
  }, 60_000);

  const quirks: [string, string[]][] = [
    ['non_canonical_cbor', ['cbor.canonical-responses']],
    ['bad_crc', ['framing.good-frame']],
    ['no_replay_cache', ['exactly-once.same-id', 'exactly-once.id-reused', 'exactly-once.card-counter']],
    ['no_keepalive', ['keepalive.long-wait', 'holder.retry-and-match']],
    ['accept_clear', ['session.clear-refused']],
    ['no_segment_nak', ['framing.segments']],
  ];
  for (const [quirk, expected] of quirks) {
    it(`quirk ${quirk} fails exactly ${expected.join(', ')}`, async () => {
      expect((await sim.control({ cmd: 'clear' })).ok).toBe(true);
      expect((await sim.control({ cmd: 'quirk', name: quirk })).ok).toBe(true);
      try {
        const { code, report } = await conformance();
        const evidence = report.results.filter((x) => x.status === 'FAIL').map((x) => `${x.id}: ${x.evidence.join(' | ')}`).join('\n');
        expect(failing(report), evidence).toEqual(expected);
        expect(code).toBe(1);
        // Whatever did not fail either passed or was skipped because a failed check was needed.
        for (const r of report.results.filter((x) => x.status === 'SKIP')) expect(r.evidence.join(' ')).toMatch(/needs |--firmware-dir/);
      } finally {
        await sim.control({ cmd: 'clear' });
      }
    }, 90_000);
  }
});

describe('unicard conformance over TCP', () => {
  it('passes every check against the simulator listening on TCP', async () => {
    const tcpSim = await startSim({ world, link: 'tcp' });
    try {
      const run = await runCli([
        'conformance',
        '--tcp',
        tcpSim.tcpAddress!,
        '--vendor-root',
        join(world.dir, world.manifest.vendor.publicKeyFile),
        '--sim-control',
        join(tcpSim.dir, 'sim.ctl'),
        '--firmware-dir',
        world.dir,
        '--json',
      ]);
      const report = JSON.parse(run.stdout) as JsonReport;
      expect(report.results.filter((r) => r.status !== 'PASS')).toEqual([]);
      expect(report.passed).toBe(CHECKS.length);
      expect(run.code).toBe(0);
    } finally {
      await tcpSim.stop();
    }
  }, 120_000);
});
