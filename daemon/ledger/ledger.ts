/**
 * The ledger: authorizations, signed hash-chained receipts and the usage index, in one
 * SQLite file (better-sqlite3, WAL, `synchronous = FULL`).
 *
 * Writes go through a group-commit queue (many writes, one transaction, one fsync) and
 * resolve only once durable. Reads are synchronous and use indexes only: a quota check reads
 * a household's usage rows, never the receipts. Every multi-row change (a receipt, its chain
 * link, its usage rows, its authorization's state) happens in one transaction.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../protocol/cbor-codec.js';
import { constantTimeEqual, isBytes, toHex } from '../../protocol/crypto/bytes.js';
import { fastestEd25519, type Ed25519 } from '../../protocol/crypto/ed25519.js';
import { keyIdOf, type SignedStructure } from '../../protocol/crypto/signed-structure.js';
import { MAX_CARD_COUNTER } from '../../protocol/crypto/card-structures.js';
import { cardAuthHash, checkEvidence, decodeSupervisor, DIRECT_PARSERS, encodeSupervisor, type EvidenceParsers } from './evidence.js';
import { GroupCommitQueue, KeptRefusal } from './group-commit.js';
import { LedgerError, toLedgerError } from './ledger-error.js';
import {
  serviceCode,
  serviceName,
  SERVICE_NAMES,
  type Allocation,
  type Authorization,
  type AuthorizationState,
  type DispensedLine,
  type LedgerUsage,
  type NewAuthorization,
  type Receipt,
  type ReceiptFields,
  type RequestedLine,
  type ServiceName,
  type UsageEntry,
  type UsageRow,
} from './ledger-types.js';
import { dayKey, isPeriodKey, monthKey, previousMonthKey } from './periods.js';
import {
  encodeReceiptBody,
  GENESIS_PREV,
  MAX_AMOUNT,
  MAX_ID_TEXT,
  MAX_ITEM_TEXT,
  MAX_LINES,
  MAX_USAGE_ENTRIES,
  parseReceiptBody,
  receiptFrom,
  receiptId,
  receiptSigner,
  totalQuantity,
} from './receipt.js';
import { migrate } from './schema.js';

/** Options of {@link Ledger.open}. */
export interface LedgerOptions {
  /** The daemon's Ed25519 seed (32 bytes): it signs every receipt. */
  readonly daemonSeed: Uint8Array;
  /** Ed25519 implementation (default: node:crypto). */
  readonly ed?: Ed25519;
  /** Unix milliseconds (default Date.now): commit times, expiry, Egypt day of supervisor exceptions. */
  readonly clock?: () => number;
  /** Most writes in one group commit (default 1024). */
  readonly maxBatch?: number;
  /** How long a write waits for another process's lock before LEDGER_BUSY (default 5000 ms). */
  readonly busyTimeoutMs?: number;
  /**
   * SQLite page cache in KiB (default 2,048 = 2 MiB: the daemon's resident memory budget; a
   * larger cache did not speed up quota checks on 1,000,000 receipts, see BENCHMARKS.md
   * "Daemon RSS"). Bulk loads of millions of receipts want more.
   */
  readonly cacheSizeKiB?: number;
}

/** Result of {@link Ledger.createAuthorization}. */
export interface CreateAuthorizationResult {
  readonly authorization: Authorization;
  /** False when the idempotency key already had this authorization (a retry). */
  readonly created: boolean;
}

/** Result of {@link Ledger.commit}. */
export interface CommitResult {
  readonly receipt: Receipt;
  /** True when the authorization was already committed with these quantities (a retry): the same receipt. */
  readonly replayed: boolean;
}

/** What was dispensed: a number when one item was approved, else quantities per item. */
export type Dispensed = number | readonly RequestedLine[];

/** Query of {@link Ledger.receipts}. */
export interface ReceiptQuery {
  /** Receipts with seq > sinceSeq (exclusive: pass the last seq you hold). */
  readonly sinceSeq?: number;
  /** Receipts created at or after this unix ms. */
  readonly sinceTime?: number;
  /** Most receipts returned (default 1000, at most 100,000). */
  readonly limit?: number;
}

/** The chain head: the last receipt's seq and id (seq 0 and 64 zero bytes when empty). */
export interface ChainHead {
  readonly seq: number;
  readonly id: Uint8Array;
}

interface AuthRow {
  id: string;
  client_id: string;
  idem_key: string;
  shop_id: string;
  terminal_id: string;
  card_id: string;
  household_id: string;
  service: number;
  requested: Uint8Array;
  approved: Uint8Array;
  state: AuthorizationState;
  created: number;
  expires: number;
  ended: number | null;
  receipt_seq: number | null;
  supervisor: number;
}

interface EvidenceRow {
  card_cert: Uint8Array;
  card_auth: Uint8Array;
  card_sig: Uint8Array;
  holder: Uint8Array | null;
  holder_sig: Uint8Array | null;
  exception: Uint8Array | null;
  terminal_cert_hash: Uint8Array;
}

/** A row of the receipts table (as read by toReceipt). */
export interface ReceiptRow {
  seq: number;
  id: Uint8Array;
  prev: Uint8Array;
  body: Uint8Array;
  signature: Uint8Array;
  created: number;
}

/** Device-certificate hashes remembered as stored, at most (a shop has a handful of terminals). */
const MAX_REMEMBERED_DEVICES = 1024;
const ID_RE = /^[\x21-\x7e]+$/; // printable ASCII without spaces: ids travel in logs and JSON

function invalid(message: string, detail?: Record<string, unknown>): never {
  throw new LedgerError('LEDGER_INVALID_INPUT', message, detail);
}

function checkId(what: string, v: unknown, max = MAX_ID_TEXT): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max || !ID_RE.test(v)) invalid(`${what} must be 1..${max} printable ASCII characters without spaces`);
  return v;
}

function checkItem(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ITEM_TEXT) invalid(`item names are text of 1..${MAX_ITEM_TEXT} characters`);
  return v;
}

