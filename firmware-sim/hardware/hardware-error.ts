/**
 * Errors of the simulated terminal hardware (card slot, secure element, sensor, flash,
 * identity). Where protocol/wire-errors.ts has a name for the condition, the code IS that
 * name; the few codes that are more specific than the wire table map to a wire name through
 * {@link HARDWARE_TO_WIRE}, so a handler turns any HardwareError into an Error message with
 * one lookup ({@link wireErrorForHardware}).
 */
import { UnicardError } from '../../protocol/errors.js';
import type { WireErrorName } from '../../protocol/wire-errors.js';

/** Every code a hardware part raises, with the wire error it is sent as. */
export const HARDWARE_TO_WIRE = {
  // Firmware update (DESIGN.md §9).
  FIRMWARE_BAD_HEADER: 'FIRMWARE_BAD_HEADER', // header bytes do not parse as a firmware header
  FIRMWARE_WRONG_MODEL: 'FIRMWARE_BAD_HEADER', // image built for another vendor or model
  FIRMWARE_BAD_SIGNATURE: 'FIRMWARE_BAD_SIGNATURE', // header not signed by a trusted vendor key
  FIRMWARE_DOWNGRADE: 'FIRMWARE_DOWNGRADE', // image anti-rollback counter below the device's
  FIRMWARE_BAD_OFFSET: 'FIRMWARE_BAD_OFFSET', // chunk offset is not the next expected one (detail.expected)
  FIRMWARE_INCOMPLETE: 'FIRMWARE_BAD_OFFSET', // finish before every byte arrived (detail.offset: where to go on)
  FIRMWARE_TOO_LARGE: 'FIRMWARE_TOO_LARGE', // total size differs from the header, or a chunk runs past it
  FIRMWARE_HASH_MISMATCH: 'FIRMWARE_HASH_MISMATCH', // uploaded body does not hash to the header's SHA-512
  FIRMWARE_NO_UPLOAD: 'FIRMWARE_NO_UPLOAD', // chunk or finish without a begin
  FIRMWARE_NOT_PENDING: 'FIRMWARE_NOT_PENDING', // activate without a verified image
  FIRMWARE_NOT_TESTING: 'FIRMWARE_NOT_TESTING', // confirm while the running image is not on trial
  FIRMWARE_TEST_BOOT_ACTIVE: 'BUSY', // new upload while a test image still awaits confirm
  // Card slot and secure element.
  NO_CARD: 'NO_CARD',
  CARD_ALREADY_PRESENT: 'INTERNAL', // control interface only: inserting into a full slot
  CARD_FILE_INVALID: 'CARD_ERROR',
  NO_SUCH_MEMBER: 'NO_SUCH_MEMBER',
  ATTEMPTS_EXHAUSTED: 'ATTEMPTS_EXHAUSTED',
  CARD_COUNTER_EXHAUSTED: 'CARD_BLOCKED',
  // Fingerprint sensor.
  SENSOR_BUSY: 'BUSY',
  // Device identity and persistent storage.
  IDENTITY_INVALID: 'INTERNAL',
  STORAGE_CORRUPT: 'INTERNAL',
} as const satisfies Record<string, WireErrorName>;

export type HardwareErrorCode = keyof typeof HARDWARE_TO_WIRE;

/** All hardware error codes. */
export const HARDWARE_ERROR_CODES = Object.keys(HARDWARE_TO_WIRE) as HardwareErrorCode[];

/** Raised by the simulated hardware parts; `code` is one of {@link HARDWARE_ERROR_CODES}. */
export class HardwareError extends UnicardError {
  declare readonly code: HardwareErrorCode;
  constructor(code: HardwareErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}

/** The wire error name a handler sends for a hardware error code. */
export function wireErrorForHardware(code: HardwareErrorCode): WireErrorName {
  return HARDWARE_TO_WIRE[code];
}
