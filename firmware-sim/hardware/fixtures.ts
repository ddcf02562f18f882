/**
 * In-memory fixtures for tests of the terminal: an issuer root and cards issued under it,
 * without touching the file system. Deterministic when given a seeded RandomBytes.
 * (The issuer toolkit makes the same things as files; see firmware-sim/issuer/.)
 */
import { issueCardCertificate, MemberRole, trustedKeysOf } from '../../protocol/crypto/certificates.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import type { TrustedKeys } from '../../protocol/crypto/signed-structure.js';
import type { CardFileData, MemberRoleName } from './card-file.js';
import { newTemplate } from './fingerprint-template.js';
import type { RandomBytes } from './random.js';

/** An issuer root held in memory. */
export interface TestIssuer {
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly trusted: TrustedKeys;
}

/** A fresh issuer root. */
export function makeTestIssuer(ed: Ed25519, random: RandomBytes): TestIssuer {
  const seed = random(32);
  const publicKey = ed.publicKeyFromSeed(seed);
  return { seed, publicKey, trusted: trustedKeysOf([publicKey]) };
}

export interface TestCardOptions {
  cardId?: string;
  householdId?: string;
  governorate?: number;
  /** Member roles in index order (default head, spouse, dependant, dependant). */
  roles?: readonly MemberRoleName[];
  cardSerial?: number;
  /** Unix seconds. */
  validFrom?: number;
  validUntil?: number;
  counter?: number;
}

/** Card data (what a card file holds) issued by `issuer`. */
export function makeTestCard(ed: Ed25519, random: RandomBytes, issuer: TestIssuer, o: TestCardOptions = {}): CardFileData {
  const seed = random(32);
  const roles = o.roles ?? ['head', 'spouse', 'dependant', 'dependant'];
  const members = roles.map((role, index) => ({ index, role, template: newTemplate(random) }));
  const fields = {
    cardId: o.cardId ?? 'PSD-TEST-1',
    householdId: o.householdId ?? 'HH-03-TEST-1',
    governorate: o.governorate ?? 3,
    cardSerial: o.cardSerial ?? 1,
    validFrom: o.validFrom ?? 1_767_225_600, // 2026-01-01
    validUntil: o.validUntil ?? 1_924_992_000, // 2031-01-01
  };
  const certificate = issueCardCertificate(ed, issuer.seed, {
    ...fields,
    subjectPublicKey: ed.publicKeyFromSeed(seed),
    members: members.map((m) => ({ index: m.index, role: MemberRole[m.role] })),
  });
  return { ...fields, members, seed, certificate, counter: o.counter ?? 0 };
}
