import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPtyPair, type PtyPair } from '../test/support/pty-pair.js';
import { SerialBus, SerialLink, naturalCompare, normaliseUsbId, scanSysfsSerialPorts } from './serial-link.js';
import { closed, receive } from '../test/support/link-waits.js';



describe('SerialLink over a socat pty', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function pair(): Promise<PtyPair> {
    const p = await createPtyPair();
    cleanups.push(() => p.close());
    return p;
  }
  async function open(path: string, options?: Parameters<typeof SerialLink.open>[1]): Promise<SerialLink> {
    const link = await SerialLink.open(path, options);
    cleanups.push(() => link.close());
    return link;
  }

  it('moves bytes both ways', async () => {
    const p = await pair();
    const a = await open(p.a);
    const b = await open(p.b);
    expect(a.info).toEqual({ kind: 'serial', path: p.a });
    expect(a.isOpen).toBe(true);
    const atB = receive(b, 3);
    await a.write(Uint8Array.of(0x00, 0x11, 0x13)); // NUL, XON, XOFF: no flow control, no mangling
    expect(await atB).toEqual(Uint8Array.of(0x00, 0x11, 0x13));
    const atA = receive(a, 2);
    await b.write(Uint8Array.of(0x0d, 0x0a)); // raw: CR LF pass unchanged
    expect(await atA).toEqual(Uint8Array.of(0x0d, 0x0a));
  });

  it('carries 64 KiB intact, in chunks split anywhere', async () => {
    const p = await pair();
    const a = await open(p.a);
    const b = await open(p.b);
    const data = new Uint8Array(randomBytes(64 * 1024));
    const atB = receive(b, data.length);
    await Promise.all([a.write(data.subarray(0, 40_000)), a.write(data.subarray(40_000))]);
    expect(Buffer.compare(await atB, data)).toBe(0);
  });

  it('paced writes arrive intact and in order', async () => {
    const p = await pair();
    // A fast line keeps the test short; the schedule itself is tested in pacer.test.ts.
    const a = await open(p.a, { pace: { baudRate: 2_000_000 } });
    const b = await open(p.b);
    expect(a.paced).toBe(true);
    const data = new Uint8Array(randomBytes(4096));
    const atB = receive(b, data.length);
    await Promise.all([a.write(data.subarray(0, 1000)), a.write(data.subarray(1000, 1001)), a.write(data.subarray(1001))]);
    expect(Buffer.compare(await atB, data)).toBe(0);
  });

  it('close: ends cleanly once, later writes reject with LINK_CLOSED, the port can be opened again', async () => {
    const p = await pair();
    const a = await open(p.a);
    const end = closed(a);
    await a.close();
    await a.close();
    expect(a.isOpen).toBe(false);
    expect(await end).toBeUndefined();
    await expect(a.write(Uint8Array.of(1))).rejects.toMatchObject({ code: 'LINK_CLOSED' });
    const again = await open(p.a);
    expect(again.isOpen).toBe(true);
  });

  it('a second open of the same port is LINK_BUSY (exclusive lock)', async () => {
    const p = await pair();
    await open(p.a);
    await expect(SerialLink.open(p.a)).rejects.toMatchObject({ code: 'LINK_BUSY' });
  });

  it('opening a missing path is LINK_NOT_FOUND with a hint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'unicard-serial-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await expect(SerialLink.open(join(dir, 'ttyUSB9'))).rejects.toMatchObject({
      code: 'LINK_NOT_FOUND',
      message: expect.stringContaining('check the cable'),
    });
  });

  it('unplug (socat killed) ends both links with LINK_IO', async () => {
    const p = await pair();
    const a = await open(p.a);
    const b = await open(p.b);
    const aEnd = closed(a);
    const bEnd = closed(b);
    await p.unplug();
    const [ea, eb] = await Promise.all([aEnd, bEnd]);
    expect(ea?.code).toBe('LINK_IO');
    expect(eb?.code).toBe('LINK_IO');
    expect(a.isOpen).toBe(false);
    await expect(a.write(Uint8Array.of(1))).rejects.toMatchObject({ code: 'LINK_CLOSED', detail: { endedBy: 'LINK_IO' } });
  });

  it('unplug is seen every time, also when the hang-up reaches a read as end of file', async () => {
    // Regression: serialport retries 0-byte reads forever (bindings-cpp #162); which path the
    // hang-up takes depends on timing, so repeat.
    for (let i = 0; i < 10; i++) {
      const p = await pair();
      const a = await open(p.a);
      const b = await open(p.b);
      const ends = Promise.all([closed(a), closed(b)]);
      if (i % 2 === 1) await a.write(Uint8Array.of(1, 2, 3));
      await p.unplug();
      expect((await ends).map((e) => e?.code)).toEqual(['LINK_IO', 'LINK_IO']);
    }
  });

  it('SerialBus.open opens by path', async () => {
    const p = await pair();
    const link = await new SerialBus().open(p.a);
    cleanups.push(() => link.close());
    expect(link.info.kind).toBe('serial');
  });
});

