/** DAEMON.md must not drift from the schema: its example validates, its table names every field. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatIssue } from './config-error.js';
import { CONFIG_DEFAULTS, TOP_LEVEL_FIELDS, validateConfig } from './daemon-config.js';
import { TERMINAL_REASON_CODES } from '../terminals/terminal-reasons.js';

const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'DAEMON.md'), 'utf8');

function section(title: string): string {
  const start = doc.indexOf(title);
  expect(start).toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n#', start + title.length);
  return doc.slice(start, next < 0 ? undefined : next);
}

describe('DAEMON.md', () => {
  it('the complete example is a valid config', () => {
    const m = /```json\n([\s\S]*?)```/.exec(section('### A complete example'));
    expect(m).not.toBeNull();
    const r = validateConfig(JSON.parse(m![1]!), { baseDir: '/etc/unicard' });
    expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([]);
  });

  it('the field table has every field, with the defaults the code uses', () => {
    const table = section('### Every field');
    const fields = [
      ...TOP_LEVEL_FIELDS,
      'terminals.serial',
      'terminals.serial[].path',
      'terminals.serial[].baudRate',
      'terminals.enumerate.enabled',
      'terminals.enumerate.usb',
      'terminals.enumerate.anyUsb',
      'terminals.tcp',
      'terminals.hid.enabled',
      'terminals.hid.usb',
      'terminals.rescanIntervalMs',
      'terminals.reconnectInitialMs',
      'terminals.reconnectMaxMs',
      'terminals.pingIntervalMs',
      'trust.vendorRoots',
      'trust.issuerRoots',
      'trust.pinsFile',
    ];
    for (const f of fields) expect(table, f).toContain(`| \`${f}`);
    const row = (f: string): string => table.split('\n').find((l) => l.startsWith(`| \`${f}\``)) ?? '';
    expect(row('terminals.rescanIntervalMs')).toContain(`\`${CONFIG_DEFAULTS.rescanIntervalMs}\``);
    expect(row('terminals.reconnectInitialMs')).toContain(`\`${CONFIG_DEFAULTS.reconnectInitialMs}\``);
    expect(row('terminals.reconnectMaxMs')).toContain(`\`${CONFIG_DEFAULTS.reconnectMaxMs}\``);
    expect(row('terminals.pingIntervalMs')).toContain(`\`${CONFIG_DEFAULTS.pingIntervalMs}\``);
    expect(row('terminals.serial[].baudRate')).toContain(`\`${CONFIG_DEFAULTS.baudRate}\``);
    expect(row('logLevel')).toContain(`\`${CONFIG_DEFAULTS.logLevel}\``);
  });

  it('the reason table has every reason code', () => {
    const table = section('## Terminal states and reasons');
    for (const code of TERMINAL_REASON_CODES) expect(table, code).toContain(`| \`${code}\` |`);
  });
});
