import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { POLICY_DOC_URL, renderPolicyDoc } from './policy-doc.js';
import { ExceptionKey, ItemKey, PolicyKey, BreadKey, RationKey, CardStatesKey } from './policy-format.js';
import { REASON_CODES } from './reasons.js';

const doc = readFileSync(POLICY_DOC_URL, 'utf8');

describe('POLICY.md', () => {
  it('has current generated blocks (run `node --import tsx daemon/policy/policy-doc.ts` after a change)', () => {
    expect(renderPolicyDoc(doc) === doc, 'POLICY.md is stale').toBe(true);
  });

  it('documents every reason code', () => {
    for (const code of REASON_CODES) expect(doc).toContain(`\`${code}\``);
  });

  it('its key tables match the code', () => {
    const rows = (keys: Record<string, number>): void => {
      for (const [name, key] of Object.entries(keys)) expect(doc, `${name} = ${key}`).toMatch(new RegExp(`\\| ${key} \\| \`${name}\``));
    };
    rows(PolicyKey);
    rows(BreadKey);
    rows(RationKey);
    rows(ItemKey);
    rows(ExceptionKey);
    rows(CardStatesKey);
  });
});
