import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueDeviceCertificate, parseDeviceCertificate, type DeviceCertificate } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { devicePinId } from '../session/trust-policy.js';
import { addPin, formatPins, loadPins, parsePins, removePin } from './pins-file.js';
import { parseRootKeyFile, rootKeyFromHex } from './root-keys.js';
import { TrustStore } from './trust-store.js';
import { TrustStoreError } from './trust-error.js';

const ed = new NodeEd25519();
const NOW = 1_800_000_000;
const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const vendorSeed = seed(1);
const rogueSeed = seed(2);
const vendorRoot = rootKeyFromHex(hexOf(ed.publicKeyFromSeed(vendorSeed)), 'vendor-root');

function device(terminalId: string, signer: Uint8Array, keyByte: number, validUntil = NOW + 1000): DeviceCertificate {
  const bytes = issueDeviceCertificate(ed, signer, {
    subjectPublicKey: ed.publicKeyFromSeed(seed(keyByte)),
    terminalId,
    vendor: 'SimVendor',
    model: 'SIM-1',
    validFrom: NOW - 1000,
    validUntil,
  });
  return parseDeviceCertificate(bytes);
}

const context = { info: undefined, banner: undefined, link: { kind: 'serial' as const, path: '/dev/ttyUSB0' } };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-trust-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('TrustStore', () => {
  it('admits a terminal under a vendor root, refuses one under an unknown vendor, admits it once pinned by id and key', async () => {
    const pinsFile = join(dir, 'pins-a.json');
    const store = await TrustStore.open({ ed, vendorRoots: [vendorRoot], issuerRoots: [], pinsFile, nowSeconds: () => NOW });
    expect(store.pins.size).toBe(0);
    expect(await store.trust(device('SIM0001', vendorSeed, 10), context)).toBe('trusted');

    const rogue = device('SIM0666', rogueSeed, 11);
    const refused = await store.trust(rogue, context);
    expect(typeof refused).toBe('object');
    expect(typeof refused === 'object' ? refused.refused : '').toContain('terminal SIM0666 (SimVendor SIM-1');
    expect(typeof refused === 'object' ? refused.cause?.code : '').toBe('CERT_UNKNOWN_ISSUER');

    await addPin(pinsFile, { terminalId: 'SIM0666', keyId: devicePinId(rogue), pinnedBy: 'Hassan', pinnedAt: new Date('2026-11-22T09:30:00Z') });
    expect(await store.reloadPins()).toEqual({ changed: true, count: 1 });
    expect(await store.trust(rogue, context)).toBe('pinned');
    // Same id, another key: not the pinned terminal.
    expect(typeof (await store.trust(device('SIM0666', rogueSeed, 12), context))).toBe('object');
    // Same key, another id: not pinned either.
    expect(typeof (await store.trust(device('SIM0667', rogueSeed, 11), context))).toBe('object');
    // Nothing changed on disk: no re-read.
    expect(await store.reloadPins()).toEqual({ changed: false, count: 1 });

    expect(await removePin(pinsFile, 'SIM0666')).toBe(true);
    expect(await removePin(pinsFile, 'SIM0666')).toBe(false);
    expect((await store.reloadPins()).changed).toBe(true);
    expect(typeof (await store.trust(rogue, context))).toBe('object');
  });

  it('an expired certificate under the vendor root is refused unless pinned', async () => {
    const pinsFile = join(dir, 'pins-b.json');
    const store = await TrustStore.open({ ed, vendorRoots: [vendorRoot], issuerRoots: [], pinsFile, nowSeconds: () => NOW });
    const old = device('SIM0002', vendorSeed, 13, NOW - 10);
    const refused = await store.trust(old, context);
    expect(typeof refused === 'object' ? refused.cause?.code : refused).toBe('CERT_EXPIRED');
    await addPin(pinsFile, { terminalId: 'SIM0002', keyId: devicePinId(old), pinnedBy: 'Hassan' });
    await store.reloadPins();
    expect(await store.trust(old, context)).toBe('pinned');
  });

  it('keeps the old pins when the file becomes invalid, and says why', async () => {
    const pinsFile = join(dir, 'pins-c.json');
    const rogue = device('SIM0666', rogueSeed, 11);
    await addPin(pinsFile, { terminalId: 'SIM0666', keyId: devicePinId(rogue), pinnedBy: 'Hassan' });
    const store = await TrustStore.open({ ed, vendorRoots: [vendorRoot], issuerRoots: [], pinsFile, nowSeconds: () => NOW });
    expect(store.pins.size).toBe(1);
    await writeFile(pinsFile, '{"SIM0666": {"keyId": "xyz"}}');
    await expect(store.reloadPins()).rejects.toThrow(/SIM0666\.keyId: must be 16 lower-case hex digits/);
    expect(await store.trust(rogue, context)).toBe('pinned');
  });

  it('an invalid pins file at start is an error naming the entry', async () => {
    const pinsFile = join(dir, 'pins-d.json');
    await writeFile(pinsFile, JSON.stringify({ SIM0001: { keyId: '0011223344556677', pinnedBy: '', pinnedAt: 'yesterday' } }));
    const e = await TrustStore.open({ ed, vendorRoots: [], issuerRoots: [], pinsFile }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TrustStoreError);
    expect((e as TrustStoreError).code).toBe('PINS_FILE_INVALID');
    expect((e as TrustStoreError).message).toBe(
      `pins file ${pinsFile}: SIM0001.pinnedBy: must not be empty; SIM0001.pinnedAt: must be an ISO 8601 time such as 2026-11-22T09:30:00Z (got "yesterday")`,
    );
  });
});

