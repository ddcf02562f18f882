import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCanonical, type CborValue } from '../cbor-codec.js';
import { UnicardError } from '../errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { toHex } from './bytes.js';
import {
  issueCardCertificate,
  issueDeviceCertificate,
  MemberRole,
  parseCardCertificate,
  parseDeviceCertificate,
  trustedKeysOf,
  verifyCardCertificate,
  verifyDeviceCertificate,
  type CardCertificateFields,
} from './certificates.js';
import { TEST_SEEDS, TEST_VALIDITY, testBytes, testCardCertificateFields, testDeviceCertificateFields } from './crypto-vectors.js';
import { Domain } from './domains.js';
import { NodeEd25519, TweetnaclEd25519 } from './ed25519.js';
import { encodeSignedStructure, keyIdHex, keyIdOf, signStructure } from './signed-structure.js';

const ed = new NodeEd25519();
const issuerPub = ed.publicKeyFromSeed(TEST_SEEDS.issuerRoot);
const vendorPub = ed.publicKeyFromSeed(TEST_SEEDS.vendorRoot);
const issuers = trustedKeysOf([issuerPub]);
const vendors = trustedKeysOf([vendorPub]);
const cardFields = testCardCertificateFields(ed);
const deviceFields = testDeviceCertificateFields(ed);
const card = issueCardCertificate(ed, TEST_SEEDS.issuerRoot, cardFields);
const device = issueDeviceCertificate(ed, TEST_SEEDS.vendorRoot, deviceFields);
const now = TEST_VALIDITY.validFrom + 1000;

const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof UnicardError) return e.code;
    throw e;
  }
};
const certCodes = ['CERT_MALFORMED', 'CERT_WRONG_DOMAIN', 'CERT_BAD_SIGNATURE', 'CERT_UNKNOWN_ISSUER', 'CERT_EXPIRED', 'CERT_NOT_YET_VALID'];

/** A certificate with a hand-made body (to reach parser branches the issuer refuses to sign). */
function rawCert(domain: string, entries: [number, CborValue][]): Uint8Array {
  return encodeSignedStructure(signStructure(ed, TEST_SEEDS.issuerRoot, domain, new Map(entries)));
}
const baseCard = (): [number, CborValue][] => [
  [1, keyIdOf(issuerPub)],
  [2, cardFields.subjectPublicKey],
  [3, cardFields.validFrom],
  [4, cardFields.validUntil],
  [5, cardFields.cardId],
  [6, cardFields.householdId],
  [7, cardFields.governorate],
  [8, cardFields.members.map((m) => [m.index, m.role])],
  [9, cardFields.cardSerial],
];

