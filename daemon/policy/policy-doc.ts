/**
 * Keeps the generated parts of POLICY.md in step with the code: the default policy in JSON,
 * the reason catalogue with example texts, the signed example, and the table of cases. Each
 * lives between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`; policy-doc.test.ts
 * fails when one is stale. Rewrite them with:
 *
 *     node --import tsx daemon/policy/policy-doc.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { DEFAULT_POLICY } from './default-policy.js';
import { loadPolicyCases, renderCasesTable } from './policy-cases.js';
import { policyToJson } from './policy-format.js';
import { Reasons, type Reason } from './reasons.js';

/** Where POLICY.md lives. */
export const POLICY_DOC_URL = new URL('../../POLICY.md', import.meta.url);

const [sugar, , rice, pasta] = DEFAULT_POLICY.ration.items;

/** One example per reason code, with when it is given. */
const REASON_EXAMPLES: readonly [when: string, reason: Reason][] = [
  ['card reported lost; until its working days have passed', Reasons.cardSuspended('2025-03-19')],
  ['card replaced by a new one', Reasons.cardReplaced()],
  ['card cancelled', Reasons.cardCancelled()],
  ['card not activated yet', Reasons.cardNotActivated()],
  ['card of another governorate, no exception', Reasons.wrongGovernorate(1, 3)],
  ["bread refused: today's share is already booked", Reasons.breadTodayCollected('2025-03-13')],
  ['bread partly approved: more asked than today + the days allowed at once', Reasons.breadAdvanceLimit(60, 45, 3, 15)],
  ['ration line: item not on the price list', Reasons.itemUnknown('flour')],
  ['ration line: more than the monthly cap', Reasons.itemCap(sugar!, 3, 1)],
  ['ration line: other item of its group taken this month', Reasons.exclusive(pasta!, rice!)],
  ['ration line: the money left does not cover it', Reasons.balance(sugar!, 3000, 2)],
  ['ration: nothing left this month (replaces the per-line balance reason)', Reasons.balanceExhausted()],
];

function reasonsTable(): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    '| code | when | English (example) | Arabic (example) |',
    '|---|---|---|---|',
    ...REASON_EXAMPLES.map(([when, r]) => `| \`${r.code}\` | ${esc(when)} | ${esc(r.en)} | ${esc(r.ar)} |`),
  ].join('\n');
}

function hexBlock(hex: string): string {
  const bytes = hex.match(/../g) ?? [];
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 32) lines.push(bytes.slice(i, i + 32).join(' '));
  return ['```', ...lines, '```'].join('\n');
}

function signedExample(): string {
  const v = loadPolicyCases().signedDefaultPolicy;
  return [
    `Issuer root: the project's test key, public key \`${v.issuerPublicKey}\`, key id \`${v.issuerKeyId}\`.`,
    `The envelope (${v.envelope.length / 2} bytes) of the default policy:`,
    '',
    hexBlock(v.envelope),
  ].join('\n');
}

/** The generated blocks by name. */
export function generatedBlocks(): Record<string, string> {
  return {
    'default-policy': ['```json', JSON.stringify(policyToJson(DEFAULT_POLICY), null, 2), '```'].join('\n'),
    reasons: reasonsTable(),
    'signed-example': signedExample(),
    cases: renderCasesTable(loadPolicyCases()),
  };
}

/** `doc` with every generated block replaced by its current content. */
export function renderPolicyDoc(doc: string): string {
  let out = doc;
  for (const [name, content] of Object.entries(generatedBlocks())) {
    const open = `<!-- generated:${name} -->`;
    const close = `<!-- /generated:${name} -->`;
    const a = out.indexOf(open);
    const b = out.indexOf(close);
    if (a < 0 || b < a) throw new Error(`POLICY.md has no ${open} … ${close} block`);
    out = `${out.slice(0, a + open.length)}\n${content}\n${out.slice(b)}`;
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const doc = readFileSync(POLICY_DOC_URL, 'utf8');
  writeFileSync(POLICY_DOC_URL, renderPolicyDoc(doc));
  console.log('POLICY.md: generated blocks rewritten');
}
