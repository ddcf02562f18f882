import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { keyIdHex } from '../../protocol/crypto/signed-structure.js';
import { ConfigError } from './config-error.js';
import { DEV_DATA_DIR, DEV_TOKEN_FILE, loadConfig, parseConfigText } from './load-config.js';

const ed = new NodeEd25519();
const TOKEN = 'tok-0123456789abcdef';

function publicKeyFile(seedByte: number, kind: string): { json: string; keyId: string; hex: string } {
  const pub = ed.publicKeyFromSeed(new Uint8Array(32).fill(seedByte));
  const hex = Buffer.from(pub).toString('hex');
  const keyId = keyIdHex(pub);
  return { json: JSON.stringify({ format: 'unicard-public-key/1', kind, keyId, publicKey: hex }), keyId, hex };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-config-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(name: string, json: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof json === 'string' ? json : JSON.stringify(json, null, 2));
  return path;
}

async function loadError(options: Parameters<typeof loadConfig>[0]): Promise<ConfigError> {
  try {
    await loadConfig(options);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('loadConfig accepted the config');
}

describe('loadConfig', () => {
  it('reads root keys from files and hex, relative to the config file', async () => {
    const vendor = publicKeyFile(1, 'vendor-root');
    const issuer = publicKeyFile(2, 'issuer-root');
    await writeFile(join(dir, 'vendor.pub.json'), vendor.json);
    await writeFile(join(dir, 'issuer.hex'), `${issuer.hex}\n`);
    const path = await configFile('good.json', {
      dataDir: 'data',
      tokens: { pos: { token: TOKEN, role: 'shop' } },
      trust: { vendorRoots: ['vendor.pub.json'], issuerRoots: [{ file: 'issuer.hex' }, publicKeyFile(3, 'issuer-root').hex] },
    });
    const c = await loadConfig({ configFile: path });
    expect(c.configFile).toBe(path);
    expect(c.dataDir).toBe(join(dir, 'data'));
    expect(c.trust.vendorRoots.map((k) => [k.kind, k.keyId, k.source])).toEqual([['vendor-root', vendor.keyId, join(dir, 'vendor.pub.json')]]);
    expect(c.trust.issuerRoots.map((k) => k.keyId)).toEqual([issuer.keyId, publicKeyFile(3, 'issuer-root').keyId]);
    expect(c.tokens).toEqual([{ name: 'pos', role: 'shop', token: TOKEN }]);
  });

  it('names the field of a root key file that is missing, of the wrong kind, secret, or damaged', async () => {
    await writeFile(join(dir, 'issuer-as-vendor.pub.json'), publicKeyFile(4, 'issuer-root').json);
    await writeFile(join(dir, 'secret.key'), JSON.stringify({ format: 'unicard-key/1', kind: 'vendor-root', seed: '00'.repeat(32) }));
    const damaged = JSON.parse(publicKeyFile(5, 'vendor-root').json) as Record<string, string>;
    damaged.keyId = '0000000000000000';
    await writeFile(join(dir, 'damaged.pub.json'), JSON.stringify(damaged));
    const path = await configFile('bad-roots.json', {
      dataDir: 'data',
      tokens: { pos: { token: TOKEN, role: 'shop' } },
      trust: { vendorRoots: ['missing.pub.json', 'issuer-as-vendor.pub.json', 'secret.key', 'damaged.pub.json'] },
    });
    const e = await loadError({ configFile: path });
    expect(e.code).toBe('CONFIG_FILE_INVALID');
    expect(e.issues.map((i) => i.path)).toEqual(['trust.vendorRoots[0]', 'trust.vendorRoots[1]', 'trust.vendorRoots[2]', 'trust.vendorRoots[3]']);
    expect(e.issues[0]?.message).toBe(`${join(dir, 'missing.pub.json')}: cannot read the vendor-root key: no such file`);
    expect(e.issues[1]?.message).toContain('is an issuer-root key, not a vendor-root key');
    expect(e.issues[2]?.message).toContain('this is a SECRET key file');
    expect(e.issues[3]?.message).toContain('keyId "0000000000000000" does not belong to the public key');
    expect(e.message).toContain(`${path} has 4 errors:`);
  });

  it('reads token files and refuses world-readable ones', async () => {
    await writeFile(join(dir, 'pos.token'), `${TOKEN}-file\n`, { mode: 0o600 });
    await writeFile(join(dir, 'open.token'), `${TOKEN}-open\n`);
    await chmod(join(dir, 'open.token'), 0o644);
    const good = await configFile('token-file.json', { dataDir: 'data', tokens: { pos: { tokenFile: 'pos.token', role: 'technician' } } });
    expect((await loadConfig({ configFile: good })).tokens).toEqual([{ name: 'pos', role: 'technician', token: `${TOKEN}-file` }]);
    const bad = await configFile('token-open.json', { dataDir: 'data', tokens: { pos: { tokenFile: 'open.token', role: 'shop' } } });
    const e = await loadError({ configFile: bad });
    expect(e.issues).toEqual([{ path: 'tokens.pos.tokenFile', message: `${join(dir, 'open.token')} is readable by every user: chmod 600 (or 640) it` }]);
  });

  it('a JSON syntax error names the line and column', async () => {
    const path = await configFile('syntax.json', '{\n  "dataDir": "/x",\n  tokens: {}\n}\n');
    const e = await loadError({ configFile: path });
    expect(e.code).toBe('CONFIG_NOT_JSON');
    expect(e.message).toBe(`${path} is not valid JSON at line 3, column 3: Expected double-quoted property name`);
  });

  it('an empty or missing file is a clear error', async () => {
    expect((await loadError({ configFile: await configFile('empty.json', '') })).message).toMatch(/is not valid JSON \(the file is empty\)/);
    const missing = await loadError({ configFile: join(dir, 'nope.json') });
    expect(missing.code).toBe('CONFIG_UNREADABLE');
    expect(missing.message).toBe(`cannot read the config file ${join(dir, 'nope.json')}: no such file or directory`);
  });

  it('schema errors list every field', async () => {
    const path = await configFile('schema.json', { dataDir: '/x', tokens: { pos: { token: TOKEN, role: 'shop' } }, terminals: { serial: [{ path: '/dev/a' }, { path: 1 }] } });
    const e = await loadError({ configFile: path });
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toBe(`${path} has an error:\n  terminals.serial[1].path: must be a string (got a number)`);
  });

  it('neither a file nor --dev is a usage error', async () => {
    expect((await loadError({})).code).toBe('CONFIG_USAGE');
  });
});

describe('loadConfig --dev', () => {
  it('makes .unicard-dev with a 0600 token, and reuses the token next time', async () => {
    const cwd = await mkdtemp(join(dir, 'dev-'));
    const c = await loadConfig({ dev: true, cwd });
    const dataDir = join(cwd, DEV_DATA_DIR);
    expect(c.dev).toBe(true);
    expect(c.dataDir).toBe(dataDir);
    expect(c.socketPath).toBe(join(dataDir, 'unicardd.sock'));
    expect(c.devTokenFile).toBe(join(dataDir, DEV_TOKEN_FILE));
    expect(c.tokens).toHaveLength(1);
    expect(c.tokens[0]?.role).toBe('admin');
    const st = await stat(join(dataDir, DEV_TOKEN_FILE));
    expect(st.mode & 0o777).toBe(0o600);
    expect((await readFile(join(dataDir, DEV_TOKEN_FILE), 'utf8')).trim()).toBe(c.tokens[0]?.token);
    const again = await loadConfig({ dev: true, cwd });
    expect(again.tokens[0]?.token).toBe(c.tokens[0]?.token);
  });

  it('a config file given with --dev adds to the dev defaults', async () => {
    const cwd = await mkdtemp(join(dir, 'dev-'));
    const path = join(cwd, 'dev.json');
    await writeFile(path, JSON.stringify({ terminals: { tcp: [{ address: '127.0.0.1:4001' }] } }));
    const c = await loadConfig({ dev: true, cwd, configFile: 'dev.json' });
    expect(c.dataDir).toBe(join(cwd, DEV_DATA_DIR));
    expect(c.terminals.tcp.map((t) => t.address)).toEqual(['127.0.0.1:4001']);
    expect(c.tokens[0]?.name).toBe('dev');
  });
});

describe('parseConfigText', () => {
  it('accepts a byte order mark', () => {
    expect(parseConfigText('\ufeff{"a":1}', 'x.json')).toEqual({ a: 1 });
  });
});