function checkAmount(what: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > MAX_AMOUNT) invalid(`${what} must be an integer in ${min}..${MAX_AMOUNT}`);
  return v;
}

function checkRequested(lines: readonly RequestedLine[]): RequestedLine[] {
  if (!Array.isArray(lines) || lines.length === 0 || lines.length > MAX_LINES) invalid(`requested needs 1..${MAX_LINES} lines`);
  const seen = new Set<string>();
  return lines.map((l) => {
    const item = checkItem(l?.item);
    if (seen.has(item)) invalid(`item ${item} is requested twice`);
    seen.add(item);
    return { item, quantity: checkAmount('a requested quantity', l.quantity, 0) };
  });
}

function checkApproved(allocs: readonly Allocation[]): Allocation[] {
  if (!Array.isArray(allocs) || allocs.length > MAX_USAGE_ENTRIES) invalid(`approved holds at most ${MAX_USAGE_ENTRIES} allocations`);
  const seen = new Set<string>();
  const items = new Set<string>();
  const out = allocs.map((a) => {
    if (typeof a?.period !== 'string' || !isPeriodKey(a.period)) invalid("an allocation's period is a day 'YYYY-MM-DD' or a month 'YYYY-MM'");
    const item = checkItem(a.item);
    const key = `${a.period}\u0000${item}`;
    if (seen.has(key)) invalid(`period ${a.period} and item ${item} are allocated twice`);
    seen.add(key);
    items.add(item);
    return { period: a.period, item, quantity: checkAmount('an approved quantity', a.quantity, 1), unitPiastres: checkAmount('a unit price', a.unitPiastres, 0) };
  });
  if (items.size > MAX_LINES) invalid(`at most ${MAX_LINES} different items`);
  for (const a of out) if (a.quantity * a.unitPiastres > MAX_AMOUNT) invalid('an allocation is worth too much');
  return out;
}

/** A request's fields after validation. */
interface CheckedRequest {
  readonly clientId: string;
  readonly key: string;
  readonly shopId: string;
  readonly terminalId: string;
  readonly requested: RequestedLine[];
  readonly approved: Allocation[];
}

function checkRequest(req: NewAuthorization, now: number): CheckedRequest {
  if (req === null || typeof req !== 'object') invalid('an authorization request is an object');
  const clientId = checkId('clientId', req.clientId);
  const key = checkId('idempotencyKey', req.idempotencyKey, 128);
  const shopId = checkId('shopId', req.shopId);
  const terminalId = checkId('terminalId', req.terminalId);
  if (!SERVICE_NAMES.includes(req.service)) invalid(`unknown service ${String(req.service)}`);
  const requested = checkRequested(req.requested);
  const approved = checkApproved(req.approved);
  if (!Number.isSafeInteger(req.expiresAt) || req.expiresAt <= now) invalid('expiresAt is a unix ms time in the future');
  if (req.supervisorDailyCap !== undefined) checkAmount('supervisorDailyCap', req.supervisorDailyCap, 0);
  if (req.evidence === null || typeof req.evidence !== 'object') invalid('evidence is required');
  return { clientId, key, shopId, terminalId, requested, approved };
}

function encodeRequested(lines: readonly RequestedLine[]): Uint8Array {
  return encodeCanonical(lines.map((l) => [l.item, l.quantity]));
}

function encodeApproved(allocs: readonly Allocation[]): Uint8Array {
  return encodeCanonical(allocs.map((a) => [a.period, a.item, a.quantity, a.unitPiastres]));
}

function corrupt(what: string): never {
  throw new LedgerError('LEDGER_CORRUPT', what);
}

function decodeList(blob: Uint8Array, width: number): CborValue[][] {
  let v: CborValue;
  try {
    v = decodeCanonical(blob);
  } catch {
    return corrupt('stored authorization lines are damaged');
  }
  if (!Array.isArray(v) || !v.every((x) => Array.isArray(x) && x.length === width)) corrupt('stored authorization lines are damaged');
  return v as CborValue[][];
}

function decodeRequested(blob: Uint8Array): RequestedLine[] {
  return decodeList(blob, 2).map(([item, quantity]) => ({ item: item as string, quantity: quantity as number }));
}

function decodeApproved(blob: Uint8Array): Allocation[] {
  return decodeList(blob, 4).map(([period, item, quantity, unitPiastres]) => ({
    period: period as string,
    item: item as string,
    quantity: quantity as number,
    unitPiastres: unitPiastres as number,
  }));
}

function authorizationOf(row: AuthRow): Authorization {
  return {
    id: row.id,
    clientId: row.client_id,
    idempotencyKey: row.idem_key,
    shopId: row.shop_id,
    terminalId: row.terminal_id,
    cardId: row.card_id,
    householdId: row.household_id,
    service: serviceName(row.service) ?? corrupt(`authorization ${row.id} has an unknown service`),
    requested: decodeRequested(row.requested),
    approved: decodeApproved(row.approved),
    state: row.state,
    createdAt: row.created,
    expiresAt: row.expires,
    endedAt: row.ended ?? undefined,
    receiptSeq: row.receipt_seq ?? undefined,
    supervisorException: row.supervisor !== 0,
  };
}

function sameRequest(a: Authorization, r: NewAuthorization, requested: readonly RequestedLine[]): boolean {
  return (
    a.service === r.service &&
    a.shopId === r.shopId &&
    a.terminalId === r.terminalId &&
    a.requested.length === requested.length &&
    a.requested.every((l, i) => l.item === requested[i]?.item && l.quantity === requested[i]?.quantity)
  );
}

/**
 * Normalises what was dispensed to quantities per item, in the order of first approval,
 * without zero lines. COMMIT_EXCEEDS_APPROVED for an item that was not approved or more
 * than approved.
 */
