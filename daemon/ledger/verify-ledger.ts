/**
 * Offline verification of a ledger with only public keys: every receipt's daemon signature,
 * the chain (seq continuity, previous ids), the embedded card certificate under an issuer
 * root, the card-auth under the card key, the holder verification (or the supervisor
 * exception), the terminal's device certificate under a vendor root, and that the usage
 * index equals the sums of the receipts. Reports every problem it finds, naming the receipt.
 */
import Database from 'better-sqlite3';
import { constantTimeEqual, sha512, toHex } from '../../protocol/crypto/bytes.js';
import { parseCardAuth, parseHolderVerify, verifyCardAuth, verifyHolderVerify, type CardAuthFields } from '../../protocol/crypto/card-structures.js';
import { trustedKeysOf, verifyCardCertificate, verifyDeviceCertificate, type CardCertificate } from '../../protocol/crypto/certificates.js';
import { fastestEd25519, type Ed25519 } from '../../protocol/crypto/ed25519.js';
import { keyIdHex, type TrustedKeys } from '../../protocol/crypto/signed-structure.js';
import { UnicardError } from '../../protocol/errors.js';
import { cardAuthHash } from './evidence.js';
import { LedgerError, toLedgerError } from './ledger-error.js';
import { Ledger } from './ledger.js';
import { serviceCode, serviceName, type ReceiptFields } from './ledger-types.js';
import { GENESIS_PREV, parseReceiptBody, receiptSignedBytes, totalQuantity } from './receipt.js';
import { APPLICATION_ID } from './schema.js';

/** The public keys an auditor holds. */
export interface LedgerRoots {
  /** Issuer roots (card certificates): a TrustedKeys map or a list of public keys. */
  readonly issuerRoots: TrustedKeys | readonly Uint8Array[];
  /** Vendor roots (terminal device certificates). */
  readonly vendorRoots: TrustedKeys | readonly Uint8Array[];
  /** Daemon public keys whose receipts are accepted (several after a key rotation). */
  readonly daemonPublicKeys: readonly Uint8Array[];
}

/** One finding. `seq` names the receipt (null for index and table-level findings). */
export interface LedgerProblem {
  readonly seq: number | null;
  readonly code: LedgerProblemCode;
  readonly message: string;
}

/** Codes of verification findings (see LEDGER.md, "Verifying a ledger offline"). */
export type LedgerProblemCode =
  | 'RECEIPT_MALFORMED'
  | 'RECEIPT_ID_MISMATCH'
  | 'SEQ_GAP'
  | 'SEQ_MISMATCH'
  | 'CHAIN_BROKEN'
  | 'DAEMON_KEY_UNKNOWN'
  | 'DAEMON_SIGNATURE_INVALID'
  | 'CARD_CERT_INVALID'
  | 'CARD_AUTH_INVALID'
  | 'CARD_AUTH_MISMATCH'
  | 'DISPENSED_EXCEEDS_CARD_AUTH'
  | 'HOLDER_VERIFY_INVALID'
  | 'HOLDER_NOT_MATCHED'
  | 'SUPERVISOR_EVIDENCE_INVALID'
  | 'HOUSEHOLD_MISMATCH'
  | 'CARD_SIGNATURE_REUSED'
  | 'CARD_COUNTER_REUSED'
  | 'AUTHORIZATION_REUSED'
  | 'TERMINAL_CERT_MISSING'
  | 'TERMINAL_CERT_INVALID'
  | 'TERMINAL_VENDOR_UNKNOWN'
  | 'COLUMN_MISMATCH'
  | 'USAGE_INDEX_MISMATCH'
  | 'AUTHORIZATION_STATE_MISMATCH'
  | 'LEDGER_UNREADABLE';

/** The verification report. */
export interface LedgerReport {
  /** Receipts examined. */
  readonly receipts: number;
  /** True when there is no problem (warnings do not count). */
  readonly ok: boolean;
  readonly problems: LedgerProblem[];
  /** Findings that do not make the ledger wrong, e.g. a terminal pinned by a technician (not under a vendor root). */
  readonly warnings: LedgerProblem[];
  /** The last receipt's seq and id (hex). */
  readonly head: { readonly seq: number; readonly idHex: string };
  /** Problems beyond `maxProblems` were counted but not listed. */
  readonly truncated: number;
}

/** Options of {@link verifyLedger}. */
export interface VerifyOptions {
  readonly ed?: Ed25519;
  /** Most problems listed (default 1000); the rest are counted in `truncated`. */
  readonly maxProblems?: number;
}

