/**
 * Evidence of an authorization as the ledger keeps it until the commit: structure checks
 * (without signatures: the core verified those before it asked for an authorization) that
 * make sure the pieces belong to one transaction, and the CBOR blob stored with a pending
 * authorization.
 */
import { decodeCanonical, encodeCanonical, type CborValue } from '../../protocol/cbor-codec.js';
import { constantTimeEqual, isBytes, sha512 } from '../../protocol/crypto/bytes.js';
import { parseCardAuth, parseHolderVerify, type CardAuthFields, type HolderVerifyFields } from '../../protocol/crypto/card-structures.js';
import { parseCardCertificate, parseDeviceCertificate, type CardCertificate } from '../../protocol/crypto/certificates.js';
import { Domain } from '../../protocol/crypto/domains.js';
import { ED25519_SIGNATURE_LENGTH } from '../../protocol/crypto/ed25519.js';
import { signedBytes, type SignedStructure } from '../../protocol/crypto/signed-structure.js';
import { UnicardError } from '../../protocol/errors.js';
import { LedgerError } from './ledger-error.js';
import { serviceCode, type AuthorizationEvidence, type ServiceName, type SupervisorEvidence } from './ledger-types.js';
import { MAX_ID_TEXT, MAX_REASON_TEXT } from './receipt.js';

/** Length of the stored card-auth hash (a prefix of SHA-512: 256 bits is ample against collisions). */
export const CARD_AUTH_HASH_LENGTH = 32;

/** Key of a used card signature: the first 32 bytes of SHA-512 of the card-auth's signed bytes. */
export function cardAuthHash(cardAuth: SignedStructure): Uint8Array {
  return sha512(signedBytes(Domain.cardAuth, cardAuth.body)).subarray(0, CARD_AUTH_HASH_LENGTH);
}

/** Certificate parsers (the ledger passes caching ones: the same cards and terminals recur). */
export interface EvidenceParsers {
  card(bytes: Uint8Array): CardCertificate;
  /** The device certificate's terminal id and the SHA-512 of its bytes. */
  device(bytes: Uint8Array): { terminalId: string; hash: Uint8Array };
}

/** Parsers without caches. */
export const DIRECT_PARSERS: EvidenceParsers = {
  card: parseCardCertificate,
  device: (bytes) => ({ terminalId: parseDeviceCertificate(bytes).terminalId, hash: sha512(bytes) }),
};

/** What the ledger learns from the evidence. */
export interface ParsedEvidence {
  readonly card: CardCertificate;
  readonly cardAuth: CardAuthFields;
  readonly holder: HolderVerifyFields | undefined;
  readonly terminalCertificateHash: Uint8Array;
}

function parseOrFail<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new LedgerError('LEDGER_INVALID_INPUT', `${what} does not parse`, { cause: e instanceof UnicardError ? e.code : 'unknown' });
  }
}

function mismatch(what: string, detail?: Record<string, unknown>): never {
  throw new LedgerError('EVIDENCE_MISMATCH', what, detail);
}

function checkSigned(what: string, s: SignedStructure | undefined): void {
  if (s === undefined || !isBytes(s.body) || !isBytes(s.signature, ED25519_SIGNATURE_LENGTH)) {
    throw new LedgerError('LEDGER_INVALID_INPUT', `${what} needs a body and a 64-byte signature`);
  }
}

function checkText(what: string, v: unknown, max: number): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) throw new LedgerError('LEDGER_INVALID_INPUT', `${what} must be text of 1..${max} characters`);
}

/**
 * Parses the evidence and checks it describes this transaction: the card-auth names the
 * certificate's card, the service, the shop and the terminal; the holder-verify (when given)
 * carries the same nonce and card, and a match unless a supervisor exception is given; a
 * supervisor card signed the same nonce; the device certificate names the terminal.
 */
