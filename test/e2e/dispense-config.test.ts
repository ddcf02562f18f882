/**
 * unicardd with a bad dispense.json stops at startup like a bad config (exit code 2, a
 * message naming the field); without one it runs and the dispensing methods answer
 * DISPENSE_UNAVAILABLE in both languages.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiClientError, UnicardClient } from '../../daemon/client/index.js';
import { makeDaemonWorld, runScript, startDaemon, stopAll, tempDir, writeDaemonConfig, type DaemonTestWorld } from './daemon-harness.js';

const TOKEN = 'dispense-config-token-0123456789';
let world: DaemonTestWorld;
let dir: string;

beforeAll(async () => {
  [world, dir] = await Promise.all([makeDaemonWorld(), tempDir('unicard-e2e-dispense-config-')]);
}, 60_000);

afterAll(async () => {
  await stopAll();
  await world?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function daemonConfig(name: string, dispense: Record<string, unknown> | undefined): Promise<string> {
  const dataDir = join(dir, name);
  await mkdir(dataDir, { recursive: true });
  if (dispense !== undefined) await writeFile(join(dataDir, 'dispense.json'), JSON.stringify(dispense));
  return writeDaemonConfig(join(dir, `${name}.json`), {
    dataDir,
    tokens: { shop: { token: TOKEN, role: 'shop' } },
    terminals: { enumerate: { enabled: false }, hid: { enabled: false } },
    trust: { vendorRoots: [world.vendorPub], issuerRoots: [world.issuerPub] },
  });
}

it.each([
  ['a missing field', { shopGovernorate: 3, roster: 'x' }, /shopId: must be/],
  ['an unknown field', { shopId: 'B-1', shopGovernorate: 3, roster: 'x', shopid: 'B-1' }, /shopid: unknown field/],
  ['a roster that is not there', { shopId: 'B-1', shopGovernorate: 3, roster: '/nonexistent/roster.cbor' }, /roster: cannot read/],
  ['a roster not signed by an issuer root', { shopId: 'B-1', shopGovernorate: 3, roster: 'REVOCATION' }, /roster: .* does not verify/],
])('exits 2 for %s in dispense.json, naming it', async (name, dispense, message) => {
  const d = { ...dispense } as Record<string, unknown>;
  // The world's revocation list is issuer-signed but not a roster.
  if (d.roster === 'REVOCATION') d.roster = join(world.worldDir, 'revocation.cbor');
  const config = await daemonConfig(`bad-${String(name).replaceAll(' ', '-')}`, d);
  const r = await runScript('daemon/unicardd.ts', ['--config', config]);
  expect(r.status.code).toBe(2);
  expect(r.stderr.join('\n')).toMatch(message);
}, 30_000);

it('without dispense.json the daemon runs and dispensing answers DISPENSE_UNAVAILABLE', async () => {
  const daemon = await startDaemon(['--config', await daemonConfig('none', undefined)]);
  const client = await UnicardClient.connect(daemon.ready.socket, { token: TOKEN });
  try {
    const e = await client.call('receipts.list', {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiClientError);
    expect(e).toMatchObject({ code: 'DISPENSE_UNAVAILABLE', rpcCode: 2090 });
    expect((e as ApiClientError).ar).toMatch(/[\u0600-\u06ff]/);
  } finally {
    await client.close();
    expect((await daemon.stop()).code).toBe(0);
  }
}, 30_000);