describe('card certificates', () => {
  it('issue → parse → verify round-trips every field', () => {
    for (const impl of [ed, new TweetnaclEd25519()]) {
      const c = verifyCardCertificate(card, issuers, now, impl);
      expect(c.cardId).toBe('EG-03-000042');
      expect(c.householdId).toBe('PS-HH-0017');
      expect(c.governorate).toBe(3);
      expect(c.members).toEqual(cardFields.members);
      expect(c.cardSerial).toBe(1);
      expect(c.subjectPublicKey).toEqual(cardFields.subjectPublicKey);
      expect(c.issuerKeyId).toEqual(keyIdOf(issuerPub));
      expect([c.validFrom, c.validUntil]).toEqual([TEST_VALIDITY.validFrom, TEST_VALIDITY.validUntil]);
      expect(c.bytes).toEqual(card);
    }
  });
  it('accepts a lookup function as well as a map', () => {
    const lookup = (id: Uint8Array): Uint8Array | undefined => (toHex(id) === keyIdHex(issuerPub) ? issuerPub : undefined);
    expect(codeOf(() => verifyCardCertificate(card, lookup, now, ed))).toBe('ok');
  });
  it('every error code', () => {
    expect(codeOf(() => verifyCardCertificate(device, issuers, now, ed))).toBe('CERT_WRONG_DOMAIN');
    expect(codeOf(() => verifyCardCertificate(card, vendors, now, ed))).toBe('CERT_UNKNOWN_ISSUER');
    const forged = new Uint8Array(card);
    forged[forged.length - 10] = (forged[forged.length - 10] as number) ^ 4;
    expect(codeOf(() => verifyCardCertificate(forged, issuers, now, ed))).toBe('CERT_BAD_SIGNATURE');
    // Signed by a stranger key but naming the real issuer's key id: bad signature, not unknown issuer.
    const impostor = signStructure(ed, testBytes('impostor'), Domain.cardCert, new Map(baseCard()));
    expect(codeOf(() => verifyCardCertificate(encodeSignedStructure(impostor), issuers, now, ed))).toBe('CERT_BAD_SIGNATURE');
    expect(codeOf(() => verifyCardCertificate(card, issuers, TEST_VALIDITY.validFrom - 1, ed))).toBe('CERT_NOT_YET_VALID');
    expect(codeOf(() => verifyCardCertificate(card, issuers, TEST_VALIDITY.validUntil + 1, ed))).toBe('CERT_EXPIRED');
    expect(codeOf(() => verifyCardCertificate(card, issuers, Number.NaN, ed))).toBe('CERT_NOT_YET_VALID');
    expect(codeOf(() => verifyCardCertificate(card.subarray(1), issuers, now, ed))).toBe('CERT_MALFORMED');
  });
  it('the parser refuses bodies with missing, extra, mistyped or out-of-range fields', () => {
    const variants: [string, [number, CborValue][]][] = [
      ['missing card serial', baseCard().filter(([k]) => k !== 9)],
      ['unknown key 10', [...baseCard(), [10, 1]]],
      ['issuer key id of 7 bytes', baseCard().map(([k, v]) => [k, k === 1 ? new Uint8Array(7) : v])],
      ['subject key as text', baseCard().map(([k, v]) => [k, k === 2 ? 'key' : v])],
      ['negative valid-from', baseCard().map(([k, v]) => [k, k === 3 ? -1 : v])],
      ['valid-until before valid-from', baseCard().map(([k, v]) => [k, k === 4 ? cardFields.validFrom - 1 : v])],
      ['empty card id', baseCard().map(([k, v]) => [k, k === 5 ? '' : v])],
      ['governorate 100', baseCard().map(([k, v]) => [k, k === 7 ? 100 : v])],
      ['no members', baseCard().map(([k, v]) => [k, k === 8 ? [] : v])],
      ['member role 4', baseCard().map(([k, v]) => [k, k === 8 ? [[0, 4]] : v])],
      ['member as a number', baseCard().map(([k, v]) => [k, k === 8 ? [0] : v])],
      ['member of three items', baseCard().map(([k, v]) => [k, k === 8 ? [[0, 0, 0]] : v])],
      ['duplicate member index', baseCard().map(([k, v]) => [k, k === 8 ? [[0, 0], [0, 1]] : v])],
      ['decreasing member index', baseCard().map(([k, v]) => [k, k === 8 ? [[1, 0], [0, 1]] : v])],
      ['serial as bigint-size number', baseCard().map(([k, v]) => [k, k === 9 ? 2n ** 60n : v])],
    ];
    for (const [name, entries] of variants) {
      expect(codeOf(() => parseCardCertificate(rawCert(Domain.cardCert, entries))), name).toBe('CERT_MALFORMED');
    }
    // Text key in the body, body not a map, domain not text.
    const textKey = encodeSignedStructure({ body: encodeCanonical(new Map<string | number, CborValue>([[0, Domain.cardCert], ['x', 1]])), signature: new Uint8Array(64) });
    expect(codeOf(() => parseCardCertificate(textKey))).toBe('CERT_MALFORMED');
    const notMap = encodeSignedStructure({ body: encodeCanonical([Domain.cardCert]), signature: new Uint8Array(64) });
    expect(codeOf(() => parseCardCertificate(notMap))).toBe('CERT_MALFORMED');
  });
  it('issuing refuses fields the parser would refuse', () => {
    const bad: Partial<CardCertificateFields>[] = [
      { members: [] },
      { members: [{ index: 2, role: MemberRole.head }, { index: 1, role: MemberRole.spouse }] },
      { governorate: 1000 },
      { cardId: '' },
      { cardId: 'x'.repeat(65) },
      { validUntil: cardFields.validFrom - 1 },
      { subjectPublicKey: new Uint8Array(33) },
      { cardSerial: 1.5 },
    ];
    for (const b of bad) {
      expect(codeOf(() => issueCardCertificate(ed, TEST_SEEDS.issuerRoot, { ...cardFields, ...b })), JSON.stringify(Object.keys(b))).toBe('CERT_MALFORMED');
    }
    expect(codeOf(() => issueCardCertificate(ed, new Uint8Array(3), cardFields))).toBe('KEY_INVALID');
  });
});

