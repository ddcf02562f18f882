import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { issueDeviceCertificate, trustedKeysOf, verifyDeviceCertificate } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { HostHandshake } from '../../protocol/crypto/handshake.js';
import { DeviceIdentity, saveTerminalFile } from './device-identity.js';
import { keyPairFromSeed, loadKeyFile, loadPublicKeyFile, saveKeyFile, savePublicKeyFile } from './key-file.js';
import { seededRandomBytes } from './random.js';

const ed = new NodeEd25519();
const random = seededRandomBytes('identity tests');
const vendor = keyPairFromSeed('vendor-root', random(32), ed);
const terminalKey = keyPairFromSeed('terminal', random(32), ed);
const cert = issueDeviceCertificate(ed, vendor.seed, {
  subjectPublicKey: terminalKey.publicKey,
  terminalId: 'SIM0042',
  vendor: 'SimVendor',
  model: 'SIM-1',
  validFrom: 1_767_225_600,
  validUntil: 2_082_758_400,
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-id-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('key files', () => {
  it('round-trip with mode 0600; public key files with 0644', async () => {
    const path = join(dir, 'vendor.key');
    await saveKeyFile(path, vendor);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await loadKeyFile(path, ed, 'vendor-root')).toEqual(vendor);
    await savePublicKeyFile(join(dir, 'vendor.pub.json'), vendor);
    expect((await stat(join(dir, 'vendor.pub.json'))).mode & 0o777).toBe(0o644);
    const pub = await loadPublicKeyFile(join(dir, 'vendor.pub.json'), 'vendor-root');
    expect(pub).toEqual({ kind: 'vendor-root', publicKey: vendor.publicKey, keyId: vendor.keyId });
    expect(await readFile(join(dir, 'vendor.pub.json'), 'utf8')).not.toContain(Buffer.from(vendor.seed).toString('hex'));
  });

  it('refuse a key readable by others, of the wrong kind, or whose public key is not the seed', async () => {
    const path = join(dir, 'k.key');
    await saveKeyFile(path, vendor);
    await expect(loadKeyFile(path, ed, 'issuer-root')).rejects.toMatchObject({ code: 'IDENTITY_INVALID' });
    await chmod(path, 0o644);
    await expect(loadKeyFile(path, ed)).rejects.toThrow(/readable by others/);
    const j = JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    j.publicKey = Buffer.from(terminalKey.publicKey).toString('hex');
    await writeFile(path, JSON.stringify(j), { mode: 0o600 });
    await chmod(path, 0o600);
    await expect(loadKeyFile(path, ed)).rejects.toThrow(/does not belong/);
    await expect(loadKeyFile(join(dir, 'missing.key'), ed)).rejects.toMatchObject({ code: 'IDENTITY_INVALID' });
    await writeFile(join(dir, 'junk.pub.json'), '{"format":"unicard-public-key/1","kind":"vendor-root","keyId":"00","publicKey":"' + '00'.repeat(32) + '"}');
    await expect(loadPublicKeyFile(join(dir, 'junk.pub.json'))).rejects.toThrow(/key id/);
  });
});

describe('DeviceIdentity', () => {
  it('loads key and certificate, signs with the certified key, and answers a handshake', async () => {
    const base = join(dir, 'terminal-SIM0042');
    await saveKeyFile(`${base}.key`, terminalKey);
    await saveTerminalFile(base, cert, terminalKey.keyId);
    const id = await DeviceIdentity.load(base, ed);
    expect(id.terminalId).toBe('SIM0042');
    expect(id.vendor).toBe('SimVendor');
    expect(id.model).toBe('SIM-1');
    expect(id.certificateBytes).toEqual(cert);
    const checked = verifyDeviceCertificate(id.certificateBytes, trustedKeysOf([vendor.publicKey]), 1_800_000_000, ed);
    const msg = new Uint8Array([1, 2, 3]);
    expect(ed.verify(checked.subjectPublicKey, msg, id.sign(msg))).toBe(true);
    expect(JSON.stringify(id)).not.toContain(Buffer.from(terminalKey.seed).toString('hex'));

    const host = new HostHandshake({ ed, randomBytes: random });
    const { reply, channel: terminalChannel } = id.handshake(random).respond(host.hello);
    const { device, channel: hostChannel } = host.finish(reply);
    expect(device.terminalId).toBe('SIM0042');
    expect(terminalChannel).toBeDefined();
    expect(hostChannel).toBeDefined();
  });

  it('refuses a certificate for another key, a broken certificate, or a mismatched terminal file', async () => {
    const other = keyPairFromSeed('terminal', random(32), ed);
    expect(() => new DeviceIdentity(other, cert, ed)).toThrow(expect.objectContaining({ code: 'IDENTITY_INVALID' }));
    expect(() => new DeviceIdentity(terminalKey, cert.subarray(1), ed)).toThrow(expect.objectContaining({ code: 'IDENTITY_INVALID' }));
    const base = join(dir, 't');
    await saveKeyFile(`${base}.key`, terminalKey);
    await saveTerminalFile(base, cert, terminalKey.keyId);
    const j = JSON.parse(await readFile(`${base}.json`, 'utf8')) as Record<string, string>;
    j.terminalId = 'SIM9999';
    await writeFile(`${base}.json`, JSON.stringify(j));
    await expect(DeviceIdentity.load(base, ed)).rejects.toMatchObject({ code: 'IDENTITY_INVALID' });
    await writeFile(`${base}.json`, 'nope');
    await expect(DeviceIdentity.load(base, ed)).rejects.toMatchObject({ code: 'IDENTITY_INVALID' });
  });
});
