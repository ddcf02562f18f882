/**
 * Receipt bodies: a signed structure under Domain.receipt ('unicard/v1/receipt'). The body
 * is a canonical CBOR map with integer keys (key 0 = the domain); the daemon signs
 * UTF-8(domain) ‖ 0x00 ‖ body, and the receipt's id is SHA-512 of exactly those signed
 * bytes (never of the signature). Each body names the previous receipt's id: the chain.
 * The layout is documented in LEDGER.md; the key numbers below are frozen.
 */
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../protocol/cbor-codec.js';
import { isBytes, sha512, toHex } from '../../protocol/crypto/bytes.js';
import { Domain } from '../../protocol/crypto/domains.js';
import { ED25519_SIGNATURE_LENGTH, type Ed25519 } from '../../protocol/crypto/ed25519.js';
import { KEY_ID_LENGTH, signedBytes, type SignedStructure } from '../../protocol/crypto/signed-structure.js';
import { UnicardError } from '../../protocol/errors.js';
import { CborWriter } from './cbor-writer.js';
import { LedgerError } from './ledger-error.js';
import { isPeriodKey } from './periods.js';
import {
  serviceCode,
  serviceName,
  type DispensedLine,
  type Receipt,
  type ReceiptFields,
  type SupervisorEvidence,
  type UsageEntry,
} from './ledger-types.js';

/** Integer keys of the receipt body. */
export const ReceiptKey = {
  domain: 0,
  authorizationId: 1,
  seq: 2,
  prev: 3,
  time: 4,
  shopId: 5,
  terminalId: 6,
  terminalCertificateHash: 7,
  householdId: 8,
  cardCertificate: 9,
  cardAuth: 10,
  holderVerify: 11,
  supervisor: 12,
  service: 13,
  lines: 14,
  usage: 15,
  daemonKeyId: 16,
} as const;

/** Integer keys of the supervisor map (receipt key 12). */
export const SupervisorKey = { supervisorId: 1, reason: 2, certificate: 3, cardAuth: 4 } as const;

/** Length of a receipt id (SHA-512). */
export const RECEIPT_ID_LENGTH = 64;
/** `prev` of the first receipt. */
export const GENESIS_PREV: Uint8Array = new Uint8Array(RECEIPT_ID_LENGTH);

/** Longest id text (authorization, shop, terminal, household, supervisor). */
export const MAX_ID_TEXT = 64;
/** Longest item name. */
export const MAX_ITEM_TEXT = 32;
/** Longest supervisor reason. */
export const MAX_REASON_TEXT = 128;
/** Most dispensed lines on one receipt. */
export const MAX_LINES = 64;
/** Most usage entries on one receipt (e.g. 3 bread days, or one entry per ration item). */
export const MAX_USAGE_ENTRIES = 256;
/** Largest embedded certificate or signed structure body. */
export const MAX_EMBEDDED_BYTES = 4096;
/** Largest receipt body: decoding refuses anything bigger before allocating. */
export const MAX_RECEIPT_BODY_BYTES = 65_536;
/** Largest quantity or piastre amount on one line (2^48: exact in a double and in SQLite). */
export const MAX_AMOUNT = 2 ** 48;

const RECEIPT_LIMITS = { maxBytes: MAX_RECEIPT_BODY_BYTES, maxDepth: 4, maxItems: 4096, maxStringBytes: MAX_EMBEDDED_BYTES } as const;

function signedPair(s: SignedStructure): CborValue[] {
  return [s.body, s.signature];
}

/**
 * Canonical CBOR body of a receipt. Throws LedgerError RECEIPT_MALFORMED when a field is out
 * of range (the same checks {@link parseReceiptBody} applies: one rule set for both ends).
 * `validate: false` skips that re-parse for callers whose fields are valid by construction
 * (the ledger's commit, whose inputs were checked and whose lines come from its own allocation;
 * tests assert that every receipt it writes parses).
 */
export function encodeReceiptBody(f: ReceiptFields, options: { validate?: boolean } = {}): Uint8Array {
  let body: Uint8Array;
  try {
    body = writeReceiptBody(f);
  } catch (e) {
    throw new LedgerError('RECEIPT_MALFORMED', 'receipt fields cannot be encoded', { cause: e instanceof Error ? e.message : 'unknown' });
  }
  if (options.validate !== false) parseReceiptBody(body);
  return body;
}

function writeSigned(w: CborWriter, s: SignedStructure): void {
  w.array(2).bytes(s.body).bytes(s.signature);
}

