import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { createFirmwareHeader } from '../../protocol/crypto/firmware-header.js';
import { UnicardError } from '../../protocol/errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { seededRandomBytes } from '../hardware/random.js';
import { decodeFirmwareImage, encodeFirmwareImage, FIRMWARE_IMAGE_MAGIC } from './firmware-image.js';

const ed = new NodeEd25519();
const random = seededRandomBytes('image tests');
const seed = random(32);
const body = random(3000);
const header = createFirmwareHeader(ed, seed, { vendor: 'SimVendor', model: 'SIM-1', version: [2, 0, 1], antiRollback: 5 }, body);
const file = encodeFirmwareImage(header, body);

describe('firmware image files', () => {
  it('round-trip: magic, format 1, header length, header, body', () => {
    expect([...file.subarray(0, 5)]).toEqual([...FIRMWARE_IMAGE_MAGIC, 1]);
    expect((file[5]! << 8) | file[6]!).toBe(header.length);
    const img = decodeFirmwareImage(file);
    expect(img.header).toEqual(header);
    expect(img.body).toEqual(body);
    expect(img.parsed).toMatchObject({ version: [2, 0, 1], antiRollback: 5, size: 3000 });
  });

  it('refuse wrong magic, format, header length, header bytes and body size', () => {
    const bad = (f: (b: Uint8Array) => Uint8Array, code: string) => {
      expect(() => decodeFirmwareImage(f(Uint8Array.from(file)))).toThrow(expect.objectContaining({ code }));
    };
    bad((b) => ((b[0] = 0), b), 'FIRMWARE_BAD_HEADER');
    bad((b) => ((b[4] = 2), b), 'FIRMWARE_BAD_HEADER');
    bad((b) => ((b[5] = 0xff), b), 'FIRMWARE_BAD_HEADER');
    bad((b) => ((b[5] = 0), (b[6] = 0), b), 'FIRMWARE_BAD_HEADER');
    bad((b) => ((b[8] = 0xff), b), 'FIRMWARE_BAD_HEADER');
    bad((b) => b.subarray(0, b.length - 1), 'FIRMWARE_TOO_LARGE');
    bad(() => new Uint8Array([0x55, 0x43]), 'FIRMWARE_BAD_HEADER');
    expect(() => encodeFirmwareImage(new Uint8Array(1025), body)).toThrow(expect.objectContaining({ code: 'FIRMWARE_BAD_HEADER' }));
  });

  it('fuzz: any bytes decode to an image or a typed error', () => {
    // Random bytes, and truncated or mutated real files.
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 600 }),
      fc.nat(file.length - 1).map((cut) => file.subarray(0, cut)),
      fc.tuple(fc.nat(file.length - 1), fc.integer({ min: 1, max: 255 })).map(([pos, x]) => {
        const m = file.slice();
        m[pos]! ^= x;
        return m;
      }),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        try {
          decodeFirmwareImage(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(UnicardError);
        }
      }),
      { numRuns: fuzzRuns(5000) },
    );
  });
});
