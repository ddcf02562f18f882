/**
 * Errors of the daemon's trust store: root keys and the pins file.
 */
import { UnicardError } from '../../protocol/errors.js';

/** Why a root key or the pins file was refused. */
export type TrustStoreErrorCode =
  /** A root public key (file or hex) is malformed, of the wrong kind, or its key id does not match. */
  | 'ROOT_KEY_INVALID'
  /** The pins file is not readable. */
  | 'PINS_FILE_UNREADABLE'
  /** The pins file is not JSON or does not fit its format (the message names the entry). */
  | 'PINS_FILE_INVALID'
  /** A pin to add is malformed (terminal id, key id, who). */
  | 'PIN_INVALID';

/** A trust store failure. */
export class TrustStoreError extends UnicardError {
  declare readonly code: TrustStoreErrorCode;
  constructor(code: TrustStoreErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}
