/**
 * Export of receipts for the central clearing system: JSON Lines (one JSON object per line,
 * UTF-8, '\n'), a header, one line per receipt in seq order, and an end line with the count.
 * Each receipt line carries the signed body (base64 canonical CBOR) and the daemon
 * signature, which are authoritative, plus the decoded fields for loading into tables.
 * The centre re-verifies each line with the public keys (see LEDGER.md); `verifyExport` is
 * the reference implementation of that check.
 */
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import Database from 'better-sqlite3';
import { fromHex, isBytes, toHex } from '../../protocol/crypto/bytes.js';
import { parseCardAuth, parseHolderVerify } from '../../protocol/crypto/card-structures.js';
import { parseCardCertificate } from '../../protocol/crypto/certificates.js';
import { UnicardError } from '../../protocol/errors.js';
import { LedgerError, toLedgerError } from './ledger-error.js';
import { Ledger, toReceipt } from './ledger.js';
import type { Receipt } from './ledger-types.js';
import { GENESIS_PREV, RECEIPT_ID_LENGTH } from './receipt.js';
import { APPLICATION_ID } from './schema.js';
import { ReceiptChainVerifier, type LedgerProblem, type LedgerRoots, type VerifyOptions } from './verify-ledger.js';

/** Format tag of the header line. */
export const EXPORT_FORMAT = 'unicard-receipts/1';

/** Where an export starts: after a seq, or at the first receipt created at/after a time. */
export interface ExportRange {
  /** Export receipts with seq > sinceSeq. */
  readonly sinceSeq?: number;
  /** Export from the first receipt created at or after this unix ms, and every receipt after it. */
  readonly sinceTime?: number;
}

/** Header line. */
export interface ExportHeader {
  readonly type: 'header';
  readonly format: typeof EXPORT_FORMAT;
  /** ISO 8601 time of the export. */
  readonly exportedAt: string;
  /** The exporting daemon's key (hex), when known. */
  readonly daemonPublicKey?: string;
  readonly daemonKeyId?: string;
  /** The receipt just before the first one exported (seq 0 and 128 zeros at the start of the chain). */
  readonly chainFrom: { readonly seq: number; readonly id: string };
  readonly range: ExportRange;
}

/** The decoded fields of a receipt line (convenience copy of the signed body). */
export interface ExportedFields {
  readonly authorizationId: string;
  readonly time: number;
  readonly timeIso: string;
  readonly shopId: string;
  readonly terminalId: string;
  readonly terminalCertificateHash: string;
  readonly householdId: string;
  readonly service: string;
  readonly quantity: number;
  readonly lines: readonly { item: string; quantity: number; piastres: number }[];
  readonly usage: readonly { period: string; item: string; quantity: number; piastres: number }[];
  readonly card: {
    readonly cardId: string;
    readonly householdId: string;
    readonly governorate: number;
    readonly cardSerial: number;
    readonly issuerKeyId: string;
    readonly validFrom: number;
    readonly validUntil: number;
  };
  readonly cardAuth: {
    readonly nonce: string;
    readonly cardId: string;
    readonly service: number;
    readonly quantity: number;
    readonly shopId: string;
    readonly terminalId: string;
    readonly time: number;
    readonly counter: number;
    readonly signature: string;
  };
  readonly holderVerify: { readonly memberIndex: number; readonly result: string; readonly attempts: number; readonly signature: string } | null;
  readonly supervisorException: boolean;
  readonly supervisor: { readonly supervisorId: string; readonly reason: string; readonly cardId: string | null } | null;
  readonly daemonKeyId: string;
}

/** Receipt line. */
export interface ExportReceiptLine {
  readonly type: 'receipt';
  readonly seq: number;
  /** SHA-512 of 'unicard/v1/receipt' ‖ 0x00 ‖ body, hex. */
  readonly id: string;
  readonly prev: string;
  readonly time: number;
  /** Canonical CBOR body, base64 (authoritative). */
  readonly body: string;
  /** Daemon Ed25519 signature, hex. */
  readonly signature: string;
  /** The terminal's device certificate, base64 (its SHA-512 is in the body), or null when the ledger lacks it. */
  readonly terminalCertificate: string | null;
  readonly fields: ExportedFields;
}

/** End line: how many receipts the export holds and the last one. */
export interface ExportEnd {
  readonly type: 'end';
  readonly count: number;
  readonly lastSeq: number;
  readonly lastId: string;
}

