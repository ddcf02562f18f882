/**
 * Firmware image header: a signed structure (`unicard/v1/firmware`) by the vendor key over
 * vendor, model, version, anti-rollback counter, body size and SHA-512 of the body.
 * Encoded header = CBOR array [body bstr, signature bstr(64)] (the signed-structure envelope).
 * The terminal verifies it before marking an image pending; downgrade policy (comparing the
 * anti-rollback counter with its own) is the firmware's decision.
 */
import type { CborValue } from '../cbor-codec.js';
import { CryptoError } from '../errors.js';
import { constantTimeEqual, isBytes, sha512, toHex } from './bytes.js';
import { Domain } from './domains.js';
import type { Ed25519 } from './ed25519.js';
import {
  BodyReader,
  decodeBody,
  decodeSignedStructure,
  encodeBody,
  encodeSignedStructure,
  KEY_ID_LENGTH,
  keyIdOf,
  lookupTrustedKey,
  signBody,
  signedBytes,
  type TrustedKeys,
} from './signed-structure.js';

/** Integer keys of the firmware header body. */
export const FirmwareKey = { domain: 0, signerKeyId: 1, vendor: 2, model: 3, version: 4, antiRollback: 5, size: 6, bodyHash: 7 } as const;
/** Largest image body (4 GiB − 1: a u32 on the terminal). */
export const MAX_FIRMWARE_SIZE = 0xffff_ffff;
/** Largest version component and anti-rollback counter. */
export const MAX_VERSION_PART = 0xffff;
export const MAX_ANTI_ROLLBACK = 0xffff_ffff;
const MAX_ID_CHARS = 64;

/** What the vendor states about an image. */
export interface FirmwareHeaderFields {
  readonly vendor: string;
  readonly model: string;
  readonly version: readonly [number, number, number];
  /** The terminal refuses images whose counter is below its own. */
  readonly antiRollback: number;
  readonly size: number;
  /** SHA-512 of the image body (64 bytes). */
  readonly bodyHash: Uint8Array;
}

/** A parsed firmware header. */
export interface FirmwareHeader extends FirmwareHeaderFields {
  readonly signerKeyId: Uint8Array;
  /** The encoded header (envelope). */
  readonly bytes: Uint8Array;
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}

function read(map: Map<number, CborValue>): Omit<FirmwareHeader, 'bytes' | 'body' | 'signature'> {
  const r = new BodyReader(map, 'STRUCT_MALFORMED');
  const signerKeyId = r.bytes(FirmwareKey.signerKeyId, KEY_ID_LENGTH);
  const vendor = r.text(FirmwareKey.vendor, MAX_ID_CHARS);
  const model = r.text(FirmwareKey.model, MAX_ID_CHARS);
  const v = r.array(FirmwareKey.version, 3, 3);
  const version = [0, 1, 2].map((i) => r.uintValue(FirmwareKey.version, v[i] as CborValue, MAX_VERSION_PART)) as [number, number, number];
  const antiRollback = r.uint(FirmwareKey.antiRollback, MAX_ANTI_ROLLBACK);
  const size = r.uint(FirmwareKey.size, MAX_FIRMWARE_SIZE);
  const bodyHash = r.bytes(FirmwareKey.bodyHash, 64);
  r.finish();
  return { signerKeyId, vendor, model, version, antiRollback, size, bodyHash };
}

/**
 * Builds and signs a header for `fields` with the vendor key; returns the encoded header.
 * STRUCT_MALFORMED on out-of-range fields, KEY_INVALID on a bad seed.
 */
export function signFirmwareHeader(ed: Ed25519, vendorSeed: Uint8Array, fields: FirmwareHeaderFields): Uint8Array {
  const signerKeyId = keyIdOf(ed.publicKeyFromSeed(vendorSeed));
  let body: Uint8Array;
  try {
    body = encodeBody(
      Domain.firmware,
      new Map<number, CborValue>([
        [FirmwareKey.signerKeyId, signerKeyId],
        [FirmwareKey.vendor, fields.vendor],
        [FirmwareKey.model, fields.model],
        [FirmwareKey.version, [...fields.version]],
        [FirmwareKey.antiRollback, fields.antiRollback],
        [FirmwareKey.size, fields.size],
        [FirmwareKey.bodyHash, fields.bodyHash],
      ]),
    );
  } catch (e) {
    throw new CryptoError('STRUCT_MALFORMED', 'firmware header fields cannot be encoded', { cause: e instanceof Error ? e.message : 'unknown' });
  }
  read(decodeBody(body, Domain.firmware, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN'));
  return encodeSignedStructure(signBody(ed, vendorSeed, Domain.firmware, body));
}

/** Signs a header for an image body: size and SHA-512 are computed from `imageBody`. */
export function createFirmwareHeader(
  ed: Ed25519,
  vendorSeed: Uint8Array,
  fields: Omit<FirmwareHeaderFields, 'size' | 'bodyHash'>,
  imageBody: Uint8Array,
): Uint8Array {
  return signFirmwareHeader(ed, vendorSeed, { ...fields, size: imageBody.length, bodyHash: sha512(imageBody) });
}

/** Parses an encoded header without checking the signature. STRUCT_MALFORMED, STRUCT_WRONG_DOMAIN. */
export function parseFirmwareHeader(bytes: Uint8Array): FirmwareHeader {
  const { body, signature } = decodeSignedStructure(bytes);
  return { ...read(decodeBody(body, Domain.firmware, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN')), bytes, body, signature };
}

/**
 * Parses and verifies a header against the trusted vendor keys: KEY_UNKNOWN when the
 * signer key id is not trusted, SIG_INVALID when the signature fails.
 */
export function verifyFirmwareHeader(bytes: Uint8Array, trustedVendors: TrustedKeys, ed: Ed25519): FirmwareHeader {
  const header = parseFirmwareHeader(bytes);
  const key = lookupTrustedKey(trustedVendors, header.signerKeyId);
  if (key === undefined) {
    throw new CryptoError('KEY_UNKNOWN', 'firmware signed by an untrusted key', { signerKeyId: toHex(header.signerKeyId) });
  }
  if (!ed.verify(key, signedBytes(Domain.firmware, header.body), header.signature)) {
    throw new CryptoError('SIG_INVALID', 'firmware header signature does not verify');
  }
  return header;
}

/** Checks an image body against its (verified) header: size and SHA-512. FIRMWARE_HASH_MISMATCH otherwise. */
export function verifyFirmwareBody(header: FirmwareHeaderFields, imageBody: Uint8Array): void {
  if (!isBytes(imageBody) || imageBody.length !== header.size) {
    throw new CryptoError('FIRMWARE_HASH_MISMATCH', 'image body size differs from the header', { size: header.size });
  }
  if (!constantTimeEqual(sha512(imageBody), header.bodyHash)) {
    throw new CryptoError('FIRMWARE_HASH_MISMATCH', 'image body SHA-512 differs from the header');
  }
}
