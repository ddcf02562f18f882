/**
 * The issuer's signed lists, as the daemon loads them: the card roster (which cards exist,
 * for which household, in which state since when) and the revocation list. Both are signed
 * structures in the protocol/crypto sense: envelope CBOR [body bstr, signature bstr(64)],
 * body a canonical CBOR map with key 0 = the domain string, signed as
 * UTF-8(domain) ‖ 0x00 ‖ body by the issuer root key. Pure functions (no I/O), so this file
 * can move into protocol/ unchanged when the daemon needs it.
 *
 * Roster body (domain `unicard/v1/roster`):
 *
 * | key | field        | type |
 * |-----|--------------|------|
 * | 0   | domain       | text "unicard/v1/roster" |
 * | 1   | issuerKeyId  | bstr(8): key id of the signing issuer root |
 * | 2   | sequence     | uint: increases with every roster the issuer publishes |
 * | 3   | issuedAt     | uint: Unix seconds |
 * | 4   | entries      | array of [cardId text, cardSerial uint, householdId text, householdSize uint 1..64, governorate uint 0..99, state uint, since uint (Unix s)], sorted by (cardId, cardSerial), no duplicates |
 *
 * Card states: 0 active, 1 suspended (reported lost), 2 replaced, 3 not_activated.
 *
 * Revocation body (domain `unicard/v1/revocation`):
 *
 * | key | field       | type |
 * |-----|-------------|------|
 * | 0   | domain      | text "unicard/v1/revocation" |
 * | 1   | issuerKeyId | bstr(8) |
 * | 2   | sequence    | uint |
 * | 3   | issuedAt    | uint: Unix seconds |
 * | 4   | cards       | array of [cardId text, cardSerial uint, revokedAt uint (Unix s), reason uint], sorted by (cardId, cardSerial), no duplicates |
 * | 5   | terminals   | array of [terminalId text, revokedAt uint, reason uint], sorted by terminalId, no duplicates |
 *
 * Card revocation reasons: 0 unspecified, 1 lost, 2 stolen, 3 replaced, 4 clone_suspected,
 * 5 holder_deceased. Terminal reasons: 0 unspecified, 1 compromised, 2 decommissioned.
 */
import type { CborLimits, CborValue } from '../../protocol/cbor-codec.js';
import { MAX_GOVERNORATE, MAX_ID_CHARS, MAX_MEMBERS } from '../../protocol/crypto/certificates.js';
import { Domain } from '../../protocol/crypto/domains.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import {
  BodyReader,
  decodeBody,
  decodeSignedStructure,
  encodeSignedStructure,
  KEY_ID_LENGTH,
  keyIdOf,
  lookupTrustedKey,
  signedBytes,
  signStructure,
  type TrustedKeys,
} from '../../protocol/crypto/signed-structure.js';
import { CryptoError } from '../../protocol/errors.js';

/** Card states in a roster. */
export const CardState = { active: 0, suspended: 1, replaced: 2, not_activated: 3 } as const;
export type CardStateName = keyof typeof CardState;
const CARD_STATE_NAMES = Object.keys(CardState) as CardStateName[];

/** Why a card was revoked. */
export const CardRevocationReason = { unspecified: 0, lost: 1, stolen: 2, replaced: 3, clone_suspected: 4, holder_deceased: 5 } as const;
export type CardRevocationReasonName = keyof typeof CardRevocationReason;
const CARD_REASON_NAMES = Object.keys(CardRevocationReason) as CardRevocationReasonName[];

/** Why a terminal was revoked. */
export const TerminalRevocationReason = { unspecified: 0, compromised: 1, decommissioned: 2 } as const;
export type TerminalRevocationReasonName = keyof typeof TerminalRevocationReason;
const TERMINAL_REASON_NAMES = Object.keys(TerminalRevocationReason) as TerminalRevocationReasonName[];

