import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProtocolDoc } from '../scripts/protocol-doc.js';

describe('PROTOCOL.md', () => {
  it('is the current assembly of PROTOCOL.d/ (run `make docs` after editing a section)', () => {
    const committed = readFileSync(new URL('../PROTOCOL.md', import.meta.url), 'utf8');
    expect(committed === buildProtocolDoc(), 'PROTOCOL.md is stale: run `make docs`').toBe(true);
  });

  it('has a contents entry for every section', () => {
    const doc = buildProtocolDoc();
    for (const h of ['Links', 'Stream framing (serial and TCP)', 'HID report framing', 'Canonical CBOR', 'Messages']) {
      expect(doc).toContain(`- [${h}](#`);
    }
  });
});
