/**
 * Signed structures: a domain string plus a canonical CBOR body map whose key 0 repeats the
 * domain. The signed bytes are UTF-8(domain) ‖ 0x00 ‖ body, so a signature made for one
 * purpose can never verify as another. On the wire a signed structure travels either as
 * two fields (body, signature) or as the envelope CBOR array [body bstr, signature bstr(64)].
 */
import nacl from 'tweetnacl';
import { decodeCanonical, encodeCanonical, type CborLimits, type CborValue } from '../cbor-codec.js';
import { CryptoError, UnicardError, type CryptoErrorCode } from '../errors.js';
import { concatBytes, isBytes, toHex, utf8 } from './bytes.js';
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SIGNATURE_LENGTH, type Ed25519 } from './ed25519.js';

/** Length of a key id: the first 8 bytes of SHA-512(public key). */
export const KEY_ID_LENGTH = 8;

/** Body key that carries the domain string in every signed structure. */
export const BODY_KEY_DOMAIN = 0;

/** A body (canonical CBOR map, key 0 = domain) and its Ed25519 signature. */
export interface SignedStructure {
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}

/** Trusted signing keys by key id: a map keyed by lower-case hex key id, or a lookup function. */
export type TrustedKeys = ReadonlyMap<string, Uint8Array> | ((keyId: Uint8Array) => Uint8Array | undefined);

/** Key id of an Ed25519 public key: SHA-512(publicKey)[0..8] (TweetNaCl's crypto_hash). */
export function keyIdOf(publicKey: Uint8Array): Uint8Array {
  if (!isBytes(publicKey, ED25519_PUBLIC_KEY_LENGTH)) {
    throw new CryptoError('KEY_INVALID', `public key must be ${ED25519_PUBLIC_KEY_LENGTH} bytes`);
  }
  return nacl.hash(publicKey).slice(0, KEY_ID_LENGTH);
}

/** Key id as lower-case hex (the key of a {@link TrustedKeys} map). */
export function keyIdHex(publicKey: Uint8Array): string {
  return toHex(keyIdOf(publicKey));
}

/**
 * Looks up a trusted key by id and checks that the key really has that id (so a map built
 * under the wrong ids cannot make a key stand in for another). Undefined when unknown.
 */
export function lookupTrustedKey(trusted: TrustedKeys, keyId: Uint8Array): Uint8Array | undefined {
  const key = typeof trusted === 'function' ? trusted(keyId) : trusted.get(toHex(keyId));
  if (key === undefined || !isBytes(key, ED25519_PUBLIC_KEY_LENGTH)) return undefined;
  const id = keyIdOf(key);
  for (let i = 0; i < KEY_ID_LENGTH; i++) if (id[i] !== keyId[i]) return undefined;
  return key;
}

/** The exact bytes an Ed25519 signature covers: UTF-8(domain) ‖ 0x00 ‖ body. */
export function signedBytes(domain: string, body: Uint8Array): Uint8Array {
  if (domain.length === 0 || domain.includes('\u0000')) {
    throw new CryptoError('STRUCT_WRONG_DOMAIN', 'a domain string is non-empty and has no NUL');
  }
  return concatBytes(utf8(domain), new Uint8Array([0]), body);
}

/**
 * Canonical CBOR body for `domain` and `fields`: the map {0: domain, ...fields}.
 * `fields` must not use key 0 (STRUCT_MALFORMED).
 */
export function encodeBody(domain: string, fields: ReadonlyMap<number, CborValue>): Uint8Array {
  if (fields.has(BODY_KEY_DOMAIN)) {
    throw new CryptoError('STRUCT_MALFORMED', 'body key 0 is reserved for the domain string');
  }
  return encodeCanonical(new Map<number, CborValue>([[BODY_KEY_DOMAIN, domain], ...fields]));
}

/** Signs `fields` under `domain`: body = {0: domain, ...fields} in canonical CBOR. */
export function signStructure(ed: Ed25519, seed: Uint8Array, domain: string, fields: ReadonlyMap<number, CborValue>): SignedStructure {
  const body = encodeBody(domain, fields);
  return { body, signature: ed.sign(seed, signedBytes(domain, body)) };
}

/** Signs an already encoded body under `domain` (the body's key 0 must be that domain). */
export function signBody(ed: Ed25519, seed: Uint8Array, domain: string, body: Uint8Array): SignedStructure {
  return { body, signature: ed.sign(seed, signedBytes(domain, body)) };
}

/**
 * Verifies a signed structure for `domain` and returns its decoded body map.
 * STRUCT_MALFORMED: body is not a canonical CBOR map with integer keys and key 0 text;
 * STRUCT_WRONG_DOMAIN: key 0 names another domain; SIG_INVALID: the signature fails.
 */