describe('SerialBus.list', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  /** A fake /sys: a USB adapter, a real and a placeholder 16550, a virtual console. */
  async function fakeSysfs(): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'unicard-sysfs-'));
    dirs.push(root);
    const usbDev = join(root, 'devices/pci0000:00/usb1/1-2');
    const usbTty = join(usbDev, '1-2:1.0/ttyUSB0');
    await mkdir(usbTty, { recursive: true });
    await writeFile(join(usbDev, 'idVendor'), '1a86\n');
    await writeFile(join(usbDev, 'idProduct'), '7523\n');
    await writeFile(join(usbDev, 'serial'), 'A1B2\n');
    await writeFile(join(usbDev, 'manufacturer'), 'QinHeng\n');
    await writeFile(join(usbDev, 'product'), 'USB Serial\n');
    const pnp = join(root, 'devices/pnp0/00:00');
    await mkdir(pnp, { recursive: true });
    const cls = join(root, 'class/tty');
    for (const name of ['ttyUSB0', 'ttyS0', 'ttyS1', 'tty0', 'ttyS10']) await mkdir(join(cls, name), { recursive: true });
    await symlink(usbTty, join(cls, 'ttyUSB0/device'));
    await symlink(pnp, join(cls, 'ttyS0/device'));
    await writeFile(join(cls, 'ttyS0/type'), '4\n');
    await symlink(pnp, join(cls, 'ttyS1/device'));
    await writeFile(join(cls, 'ttyS1/type'), '0\n');
    await symlink(pnp, join(cls, 'ttyS10/device'));
    await writeFile(join(cls, 'ttyS10/type'), '4\n');
    return root;
  }

  it('reports serialport enumeration with normalised USB ids', async () => {
    const bus = new SerialBus({
      listPorts: async () => [{ path: '/dev/ttyACM0', vendorId: '0483', productId: '5740', manufacturer: 'STMicro', serialNumber: 'X1' }, { path: '/dev/ttyS0' }],
    });
    expect(await bus.listWithWarnings()).toEqual({
      links: [
        { kind: 'serial', path: '/dev/ttyACM0', vendorId: '0483', productId: '5740', manufacturer: 'STMicro', label: 'STMicro', serialNumber: 'X1' },
        { kind: 'serial', path: '/dev/ttyS0' },
      ],
      warnings: [],
    });
  });

  it('falls back to sysfs when enumeration fails, and says so through onWarning', async () => {
    const root = await fakeSysfs();
    const warnings: string[] = [];
    const bus = new SerialBus({
      listPorts: () => Promise.reject(new Error('spawn udevadm ENOENT')),
      sysfsTtyDir: join(root, 'class/tty'),
      devDir: '/dev',
      onWarning: (w) => warnings.push(w),
    });
    expect(await bus.list()).toEqual([
      { kind: 'serial', path: '/dev/ttyS0' },
      { kind: 'serial', path: '/dev/ttyS10' },
      {
        kind: 'serial',
        path: '/dev/ttyUSB0',
        vendorId: '1a86',
        productId: '7523',
        serialNumber: 'A1B2',
        manufacturer: 'QinHeng',
        label: 'USB Serial',
      },
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('udevadm ENOENT');
  });

  it('is LINK_UNAVAILABLE when both enumeration and the fallback fail', async () => {
    const bus = new SerialBus({ listPorts: () => Promise.reject(new Error('no udev')), sysfsTtyDir: '/nonexistent/class/tty' });
    await expect(bus.list()).rejects.toMatchObject({ code: 'LINK_UNAVAILABLE' });
  });

  it('the sysfs scan alone finds the same ports', async () => {
    const root = await fakeSysfs();
    const links = await scanSysfsSerialPorts({ ttyDir: join(root, 'class/tty'), devDir: '/dev' });
    expect(links.map((l) => l.path)).toEqual(['/dev/ttyS0', '/dev/ttyS10', '/dev/ttyUSB0']);
  });

  it('normalises USB ids', () => {
    expect(normaliseUsbId('0x0483')).toBe('0483');
    expect(normaliseUsbId('483')).toBe('0483');
    expect(normaliseUsbId('1A86')).toBe('1a86');
    expect(normaliseUsbId('nope')).toBeUndefined();
    expect(normaliseUsbId(undefined)).toBeUndefined();
  });
});

describe('naturalCompare (the order devices are listed in)', () => {
  it('puts ttyUSB2 before ttyUSB10, groups by prefix, and is a total order', () => {
    const names = ['ttyUSB10', 'ttyS1', 'ttyACM0', 'ttyUSB2', 'ttyUSB02', 'ttyUSB1', 'ttyS10', 'ttyACM', 'ttyS2', 'ttyUSB2'];
    expect([...names].sort(naturalCompare)).toEqual(['ttyACM', 'ttyACM0', 'ttyS1', 'ttyS2', 'ttyS10', 'ttyUSB1', 'ttyUSB2', 'ttyUSB2', 'ttyUSB02', 'ttyUSB10']);
    for (const a of names) {
      expect(naturalCompare(a, a)).toBe(0);
      for (const b of names) {
        expect(Math.sign(naturalCompare(a, b)) + Math.sign(naturalCompare(b, a))).toBe(0);
        // Numbers of any length: no overflow, no float rounding.
        expect(Math.sign(naturalCompare(`${a}99999999999999999999`, `${a}100000000000000000000`))).toBe(-1);
      }
    }
  });
});
