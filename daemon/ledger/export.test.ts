import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/crypto/bytes.js';
import { EXPORT_FORMAT, exportReceipts, parseExportLine, verifyExport, type ExportHeader, type ExportReceiptLine } from './export.js';
import { LedgerHarness, T0 } from './ledger-test-kit.js';

const harnesses: LedgerHarness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.dispose();
});

async function filled(n: number): Promise<LedgerHarness> {
  const h = new LedgerHarness('export');
  harnesses.push(h);
  for (let i = 0; i < n; i++) {
    const card = h.world.card(`H${i % 4}`, 3);
    const req =
      i % 3 === 2
        ? h.ration(card, [
            { item: 'oil', quantity: 1, unitPiastres: 3000 },
            { item: 'سكر', quantity: 2, unitPiastres: 1260 },
          ])
        : i % 4 === 3
          ? h.bread(card, { evidence: { holder: 'no_match', supervisor: { supervisorId: 'SUP-2', reason: 'worn fingerprints', withCard: true } } })
          : h.bread(card, { days: 2 });
    const { authorization } = await h.ledger.createAuthorization(req);
    await h.ledger.commit(authorization.id, req.service === 'ration' ? [{ item: 'oil', quantity: 1 }, { item: 'سكر', quantity: 1 }] : 12);
    h.now += 3_600_000;
  }
  return h;
}

async function exported(source: Parameters<typeof exportReceipts>[0], range: Parameters<typeof exportReceipts>[1]): Promise<{ text: string; result: Awaited<ReturnType<typeof exportReceipts>> }> {
  const chunks: Buffer[] = [];
  const out = new PassThrough();
  out.on('data', (c: Buffer) => chunks.push(c));
  const result = await exportReceipts(source, range, out);
  out.end();
  return { text: Buffer.concat(chunks).toString('utf8'), result };
}

