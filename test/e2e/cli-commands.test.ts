/**
 * The `unicard` commands as real processes against the real simulator on a real pty:
 * output, --json and exit codes of devices, info, ping, test, monitor, trust, and the
 * usage and error paths (exit 2 usage, 3 unreachable, 4 untrusted).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestWorld, type TestWorld } from '../../firmware-sim/terminal/test-world.js';
import { startSim, type SimHandle } from './sim-harness.js';
import { runCli } from './cli-harness.js';

let world: TestWorld;
let sim: SimHandle;
let scratch: string;
let vendorRoot: string;
let port: string;

beforeAll(async () => {
  world = await makeTestWorld();
  sim = await startSim({ world, link: 'pty' });
  scratch = await mkdtemp(join(tmpdir(), 'unicard-cli-e2e-'));
  vendorRoot = join(world.dir, world.manifest.vendor.publicKeyFile);
  port = sim.ptyPath!;
}, 60_000);
afterAll(async () => {
  await sim?.stop();
  await world?.cleanup();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const json = <T>(text: string): T => JSON.parse(text) as T;

describe('unicard usage and errors', () => {
  it('prints help with an example for the tree and for each command', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Exit codes: 0 ok');
    for (const c of ['devices', 'info', 'ping', 'test', 'flash', 'monitor', 'conformance', 'trust', 'ledger']) {
      const r = await runCli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toContain('example: unicard');
    }
  }, 60_000);

  it('exits 2 on usage errors, saying what to do', async () => {
    const unknown = await runCli(['flsh']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('did you mean "flash"');
    const noLink = await runCli(['info']);
    expect(noLink.code).toBe(2);
    expect(noLink.stderr).toContain('give exactly one of --port');
    const badOpt = await runCli(['ping', '--port', port, '--count', 'x']);
    expect(badOpt.code).toBe(2);
    expect(badOpt.stderr).toContain('--count must be a whole number');
  }, 30_000);

  it('exits 3 when the device cannot be reached, and says HID is not available', async () => {
    const missing = await runCli(['info', '--port', join(scratch, 'no-such-tty'), '--json']);
    expect(missing.code).toBe(3);
    expect(json<{ error: { exitCode: number; hint: string } }>(missing.stdout).error).toMatchObject({ exitCode: 3 });
    expect(missing.stderr).toContain('what to do:');
    const hid = await runCli(['info', '--hid', 'any']);
    expect(hid.code).toBe(3);
    expect(hid.stderr).toContain('not available on this machine');
  }, 30_000);

  it('exits 4 when the terminal is not under the given vendor root', async () => {
    const r = await runCli(['info', '--port', port, '--vendor-root', join(world.dir, world.manifest.issuer.publicKeyFile)]);
    // The issuer key is a valid key file of the wrong kind: refused as a usage error, or the terminal is untrusted.
    expect([2, 4]).toContain(r.code);
    const other = await runCli(['test', '--port', port, '--pin', '0000000000000000']);
    expect(other.code).toBe(4);
    expect(other.stdout).toMatch(/FAIL\s+trust/);
    expect(other.stderr + other.stdout).toContain('unicard trust');
  }, 30_000);
});

describe('unicard device commands on the simulator', () => {
  it('devices lists the simulator with model, serial and firmware', async () => {
    const r = await runCli(['devices', '--port', port, '--json']);
    expect(r.code).toBe(0);
    const rows = json<{ devices: { path: string; state: string; model: string; terminalId: string; firmware: string }[] }>(r.stdout).devices;
    expect(rows.find((d) => d.path === port)).toMatchObject({ state: 'ready', model: 'SIM-1', terminalId: 'SIM0001', firmware: '1.0.0' });
    const text = await runCli(['devices', '--port', port, '--port', join(scratch, 'gone')]);
    expect(text.stdout).toContain('SIM0001');
    expect(text.stdout).toMatch(/gone\s+serial cannot open/);
  }, 30_000);

  it('info shows identity in clear, and state and firmware once trusted', async () => {
    const clear = json<Record<string, unknown>>((await runCli(['info', '--port', port, '--json'])).stdout);
    expect(clear).toMatchObject({ terminalId: 'SIM0001', firmware: '1.0.0' });
    expect(String(clear.trusted)).toContain('not checked');
    const r = await runCli(['info', '--port', port, '--vendor-root', vendorRoot, '--json']);
    expect(r.code).toBe(0);
    expect(json<Record<string, unknown>>(r.stdout)).toMatchObject({ trusted: 'trusted', state: 'ready', firmwareUpdate: { state: 'idle', running: '1.0.0' } });
  }, 30_000);

  it('ping reports min/avg/p95/max', async () => {
    const r = await runCli(['ping', '--port', port, '--count', '5', '--interval', '10', '--json']);
    expect(r.code).toBe(0);
    const s = json<{ sent: number; received: number; minMs: number; avgMs: number; p95Ms: number; maxMs: number }>(r.stdout);
    expect(s).toMatchObject({ sent: 5, received: 5, lost: 0 });
    expect(s.minMs).toBeLessThanOrEqual(s.avgMs);
    expect(s.p95Ms).toBeLessThanOrEqual(s.maxMs);
    const text = await runCli(['ping', '--port', port, '--count', '2', '--interval', '0']);
    expect(text.stdout).toContain('rtt min/avg/p95/max');
  }, 30_000);

  it('test passes with a card and a finger, and skips them without', async () => {
    const bare = await runCli(['test', '--port', port, '--vendor-root', vendorRoot]);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toMatch(/SKIP\s+card\s+no card in the slot/);
    expect(bare.stdout).toMatch(/PASS\s+self-test/);
    expect(bare.stdout).toContain('PASS: ');
    expect((await sim.control({ cmd: 'insert', card: 'PSD-000001' })).ok).toBe(true);
    try {
      const r = await runCli(['test', '--port', port, '--vendor-root', vendorRoot, '--sim-control', join(sim.dir, 'sim.ctl'), '--json']);
      expect(r.code).toBe(0);
      const out = json<{ result: string; parts: { part: string; status: string; detail: string }[] }>(r.stdout);
      expect(out.result).toBe('PASS');
      expect(out.parts.map((p) => [p.part, p.status])).toEqual([
        ['link', 'PASS'],
        ['trust', 'PASS'],
        ['self-test', 'PASS'],
        ['card', 'PASS'],
        ['finger', 'PASS'],
        ['counters', 'PASS'],
      ]);
      expect(out.parts[3]!.detail).toContain('PSD-000001');
    } finally {
      await sim.control({ cmd: 'remove' });
    }
  }, 60_000);

  it('monitor prints decoded traffic as JSON lines', async () => {
    const r = await runCli(['monitor', '--port', port, '--vendor-root', vendorRoot, '--duration', '1', '--interval', '200', '--json', '--hex']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => json<{ dir?: string; type?: string; sealed?: boolean; hex?: string }>(l));
    expect(lines.find((l) => l.dir === 'rx' && l.type === 'GetInfoResult')).toBeDefined();
    expect(lines.find((l) => l.dir === 'tx' && l.type === 'Ping' && l.sealed === true)?.hex).toMatch(/^[0-9a-f]+$/);
    const text = await runCli(['monitor', '--port', port, '--duration', '1', '--interval', '0']);
    expect(text.stdout).toMatch(/→ clear\s+GetInfo #\d+/);
  }, 30_000);

  it('monitor shows the segments and NAKs of a damaged line below the messages', async () => {
    // Bytes damaged both ways: each side segments its long packets, and NAKs what goes missing.
    expect((await sim.control({ cmd: 'seed', seed: 7 })).ok).toBe(true);
    expect((await sim.control({ cmd: 'corrupt', rate: 0.005, direction: 'both' })).ok).toBe(true);
    try {
      const r = await runCli(['monitor', '--port', port, '--vendor-root', vendorRoot, '--duration', '4', '--interval', '60', '--ping-bytes', '256', '--json']);
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split('\n').map((l) => json<{ dir?: string; type?: string; link?: { kind: string; seq: number; index?: number; count: number; missing?: number[] } }>(l));
      const segments = lines.filter((l) => l.link?.kind === 'segment');
      const naks = lines.filter((l) => l.link?.kind === 'nak');
      expect(segments.length, r.stdout.slice(-2000)).toBeGreaterThan(0);
      // Both ends cut long packets once the line shows damage, and every piece names its place.
      for (const sgm of segments) expect(sgm.link!.index!).toBeLessThan(sgm.link!.count);
      expect(new Set(segments.map((l) => l.dir))).toEqual(new Set(['tx', 'rx']));
      expect(naks.length, r.stdout.slice(-2000)).toBeGreaterThan(0);
      for (const n of naks) expect(n.link!.missing!.length).toBeGreaterThan(0);
      // The messages the pieces carried still print whole.
      expect(lines.filter((l) => l.dir === 'rx' && l.type === 'PingResult').length, JSON.stringify(Object.entries(lines.reduce<Record<string, number>>((m, l) => ((m[`${l.dir} ${l.type ?? (l as { error?: string }).error ?? l.link?.kind}`] = (m[`${l.dir} ${l.type ?? (l as { error?: string }).error ?? l.link?.kind}`] ?? 0) + 1), m), {})))).toBeGreaterThan(0);
      const text = await runCli(['monitor', '--port', port, '--vendor-root', vendorRoot, '--duration', '3', '--interval', '60', '--ping-bytes', '256']);
      expect(text.stdout).toMatch(/[←→] link {4}segment \d+\/\d+ of packet seq \d+/);
    } finally {
      await sim.control({ cmd: 'clear' });
    }
  }, 60_000);

  it('trust pin writes the pins file; a pinned terminal is accepted without the vendor root', async () => {
    const pins = join(scratch, 'pins.json');
    const pin = await runCli(['trust', 'pin', '--port', port, '--by', 'tech 114', '--yes', '--pins', pins, '--json']);
    expect(pin.code).toBe(0);
    const pinned = json<{ pinned: { terminalId: string; keyId: string } }>(pin.stdout).pinned;
    expect(pinned.terminalId).toBe('SIM0001');
    const list = json<{ pins: { terminalId: string; keyId: string; pinnedBy: string }[] }>((await runCli(['trust', 'list', '--pins', pins, '--json'])).stdout);
    expect(list.pins).toEqual([expect.objectContaining({ terminalId: 'SIM0001', keyId: pinned.keyId, pinnedBy: 'tech 114' })]);
    const info = await runCli(['info', '--port', port, '--pins', pins, '--json']);
    expect(json<Record<string, unknown>>(info.stdout)).toMatchObject({ trusted: 'pinned' });
    expect((await runCli(['trust', 'remove', 'SIM0001', '--pins', pins])).code).toBe(0);
    expect((await runCli(['trust', 'list', '--pins', pins])).stdout).toContain('no pins');
  }, 30_000);

  it('mounts the issuer toolkit and the ledger commands', async () => {
    const issuer = await runCli(['issuer', '--help']);
    expect(issuer.code).toBe(0);
    expect(issuer.stdout).toContain('demo-world');
    const ledger = await runCli(['ledger', 'verify']);
    expect(ledger.code).toBe(2);
  }, 30_000);
});
