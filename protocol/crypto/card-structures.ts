/**
 * Structures the card's secure element signs and the daemon verifies with the card key
 * from the card certificate:
 * - card-auth (CDA-style): the daemon's fresh nonce together with the transaction the card
 *   approves and the card's monotonic counter;
 * - holder-verify: the result of match-on-card fingerprint verification, bound to the same nonce.
 */
import type { CborValue } from '../cbor-codec.js';
import { CryptoError } from '../errors.js';
import { constantTimeEqual, isBytes } from './bytes.js';
import { MAX_ID_CHARS } from './certificates.js';
import { Domain } from './domains.js';
import type { Ed25519 } from './ed25519.js';
import { BodyReader, decodeBody, encodeBody, signBody, verifyStructure, type SignedStructure } from './signed-structure.js';

/** Length of the daemon's nonce. */
export const NONCE_LENGTH = 32;
/** Largest service code. */
export const MAX_SERVICE = 0xffff;
/** Largest quantity. */
export const MAX_QUANTITY = 0xffff_ffff;
/** Largest card counter (the secure element keeps a 32-bit counter). */
export const MAX_CARD_COUNTER = 0xffff_ffff;

/** Integer keys of the card-auth body. */
export const CardAuthKey = { domain: 0, nonce: 1, cardId: 2, service: 3, quantity: 4, shopId: 5, terminalId: 6, time: 7, counter: 8 } as const;

/** What the card approves with its card-auth signature. */
export interface CardAuthFields {
  /** The daemon's fresh 32-byte nonce. */
  readonly nonce: Uint8Array;
  readonly cardId: string;
  /** Service code from the message catalog (bread, ration goods, …). */
  readonly service: number;
  readonly quantity: number;
  readonly shopId: string;
  readonly terminalId: string;
  /** Unix seconds, as sent in the CardAuthenticate request. */
  readonly time: number;
  /** The card's monotonic transaction counter after this transaction. */
  readonly counter: number;
}

/** Integer keys of the holder-verify body. */
export const HolderVerifyKey = { domain: 0, nonce: 1, cardId: 2, memberIndex: 3, result: 4, attempts: 5 } as const;

/**
 * Final results of a holder verification, with the codes of VerifyHolderResult (retry prompts
 * are never signed; running out of attempts ends in no_match).
 */
export const HolderResult = { match: 0, no_match: 1, timeout: 2, cancelled: 3 } as const;
/** Member index signed when any member was asked for and none matched. */
export const ANY_MEMBER = 255;
/** Name of a final holder-verification result. */
export type HolderResultName = keyof typeof HolderResult;
const HOLDER_RESULT_NAMES = Object.keys(HolderResult) as HolderResultName[];

/** What the card signs about a holder verification. */
export interface HolderVerifyFields {
  /** The same nonce as the card-auth of this transaction. */
  readonly nonce: Uint8Array;
  readonly cardId: string;
  /**
   * The member who matched (result match); otherwise the member asked for, or
   * {@link ANY_MEMBER} (255) when any member of the household was asked for.
   */
  readonly memberIndex: number;
  readonly result: HolderResultName;
  /** Finger captures matched in this verification (0 when none was made). */
  readonly attempts: number;
}

function cardAuthMap(f: CardAuthFields): Map<number, CborValue> {
  return new Map<number, CborValue>([
    [CardAuthKey.nonce, f.nonce],
    [CardAuthKey.cardId, f.cardId],
    [CardAuthKey.service, f.service],
    [CardAuthKey.quantity, f.quantity],
    [CardAuthKey.shopId, f.shopId],
    [CardAuthKey.terminalId, f.terminalId],
    [CardAuthKey.time, f.time],
    [CardAuthKey.counter, f.counter],
  ]);
}

function holderVerifyMap(f: HolderVerifyFields): Map<number, CborValue> {
  const code = Object.hasOwn(HolderResult, f.result) ? HolderResult[f.result] : undefined;
  if (code === undefined) throw new CryptoError('STRUCT_MALFORMED', `unknown holder result ${String(f.result)}`);
  return new Map<number, CborValue>([
    [HolderVerifyKey.nonce, f.nonce],
    [HolderVerifyKey.cardId, f.cardId],
    [HolderVerifyKey.memberIndex, f.memberIndex],
    [HolderVerifyKey.result, code],
    [HolderVerifyKey.attempts, f.attempts],
  ]);
}

function readCardAuth(map: Map<number, CborValue>): CardAuthFields {
  const r = new BodyReader(map, 'STRUCT_MALFORMED');
  const fields: CardAuthFields = {
    nonce: r.bytes(CardAuthKey.nonce, NONCE_LENGTH),
    cardId: r.text(CardAuthKey.cardId, MAX_ID_CHARS),
    service: r.uint(CardAuthKey.service, MAX_SERVICE),
    quantity: r.uint(CardAuthKey.quantity, MAX_QUANTITY),
    shopId: r.text(CardAuthKey.shopId, MAX_ID_CHARS),
    terminalId: r.text(CardAuthKey.terminalId, MAX_ID_CHARS),
    time: r.uint(CardAuthKey.time),
    counter: r.uint(CardAuthKey.counter, MAX_CARD_COUNTER),
  };
  r.finish();
  return fields;
}

