/**
 * The wire error table: the numeric codes carried in `Error.code` (key 2). Numbers and names
 * are stable forever: a code is never renumbered or reused; new codes take unused numbers.
 * Ranges: 0x01..0x0F message and codec, 0x10..0x1F session and requests, 0x20..0x2F card,
 * 0x30..0x3F holder verification, 0x40..0x4F firmware update, 0xFF internal.
 */
import { type CodecErrorCode, isUnicardError } from './errors.js';

/** One row of the table. */
export interface WireErrorInfo {
  readonly code: number;
  readonly name: WireErrorName;
  /** One line of English; the host shows the name and this meaning in logs. */
  readonly meaning: string;
}

/** Wire error codes by name. */
export const WireError = {
  CBOR_MALFORMED: 0x01,
  CBOR_NON_CANONICAL: 0x02,
  CBOR_UNSUPPORTED: 0x03,
  MESSAGE_TOO_LARGE: 0x04,
  UNKNOWN_MESSAGE: 0x05,
  INVALID_MESSAGE: 0x06,
  UNEXPECTED_MESSAGE: 0x07,
  NOT_SUPPORTED: 0x08,
  FRAME_TOO_LARGE: 0x09,

  SESSION_REQUIRED: 0x10,
  REQUEST_ID_REUSED: 0x11,
  BUSY: 0x12,
  CANCELLED: 0x13,
  TIMEOUT: 0x14,
  HANDSHAKE_FAILED: 0x15,

  NO_CARD: 0x20,
  CARD_REMOVED: 0x21,
  CARD_ERROR: 0x22,
  CARD_BLOCKED: 0x23,

  FINGERPRINT_TIMEOUT: 0x30,
  FINGERPRINT_NO_MATCH: 0x31,
  ATTEMPTS_EXHAUSTED: 0x32,
  NO_SUCH_MEMBER: 0x33,
  SENSOR_ERROR: 0x34,

  FIRMWARE_BAD_SIGNATURE: 0x40,
  FIRMWARE_DOWNGRADE: 0x41,
  FIRMWARE_BAD_OFFSET: 0x42,
  FIRMWARE_NO_UPLOAD: 0x43,
  FIRMWARE_HASH_MISMATCH: 0x44,
  FIRMWARE_TOO_LARGE: 0x45,
  FIRMWARE_NOT_PENDING: 0x46,
  FIRMWARE_BAD_HEADER: 0x47,
  FIRMWARE_NOT_TESTING: 0x48,

  INTERNAL: 0xff,
} as const;

/** Name of a wire error. */
export type WireErrorName = keyof typeof WireError;

const MEANINGS: Readonly<Record<WireErrorName, string>> = {
  CBOR_MALFORMED: 'the message is not well-formed CBOR (truncated, trailing bytes, reserved values, invalid UTF-8)',
  CBOR_NON_CANONICAL: 'the message is CBOR but not canonical (non-shortest integer or length, indefinite length, unsorted or duplicate map keys)',
  CBOR_UNSUPPORTED: 'the message uses CBOR outside the subset (float, tag, undefined, simple value, integer below -2^63, bad map key type)',
  MESSAGE_TOO_LARGE: 'the message exceeds a decoder limit (size, nesting depth, item count, string length)',
  UNKNOWN_MESSAGE: 'the message type is not in the catalog',
  INVALID_MESSAGE: 'a field is missing, unknown, of the wrong type or out of range, or the message is not a map',
  UNEXPECTED_MESSAGE: 'the message is valid but not one this end accepts (e.g. a result or event sent to a terminal)',
  NOT_SUPPORTED: 'the terminal lacks the capability the request needs (no display, no fingerprint sensor, ...)',
  FRAME_TOO_LARGE: 'the frame is larger than the terminal\'s maximum frame size',
  SESSION_REQUIRED: 'the request needs a session; run Handshake first',
  REQUEST_ID_REUSED: 'the request id belongs to an earlier request with a different body',
  BUSY: 'another request that needs the same resource is in progress',
  CANCELLED: 'the request was stopped by Cancel',
  TIMEOUT: 'the request\'s own timeout expired (e.g. no card inserted in time)',
  HANDSHAKE_FAILED: 'the handshake could not be completed (bad key, no device key)',
  NO_CARD: 'no card is in the slot',
  CARD_REMOVED: 'the card was removed while the request was using it',
  CARD_ERROR: 'the card did not answer correctly',
  CARD_BLOCKED: 'the card refuses to operate (blocked, counter exhausted)',
  FINGERPRINT_TIMEOUT: 'no usable finger capture before the timeout, and no signed outcome could be produced',
  FINGERPRINT_NO_MATCH: 'the finger did not match, and no signed outcome could be produced',
  ATTEMPTS_EXHAUSTED: 'the card allows no more fingerprint attempts',
  NO_SUCH_MEMBER: 'the card lists no household member with that index',
  SENSOR_ERROR: 'the fingerprint sensor failed',
  FIRMWARE_BAD_SIGNATURE: 'the firmware image signature does not verify under a trusted vendor key',
  FIRMWARE_DOWNGRADE: 'the firmware image is older than the anti-rollback counter allows',
  FIRMWARE_BAD_OFFSET: 'the chunk offset is not the offset the terminal expects next',
  FIRMWARE_NO_UPLOAD: 'no firmware upload is in progress (send FirmwareBegin first)',
  FIRMWARE_HASH_MISMATCH: 'the received image body does not match the hash in its header',
  FIRMWARE_TOO_LARGE: 'the image or chunk does not fit (total size, slot size, or past the declared end)',
  FIRMWARE_NOT_PENDING: 'no verified image is pending activation',
  FIRMWARE_BAD_HEADER: 'the image header is malformed or for another vendor or model',
  FIRMWARE_NOT_TESTING: 'the running image is not an unconfirmed test image, so there is nothing to confirm',
  INTERNAL: 'an internal error in the terminal; the request may be retried',
};

