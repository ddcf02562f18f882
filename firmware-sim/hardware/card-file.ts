/**
 * The card file: everything a simulated unified card holds, as the issuer toolkit writes it
 * and the simulator loads it. JSON (a technician can read it), binary fields in hex, written
 * with mode 0600 because it holds the card's Ed25519 seed. Only the transaction counter
 * changes after issue; {@link saveCardFile} rewrites the file atomically.
 *
 * ```json
 * { "format": "unicard-card/1", "cardId": "PSD-0001", "householdId": "HH-03-000001",
 *   "governorate": 3, "cardSerial": 1, "validFrom": 1767225600, "validUntil": 1924992000,
 *   "members": [ { "index": 0, "role": "head", "name": "…", "template": "<64 bytes hex>" } ],
 *   "seed": "<32 bytes hex>", "certificate": "<issuer card certificate hex>", "counter": 0 }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { parseCardCertificate, MemberRole, type CardCertificate, type MemberRoleCode } from '../../protocol/crypto/certificates.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import { UnicardError } from '../../protocol/errors.js';
import { writeFileAtomic, type AtomicWriteOptions } from './atomic-file.js';
import { TEMPLATE_BYTES } from './fingerprint-template.js';
import { HardwareError } from './hardware-error.js';

/** Format tag of card files. */
export const CARD_FILE_FORMAT = 'unicard-card/1';
/** Largest transaction counter (it is signed as an unsigned 32-bit value). */
export const MAX_CARD_COUNTER = 0xffff_ffff;

/** Member role names as written in card files (codes from protocol/crypto MemberRole). */
export type MemberRoleName = keyof typeof MemberRole;

/** One household member on the card: certificate fields plus the enrolled template. */
export interface CardFileMember {
  readonly index: number;
  readonly role: MemberRoleName;
  /** Display name (not certified; the simulator and demos show it). */
  readonly name?: string;
  /** Enrolled fingerprint template, {@link TEMPLATE_BYTES} bytes. */
  readonly template: Uint8Array;
}

/** A card file's content. */
export interface CardFileData {
  readonly cardId: string;
  readonly householdId: string;
  /** Governorate code (the two digits of the national id: 1 Cairo, 2 Alexandria, 3 Port Said, …). */
  readonly governorate: number;
  readonly cardSerial: number;
  /** Unix seconds. */
  readonly validFrom: number;
  readonly validUntil: number;
  readonly members: readonly CardFileMember[];
  /** The card's Ed25519 seed (the secure element's secret). */
  readonly seed: Uint8Array;
  /** The issuer's card certificate (protocol/crypto encoding). */
  readonly certificate: Uint8Array;
  /** Last transaction counter used (0 = none yet). */
  readonly counter: number;
}

