/**
 * Certificates as signed canonical CBOR: issuer root → card, vendor root → terminal.
 * Encoded certificate = CBOR array [body bstr, signature bstr(64)]; the body is a canonical
 * CBOR map with integer keys, key 0 = the domain, signed as UTF-8(domain) ‖ 0x00 ‖ body.
 */
import type { CborValue } from '../cbor-codec.js';
import { CryptoError } from '../errors.js';
import { isBytes, toHex } from './bytes.js';
import { Domain } from './domains.js';
import { ED25519_PUBLIC_KEY_LENGTH, type Ed25519 } from './ed25519.js';
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
} from './signed-structure.js';

/** Integer keys of certificate bodies (see PROTOCOL.d/70-crypto.md). */
export const CertKey = {
  domain: 0,
  issuerKeyId: 1,
  subjectPublicKey: 2,
  validFrom: 3,
  validUntil: 4,
  // card certificate
  cardId: 5,
  householdId: 6,
  governorate: 7,
  members: 8,
  cardSerial: 9,
  // device certificate
  terminalId: 5,
  vendor: 6,
  model: 7,
} as const;

/** Household member roles on the card. */
export const MemberRole = { head: 0, spouse: 1, dependant: 2, other: 3 } as const;
/** A member role code. */
export type MemberRoleCode = (typeof MemberRole)[keyof typeof MemberRole];
/** Largest member role code. */
export const MAX_MEMBER_ROLE = 3;
/** Most members one card may list. */
export const MAX_MEMBERS = 64;
/** Largest member index. */
export const MAX_MEMBER_INDEX = 255;
/** Largest governorate code (the two-digit code of the national id, e.g. 3 = Port Said). */
export const MAX_GOVERNORATE = 99;
/** Longest identifier text (card id, household id, terminal id, vendor, model). */
export const MAX_ID_CHARS = 64;

/** One household member listed on a card. */
export interface CardMember {
  readonly index: number;
  readonly role: MemberRoleCode;
}

/** Validity window in unix seconds; valid while validFrom ≤ now ≤ validUntil. */
export interface Validity {
  readonly validFrom: number;
  readonly validUntil: number;
}

/** What the issuer certifies about a card (the issuer key id is added when issuing). */
export interface CardCertificateFields extends Validity {
  readonly subjectPublicKey: Uint8Array;
  readonly cardId: string;
  readonly householdId: string;
  readonly governorate: number;
  readonly members: readonly CardMember[];
  readonly cardSerial: number;
}

/** What a vendor certifies about a terminal. */
export interface DeviceCertificateFields extends Validity {
  readonly subjectPublicKey: Uint8Array;
  readonly terminalId: string;
  readonly vendor: string;
  readonly model: string;
}

/** Raw parts of a parsed certificate. */
export interface CertificateParts {
  /** The whole encoded certificate. */
  readonly bytes: Uint8Array;
  /** The canonical CBOR body that was signed (after the domain prefix). */
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
  readonly issuerKeyId: Uint8Array;
}

/** A parsed card certificate (structure checked; signature checked only by verify). */
export type CardCertificate = CardCertificateFields & CertificateParts;
/** A parsed device certificate (structure checked; signature checked only by verify). */
export type DeviceCertificate = DeviceCertificateFields & CertificateParts;

/** Limits for certificate bytes: small, bounded before anything is allocated. */
const CERT_LIMITS = { maxBytes: 4096, maxDepth: 4, maxItems: 512, maxStringBytes: 1024 } as const;

function commonBody(issuerKeyId: Uint8Array, f: DeviceCertificateFields | CardCertificateFields): [number, CborValue][] {
  return [
    [CertKey.issuerKeyId, issuerKeyId],
    [CertKey.subjectPublicKey, f.subjectPublicKey],
    [CertKey.validFrom, f.validFrom],
    [CertKey.validUntil, f.validUntil],
  ];
}