describe('device certificates', () => {
  it('issue → verify round-trips', () => {
    const d = verifyDeviceCertificate(device, vendors, now, new TweetnaclEd25519());
    expect([d.terminalId, d.vendor, d.model]).toEqual(['T-PS-0001', 'ACME Terminals', 'UC-100']);
    expect(d.subjectPublicKey).toEqual(deviceFields.subjectPublicKey);
  });
  it('a card certificate is not a device certificate, and roots do not cross', () => {
    expect(codeOf(() => verifyDeviceCertificate(card, vendors, now, ed))).toBe('CERT_WRONG_DOMAIN');
    expect(codeOf(() => parseDeviceCertificate(card))).toBe('CERT_WRONG_DOMAIN');
    expect(codeOf(() => verifyDeviceCertificate(device, issuers, now, ed))).toBe('CERT_UNKNOWN_ISSUER');
  });
  it('a card-auth or any other signed structure offered as a certificate is CERT_WRONG_DOMAIN', () => {
    const other = encodeSignedStructure(signStructure(ed, TEST_SEEDS.vendorRoot, Domain.cardAuth, new Map([[1, 1]])));
    expect(codeOf(() => verifyDeviceCertificate(other, vendors, now, ed))).toBe('CERT_WRONG_DOMAIN');
  });
  it('issuing refuses bad fields', () => {
    expect(codeOf(() => issueDeviceCertificate(ed, TEST_SEEDS.vendorRoot, { ...deviceFields, model: '' }))).toBe('CERT_MALFORMED');
    expect(codeOf(() => issueDeviceCertificate(ed, TEST_SEEDS.vendorRoot, { ...deviceFields, validFrom: -5 }))).toBe('CERT_MALFORMED');
  });
});

describe('certificate fuzz', () => {
  it('fuzz: random bytes end in a typed CERT_* error only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, asCard) => {
        const c = codeOf(() => (asCard ? verifyCardCertificate(bytes, issuers, now, ed) : verifyDeviceCertificate(bytes, vendors, now, ed)));
        expect(certCodes).toContain(c);
      }),
      { numRuns: fuzzRuns(20000) },
    );
  });
  it('fuzz: mutated genuine certificates never verify and end in a typed CERT_* error', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: -3, max: 3 }),
        (asCard, edits, lengthChange) => {
          const original = asCard ? card : device;
          let m = new Uint8Array(original);
          for (const [pos, value] of edits) m[pos % m.length] = value;
          if (lengthChange < 0) m = m.subarray(0, m.length + lengthChange);
          else if (lengthChange > 0) m = new Uint8Array([...m, ...new Array<number>(lengthChange).fill(0)]);
          const c = codeOf(() => (asCard ? verifyCardCertificate(m, issuers, now, ed) : verifyDeviceCertificate(m, vendors, now, ed)));
          const same = m.length === original.length && m.every((b, i) => b === original[i]);
          if (same) expect(c).toBe('ok');
          else expect(certCodes).toContain(c);
        },
      ),
      { numRuns: fuzzRuns(20000) },
    );
  });
});