export function verifyStructure(
  ed: Ed25519,
  publicKey: Uint8Array,
  domain: string,
  signed: SignedStructure,
  limits?: CborLimits,
): Map<number, CborValue> {
  const map = decodeBody(signed.body, domain, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN', limits);
  if (!isBytes(signed.signature) || !ed.verify(publicKey, signedBytes(domain, signed.body), signed.signature)) {
    throw new CryptoError('SIG_INVALID', `signature does not verify for ${domain}`);
  }
  return map;
}

/** Limits for decoding the small structures of this layer (certificates, auth records). */
export const STRUCTURE_LIMITS: Readonly<Required<CborLimits>> = Object.freeze({
  maxBytes: 8192,
  maxDepth: 4,
  maxItems: 512,
  maxStringBytes: 1024,
});

/**
 * Decodes a body and checks it is a map with integer keys whose key 0 is `domain`.
 * Errors use the caller's codes (certificates report CERT_*, other structures STRUCT_*).
 */
export function decodeBody(
  body: Uint8Array,
  domain: string,
  malformed: CryptoErrorCode,
  wrongDomain: CryptoErrorCode,
  limits: CborLimits = STRUCTURE_LIMITS,
): Map<number, CborValue> {
  if (!isBytes(body)) throw new CryptoError(malformed, 'body is not a byte string');
  let value: CborValue;
  try {
    value = decodeCanonical(body, limits);
  } catch (e) {
    throw new CryptoError(malformed, 'body is not canonical CBOR', { cause: e instanceof UnicardError ? e.code : 'unknown' });
  }
  if (!(value instanceof Map)) throw new CryptoError(malformed, 'body is not a CBOR map');
  for (const k of value.keys()) {
    if (typeof k !== 'number') throw new CryptoError(malformed, 'body map keys must be integers');
  }
  const d = value.get(BODY_KEY_DOMAIN);
  if (typeof d !== 'string') throw new CryptoError(malformed, 'body key 0 (domain) missing or not text');
  if (d !== domain) throw new CryptoError(wrongDomain, `expected ${domain}, found ${d.slice(0, 64)}`, { found: d.slice(0, 64) });
  return value as Map<number, CborValue>;
}

/** Envelope bytes: canonical CBOR array [body bstr, signature bstr(64)]. */
export function encodeSignedStructure(signed: SignedStructure): Uint8Array {
  return encodeCanonical([signed.body, signed.signature]);
}

/** Splits envelope bytes into body and signature (no verification). Errors use `malformed`. */
export function decodeSignedStructure(
  bytes: Uint8Array,
  malformed: CryptoErrorCode = 'STRUCT_MALFORMED',
  limits: CborLimits = STRUCTURE_LIMITS,
): SignedStructure {
  let value: CborValue;
  try {
    value = decodeCanonical(bytes, limits);
  } catch (e) {
    throw new CryptoError(malformed, 'not a canonical CBOR envelope', { cause: e instanceof UnicardError ? e.code : 'unknown' });
  }
  if (!Array.isArray(value) || value.length !== 2) throw new CryptoError(malformed, 'envelope is not a 2-element array');
  const [body, signature] = value;
  if (!isBytes(body)) throw new CryptoError(malformed, 'envelope body is not a byte string');
  if (!isBytes(signature, ED25519_SIGNATURE_LENGTH)) throw new CryptoError(malformed, 'envelope signature is not 64 bytes');
  return { body, signature };
}

/**
 * Strict reader for a decoded body map: typed getters that throw the given code, and a
 * final check that no unknown keys are present.
 */
export class BodyReader {
  private readonly seen = new Set<number>([BODY_KEY_DOMAIN]);

  constructor(
    private readonly map: Map<number, CborValue>,
    private readonly malformed: CryptoErrorCode,
  ) {}

  private fail(key: number, what: string): never {
    throw new CryptoError(this.malformed, `body key ${key}: ${what}`, { key });
  }

  private get(key: number): CborValue {
    this.seen.add(key);
    const v = this.map.get(key);
    if (v === undefined) this.fail(key, 'missing');
    return v;
  }

  /** True when `key` is present (marks it as known). */
  has(key: number): boolean {
    this.seen.add(key);
    return this.map.has(key);
  }

  /** Byte string of exactly `length` bytes. */
  bytes(key: number, length: number): Uint8Array {
    const v = this.get(key);
    if (!isBytes(v, length)) this.fail(key, `expected ${length}-byte string`);
    return v;
  }

  /** Non-empty text of at most `maxChars` UTF-16 units. */
  text(key: number, maxChars = 128): string {
    const v = this.get(key);
    if (typeof v !== 'string' || v.length === 0 || v.length > maxChars) this.fail(key, `expected text of 1..${maxChars} characters`);
    return v;
  }

  /** Unsigned integer in [min, max] (max at most 2^53−1). */
  uint(key: number, max = Number.MAX_SAFE_INTEGER, min = 0): number {
    return this.uintValue(key, this.get(key), max, min);
  }

  /** Validates an unsigned integer found inside a nested value of `key`. */
  uintValue(key: number, v: CborValue, max = Number.MAX_SAFE_INTEGER, min = 0): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.fail(key, `expected integer in ${min}..${max}`);
    return v;
  }

  /** Array with length in [minLength, maxLength]. */
  array(key: number, minLength: number, maxLength: number): CborValue[] {
    const v = this.get(key);
    if (!Array.isArray(v) || v.length < minLength || v.length > maxLength) this.fail(key, `expected array of ${minLength}..${maxLength} items`);
    return v;
  }

  /** Throws when the map has a key no getter asked for (unknown fields are refused). */
  finish(): void {
    for (const k of this.map.keys()) if (!this.seen.has(k)) this.fail(k, 'unknown field');
  }

  /** Reports a semantic problem with `key` as malformed. */
  invalid(key: number, what: string): never {
    this.fail(key, what);
  }
}
