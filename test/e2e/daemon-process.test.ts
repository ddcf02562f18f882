/**
 * unicardd as a process: a bad config ends with exit code 2 and a message naming the field
 * (never a stack trace), zero-config development mode, a second daemon on a socket in use,
 * and SIGINT. No terminals here (see daemon-terminals.test.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnicardClient } from '../../daemon/client/index.js';
import { runScript, startDaemon, stopAll, tempDir, writeDaemonConfig } from './daemon-harness.js';

const TOKEN = 'e2e-token-0123456789abcdef';
let dir: string;

beforeAll(async () => {
  dir = await tempDir('unicard-e2e-unicardd-');
});

afterAll(async () => {
  await stopAll();
  await rm(dir, { recursive: true, force: true });
});

async function unicardd(args: string[], cwd?: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const r = await runScript('daemon/unicardd.ts', args, cwd === undefined ? {} : { cwd });
  return { code: r.status.code, stderr: r.stderr.join('\n'), stdout: r.stdout.join('\n') };
}

function expectNoStackTrace(text: string): void {
  expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
}

describe('unicardd refuses a bad config with exit code 2 and names the field', () => {
  const cases: Array<[string, string, unknown, RegExp]> = [
    [
      'a serial path that is not a string',
      'schema.json',
      { dataDir: 'data', tokens: { pos: { token: TOKEN, role: 'shop' } }, terminals: { serial: [{ path: '/dev/ttyUSB0' }, { path: 7 }] } },
      /terminals\.serial\[1\]\.path: must be a string \(got a number\)/,
    ],
    [
      'a misspelt field',
      'typo.json',
      { dataDir: 'data', tokens: { pos: { token: TOKEN, role: 'shop' } }, trust: { vendorRoot: [] } },
      /trust\.vendorRoot: unknown field \(did you mean "vendorRoots"\?\)/,
    ],
    [
      'a vendor root file that does not exist',
      'missing-root.json',
      { dataDir: 'data', tokens: { pos: { token: TOKEN, role: 'shop' } }, trust: { vendorRoots: ['nowhere/vendor.pub.json'] } },
      /trust\.vendorRoots\[0\]: .*nowhere\/vendor\.pub\.json: cannot read the vendor-root key: no such file/,
    ],
    ['no tokens', 'no-tokens.json', { dataDir: 'data' }, /tokens: needs at least one API token/],
    ['not JSON', 'broken.json', '{\n  "dataDir": "data",\n}\n', /is not valid JSON at line 3, column 1/],
  ];

  for (const [name, file, json, message] of cases) {
    it(name, async () => {
      const path = join(dir, file);
      await writeFile(path, typeof json === 'string' ? json : JSON.stringify(json, null, 2));
      const r = await unicardd(['--config', path]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^unicardd: config error: /);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
      expectNoStackTrace(r.stderr);
    });
  }

  it('an invalid pins file names the file and the entry', async () => {
    const data = join(dir, 'pins-data');
    await rm(data, { recursive: true, force: true });
    await writeDaemonConfig(join(dir, 'pins.json.config'), { dataDir: data, tokens: { pos: { token: TOKEN, role: 'shop' } } });
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'pins.json'), JSON.stringify({ SIM0009: { keyId: 'zz', pinnedBy: 'x', pinnedAt: '2026-11-22T09:30:00Z' } }));
    const r = await unicardd(['--config', join(dir, 'pins.json.config')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`pins file ${join(data, 'pins.json')}: SIM0009.keyId: must be 16 lower-case hex digits`);
    expectNoStackTrace(r.stderr);
  });

  it('bad arguments are exit code 2 with the usage', async () => {
    const none = await unicardd([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give --config <file>, or --dev for development');
    const unknown = await unicardd(['--colour']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('usage: unicardd');
    const level = await unicardd(['--dev', '--log-level', 'loud']);
    expect(level.code).toBe(2);
    expect(level.stderr).toContain('--log-level must be one of');
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await unicardd(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('usage: unicardd (--config <file> | --dev)');
  });
});

describe('unicardd --dev', () => {
  it('runs with a local data dir and a generated 0600 token; a second daemon on the same socket exits 1; SIGINT exits 0', async () => {
    const cwd = await tempDir('unicard-e2e-dev-');
    try {
      const daemon = await startDaemon(['--dev'], { cwd });
      const dataDir = join(cwd, '.unicard-dev');
      expect(daemon.ready).toMatchObject({ event: 'ready', socket: join(dataDir, 'unicardd.sock'), dataDir });
      const tokenFile = join(dataDir, 'token');
      expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
      expect((await stat(daemon.ready.socket)).isSocket()).toBe(true);
      const token = (await readFile(tokenFile, 'utf8')).trim();
      const client = await UnicardClient.connect(daemon.ready.socket, { token, name: 'dev-e2e' });
      expect(client.server.you).toMatchObject({ name: 'dev', role: 'admin' });
      expect(await client.listTerminals()).toEqual([]);
      await client.close();
      // One clear line about HID either way: disabled (node-hid or libusb missing) or no USB ids to probe.
      expect(daemon.logs().some((r) => /^HID( disabled)?:/.test(String(r.msg)))).toBe(true);
      // The start record says which Ed25519 and which time-zone source this daemon runs on:
      // libsodium (the addon loads here), and the system's tz file when there is one.
      const start = daemon.logs().find((r) => r.msg === 'unicardd starting');
      expect(start).toMatchObject({ ed25519: 'libsodium', secretbox: 'libsodium', egyptTime: { kind: existsSync('/usr/share/zoneinfo/Africa/Cairo') && process.env.TZDIR === undefined ? 'zone-file' : expect.any(String) } });
      expect(daemon.logs().filter((r) => r.level === 40 && /libsodium|tz file/.test(String(r.msg)))).toEqual([]);

      const second = await unicardd(['--dev'], cwd);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('SOCKET_IN_USE');
      // The first daemon is unharmed.
      const again = await UnicardClient.connect(daemon.ready.socket, { token });
      await again.close();

      expect(await daemon.stop('SIGINT')).toEqual({ code: 0, signal: null });
      await expect(stat(daemon.ready.socket)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