export function checkEvidence(
  e: AuthorizationEvidence,
  t: { service: ServiceName; shopId: string; terminalId: string },
  parsers: EvidenceParsers = DIRECT_PARSERS,
): ParsedEvidence {
  if (!isBytes(e.cardCertificate) || !isBytes(e.terminalCertificate)) {
    throw new LedgerError('LEDGER_INVALID_INPUT', 'card and terminal certificates are byte strings');
  }
  checkSigned('card-auth', e.cardAuth);
  const card = parseOrFail('card certificate', () => parsers.card(e.cardCertificate));
  const cardAuth = parseOrFail('card-auth', () => parseCardAuth(e.cardAuth.body));
  const device = parseOrFail('terminal certificate', () => parsers.device(e.terminalCertificate));
  if (cardAuth.cardId !== card.cardId) mismatch('card-auth names another card than the certificate', { cardId: card.cardId });
  if (cardAuth.service !== serviceCode(t.service)) mismatch(`card-auth is for another service than ${t.service}`);
  if (cardAuth.shopId !== t.shopId) mismatch('card-auth names another shop', { shopId: t.shopId });
  if (cardAuth.terminalId !== t.terminalId) mismatch('card-auth names another terminal', { terminalId: t.terminalId });
  if (device.terminalId !== t.terminalId) mismatch('terminal certificate names another terminal', { terminalId: t.terminalId });
  let holder: HolderVerifyFields | undefined;
  if (e.holderVerify !== undefined) {
    checkSigned('holder-verify', e.holderVerify);
    holder = parseOrFail('holder-verify', () => parseHolderVerify((e.holderVerify as SignedStructure).body));
    if (!constantTimeEqual(holder.nonce, cardAuth.nonce)) mismatch('holder-verify carries another nonce than the card-auth');
    if (holder.cardId !== card.cardId) mismatch('holder-verify names another card');
  }
  if (e.supervisor === undefined) {
    if (holder === undefined) throw new LedgerError('LEDGER_INVALID_INPUT', 'an authorization needs a holder verification or a supervisor exception');
    if (holder.result !== 'match') mismatch(`holder verification ended in ${holder.result}, and no supervisor exception was given`);
  } else {
    checkSupervisor(e.supervisor, cardAuth);
  }
  return { card, cardAuth, holder, terminalCertificateHash: device.hash };
}

function checkSupervisor(s: SupervisorEvidence, cardAuth: CardAuthFields): void {
  checkText('supervisor id', s.supervisorId, MAX_ID_TEXT);
  checkText('supervisor reason', s.reason, MAX_REASON_TEXT);
  if (s.card === undefined) return;
  if (!isBytes(s.card.certificate)) throw new LedgerError('LEDGER_INVALID_INPUT', 'supervisor certificate is a byte string');
  checkSigned('supervisor card-auth', s.card.cardAuth);
  const cert = parseOrFail('supervisor certificate', () => parseCardCertificate((s.card as { certificate: Uint8Array }).certificate));
  const auth = parseOrFail('supervisor card-auth', () => parseCardAuth((s.card as { cardAuth: SignedStructure }).cardAuth.body));
  if (auth.cardId !== cert.cardId) mismatch('supervisor card-auth names another card than its certificate');
  if (!constantTimeEqual(auth.nonce, cardAuth.nonce)) mismatch("supervisor card-auth carries another nonce than the holder's card-auth");
}

/**
 * The supervisor exception as stored with a pending authorization: canonical CBOR
 * [supervisorId, reason] or [supervisorId, reason, certificate, card-auth body, signature].
 */
export function encodeSupervisor(s: SupervisorEvidence): Uint8Array {
  const v: CborValue[] = [s.supervisorId, s.reason];
  if (s.card !== undefined) v.push(s.card.certificate, s.card.cardAuth.body, s.card.cardAuth.signature);
  return encodeCanonical(v);
}

/** Decodes {@link encodeSupervisor}'s bytes; LEDGER_CORRUPT when damaged. */
export function decodeSupervisor(blob: Uint8Array): SupervisorEvidence {
  const bad = (): never => {
    throw new LedgerError('LEDGER_CORRUPT', 'stored supervisor exception is damaged');
  };
  let sv: CborValue;
  try {
    sv = decodeCanonical(blob);
  } catch {
    return bad();
  }
  if (!Array.isArray(sv) || (sv.length !== 2 && sv.length !== 5)) return bad();
  const bytes = (x: CborValue | undefined): Uint8Array => (isBytes(x) ? x : bad());
  const text = (x: CborValue | undefined): string => (typeof x === 'string' ? x : bad());
  return sv.length === 5
    ? { supervisorId: text(sv[0]), reason: text(sv[1]), card: { certificate: bytes(sv[2]), cardAuth: { body: bytes(sv[3]), signature: bytes(sv[4]) } } }
    : { supervisorId: text(sv[0]), reason: text(sv[1]) };
}
