import { describe, expect, it } from 'vitest';
import { LinkError } from '../protocol/errors.js';
import { closedError, osErrorCode, toLinkError } from './link-errors.js';

const serialOpen = { kind: 'serial', path: '/dev/ttyUSB0', op: 'open' } as const;
const tcpConnect = { kind: 'tcp', path: '10.0.0.5:4001', op: 'connect' } as const;

function errno(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('osErrorCode', () => {
  it("prefers Node's code, else reads serialport's strerror text and Windows wording", () => {
    expect(osErrorCode(errno('ECONNREFUSED'))).toBe('ECONNREFUSED');
    expect(osErrorCode(new Error('Error: No such file or directory, cannot open /dev/ttyUSB0'))).toBe('ENOENT');
    expect(osErrorCode(new Error('Error: Permission denied, cannot open /dev/ttyUSB0'))).toBe('EACCES');
    expect(osErrorCode(new Error('Error Resource temporarily unavailable Cannot lock port'))).toBe('EBUSY');
    expect(osErrorCode(new Error('Opening COM3: Access denied'))).toBe('EBUSY');
    expect(osErrorCode(new Error('Opening COM9: File not found'))).toBe('ENOENT');
    expect(osErrorCode(new Error('bad file descriptor'))).toBe('EBADF');
    expect(osErrorCode(new Error('something else'))).toBeUndefined();
    expect(osErrorCode(undefined)).toBeUndefined();
  });
});

describe('toLinkError', () => {
  it('maps open failures on serial ports to codes with what to do', () => {
    const notFound = toLinkError(errno('ENOENT'), serialOpen);
    expect(notFound.code).toBe('LINK_NOT_FOUND');
    expect(notFound.detail).toMatchObject({ path: '/dev/ttyUSB0', osCode: 'ENOENT', op: 'open' });
    const denied = toLinkError(new Error('Error: Permission denied, cannot open /dev/ttyUSB0'), serialOpen);
    expect(denied.code).toBe('LINK_PERMISSION_DENIED');
    expect(denied.message).toContain('dialout');
    const busy = toLinkError(new Error('Error Resource temporarily unavailable Cannot lock port'), serialOpen);
    expect(busy.code).toBe('LINK_BUSY');
    expect(busy.message).toContain('in use by another program');
    expect(toLinkError(errno('EIO'), { ...serialOpen, op: 'read' }).message).toContain('unplugged');
  });

  it('maps TCP failures', () => {
    expect(toLinkError(errno('ECONNREFUSED'), tcpConnect)).toMatchObject({ code: 'LINK_NOT_FOUND', message: expect.stringContaining('nothing is listening') });
    expect(toLinkError(errno('ENOTFOUND'), tcpConnect).code).toBe('LINK_NOT_FOUND');
    expect(toLinkError(errno('EHOSTUNREACH'), tcpConnect).code).toBe('LINK_NOT_FOUND');
    expect(toLinkError(errno('ETIMEDOUT'), tcpConnect).code).toBe('LINK_TIMEOUT');
    expect(toLinkError(errno('ECONNRESET'), { ...tcpConnect, op: 'read' }).code).toBe('LINK_IO');
    expect(toLinkError(errno('EPIPE'), { ...tcpConnect, op: 'write' }).code).toBe('LINK_IO');
    expect(toLinkError(errno('EADDRINUSE'), { ...tcpConnect, op: 'open' }).code).toBe('LINK_BUSY');
  });

  it('keeps the original text for anything unknown, and passes LinkErrors through', () => {
    const unknown = toLinkError(new Error('the flux capacitor'), serialOpen);
    expect(unknown.code).toBe('LINK_IO');
    expect(unknown.message).toContain('the flux capacitor');
    expect(toLinkError('a string', serialOpen)).toBeInstanceOf(LinkError);
    const mine = new LinkError('LINK_TIMEOUT', 'mine');
    expect(toLinkError(mine, serialOpen)).toBe(mine);
  });

  it('closedError is LINK_CLOSED', () => {
    expect(closedError('/dev/ttyACM0')).toMatchObject({ code: 'LINK_CLOSED', detail: { path: '/dev/ttyACM0' } });
  });
});