/** The body, keys in ascending order (canonical for small unsigned keys). */
function writeReceiptBody(f: ReceiptFields): Uint8Array {
  const K = ReceiptKey;
  const w = new CborWriter(2048);
  w.map(15 + (f.holderVerify !== undefined ? 1 : 0) + (f.supervisor !== undefined ? 1 : 0));
  w.uint(K.domain).text(Domain.receipt);
  w.uint(K.authorizationId).text(f.authorizationId);
  w.uint(K.seq).uint(f.seq);
  w.uint(K.prev).bytes(f.prev);
  w.uint(K.time).uint(f.time);
  w.uint(K.shopId).text(f.shopId);
  w.uint(K.terminalId).text(f.terminalId);
  w.uint(K.terminalCertificateHash).bytes(f.terminalCertificateHash);
  w.uint(K.householdId).text(f.householdId);
  w.uint(K.cardCertificate).bytes(f.cardCertificate);
  w.uint(K.cardAuth);
  writeSigned(w, f.cardAuth);
  if (f.holderVerify !== undefined) {
    w.uint(K.holderVerify);
    writeSigned(w, f.holderVerify);
  }
  if (f.supervisor !== undefined) {
    const card = f.supervisor.card;
    w.uint(K.supervisor).map(card === undefined ? 2 : 4);
    w.uint(SupervisorKey.supervisorId).text(f.supervisor.supervisorId);
    w.uint(SupervisorKey.reason).text(f.supervisor.reason);
    if (card !== undefined) {
      w.uint(SupervisorKey.certificate).bytes(card.certificate);
      w.uint(SupervisorKey.cardAuth);
      writeSigned(w, card.cardAuth);
    }
  }
  w.uint(K.service).uint(serviceCode(f.service));
  w.uint(K.lines).array(f.lines.length);
  for (const l of f.lines) w.array(3).text(l.item).uint(l.quantity).uint(l.piastres);
  w.uint(K.usage).array(f.usage.length);
  for (const u of f.usage) w.array(4).text(u.period).text(u.item).uint(u.quantity).uint(u.piastres);
  w.uint(K.daemonKeyId).bytes(f.daemonKeyId);
  return w.finish();
}

/**
 * The same body through the generic canonical encoder (protocol/cbor-codec): the reference
 * the fast writer is tested against.
 */
export function encodeReceiptBodyReference(f: ReceiptFields): Uint8Array {
  const map = new Map<number, CborValue>([
    [ReceiptKey.domain, Domain.receipt],
    [ReceiptKey.authorizationId, f.authorizationId],
    [ReceiptKey.seq, f.seq],
    [ReceiptKey.prev, f.prev],
    [ReceiptKey.time, f.time],
    [ReceiptKey.shopId, f.shopId],
    [ReceiptKey.terminalId, f.terminalId],
    [ReceiptKey.terminalCertificateHash, f.terminalCertificateHash],
    [ReceiptKey.householdId, f.householdId],
    [ReceiptKey.cardCertificate, f.cardCertificate],
    [ReceiptKey.cardAuth, signedPair(f.cardAuth)],
    [ReceiptKey.service, serviceCode(f.service)],
    [ReceiptKey.lines, f.lines.map((l) => [l.item, l.quantity, l.piastres])],
    [ReceiptKey.usage, f.usage.map((u) => [u.period, u.item, u.quantity, u.piastres])],
    [ReceiptKey.daemonKeyId, f.daemonKeyId],
  ]);
  if (f.holderVerify !== undefined) map.set(ReceiptKey.holderVerify, signedPair(f.holderVerify));
  if (f.supervisor !== undefined) {
    const s = new Map<number, CborValue>([
      [SupervisorKey.supervisorId, f.supervisor.supervisorId],
      [SupervisorKey.reason, f.supervisor.reason],
    ]);
    if (f.supervisor.card !== undefined) {
      s.set(SupervisorKey.certificate, f.supervisor.card.certificate);
      s.set(SupervisorKey.cardAuth, signedPair(f.supervisor.card.cardAuth));
    }
    map.set(ReceiptKey.supervisor, s);
  }
  return encodeCanonical(map);
}

/** Strict reader over a decoded map: every failure is RECEIPT_MALFORMED naming the key. */
class Reader {
  private readonly seen = new Set<number>();
  constructor(private readonly map: Map<number | string, CborValue>) {}

  fail(key: number, what: string): never {
    throw new LedgerError('RECEIPT_MALFORMED', `receipt body key ${key}: ${what}`, { key });
  }

  has(key: number): boolean {
    this.seen.add(key);
    return this.map.has(key);
  }

  get(key: number): CborValue {
    this.seen.add(key);
    const v = this.map.get(key);
    if (v === undefined) this.fail(key, 'missing');
    return v;
  }

  text(key: number, v: CborValue, max: number): string {
    if (typeof v !== 'string' || v.length === 0 || v.length > max) this.fail(key, `expected text of 1..${max} characters`);
    return v;
  }