/** The whole table, in code order. */
export const WIRE_ERRORS: readonly WireErrorInfo[] = Object.freeze(
  (Object.keys(WireError) as WireErrorName[])
    .map((name) => Object.freeze({ code: WireError[name], name, meaning: MEANINGS[name] }))
    .sort((a, b) => a.code - b.code),
);

const BY_CODE: ReadonlyMap<number, WireErrorInfo> = new Map(WIRE_ERRORS.map((e) => [e.code, e]));

/** The row for a numeric code, or undefined for a code this version does not know. */
export function wireErrorInfo(code: number): WireErrorInfo | undefined {
  return BY_CODE.get(code);
}

/** Name for display: the table name, or `ERROR_0x..` for an unknown code. */
export function wireErrorName(code: number): string {
  return BY_CODE.get(code)?.name ?? `ERROR_0x${code.toString(16).padStart(2, '0')}`;
}

const FROM_CODEC: Readonly<Record<CodecErrorCode, WireErrorName>> = {
  CBOR_MALFORMED: 'CBOR_MALFORMED',
  CBOR_TRUNCATED: 'CBOR_MALFORMED',
  CBOR_TRAILING_BYTES: 'CBOR_MALFORMED',
  CBOR_NON_CANONICAL: 'CBOR_NON_CANONICAL',
  CBOR_DUPLICATE_KEY: 'CBOR_NON_CANONICAL',
  CBOR_UNSUPPORTED: 'CBOR_UNSUPPORTED',
  CBOR_TOO_DEEP: 'MESSAGE_TOO_LARGE',
  CBOR_TOO_LONG: 'MESSAGE_TOO_LARGE',
  MSG_NOT_A_MAP: 'INVALID_MESSAGE',
  MSG_UNKNOWN_TYPE: 'UNKNOWN_MESSAGE',
  MSG_MISSING_FIELD: 'INVALID_MESSAGE',
  MSG_UNKNOWN_FIELD: 'INVALID_MESSAGE',
  MSG_WRONG_TYPE: 'INVALID_MESSAGE',
  MSG_OUT_OF_RANGE: 'INVALID_MESSAGE',
  MSG_FIELD_CONFLICT: 'INVALID_MESSAGE',
  MSG_ENCODE_INVALID: 'INTERNAL',
};

/** The wire error a terminal sends for a CodecError code. */
export function wireErrorForCodec(code: CodecErrorCode): WireErrorName {
  return FROM_CODEC[code];
}

/**
 * The wire error for anything thrown while handling a request: CodecError codes by the
 * table above, FRAME_TOO_LARGE and SESSION_NOT_ESTABLISHED by name, everything else INTERNAL.
 */
export function wireErrorFor(e: unknown): WireErrorName {
  if (!isUnicardError(e)) return 'INTERNAL';
  if (Object.prototype.hasOwnProperty.call(FROM_CODEC, e.code)) return FROM_CODEC[e.code as CodecErrorCode];
  if (e.code === 'FRAME_TOO_LARGE' || e.code === 'HID_MESSAGE_TOO_LARGE') return 'FRAME_TOO_LARGE';
  if (e.code === 'SESSION_NOT_ESTABLISHED') return 'SESSION_REQUIRED';
  return 'INTERNAL';
}
