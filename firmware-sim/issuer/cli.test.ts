import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { trustedKeysOf, verifyCardCertificate } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { verifyFirmwareHeader } from '../../protocol/crypto/firmware-header.js';
import { loadCardFile } from '../hardware/card-file.js';
import { DeviceIdentity } from '../hardware/device-identity.js';
import { loadPublicKeyFile } from '../hardware/key-file.js';
import { runIssuerCli } from './cli.js';
import type { DemoManifest } from './demo-world.js';
import { decodeFirmwareImage } from './firmware-image.js';
import { verifyRevocationList, verifyRoster } from './signed-lists.js';

const ed = new NodeEd25519();
const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a real process. */
function run(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI in this process (for the many bad-argument cases). */
async function runHere(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runIssuerCli(args, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function secretsIn(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of await readdir(d)) {
    if (n.endsWith('.key') || n.startsWith('card-')) out.push((JSON.parse(await readFile(join(d, n), 'utf8')) as { seed: string }).seed);
  }
  return out;
}

describe('unicard-issuer CLI (real process)', () => {
  it('builds a trust chain step by step: 0600 secrets, nothing secret printed, everything verifies', async () => {
    const outputs: Run[] = [];
    const ok = async (...args: string[]): Promise<Run> => {
      const r = await run(...args, '--now', '2026-11-22');
      expect(r.stderr, args[0]).toBe('');
      expect(r.code, args[0]).toBe(0);
      outputs.push(r);
      return r;
    };
    // Three stages; the commands inside a stage do not depend on each other.
    const [issuerOut] = await Promise.all([ok('init-issuer', '--dir', dir), ok('init-vendor', '--dir', dir)]);
    expect(issuerOut.stdout).toMatch(/issuer root key id [0-9a-f]{16}/);
    await Promise.all([
      ok('make-terminal', '--dir', dir, '--vendor-key', join(dir, 'vendor.key'), '--terminal-id', 'BAKERY-PSD-7', '--vendor', 'SimVendor', '--model', 'SIM-1'),
      ok(
        'make-card', '--dir', dir, '--issuer-key', join(dir, 'issuer.key'), '--card-id', 'PSD-100001', '--household', 'HH-03-100001',
        '--governorate', '3', '--member', 'head:حسن علي محمود', '--member', 'spouse', '--member', 'dependant', '--member', 'dependant:سلمى حسن علي',
        '--valid-from', '2026-01-01', '--valid-until', '2031-01-01',
      ),
      ok('make-card', '--dir', dir, '--issuer-key', join(dir, 'issuer.key'), '--card-id', 'PSD-100002', '--household', 'HH-03-100002', '--governorate', '3', '--member', 'head'),
      ok('make-firmware', '--dir', dir, '--vendor-key', join(dir, 'vendor.key'), '--vendor', 'SimVendor', '--model', 'SIM-1', '--version', '1.2.3', '--anti-rollback', '3', '--size', '5000'),
    ]);
    await Promise.all([
      ok('make-roster', '--dir', dir, '--issuer-key', join(dir, 'issuer.key'), '--state', 'PSD-100002=suspended@2026-11-20', '--sequence', '4'),
      ok('make-revocation', '--dir', dir, '--issuer-key', join(dir, 'issuer.key'), '--card', 'PSD-099999:1:stolen@2026-10-01', '--terminal', 'SIM0666:compromised'),
    ]);

    const modes = Object.fromEntries(await Promise.all((await readdir(dir)).map(async (n) => [n, (await stat(join(dir, n))).mode & 0o777] as const)));
    expect(modes).toEqual({
      'issuer.key': 0o600,
      'issuer.pub.json': 0o644,
      'vendor.key': 0o600,
      'vendor.pub.json': 0o644,
      'terminal-BAKERY-PSD-7.key': 0o600,
      'terminal-BAKERY-PSD-7.json': 0o644,
      'card-PSD-100001.json': 0o600,
      'card-PSD-100002.json': 0o600,
      'roster.cbor': 0o644,
      'revocation.cbor': 0o644,
      'firmware-1.2.3.img': 0o644,
    });
    const printed = outputs.map((o) => o.stdout + o.stderr).join('\n');
    for (const s of await secretsIn(dir)) expect(printed).not.toContain(s);

    const issuers = trustedKeysOf([(await loadPublicKeyFile(join(dir, 'issuer.pub.json'), 'issuer-root')).publicKey]);
    const vendors = trustedKeysOf([(await loadPublicKeyFile(join(dir, 'vendor.pub.json'), 'vendor-root')).publicKey]);
    const card = await loadCardFile(join(dir, 'card-PSD-100001.json'), ed);
    expect(card.members.map((m) => [m.role, m.name])).toEqual([
      ['head', 'حسن علي محمود'],
      ['spouse', undefined],
      ['dependant', undefined],
      ['dependant', 'سلمى حسن علي'],
    ]);
    expect(verifyCardCertificate(card.certificate, issuers, 1_800_000_000, ed).validFrom).toBe(Date.UTC(2026, 0, 1) / 1000);
    expect((await DeviceIdentity.load(join(dir, 'terminal-BAKERY-PSD-7'), ed)).terminalId).toBe('BAKERY-PSD-7');
    const roster = verifyRoster(new Uint8Array(await readFile(join(dir, 'roster.cbor'))), issuers, ed);
    expect(roster.sequence).toBe(4);
    expect(roster.entries.map((e) => [e.cardId, e.state, e.householdSize, e.since])).toEqual([
      ['PSD-100001', 'active', 4, Date.UTC(2026, 0, 1) / 1000], // since its validity start
      ['PSD-100002', 'suspended', 1, Date.UTC(2026, 10, 20) / 1000],
    ]);
    const rev = verifyRevocationList(new Uint8Array(await readFile(join(dir, 'revocation.cbor'))), issuers, ed);
    expect(rev.cards).toEqual([{ cardId: 'PSD-099999', cardSerial: 1, revokedAt: Date.UTC(2026, 9, 1) / 1000, reason: 'stolen' }]);
    expect(rev.terminals).toEqual([{ terminalId: 'SIM0666', revokedAt: Date.UTC(2026, 10, 22) / 1000, reason: 'compromised' }]);
    const fw = decodeFirmwareImage(new Uint8Array(await readFile(join(dir, 'firmware-1.2.3.img'))));
    expect(verifyFirmwareHeader(fw.header, vendors, ed)).toMatchObject({ version: [1, 2, 3], antiRollback: 3, size: 5000 });
  });

  it('demo-world: the output loads back and verifies, secrets stay in 0600 files', async () => {
    const r = await run('demo-world', join(dir, 'world'), '--firmware-size', '4096');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('card PSD-000001: 5 member(s), governorate 3, active');
    const w = join(dir, 'world');
    const m = JSON.parse(await readFile(join(w, 'manifest.json'), 'utf8')) as DemoManifest;
    const issuers = trustedKeysOf([(await loadPublicKeyFile(join(w, m.issuer.publicKeyFile))).publicKey]);
    expect(verifyRoster(new Uint8Array(await readFile(join(w, m.roster.file))), issuers, ed).entries).toHaveLength(m.cards.length);
    for (const s of await secretsIn(w)) expect(r.stdout).not.toContain(s);
  });

  it('bad arguments: a clear message and exit code 2; refusing to overwrite: exit code 1', async () => {
    const bad = await run('make-card', '--dir', dir, '--issuer-key', 'x.key', '--card-id', 'C', '--household', 'H', '--governorate', '3', '--member', 'king');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('member role "king" is not one of: head, spouse, dependant, other');
    expect(bad.stdout).toBe('');
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('usage: unicard-issuer');
    expect((await run('init-issuer', '--dir', dir)).code).toBe(0);
    const again = await run('init-issuer', '--dir', dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('refusing to overwrite');
  });
});

describe('unicard-issuer CLI argument checks (in process)', () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate', '--dir', '/tmp/x'], /unknown command "frobnicate"/],
    [['init-issuer'], /missing --dir/],
    [['init-issuer', '--dir', '/tmp/x', '--bogus'], /Unknown option '--bogus'/],
    [['init-issuer', '--dir', '/tmp/x', '--card-id', 'C'], /init-issuer does not take --card-id/],
    [['init-issuer', '--dir', '/tmp/x', 'extra'], /unexpected argument "extra"/],
    [['make-card', '--dir', '/tmp/x', '--issuer-key', 'k', '--card-id', 'C', '--household', 'H', '--governorate', '100', '--member', 'head'], /--governorate must be an integer from 0 to 99/],
    [['make-card', '--dir', '/tmp/x', '--issuer-key', 'k', '--card-id', 'C', '--household', 'H', '--governorate', '3'], /at least one --member/],
    [['make-card', '--dir', '/tmp/x', '--issuer-key', 'k', '--card-id', 'C', '--household', 'H', '--governorate', '3', '--member', 'head', '--valid-from', 'soon'], /not a date: "soon"/],
    [['make-roster', '--dir', '/tmp/x', '--issuer-key', 'k', '--state', 'PSD-1=lost'], /card state "lost" is not one of/],
    [['make-roster', '--dir', '/tmp/x', '--issuer-key', 'k', '--state', 'PSD-1'], /--state wants CARD_ID=STATE/],
    [['make-revocation', '--dir', '/tmp/x', '--issuer-key', 'k', '--card', 'PSD-1'], /--card wants CARD_ID:SERIAL/],
    [['make-firmware', '--dir', '/tmp/x', '--vendor-key', 'k', '--vendor', 'V', '--model', 'M', '--version', '1.2', '--anti-rollback', '1'], /--version must look like 1.2.3/],
    [['make-firmware', '--dir', '/tmp/x', '--vendor-key', 'k', '--vendor', 'V', '--model', 'M', '--version', '1.2.3', '--anti-rollback', '-1'], /anti-rollback/],
    [['make-firmware', '--dir', '/tmp/x', '--vendor-key', 'k', '--vendor', 'V', '--model', 'M', '--version', '1.2.3', '--anti-rollback', '1', '--body', 'b', '--size', '3'], /--body or --size, not both/],
    [['demo-world', 'a', 'b'], /demo-world takes one directory/],
    [['demo-world'], /missing --dir/],
  ];
  for (const [args, message] of cases) {
    it(`${args.join(' ')} → exit 2`, async () => {
      const r = await runHere(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    });
  }

  it('--help prints the usage on stdout with exit 0', async () => {
    const r = await runHere('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('make-firmware');
  });

  it('a missing key file is exit 1 with the reason', async () => {
    const r = await runHere('make-card', '--dir', dir, '--issuer-key', join(dir, 'none.key'), '--card-id', 'C', '--household', 'H', '--governorate', '3', '--member', 'head');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/none\.key: cannot read.*IDENTITY_INVALID/);
  });
});
