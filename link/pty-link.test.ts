import { randomBytes } from 'node:crypto';
import { lstat, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PtyLink } from './pty-link.js';
import { SerialLink } from './serial-link.js';
import { closed, receive } from '../test/support/link-waits.js';



async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

function presence(link: PtyLink, want: boolean): Promise<void> {
  return new Promise((resolve) => {
    const off = link.onPresence((p) => {
      if (p === want) {
        off();
        resolve();
      }
    });
  });
}

describe('PtyLink', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function setup(options: Parameters<typeof PtyLink.open>[1] = {}): Promise<{ dir: string; path: string; device: PtyLink }> {
    const dir = await mkdtemp(join(tmpdir(), 'unicard-ptylink-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'tty');
    const device = await PtyLink.open(path, options);
    cleanups.push(() => device.close());
    return { dir, path, device };
  }
  async function host(path: string): Promise<SerialLink> {
    const link = await SerialLink.open(path);
    cleanups.push(() => link.close());
    return link;
  }

  it('appears at its path and moves binary bytes both ways', async () => {
    const { path, device } = await setup();
    expect(device.present).toBe(true);
    expect(device.info.kind).toBe('serial');
    expect((await lstat(path)).isSymbolicLink()).toBe(true);
    const h = await host(path);
    const data = new Uint8Array(randomBytes(4096));
    data[0] = 0x00;
    data[1] = 0x11;
    data[2] = 0x13;
    const atHost = receive(h, data.length);
    await device.write(data);
    expect(await atHost).toEqual(data);
    const atDevice = receive(device, 3);
    await h.write(Uint8Array.of(0x0d, 0x0a, 0x00));
    expect(await atDevice).toEqual(Uint8Array.of(0x0d, 0x0a, 0x00));
  });

  it('vanishes like an unplugged USB adapter and returns at the same path', async () => {
    const { path, device } = await setup();
    const h = await host(path);
    const hostEnd = closed(h);
    await device.vanish();
    expect(device.present).toBe(false);
    expect(device.isOpen).toBe(true);
    expect(await exists(path)).toBe(false);
    expect((await hostEnd)?.code).toMatch(/^LINK_/);
    await device.write(new Uint8Array([1, 2, 3])); // into the void, no error
    await device.return();
    expect(device.present).toBe(true);
    const h2 = await host(path);
    const got = receive(h2, 2);
    await device.write(new Uint8Array([4, 5]));
    expect(await got).toEqual(new Uint8Array([4, 5]));
  });

  it('keeps the port when the host closes and reopens it', async () => {
    const { path, device } = await setup();
    const h = await host(path);
    await h.close();
    const h2 = await host(path);
    const got = receive(device, 1);
    await h2.write(new Uint8Array([42]));
    expect(await got).toEqual(new Uint8Array([42]));
  });

  it('starts socat again when it dies on its own', async () => {
    const { path, device } = await setup();
    const pid = device.pid!;
    const gone = presence(device, false);
    const back = presence(device, true);
    process.kill(pid, 'SIGKILL');
    await gone;
    await back;
    expect(device.pid).not.toBe(pid);
    expect(await exists(path)).toBe(true);
  });

  it('removes its path on close; replaces a stale symlink; refuses a regular file', async () => {
    const { dir, path, device } = await setup();
    await device.close();
    expect(await exists(path)).toBe(false);
    const stale = join(dir, 'stale');
    await symlink('/dev/pts/does-not-exist', stale);
    const again = await PtyLink.open(stale);
    cleanups.push(() => again.close());
    expect(again.present).toBe(true);
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    await expect(PtyLink.open(file)).rejects.toMatchObject({ code: 'LINK_BUSY' });
  });

  it('paces when asked to', async () => {
    const { device } = await setup({ pace: { baudRate: 115200 } });
    expect(device.paced).toBe(true);
  });
});
