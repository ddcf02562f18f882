import { existsSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPtyPair, type PtyPair } from './pty-pair.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('createPtyPair', () => {
  const pairs: PtyPair[] = [];
  afterEach(async () => {
    await Promise.all(pairs.splice(0).map((p) => p.close()));
  });

  it('makes two pty links in a unique temp dir and removes everything on close', async () => {
    const [p, q] = await Promise.all([createPtyPair(), createPtyPair()]);
    pairs.push(p, q);
    expect(dirname(p.a)).toBe(dirname(p.b));
    expect(dirname(p.a)).not.toBe(dirname(q.a));
    expect(readlinkSync(p.a)).toMatch(/^\/dev\/pts\/\d+$/);
    expect(readlinkSync(p.b)).toMatch(/^\/dev\/pts\/\d+$/);
    expect(alive(p.pid)).toBe(true);
    await p.close();
    await p.close();
    expect(alive(p.pid)).toBe(false);
    expect(existsSync(dirname(p.a))).toBe(false);
  });

  it('unplug kills socat at once; close still cleans up', async () => {
    const p = await createPtyPair();
    pairs.push(p);
    await p.unplug();
    expect(alive(p.pid)).toBe(false);
    await p.close();
    expect(existsSync(dirname(p.a))).toBe(false);
  });

  it('says how to install socat when it is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent-unicard-path';
    try {
      await expect(createPtyPair()).rejects.toMatchObject({
        code: 'LINK_UNAVAILABLE',
        message: expect.stringContaining('make setup'),
      });
    } finally {
      process.env.PATH = path;
    }
  });
});
