/** CLI.md stays in step with the code: every command, every exit code, every conformance check. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../conformance/conformance-suite.js';
import { ExitCode } from './cli-common.js';
import { COMMANDS } from './main.js';

describe('CLI.md', () => {
  it('documents every command, exit code and conformance check', async () => {
    const doc = await readFile(new URL('../../CLI.md', import.meta.url), 'utf8');
    for (const name of Object.keys(COMMANDS)) expect(doc, name).toContain(`unicard ${name}`);
    for (const code of Object.values(ExitCode)) expect(doc, String(code)).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
    const rows = [...doc.matchAll(/^\| `([a-z-]+\.[a-z-]+)` \|/gm)].map((m) => m[1]);
    expect(rows).toEqual(CHECKS.map(([id]) => id));
  });
});