interface CardFileJson {
  format: typeof CARD_FILE_FORMAT;
  cardId: string;
  householdId: string;
  governorate: number;
  cardSerial: number;
  validFrom: number;
  validUntil: number;
  members: { index: number; role: MemberRoleName; name?: string; template: string }[];
  seed: string;
  certificate: string;
  counter: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Card file JSON text for `data`. */
export function serializeCardFile(data: CardFileData): string {
  const json: CardFileJson = {
    format: CARD_FILE_FORMAT,
    cardId: data.cardId,
    householdId: data.householdId,
    governorate: data.governorate,
    cardSerial: data.cardSerial,
    validFrom: data.validFrom,
    validUntil: data.validUntil,
    members: data.members.map((m) => ({
      index: m.index,
      role: m.role,
      ...(m.name !== undefined ? { name: m.name } : {}),
      template: hex(m.template),
    })),
    seed: hex(data.seed),
    certificate: hex(data.certificate),
    counter: data.counter,
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}

/**
 * Parses and cross-checks card file text: every field typed and in range, the certificate
 * well formed, and the certificate agreeing with the file (public key of the seed, ids,
 * governorate, members and roles, validity). Throws HardwareError CARD_FILE_INVALID.
 * The certificate's issuer signature is not checked here (the host does that).
 */
export function parseCardFile(text: string, ed: Ed25519): CardFileData {
  const bad = (why: string): never => {
    throw new HardwareError('CARD_FILE_INVALID', `card file invalid: ${why}`);
  };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return bad('not JSON');
  }
  const j = v as Partial<CardFileJson> | null;
  if (!j || typeof j !== 'object' || j.format !== CARD_FILE_FORMAT) return bad(`format is not ${CARD_FILE_FORMAT}`);
  const seed = hexField(j.seed, 32) ?? bad('seed');
  const certificate = hexField(j.certificate) ?? bad('certificate');
  if (!isUint(j.counter, MAX_CARD_COUNTER)) return bad('counter');
  if (!Array.isArray(j.members)) return bad('members');
  const members: CardFileMember[] = j.members.map((m: unknown, i) => {
    const mm = m as Partial<CardFileJson['members'][number]> | null;
    if (!mm || typeof mm !== 'object') return bad(`member ${i}`);
    if (!isUint(mm.index, 255)) return bad(`member ${i} index`);
    if (typeof mm.role !== 'string' || !Object.hasOwn(MemberRole, mm.role)) return bad(`member ${i} role`);
    if (mm.name !== undefined && typeof mm.name !== 'string') return bad(`member ${i} name`);
    const template = hexField(mm.template, TEMPLATE_BYTES) ?? bad(`member ${i} template`);
    return { index: mm.index, role: mm.role, ...(mm.name !== undefined ? { name: mm.name } : {}), template };
  });
  let cert: CardCertificate;
  try {
    cert = parseCardCertificate(certificate);
  } catch (e) {
    return bad(`certificate: ${e instanceof UnicardError ? e.code : 'unreadable'}`);
  }
  let publicKey: Uint8Array;
  try {
    publicKey = ed.publicKeyFromSeed(seed);
  } catch {
    return bad('seed');
  }
  if (!Buffer.from(publicKey).equals(Buffer.from(cert.subjectPublicKey))) return bad('certificate is for another key');
  if (j.cardId !== cert.cardId || j.householdId !== cert.householdId || j.governorate !== cert.governorate) {
    return bad('card id, household or governorate differ from the certificate');
  }
  if (j.cardSerial !== cert.cardSerial || j.validFrom !== cert.validFrom || j.validUntil !== cert.validUntil) {
    return bad('serial or validity differ from the certificate');
  }
  if (
    members.length !== cert.members.length ||
    members.some((m, i) => m.index !== cert.members[i]?.index || MemberRole[m.role] !== cert.members[i]?.role)
  ) {
    return bad('members differ from the certificate');
  }
  return {
    cardId: cert.cardId,
    householdId: cert.householdId,
    governorate: cert.governorate,
    cardSerial: cert.cardSerial,
    validFrom: cert.validFrom,
    validUntil: cert.validUntil,
    members,
    seed,
    certificate,
    counter: j.counter,
  };
}

/** Reads and parses a card file (see {@link parseCardFile}). */
export async function loadCardFile(path: string, ed: Ed25519): Promise<CardFileData> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new HardwareError('CARD_FILE_INVALID', `cannot read card file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return parseCardFile(text, ed);
}

/** Writes a card file atomically with mode 0600. */
export function saveCardFile(path: string, data: CardFileData, options: Omit<AtomicWriteOptions, 'mode'> = {}): Promise<void> {
  return writeFileAtomic(path, serializeCardFile(data), { ...options, mode: 0o600 });
}

/** Role code of a role name. */
export function roleCode(role: MemberRoleName): MemberRoleCode {
  return MemberRole[role];
}

function hexField(v: unknown, length?: number): Uint8Array | undefined {
  if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-f]*$/.test(v)) return undefined;
  if (length !== undefined && v.length !== length * 2) return undefined;
  return new Uint8Array(Buffer.from(v, 'hex'));
}

function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}
