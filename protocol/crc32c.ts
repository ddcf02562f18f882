/**
 * CRC-32C (Castagnoli), as used by iSCSI (RFC 3720) and SCTP (RFC 4960): polynomial
 * 0x1EDC6F41 (reflected 0x82F63B78), reflected input and output, initial value 0xFFFFFFFF,
 * final XOR 0xFFFFFFFF. Check value: crc32c("123456789") = 0xE3069283.
 *
 * Chosen over CRC-32 (IEEE) because it detects more error patterns at frame sizes we use and
 * MCUs often have it in hardware (SSE4.2 on hosts, many ARM parts).
 */
import CRC32C from 'crc-32/crc32c.js';

/** CRC-32C of `bytes`, as an unsigned 32-bit number. */
export function crc32c(bytes: Uint8Array): number {
  // The package returns a signed 32-bit integer; `>>> 0` makes it unsigned.
  return CRC32C.buf(bytes, 0) >>> 0;
}
