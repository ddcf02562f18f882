import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/crypto/bytes.js';
import { exampleVector, renderLedgerDoc } from './ledger-doc.js';
import { parseReceiptBody, receiptId } from './receipt.js';
import { ReceiptChainVerifier } from './verify-ledger.js';

const DOC = fileURLToPath(new URL('../../LEDGER.md', import.meta.url));
const VECTOR = fileURLToPath(new URL('../../test/vectors/ledger-receipt.json', import.meta.url));

describe('LEDGER.md and the receipt vector', () => {
  it('LEDGER.md shows the schema and the worked example the code produces (regenerate: node --import tsx daemon/ledger/ledger-doc.ts --write)', () => {
    const doc = readFileSync(DOC, 'utf8');
    expect(renderLedgerDoc(doc)).toBe(doc);
  });

  it('the vector is what the code produces, and it verifies with the public keys alone', () => {
    const v = JSON.parse(readFileSync(VECTOR, 'utf8')) as Record<string, string | number>;
    expect(v).toEqual(exampleVector());
    const body = fromHex(v.body as string);
    expect(toHex(receiptId(body))).toBe(v.id);
    expect(parseReceiptBody(body)).toMatchObject({ seq: 42, householdId: 'HH-03-0001', service: 'bread' });
    const verifier = new ReceiptChainVerifier(
      { issuerRoots: [fromHex(v.issuerPublicKey as string)], vendorRoots: [fromHex(v.vendorPublicKey as string)], daemonPublicKeys: [fromHex(v.daemonPublicKey as string)] },
      {},
      { seq: 41, id: fromHex(v.prev as string) },
    );
    verifier.add({ seq: 42, body, signature: fromHex(v.signature as string), id: fromHex(v.id as string), terminalCertificate: fromHex(v.terminalCertificate as string) });
    expect(verifier.problems).toEqual([]);
    expect(verifier.warnings).toEqual([]);
    // One flipped bit anywhere in the body is found.
    const bad = new Uint8Array(body);
    bad[100] = (bad[100] as number) ^ 0x10;
    const v2 = new ReceiptChainVerifier({ issuerRoots: [fromHex(v.issuerPublicKey as string)], vendorRoots: [], daemonPublicKeys: [fromHex(v.daemonPublicKey as string)] }, {}, { seq: 41, id: fromHex(v.prev as string) });
    v2.add({ seq: 42, body: bad, signature: fromHex(v.signature as string), id: fromHex(v.id as string) });
    expect(v2.problems.map((p) => p.code)).toContain('RECEIPT_ID_MISMATCH');
  });
});
