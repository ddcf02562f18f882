/**
 * PROTOCOL.md is assembled from the sections in PROTOCOL.d/ (one file per layer, each kept
 * next to the tests that check its worked examples against test/vectors/). Run
 * `node --import tsx scripts/protocol-doc.ts` after editing a section; a test fails when
 * PROTOCOL.md is stale.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');

function anchorOf(heading: string): string {
  // GitHub's rule: lower case, drop punctuation except '-' and ' ', spaces to '-'.
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}

/** The text PROTOCOL.md must hold. */
export function buildProtocolDoc(): string {
  const dir = join(root, 'PROTOCOL.d');
  const parts = readdirSync(dir)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8').trim());
  const [first, ...rest] = parts;
  const toc = rest
    .flatMap((p) => p.split('\n').filter((l) => /^## /.test(l)))
    .map((l) => l.slice(3).trim())
    .map((h) => `- [${h}](#${anchorOf(h)})`)
    .join('\n');
  const notice = '<!-- Generated from PROTOCOL.d/*.md by scripts/protocol-doc.ts: edit those files, then run `make docs`. -->';
  return [notice, first ?? '', '## Contents\n\n' + toc, ...rest].join('\n\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(join(root, 'PROTOCOL.md'), buildProtocolDoc());
  console.log('PROTOCOL.md written');
}
