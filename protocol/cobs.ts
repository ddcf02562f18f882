/**
 * COBS — Consistent Overhead Byte Stuffing (S. Cheshire and M. Baker, "Consistent Overhead
 * Byte Stuffing", IEEE/ACM Transactions on Networking, 1999).
 *
 * Encoding removes every 0x00 from the data so that 0x00 can delimit frames. The data is cut
 * at each 0x00 (and after every run of 254 non-zero bytes) into blocks; each block is sent as
 * a code byte (1 + the number of data bytes in it) followed by those bytes. A block with code
 * 0x01..0xFE stands for its bytes followed by a 0x00; code 0xFF stands for 254 bytes and no
 * 0x00. The 0x00 after the last block is implied by the end of the frame and is not data.
 *
 * The encoder here writes the common form (as in most C libraries): when the data ends right
 * after a full 254-byte block, no extra 0x01 block follows. The decoder also accepts that
 * extra 0x01 block, which the paper's original code writes; both decode to the same bytes.
 *
 * These functions handle one frame's bytes without the 0x00 delimiter.
 */
import { FramingError } from './errors.js';

/**
 * Upper bound of the encoded length of `dataLength` bytes, for any conforming encoder:
 * dataLength + floor(dataLength / 254) + 1. (This encoder writes at most
 * dataLength + max(1, ceil(dataLength / 254)).)
 */
export function cobsMaxEncodedLength(dataLength: number): number {
  return dataLength + Math.floor(dataLength / 254) + 1;
}

/**
 * COBS-encodes `src` into `dst` starting at `dstOffset`; returns the offset after the last
 * byte written. `dst` needs room for cobsMaxEncodedLength(src.length) bytes.
 */
export function cobsEncodeInto(src: Uint8Array, dst: Uint8Array, dstOffset: number): number {
  let codeAt = dstOffset; // where the open block's code byte goes, once its length is known
  let w = dstOffset + 1;
  let code = 1; // 1 + number of data bytes in the open block
  for (let r = 0; r < src.length; r++) {
    const byte = src[r] ?? 0;
    if (byte === 0) {
      // The 0x00 closes the block; it is not written, the code byte stands for it.
      dst[codeAt] = code;
      codeAt = w++;
      code = 1;
    } else {
      dst[w++] = byte;
      code++;
      // A full block (254 bytes) is closed without a 0x00; open a new block only if data
      // follows, so data ending on a full block gets no extra 0x01 block.
      if (code === 0xff && r + 1 < src.length) {
        dst[codeAt] = code;
        codeAt = w++;
        code = 1;
      }
    }
  }
  dst[codeAt] = code;
  return w;
}

/** COBS-encodes `data` (no delimiter is appended). */
export function cobsEncode(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(cobsMaxEncodedLength(data.length));
  const end = cobsEncodeInto(data, out, 0);
  return out.slice(0, end);
}

/**
 * Decodes the COBS bytes `src[0..srcLength)` into `dst` and returns the decoded length, or -1
 * when the input is not valid COBS (empty, a 0x00 byte, or a block running past the end).
 * `dst` may be `src` itself (decoding in place is safe: output never overtakes input) and
 * needs room for srcLength - 1 bytes.
 */
export function cobsDecodeInto(src: Uint8Array, srcLength: number, dst: Uint8Array): number {
  if (srcLength <= 0) return -1;
  let r = 0;
  let w = 0;
  while (r < srcLength) {
    const code = src[r++] ?? 0;
    if (code === 0) return -1;
    const blockEnd = r + code - 1;
    if (blockEnd > srcLength) return -1;
    while (r < blockEnd) {
      const byte = src[r++] ?? 0;
      if (byte === 0) return -1;
      dst[w++] = byte;
    }
    // A short block stands for its bytes plus a 0x00, except the last one: the frame's end
    // replaces that 0x00.
    if (code !== 0xff && r < srcLength) dst[w++] = 0;
  }
  return w;
}

/** Decodes one COBS-encoded frame (without delimiter). Throws FramingError FRAME_COBS_INVALID. */
export function cobsDecode(encoded: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(0, encoded.length - 1));
  const n = cobsDecodeInto(encoded, encoded.length, out);
  if (n < 0) {
    throw new FramingError('FRAME_COBS_INVALID', 'bytes are not valid COBS', { length: encoded.length });
  }
  return out.slice(0, n);
}