/** One receipt as read from a ledger or an export line. */
export interface ReceiptRecord {
  readonly seq: number;
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
  /** The id as stored or exported, checked against the body's hash. */
  readonly id?: Uint8Array;
  /** The prev as stored or exported (a column), checked against the body. */
  readonly prev?: Uint8Array;
  /** Terminal device certificate, when the store has it. */
  readonly terminalCertificate?: Uint8Array;
}

function toTrusted(keys: TrustedKeys | readonly Uint8Array[]): TrustedKeys {
  return Array.isArray(keys) ? trustedKeysOf(keys as readonly Uint8Array[]) : (keys as TrustedKeys);
}

function codeOf(e: unknown): string {
  return e instanceof UnicardError ? e.code : 'unknown';
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/**
 * Remembers keys already seen (card-auth hashes, card counters, authorization ids) with the
 * receipt that used them first. In memory for exports; in a TEMP table for ledger files, so
 * verifying tens of millions of receipts does not need gigabytes of memory.
 */
export interface SeenStore {
  /** The seq that first used `key` of `kind`, or undefined after recording `seq` as its first use. */
  first(kind: string, key: string, seq: number): number | undefined;
}

/** A {@link SeenStore} in memory. */
export class MemorySeenStore implements SeenStore {
  private readonly maps = new Map<string, Map<string, number>>();
  first(kind: string, key: string, seq: number): number | undefined {
    let m = this.maps.get(kind);
    if (m === undefined) this.maps.set(kind, (m = new Map()));
    const s = m.get(key);
    if (s === undefined) m.set(key, seq);
    return s;
  }
}

/** A {@link SeenStore} in a TEMP table of an SQLite connection (dropped by `drop`). */
class SqliteSeenStore implements SeenStore {
  private readonly get: Database.Statement<[string, string], { seq: number }>;
  private readonly put: Database.Statement<[string, string, number]>;
  constructor(private readonly db: Database.Database) {
    db.exec('CREATE TEMP TABLE IF NOT EXISTS verify_seen (kind TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID');
    db.exec('DELETE FROM temp.verify_seen');
    this.get = db.prepare('SELECT seq FROM temp.verify_seen WHERE kind = ? AND key = ?');
    this.put = db.prepare('INSERT INTO temp.verify_seen (kind, key, seq) VALUES (?, ?, ?)');
  }
  first(kind: string, key: string, seq: number): number | undefined {
    const s = this.get.get(kind, key)?.seq;
    if (s === undefined) this.put.run(kind, key, seq);
    return s;
  }
  drop(): void {
    this.db.exec('DROP TABLE IF EXISTS temp.verify_seen');
  }
}

/** What a receipt counted, keyed for the index comparison. */
export interface UsageContribution {
  readonly householdId: string;
  readonly period: string;
  readonly service: number;
  readonly item: string;
  readonly quantity: number;
  readonly piastres: number;
}

/**
 * Checks receipts one after the other (in seq order): each receipt on its own, and the
 * chain between them. Used on a ledger file and on an export stream alike.
 */
export class ReceiptChainVerifier {
  readonly problems: LedgerProblem[] = [];
  readonly warnings: LedgerProblem[] = [];
  truncated = 0;
  count = 0;
  private lastSeq: number | undefined;
  private lastId: Uint8Array | undefined;
  private readonly ed: Ed25519;
  private readonly issuers: TrustedKeys;
  private readonly vendors: TrustedKeys;
  private readonly daemonKeys = new Map<string, Uint8Array>();
  // Caches: a ledger holds the same cards and terminals thousands of times.
  private readonly cardCerts = new Map<string, CardCertificate | string>();
  private readonly deviceChecks = new Map<string, string | null>();
  private readonly seen: SeenStore;

  constructor(
    roots: LedgerRoots,
    private readonly options: VerifyOptions = {},
    /** Seq and id the chain continues from (an export from seq N+1 continues from receipt N). */
    start?: { seq: number; id: Uint8Array },
    /** Where "already seen" keys are kept (default: in memory). */
    seen: SeenStore = new MemorySeenStore(),
  ) {
    this.seen = seen;
    this.ed = options.ed ?? fastestEd25519();
    this.issuers = toTrusted(roots.issuerRoots);
    this.vendors = toTrusted(roots.vendorRoots);
    for (const k of roots.daemonPublicKeys) this.daemonKeys.set(keyIdHex(k), k);
    if (start !== undefined) {
      this.lastSeq = start.seq;
      this.lastId = start.id;
    }
  }

  /** Records a problem (for the index and table checks as well). */
  problem(seq: number | null, code: LedgerProblemCode, message: string): void {
    if (this.problems.length < (this.options.maxProblems ?? 1000)) this.problems.push({ seq, code, message });
    else this.truncated++;
  }

  private warn(seq: number | null, code: LedgerProblemCode, message: string): void {
    if (this.warnings.length < (this.options.maxProblems ?? 1000)) this.warnings.push({ seq, code, message });
  }

  /** The last receipt's seq and id seen. */
  get head(): { seq: number; idHex: string } {
    return { seq: this.lastSeq ?? 0, idHex: toHex(this.lastId ?? GENESIS_PREV) };
  }

  /**
   * Checks one receipt and its link to the previous one; returns its fields when the body
   * parses (even with other problems), so the caller can count its usage.
   */
  add(r: ReceiptRecord): ReceiptFields | undefined {
    this.count++;
    const seq = r.seq;
    const expectedSeq = (this.lastSeq ?? 0) + 1;
    if (this.lastSeq === undefined ? seq !== 1 : seq !== expectedSeq) {
      this.problem(seq, 'SEQ_GAP', `receipt ${seq} follows receipt ${this.lastSeq ?? 0}: the chain must count 1, 2, 3, …`);
    }
    const signed = receiptSignedBytes(r.body);
    const id = sha512(signed);
    let linkId = id;
    if (r.id !== undefined && !constantTimeEqual(id, r.id)) {
      this.problem(seq, 'RECEIPT_ID_MISMATCH', `receipt ${seq}: its body does not hash to its stored id (altered body or id)`);
      // Reported here; link the next receipt to the stored id so one alteration is one finding.
      linkId = r.id;
    }
    const prevExpected = this.lastId ?? GENESIS_PREV;
    const link = () => {
      this.lastSeq = seq;
      this.lastId = linkId;
    };
    let f: ReceiptFields;
    try {
      f = parseReceiptBody(r.body);
    } catch (e) {
      this.problem(seq, 'RECEIPT_MALFORMED', `receipt ${seq}: ${e instanceof Error ? e.message : String(e)}`);
      link();
      return undefined;
    }
    if (f.seq !== seq) this.problem(seq, 'SEQ_MISMATCH', `receipt ${seq}: its body says seq ${f.seq}`);
    if (!constantTimeEqual(f.prev, prevExpected) && (this.lastSeq !== undefined || seq === 1)) {
      this.problem(seq, 'CHAIN_BROKEN', `receipt ${seq}: previous id ${toHex(f.prev).slice(0, 16)}… is not the id of receipt ${seq - 1} (${toHex(prevExpected).slice(0, 16)}…)`);
    }
    if (r.prev !== undefined && !constantTimeEqual(r.prev, f.prev)) this.problem(seq, 'COLUMN_MISMATCH', `receipt ${seq}: stored prev differs from the signed body`);
    link();

    const daemonKey = this.daemonKeys.get(toHex(f.daemonKeyId));
    if (daemonKey === undefined) this.problem(seq, 'DAEMON_KEY_UNKNOWN', `receipt ${seq}: signed by daemon key ${toHex(f.daemonKeyId)}, not among the keys given`);
    else if (!this.ed.verify(daemonKey, signed, r.signature)) this.problem(seq, 'DAEMON_SIGNATURE_INVALID', `receipt ${seq}: the daemon signature does not verify`);

    this.checkEvidence(seq, f);
    this.checkTerminal(seq, f, r.terminalCertificate);

    const authSeq = this.seen.first('authorization', f.authorizationId, seq);
    if (authSeq !== undefined) this.problem(seq, 'AUTHORIZATION_REUSED', `receipt ${seq}: authorization ${f.authorizationId} was already committed by receipt ${authSeq}`);
    return f;
  }

  private cardCertificate(bytes: Uint8Array, timeSeconds: number): CardCertificate | string {
    const key = latin1(sha512(bytes));
    let c = this.cardCerts.get(key);
    if (c === undefined || (typeof c !== 'string' && (timeSeconds < c.validFrom || timeSeconds > c.validUntil))) {
      try {
        c = verifyCardCertificate(bytes, this.issuers, timeSeconds, this.ed);
        this.cardCerts.set(key, c);
      } catch (e) {
        const code = codeOf(e);
        // Validity depends on the time: only cache failures that do not.
        if (code !== 'CERT_EXPIRED' && code !== 'CERT_NOT_YET_VALID') this.cardCerts.set(key, code);
        return code;
      }
    }
    return c;
  }

  private checkEvidence(seq: number, f: ReceiptFields): void {
    let auth: CardAuthFields;
    try {
      auth = parseCardAuth(f.cardAuth.body);
    } catch (e) {
      this.problem(seq, 'CARD_AUTH_INVALID', `receipt ${seq}: card-auth is malformed (${codeOf(e)})`);
      return;
    }
    const cert = this.cardCertificate(f.cardCertificate, auth.time);
    if (typeof cert === 'string') {
      this.problem(seq, 'CARD_CERT_INVALID', `receipt ${seq}: card certificate refused under the issuer roots (${cert})`);
      return;
    }
    try {
      verifyCardAuth(this.ed, cert.subjectPublicKey, f.cardAuth, auth.nonce);
    } catch (e) {
      this.problem(seq, 'CARD_AUTH_INVALID', `receipt ${seq}: card signature does not verify under the card key (${codeOf(e)})`);
    }
    if (cert.householdId !== f.householdId) this.problem(seq, 'HOUSEHOLD_MISMATCH', `receipt ${seq}: household ${f.householdId} is not the card's (${cert.householdId})`);
    const wrong: string[] = [];
    if (auth.cardId !== cert.cardId) wrong.push('card id');
    if (auth.service !== serviceCode(f.service)) wrong.push('service');
    if (auth.shopId !== f.shopId) wrong.push('shop id');
    if (auth.terminalId !== f.terminalId) wrong.push('terminal id');
    if (wrong.length > 0) this.problem(seq, 'CARD_AUTH_MISMATCH', `receipt ${seq}: the card signed another ${wrong.join(', ')}`);
    const amount = f.service === 'ration' ? f.lines.reduce((s, l) => s + l.piastres, 0) : totalQuantity(f.lines);
    if (amount > auth.quantity) {
      this.problem(seq, 'DISPENSED_EXCEEDS_CARD_AUTH', `receipt ${seq}: dispensed ${amount} ${f.service === 'ration' ? 'piastres' : 'units'}, the card approved ${auth.quantity}`);
    }
    const firstUse = this.seen.first('card-auth', latin1(cardAuthHash(f.cardAuth)), seq);
    if (firstUse !== undefined) this.problem(seq, 'CARD_SIGNATURE_REUSED', `receipt ${seq}: its card signature was already used by receipt ${firstUse}`);
    const counterUse = this.seen.first('counter', `${auth.cardId}\u0000${auth.counter}`, seq);
    if (counterUse !== undefined && firstUse === undefined) {
      this.problem(seq, 'CARD_COUNTER_REUSED', `receipt ${seq}: card ${auth.cardId} counter ${auth.counter} was already used by receipt ${counterUse} (a cloned card)`);
    }

    if (f.holderVerify !== undefined) {
      try {
        const hv = verifyHolderVerify(this.ed, cert.subjectPublicKey, f.holderVerify, auth.nonce);
        if (hv.cardId !== cert.cardId) this.problem(seq, 'HOLDER_VERIFY_INVALID', `receipt ${seq}: holder verification names another card`);
        if (hv.result !== 'match' && f.supervisor === undefined) this.problem(seq, 'HOLDER_NOT_MATCHED', `receipt ${seq}: holder verification ended in ${hv.result} and no supervisor exception is recorded`);
      } catch (e) {
        let detail = codeOf(e);
        try {
          parseHolderVerify(f.holderVerify.body);
        } catch {
          detail = 'malformed';
        }
        this.problem(seq, 'HOLDER_VERIFY_INVALID', `receipt ${seq}: holder verification does not verify under the card key (${detail})`);
      }
    }
    if (f.supervisor?.card !== undefined) {
      const sc = f.supervisor.card;
      try {
        const sAuth = parseCardAuth(sc.cardAuth.body);
        const sCert = this.cardCertificate(sc.certificate, sAuth.time);
        if (typeof sCert === 'string') throw new LedgerError('RECEIPT_MALFORMED', sCert);
        verifyCardAuth(this.ed, sCert.subjectPublicKey, sc.cardAuth, auth.nonce);
      } catch (e) {
        this.problem(seq, 'SUPERVISOR_EVIDENCE_INVALID', `receipt ${seq}: the supervisor card evidence does not verify (${e instanceof LedgerError ? e.message : codeOf(e)})`);
      }
    }
  }

  private checkTerminal(seq: number, f: ReceiptFields, certificate: Uint8Array | undefined): void {
    if (certificate === undefined) {
      this.problem(seq, 'TERMINAL_CERT_MISSING', `receipt ${seq}: the device certificate of terminal ${f.terminalId} is not in the ledger`);
      return;
    }
    if (!constantTimeEqual(sha512(certificate), f.terminalCertificateHash)) {
      this.problem(seq, 'TERMINAL_CERT_INVALID', `receipt ${seq}: the stored device certificate does not hash to the one the receipt names`);
      return;
    }
    const timeSeconds = Math.floor(f.time / 1000);
    const key = `${latin1(f.terminalCertificateHash)}\u0000${f.terminalId}`;
    let outcome = this.deviceChecks.get(key);
    if (outcome === undefined) {
      try {
        const d = verifyDeviceCertificate(certificate, this.vendors, timeSeconds, this.ed);
        outcome = d.terminalId === f.terminalId ? null : 'TERMINAL_ID_MISMATCH';
      } catch (e) {
        outcome = codeOf(e);
      }
      if (outcome !== 'CERT_EXPIRED' && outcome !== 'CERT_NOT_YET_VALID') this.deviceChecks.set(key, outcome);
    }
    if (outcome === null) return;
    if (outcome === 'CERT_UNKNOWN_ISSUER') {
      this.warn(seq, 'TERMINAL_VENDOR_UNKNOWN', `receipt ${seq}: terminal ${f.terminalId} is not under a vendor root given (pinned by a technician?)`);
    } else {
      this.problem(seq, 'TERMINAL_CERT_INVALID', `receipt ${seq}: the device certificate of terminal ${f.terminalId} is refused (${outcome})`);
    }
  }
}

type Source = string | Ledger | Database.Database;

function openSource(source: Source): { db: Database.Database; close: boolean } {
  if (source instanceof Ledger) return { db: source.db, close: false };
  if (typeof source !== 'string') return { db: source, close: false };
  try {
    const db = new Database(source, { readonly: true, fileMustExist: true });
    const appId = db.pragma('application_id', { simple: true }) as number;
    if (appId !== APPLICATION_ID) {
      db.close();
      throw new LedgerError('LEDGER_CORRUPT', `${source} is not a unicard ledger`);
    }
    return { db, close: true };
  } catch (e) {
    throw toLedgerError(e, `open ledger ${source}`);
  }
}

interface Row {
  seq: number;
  id: Uint8Array;
  prev: Uint8Array;
  body: Uint8Array;
  signature: Uint8Array;
  created: number;
  household_id: string;
  service: number;
  quantity: number;
  auth_id: string;
}

const PAGE = 2000;

/**
 * Verifies a ledger file (opened read-only), an open {@link Ledger}, or a better-sqlite3
 * connection, with only the public keys in `roots`. Never throws for what it finds: every
 * finding is in the report; throws LedgerError only when the file cannot be read as a ledger.
 */
export function verifyLedger(source: Source, roots: LedgerRoots, options: VerifyOptions = {}): LedgerReport {
  const { db, close } = openSource(source);
  let seen: SqliteSeenStore;
  try {
    seen = new SqliteSeenStore(db);
  } catch (e) {
    if (close) db.close();
    throw toLedgerError(e, 'verify ledger');
  }
  const v = new ReceiptChainVerifier(roots, options, undefined, seen);
  try {
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS verify_usage (
      household_id TEXT NOT NULL, period TEXT NOT NULL, service INTEGER NOT NULL, item TEXT NOT NULL,
      quantity INTEGER NOT NULL, piastres INTEGER NOT NULL, receipts INTEGER NOT NULL,
      PRIMARY KEY (household_id, period, service, item)) WITHOUT ROWID`);
    db.exec('DELETE FROM temp.verify_usage');
    const receiptsPage = db.prepare<[number, number], Row>(
      'SELECT seq, id, prev, body, signature, created, household_id, service, quantity, auth_id FROM receipts WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    const device = db.prepare<[Uint8Array], { certificate: Uint8Array }>('SELECT certificate FROM device_certificates WHERE hash = ?');
    const addUsage = db.prepare(
      `INSERT INTO temp.verify_usage VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO UPDATE SET
       quantity = quantity + excluded.quantity, piastres = piastres + excluded.piastres, receipts = receipts + 1`,
    );
    const authState = db.prepare<[string], { state: string; receipt_seq: number | null }>('SELECT state, receipt_seq FROM authorizations WHERE id = ?');
    const devices = new Map<string, Uint8Array | undefined>();
    let after = 0;
    for (;;) {
      const rows = receiptsPage.all(after, PAGE);
      if (rows.length === 0) break;
      const batch = db.transaction(() => {
        for (const row of rows) {
          after = row.seq;
          let cert: Uint8Array | undefined;
          let fields: ReceiptFields | undefined;
          try {
            fields = parseReceiptBody(row.body);
          } catch {
            fields = undefined;
          }
          if (fields !== undefined) {
            const k = latin1(fields.terminalCertificateHash);
            if (!devices.has(k)) devices.set(k, device.get(fields.terminalCertificateHash)?.certificate);
            cert = devices.get(k);
          }
          const f = v.add({ seq: row.seq, body: row.body, signature: row.signature, id: row.id, prev: row.prev, ...(cert !== undefined ? { terminalCertificate: cert } : {}) });
          if (f === undefined) continue;
          const code = serviceCode(f.service);
          const colWrong: string[] = [];
          if (row.created !== f.time) colWrong.push('created');
          if (row.household_id !== f.householdId) colWrong.push('household');
          if (row.service !== code) colWrong.push('service');
          if (row.quantity !== totalQuantity(f.lines)) colWrong.push('quantity');
          if (row.auth_id !== f.authorizationId) colWrong.push('authorization id');
          if (colWrong.length > 0) v.problem(row.seq, 'COLUMN_MISMATCH', `receipt ${row.seq}: stored ${colWrong.join(', ')} differ from the signed body`);
          const a = authState.get(f.authorizationId);
          if (a === undefined || a.state !== 'committed' || a.receipt_seq !== row.seq) {
            v.problem(row.seq, 'AUTHORIZATION_STATE_MISMATCH', `receipt ${row.seq}: authorization ${f.authorizationId} is ${a === undefined ? 'missing' : `${a.state} with receipt ${a.receipt_seq ?? 'none'}`}`);
          }
          for (const u of f.usage) addUsage.run(f.householdId, u.period, code, u.item, u.quantity, u.piastres);
        }
      });
      // A read-only connection can still write its TEMP tables.
      batch();
    }
    compareUsage(db, v);
    const orphans = db
      .prepare<[], { id: string; receipt_seq: number | null }>(
        "SELECT a.id, a.receipt_seq FROM authorizations a LEFT JOIN receipts r ON r.seq = a.receipt_seq AND r.auth_id = a.id WHERE a.state = 'committed' AND r.seq IS NULL LIMIT 100",
      )
      .all();
    for (const o of orphans) v.problem(null, 'AUTHORIZATION_STATE_MISMATCH', `authorization ${o.id} is committed but receipt ${o.receipt_seq ?? 'none'} is not its receipt`);
    db.exec('DROP TABLE temp.verify_usage');
    seen.drop();
  } catch (e) {
    if (e instanceof LedgerError && e.code !== 'LEDGER_IO' && e.code !== 'LEDGER_CORRUPT') throw e;
    const err = toLedgerError(e, 'verify ledger');
    v.problem(null, 'LEDGER_UNREADABLE', err.message);
  } finally {
    if (close) db.close();
  }
  return { receipts: v.count, ok: v.problems.length === 0 && v.truncated === 0, problems: v.problems, warnings: v.warnings, head: v.head, truncated: v.truncated };
}

function compareUsage(db: Database.Database, v: ReceiptChainVerifier): void {
  type U = { household_id: string; period: string; service: number; item: string; quantity: number; piastres: number; receipts: number };
  const diff = (a: string, b: string) =>
    db
      .prepare<[], U>(
        `SELECT household_id, period, service, item, quantity, piastres, receipts FROM ${a}
         EXCEPT SELECT household_id, period, service, item, quantity, piastres, receipts FROM ${b} LIMIT 100`,
      )
      .all();
  const describe = (u: U) => `household ${u.household_id}, ${serviceName(u.service) ?? u.service} ${u.item} in ${u.period}`;
  for (const u of diff('main.usage', 'temp.verify_usage')) {
    v.problem(null, 'USAGE_INDEX_MISMATCH', `usage index says ${u.quantity} (${u.piastres} piastres, ${u.receipts} receipts) for ${describe(u)}; the receipts do not add up to that`);
  }
  for (const u of diff('temp.verify_usage', 'main.usage')) {
    v.problem(null, 'USAGE_INDEX_MISMATCH', `the receipts add up to ${u.quantity} (${u.piastres} piastres, ${u.receipts} receipts) for ${describe(u)}; the usage index says otherwise`);
  }
}