/** Any export line. */
export type ExportLine = ExportHeader | ExportReceiptLine | ExportEnd;

function b64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** The decoded fields of a receipt as written on its export line. */
export function exportedFields(r: Receipt): ExportedFields {
  const card = parseCardCertificate(r.cardCertificate);
  const auth = parseCardAuth(r.cardAuth.body);
  const hv = r.holderVerify === undefined ? undefined : parseHolderVerify(r.holderVerify.body);
  const supervisorCard = r.supervisor?.card === undefined ? null : parseCardCertificate(r.supervisor.card.certificate).cardId;
  return {
    authorizationId: r.authorizationId,
    time: r.time,
    timeIso: new Date(r.time).toISOString(),
    shopId: r.shopId,
    terminalId: r.terminalId,
    terminalCertificateHash: toHex(r.terminalCertificateHash),
    householdId: r.householdId,
    service: r.service,
    quantity: r.quantity,
    lines: r.lines.map((l) => ({ item: l.item, quantity: l.quantity, piastres: l.piastres })),
    usage: r.usage.map((u) => ({ period: u.period, item: u.item, quantity: u.quantity, piastres: u.piastres })),
    card: {
      cardId: card.cardId,
      householdId: card.householdId,
      governorate: card.governorate,
      cardSerial: card.cardSerial,
      issuerKeyId: toHex(card.issuerKeyId),
      validFrom: card.validFrom,
      validUntil: card.validUntil,
    },
    cardAuth: {
      nonce: toHex(auth.nonce),
      cardId: auth.cardId,
      service: auth.service,
      quantity: auth.quantity,
      shopId: auth.shopId,
      terminalId: auth.terminalId,
      time: auth.time,
      counter: auth.counter,
      signature: toHex(r.cardAuth.signature),
    },
    holderVerify: hv === undefined ? null : { memberIndex: hv.memberIndex, result: hv.result, attempts: hv.attempts, signature: toHex((r.holderVerify as { signature: Uint8Array }).signature) },
    supervisorException: r.supervisor !== undefined,
    supervisor: r.supervisor === undefined ? null : { supervisorId: r.supervisor.supervisorId, reason: r.supervisor.reason, cardId: supervisorCard },
    daemonKeyId: toHex(r.daemonKeyId),
  };
}

/** The export line of a receipt. */
export function receiptLine(r: Receipt, terminalCertificate: Uint8Array | undefined): ExportReceiptLine {
  return {
    type: 'receipt',
    seq: r.seq,
    id: r.idHex,
    prev: toHex(r.prev),
    time: r.time,
    body: b64(r.body),
    signature: toHex(r.signature),
    terminalCertificate: terminalCertificate === undefined ? null : b64(terminalCertificate),
    fields: exportedFields(r),
  };
}

type Source = string | Ledger | Database.Database;

