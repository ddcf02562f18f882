import { describe, expect, it } from 'vitest';
import { formatIssue } from './config-error.js';
import { CONFIG_DEFAULTS, validateConfig } from './daemon-config.js';

const TOKEN = 'tok-0123456789abcdef';
const BASE = { dataDir: '/var/lib/unicard', tokens: { pos: { token: TOKEN, role: 'shop' } } };
const VENDOR_HEX = '77a2ef85b1bb9d7e72b82b1b57e548eee822286ac99e125771189355dbf5597f';

function issuesOf(json: unknown, dev = false): string[] {
  const r = validateConfig(json, { baseDir: '/etc/unicard', dev, ...(dev ? { defaultDataDir: '/home/dev/.unicard-dev' } : {}) });
  return r.ok ? [] : r.issues.map(formatIssue);
}

describe('validateConfig: bad configs name the field', () => {
  const table: Array<[string, unknown, string[]]> = [
    ['not an object', [], ['(top level): must be an object (got an array)']],
    ['null', null, ['(top level): must be an object (got null)']],
    [
      'empty object',
      {},
      [
        'dataDir: is required (where unicardd keeps its ledger, pins and socket), e.g. "/var/lib/unicard"',
        'tokens: needs at least one API token: without one no client can use the daemon',
      ],
    ],
    ['dataDir a number', { ...BASE, dataDir: 5 }, ['dataDir: must be a string (got a number)']],
    ['dataDir empty', { ...BASE, dataDir: '' }, ['dataDir: must not be empty']],
    ['unknown top-level field, misspelt', { ...BASE, datadir: '/x' }, ['datadir: unknown field (did you mean "dataDir"?)']],
    ['unknown top-level field', { ...BASE, colour: 'red' }, ['colour: unknown field']],
    ['logLevel not a level', { ...BASE, logLevel: 'loud' }, ['logLevel: must be one of "trace", "debug", "info", "warn", "error", "fatal", "silent" (got "loud")']],
    ['tokens an array', { ...BASE, tokens: [] }, ['tokens: must be an object (got an array)']],
    ['token too short', { ...BASE, tokens: { pos: { token: 'short', role: 'shop' } } }, ['tokens.pos.token: must be at least 16 characters long (got 5)']],
    [
      'token with a space',
      { ...BASE, tokens: { pos: { token: 'has a space in the middle', role: 'shop' } } },
      ['tokens.pos.token: must be printable ASCII without spaces (got "has a space in the middle")'],
    ],
    ['role unknown', { ...BASE, tokens: { pos: { token: TOKEN, role: 'cashier' } } }, ['tokens.pos.role: must be one of "shop", "technician", "admin" (got "cashier")']],
    ['role missing', { ...BASE, tokens: { pos: { token: TOKEN } } }, ['tokens.pos.role: is required']],
    [
      'token and tokenFile both',
      { ...BASE, tokens: { pos: { token: TOKEN, tokenFile: 'pos.token', role: 'shop' } } },
      ['tokens.pos: give exactly one of "token" (the secret itself) or "tokenFile" (a file holding it)'],
    ],
    [
      'token name with a space',
      { ...BASE, tokens: { 'front desk': { token: TOKEN, role: 'shop' } } },
      ['tokens["front desk"]: name must be letters, digits, ".", "_" or "-" (got "front desk")'],
    ],
    [
      'two clients, one token',
      { ...BASE, tokens: { a: { token: TOKEN, role: 'shop' }, b: { token: TOKEN, role: 'admin' } } },
      ['tokens.b.token: is the same as tokens.a.token: every client needs its own token'],
    ],
    ['terminals a string', { ...BASE, terminals: 'all' }, ['terminals: must be an object (got a string)']],
    ['serial not an array', { ...BASE, terminals: { serial: '/dev/ttyUSB0' } }, ['terminals.serial: must be an array (got a string)']],
    [
      'serial path a number',
      { ...BASE, terminals: { serial: [{ path: '/dev/ttyUSB0' }, { path: 5 }] } },
      ['terminals.serial[1].path: must be a string (got a number)'],
    ],
    ['serial path missing', { ...BASE, terminals: { serial: [{}] } }, ['terminals.serial[0].path: is required']],
    [
      'serial entry a string',
      { ...BASE, terminals: { serial: ['/dev/ttyUSB0'] } },
      ['terminals.serial[0]: must be an object (got a string)'],
    ],
    ['serial baud rate', { ...BASE, terminals: { serial: [{ path: '/dev/ttyS0', baudRate: 9.5 }] } }, ['terminals.serial[0].baudRate: must be an integer from 300 to 4000000 (got 9.5)']],
    [
      'serial path twice',
      { ...BASE, terminals: { serial: [{ path: '/dev/ttyUSB0' }, { path: '/dev/ttyUSB0' }] } },
      ['terminals.serial[1].path: /dev/ttyUSB0 is already terminals.serial[0]'],
    ],
    ['misspelt terminals field', { ...BASE, terminals: { seriel: [] } }, ['terminals.seriel: unknown field (did you mean "serial"?)']],
    ['enumerate a boolean', { ...BASE, terminals: { enumerate: true } }, ['terminals.enumerate: must be an object (got a boolean)']],
    [
      'usb vendor id not hex',
      { ...BASE, terminals: { enumerate: { usb: [{ vendorId: 'acme' }] } } },
      ['terminals.enumerate.usb[0].vendorId: must be a USB id of up to 4 hex digits, e.g. "0483" (got "acme")'],
    ],
    ['tcp address without port', { ...BASE, terminals: { tcp: [{ address: '10.0.0.5' }] } }, ['terminals.tcp[0].address: must be host:port, e.g. "10.0.0.5:4001" (got "10.0.0.5")']],
    ['tcp port out of range', { ...BASE, terminals: { tcp: [{ address: '10.0.0.5:70000' }] } }, ['terminals.tcp[0].address: must be host:port, e.g. "10.0.0.5:4001" (got "10.0.0.5:70000")']],
    [
      'tcp address twice',
      { ...BASE, terminals: { tcp: [{ address: '10.0.0.5:4001' }, { address: 'tcp://10.0.0.5:4001' }] } },
      ['terminals.tcp[1].address: tcp://10.0.0.5:4001 is already terminals.tcp[0]'],
    ],
    ['hid enabled a string', { ...BASE, terminals: { hid: { enabled: 'yes' } } }, ['terminals.hid.enabled: must be true or false (got a string)']],
    ['rescan too fast', { ...BASE, terminals: { rescanIntervalMs: 10 } }, ['terminals.rescanIntervalMs: must be an integer from 100 to 600000 (got 10)']],
    ['ping interval too fast', { ...BASE, terminals: { pingIntervalMs: 100 } }, ['terminals.pingIntervalMs: must be 0 (off) or at least 500 (got 100)']],
    [
      'reconnect max below initial',
      { ...BASE, terminals: { reconnectInitialMs: 5000, reconnectMaxMs: 1000 } },
      ['terminals.reconnectMaxMs: must be at least terminals.reconnectInitialMs (5000)'],
    ],
    ['vendorRoots a string', { ...BASE, trust: { vendorRoots: 'vendor.pub.json' } }, ['trust.vendorRoots: must be an array (got a string)']],
    [
      'root with file and key',
      { ...BASE, trust: { vendorRoots: [{ file: 'v.pub.json', publicKey: VENDOR_HEX }] } },
      ['trust.vendorRoots[0]: give exactly one of "file" (a public key file) or "publicKey" (64 hex digits)'],
    ],
    [
      'root key too short',
      { ...BASE, trust: { issuerRoots: [{ publicKey: 'abcd' }] } },
      ['trust.issuerRoots[0].publicKey: must be 64 hex digits (a 32-byte Ed25519 public key) (got "abcd")'],
    ],
    ['root a number', { ...BASE, trust: { issuerRoots: [42] } }, ['trust.issuerRoots[0]: must be a public key file name, 64 hex digits, {"file": ...} or {"publicKey": ...} (got a number)']],
    [
      'socket path too long',
      { ...BASE, socket: `/run/${'x'.repeat(120)}.sock` },
      [`socket: the socket path /run/${'x'.repeat(120)}.sock is 130 bytes long; Unix sockets allow at most 107: set "socket" to a shorter path`],
    ],
  ];

  for (const [name, json, expected] of table) {
    it(name, () => {
      expect(issuesOf(json)).toEqual(expected);
    });
  }

  it('reports every problem of a file at once', () => {
    const issues = issuesOf({
      dataDir: 1,
      tokens: { pos: { token: 'x', role: 'boss' } },
      terminals: { serial: [{ path: 2 }], tcp: [{ address: 'nope' }] },
    });
    expect(issues).toEqual([
      'dataDir: must be a string (got a number)',
      'tokens.pos.token: must be at least 16 characters long (got 1)',
      'tokens.pos.role: must be one of "shop", "technician", "admin" (got "boss")',
      'terminals.serial[0].path: must be a string (got a number)',
      'terminals.tcp[0].address: must be host:port, e.g. "10.0.0.5:4001" (got "nope")',
    ]);
  });
});

