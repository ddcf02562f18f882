import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCanonical, encodeCanonical } from '../../protocol/cbor-codec.js';
import { sha512, toHex, utf8 } from '../../protocol/crypto/bytes.js';
import { Domain } from '../../protocol/crypto/domains.js';
import { UnicardError } from '../../protocol/errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { CborWriter } from './cbor-writer.js';
import { LedgerError } from './ledger-error.js';
import type { ReceiptFields } from './ledger-types.js';
import { SERVICE_NAMES } from './ledger-types.js';
import { encodeReceiptBody, encodeReceiptBodyReference, parseReceiptBody, receiptId, receiptSignedBytes, receiptSigner, signReceiptBody } from './receipt.js';
import { NodeEd25519, TweetnaclEd25519 } from '../../protocol/crypto/ed25519.js';

/** Runs of a slow property: the default here, a share of `make fuzz`'s long count. */
const slowRuns = (defaultRuns: number, share: number): number => Math.max(defaultRuns, Math.floor(fuzzRuns(defaultRuns) / share));

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

function sample(over: Partial<ReceiptFields> = {}): ReceiptFields {
  return {
    authorizationId: '0194f0c2a1b2c3d4e5f60718293a4b5c',
    seq: 7,
    prev: bytes(64, 2),
    time: 1_795_161_600_000,
    shopId: 'PS-BAKERY-0042',
    terminalId: 'SIM0001',
    terminalCertificateHash: bytes(64, 3),
    householdId: 'H1',
    cardCertificate: bytes(300, 4),
    cardAuth: { body: bytes(150, 5), signature: bytes(64, 6) },
    holderVerify: { body: bytes(80, 7), signature: bytes(64, 8) },
    supervisor: undefined,
    service: 'bread',
    lines: [{ item: 'loaf', quantity: 25, piastres: 500 }],
    usage: [
      { period: '2026-11-20', item: 'loaf', quantity: 15, piastres: 300 },
      { period: '2026-11-21', item: 'loaf', quantity: 10, piastres: 200 },
    ],
    daemonKeyId: bytes(8, 9),
    ...over,
  };
}

const idText = fc.string({ minLength: 1, maxLength: 64, unit: 'grapheme-ascii' });
const amount = fc.integer({ min: 1, max: 2 ** 48 });
const day = fc.date({ min: new Date(Date.UTC(2000, 0, 1)), max: new Date(Date.UTC(2099, 11, 31)), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));

/** Random well-formed receipt fields: lines derived from usage so they are consistent. */
const receiptFields: fc.Arbitrary<ReceiptFields> = fc
  .record({
    authorizationId: idText,
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    prev: fc.uint8Array({ minLength: 64, maxLength: 64 }),
    time: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    shopId: idText,
    terminalId: idText,
    terminalCertificateHash: fc.uint8Array({ minLength: 64, maxLength: 64 }),
    householdId: fc.string({ minLength: 1, maxLength: 64 }),
    cardCertificate: fc.uint8Array({ minLength: 1, maxLength: 600 }),
    cardAuth: fc.record({ body: fc.uint8Array({ minLength: 1, maxLength: 300 }), signature: fc.uint8Array({ minLength: 64, maxLength: 64 }) }),
    holderVerify: fc.option(fc.record({ body: fc.uint8Array({ minLength: 1, maxLength: 200 }), signature: fc.uint8Array({ minLength: 64, maxLength: 64 }) }), { nil: undefined }),
    supervisor: fc.option(
      fc.record({
        supervisorId: idText,
        reason: fc.string({ minLength: 1, maxLength: 128 }),
        card: fc.option(
          fc.record({
            certificate: fc.uint8Array({ minLength: 1, maxLength: 400 }),
            cardAuth: fc.record({ body: fc.uint8Array({ minLength: 1, maxLength: 300 }), signature: fc.uint8Array({ minLength: 64, maxLength: 64 }) }),
          }),
          { nil: undefined },
        ),
      }),
      { nil: undefined },
    ),
    service: fc.constantFrom(...SERVICE_NAMES),
    usage: fc.uniqueArray(fc.record({ period: day, item: fc.constantFrom('loaf', 'sugar', 'oil', 'سكر'), quantity: fc.integer({ min: 1, max: 2 ** 40 }), piastres: fc.integer({ min: 0, max: 2 ** 40 }) }), {
      minLength: 1,
      maxLength: 8,
      selector: (u) => `${u.period}/${u.item}`,
    }),
    daemonKeyId: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  })
  .filter((f) => f.holderVerify !== undefined || f.supervisor !== undefined)
  .map((f) => {
    const lines = new Map<string, { item: string; quantity: number; piastres: number }>();
    for (const u of f.usage) {
      const l = lines.get(u.item) ?? { item: u.item, quantity: 0, piastres: 0 };
      l.quantity += u.quantity;
      l.piastres += u.piastres;
      lines.set(u.item, l);
    }
    const supervisor = f.supervisor === undefined ? undefined : f.supervisor.card === undefined ? { supervisorId: f.supervisor.supervisorId, reason: f.supervisor.reason } : f.supervisor;
    return { ...f, supervisor, lines: [...lines.values()] } as ReceiptFields;
  });

