import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpBus, TcpLink, TcpLinkServer, formatTcpAddress, parseTcpAddress } from './tcp-link.js';
import { closed, receive } from '../test/support/link-waits.js';



function nextLink(server: TcpLinkServer): Promise<TcpLink> {
  return new Promise((resolve) => {
    const off = server.onLink((link) => {
      off();
      resolve(link);
    });
  });
}

/** A port nothing listens on: bind an ephemeral port, then release it. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('TCP links', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function listen(options?: Parameters<typeof TcpLinkServer.listen>[0]): Promise<TcpLinkServer> {
    const server = await TcpLinkServer.listen(options);
    cleanups.push(() => server.close());
    return server;
  }
  async function connect(path: string, options?: Parameters<typeof TcpLink.connect>[1]): Promise<TcpLink> {
    const link = await TcpLink.connect(path, options);
    cleanups.push(() => link.close());
    return link;
  }

  it('moves bytes both ways over a real ephemeral port, 64 KiB intact', async () => {
    const server = await listen();
    expect(server.address.port).toBeGreaterThan(0);
    const accepted = nextLink(server);
    const client = await connect(server.path);
    const device = await accepted;
    expect(client.info).toEqual({ kind: 'tcp', path: server.path });
    expect(device.info.kind).toBe('tcp');
    expect(device.info.label).toMatch(/^connection from 127\.0\.0\.1:\d+$/);
    expect(server.link).toBe(device);

    const data = new Uint8Array(randomBytes(64 * 1024));
    const atDevice = receive(device, data.length);
    await client.write(data);
    expect(Buffer.compare(await atDevice, data)).toBe(0);
    const atClient = receive(client, 4);
    await device.write(Uint8Array.of(0, 0xff, 0x0d, 0x0a));
    expect(await atClient).toEqual(Uint8Array.of(0, 0xff, 0x0d, 0x0a));
  });

  it('paced writes arrive intact', async () => {
    const server = await listen({ pace: { baudRate: 2_000_000 } });
    const accepted = nextLink(server);
    const client = await connect(server.path);
    const device = await accepted;
    expect(device.paced).toBe(true);
    const data = new Uint8Array(randomBytes(3000));
    const atClient = receive(client, data.length);
    await Promise.all([device.write(data.subarray(0, 100)), device.write(data.subarray(100))]);
    expect(Buffer.compare(await atClient, data)).toBe(0);
  });

  it('client close: the client ends cleanly, the server side sees LINK_CLOSED and frees the slot', async () => {
    const server = await listen();
    const accepted = nextLink(server);
    const client = await connect(server.path);
    const device = await accepted;
    const clientEnd = closed(client);
    const deviceEnd = closed(device);
    await client.close();
    expect(await clientEnd).toBeUndefined();
    expect((await deviceEnd)?.code).toBe('LINK_CLOSED');
    expect(server.link).toBeUndefined();
    await expect(client.write(Uint8Array.of(1))).rejects.toMatchObject({ code: 'LINK_CLOSED' });
    // The slot is free again: a new client is accepted.
    const again = nextLink(server);
    await connect(server.path);
    expect((await again).isOpen).toBe(true);
  });

  it("'refuse' (default): a second client is disconnected at once, the first keeps working", async () => {
    const refused: string[] = [];
    const server = await listen({ onRefused: (remote) => refused.push(remote) });
    const accepted = nextLink(server);
    const first = await connect(server.path);
    const device = await accepted;
    const second = await connect(server.path);
    expect((await closed(second))?.code).toBe('LINK_CLOSED');
    expect(refused).toHaveLength(1);
    expect(server.link).toBe(device);
    const atDevice = receive(device, 2);
    await first.write(Uint8Array.of(7, 8));
    expect(await atDevice).toEqual(Uint8Array.of(7, 8));
    expect(first.isOpen).toBe(true);
  });

  it("'replace': a second client takes over and the old link ends with LINK_CLOSED", async () => {
    const server = await listen({ whenBusy: 'replace' });
    const firstAccepted = nextLink(server);
    const first = await connect(server.path);
    const oldDevice = await firstAccepted;
    const oldDeviceEnd = closed(oldDevice);
    const firstEnd = closed(first);
    const secondAccepted = nextLink(server);
    const second = await connect(server.path);
    const newDevice = await secondAccepted;
    const oldError = await oldDeviceEnd;
    expect(oldError?.code).toBe('LINK_CLOSED');
    expect(oldError?.detail).toMatchObject({ replacedBy: expect.any(String) });
    expect((await firstEnd)?.code).toBe('LINK_CLOSED');
    expect(server.link).toBe(newDevice);
    const atNew = receive(newDevice, 1);
    await second.write(Uint8Array.of(42));
    expect(await atNew).toEqual(Uint8Array.of(42));
  });

  it('server close ends the connected client with LINK_CLOSED', async () => {
    const server = await listen();
    const accepted = nextLink(server);
    const client = await connect(server.path);
    await accepted;
    const clientEnd = closed(client);
    await server.close();
    await server.close();
    expect((await clientEnd)?.code).toBe('LINK_CLOSED');
  });

  it('connecting where nothing listens is LINK_NOT_FOUND with a hint', async () => {
    const port = await freePort();
    await expect(TcpLink.connect(`127.0.0.1:${port}`)).rejects.toMatchObject({
      code: 'LINK_NOT_FOUND',
      message: expect.stringContaining('nothing is listening'),
    });
  });

  it('listening on a taken port is LINK_BUSY', async () => {
    const server = await listen();
    await expect(TcpLinkServer.listen({ port: server.address.port })).rejects.toMatchObject({ code: 'LINK_BUSY' });
  });

  it('a malformed address is LINK_INVALID_OPTIONS, not an exception', async () => {
    await expect(TcpLink.connect('no-port-here')).rejects.toMatchObject({ code: 'LINK_INVALID_OPTIONS' });
    await expect(TcpLink.connect('127.0.0.1:70000')).rejects.toMatchObject({ code: 'LINK_INVALID_OPTIONS' });
  });

  it('TcpBus lists configured endpoints without probing and opens any address', async () => {
    const server = await listen();
    const bus = new TcpBus({ endpoints: [{ path: server.path, label: 'bakery reader' }, 'reader.local:4001'] });
    expect(await bus.list()).toEqual([
      { kind: 'tcp', path: server.path, label: 'bakery reader' },
      { kind: 'tcp', path: 'reader.local:4001' },
    ]);
    const accepted = nextLink(server);
    const link = await bus.open(server.path);
    cleanups.push(() => link.close());
    expect(link.info).toEqual({ kind: 'tcp', path: server.path, label: 'bakery reader' });
    await accepted;
    expect(() => new TcpBus({ endpoints: ['bad'] })).toThrow(expect.objectContaining({ code: 'LINK_INVALID_OPTIONS' }));
  });
});

describe('TCP addresses', () => {
  it('parses host:port, [v6]:port and tcp:// forms', () => {
    expect(parseTcpAddress('127.0.0.1:4001')).toEqual({ host: '127.0.0.1', port: 4001 });
    expect(parseTcpAddress('tcp://reader.local:23')).toEqual({ host: 'reader.local', port: 23 });
    expect(parseTcpAddress('[::1]:4001')).toEqual({ host: '::1', port: 4001 });
    expect(formatTcpAddress({ host: '::1', port: 4001 })).toBe('[::1]:4001');
    expect(formatTcpAddress({ host: '10.0.0.5', port: 4001 })).toBe('10.0.0.5:4001');
    for (const bad of ['', 'host', 'host:', ':80', 'host:0', 'host:65536', '::1:80', 'a b:80']) {
      expect(() => parseTcpAddress(bad)).toThrow(expect.objectContaining({ code: 'LINK_INVALID_OPTIONS' }));
    }
  });
});