describe('validateConfig: good configs', () => {
  it('fills the defaults', () => {
    const r = validateConfig(BASE, { baseDir: '/etc/unicard' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toEqual({
      dataDir: '/var/lib/unicard',
      socketPath: '/var/lib/unicard/unicardd.sock',
      logLevel: 'info',
      tokens: [{ name: 'pos', role: 'shop', token: TOKEN }],
      terminals: {
        serial: [],
        enumerate: { enabled: true, usb: [], anyUsb: false },
        tcp: [],
        hid: { enabled: true, usb: [] },
        rescanIntervalMs: CONFIG_DEFAULTS.rescanIntervalMs,
        reconnectInitialMs: CONFIG_DEFAULTS.reconnectInitialMs,
        reconnectMaxMs: CONFIG_DEFAULTS.reconnectMaxMs,
        pingIntervalMs: CONFIG_DEFAULTS.pingIntervalMs,
      },
      trust: { vendorRoots: [], issuerRoots: [], pinsFile: '/var/lib/unicard/pins.json' },
    });
  });

  it('resolves relative paths against the config file, normalises USB ids and parses addresses', () => {
    const r = validateConfig(
      {
        dataDir: 'data',
        socket: '/run/unicard/unicardd.sock',
        tokens: { pos: { tokenFile: 'pos.token', role: 'shop' } },
        terminals: {
          serial: [{ path: '/dev/ttyUSB0', baudRate: 57600 }, { path: 'COM3' }, { path: 'sim.tty' }],
          enumerate: { usb: [{ vendorId: '0x483', productId: '5740' }, { vendorId: '1A86' }] },
          tcp: [{ address: '10.0.0.5:4001' }, { address: '[::1]:4002' }],
        },
        trust: { vendorRoots: ['keys/vendor.pub.json', VENDOR_HEX.toUpperCase()], issuerRoots: [{ file: '/etc/keys/issuer.pub.json' }], pinsFile: 'pins.json' },
      },
      { baseDir: '/etc/unicard' },
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const c = r.config;
    expect(c.dataDir).toBe('/etc/unicard/data');
    expect(c.socketPath).toBe('/run/unicard/unicardd.sock');
    expect(c.tokens).toEqual([{ name: 'pos', role: 'shop', tokenFile: '/etc/unicard/pos.token' }]);
    expect(c.terminals.serial).toEqual([
      { path: '/dev/ttyUSB0', baudRate: 57600 },
      { path: 'COM3', baudRate: 115200 },
      { path: '/etc/unicard/sim.tty', baudRate: 115200 },
    ]);
    expect(c.terminals.enumerate.usb).toEqual([{ vendorId: '0483', productId: '5740' }, { vendorId: '1a86' }]);
    expect(c.terminals.tcp).toEqual([
      { address: '10.0.0.5:4001', host: '10.0.0.5', port: 4001 },
      { address: '[::1]:4002', host: '::1', port: 4002 },
    ]);
    expect(c.trust.vendorRoots).toEqual([
      { path: 'trust.vendorRoots[0]', ref: { kind: 'file', path: '/etc/unicard/keys/vendor.pub.json' } },
      { path: 'trust.vendorRoots[1]', ref: { kind: 'hex', hex: VENDOR_HEX } },
    ]);
    expect(c.trust.issuerRoots).toEqual([{ path: 'trust.issuerRoots[0]', ref: { kind: 'file', path: '/etc/keys/issuer.pub.json' } }]);
    expect(c.trust.pinsFile).toBe('/etc/unicard/pins.json');
  });

  it('dev mode needs neither dataDir nor tokens', () => {
    const r = validateConfig({}, { baseDir: '/home/dev', dev: true, defaultDataDir: '/home/dev/.unicard-dev' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.dataDir).toBe('/home/dev/.unicard-dev');
    expect(r.config.socketPath).toBe('/home/dev/.unicard-dev/unicardd.sock');
    expect(r.config.tokens).toEqual([]);
  });

  it('dev mode still checks what the file says', () => {
    expect(issuesOf({ terminals: { tcp: [{ address: 'x' }] } }, true)).toEqual(['terminals.tcp[0].address: must be host:port, e.g. "10.0.0.5:4001" (got "x")']);
  });
});
