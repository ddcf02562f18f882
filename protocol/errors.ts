/**
 * One error hierarchy for the whole project: a base class with a stable `code` string and
 * one subclass per layer. APIs return the code (and bilingual messages at the application
 * layer), never raw exception text.
 */

/** Base of every error unicard raises on purpose. `code` is stable and machine-readable. */
export class UnicardError extends Error {
  readonly code: string;
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.detail = detail;
  }
}

/** Stream and HID framing: bytes that do not form a valid frame or report. */
export type FramingErrorCode =
  | 'FRAME_TOO_LARGE'
  | 'FRAME_TOO_SHORT'
  | 'FRAME_COBS_INVALID'
  | 'FRAME_CRC_MISMATCH'
  | 'FRAME_BAD_VERSION'
  | 'FRAME_BAD_FLAGS'
  | 'FRAME_BAD_LIMIT'
  | 'FRAME_BAD_SEGMENT'
  | 'FRAME_BAD_LINK'
  | 'HID_REPORT_SIZE'
  | 'HID_BAD_CHANNEL'
  | 'HID_BAD_COMMAND'
  | 'HID_BAD_SEQUENCE'
  | 'HID_UNEXPECTED_CONTINUATION'
  | 'HID_MESSAGE_TOO_LARGE'
  | 'HID_CHANNEL_BUSY'
  | 'HID_TIMEOUT'
  | 'HID_BAD_NONCE'
  | 'HID_NO_CHANNELS'
  | 'HID_BAD_LENGTH'
  | 'HID_DEVICE_ERROR';

export class FramingError extends UnicardError {
  declare readonly code: FramingErrorCode;
  constructor(code: FramingErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}

/** CBOR decoding and message validation. */
export type CodecErrorCode =
  | 'CBOR_MALFORMED'
  | 'CBOR_TRUNCATED'
  | 'CBOR_TRAILING_BYTES'
  | 'CBOR_NON_CANONICAL'
  | 'CBOR_DUPLICATE_KEY'
  | 'CBOR_UNSUPPORTED'
  | 'CBOR_TOO_DEEP'
  | 'CBOR_TOO_LONG'
  | 'MSG_NOT_A_MAP'
  | 'MSG_UNKNOWN_TYPE'
  | 'MSG_MISSING_FIELD'
  | 'MSG_UNKNOWN_FIELD'
  | 'MSG_WRONG_TYPE'
  | 'MSG_OUT_OF_RANGE'
  | 'MSG_FIELD_CONFLICT'
  | 'MSG_ENCODE_INVALID';

export class CodecError extends UnicardError {
  declare readonly code: CodecErrorCode;
  constructor(code: CodecErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}

/** Signatures, keys and certificates. */
export type CryptoErrorCode =
  | 'KEY_INVALID'
  | 'SIG_INVALID'
  | 'SIG_MALLEABLE'
  | 'CERT_MALFORMED'
  | 'CERT_WRONG_DOMAIN'
  | 'CERT_BAD_SIGNATURE'
  | 'CERT_UNKNOWN_ISSUER'
  | 'CERT_EXPIRED'
  | 'CERT_NOT_YET_VALID'
  | 'KEY_UNKNOWN'
  | 'STRUCT_MALFORMED'
  | 'STRUCT_WRONG_DOMAIN'
  | 'STRUCT_NONCE_MISMATCH'
  | 'FIRMWARE_HASH_MISMATCH';

export class CryptoError extends UnicardError {
  declare readonly code: CryptoErrorCode;
  constructor(code: CryptoErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}

/** Handshake and sealed session. */
export type SessionErrorCode =
  | 'HANDSHAKE_MALFORMED'
  | 'HANDSHAKE_BAD_SIGNATURE'
  | 'HANDSHAKE_UNTRUSTED'
  | 'HANDSHAKE_WEAK_KEY'
  | 'SEAL_MALFORMED'
  | 'SEAL_AUTH_FAILED'
  | 'SEAL_REPLAY'
  | 'SEAL_COUNTER_EXHAUSTED'
  | 'SESSION_NOT_ESTABLISHED';

export class SessionError extends UnicardError {
  declare readonly code: SessionErrorCode;
  constructor(code: SessionErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}

/** True when `e` is one of ours (any layer). */
export function isUnicardError(e: unknown): e is UnicardError {
  return e instanceof UnicardError;
}

/** Links (serial, TCP, HID, memory): opening, reading and writing bytes or reports. */
export type LinkErrorCode =
  | 'LINK_NOT_FOUND'
  | 'LINK_PERMISSION_DENIED'
  | 'LINK_BUSY'
  | 'LINK_CLOSED'
  | 'LINK_IO'
  | 'LINK_TIMEOUT'
  | 'LINK_UNAVAILABLE'
  | 'LINK_INVALID_OPTIONS';

export class LinkError extends UnicardError {
  declare readonly code: LinkErrorCode;
  constructor(code: LinkErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}
