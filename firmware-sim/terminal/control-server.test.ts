import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlServer } from './control-server.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-ctl-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** Sends lines, returns one parsed reply per line. */
async function exchange(path: string, lines: string[]): Promise<unknown[]> {
  const socket = net.connect(path);
  socket.setEncoding('utf8');
  let buffer = '';
  const replies: unknown[] = [];
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (t: string) => {
      buffer += t;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        replies.push(JSON.parse(buffer.slice(0, nl)));
        buffer = buffer.slice(nl + 1);
      }
      if (replies.length >= lines.filter((l) => l.trim() !== '').length) resolve();
    });
    socket.on('error', reject);
  });
  socket.write(lines.map((l) => `${l}\n`).join(''));
  await done;
  socket.destroy();
  return replies;
}

describe('control socket', () => {
  it('answers each JSON or word line with one JSON line, in order', async () => {
    const seen: unknown[] = [];
    const path = join(dir, 'sim.ctl');
    const server = await ControlServer.listen(path, async (c) => {
      seen.push(c);
      return { ok: true, echo: c, bytes: new Uint8Array([0xab]) };
    });
    try {
      expect(((await stat(path)).mode & 0o777).toString(8)).toBe('600');
      const replies = await exchange(path, ['{"cmd":"status","id":1}', '', 'finger 3', '{broken']);
      expect(replies).toEqual([
        { ok: true, echo: { cmd: 'status', id: 1 }, bytes: 'ab' },
        { ok: true, echo: { cmd: 'finger', finger: '3' }, bytes: 'ab' },
        { ok: false, error: { code: 'CONTROL_BAD_COMMAND', message: expect.stringContaining('not JSON') } },
      ]);
      expect(seen).toHaveLength(2);
    } finally {
      await server.close();
    }
    await expect(stat(path)).rejects.toThrow();
  });

  it('replaces a stale socket file, refuses a live one and a regular file', async () => {
    const path = join(dir, 'sim.ctl');
    const first = await ControlServer.listen(path, async () => ({ ok: true }));
    await expect(ControlServer.listen(path, async () => ({ ok: true }))).rejects.toMatchObject({ code: 'CONTROL_SOCKET_BUSY' });
    // A killed simulator leaves its socket file behind: simulate by closing without unlinking.
    await new Promise<void>((resolve) => (first as unknown as { server: net.Server }).server.close(() => resolve()));
    const second = await ControlServer.listen(path, async () => ({ ok: true, second: true }));
    expect(await exchange(path, ['status'])).toEqual([{ ok: true, second: true }]);
    await second.close();
    const file = join(dir, 'not-a-socket');
    await writeFile(file, 'x');
    await expect(ControlServer.listen(file, async () => ({ ok: true }))).rejects.toMatchObject({ code: 'CONTROL_SOCKET_BUSY' });
  });
});
