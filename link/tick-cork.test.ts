import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TickCork } from './tick-cork.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A real loopback TCP pair: the client socket and the chunks (one per read) the server got. */
async function pair(): Promise<{ client: net.Socket; chunks: Buffer[]; bytes: () => number }> {
  const chunks: Buffer[] = [];
  const server = net.createServer((s) => s.on('data', (d: Buffer) => chunks.push(d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.setNoDelay(true);
  await new Promise<void>((r) => client.once('connect', r));
  cleanups.push(() => {
    client.destroy();
    server.close();
  });
  return { client, chunks, bytes: () => chunks.reduce((n, c) => n + c.length, 0) };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
}

describe('TickCork over a real TCP socket', () => {
  it('sends the writes of one tick in one piece, in order, and every write callback fires', async () => {
    const { client, chunks, bytes } = await pair();
    const cork = new TickCork(client);
    const done: number[] = [];
    for (let i = 0; i < 5; i++) {
      cork.hold();
      client.write(Buffer.from(`frame-${i};`), () => done.push(i));
    }
    // Nothing has left yet: the socket is corked until this tick ends.
    expect(client.writableLength).toBe(5 * 8);
    await until(() => bytes() === 40);
    expect(Buffer.concat(chunks).toString()).toBe('frame-0;frame-1;frame-2;frame-3;frame-4;');
    // One writev: loopback delivers it as one read.
    expect(chunks).toHaveLength(1);
    await until(() => done.length === 5);
    expect(done).toEqual([0, 1, 2, 3, 4]);
  });

  it('writes of later ticks are not held back by earlier ones', async () => {
    const { client, chunks, bytes } = await pair();
    const cork = new TickCork(client);
    cork.hold();
    client.write('a');
    await new Promise((r) => setImmediate(r));
    expect(client.writableLength).toBe(0); // uncorked at the end of the first tick
    cork.hold();
    client.write('b');
    await until(() => bytes() === 2);
    expect(Buffer.concat(chunks).toString()).toBe('ab');
  });
});