function readHolderVerify(map: Map<number, CborValue>): HolderVerifyFields {
  const r = new BodyReader(map, 'STRUCT_MALFORMED');
  const nonce = r.bytes(HolderVerifyKey.nonce, NONCE_LENGTH);
  const cardId = r.text(HolderVerifyKey.cardId, MAX_ID_CHARS);
  const memberIndex = r.uint(HolderVerifyKey.memberIndex, 255);
  const result = HOLDER_RESULT_NAMES[r.uint(HolderVerifyKey.result, HOLDER_RESULT_NAMES.length - 1)] as HolderResultName;
  const attempts = r.uint(HolderVerifyKey.attempts, 255);
  r.finish();
  return { nonce, cardId, memberIndex, result, attempts };
}

/** Validates by decoding what was encoded: one rule set for signer and verifier. */
function checkedBody(domain: string, map: Map<number, CborValue>, read: (m: Map<number, CborValue>) => unknown): Uint8Array {
  let body: Uint8Array;
  try {
    body = encodeBody(domain, map);
  } catch (e) {
    throw new CryptoError('STRUCT_MALFORMED', 'fields cannot be encoded', { cause: e instanceof Error ? e.message : 'unknown' });
  }
  read(decodeBody(body, domain, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN'));
  return body;
}

function checkNonce(actual: Uint8Array, expected: Uint8Array): void {
  if (!isBytes(expected, NONCE_LENGTH) || !constantTimeEqual(actual, expected)) {
    throw new CryptoError('STRUCT_NONCE_MISMATCH', 'signed nonce is not the nonce of this transaction');
  }
}

/** Canonical CBOR body of a card-auth (what the card signs after the domain prefix). STRUCT_MALFORMED on bad fields. */
export function buildCardAuthBody(fields: CardAuthFields): Uint8Array {
  return checkedBody(Domain.cardAuth, cardAuthMap(fields), readCardAuth);
}

/** Signs a card-auth with the card key (the secure element's job; used by firmware-sim and tests). */
export function signCardAuth(ed: Ed25519, cardSeed: Uint8Array, fields: CardAuthFields): SignedStructure {
  return signBody(ed, cardSeed, Domain.cardAuth, buildCardAuthBody(fields));
}

/** Decodes a card-auth body without checking a signature (e.g. to show a stored receipt). */
export function parseCardAuth(body: Uint8Array): CardAuthFields {
  return readCardAuth(decodeBody(body, Domain.cardAuth, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN'));
}

/**
 * Verifies a card-auth with the card's public key and checks it carries `expectedNonce`.
 * STRUCT_MALFORMED, STRUCT_WRONG_DOMAIN, SIG_INVALID, STRUCT_NONCE_MISMATCH. The caller
 * still compares the transaction fields and the counter with what it asked for.
 */
export function verifyCardAuth(ed: Ed25519, cardPublicKey: Uint8Array, signed: SignedStructure, expectedNonce: Uint8Array): CardAuthFields {
  const fields = readCardAuth(verifyStructure(ed, cardPublicKey, Domain.cardAuth, signed));
  checkNonce(fields.nonce, expectedNonce);
  return fields;
}

/** Canonical CBOR body of a holder-verify. STRUCT_MALFORMED on bad fields. */
export function buildHolderVerifyBody(fields: HolderVerifyFields): Uint8Array {
  return checkedBody(Domain.holderVerify, holderVerifyMap(fields), readHolderVerify);
}

/** Signs a holder-verify result with the card key. */
export function signHolderVerify(ed: Ed25519, cardSeed: Uint8Array, fields: HolderVerifyFields): SignedStructure {
  return signBody(ed, cardSeed, Domain.holderVerify, buildHolderVerifyBody(fields));
}

/** Decodes a holder-verify body without checking a signature. */
export function parseHolderVerify(body: Uint8Array): HolderVerifyFields {
  return readHolderVerify(decodeBody(body, Domain.holderVerify, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN'));
}

/** Verifies a holder-verify with the card's public key and the transaction's nonce. Errors as for card-auth. */
export function verifyHolderVerify(ed: Ed25519, cardPublicKey: Uint8Array, signed: SignedStructure, expectedNonce: Uint8Array): HolderVerifyFields {
  const fields = readHolderVerify(verifyStructure(ed, cardPublicKey, Domain.holderVerify, signed));
  checkNonce(fields.nonce, expectedNonce);
  return fields;
}