function dispensedPerItem(approved: readonly Allocation[], dispensed: Dispensed): Map<string, number> {
  const approvedPerItem = new Map<string, number>();
  for (const a of approved) approvedPerItem.set(a.item, (approvedPerItem.get(a.item) ?? 0) + a.quantity);
  const out = new Map<string, number>();
  if (typeof dispensed === 'number') {
    checkAmount('the dispensed quantity', dispensed, 0);
    if (approvedPerItem.size > 1) invalid('several items were approved: give the dispensed quantity per item');
    const item = approvedPerItem.keys().next();
    if (item.done) {
      if (dispensed > 0) throw new LedgerError('COMMIT_EXCEEDS_APPROVED', 'nothing was approved', { approved: 0, dispensed });
      return out;
    }
    out.set(item.value, dispensed);
  } else {
    if (!Array.isArray(dispensed) || dispensed.length > MAX_LINES) invalid(`dispensed holds at most ${MAX_LINES} lines`);
    for (const l of dispensed) {
      const item = checkItem(l?.item);
      if (out.has(item)) invalid(`item ${item} is dispensed twice`);
      out.set(item, checkAmount('a dispensed quantity', l.quantity, 0));
    }
  }
  for (const [item, q] of out) {
    const max = approvedPerItem.get(item) ?? 0;
    if (q > max) throw new LedgerError('COMMIT_EXCEEDS_APPROVED', `dispensed ${q} of ${item}, approved ${max}`, { item, approved: max, dispensed: q });
  }
  const ordered = new Map<string, number>();
  for (const item of approvedPerItem.keys()) {
    const q = out.get(item) ?? 0;
    if (q > 0) ordered.set(item, q);
  }
  return ordered;
}

/** Fills the approved allocations of each item in order; returns the receipt's lines and usage. */
function allocate(approved: readonly Allocation[], perItem: Map<string, number>): { lines: DispensedLine[]; usage: UsageEntry[] } {
  const left = new Map(perItem);
  const usage: UsageEntry[] = [];
  for (const a of approved) {
    const want = left.get(a.item) ?? 0;
    if (want === 0) continue;
    const take = Math.min(want, a.quantity);
    left.set(a.item, want - take);
    usage.push({ period: a.period, item: a.item, quantity: take, piastres: take * a.unitPiastres });
  }
  const lines: DispensedLine[] = [];
  for (const item of perItem.keys()) {
    let quantity = 0;
    let piastres = 0;
    for (const u of usage) {
      if (u.item !== item) continue;
      quantity += u.quantity;
      piastres += u.piastres;
    }
    lines.push({ item, quantity, piastres });
  }
  return { lines, usage };
}

function sameDispensed(receipt: Receipt, perItem: Map<string, number>): boolean {
  if (receipt.lines.length !== perItem.size) return false;
  return receipt.lines.every((l) => perItem.get(l.item) === l.quantity);
}

/**
 * A new authorization id: 12 hex digits of the unix ms time, then 20 random hex digits
 * (UUIDv7-like). Ids sort by creation time, so the primary key grows at its right edge
 * instead of landing on a random page of the B-tree on every insert.
 */