/** Integer keys of the roster body. */
export const RosterKey = { domain: 0, issuerKeyId: 1, sequence: 2, issuedAt: 3, entries: 4 } as const;
/** Integer keys of the revocation body. */
export const RevocationKey = { domain: 0, issuerKeyId: 1, sequence: 2, issuedAt: 3, cards: 4, terminals: 5 } as const;

/** Decoding limits: a roster for a few million cards fits, nothing bigger is allocated. */
export const LIST_LIMITS: Readonly<Required<CborLimits>> = Object.freeze({
  maxBytes: 256 * 1024 * 1024,
  maxDepth: 3,
  maxItems: 40_000_000,
  maxStringBytes: 1024,
});

/** Limits for the envelope: its body byte string is the whole list. */
const ENVELOPE_LIMITS: Readonly<Required<CborLimits>> = Object.freeze({ ...LIST_LIMITS, maxStringBytes: LIST_LIMITS.maxBytes });

/** One card in the roster. */
export interface RosterEntry {
  readonly cardId: string;
  readonly cardSerial: number;
  readonly householdId: string;
  readonly householdSize: number;
  readonly governorate: number;
  readonly state: CardStateName;
  /** When the card entered this state (Unix seconds). */
  readonly since: number;
}

/** Roster content. */
export interface RosterFields {
  readonly sequence: number;
  readonly issuedAt: number;
  readonly entries: readonly RosterEntry[];
}

/** A parsed roster. */
export interface Roster extends RosterFields {
  readonly issuerKeyId: Uint8Array;
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}

/** One revoked card. */
export interface RevokedCard {
  readonly cardId: string;
  readonly cardSerial: number;
  readonly revokedAt: number;
  readonly reason: CardRevocationReasonName;
}

/** One revoked terminal. */
export interface RevokedTerminal {
  readonly terminalId: string;
  readonly revokedAt: number;
  readonly reason: TerminalRevocationReasonName;
}

/** Revocation list content. */
export interface RevocationFields {
  readonly sequence: number;
  readonly issuedAt: number;
  readonly cards: readonly RevokedCard[];
  readonly terminals: readonly RevokedTerminal[];
}

/** A parsed revocation list. */
export interface RevocationList extends RevocationFields {
  readonly issuerKeyId: Uint8Array;
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}

const byCard = (a: { cardId: string; cardSerial: number }, b: { cardId: string; cardSerial: number }): number =>
  a.cardId < b.cardId ? -1 : a.cardId > b.cardId ? 1 : a.cardSerial - b.cardSerial;

/** Sorts roster entries or revoked cards into the required (cardId, cardSerial) order. */
export function sortByCard<T extends { cardId: string; cardSerial: number }>(items: readonly T[]): T[] {
  return [...items].sort(byCard);
}

function readRoster(map: Map<number, CborValue>): Omit<Roster, 'body' | 'signature'> {
  const r: BodyReader = new BodyReader(map, 'STRUCT_MALFORMED');
  const issuerKeyId = r.bytes(RosterKey.issuerKeyId, KEY_ID_LENGTH);
  const sequence = r.uint(RosterKey.sequence);
  const issuedAt = r.uint(RosterKey.issuedAt);
  const entries: RosterEntry[] = [];
  const K = RosterKey.entries;
  for (const e of r.array(K, 0, LIST_LIMITS.maxItems)) {
    if (!Array.isArray(e) || e.length !== 7) r.invalid(K, 'entry is not a 7-element array');
    const [cardId, cardSerial, householdId, size, gov, state, since] = e;
    const entry: RosterEntry = {
      cardId: idText(r, K, cardId),
      cardSerial: r.uintValue(K, cardSerial as CborValue),
      householdId: idText(r, K, householdId),
      householdSize: r.uintValue(K, size as CborValue, MAX_MEMBERS, 1),
      governorate: r.uintValue(K, gov as CborValue, MAX_GOVERNORATE),
      state: CARD_STATE_NAMES[r.uintValue(K, state as CborValue, CARD_STATE_NAMES.length - 1)]!,
      since: r.uintValue(K, since as CborValue),
    };
    const prev = entries[entries.length - 1];
    if (prev && byCard(prev, entry) >= 0) r.invalid(K, 'entries must be sorted by (cardId, cardSerial) without duplicates');
    entries.push(entry);
  }
  r.finish();
  return { issuerKeyId, sequence, issuedAt, entries };
}

