import { describe, expect, it } from 'vitest';
import { LinkError } from '../protocol/errors.js';
import { createHidMemoryPair, HidMemoryDevice } from './hid-memory.js';
import type { Link } from './link.js';

function collect(link: Link): Uint8Array[] {
  const got: Uint8Array[] = [];
  link.onData((r) => got.push(r));
  return got;
}

const report = (b: number, length = 64): Uint8Array => new Uint8Array(length).fill(b);

describe('HID memory pair', () => {
  it('carries whole reports unchanged, in order, one unit per report, both ways', async () => {
    const [host, device] = createHidMemoryPair();
    const atDevice = collect(device);
    const atHost = collect(host);
    await Promise.all([host.write(report(1)), host.write(report(2)), host.write(report(3, 65))]);
    await device.write(report(9));
    expect(atDevice).toEqual([report(1), report(2), report(3, 65)]);
    expect(atHost).toEqual([report(9)]);
    expect(host.info).toMatchObject({ kind: 'hid', path: 'memory-hid:0' });
  });

  it('the caller may reuse its buffer once a write resolved', async () => {
    const [host, device] = createHidMemoryPair();
    const atDevice = collect(device);
    const buf = report(5);
    await host.write(buf);
    buf.fill(0);
    expect(atDevice).toEqual([report(5)]);
  });

  it('like hidraw, every host reads every report the device sends; the device reads every host', async () => {
    const dev = new HidMemoryDevice({ path: 'memory-hid:shared', info: { vendorId: '1209', productId: 'a001' } });
    const a = dev.openHost();
    const b = dev.openHost();
    const atA = collect(a);
    const atB = collect(b);
    const atDevice = collect(dev.deviceLink);
    await a.write(report(1));
    await b.write(report(2));
    await dev.deviceLink.write(report(3));
    expect(atDevice).toEqual([report(1), report(2)]);
    expect(atA).toEqual([report(3)]);
    expect(atB).toEqual([report(3)]);
    expect(a.info.vendorId).toBe('1209');
  });

  it('a host closing leaves the device and other hosts alone', async () => {
    const dev = new HidMemoryDevice();
    const a = dev.openHost();
    const b = dev.openHost();
    const atB = collect(b);
    await a.close();
    expect(dev.hostCount).toBe(1);
    expect(dev.deviceLink.isOpen).toBe(true);
    await dev.deviceLink.write(report(4));
    expect(atB).toEqual([report(4)]);
  });

  it('unplugging ends every end with LINK_IO, and the device cannot be opened again', async () => {
    const dev = new HidMemoryDevice();
    const a = dev.openHost();
    const ended = new Promise<LinkError | undefined>((resolve) => a.onClose(resolve));
    const deviceEnded = new Promise<LinkError | undefined>((resolve) => dev.deviceLink.onClose(resolve));
    dev.unplug();
    expect((await ended)?.code).toBe('LINK_IO');
    expect((await deviceEnded)?.code).toBe('LINK_IO');
    await expect(a.write(report(1))).rejects.toMatchObject({ code: 'LINK_CLOSED' });
    expect(() => dev.openHost()).toThrow(LinkError);
  });

  it('closing the device end is the cable pulled for the hosts', async () => {
    const [host, device] = createHidMemoryPair();
    const ended = new Promise<LinkError | undefined>((resolve) => host.onClose(resolve));
    await device.close();
    expect((await ended)?.code).toBe('LINK_IO');
  });
});
