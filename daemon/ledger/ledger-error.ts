/**
 * Errors of the ledger: authorizations, receipts, card counters and the SQLite store.
 * A retried commit of an already committed authorization is not an error: it returns the
 * same receipt (see `Ledger.commit`).
 */
import { UnicardError } from '../../protocol/errors.js';

/** Why a ledger operation was refused or failed. */
export type LedgerErrorCode =
  /** No authorization with that id (or idempotency key). */
  | 'AUTHORIZATION_NOT_FOUND'
  /** The authorization expired before it was committed (the daemon voided it). */
  | 'AUTHORIZATION_EXPIRED'
  /** The authorization was voided. */
  | 'AUTHORIZATION_VOIDED'
  /** A void for an authorization that is already committed (the receipt stands). */
  | 'AUTHORIZATION_COMMITTED'
  /** A commit dispenses more (in total or of one item) than was approved, or an item that was not approved. */
  | 'COMMIT_EXCEEDS_APPROVED'
  /** A second commit of a committed authorization with other quantities than the first. */
  | 'COMMIT_CONFLICT'
  /** The same client reused an idempotency key for a different request. */
  | 'IDEMPOTENCY_CONFLICT'
  /** The card's counter did not go up: a clone, or a replayed authentication. */
  | 'CARD_COUNTER_REGRESSION'
  /** A card signature (card-auth structure) that was already used. */
  | 'CARD_SIGNATURE_REPLAYED'
  /** The day's cap of supervisor exceptions is reached. */
  | 'SUPERVISOR_CAP_REACHED'
  /** Arguments the ledger cannot store (bad quantities, ids, allocations, evidence that does not parse). */
  | 'LEDGER_INVALID_INPUT'
  /** Evidence that does not belong to this transaction (card id, service, shop or terminal differ). */
  | 'EVIDENCE_MISMATCH'
  /** A receipt body that is not a well-formed receipt (canonical CBOR, known keys, right types). */
  | 'RECEIPT_MALFORMED'
  /** The file is not a ledger, fails its integrity checks, or the chain head does not hash to its id. */
  | 'LEDGER_CORRUPT'
  /** The file was written by a newer unicard (schema version unknown). */
  | 'LEDGER_VERSION_UNSUPPORTED'
  /** The file is locked by another writer for too long. */
  | 'LEDGER_BUSY'
  /** Disk full, I/O error, permission denied: nothing was written. */
  | 'LEDGER_IO'
  /** The ledger was closed. */
  | 'LEDGER_CLOSED';

/** A ledger failure with a stable code. */
export class LedgerError extends UnicardError {
  declare readonly code: LedgerErrorCode;
  constructor(code: LedgerErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}

/**
 * Maps an exception from better-sqlite3 (SqliteError with a `code` such as SQLITE_CORRUPT)
 * to a LedgerError; LedgerErrors pass through unchanged.
 */
export function toLedgerError(e: unknown, what: string): LedgerError {
  if (e instanceof LedgerError) return e;
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  const message = e instanceof Error ? e.message : String(e);
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new LedgerError('LEDGER_CORRUPT', `${what}: the ledger file is damaged (${message})`, { sqlite: code });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new LedgerError('LEDGER_BUSY', `${what}: the ledger is locked by another process (${message})`, { sqlite: code });
  }
  return new LedgerError('LEDGER_IO', `${what}: ${message}`, { sqlite: code || undefined });
}