interface Row {
  seq: number;
  id: Uint8Array;
  prev: Uint8Array;
  body: Uint8Array;
  signature: Uint8Array;
  created: number;
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/**
 * Writes the receipts of `range` to `out` as JSON Lines (header, receipts, end) and
 * resolves with what was written. Reads in pages, so a large ledger streams in bounded
 * memory; respects the stream's backpressure. Does not end `out`.
 */
export async function exportReceipts(source: Source, range: ExportRange, out: Writable): Promise<{ count: number; firstSeq: number | undefined; lastSeq: number }> {
  let db: Database.Database;
  let close = false;
  if (source instanceof Ledger) db = source.db;
  else if (typeof source === 'string') {
    try {
      db = new Database(source, { readonly: true, fileMustExist: true });
    } catch (e) {
      throw toLedgerError(e, `open ledger ${source}`);
    }
    close = true;
  } else db = source;
  try {
    if ((db.pragma('application_id', { simple: true }) as number) !== APPLICATION_ID) throw new LedgerError('LEDGER_CORRUPT', 'not a unicard ledger');
    let after: number;
    if (range.sinceTime !== undefined) {
      const first = db.prepare<[number], { seq: number }>('SELECT min(seq) AS seq FROM receipts WHERE created >= ?').get(range.sinceTime)?.seq;
      after = first === null || first === undefined ? Number.MAX_SAFE_INTEGER : first - 1;
    } else {
      after = Math.max(0, Math.floor(range.sinceSeq ?? 0));
    }
    const before = after === 0 ? undefined : db.prepare<[number], { seq: number; id: Uint8Array }>('SELECT seq, id FROM receipts WHERE seq = ?').get(after);
    const key = source instanceof Ledger ? { daemonPublicKey: toHex(source.daemonPublicKey), daemonKeyId: toHex(source.daemonKeyId) } : {};
    const header: ExportHeader = {
      type: 'header',
      format: EXPORT_FORMAT,
      exportedAt: new Date().toISOString(),
      ...key,
      chainFrom: before === undefined ? { seq: 0, id: toHex(GENESIS_PREV) } : { seq: before.seq, id: toHex(before.id) },
      range: { ...(range.sinceSeq !== undefined ? { sinceSeq: range.sinceSeq } : {}), ...(range.sinceTime !== undefined ? { sinceTime: range.sinceTime } : {}) },
    };
    await write(out, JSON.stringify(header) + '\n');
    const page = db.prepare<[number, number], Row>('SELECT seq, id, prev, body, signature, created FROM receipts WHERE seq > ? ORDER BY seq LIMIT ?');
    const device = db.prepare<[Uint8Array], { certificate: Uint8Array }>('SELECT certificate FROM device_certificates WHERE hash = ?');
    const devices = new Map<string, Uint8Array | undefined>();
    let count = 0;
    let firstSeq: number | undefined;
    let last = header.chainFrom;
    for (;;) {
      const rows = page.all(after, 500);
      if (rows.length === 0) break;
      let chunk = '';
      for (const row of rows) {
        after = row.seq;
        const r = toReceipt(row);
        const k = toHex(r.terminalCertificateHash);
        if (!devices.has(k)) devices.set(k, device.get(r.terminalCertificateHash)?.certificate);
        chunk += JSON.stringify(receiptLine(r, devices.get(k))) + '\n';
        count++;
        firstSeq ??= r.seq;
        last = { seq: r.seq, id: r.idHex };
      }
      await write(out, chunk);
    }
    const end: ExportEnd = { type: 'end', count, lastSeq: last.seq, lastId: last.id };
    await write(out, JSON.stringify(end) + '\n');
    return { count, firstSeq, lastSeq: last.seq };
  } catch (e) {
    throw e instanceof UnicardError ? e : toLedgerError(e, 'export receipts');
  } finally {
    if (close) db.close();
  }
}

function bad(message: string): never {
  throw new LedgerError('RECEIPT_MALFORMED', message);
}

function hexOf(v: unknown, length: number, what: string): Uint8Array {
  if (typeof v !== 'string' || v.length !== length * 2 || !/^[0-9a-f]*$/.test(v)) bad(`${what} is not ${length} bytes of lower-case hex`);
  return fromHex(v);
}

function base64Of(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) bad(`${what} is not base64`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

/** A receipt line with its binary parts decoded. */
export interface ParsedReceiptLine {
  readonly line: ExportReceiptLine;
  readonly seq: number;
  readonly id: Uint8Array;
  readonly prev: Uint8Array;
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
  readonly terminalCertificate: Uint8Array | undefined;
}

/** Parses one export line (no signature checks). RECEIPT_MALFORMED for anything else. */
export function parseExportLine(text: string): ExportHeader | ExportEnd | ParsedReceiptLine {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad('export line is not JSON');
  }
  if (typeof v !== 'object' || v === null) return bad('export line is not a JSON object');
  const o = v as Record<string, unknown>;
  if (o.type === 'header') {
    if (o.format !== EXPORT_FORMAT) bad(`unknown export format ${String(o.format)}`);
    const cf = o.chainFrom as Record<string, unknown> | undefined;
    if (typeof cf?.seq !== 'number' || !Number.isSafeInteger(cf.seq) || cf.seq < 0) bad('header chainFrom.seq is not a seq');
    hexOf(cf.id, RECEIPT_ID_LENGTH, 'header chainFrom.id');
    return o as unknown as ExportHeader;
  }
  if (o.type === 'end') {
    if (typeof o.count !== 'number' || typeof o.lastSeq !== 'number') bad('end line lacks count or lastSeq');
    return o as unknown as ExportEnd;
  }
  if (o.type !== 'receipt') return bad(`unknown export line type ${String(o.type)}`);
  if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 1) bad('receipt line seq is not a positive integer');
  const terminalCertificate = o.terminalCertificate === null ? undefined : base64Of(o.terminalCertificate, 'terminalCertificate');
  const body = base64Of(o.body, 'body');
  if (!isBytes(body) || body.length === 0) bad('receipt body is empty');
  return {
    line: o as unknown as ExportReceiptLine,
    seq: o.seq,
    id: hexOf(o.id, RECEIPT_ID_LENGTH, 'id'),
    prev: hexOf(o.prev, RECEIPT_ID_LENGTH, 'prev'),
    body,
    signature: hexOf(o.signature, 64, 'signature'),
    terminalCertificate,
  };
}