export function authorizationIdAt(unixMs: number): string {
  const random = randomUUID().replaceAll('-', '');
  return Math.max(0, Math.floor(unixMs)).toString(16).padStart(12, '0').slice(-12) + random.slice(0, 20);
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/**
 * Certificate parsers with small caches keyed by the certificate bytes: a shop sees the same
 * terminals all day and the same households every few days; parsing is pure, so a cached
 * result is the same result.
 */
function cachingParsers(): EvidenceParsers {
  const cards = new Map<string, ReturnType<EvidenceParsers['card']>>();
  const devices = new Map<string, ReturnType<EvidenceParsers['device']>>();
  return {
    card(bytes) {
      const k = latin1(bytes);
      let c = cards.get(k);
      if (c === undefined) {
        c = DIRECT_PARSERS.card(bytes);
        if (cards.size >= 4096) cards.clear();
        cards.set(k, c);
      }
      return c;
    },
    device(bytes) {
      const k = latin1(bytes);
      let d = devices.get(k);
      if (d === undefined) {
        d = DIRECT_PARSERS.device(bytes);
        if (devices.size >= 256) devices.clear();
        devices.set(k, d);
      }
      return d;
    },
  };
}

/** Prepared statements, built once per connection. */
function statements(db: Database.Database) {
  return {
    head: db.prepare<[], ReceiptRow>('SELECT seq, id, prev, body, signature, created FROM receipts ORDER BY seq DESC LIMIT 1'),
    maxSeq: db.prepare<[], { s: number | null }>('SELECT max(seq) AS s FROM receipts'),
    authById: db.prepare<[string], AuthRow>('SELECT * FROM authorizations WHERE id = ?'),
    authByKey: db.prepare<[string, string], AuthRow>('SELECT * FROM authorizations WHERE client_id = ? AND idem_key = ?'),
    // Positional parameters: binding by name costs a property lookup per column on every write.
    insertAuth: db.prepare<[string, string, string, string, string, string, string, number, Uint8Array, Uint8Array, AuthorizationState, number, number, number | null, number | null, number]>(
      `INSERT INTO authorizations (id, client_id, idem_key, shop_id, terminal_id, card_id, household_id, service, requested, approved, state, created, expires, ended, receipt_seq, supervisor)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertEvidence: db.prepare<[string, Uint8Array, Uint8Array, Uint8Array, Uint8Array | null, Uint8Array | null, Uint8Array | null, Uint8Array]>(
      `INSERT INTO pending_evidence (auth_id, card_cert, card_auth, card_sig, holder, holder_sig, exception, terminal_cert_hash)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    evidence: db.prepare<[string], EvidenceRow>('SELECT card_cert, card_auth, card_sig, holder, holder_sig, exception, terminal_cert_hash FROM pending_evidence WHERE auth_id = ?'),
    deleteEvidence: db.prepare<[string]>('DELETE FROM pending_evidence WHERE auth_id = ?'),
    setState: db.prepare<[AuthorizationState, number, string]>("UPDATE authorizations SET state = ?, ended = ? WHERE id = ? AND state = 'pending'"),
    setCommitted: db.prepare<[number, number, string]>("UPDATE authorizations SET state = 'committed', ended = ?, receipt_seq = ? WHERE id = ? AND state = 'pending'"),
    expiredIds: db.prepare<[number], { id: string }>("SELECT id FROM authorizations WHERE state = 'pending' AND expires <= ? ORDER BY expires"),
    insertReceipt: db.prepare<[number, Uint8Array, Uint8Array, Uint8Array, Uint8Array, number, string, number, number, string]>(
      `INSERT INTO receipts (seq, id, prev, body, signature, created, household_id, service, quantity, auth_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    receiptBySeq: db.prepare<[number], ReceiptRow>('SELECT seq, id, prev, body, signature, created FROM receipts WHERE seq = ?'),
    receiptsSinceSeq: db.prepare<[number, number], ReceiptRow>('SELECT seq, id, prev, body, signature, created FROM receipts WHERE seq > ? ORDER BY seq LIMIT ?'),
    receiptsSinceTime: db.prepare<[number, number], ReceiptRow>('SELECT seq, id, prev, body, signature, created FROM receipts WHERE created >= ? ORDER BY seq LIMIT ?'),
    addUsage: db.prepare(
      `INSERT INTO usage (household_id, period, service, item, quantity, piastres, receipts) VALUES (?, ?, ?, ?, ?, ?, 1)
       ON CONFLICT (household_id, period, service, item) DO UPDATE SET
         quantity = quantity + excluded.quantity, piastres = piastres + excluded.piastres, receipts = receipts + 1`,
    ),
    usageFrom: db.prepare<[string, string], { service: number; period: string; item: string; quantity: number; piastres: number }>(
      'SELECT service, period, item, quantity, piastres FROM usage WHERE household_id = ? AND period >= ? ORDER BY period, service, item',
    ),
    counter: db.prepare<[string], { counter: number }>('SELECT counter FROM card_counters WHERE card_id = ?'),
    setCounter: db.prepare<[string, number, number]>(
      'INSERT INTO card_counters (card_id, counter, updated) VALUES (?, ?, ?) ON CONFLICT (card_id) DO UPDATE SET counter = excluded.counter, updated = excluded.updated',
    ),
    cardAuth: db.prepare<[Uint8Array], { card_id: string; auth_id: string | null }>('SELECT card_id, auth_id FROM card_auths WHERE hash = ?'),
    insertCardAuth: db.prepare<[Uint8Array, string, string | null, number]>('INSERT INTO card_auths (hash, card_id, auth_id, seen) VALUES (?, ?, ?, ?)'),
    bindCardAuth: db.prepare<[string, Uint8Array]>('UPDATE card_auths SET auth_id = ? WHERE hash = ? AND auth_id IS NULL'),
    exceptionsOn: db.prepare<[string], { n: number }>(
      `SELECT count(*) AS n FROM supervisor_exceptions s JOIN authorizations a ON a.id = s.auth_id
       WHERE s.day = ? AND a.state IN ('pending', 'committed')`,
    ),
    insertException: db.prepare<[string, string, string, number]>('INSERT INTO supervisor_exceptions (auth_id, day, supervisor_id, created) VALUES (?, ?, ?, ?)'),
    insertDevice: db.prepare<[Uint8Array, string, Uint8Array, number]>(
      'INSERT OR IGNORE INTO device_certificates (hash, terminal_id, certificate, first_seen) VALUES (?, ?, ?, ?)',
    ),
    device: db.prepare<[Uint8Array], { certificate: Uint8Array }>('SELECT certificate FROM device_certificates WHERE hash = ?'),
    count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM receipts'),
  };
}

type Statements = ReturnType<typeof statements>;

/**
 * The ledger of one daemon. Open with {@link Ledger.open}; close with {@link Ledger.close}.
 * One process writes a ledger at a time; readers (verify, export) may open it alongside.
 */
export class Ledger {
  /** The daemon's public key (verifies every receipt). */
  readonly daemonPublicKey: Uint8Array;
  /** Its key id (8 bytes), as written in receipts. */
  readonly daemonKeyId: Uint8Array;

  private readonly st: Statements;
  private readonly queue: GroupCommitQueue<ChainHead>;
  private readonly ed: Ed25519;
  private readonly clock: () => number;
  private headSeq = 0;
  private headId: Uint8Array = GENESIS_PREV;
  private closed = false;
  private readonly parsers: EvidenceParsers;
  /** Hashes of device certificates known to be in device_certificates (see recordDevice). */
  private readonly storedDevices = new Set<string>();
  private readonly signer: (body: Uint8Array) => { signature: Uint8Array; id: Uint8Array };

  private constructor(
    /** The SQLite connection (for verifyLedger and exportReceipts; do not write through it). */
    readonly db: Database.Database,
    readonly path: string,
    daemonSeed: Uint8Array,
    options: LedgerOptions,
  ) {
    this.ed = options.ed ?? fastestEd25519();
    this.clock = options.clock ?? Date.now;
    this.daemonPublicKey = this.ed.publicKeyFromSeed(daemonSeed);
    this.daemonKeyId = keyIdOf(this.daemonPublicKey);
    this.st = statements(db);
    this.parsers = cachingParsers();
    this.signer = receiptSigner(this.ed, daemonSeed);
    // Record which daemon keys wrote this file: a hint for auditors (they trust only the keys they hold).
    db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?), (?, ?)').run(
      'created',
      new Date(this.clock()).toISOString(),
      `daemon-key:${toHex(this.daemonKeyId)}`,
      toHex(this.daemonPublicKey),
    );
    this.loadHead();
    this.queue = new GroupCommitQueue<ChainHead>(
      db,
      {
        // Another writer may have appended since our last batch: never fork the chain.
        begin: () => {
          if ((this.st.maxSeq.get()?.s ?? 0) !== this.headSeq) this.loadHead();
        },
        snapshot: () => ({ seq: this.headSeq, id: this.headId }),
        restore: (h) => {
          this.storedDevices.clear();
          this.headSeq = h.seq;
          this.headId = h.id;
        },
        failed: () => {
          this.storedDevices.clear();
          this.loadHead();
        },
      },
      options.maxBatch ?? 1024,
    );
  }

  /**
   * Opens (creating when absent) the ledger at `path`: WAL, `synchronous = FULL`, schema
   * migrated, chain head checked. LEDGER_CORRUPT when the file is not a ledger or its last
   * receipt does not hash to its id; LEDGER_VERSION_UNSUPPORTED for a newer schema.
   */
  static open(path: string, options: LedgerOptions): Ledger {
    if (!isBytes(options.daemonSeed, 32)) throw new LedgerError('LEDGER_INVALID_INPUT', 'the daemon seed is 32 bytes');
    let db: Database.Database | undefined;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (path !== ':memory:' && mode !== 'wal') throw new LedgerError('LEDGER_IO', `the ledger cannot use WAL mode here (got ${String(mode)})`);
      // FULL: the WAL is fsynced at every commit, so an acknowledged receipt survives a power cut.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = OFF');
      db.pragma(`cache_size = -${Math.max(1024, Math.floor(options.cacheSizeKiB ?? 2048))}`);
      migrate(db);
      return new Ledger(db, path, new Uint8Array(options.daemonSeed), options);
    } catch (e) {
      try {
        db?.close();
      } catch {
        // already failing
      }
      throw toLedgerError(e, `open ledger ${path}`);
    }
  }

  private loadHead(): void {
    const row = this.st.head.get();
    if (row === undefined) {
      this.headSeq = 0;
      this.headId = GENESIS_PREV;
      return;
    }
    const id = receiptId(row.body);
    if (!constantTimeEqual(id, row.id)) corrupt(`the last receipt (seq ${row.seq}) does not hash to its id`);
    this.headSeq = row.seq;
    this.headId = new Uint8Array(row.id);
  }

  private check(): void {
    if (this.closed) throw new LedgerError('LEDGER_CLOSED', 'the ledger is closed');
  }

  private read<T>(what: string, f: () => T): T {
    this.check();
    try {
      return f();
    } catch (e) {
      throw toLedgerError(e, what);
    }
  }

  private write<T>(op: () => T | KeptRefusal): Promise<T> {
    if (this.closed) return Promise.reject(new LedgerError('LEDGER_CLOSED', 'the ledger is closed'));
    return this.queue.run(op);
  }

  private requireTransaction(): void {
    this.check();
    if (!this.db.inTransaction) throw new LedgerError('LEDGER_INVALID_INPUT', 'synchronous ledger writes run inside Ledger.bulk only');
  }

  /** The chain head. */
  head(): ChainHead {
    this.check();
    return { seq: this.headSeq, id: new Uint8Array(this.headId) };
  }

  // ---------------------------------------------------------------- authorizations

  /**
   * Records an authorization (durably) with its evidence and approved allocations.
   * Idempotent on (clientId, idempotencyKey): a retry returns the stored authorization with
   * `created: false` (IDEMPOTENCY_CONFLICT when the key was used for another request).
   * Refuses a card signature already bound to another authorization (CARD_SIGNATURE_REPLAYED),
   * a card counter that does not go up (CARD_COUNTER_REGRESSION) unless this very card-auth
   * was already checked with {@link checkAndRecordCardCounter}, and a supervisor exception
   * over the day's cap (SUPERVISOR_CAP_REACHED). Signatures are not re-verified here: the core
   * verified them; {@link verifyLedger} checks them again offline.
   */
  createAuthorization(req: NewAuthorization): Promise<CreateAuthorizationResult> {
    return this.write(() => this.createAuthorizationNow(req));
  }

  /** {@link createAuthorization} inside {@link bulk}; `now` (unix ms) defaults to the clock. */
  createAuthorizationNow(req: NewAuthorization, now: number = this.clock()): CreateAuthorizationResult {
    this.requireTransaction();
    const v = checkRequest(req, now);
    const existing = this.st.authByKey.get(v.clientId, v.key);
    if (existing !== undefined) {
      const a = authorizationOf(existing);
      if (!sameRequest(a, req, v.requested)) {
        throw new LedgerError('IDEMPOTENCY_CONFLICT', 'this idempotency key was used for another request', { authorizationId: a.id });
      }
      return { authorization: a, created: false };
    }
    const { authorization, terminalCertificateHash } = this.recordAuthorization(req, v, now, undefined);
    this.st.insertEvidence.run(
      authorization.id,
      req.evidence.cardCertificate,
      req.evidence.cardAuth.body,
      req.evidence.cardAuth.signature,
      req.evidence.holderVerify?.body ?? null,
      req.evidence.holderVerify?.signature ?? null,
      req.evidence.supervisor === undefined ? null : encodeSupervisor(req.evidence.supervisor),
      terminalCertificateHash,
    );
    return { authorization, created: true };
  }

  /**
   * For bulk loads inside {@link bulk} (benchmarks, imports): an authorization committed at
   * once with everything it approved, in one step. The rows it leaves are those of
   * createAuthorizationNow followed by commitNow of the whole approval; the pending evidence
   * row is never written. Refuses a reused idempotency key (LEDGER_INVALID_INPUT).
   */
  appendDispensedNow(req: NewAuthorization, now: number = this.clock()): Receipt {
    this.requireTransaction();
    const v = checkRequest(req, now);
    if (this.st.authByKey.get(v.clientId, v.key) !== undefined) invalid('appendDispensedNow takes a fresh idempotency key');
    const perItem = new Map<string, number>();
    for (const a of v.approved) perItem.set(a.item, (perItem.get(a.item) ?? 0) + a.quantity);
    if (perItem.size === 0) invalid('nothing was approved');
    const seq = this.headSeq + 1;
    const { authorization, terminalCertificateHash } = this.recordAuthorization(req, v, now, seq);
    const { lines, usage } = allocate(v.approved, perItem);
    return this.appendReceipt(
      authorization.id,
      {
        shopId: v.shopId,
        terminalId: v.terminalId,
        householdId: authorization.householdId,
        service: req.service,
        terminalCertificateHash,
        cardCertificate: req.evidence.cardCertificate,
        cardAuth: req.evidence.cardAuth,
        holderVerify: req.evidence.holderVerify,
        supervisor: req.evidence.supervisor,
      },
      lines,
      usage,
      now,
    );
  }

  /**
   * Checks the evidence and writes the authorization row (pending, or committed with
   * `receiptSeq` for appendDispensedNow), the card-auth record, the supervisor exception
   * and the device certificate.
   */
  private recordAuthorization(
    req: NewAuthorization,
    v: CheckedRequest,
    now: number,
    receiptSeq: number | undefined,
  ): { authorization: Authorization; terminalCertificateHash: Uint8Array } {
    const ev = checkEvidence(req.evidence, { service: req.service, shopId: v.shopId, terminalId: v.terminalId }, this.parsers);
    const id = authorizationIdAt(now);
    this.bindCardAuth(ev.card.cardId, ev.cardAuth.counter, cardAuthHash(req.evidence.cardAuth), id, now);
    if (req.evidence.supervisor !== undefined) {
      const day = dayKey(now);
      const used = this.st.exceptionsOn.get(day)?.n ?? 0;
      if (req.supervisorDailyCap !== undefined && used >= req.supervisorDailyCap) {
        throw new LedgerError('SUPERVISOR_CAP_REACHED', `${used} supervisor exceptions today, the cap is ${req.supervisorDailyCap}`, { day, used, cap: req.supervisorDailyCap });
      }
      this.st.insertException.run(id, day, req.evidence.supervisor.supervisorId, now);
    }
    this.recordDevice(ev.terminalCertificateHash, v.terminalId, req.evidence.terminalCertificate, now);
    const supervisor = req.evidence.supervisor === undefined ? 0 : 1;
    const state: AuthorizationState = receiptSeq === undefined ? 'pending' : 'committed';
    this.st.insertAuth.run(
      id,
      v.clientId,
      v.key,
      v.shopId,
      v.terminalId,
      ev.card.cardId,
      ev.card.householdId,
      serviceCode(req.service),
      encodeRequested(v.requested),
      encodeApproved(v.approved),
      state,
      now,
      req.expiresAt,
      receiptSeq === undefined ? null : now,
      receiptSeq ?? null,
      supervisor,
    );
    const authorization: Authorization = {
      id,
      clientId: v.clientId,
      idempotencyKey: v.key,
      shopId: v.shopId,
      terminalId: v.terminalId,
      cardId: ev.card.cardId,
      householdId: ev.card.householdId,
      service: req.service,
      requested: v.requested,
      approved: v.approved,
      state,
      createdAt: now,
      expiresAt: req.expiresAt,
      endedAt: receiptSeq === undefined ? undefined : now,
      receiptSeq,
      supervisorException: supervisor === 1,
    };
    return { authorization, terminalCertificateHash: ev.terminalCertificateHash };
  }

  /**
   * Stores a terminal's certificate the first time it appears (receipts name it by hash). A
   * shop has a handful of terminals, so the hashes already stored are remembered and the
   * statement is skipped for them; the memory is dropped whenever a write or a batch rolls
   * back, since the row it remembers may have gone with it.
   */
  private recordDevice(hash: Uint8Array, terminalId: string, certificate: Uint8Array, now: number): void {
    const key = toHex(hash);
    if (this.storedDevices.has(key)) return;
    this.st.insertDevice.run(hash, terminalId, certificate, now);
    if (this.storedDevices.size >= MAX_REMEMBERED_DEVICES) this.storedDevices.clear();
    this.storedDevices.add(key);
  }

  /** Binds a card-auth to an authorization, checking replay and the counter. */
  private bindCardAuth(cardId: string, counter: number, hash: Uint8Array, authId: string, now: number): void {
    const seen = this.st.cardAuth.get(hash);
    if (seen !== undefined) {
      if (seen.auth_id !== null || seen.card_id !== cardId) {
        throw new LedgerError('CARD_SIGNATURE_REPLAYED', 'this card signature was already used', { cardId, authorizationId: seen.auth_id });
      }
      // Checked (and counted) by checkAndRecordCardCounter during this authorize: bind it.
      this.st.bindCardAuth.run(authId, hash);
      return;
    }
    this.checkCounter(cardId, counter, now);
    this.st.insertCardAuth.run(hash, cardId, authId, now);
  }

  private checkCounter(cardId: string, counter: number, now: number): void {
    const row = this.st.counter.get(cardId);
    if (row !== undefined && counter <= row.counter) {
      throw new LedgerError('CARD_COUNTER_REGRESSION', `card ${cardId} counter ${counter} does not exceed ${row.counter}: a cloned card or a replay`, {
        cardId,
        counter,
        highest: row.counter,
      });
    }
    this.st.setCounter.run(cardId, counter, now);
  }

  /**
   * Checks a card's counter went up since the highest seen, and records it (durably).
   * With the card-auth structure, also refuses one already used (CARD_SIGNATURE_REPLAYED)
   * and remembers it, so the authorization that follows binds it without a second counter step.
   * Without it, the counter is simply used up: meant for card authentications that lead to no
   * authorization (a balance read); an authorization with that same counter is then refused.
   */
  checkAndRecordCardCounter(cardId: string, counter: number, cardAuth?: SignedStructure): Promise<void> {
    return this.write(() => {
      checkId('cardId', cardId);
      if (!Number.isSafeInteger(counter) || counter < 0 || counter > MAX_CARD_COUNTER) invalid(`a card counter is an integer in 0..${MAX_CARD_COUNTER}`);
      const now = this.clock();
      let hash: Uint8Array | undefined;
      if (cardAuth !== undefined) {
        if (!isBytes(cardAuth.body)) invalid('card-auth body is a byte string');
        hash = cardAuthHash(cardAuth);
        if (this.st.cardAuth.get(hash) !== undefined) throw new LedgerError('CARD_SIGNATURE_REPLAYED', 'this card signature was already used', { cardId });
      }
      this.checkCounter(cardId, counter, now);
      if (hash !== undefined) this.st.insertCardAuth.run(hash, cardId, null, now);
    });
  }

  /** The highest counter seen for a card, or undefined. */
  cardCounter(cardId: string): number | undefined {
    return this.read('read card counter', () => this.st.counter.get(cardId)?.counter);
  }

  /** An authorization by id. */
  authorization(id: string): Authorization | undefined {
    return this.read('read authorization', () => {
      const row = this.st.authById.get(id);
      return row === undefined ? undefined : authorizationOf(row);
    });
  }

  /** An authorization by the client's idempotency key (to answer a retried authorize without the card). */
  authorizationByKey(clientId: string, idempotencyKey: string): Authorization | undefined {
    return this.read('read authorization', () => {
      const row = this.st.authByKey.get(clientId, idempotencyKey);
      return row === undefined ? undefined : authorizationOf(row);
    });
  }

  /** Supervisor exceptions of an Egypt day ('YYYY-MM-DD') whose authorization is pending or committed. */
  supervisorExceptionsOn(day: string): number {
    return this.read('count supervisor exceptions', () => this.st.exceptionsOn.get(day)?.n ?? 0);
  }

  // ---------------------------------------------------------------- commit, void, expire

  /**
   * Commits what was dispensed (≤ approved, per item) and returns the signed receipt once it
   * is durable. A retry with the same quantities returns the same receipt (`replayed: true`);
   * other quantities on a committed authorization: COMMIT_CONFLICT. Refused:
   * AUTHORIZATION_NOT_FOUND, AUTHORIZATION_VOIDED, AUTHORIZATION_EXPIRED (marked expired when
   * the commit comes at or after its expiry), COMMIT_EXCEEDS_APPROVED, and
   * LEDGER_INVALID_INPUT for a commit of nothing (void it instead).
   */
  commit(authorizationId: string, dispensed: Dispensed): Promise<CommitResult> {
    return this.write(() => this.commitNow(authorizationId, dispensed));
  }

  /** {@link commit} inside {@link bulk}; `now` (unix ms) defaults to the clock. */
  commitNow(authorizationId: string, dispensed: Dispensed, now: number = this.clock()): CommitResult | KeptRefusal {
    this.requireTransaction();
    const row = this.st.authById.get(authorizationId);
    if (row === undefined) throw new LedgerError('AUTHORIZATION_NOT_FOUND', 'no such authorization', { authorizationId });
    if (row.state === 'voided') throw new LedgerError('AUTHORIZATION_VOIDED', 'the authorization was voided', { authorizationId });
    if (row.state === 'expired') throw new LedgerError('AUTHORIZATION_EXPIRED', 'the authorization expired before the commit', { authorizationId });
    const approved = decodeApproved(row.approved);
    const perItem = dispensedPerItem(approved, dispensed);
    if (row.state === 'committed') {
      const receipt = this.receiptRow(row.receipt_seq ?? corrupt(`committed authorization ${row.id} has no receipt`));
      if (!sameDispensed(receipt, perItem)) {
        throw new LedgerError('COMMIT_CONFLICT', 'this authorization was already committed with other quantities', { receiptId: receipt.idHex, seq: receipt.seq });
      }
      return { receipt, replayed: true };
    }
    if (now >= row.expires) {
      this.st.setState.run('expired', now, row.id);
      return new KeptRefusal(new LedgerError('AUTHORIZATION_EXPIRED', 'the authorization expired before the commit', { authorizationId }));
    }
    if (perItem.size === 0) invalid('nothing was dispensed: void the authorization instead');
    const { lines, usage } = allocate(approved, perItem);
    const ev = this.st.evidence.get(row.id) ?? corrupt(`pending authorization ${row.id} lost its evidence`);
    const holderVerify = ev.holder === null ? undefined : { body: ev.holder, signature: ev.holder_sig ?? corrupt(`authorization ${row.id}: holder-verify without signature`) };
    const receipt = this.appendReceipt(
      row.id,
      {
        shopId: row.shop_id,
        terminalId: row.terminal_id,
        householdId: row.household_id,
        service: serviceName(row.service) ?? corrupt(`authorization ${row.id} has an unknown service`),
        terminalCertificateHash: ev.terminal_cert_hash,
        cardCertificate: ev.card_cert,
        cardAuth: { body: ev.card_auth, signature: ev.card_sig },
        holderVerify,
        supervisor: ev.exception === null ? undefined : decodeSupervisor(ev.exception),
      },
      lines,
      usage,
      now,
    );
    this.st.setCommitted.run(now, receipt.seq, row.id);
    this.st.deleteEvidence.run(row.id);
    return { receipt, replayed: false };
  }

  /**
   * Signs the next receipt of the chain and writes it with its usage rows; advances the
   * head. The caller marks the authorization committed in the same transaction.
   */
  private appendReceipt(
    authorizationId: string,
    t: Pick<ReceiptFields, 'shopId' | 'terminalId' | 'householdId' | 'service' | 'terminalCertificateHash' | 'cardCertificate' | 'cardAuth' | 'holderVerify' | 'supervisor'>,
    lines: DispensedLine[],
    usage: UsageEntry[],
    now: number,
  ): Receipt {
    const seq = this.headSeq + 1;
    const fields: ReceiptFields = { ...t, authorizationId, seq, prev: this.headId, time: now, lines, usage, daemonKeyId: this.daemonKeyId };
    const body = encodeReceiptBody(fields, { validate: false });
    const { signature, id } = this.signer(body);
    const service = serviceCode(t.service);
    this.st.insertReceipt.run(seq, id, this.headId, body, signature, now, t.householdId, service, totalQuantity(lines), authorizationId);
    for (const u of usage) this.st.addUsage.run(t.householdId, u.period, service, u.item, u.quantity, u.piastres);
    this.headSeq = seq;
    this.headId = id;
    return receiptFrom(body, signature, fields, id);
  }

  /**
   * Voids a pending authorization (durably). Idempotent: voiding a voided or expired
   * authorization returns it unchanged. AUTHORIZATION_COMMITTED once committed,
   * AUTHORIZATION_NOT_FOUND for an unknown id.
   */
  void(authorizationId: string): Promise<Authorization> {
    return this.write(() => {
      const row = this.st.authById.get(authorizationId);
      if (row === undefined) throw new LedgerError('AUTHORIZATION_NOT_FOUND', 'no such authorization', { authorizationId });
      if (row.state === 'committed') throw new LedgerError('AUTHORIZATION_COMMITTED', 'the authorization is committed: its receipt stands', { authorizationId, seq: row.receipt_seq });
      if (row.state === 'pending') this.st.setState.run('voided', this.clock(), row.id);
      return authorizationOf(this.st.authById.get(authorizationId) ?? corrupt('an authorization vanished'));
    });
  }

  /**
   * Marks every pending authorization whose expiry is at or before `now` (default: the
   * clock) as expired, durably; returns their ids. The daemon calls this periodically.
   */
  expire(now?: number): Promise<string[]> {
    return this.write(() => {
      const t = now ?? this.clock();
      const ids = this.st.expiredIds.all(t).map((r) => r.id);
      for (const id of ids) this.st.setState.run('expired', t, id);
      return ids;
    });
  }

  // ---------------------------------------------------------------- reads

  /**
   * A household's usage from the first day of the previous month (Egypt time) on — the
   * index rows the policy evaluator needs: bread days (including days collected in advance),
   * ration months, and last month's bread for bread points. Reads the usage index only.
   */
  usageFor(householdId: string, now?: number): LedgerUsage {
    return this.read('read usage', () => {
      const t = now ?? this.clock();
      const month = monthKey(t);
      const fromPeriod = previousMonthKey(month);
      const rows: UsageRow[] = this.st.usageFrom.all(householdId, fromPeriod).map((r) => ({
        service: serviceName(r.service) ?? corrupt('usage row with an unknown service'),
        period: r.period,
        item: r.item,
        quantity: r.quantity,
        piastres: r.piastres,
      }));
      return { householdId, month, day: dayKey(t), fromPeriod, rows };
    });
  }

  /** Usage rows of a household with period ≥ `fromPeriod` (any period key). */
  usageSince(householdId: string, fromPeriod: string): UsageRow[] {
    return this.read('read usage', () =>
      this.st.usageFrom.all(householdId, fromPeriod).map((r) => ({
        service: serviceName(r.service) ?? corrupt('usage row with an unknown service'),
        period: r.period,
        item: r.item,
        quantity: r.quantity,
        piastres: r.piastres,
      })),
    );
  }

  private receiptRow(seq: number): Receipt {
    const row = this.st.receiptBySeq.get(seq) ?? corrupt(`receipt ${seq} is missing`);
    return toReceipt(row);
  }

  /** The receipt with this seq. */
  receipt(seq: number): Receipt | undefined {
    return this.read('read receipt', () => {
      const row = this.st.receiptBySeq.get(seq);
      return row === undefined ? undefined : toReceipt(row);
    });
  }

  /** The receipt of a committed authorization. */
  receiptForAuthorization(authorizationId: string): Receipt | undefined {
    return this.read('read receipt', () => {
      const seq = this.st.authById.get(authorizationId)?.receipt_seq;
      return seq === undefined || seq === null ? undefined : this.receiptRow(seq);
    });
  }

  /** Receipts in seq order after `sinceSeq`, or created at/after `sinceTime` (default: from the first). */
  receipts(q: ReceiptQuery = {}): Receipt[] {
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? 1000)), 100_000);
    return this.read('read receipts', () => {
      const rows = q.sinceTime !== undefined ? this.st.receiptsSinceTime.all(q.sinceTime, limit) : this.st.receiptsSinceSeq.all(q.sinceSeq ?? 0, limit);
      return rows.map(toReceipt);
    });
  }

  /** A stored terminal device certificate by its SHA-512. */
  deviceCertificate(hash: Uint8Array): Uint8Array | undefined {
    return this.read('read device certificate', () => {
      const c = this.st.device.get(hash)?.certificate;
      return c === undefined ? undefined : new Uint8Array(c);
    });
  }

  /** Receipt count and file size (pages in use × page size, WAL excluded). */
  stats(): { receipts: number; bytes: number; batches: number; writes: number } {
    return this.read('read statistics', () => {
      const pages = this.db.pragma('page_count', { simple: true }) as number;
      const free = this.db.pragma('freelist_count', { simple: true }) as number;
      const size = this.db.pragma('page_size', { simple: true }) as number;
      return { receipts: this.st.count.get()?.n ?? 0, bytes: (pages - free) * size, ...this.queue.counts };
    });
  }

  /**
   * Runs `fn` in one transaction, synchronously (for bulk loads such as populateLedger and
   * for tests): the `...Now` writes may be called inside it. All or nothing; durable on return.
   * Not for the daemon's request path, which uses the queued writes.
   */
  bulk<T>(fn: () => T): T {
    this.check();
    this.queue.flushNow();
    const head = { seq: this.headSeq, id: this.headId };
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      this.headSeq = head.seq;
      this.headId = head.id;
      this.storedDevices.clear();
      throw toLedgerError(e, 'ledger bulk write');
    }
  }

  /** Waits for every queued write to settle. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Writes what is queued, checkpoints the WAL and closes the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.queue.flushNow();
    this.closed = true;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // a reader holds the WAL open: SQLite checkpoints later
    }
    this.db.close();
  }
}

/** A receipt object from its stored row (structure parsed; signatures not verified). */
export function toReceipt(row: ReceiptRow): Receipt {
  const body = new Uint8Array(row.body);
  return receiptFrom(body, new Uint8Array(row.signature), parseReceiptBody(body), new Uint8Array(row.id));
}

