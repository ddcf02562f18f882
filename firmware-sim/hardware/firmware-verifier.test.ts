import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { createFirmwareHeader } from '../../protocol/crypto/firmware-header.js';
import { VendorFirmwareVerifier } from './firmware-verifier.js';
import { FlashStore } from './flash-store.js';
import { keyPairFromSeed } from './key-file.js';
import { seededRandomBytes } from './random.js';

const ed = new NodeEd25519();
const random = seededRandomBytes('firmware verifier tests');
const vendor = keyPairFromSeed('vendor-root', random(32), ed);
const stranger = keyPairFromSeed('vendor-root', random(32), ed);
const trusted = trustedKeysOf([vendor.publicKey]);

function image(version: [number, number, number], antiRollback: number, opts: { key?: typeof vendor; model?: string; size?: number } = {}) {
  const body = random(opts.size ?? 4096);
  const header = createFirmwareHeader(ed, (opts.key ?? vendor).seed, { vendor: 'SimVendor', model: opts.model ?? 'SIM-1', version, antiRollback }, body);
  return { header, body };
}

describe('VendorFirmwareVerifier', () => {
  const verifier = new VendorFirmwareVerifier(trusted, ed, { vendor: 'SimVendor', model: 'SIM-1' });

  it('accepts a header signed by a trusted vendor key and reports its fields', () => {
    const img = image([1, 1, 0], 2);
    const info = verifier.verifyHeader(img.header);
    expect(info).toMatchObject({ vendor: 'SimVendor', model: 'SIM-1', version: [1, 1, 0], antiRollback: 2, size: 4096 });
    expect(info.bodyHash).toHaveLength(64);
  });

  it('maps every failure to a firmware error code', () => {
    const code = (h: Uint8Array): string => {
      try {
        verifier.verifyHeader(h);
      } catch (e) {
        return (e as { code: string }).code;
      }
      return 'accepted';
    };
    expect(code(image([1, 1, 0], 2, { key: stranger }).header)).toBe('FIRMWARE_BAD_SIGNATURE');
    const flipped = Uint8Array.from(image([1, 1, 0], 2).header);
    flipped[flipped.length - 1]! ^= 1; // last byte of the signature
    expect(code(flipped)).toBe('FIRMWARE_BAD_SIGNATURE');
    expect(code(new Uint8Array([0x82, 0x40, 0x40]))).toBe('FIRMWARE_BAD_HEADER');
    expect(code(new Uint8Array(0))).toBe('FIRMWARE_BAD_HEADER');
    expect(code(image([1, 1, 0], 2, { model: 'SIM-2' }).header)).toBe('FIRMWARE_WRONG_MODEL');
    expect(new VendorFirmwareVerifier(trusted, ed).verifyHeader(image([1, 1, 0], 2, { model: 'SIM-2' }).header).model).toBe('SIM-2');
  });
});

describe('FlashStore with real signed images', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'unicard-fw-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('updates to a signed image, refuses forged, downgraded and altered ones', async () => {
    const verifier = new VendorFirmwareVerifier(trusted, ed, { vendor: 'SimVendor', model: 'SIM-1' });
    const store = await FlashStore.open(join(dir, 'flash.json'), { verifier, factory: image([1, 0, 0], 1) });
    const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code: string }) => e.code);

    const forged = image([1, 1, 0], 2, { key: stranger });
    expect(await codeOf(store.begin(forged.header, forged.body.length))).toBe('FIRMWARE_BAD_SIGNATURE');
    const old = image([0, 9, 0], 0);
    expect(await codeOf(store.begin(old.header, old.body.length))).toBe('FIRMWARE_DOWNGRADE');

    const good = image([1, 1, 0], 2);
    const altered = Uint8Array.from(good.body);
    altered[100]! ^= 0x80;
    await store.begin(good.header, good.body.length);
    await store.write(0, altered);
    expect(await codeOf(store.finish())).toBe('FIRMWARE_HASH_MISMATCH');

    await store.begin(good.header, good.body.length);
    await store.write(0, good.body);
    expect((await store.finish()).version).toEqual([1, 1, 0]);
    await store.activate();
    expect((await store.reboot()).mode).toBe('test');
    await store.confirm();
    expect(store.status()).toMatchObject({ runningVersion: [1, 1, 0], antiRollback: 2, testBoot: false });
  });
});