/** Report of {@link verifyExport}. */
export interface ExportReport {
  readonly receipts: number;
  readonly ok: boolean;
  readonly problems: LedgerProblem[];
  readonly warnings: LedgerProblem[];
  readonly head: { readonly seq: number; readonly idHex: string };
}

/**
 * Verifies an export as the centre would: the header, every receipt (daemon signature,
 * chain continuing from the header's chainFrom, card certificate, card and holder
 * signatures, device certificate), that each line's decoded fields equal its signed body,
 * and the end line's count. Reads lines from any (async) iterable of strings.
 */
export async function verifyExport(lines: AsyncIterable<string> | Iterable<string>, roots: LedgerRoots, options: VerifyOptions = {}): Promise<ExportReport> {
  let verifier: ReceiptChainVerifier | undefined;
  let ended: ExportEnd | undefined;
  let lineNo = 0;
  const pre: LedgerProblem[] = [];
  const note = (seq: number | null, message: string) => (verifier ? verifier.problem(seq, 'RECEIPT_MALFORMED', message) : pre.push({ seq, code: 'RECEIPT_MALFORMED', message }));
  for await (const text of lines) {
    lineNo++;
    if (text.trim() === '') continue;
    let parsed: ReturnType<typeof parseExportLine>;
    try {
      parsed = parseExportLine(text);
    } catch (e) {
      note(null, `line ${lineNo}: ${e instanceof Error ? e.message : String(e)}`);
      continue;
    }
    if ('type' in parsed && parsed.type === 'header') {
      if (verifier !== undefined) note(null, `line ${lineNo}: a second header`);
      else verifier = new ReceiptChainVerifier(roots, options, { seq: parsed.chainFrom.seq, id: fromHex(parsed.chainFrom.id) });
      continue;
    }
    if ('type' in parsed && parsed.type === 'end') {
      ended = parsed;
      continue;
    }
    if (verifier === undefined) {
      note(null, `line ${lineNo}: receipt before the header`);
      verifier = new ReceiptChainVerifier(roots, options);
    }
    if (ended !== undefined) note(parsed.seq, `line ${lineNo}: receipt after the end line`);
    const r = parsed as ParsedReceiptLine;
    const f = verifier.add({ seq: r.seq, body: r.body, signature: r.signature, id: r.id, prev: r.prev, ...(r.terminalCertificate !== undefined ? { terminalCertificate: r.terminalCertificate } : {}) });
    if (f !== undefined) {
      try {
        const expected = exportedFields(toReceipt({ seq: r.seq, id: r.id, prev: r.prev, body: r.body, signature: r.signature, created: f.time }));
        if (JSON.stringify(expected) !== JSON.stringify(r.line.fields) || r.line.time !== f.time) {
          verifier.problem(r.seq, 'COLUMN_MISMATCH', `receipt ${r.seq}: the decoded fields on the line differ from its signed body`);
        }
      } catch {
        // the verifier already reported why the body's parts do not parse
      }
    }
  }
  const v = verifier ?? new ReceiptChainVerifier(roots, options);
  for (const p of pre) v.problem(p.seq, p.code, p.message);
  if (verifier === undefined) v.problem(null, 'RECEIPT_MALFORMED', 'the export has no header line');
  if (ended === undefined) v.problem(null, 'RECEIPT_MALFORMED', 'the export has no end line: it was cut short');
  else if (ended.count !== v.count || ended.lastSeq !== v.head.seq) v.problem(null, 'RECEIPT_MALFORMED', `the end line says ${ended.count} receipts up to ${ended.lastSeq}; the export holds ${v.count} up to ${v.head.seq}`);
  return { receipts: v.count, ok: v.problems.length === 0 && v.truncated === 0, problems: v.problems, warnings: v.warnings, head: v.head };
}