function issue(ed: Ed25519, issuerSeed: Uint8Array, domain: string, fields: [number, CborValue][], parse: (b: Uint8Array) => unknown): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = encodeSignedStructure(signStructure(ed, issuerSeed, domain, new Map(fields)));
  } catch (e) {
    if (e instanceof CryptoError && e.code === 'KEY_INVALID') throw e;
    throw new CryptoError('CERT_MALFORMED', 'certificate fields cannot be encoded', { cause: e instanceof Error ? e.message : 'unknown' });
  }
  parse(bytes); // one validator for both ends: refuse to sign what a verifier would refuse
  return bytes;
}

/**
 * Issues a card certificate signed by the issuer root. Throws CERT_MALFORMED when a field
 * is out of range (the same checks {@link parseCardCertificate} applies), KEY_INVALID for a bad seed.
 */
export function issueCardCertificate(ed: Ed25519, issuerSeed: Uint8Array, fields: CardCertificateFields): Uint8Array {
  const issuerKeyId = keyIdOf(ed.publicKeyFromSeed(issuerSeed));
  return issue(
    ed,
    issuerSeed,
    Domain.cardCert,
    [
      ...commonBody(issuerKeyId, fields),
      [CertKey.cardId, fields.cardId],
      [CertKey.householdId, fields.householdId],
      [CertKey.governorate, fields.governorate],
      [CertKey.members, fields.members.map((m) => [m.index, m.role])],
      [CertKey.cardSerial, fields.cardSerial],
    ],
    parseCardCertificate,
  );
}

/** Issues a device (terminal) certificate signed by a vendor root. Errors as for cards. */
export function issueDeviceCertificate(ed: Ed25519, vendorSeed: Uint8Array, fields: DeviceCertificateFields): Uint8Array {
  const issuerKeyId = keyIdOf(ed.publicKeyFromSeed(vendorSeed));
  return issue(
    ed,
    vendorSeed,
    Domain.deviceCert,
    [
      ...commonBody(issuerKeyId, fields),
      [CertKey.terminalId, fields.terminalId],
      [CertKey.vendor, fields.vendor],
      [CertKey.model, fields.model],
    ],
    parseDeviceCertificate,
  );
}

function parseCommon(bytes: Uint8Array, domain: string): { r: BodyReader; parts: CertificateParts; validity: Validity; subjectPublicKey: Uint8Array } {
  const { body, signature } = decodeSignedStructure(bytes, 'CERT_MALFORMED', CERT_LIMITS);
  const map = decodeBody(body, domain, 'CERT_MALFORMED', 'CERT_WRONG_DOMAIN', CERT_LIMITS);
  const r = new BodyReader(map, 'CERT_MALFORMED');
  const issuerKeyId = r.bytes(CertKey.issuerKeyId, KEY_ID_LENGTH);
  const subjectPublicKey = r.bytes(CertKey.subjectPublicKey, ED25519_PUBLIC_KEY_LENGTH);
  const validFrom = r.uint(CertKey.validFrom);
  const validUntil = r.uint(CertKey.validUntil);
  if (validUntil < validFrom) r.invalid(CertKey.validUntil, 'valid-until is before valid-from');
  return { r, parts: { bytes, body, signature, issuerKeyId }, validity: { validFrom, validUntil }, subjectPublicKey };
}

/**
 * Parses a card certificate without checking its signature. CERT_MALFORMED for any
 * structural defect, CERT_WRONG_DOMAIN when it is another kind of signed structure.
 */
