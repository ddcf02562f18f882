import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UnicardError } from '../errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { sha512, utf8 } from './bytes.js';
import { trustedKeysOf } from './certificates.js';
import { TEST_SEEDS, testBytes } from './crypto-vectors.js';
import { Domain } from './domains.js';
import { NodeEd25519, TweetnaclEd25519 } from './ed25519.js';
import { createFirmwareHeader, parseFirmwareHeader, signFirmwareHeader, verifyFirmwareBody, verifyFirmwareHeader } from './firmware-header.js';
import { encodeSignedStructure, keyIdOf, signStructure } from './signed-structure.js';

const ed = new NodeEd25519();
const vendorPub = ed.publicKeyFromSeed(TEST_SEEDS.vendorRoot);
const vendors = trustedKeysOf([vendorPub]);
const image = utf8('firmware body '.repeat(100));
const fields = { vendor: 'ACME Terminals', model: 'UC-100', version: [2, 0, 1] as [number, number, number], antiRollback: 5 };
const header = createFirmwareHeader(ed, TEST_SEEDS.vendorRoot, fields, image);
const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof UnicardError) return e.code;
    throw e;
  }
};

describe('firmware header', () => {
  it('create → verify → body check', () => {
    const h = verifyFirmwareHeader(header, vendors, new TweetnaclEd25519());
    expect([h.vendor, h.model, h.version, h.antiRollback, h.size]).toEqual(['ACME Terminals', 'UC-100', [2, 0, 1], 5, image.length]);
    expect(h.bodyHash).toEqual(sha512(image));
    expect(h.signerKeyId).toEqual(keyIdOf(vendorPub));
    expect(() => verifyFirmwareBody(h, image)).not.toThrow();
  });
  it('a changed, truncated or extended body is FIRMWARE_HASH_MISMATCH', () => {
    const h = parseFirmwareHeader(header);
    const changed = new Uint8Array(image);
    changed[500] = (changed[500] as number) ^ 1;
    expect(codeOf(() => verifyFirmwareBody(h, changed))).toBe('FIRMWARE_HASH_MISMATCH');
    expect(codeOf(() => verifyFirmwareBody(h, image.subarray(1)))).toBe('FIRMWARE_HASH_MISMATCH');
    expect(codeOf(() => verifyFirmwareBody(h, new Uint8Array([...image, 0])))).toBe('FIRMWARE_HASH_MISMATCH');
  });
  it('an untrusted vendor key is KEY_UNKNOWN, a bad signature SIG_INVALID', () => {
    const stranger = createFirmwareHeader(ed, testBytes('other vendor'), fields, image);
    expect(codeOf(() => verifyFirmwareHeader(stranger, vendors, ed))).toBe('KEY_UNKNOWN');
    const bad = new Uint8Array(header);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x80;
    expect(codeOf(() => verifyFirmwareHeader(bad, vendors, ed))).toBe('SIG_INVALID');
  });
  it('a device certificate or other structure is not a firmware header', () => {
    const other = encodeSignedStructure(signStructure(ed, TEST_SEEDS.vendorRoot, Domain.deviceCert, new Map([[1, 1]])));
    expect(codeOf(() => verifyFirmwareHeader(other, vendors, ed))).toBe('STRUCT_WRONG_DOMAIN');
  });
  it('refuses out-of-range fields when signing', () => {
    const full = { ...fields, size: 1, bodyHash: new Uint8Array(64) };
    for (const b of [{ version: [1, 2] as unknown as [number, number, number] }, { version: [1, 2, 70000] as [number, number, number] }, { size: -1 }, { bodyHash: new Uint8Array(32) }, { vendor: '' }, { antiRollback: 2 ** 32 }]) {
      expect(codeOf(() => signFirmwareHeader(ed, TEST_SEEDS.vendorRoot, { ...full, ...b })), JSON.stringify(b)).toBe('STRUCT_MALFORMED');
    }
  });
  it('fuzz: mutated headers end in typed errors only and never verify', () => {
    const codes = ['STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN', 'SIG_INVALID', 'KEY_UNKNOWN'];
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.integer({ min: -2, max: 0 }), (pos, x, cut) => {
        const m = new Uint8Array(header);
        m[pos % m.length] = (m[pos % m.length] as number) ^ x;
        expect(codes).toContain(codeOf(() => verifyFirmwareHeader(cut < 0 ? m.subarray(0, m.length + cut) : m, vendors, ed)));
      }),
      { numRuns: fuzzRuns(5000) },
    );
  });
});
