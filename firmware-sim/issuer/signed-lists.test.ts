import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { keyIdOf } from '../../protocol/crypto/signed-structure.js';
import { CryptoError } from '../../protocol/errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { seededRandomBytes } from '../hardware/random.js';
import {
  parseRevocationList,
  parseRoster,
  signRevocationList,
  signRoster,
  verifyRevocationList,
  verifyRoster,
  type RosterEntry,
} from './signed-lists.js';

const ed = new NodeEd25519();
const random = seededRandomBytes('signed lists');
const issuerSeed = random(32);
const issuerKey = ed.publicKeyFromSeed(issuerSeed);
const trusted = trustedKeysOf([issuerKey]);
const otherSeed = random(32);

const entries: RosterEntry[] = [
  { cardId: 'PSD-000002', cardSerial: 1, householdId: 'HH-2', householdSize: 2, governorate: 3, state: 'active', since: 1_767_225_600 },
  { cardId: 'PSD-000001', cardSerial: 2, householdId: 'HH-1', householdSize: 5, governorate: 3, state: 'active', since: 1_767_225_600 },
  { cardId: 'PSD-000001', cardSerial: 1, householdId: 'HH-1', householdSize: 5, governorate: 3, state: 'replaced', since: 1_790_000_000 },
  { cardId: 'CAI-000001', cardSerial: 1, householdId: 'HH-9', householdSize: 4, governorate: 1, state: 'suspended', since: 1_795_000_000 },
];
const roster = signRoster(ed, issuerSeed, { sequence: 7, issuedAt: 1_795_100_000, entries });
const revocation = signRevocationList(ed, issuerSeed, {
  sequence: 3,
  issuedAt: 1_795_100_000,
  cards: [
    { cardId: 'PSD-000001', cardSerial: 1, revokedAt: 1_790_000_000, reason: 'replaced' },
    { cardId: 'ALX-000004', cardSerial: 1, revokedAt: 1_791_000_000, reason: 'clone_suspected' },
  ],
  terminals: [{ terminalId: 'SIM0666', revokedAt: 1_780_000_000, reason: 'compromised' }],
});

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return (e as CryptoError).code;
  }
  return 'ok';
};

describe('roster', () => {
  it('verifies under the issuer root, entries sorted by (cardId, serial)', () => {
    const r = verifyRoster(roster, trusted, ed);
    expect(r.sequence).toBe(7);
    expect(r.issuedAt).toBe(1_795_100_000);
    expect(r.issuerKeyId).toEqual(keyIdOf(issuerKey));
    expect(r.entries.map((e) => `${e.cardId}/${e.cardSerial}`)).toEqual(['CAI-000001/1', 'PSD-000001/1', 'PSD-000001/2', 'PSD-000002/1']);
    expect(r.entries[0]).toEqual(entries[3]);
  });

  it('is refused under another key, with a flipped bit, or as another kind of list', () => {
    expect(code(() => verifyRoster(roster, trustedKeysOf([ed.publicKeyFromSeed(otherSeed)]), ed))).toBe('KEY_UNKNOWN');
    const forged = signRoster(ed, otherSeed, { sequence: 7, issuedAt: 1, entries });
    expect(code(() => verifyRoster(forged, trusted, ed))).toBe('KEY_UNKNOWN');
    const flipped = Uint8Array.from(roster);
    flipped[flipped.length - 1]! ^= 1;
    expect(code(() => verifyRoster(flipped, trusted, ed))).toBe('SIG_INVALID');
    expect(code(() => verifyRoster(revocation, trusted, ed))).toBe('STRUCT_WRONG_DOMAIN');
    expect(code(() => verifyRevocationList(roster, trusted, ed))).toBe('STRUCT_WRONG_DOMAIN');
  });

  it('refuses to sign entries a verifier would refuse', () => {
    const dup = [entries[0]!, entries[0]!];
    expect(code(() => signRoster(ed, issuerSeed, { sequence: 1, issuedAt: 1, entries: dup }))).toBe('STRUCT_MALFORMED');
    const big = [{ ...entries[0]!, householdSize: 0 }];
    expect(code(() => signRoster(ed, issuerSeed, { sequence: 1, issuedAt: 1, entries: big }))).toBe('STRUCT_MALFORMED');
    const gov = [{ ...entries[0]!, governorate: 100 }];
    expect(code(() => signRoster(ed, issuerSeed, { sequence: 1, issuedAt: 1, entries: gov }))).toBe('STRUCT_MALFORMED');
  });

  it('handles an empty roster and a large one', () => {
    expect(verifyRoster(signRoster(ed, issuerSeed, { sequence: 1, issuedAt: 1, entries: [] }), trusted, ed).entries).toEqual([]);
    const many: RosterEntry[] = Array.from({ length: 42_000 }, (_, i) => ({
      cardId: `PSD-${String(i).padStart(6, '0')}`,
      cardSerial: 1,
      householdId: `HH-03-${i}`,
      householdSize: 1 + (i % 9),
      governorate: 3,
      state: 'active',
      since: 1_767_225_600,
    }));
    const bytes = signRoster(ed, issuerSeed, { sequence: 2, issuedAt: 1, entries: many });
    expect(verifyRoster(bytes, trusted, ed).entries).toHaveLength(42_000);
  });
});

describe('revocation list', () => {
  it('verifies, sorted, with card and terminal entries', () => {
    const r = verifyRevocationList(revocation, trusted, ed);
    expect(r.sequence).toBe(3);
    expect(r.cards.map((c) => c.cardId)).toEqual(['ALX-000004', 'PSD-000001']);
    expect(r.cards[1]).toEqual({ cardId: 'PSD-000001', cardSerial: 1, revokedAt: 1_790_000_000, reason: 'replaced' });
    expect(r.terminals).toEqual([{ terminalId: 'SIM0666', revokedAt: 1_780_000_000, reason: 'compromised' }]);
  });
});

describe('fuzz', () => {
  it('fuzz: random and mutated bytes parse or fail with a typed error', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.constantFrom(roster, revocation), fc.nat(), fc.nat(255)).map(([b, pos, x]) => mutate(b, pos, x)),
      fc.nat(roster.length - 1).map((n) => roster.subarray(0, n)),
    );
    fc.assert(
      fc.property(input, fc.boolean(), (bytes, asRoster) => {
        try {
          (asRoster ? parseRoster : parseRevocationList)(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(CryptoError);
        }
      }),
      { numRuns: fuzzRuns(5000) },
    );
  });
});

function mutate(b: Uint8Array, pos: number, x: number): Uint8Array {
  const out = Uint8Array.from(b);
  out[pos % out.length] = x;
  return out;
}
