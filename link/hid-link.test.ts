import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { LinkError } from '../protocol/errors.js';
import { HidLink, hidLinkError, loadNodeHidModule, type NodeHidDevice, type NodeHidModule } from './hid-link.js';

/** A fake node-hid device: records writes, emits data and errors on demand. */
class FakeDevice extends EventEmitter implements NodeHidDevice {
  readonly writes: Buffer[] = [];
  closed = false;
  writeResult = 65;
  write(values: number[] | Buffer): Promise<number> {
    this.writes.push(Buffer.from(values));
    return Promise.resolve(this.writeResult);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function fakeModule(device: FakeDevice, fail?: Error): NodeHidModule & { opened: string[] } {
  const opened: string[] = [];
  return {
    opened,
    HIDAsync: {
      open: (path: string) => {
        opened.push(path);
        return fail === undefined ? Promise.resolve(device) : Promise.reject(fail);
      },
    },
  };
}

const report = (b: number): Uint8Array => new Uint8Array(64).fill(b);

describe('HidLink on a fake node-hid', () => {
  it('writes each 64-byte report with the 0x00 report-ID byte node-hid expects in front', async () => {
    const dev = new FakeDevice();
    const mod = fakeModule(dev);
    const link = await HidLink.open('/dev/hidraw3', { module: mod, info: { vendorId: '1209', productId: 'a001' } });
    expect(mod.opened).toEqual(['/dev/hidraw3']);
    expect(link.info).toMatchObject({ kind: 'hid', path: '/dev/hidraw3', vendorId: '1209' });
    await link.write(report(7));
    expect(dev.writes).toHaveLength(1);
    expect(dev.writes[0]!.length).toBe(65);
    expect(dev.writes[0]![0]).toBe(0);
    expect(Uint8Array.from(dev.writes[0]!.subarray(1))).toEqual(report(7));
  });

  it('refuses writes that are not one whole report', async () => {
    const link = await HidLink.open('/dev/hidraw3', { module: fakeModule(new FakeDevice()) });
    await expect(link.write(new Uint8Array(65))).rejects.toMatchObject({ code: 'LINK_INVALID_OPTIONS' });
    await expect(link.write(new Uint8Array(10))).rejects.toMatchObject({ code: 'LINK_INVALID_OPTIONS' });
  });

  it('delivers each input report as one unit, copied', async () => {
    const dev = new FakeDevice();
    const link = await HidLink.open('/dev/hidraw3', { module: fakeModule(dev) });
    const got: Uint8Array[] = [];
    link.onData((r) => got.push(r));
    const buf = Buffer.from(report(1));
    dev.emit('data', buf);
    buf.fill(9);
    dev.emit('data', Buffer.from(report(2)));
    expect(got).toEqual([report(1), report(2)]);
  });

  it('a read error (unplug) ends the link with a LinkError', async () => {
    const dev = new FakeDevice();
    const link = await HidLink.open('/dev/hidraw3', { module: fakeModule(dev) });
    const ended = new Promise<LinkError | undefined>((resolve) => link.onClose(resolve));
    dev.emit('error', new Error('could not read from HID device'));
    const e = await ended;
    expect(e?.code).toBe('LINK_IO');
    expect(e?.message).toContain('unplugged?');
    expect(dev.closed).toBe(true);
  });

  it('a failed write (negative count) ends the link', async () => {
    const dev = new FakeDevice();
    dev.writeResult = -1;
    const link = await HidLink.open('/dev/hidraw3', { module: fakeModule(dev) });
    await expect(link.write(report(1))).rejects.toMatchObject({ code: 'LINK_IO' });
    expect(link.isOpen).toBe(false);
  });

  it('close() closes the device once', async () => {
    const dev = new FakeDevice();
    const link = await HidLink.open('/dev/hidraw3', { module: fakeModule(dev) });
    await link.close();
    await link.close();
    expect(dev.closed).toBe(true);
    await expect(link.write(report(1))).rejects.toMatchObject({ code: 'LINK_CLOSED' });
  });

  it('falls back to the synchronous HID class', async () => {
    const dev = new FakeDevice();
    const mod: NodeHidModule = {
      HID: function FakeHid(this: unknown) {
        return dev;
      } as unknown as NodeHidModule['HID'],
    };
    const link = await HidLink.open('/dev/hidraw4', { module: mod });
    await link.write(report(3));
    expect(dev.writes).toHaveLength(1);
  });
});

describe('HID open errors say what to do', () => {
  const open = (message: string, info = {}) =>
    HidLink.open('/dev/hidraw3', { module: fakeModule(new FakeDevice(), new Error(message)), info }).then(
      () => expect.unreachable(),
      (e: unknown) => e as LinkError,
    );

  it('missing device', async () => {
    const e = await open("cannot open device with path /dev/hidraw3: Failed to open a device with path '/dev/hidraw3': No such file or directory");
    expect(e).toBeInstanceOf(LinkError);
    expect(e.code).toBe('LINK_NOT_FOUND');
  });

  it('permissions: the udev rule with the device ids', async () => {
    const e = await open("Failed to open a device with path '/dev/hidraw3': Permission denied", { vendorId: '1209', productId: 'a001' });
    expect(e.code).toBe('LINK_PERMISSION_DENIED');
    expect(e.message).toContain('KERNEL=="hidraw*", ATTRS{idVendor}=="1209", ATTRS{idProduct}=="a001"');
    expect(e.message).toContain('udevadm');
  });

  it('busy', async () => {
    expect((await open('Device or resource busy')).code).toBe('LINK_BUSY');
  });

  it('libusb missing', () => {
    const e = hidLinkError(new Error('libusb-1.0.so.0: cannot open shared object file'), '/dev/hidraw3', 'open');
    expect(e.code).toBe('LINK_UNAVAILABLE');
    expect(e.message).toContain('libusb-1.0-0');
  });

  it('a module with no device class is LINK_UNAVAILABLE', async () => {
    await expect(HidLink.open('/dev/hidraw3', { module: {} })).rejects.toMatchObject({ code: 'LINK_UNAVAILABLE' });
  });
});

describe('HidLink on the real node-hid', () => {
  it('loads, and a path with no device is LINK_NOT_FOUND', async () => {
    let mod: NodeHidModule;
    try {
      mod = await loadNodeHidModule();
    } catch (e) {
      // The one machine state where this cannot run: say why instead of passing silently.
      expect((e as LinkError).code).toBe('LINK_UNAVAILABLE');
      return;
    }
    await expect(HidLink.open('/dev/hidraw-unicard-test-none', { module: mod })).rejects.toMatchObject({ code: 'LINK_NOT_FOUND' });
  });
});
