import { describe, expect, it } from 'vitest';
import { LinkError, SessionError, UnicardError } from '../../protocol/errors.js';
import { TerminalSessionError } from '../session/session-errors.js';
import { matchesUsbIds } from './discovery.js';
import { hidLoadFailure } from './hid-discovery.js';
import { backoffDelayMs } from './terminal-manager.js';
import { Reasons, reasonForError } from './terminal-reasons.js';

const ARABIC = /[\u0600-\u06ff]/;

describe('reasonForError', () => {
  const ctx = { path: '/dev/ttyUSB0' };
  const table: Array<[UnicardError, string]> = [
    [new SessionError('HANDSHAKE_UNTRUSTED', 'terminal X is not trusted'), 'TERMINAL_UNTRUSTED'],
    [new SessionError('HANDSHAKE_BAD_SIGNATURE', 'bad'), 'HANDSHAKE_FAILED'],
    [new TerminalSessionError('PROTOCOL_MISMATCH', 'version 2'), 'PROTOCOL_MISMATCH'],
    [new TerminalSessionError('TERMINAL_GONE', 'gone'), 'TERMINAL_GONE'],
    [new TerminalSessionError('TERMINAL_UNRESPONSIVE', 'silent'), 'TERMINAL_UNRESPONSIVE'],
    [new TerminalSessionError('TERMINAL_REBOOTED', 'banner'), 'TERMINAL_REBOOTED'],
    [new LinkError('LINK_NOT_FOUND', 'no such port'), 'PORT_NOT_FOUND'],
    [new LinkError('LINK_PERMISSION_DENIED', 'EACCES'), 'PORT_PERMISSION_DENIED'],
    [new LinkError('LINK_BUSY', 'locked'), 'PORT_BUSY'],
    [new LinkError('LINK_TIMEOUT', 'connect timeout'), 'PORT_ERROR'],
    [new UnicardError('SOMETHING_ELSE', 'odd'), 'PROBE_FAILED'],
  ];
  for (const [error, code] of table) {
    it(`${error.code} → ${code}, with English and Arabic text`, () => {
      const r = reasonForError(error, ctx);
      expect(r.code).toBe(code);
      expect(r.en.length).toBeGreaterThan(0);
      expect(r.ar).toMatch(ARABIC);
    });
  }

  it('silence before any answer means no terminal is there', () => {
    const e = new TerminalSessionError('TERMINAL_UNRESPONSIVE', 'silent');
    expect(reasonForError(e, { ...ctx, answered: false }).code).toBe('NOT_A_TERMINAL');
    expect(reasonForError(e, { ...ctx, answered: true }).code).toBe('TERMINAL_UNRESPONSIVE');
  });

  it('every builder names the port in both languages', () => {
    const c = { path: '/dev/ttyACM3', terminalId: 'SIM0042', otherPath: '10.0.0.5:4001' };
    const reasons = [
      Reasons.untrusted(c, 'terminal SIM0042 is not trusted'),
      Reasons.gone(c),
      Reasons.unresponsive(c),
      Reasons.rebooted(c),
      Reasons.notATerminal(c, 'x'),
      Reasons.protocolMismatch(c, 'x'),
      Reasons.handshakeFailed(c, 'x'),
      Reasons.portNotFound(c),
      Reasons.portNotFound({ ...c, path: '10.0.0.9:4001', link: 'tcp' }),
      Reasons.portPermission(c, 'x'),
      Reasons.portBusy(c, 'x'),
      Reasons.portError(c, 'x'),
      Reasons.duplicate(c),
      Reasons.pinRemoved(c),
    ];
    for (const r of reasons) {
      expect(r.ar).toMatch(ARABIC);
      expect(`${r.en} ${r.ar}`).toMatch(/\/dev\/ttyACM3|SIM0042|10\.0\.0\.9:4001/);
    }
  });
});

describe('backoffDelayMs', () => {
  it('doubles from the initial delay up to the cap, and is 0 before any failure', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 100].map((n) => backoffDelayMs(n, 250, 10_000))).toEqual([0, 250, 500, 1000, 2000, 4000, 8000, 10_000]);
  });
});

describe('matchesUsbIds', () => {
  it('a vendor id alone matches every product; a port without ids never matches', () => {
    const ids = [{ vendorId: '1209' }, { vendorId: '0483', productId: '5740' }];
    expect(matchesUsbIds({ vendorId: '1209', productId: 'ffff' }, ids)).toBe(true);
    expect(matchesUsbIds({ vendorId: '0483', productId: '5740' }, ids)).toBe(true);
    expect(matchesUsbIds({ vendorId: '0483', productId: '5741' }, ids)).toBe(false);
    expect(matchesUsbIds({}, ids)).toBe(false);
  });
});

describe('hidLoadFailure', () => {
  it('tells a missing module from a native library that does not load', () => {
    expect(hidLoadFailure(Object.assign(new Error("Cannot find package 'node-hid'"), { code: 'ERR_MODULE_NOT_FOUND' }))).toEqual({
      message: 'HID disabled: node-hid not installed',
      missing: true,
    });
    const native = hidLoadFailure(new Error('libusb-1.0.so.0: cannot open shared object file'));
    expect(native.missing).toBe(false);
    expect(native.message).toMatch(/^HID disabled: node-hid could not be loaded \(libusb-1\.0\.so\.0/);
  });
});
