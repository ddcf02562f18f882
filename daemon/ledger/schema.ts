/**
 * The ledger's SQLite schema and its migrations. `PRAGMA user_version` holds the schema
 * version; `migrate` brings an older file up to date, one transaction per step, and refuses
 * a file from a newer unicard (LEDGER_VERSION_UNSUPPORTED) rather than guess.
 */
import type Database from 'better-sqlite3';
import { LedgerError } from './ledger-error.js';

/** The schema version this code writes. */
export const SCHEMA_VERSION = 1;

/** Application id stamped in the SQLite header ('UNIC'), so a ledger is recognisable as one. */
export const APPLICATION_ID = 0x554e4943;

/** The version-1 schema (LEDGER.md shows it verbatim). */
export const SCHEMA_SQL = `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per authorize (small: the evidence waits in pending_evidence).
CREATE TABLE authorizations (
  id           TEXT PRIMARY KEY,
  client_id    TEXT NOT NULL,
  idem_key     TEXT NOT NULL,
  shop_id      TEXT NOT NULL,
  terminal_id  TEXT NOT NULL,
  card_id      TEXT NOT NULL,
  household_id TEXT NOT NULL,
  service      INTEGER NOT NULL,
  requested    BLOB NOT NULL,
  approved     BLOB NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('pending', 'committed', 'voided', 'expired')),
  created      INTEGER NOT NULL,
  expires      INTEGER NOT NULL,
  ended        INTEGER,
  receipt_seq  INTEGER,
  supervisor   INTEGER NOT NULL DEFAULT 0,
  UNIQUE (client_id, idem_key)
);
CREATE INDEX authorizations_pending ON authorizations (expires) WHERE state = 'pending';

-- Evidence of an authorization until its commit moves it into the receipt (then the row is
-- deleted, so this table stays small and hot); kept for voided and expired ones.
CREATE TABLE pending_evidence (
  auth_id            TEXT PRIMARY KEY,
  card_cert          BLOB NOT NULL,
  card_auth          BLOB NOT NULL,
  card_sig           BLOB NOT NULL,
  holder             BLOB,
  holder_sig         BLOB,
  exception          BLOB,
  terminal_cert_hash BLOB NOT NULL
);

-- The chain. id = SHA-512('unicard/v1/receipt' || 0x00 || body); body holds prev.
CREATE TABLE receipts (
  seq          INTEGER PRIMARY KEY,
  id           BLOB NOT NULL,
  prev         BLOB NOT NULL,
  body         BLOB NOT NULL,
  signature    BLOB NOT NULL,
  created      INTEGER NOT NULL,
  household_id TEXT NOT NULL,
  service      INTEGER NOT NULL,
  quantity     INTEGER NOT NULL,
  auth_id      TEXT NOT NULL UNIQUE
);
CREATE INDEX receipts_created ON receipts (created);

-- Usage index, written in the receipt's own transaction: sums of receipts' usage entries.
CREATE TABLE usage (
  household_id TEXT NOT NULL,
  period       TEXT NOT NULL,
  service      INTEGER NOT NULL,
  item         TEXT NOT NULL,
  quantity     INTEGER NOT NULL,
  piastres     INTEGER NOT NULL,
  receipts     INTEGER NOT NULL,
  PRIMARY KEY (household_id, period, service, item)
) WITHOUT ROWID;

-- Highest card-auth counter seen per card: a counter that does not go up is refused.
CREATE TABLE card_counters (
  card_id TEXT PRIMARY KEY,
  counter INTEGER NOT NULL,
  updated INTEGER NOT NULL
) WITHOUT ROWID;

-- Card-auth structures already used (hash = first 32 bytes of SHA-512 of the signed bytes).
CREATE TABLE card_auths (
  hash    BLOB PRIMARY KEY,
  card_id TEXT NOT NULL,
  auth_id TEXT,
  seen    INTEGER NOT NULL
) WITHOUT ROWID;

-- Supervisor exceptions, counted per Egypt day while their authorization is pending or committed.
CREATE TABLE supervisor_exceptions (
  auth_id       TEXT PRIMARY KEY,
  day           TEXT NOT NULL,
  supervisor_id TEXT NOT NULL,
  created       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX supervisor_exceptions_day ON supervisor_exceptions (day);

-- Terminal device certificates, stored once; receipts carry their SHA-512.
CREATE TABLE device_certificates (
  hash        BLOB PRIMARY KEY,
  terminal_id TEXT NOT NULL,
  certificate BLOB NOT NULL,
  first_seen  INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** Migration i turns version i into version i + 1. */
const MIGRATIONS: readonly string[] = [SCHEMA_SQL];

/** Tables a version-1 ledger has (checked on open). */
export const LEDGER_TABLES = ['meta', 'authorizations', 'pending_evidence', 'receipts', 'usage', 'card_counters', 'card_auths', 'supervisor_exceptions', 'device_certificates'] as const;

/**
 * Brings the file to {@link SCHEMA_VERSION}. A fresh (empty) file gets the whole schema;
 * a file of another application is refused as LEDGER_CORRUPT.
 */
export function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new LedgerError('LEDGER_VERSION_UNSUPPORTED', `ledger schema version ${version} is newer than this unicard knows (${SCHEMA_VERSION})`, { version });
  }
  if (version === 0) {
    const objects = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'").get() as { n: number };
    if (objects.n > 0 || appId !== 0) throw new LedgerError('LEDGER_CORRUPT', 'the file is an SQLite database but not a unicard ledger');
  } else if (appId !== APPLICATION_ID) {
    throw new LedgerError('LEDGER_CORRUPT', 'the file is an SQLite database but not a unicard ledger');
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(step);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  const present = new Set((db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name));
  for (const t of LEDGER_TABLES) {
    if (!present.has(t)) throw new LedgerError('LEDGER_CORRUPT', `ledger table ${t} is missing`, { table: t });
  }
}