describe('pins file', () => {
  it('round-trips, sorted by terminal id', () => {
    const pins = parsePins(
      JSON.stringify({
        SIM0002: { keyId: '0011223344556677', pinnedBy: 'B', pinnedAt: '2026-11-22T09:30:00Z' },
        SIM0001: { keyId: '8899aabbccddeeff', pinnedBy: 'A', pinnedAt: '2026-11-22T09:30:00.000+02:00', note: 'bakery 14' },
      }),
      'pins.json',
    );
    expect(formatPins(pins)).toBe(
      `${JSON.stringify(
        {
          SIM0001: { keyId: '8899aabbccddeeff', pinnedBy: 'A', pinnedAt: '2026-11-22T09:30:00.000+02:00', note: 'bakery 14' },
          SIM0002: { keyId: '0011223344556677', pinnedBy: 'B', pinnedAt: '2026-11-22T09:30:00Z' },
        },
        null,
        2,
      )}\n`,
    );
  });

  it('refuses what is not a pins file', () => {
    expect(() => parsePins('[]', 'p.json')).toThrow('pins file p.json: (top level): must be an object (got an array)');
    expect(() => parsePins('{', 'p.json')).toThrow(/pins file p.json is not JSON/);
    expect(() => parsePins('{"SIM 1": {}}', 'p.json')).toThrow('pins file p.json: "SIM 1": name must be printable ASCII without spaces (got "SIM 1")');
    expect(() => parsePins('{"A": {"keyId": "0011223344556677", "pinnedBy": "x", "pinnedAt": "2026-11-22T09:30Z", "by": 1}}', 'p.json')).toThrow(
      'pins file p.json: A.by: unknown field',
    );
  });

  it('a missing file is no pins; addPin checks what it writes', async () => {
    const pinsFile = join(dir, 'pins-e.json');
    expect(await loadPins(pinsFile)).toEqual({ pins: new Map(), exists: false, stamp: 'absent' });
    await expect(addPin(pinsFile, { terminalId: 'SIM0001', keyId: 'nothex', pinnedBy: 'A' })).rejects.toThrow(/cannot pin: SIM0001.keyId/);
    expect((await loadPins(pinsFile)).exists).toBe(false);
  });
});

describe('root keys', () => {
  it('reads a bare hex file and the toolkit format', () => {
    const pub = hexOf(ed.publicKeyFromSeed(vendorSeed));
    expect(parseRootKeyFile(`${pub}\n`, 'vendor-root', 'v.hex').keyId).toBe(vendorRoot.keyId);
    const json = JSON.stringify({ format: 'unicard-public-key/1', kind: 'vendor-root', keyId: vendorRoot.keyId, publicKey: pub });
    expect(parseRootKeyFile(json, 'vendor-root', 'v.json').publicKey).toEqual(vendorRoot.publicKey);
    expect(() => parseRootKeyFile('hello', 'vendor-root', 'v.txt')).toThrow('v.txt: not a public key file (expected unicard-public-key/1 JSON or 64 hex digits)');
    expect(() => parseRootKeyFile('{"format":"x"}', 'vendor-root', 'v.json')).toThrow('v.json: format must be "unicard-public-key/1" (got "x")');
  });
});
