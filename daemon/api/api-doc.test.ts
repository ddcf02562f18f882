import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { API_ERRORS } from './api-errors.js';
import { API_DEFAULTS } from './api-server.js';
import { CORE_EVENTS } from './api-types.js';
import { MAX_CLAIM_WAIT_MS, registerCoreMethods } from './core-methods.js';
import { MethodRegistry } from './method-registry.js';

// API.md is the contract shop programmers read: it must not drift from the code.
const doc = readFileSync(fileURLToPath(new URL('../../API.md', import.meta.url)), 'utf8');

describe('API.md', () => {
  it('lists every error of the catalog with its number and both messages', () => {
    for (const [code, e] of Object.entries(API_ERRORS)) {
      expect(doc, code).toContain(`| \`${code}\` | ${e.rpc} | ${e.en} | ${e.ar} |`);
    }
    const rows = doc.split('\n').filter((l) => /^\| `[A-Z_]+` \| -?\d+ \|/.test(l));
    expect(rows).toHaveLength(Object.keys(API_ERRORS).length);
  });

  it('documents every method and event', () => {
    const registry = new MethodRegistry();
    registerCoreMethods(registry, () => {
      throw new Error('not called');
    });
    for (const name of ['hello', ...registry.namesFor('admin')]) expect(doc, name).toContain(`### \`${name}\``);
    for (const name of [...CORE_EVENTS, 'events.dropped']) expect(doc, name).toContain(`| \`${name}\` |`);
  });

  it('states the limits the server applies', () => {
    expect(API_DEFAULTS.maxLineBytes).toBe(65_536);
    expect(doc).toContain('64 KiB** (65,536 bytes');
    expect(doc).toContain(`| calls read and not yet answered, per connection | ${API_DEFAULTS.maxQueuedRequests} |`);
    expect(API_DEFAULTS.maxOutputBytes).toBe(1024 * 1024);
    expect(doc).toContain('| unsent output, per connection | 1 MiB |');
    expect(doc).toContain(`| connections | ${API_DEFAULTS.maxConnections} |`);
    expect(doc).toContain(`| errors before hello | ${API_DEFAULTS.maxAuthFailures} |`);
    expect(doc).toContain(`After **${API_DEFAULTS.maxAuthFailures} errors before a successful hello**`);
    expect(doc).toContain(`| time to say hello | ${API_DEFAULTS.helloTimeoutMs / 1000} s |`);
    expect(doc).toContain(`within **${API_DEFAULTS.helloTimeoutMs / 1000} seconds**`);
    expect(doc).toContain(`for up to ${API_DEFAULTS.stopTimeoutMs / 1000} seconds`);
    expect(doc).toContain(`| \`waitMs\` | integer 0..${MAX_CLAIM_WAIT_MS} |`);
  });
});