describe('exportReceipts', () => {
  it('writes a header, one JSON line per receipt and an end line, and verifies as the centre would', async () => {
    const h = await filled(7);
    const { text, result } = await exported(h.ledger, {});
    expect(result).toEqual({ count: 7, firstSeq: 1, lastSeq: 7 });
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(9);
    const header = JSON.parse(lines[0]!) as ExportHeader;
    expect(header).toMatchObject({ type: 'header', format: EXPORT_FORMAT, daemonPublicKey: toHex(h.world.daemonPublicKey), chainFrom: { seq: 0, id: '0'.repeat(128) } });
    expect(JSON.parse(lines[8]!)).toEqual({ type: 'end', count: 7, lastSeq: 7, lastId: h.ledger.receipt(7)!.idHex });

    // Round trip: every line carries the exact stored receipt.
    for (const [i, line] of lines.slice(1, 8).entries()) {
      const parsed = parseExportLine(line);
      expect('body' in parsed).toBe(true);
      const p = parsed as Exclude<typeof parsed, { type: string }>;
      const stored = h.ledger.receipt(i + 1)!;
      expect(p.seq).toBe(stored.seq);
      expect(toHex(p.body)).toBe(toHex(stored.body));
      expect(toHex(p.signature)).toBe(toHex(stored.signature));
      expect(toHex(p.id)).toBe(stored.idHex);
      expect(toHex(p.prev)).toBe(toHex(stored.prev));
      expect(toHex(p.terminalCertificate!)).toBe(toHex(h.world.terminalCertificate));
      const f = (JSON.parse(line) as ExportReceiptLine).fields;
      expect(f).toMatchObject({ authorizationId: stored.authorizationId, householdId: stored.householdId, service: stored.service, quantity: stored.quantity, supervisorException: stored.supervisorException });
      expect(f.card.cardId).toBe(`C-${stored.householdId}`);
      expect(f.cardAuth.quantity).toBeGreaterThan(0);
      expect(f.timeIso).toBe(new Date(stored.time).toISOString());
    }
    const ration = (JSON.parse(lines[3]!) as ExportReceiptLine).fields;
    expect(ration.lines).toEqual([
      { item: 'oil', quantity: 1, piastres: 3000 },
      { item: 'سكر', quantity: 1, piastres: 1260 },
    ]);
    const supervised = (JSON.parse(lines[4]!) as ExportReceiptLine).fields;
    expect(supervised).toMatchObject({ supervisorException: true, supervisor: { supervisorId: 'SUP-2', reason: 'worn fingerprints', cardId: 'C-SUPERVISORS' }, holderVerify: { result: 'no_match' } });

    const report = await verifyExport(lines, h.world.roots());
    expect(report).toMatchObject({ ok: true, receipts: 7, problems: [], head: { seq: 7 } });
  });

  it('exports since a seq or a time, continuing the chain from the receipt before', async () => {
    const h = await filled(6);
    const { text } = await exported(h.ledger, { sinceSeq: 4 });
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[0]!).chainFrom).toEqual({ seq: 4, id: h.ledger.receipt(4)!.idHex });
    expect(lines.slice(1, 3).map((l) => (JSON.parse(l) as ExportReceiptLine).seq)).toEqual([5, 6]);
    expect(await verifyExport(lines, h.world.roots())).toMatchObject({ ok: true, receipts: 2 });

    const byTime = await exported(h.path, { sinceTime: T0 + 2 * 3_600_000 });
    expect(byTime.result).toEqual({ count: 4, firstSeq: 3, lastSeq: 6 });
    expect(JSON.parse(byTime.text.split('\n')[0]!)).toMatchObject({ chainFrom: { seq: 2 }, range: { sinceTime: T0 + 7_200_000 } });
    expect(await verifyExport(byTime.text.split('\n'), h.world.roots())).toMatchObject({ ok: true, receipts: 4 });

    const none = await exported(h.ledger, { sinceTime: T0 + 100 * 3_600_000 });
    expect(none.result).toEqual({ count: 0, firstSeq: undefined, lastSeq: 0 });
    expect(await verifyExport(none.text.split('\n'), h.world.roots())).toMatchObject({ ok: true, receipts: 0 });
  });

  it('verifyExport finds an altered line, a gap, a cut-off export and fields that differ from the body', async () => {
    const h = await filled(4);
    const lines = (await exported(h.ledger, {})).text.trimEnd().split('\n');

    const altered = [...lines];
    const r2 = JSON.parse(altered[2]!) as Record<string, unknown>;
    const body = Buffer.from(r2.body as string, 'base64');
    body[40] = (body[40] as number) ^ 1;
    altered[2] = JSON.stringify({ ...r2, body: body.toString('base64') });
    const a = await verifyExport(altered, h.world.roots());
    expect(a.ok).toBe(false);
    expect(new Set(a.problems.map((p) => p.seq))).toEqual(new Set([2]));

    const gap = lines.filter((_, i) => i !== 2);
    expect((await verifyExport(gap, h.world.roots())).problems.map((p) => `${p.seq}:${p.code}`)).toEqual(expect.arrayContaining(['3:SEQ_GAP', '3:CHAIN_BROKEN']));

    const cut = lines.slice(0, 3);
    expect((await verifyExport(cut, h.world.roots())).problems.map((p) => p.message)).toEqual([expect.stringMatching(/no end line/)]);

    const lying = [...lines];
    const r3 = JSON.parse(lying[3]!) as ExportReceiptLine;
    lying[3] = JSON.stringify({ ...r3, fields: { ...r3.fields, quantity: r3.fields.quantity + 1 } });
    expect((await verifyExport(lying, h.world.roots())).problems.map((p) => `${p.seq}:${p.code}`)).toEqual(['3:COLUMN_MISMATCH']);

    const garbage = [lines[0]!, 'not json', '{"type":"receipt","seq":1}', ...lines.slice(1)];
    const g = await verifyExport(garbage, h.world.roots());
    expect(g.problems.filter((p) => p.code === 'RECEIPT_MALFORMED')).toHaveLength(2);
  });

  it('respects backpressure on a slow stream', async () => {
    const h = await filled(3);
    let written = 0;
    const slow = new Writable({
      highWaterMark: 64,
      write(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        setTimeout(cb, 1);
      },
    });
    const result = await exportReceipts(h.ledger, {}, slow);
    await new Promise<void>((resolve) => slow.end(resolve));
    expect(result.count).toBe(3);
    expect(written).toBeGreaterThan(3 * 1000);
  });
});