  uint(key: number, v: CborValue, max = Number.MAX_SAFE_INTEGER, min = 0): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.fail(key, `expected integer in ${min}..${max}`);
    return v;
  }

  bytes(key: number, v: CborValue, length?: number, max = MAX_EMBEDDED_BYTES): Uint8Array {
    if (!isBytes(v) || (length !== undefined ? v.length !== length : v.length === 0 || v.length > max)) {
      this.fail(key, length !== undefined ? `expected ${length}-byte string` : `expected byte string of 1..${max} bytes`);
    }
    return v;
  }

  array(key: number, v: CborValue, min: number, max: number): CborValue[] {
    if (!Array.isArray(v) || v.length < min || v.length > max) this.fail(key, `expected array of ${min}..${max} items`);
    return v;
  }

  signed(key: number, v: CborValue): SignedStructure {
    const [body, signature] = this.array(key, v, 2, 2);
    return { body: this.bytes(key, body as CborValue), signature: this.bytes(key, signature as CborValue, ED25519_SIGNATURE_LENGTH) };
  }

  finish(): void {
    for (const k of this.map.keys()) if (typeof k !== 'number' || !this.seen.has(k)) this.fail(typeof k === 'number' ? k : -1, 'unknown field');
  }
}

/**
 * Decodes and checks a receipt body (structure only, no signatures). RECEIPT_MALFORMED for
 * anything that is not a well-formed receipt of this version.
 */
export function parseReceiptBody(body: Uint8Array): ReceiptFields {
  let value: CborValue;
  try {
    value = decodeCanonical(body, RECEIPT_LIMITS);
  } catch (e) {
    throw new LedgerError('RECEIPT_MALFORMED', 'receipt body is not canonical CBOR', { cause: e instanceof UnicardError ? e.code : 'unknown' });
  }
  if (!(value instanceof Map)) throw new LedgerError('RECEIPT_MALFORMED', 'receipt body is not a CBOR map');
  const r = new Reader(value);
  if (r.get(ReceiptKey.domain) !== Domain.receipt) r.fail(ReceiptKey.domain, `domain is not ${Domain.receipt}`);
  const K = ReceiptKey;
  const authorizationId = r.text(K.authorizationId, r.get(K.authorizationId), MAX_ID_TEXT);
  const seq = r.uint(K.seq, r.get(K.seq), Number.MAX_SAFE_INTEGER, 1);
  const prev = r.bytes(K.prev, r.get(K.prev), RECEIPT_ID_LENGTH);
  const time = r.uint(K.time, r.get(K.time));
  const shopId = r.text(K.shopId, r.get(K.shopId), MAX_ID_TEXT);
  const terminalId = r.text(K.terminalId, r.get(K.terminalId), MAX_ID_TEXT);
  const terminalCertificateHash = r.bytes(K.terminalCertificateHash, r.get(K.terminalCertificateHash), 64);
  const householdId = r.text(K.householdId, r.get(K.householdId), MAX_ID_TEXT);
  const cardCertificate = r.bytes(K.cardCertificate, r.get(K.cardCertificate));
  const cardAuth = r.signed(K.cardAuth, r.get(K.cardAuth));
  const holderVerify = r.has(K.holderVerify) ? r.signed(K.holderVerify, r.get(K.holderVerify)) : undefined;
  let supervisor: SupervisorEvidence | undefined;
  if (r.has(K.supervisor)) {
    const sv = r.get(K.supervisor);
    const sr = new Reader(sv instanceof Map ? sv : r.fail(K.supervisor, 'expected a map'));
    const supervisorId = sr.text(K.supervisor, sr.get(SupervisorKey.supervisorId), MAX_ID_TEXT);
    const reason = sr.text(K.supervisor, sr.get(SupervisorKey.reason), MAX_REASON_TEXT);
    const hasCert = sr.has(SupervisorKey.certificate);
    if (hasCert !== sr.has(SupervisorKey.cardAuth)) r.fail(K.supervisor, 'supervisor certificate and card-auth come together');
    supervisor = hasCert
      ? {
          supervisorId,
          reason,
          card: {
            certificate: sr.bytes(K.supervisor, sr.get(SupervisorKey.certificate)),
            cardAuth: sr.signed(K.supervisor, sr.get(SupervisorKey.cardAuth)),
          },
        }
      : { supervisorId, reason };
    sr.finish();
  }
  if (holderVerify === undefined && supervisor === undefined) r.fail(K.holderVerify, 'a receipt carries a holder verification or a supervisor exception');
  const code = r.uint(K.service, r.get(K.service), 0xffff);
  const service = serviceName(code) ?? r.fail(K.service, `unknown service code ${code}`);
  const lines: DispensedLine[] = r.array(K.lines, r.get(K.lines), 1, MAX_LINES).map((l) => {
    const [item, quantity, piastres] = r.array(K.lines, l, 3, 3) as [CborValue, CborValue, CborValue];
    return { item: r.text(K.lines, item, MAX_ITEM_TEXT), quantity: r.uint(K.lines, quantity, MAX_AMOUNT, 1), piastres: r.uint(K.lines, piastres, MAX_AMOUNT) };
  });
  const usage: UsageEntry[] = r.array(K.usage, r.get(K.usage), 1, MAX_USAGE_ENTRIES).map((u) => {
    const [period, item, quantity, piastres] = r.array(K.usage, u, 4, 4) as [CborValue, CborValue, CborValue, CborValue];
    const p = r.text(K.usage, period, 10);
    if (!isPeriodKey(p)) r.fail(K.usage, `not a period key: ${p}`);
    return { period: p, item: r.text(K.usage, item, MAX_ITEM_TEXT), quantity: r.uint(K.usage, quantity, MAX_AMOUNT, 1), piastres: r.uint(K.usage, piastres, MAX_AMOUNT) };
  });
  checkLinesMatchUsage(r, lines, usage);
  const daemonKeyId = r.bytes(K.daemonKeyId, r.get(K.daemonKeyId), KEY_ID_LENGTH);
  r.finish();
  return {
    authorizationId,
    seq,
    prev,
    time,
    shopId,
    terminalId,
    terminalCertificateHash,
    householdId,
    cardCertificate,
    cardAuth,
    holderVerify,
    supervisor,
    service,
    lines,
    usage,
    daemonKeyId,
  };
}