function readRevocation(map: Map<number, CborValue>): Omit<RevocationList, 'body' | 'signature'> {
  const r: BodyReader = new BodyReader(map, 'STRUCT_MALFORMED');
  const issuerKeyId = r.bytes(RevocationKey.issuerKeyId, KEY_ID_LENGTH);
  const sequence = r.uint(RevocationKey.sequence);
  const issuedAt = r.uint(RevocationKey.issuedAt);
  const cards: RevokedCard[] = [];
  const KC = RevocationKey.cards;
  for (const e of r.array(KC, 0, LIST_LIMITS.maxItems)) {
    if (!Array.isArray(e) || e.length !== 4) r.invalid(KC, 'entry is not a 4-element array');
    const [cardId, cardSerial, revokedAt, reason] = e;
    const c: RevokedCard = {
      cardId: idText(r, KC, cardId),
      cardSerial: r.uintValue(KC, cardSerial as CborValue),
      revokedAt: r.uintValue(KC, revokedAt as CborValue),
      reason: CARD_REASON_NAMES[r.uintValue(KC, reason as CborValue, CARD_REASON_NAMES.length - 1)]!,
    };
    const prev = cards[cards.length - 1];
    if (prev && byCard(prev, c) >= 0) r.invalid(KC, 'cards must be sorted by (cardId, cardSerial) without duplicates');
    cards.push(c);
  }
  const terminals: RevokedTerminal[] = [];
  const KT = RevocationKey.terminals;
  for (const e of r.array(KT, 0, LIST_LIMITS.maxItems)) {
    if (!Array.isArray(e) || e.length !== 3) r.invalid(KT, 'entry is not a 3-element array');
    const [terminalId, revokedAt, reason] = e;
    const t: RevokedTerminal = {
      terminalId: idText(r, KT, terminalId),
      revokedAt: r.uintValue(KT, revokedAt as CborValue),
      reason: TERMINAL_REASON_NAMES[r.uintValue(KT, reason as CborValue, TERMINAL_REASON_NAMES.length - 1)]!,
    };
    const prev = terminals[terminals.length - 1];
    if (prev && prev.terminalId >= t.terminalId) r.invalid(KT, 'terminals must be sorted by id without duplicates');
    terminals.push(t);
  }
  r.finish();
  return { issuerKeyId, sequence, issuedAt, cards, terminals };
}

function idText(r: BodyReader, key: number, v: CborValue | undefined): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ID_CHARS) r.invalid(key, `expected id text of 1..${MAX_ID_CHARS} characters`);
  return v;
}