describe('receipt body', () => {
  it('round-trips through canonical CBOR with the domain at key 0', () => {
    const f = sample();
    const body = encodeReceiptBody(f);
    const map = decodeCanonical(body) as Map<number, unknown>;
    expect(map.get(0)).toBe(Domain.receipt);
    expect([...map.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16]);
    expect(parseReceiptBody(body)).toEqual(f);
  });

  it('property: the fast writer produces exactly the canonical encoder output, and it parses back', () => {
    fc.assert(
      fc.property(receiptFields, (f) => {
        const fast = encodeReceiptBody(f);
        expect(toHex(fast)).toBe(toHex(encodeReceiptBodyReference(f)));
        expect(parseReceiptBody(fast)).toEqual(f);
      }),
      { numRuns: slowRuns(300, 100) },
    );
  });

  it('property: the CBOR writer matches the canonical encoder on unsigned integers and strings', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.string(), fc.uint8Array({ maxLength: 300 })), { maxLength: 20 }), (items) => {
        const w = new CborWriter(4);
        w.array(items.length);
        for (const v of items) {
          if (typeof v === 'number') w.uint(v);
          else if (typeof v === 'string') w.text(v);
          else w.bytes(v);
        }
        expect(toHex(w.finish())).toBe(toHex(encodeCanonical(items)));
      }),
      { numRuns: slowRuns(1000, 10) },
    );
    expect(() => new CborWriter().text('\ud800')).toThrow(RangeError);
    expect(() => new CborWriter().uint(-1)).toThrow(RangeError);
  });

  it('refuses ill-formed receipts with RECEIPT_MALFORMED naming the key', () => {
    const cases: [Partial<ReceiptFields>, number][] = [
      [{ seq: 0 }, 2],
      [{ prev: bytes(63) }, 3],
      [{ householdId: '' }, 8],
      [{ holderVerify: undefined }, 11],
      [{ lines: [{ item: 'loaf', quantity: 24, piastres: 500 }] }, 14],
      [{ lines: [] }, 14],
      [{ usage: [{ period: '2026-02-30', item: 'loaf', quantity: 25, piastres: 500 }] }, 15],
      [
        {
          usage: [
            { period: '2026-11-20', item: 'loaf', quantity: 20, piastres: 400 },
            { period: '2026-11-20', item: 'loaf', quantity: 5, piastres: 100 },
          ],
        },
        15,
      ],
      [{ daemonKeyId: bytes(7) }, 16],
    ];
    for (const [over, key] of cases) {
      let err: unknown;
      try {
        encodeReceiptBody(sample(over));
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(Object.keys(over))).toBeInstanceOf(LedgerError);
      expect((err as LedgerError).code).toBe('RECEIPT_MALFORMED');
      expect((err as LedgerError).detail).toMatchObject({ key });
    }
    const withUnknown = new Map(decodeCanonical(encodeReceiptBody(sample())) as Map<number, never>);
    withUnknown.set(99 as never, 1 as never);
    expect(() => parseReceiptBody(encodeCanonical(withUnknown as never))).toThrowError(expect.objectContaining({ code: 'RECEIPT_MALFORMED' }));
    const otherDomain = new Map(decodeCanonical(encodeReceiptBody(sample())) as Map<number, never>);
    otherDomain.set(0 as never, Domain.cardAuth as never);
    expect(() => parseReceiptBody(encodeCanonical(otherDomain as never))).toThrowError(expect.objectContaining({ code: 'RECEIPT_MALFORMED' }));
  });

  it('fuzz: any mutation of a body either parses or fails with a typed error', () => {
    const body = encodeReceiptBody(sample({ supervisor: { supervisorId: 'S', reason: 'r', card: { certificate: bytes(10), cardAuth: { body: bytes(10), signature: bytes(64) } } } }));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), (edits, cut) => {
        const b = new Uint8Array(body);
        for (const [pos, v] of edits) b[pos % b.length] = v;
        for (const candidate of [b, b.subarray(0, cut % (b.length + 1))]) {
          try {
            parseReceiptBody(candidate);
          } catch (e) {
            expect(e).toBeInstanceOf(UnicardError);
            expect((e as UnicardError).code).toBe('RECEIPT_MALFORMED');
          }
        }
      }),
      { numRuns: slowRuns(2000, 10) },
    );
  });

  it('receiptSigner signs exactly as Ed25519.sign does, with node:crypto and tweetnacl', () => {
    const body = encodeReceiptBody(sample());
    const seed = bytes(32, 42);
    for (const ed of [new NodeEd25519(), new TweetnaclEd25519()]) {
      const fast = receiptSigner(ed, seed)(body);
      const plain = signReceiptBody(ed, seed, body);
      expect(toHex(fast.signature)).toBe(toHex(plain.signature));
      expect(toHex(fast.id)).toBe(toHex(receiptId(body)));
      expect(ed.verify(ed.publicKeyFromSeed(seed), receiptSignedBytes(body), fast.signature)).toBe(true);
    }
  });

  it('is identified by SHA-512 of domain ‖ 0x00 ‖ body', () => {
    const body = encodeReceiptBody(sample());
    expect(receiptSignedBytes(body)).toEqual(new Uint8Array([...utf8('unicard/v1/receipt'), 0, ...body]));
    expect(receiptId(body)).toEqual(sha512(utf8('unicard/v1/receipt'), new Uint8Array([0]), body));
  });
});
