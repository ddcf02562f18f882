import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { loadCardFile, parseCardFile, saveCardFile, serializeCardFile, type CardFileData } from './card-file.js';
import { makeTestCard, makeTestIssuer } from './fixtures.js';
import { seededRandomBytes } from './random.js';

const ed = new NodeEd25519();
const random = seededRandomBytes('card file tests');
const issuer = makeTestIssuer(ed, random);
const data = makeTestCard(ed, random, issuer, { roles: ['head', 'spouse', 'other'] });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-card-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const invalid = (text: string) => () => parseCardFile(text, ed);
const mutate = (f: (j: Record<string, unknown>) => void): string => {
  const j = JSON.parse(serializeCardFile(data)) as Record<string, unknown>;
  f(j);
  return JSON.stringify(j);
};

describe('card files', () => {
  it('round-trip through text and through a 0600 file', async () => {
    expect(parseCardFile(serializeCardFile(data), ed)).toEqual(data);
    const path = join(dir, 'card.json');
    await saveCardFile(path, data);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await loadCardFile(path, ed)).toEqual(data);
    const named: CardFileData = { ...data, members: data.members.map((m, i) => (i === 0 ? { ...m, name: 'محمد عبد الله السيد' } : m)) };
    expect(parseCardFile(serializeCardFile(named), ed).members[0]?.name).toBe('محمد عبد الله السيد');
  });

  it('refuse anything malformed or disagreeing with the certificate', () => {
    const cases: [string, string][] = [
      ['not json', '{'],
      ['format', mutate((j) => (j.format = 'unicard-card/0'))],
      ['seed length', mutate((j) => (j.seed = '00'))],
      ['seed of another key', mutate((j) => (j.seed = '11'.repeat(32)))],
      ['counter negative', mutate((j) => (j.counter = -1))],
      ['counter too big', mutate((j) => (j.counter = 2 ** 32))],
      ['card id', mutate((j) => (j.cardId = 'PSD-OTHER'))],
      ['governorate', mutate((j) => (j.governorate = 1))],
      ['validity', mutate((j) => (j.validUntil = 1))],
      ['members missing one', mutate((j) => (j.members as unknown[]).pop())],
      ['member role', mutate((j) => ((j.members as Record<string, unknown>[])[1]!.role = 'head'))],
      ['member role unknown', mutate((j) => ((j.members as Record<string, unknown>[])[1]!.role = 'toString'))],
      ['template length', mutate((j) => ((j.members as Record<string, unknown>[])[0]!.template = 'ab'))],
      ['certificate', mutate((j) => (j.certificate = 'a0'))],
      ['certificate hex', mutate((j) => (j.certificate = 'zz'))],
    ];
    for (const [what, text] of cases) {
      expect(invalid(text), what).toThrow(expect.objectContaining({ code: 'CARD_FILE_INVALID' }));
    }
  });

  it('report a missing file as CARD_FILE_INVALID', async () => {
    await expect(loadCardFile(join(dir, 'nope.json'), ed)).rejects.toMatchObject({ code: 'CARD_FILE_INVALID' });
    await writeFile(join(dir, 'empty.json'), '');
    await expect(loadCardFile(join(dir, 'empty.json'), ed)).rejects.toMatchObject({ code: 'CARD_FILE_INVALID' });
    expect(await readFile(join(dir, 'empty.json'), 'utf8')).toBe('');
  });
});
