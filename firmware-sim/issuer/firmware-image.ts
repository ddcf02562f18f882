/**
 * Firmware image files, as the vendor ships them and a technician's flash tool reads them:
 *
 * | offset | size | field |
 * |--------|------|-------|
 * | 0      | 4    | magic "UCFW" (55 43 46 57) |
 * | 4      | 1    | file format version, 1 |
 * | 5      | 2    | header length H, big-endian, 1..1024 |
 * | 7      | H    | signed firmware header (protocol/crypto firmware-header: CBOR [body, signature]) |
 * | 7 + H  | size | image body; `size` is the header's size field, and the file ends here |
 *
 * The header is sent in FirmwareBegin unchanged; the body is sent in FirmwareChunk pieces.
 * Pure functions, no I/O.
 */
import { parseFirmwareHeader, type FirmwareHeader } from '../../protocol/crypto/firmware-header.js';
import { UnicardError } from '../../protocol/errors.js';
import { HardwareError } from '../hardware/hardware-error.js';

/** File magic. */
export const FIRMWARE_IMAGE_MAGIC = new Uint8Array([0x55, 0x43, 0x46, 0x57]);
/** File format version. */
export const FIRMWARE_IMAGE_FORMAT = 1;
/** Longest header in a file (as MAX_IMAGE_HEADER_BYTES of the message catalog). */
export const MAX_IMAGE_FILE_HEADER = 1024;
const PREFIX = 7;

/** A firmware image file's parts. */
export interface FirmwareImage {
  /** Signed header bytes (FirmwareBegin.imageHeader). */
  readonly header: Uint8Array;
  /** Parsed header (structure only; verify the signature with verifyFirmwareHeader). */
  readonly parsed: FirmwareHeader;
  readonly body: Uint8Array;
}

/** Builds an image file from a signed header and its body. */
export function encodeFirmwareImage(header: Uint8Array, body: Uint8Array): Uint8Array {
  if (header.length < 1 || header.length > MAX_IMAGE_FILE_HEADER) {
    throw new HardwareError('FIRMWARE_BAD_HEADER', `header of ${header.length} bytes (1..${MAX_IMAGE_FILE_HEADER})`);
  }
  const out = new Uint8Array(PREFIX + header.length + body.length);
  out.set(FIRMWARE_IMAGE_MAGIC, 0);
  out[4] = FIRMWARE_IMAGE_FORMAT;
  out[5] = header.length >> 8;
  out[6] = header.length & 0xff;
  out.set(header, PREFIX);
  out.set(body, PREFIX + header.length);
  return out;
}

/**
 * Splits an image file into header and body and parses the header (no signature check).
 * Throws HardwareError FIRMWARE_BAD_HEADER (not an image file, bad header) or FIRMWARE_TOO_LARGE
 * (body length differs from the header's size).
 */
export function decodeFirmwareImage(file: Uint8Array): FirmwareImage {
  if (file.length < PREFIX || !FIRMWARE_IMAGE_MAGIC.every((b, i) => file[i] === b)) {
    throw new HardwareError('FIRMWARE_BAD_HEADER', 'not a unicard firmware image (magic "UCFW" missing)');
  }
  if (file[4] !== FIRMWARE_IMAGE_FORMAT) throw new HardwareError('FIRMWARE_BAD_HEADER', `unknown image file format ${file[4]}`);
  const h = (file[5]! << 8) | file[6]!;
  if (h < 1 || h > MAX_IMAGE_FILE_HEADER || PREFIX + h > file.length) throw new HardwareError('FIRMWARE_BAD_HEADER', `bad header length ${h}`);
  const header = file.slice(PREFIX, PREFIX + h);
  let parsed: FirmwareHeader;
  try {
    // A copy: cbor-x's decoder caches a `dataView` property on the array it is given.
    parsed = parseFirmwareHeader(header.slice());
  } catch (e) {
    throw new HardwareError('FIRMWARE_BAD_HEADER', `firmware header: ${e instanceof UnicardError ? e.code : 'unreadable'}`);
  }
  const body = file.slice(PREFIX + h);
  if (body.length !== parsed.size) {
    throw new HardwareError('FIRMWARE_TOO_LARGE', `image body is ${body.length} bytes, header says ${parsed.size}`);
  }
  return { header, parsed, body };
}
