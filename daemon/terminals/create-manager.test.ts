/**
 * createTerminalManager: HID discovery is loaded only when terminals.hid is enabled, and then
 * at the first scan (the daemon with serial and TCP terminals alone never imports it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../test/e2e/daemon-harness.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { CONFIG_DEFAULTS, type DaemonConfigFile } from '../config/daemon-config.js';
import { createLogger } from '../logging.js';
import { TrustStore } from '../trust/index.js';
import { createTerminalManager } from './create-manager.js';
import type { HidModule } from './hid-discovery.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-create-manager-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function terminals(hidEnabled: boolean): DaemonConfigFile['terminals'] {
  return {
    serial: [],
    enumerate: { enabled: false, usb: [], anyUsb: false },
    tcp: [],
    hid: { enabled: hidEnabled, usb: [{ vendorId: '1209', productId: 'c0de' }] },
    rescanIntervalMs: CONFIG_DEFAULTS.rescanIntervalMs,
    reconnectInitialMs: CONFIG_DEFAULTS.reconnectInitialMs,
    reconnectMaxMs: CONFIG_DEFAULTS.reconnectMaxMs,
    pingIntervalMs: CONFIG_DEFAULTS.pingIntervalMs,
  };
}

describe('createTerminalManager', () => {
  it('loads HID discovery (and node-hid through it) only when terminals.hid is enabled', async () => {
    const trust = await TrustStore.open({ ed: new NodeEd25519(), vendorRoots: [], issuerRoots: [], pinsFile: join(dir, 'pins.json') });
    const records: Array<Record<string, unknown>> = [];
    const logger = createLogger({ level: 'debug', destination: { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) } });
    const loads: boolean[] = [];
    for (const enabled of [false, true]) {
      // Only devices() is used by a scan; no device matches, so nothing is opened.
      const hidLoader = async (): Promise<HidModule> => {
        loads.push(enabled);
        return { devices: () => [{ vendorId: 0x046d, productId: 0xc52b, path: '/dev/hidraw9' }] } as unknown as HidModule;
      };
      const manager = createTerminalManager({ terminals: terminals(enabled) }, { trust, logger, hidLoader });
      await manager.start();
      await manager.stop();
      expect(manager.list()).toEqual([]);
    }
    expect(loads).toEqual([true]);
    expect(records.filter((r) => String(r.msg).includes('discovery failed'))).toEqual([]);
  });

  it('a process that creates and runs a manager without HID never imports the HID modules', () => {
    // A resolve hook prints every module the process loads; the manager runs one scan.
    const hook = `data:text/javascript,${encodeURIComponent("export async function resolve(s, c, n) { const r = await n(s, c); process.stderr.write('MODULE ' + r.url + '\\n'); return r; }")}`;
    const url = (path: string) => JSON.stringify(pathToFileURL(join(REPO_ROOT, path)).href);
    const script = `
      import { register } from 'node:module';
      register(${JSON.stringify(hook)});
      const { createTerminalManager } = await import(${url('daemon/terminals/create-manager.ts')});
      const { createLogger } = await import(${url('daemon/logging.ts')});
      const { TrustStore } = await import(${url('daemon/trust/index.ts')});
      const { NodeEd25519 } = await import(${url('protocol/crypto/ed25519.ts')});
      const trust = await TrustStore.open({ ed: new NodeEd25519(), vendorRoots: [], issuerRoots: [], pinsFile: ${JSON.stringify(join(dir, 'pins.json'))} });
      const m = createTerminalManager({ terminals: ${JSON.stringify(terminals(false))} }, { trust, logger: createLogger({ level: 'silent' }) });
      await m.start();
      await m.stop();
      process.stderr.write('DONE\\n');
    `;
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href, '--input-type=module', '-e', script], { encoding: 'utf8', cwd: REPO_ROOT });
    const modules = r.stderr.split('\n').filter((l) => l.startsWith('MODULE ')).map((l) => l.slice('MODULE '.length));
    expect(r.stderr).toContain('DONE');
    expect(modules.some((m) => m.endsWith('/daemon/terminals/discovery.ts'))).toBe(true);
    expect(modules.filter((m) => /hid|node-hid|serialport/i.test(m))).toEqual([]);
  });
});
