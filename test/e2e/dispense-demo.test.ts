/**
 * `make demo` as a newcomer runs it: scripts/demo.ts end to end (demo world, simulator on a
 * paced pty, unicardd, shop client), checking what it prints and that it leaves no process,
 * socket or temp dir behind.
 */
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { expect, it } from 'vitest';
import { runScript } from './daemon-harness.js';

const demoDirs = async (): Promise<string[]> => (await readdir(tmpdir())).filter((n) => n.startsWith('unicard-demo-'));

it('make demo: authorizes and commits 20 loaves, shows a partial approval and refusals, cleans up', async () => {
  const before = new Set(await demoDirs());
  const r = await runScript('scripts/demo.ts', []);
  const out = r.stdout.join('\n');
  expect(r.status.code, [...r.stdout, ...r.stderr].join('\n')).toBe(0);
  expect(out).toMatch(/APPROVED 20 loaves/);
  expect(out).toMatch(/quantity: {2}20 loaves/);
  expect(out).toMatch(/إيصال رقم 1/);
  expect(out).toMatch(/APPROVED 30 of 40 loaves \(less than asked\)/);
  expect(out).toMatch(/REFUSED {2}BREAD_TODAY_COLLECTED/);
  expect(out).toMatch(/REFUSED {2}FINGERPRINT_MISMATCH/);
  expect(out).toMatch(/no processes, sockets or temp files left/);
  expect((await demoDirs()).filter((d) => !before.has(d))).toEqual([]);
}, 120_000);