function sign(
  ed: Ed25519,
  seed: Uint8Array,
  domain: string,
  fields: [number, CborValue][],
  read: (m: Map<number, CborValue>) => unknown,
): Uint8Array {
  const signed = signStructure(ed, seed, domain, new Map(fields));
  // One validator for both ends: refuse to sign what a verifier would refuse.
  read(decodeBody(signed.body, domain, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN', LIST_LIMITS));
  return encodeSignedStructure(signed);
}

/** Signs a roster with the issuer root; entries are sorted here. STRUCT_MALFORMED on bad fields. */
export function signRoster(ed: Ed25519, issuerSeed: Uint8Array, fields: RosterFields): Uint8Array {
  const issuerKeyId = keyIdOf(ed.publicKeyFromSeed(issuerSeed));
  const entries = sortByCard(fields.entries).map((e) => [
    e.cardId,
    e.cardSerial,
    e.householdId,
    e.householdSize,
    e.governorate,
    CardState[e.state],
    e.since,
  ]);
  return sign(
    ed,
    issuerSeed,
    Domain.roster,
    [
      [RosterKey.issuerKeyId, issuerKeyId],
      [RosterKey.sequence, fields.sequence],
      [RosterKey.issuedAt, fields.issuedAt],
      [RosterKey.entries, entries as CborValue],
    ],
    readRoster,
  );
}

/** Signs a revocation list with the issuer root; lists are sorted here. */
export function signRevocationList(ed: Ed25519, issuerSeed: Uint8Array, fields: RevocationFields): Uint8Array {
  const issuerKeyId = keyIdOf(ed.publicKeyFromSeed(issuerSeed));
  const cards = sortByCard(fields.cards).map((c) => [c.cardId, c.cardSerial, c.revokedAt, CardRevocationReason[c.reason]]);
  const terminals = [...fields.terminals]
    .sort((a, b) => (a.terminalId < b.terminalId ? -1 : a.terminalId > b.terminalId ? 1 : 0))
    .map((t) => [t.terminalId, t.revokedAt, TerminalRevocationReason[t.reason]]);
  return sign(
    ed,
    issuerSeed,
    Domain.revocation,
    [
      [RevocationKey.issuerKeyId, issuerKeyId],
      [RevocationKey.sequence, fields.sequence],
      [RevocationKey.issuedAt, fields.issuedAt],
      [RevocationKey.cards, cards as CborValue],
      [RevocationKey.terminals, terminals as CborValue],
    ],
    readRevocation,
  );
}

/** Parses a roster without checking its signature. STRUCT_MALFORMED, STRUCT_WRONG_DOMAIN. */
export function parseRoster(bytes: Uint8Array): Roster {
  const { body, signature } = decodeSignedStructure(bytes, 'STRUCT_MALFORMED', ENVELOPE_LIMITS);
  return { ...readRoster(decodeBody(body, Domain.roster, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN', LIST_LIMITS)), body, signature };
}

/** Parses a revocation list without checking its signature. */
export function parseRevocationList(bytes: Uint8Array): RevocationList {
  const { body, signature } = decodeSignedStructure(bytes, 'STRUCT_MALFORMED', ENVELOPE_LIMITS);
  return {
    ...readRevocation(decodeBody(body, Domain.revocation, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN', LIST_LIMITS)),
    body,
    signature,
  };
}

function checkSignature(domain: string, list: { issuerKeyId: Uint8Array; body: Uint8Array; signature: Uint8Array }, trusted: TrustedKeys, ed: Ed25519): void {
  const key = lookupTrustedKey(trusted, list.issuerKeyId);
  if (key === undefined) {
    throw new CryptoError('KEY_UNKNOWN', `${domain} signed by an untrusted key`, { issuerKeyId: Buffer.from(list.issuerKeyId).toString('hex') });
  }
  if (!ed.verify(key, signedBytes(domain, list.body), list.signature)) throw new CryptoError('SIG_INVALID', `${domain} signature does not verify`);
}

/** Parses and verifies a roster against trusted issuer roots: also KEY_UNKNOWN, SIG_INVALID. */
export function verifyRoster(bytes: Uint8Array, trustedIssuers: TrustedKeys, ed: Ed25519): Roster {
  const roster = parseRoster(bytes);
  checkSignature(Domain.roster, roster, trustedIssuers, ed);
  return roster;
}

/** Parses and verifies a revocation list against trusted issuer roots. */
export function verifyRevocationList(bytes: Uint8Array, trustedIssuers: TrustedKeys, ed: Ed25519): RevocationList {
  const list = parseRevocationList(bytes);
  checkSignature(Domain.revocation, list, trustedIssuers, ed);
  return list;
}