/** Lines name each item once, and each line equals the sum of that item's usage entries. */
function checkLinesMatchUsage(r: Reader, lines: readonly DispensedLine[], usage: readonly UsageEntry[]): void {
  const sums = new Map<string, { q: number; p: number }>();
  const periods = new Set<string>();
  for (const u of usage) {
    const key = `${u.period}\u0000${u.item}`;
    if (periods.has(key)) r.fail(ReceiptKey.usage, `period ${u.period} and item ${u.item} appear twice`);
    periods.add(key);
    const s = sums.get(u.item) ?? { q: 0, p: 0 };
    s.q += u.quantity;
    s.p += u.piastres;
    sums.set(u.item, s);
  }
  const items = new Set<string>();
  for (const l of lines) {
    if (items.has(l.item)) r.fail(ReceiptKey.lines, `item ${l.item} appears twice`);
    items.add(l.item);
    const s = sums.get(l.item);
    if (s === undefined || s.q !== l.quantity || s.p !== l.piastres) r.fail(ReceiptKey.lines, `line ${l.item} does not equal the sum of its usage entries`);
  }
  if (items.size !== sums.size) r.fail(ReceiptKey.usage, 'usage names an item that has no line');
}

/** The bytes the daemon signs: UTF-8('unicard/v1/receipt') ‖ 0x00 ‖ body. */
export function receiptSignedBytes(body: Uint8Array): Uint8Array {
  return signedBytes(Domain.receipt, body);
}

/** A receipt's id: SHA-512 of its signed bytes. */
export function receiptId(body: Uint8Array): Uint8Array {
  return sha512(receiptSignedBytes(body));
}

/** Signs a receipt body with the daemon seed; returns the signature and the id. */
export function signReceiptBody(ed: Ed25519, daemonSeed: Uint8Array, body: Uint8Array): { signature: Uint8Array; id: Uint8Array } {
  const bytes = receiptSignedBytes(body);
  return { signature: ed.sign(daemonSeed, bytes), id: sha512(bytes) };
}

// RFC 8410 PKCS#8 wrapper of a raw Ed25519 seed.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A signer of receipt bodies for one daemon key. With node:crypto it holds the parsed key
 * object, so a commit pays for the signature only (Ed25519 is deterministic: the signature is
 * the one `ed.sign` would give); any other implementation is called as it is.
 */
export function receiptSigner(ed: Ed25519, daemonSeed: Uint8Array): (body: Uint8Array) => { signature: Uint8Array; id: Uint8Array } {
  if (ed.name !== 'node:crypto') return (body) => signReceiptBody(ed, daemonSeed, body);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, daemonSeed]), format: 'der', type: 'pkcs8' });
  return (body) => {
    const bytes = receiptSignedBytes(body);
    return { signature: new Uint8Array(nodeSign(null, bytes, key)), id: sha512(bytes) };
  };
}

/** Sum of the line quantities. */
export function totalQuantity(lines: readonly DispensedLine[]): number {
  let q = 0;
  for (const l of lines) q += l.quantity;
  return q;
}

/** A full receipt object from a body, its signature and (optionally known) id. */
export function receiptFrom(body: Uint8Array, signature: Uint8Array, fields: ReceiptFields = parseReceiptBody(body), id: Uint8Array = receiptId(body)): Receipt {
  return {
    ...fields,
    id,
    idHex: toHex(id),
    body,
    signature,
    quantity: totalQuantity(fields.lines),
    supervisorException: fields.supervisor !== undefined,
  };
}
