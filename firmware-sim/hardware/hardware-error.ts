/**
 * Errors of the simulated terminal hardware (card slot, secure element, sensor, flash,
 * identity). The codes are the wire error names the terminal's handlers put into an Error
 * message, so keep them in this one place: mapping them to the numeric wire table is a
 * lookup by name.
 */
import { UnicardError } from '../../protocol/errors.js';

/** Every code a hardware part raises. Stable names; the handlers map them to wire codes. */
export const HARDWARE_ERROR_CODES = [
  // Firmware update (DESIGN.md §9).
  'FW_BAD_HEADER', // header bytes do not parse as a firmware header
  'FW_BAD_SIGNATURE', // header not signed by a trusted vendor key
  'FW_WRONG_MODEL', // image built for another vendor or model
  'FW_DOWNGRADE', // image anti-rollback counter below the device's
  'FW_BAD_OFFSET', // chunk offset is not the next expected one
  'FW_BAD_SIZE', // total size disagrees with the header, or a chunk runs past it
  'FW_HASH_MISMATCH', // uploaded body does not hash to the header's SHA-512
  'FW_INCOMPLETE', // finish before every byte arrived
  'FW_NO_UPLOAD', // chunk or finish without a begin
  'FW_NOTHING_PENDING', // activate without a verified image
  'FW_NOT_TESTING', // confirm while the running image is not on trial
  'FW_TEST_BOOT_ACTIVE', // new upload while a test image still awaits confirm
  // Card slot and secure element.
  'CARD_ABSENT',
  'CARD_ALREADY_PRESENT',
  'CARD_FILE_INVALID',
  'CARD_UNKNOWN_MEMBER',
  'CARD_ATTEMPTS_EXHAUSTED',
  'CARD_COUNTER_EXHAUSTED',
  // Fingerprint sensor.
  'SENSOR_BUSY',
  // Device identity and persistent storage.
  'IDENTITY_INVALID',
  'STORAGE_CORRUPT',
] as const;

export type HardwareErrorCode = (typeof HARDWARE_ERROR_CODES)[number];

/** Raised by the simulated hardware parts; `code` is one of {@link HARDWARE_ERROR_CODES}. */
export class HardwareError extends UnicardError {
  declare readonly code: HardwareErrorCode;
  constructor(code: HardwareErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}