export function parseCardCertificate(bytes: Uint8Array): CardCertificate {
  const { r, parts, validity, subjectPublicKey } = parseCommon(bytes, Domain.cardCert);
  const cardId = r.text(CertKey.cardId, MAX_ID_CHARS);
  const householdId = r.text(CertKey.householdId, MAX_ID_CHARS);
  const governorate = r.uint(CertKey.governorate, MAX_GOVERNORATE);
  const members: CardMember[] = [];
  for (const m of r.array(CertKey.members, 1, MAX_MEMBERS)) {
    const pair = Array.isArray(m) && m.length === 2 ? m : r.invalid(CertKey.members, 'member is not [index, role]');
    const index = r.uintValue(CertKey.members, pair[0] as CborValue, MAX_MEMBER_INDEX);
    const role = r.uintValue(CertKey.members, pair[1] as CborValue, MAX_MEMBER_ROLE) as MemberRoleCode;
    const prev = members[members.length - 1];
    if (prev !== undefined && index <= prev.index) r.invalid(CertKey.members, 'member indices must be strictly increasing');
    members.push({ index, role });
  }
  const cardSerial = r.uint(CertKey.cardSerial);
  r.finish();
  return { ...parts, ...validity, subjectPublicKey, cardId, householdId, governorate, members, cardSerial };
}

/** Parses a device certificate without checking its signature. Errors as for cards. */
export function parseDeviceCertificate(bytes: Uint8Array): DeviceCertificate {
  const { r, parts, validity, subjectPublicKey } = parseCommon(bytes, Domain.deviceCert);
  const terminalId = r.text(CertKey.terminalId, MAX_ID_CHARS);
  const vendor = r.text(CertKey.vendor, MAX_ID_CHARS);
  const model = r.text(CertKey.model, MAX_ID_CHARS);
  r.finish();
  return { ...parts, ...validity, subjectPublicKey, terminalId, vendor, model };
}

function checkChain<T extends CertificateParts & Validity>(cert: T, domain: string, trusted: TrustedKeys, now: number, ed: Ed25519): T {
  const issuerKey = lookupTrustedKey(trusted, cert.issuerKeyId);
  if (issuerKey === undefined) {
    throw new CryptoError('CERT_UNKNOWN_ISSUER', 'certificate issuer is not trusted', { issuerKeyId: toHex(cert.issuerKeyId) });
  }
  if (!ed.verify(issuerKey, signedBytes(domain, cert.body), cert.signature)) {
    throw new CryptoError('CERT_BAD_SIGNATURE', 'certificate signature does not verify');
  }
  if (!Number.isFinite(now) || now < cert.validFrom) {
    throw new CryptoError('CERT_NOT_YET_VALID', 'certificate is not valid yet', { validFrom: cert.validFrom, now });
  }
  if (now > cert.validUntil) {
    throw new CryptoError('CERT_EXPIRED', 'certificate has expired', { validUntil: cert.validUntil, now });
  }
  return cert;
}

/**
 * Parses and verifies a card certificate against trusted issuer roots at time `now`
 * (unix seconds). Checks, in order: structure (CERT_MALFORMED), domain (CERT_WRONG_DOMAIN),
 * issuer known (CERT_UNKNOWN_ISSUER), signature (CERT_BAD_SIGNATURE), validity window
 * (CERT_NOT_YET_VALID, CERT_EXPIRED).
 */
export function verifyCardCertificate(bytes: Uint8Array, trustedIssuers: TrustedKeys, now: number, ed: Ed25519): CardCertificate {
  return checkChain(parseCardCertificate(bytes), Domain.cardCert, trustedIssuers, now, ed);
}

/** Parses and verifies a device certificate against trusted vendor roots. Errors as for cards. */
export function verifyDeviceCertificate(bytes: Uint8Array, trustedVendors: TrustedKeys, now: number, ed: Ed25519): DeviceCertificate {
  return checkChain(parseDeviceCertificate(bytes), Domain.deviceCert, trustedVendors, now, ed);
}

/** A {@link TrustedKeys} map from a list of root public keys. */
export function trustedKeysOf(publicKeys: readonly Uint8Array[]): Map<string, Uint8Array> {
  const map = new Map<string, Uint8Array>();
  for (const k of publicKeys) {
    if (!isBytes(k, ED25519_PUBLIC_KEY_LENGTH)) throw new CryptoError('KEY_INVALID', 'root public key must be 32 bytes');
    map.set(toHex(keyIdOf(k)), k);
  }
  return map;
}
