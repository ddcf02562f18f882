import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cairoOffsetMs, intlCairoOffsetSeconds } from './egypt-time.js';

const ROOT = join(import.meta.dirname, '../..');
const vectors = JSON.parse(readFileSync(join(ROOT, 'test/vectors/tzif.json'), 'utf8')) as { zones: Record<string, string> };
const dir = mkdtempSync(join(tmpdir(), 'egypt-time-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A zoneinfo directory holding `Africa/Cairo` with these bytes (or nothing). */
function zoneDir(name: string, bytes?: Uint8Array): string {
  const d = join(dir, name);
  mkdirSync(join(d, 'Africa'), { recursive: true });
  if (bytes !== undefined) writeFileSync(join(d, 'Africa', 'Cairo'), bytes);
  return d;
}

const SUMMER_2024 = Date.parse('2024-07-01T00:00:00Z');
const WINTER_2024 = Date.parse('2024-12-01T00:00:00Z');

/** The source and two offsets, from a fresh process (the source is chosen once per process). */
async function inChild(tzdir: string): Promise<{ source: { kind: string; path?: string; reason?: string }; summer: number; winter: number }> {
  const code = `const m = await import('./daemon/time/egypt-time.ts'); console.log(JSON.stringify({ source: m.egyptTimeSource(), summer: m.cairoOffsetMs(${SUMMER_2024}), winter: m.cairoOffsetMs(${WINTER_2024}) }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, env: { ...process.env, TZDIR: tzdir }, timeout: 30_000 });
  return JSON.parse(stdout.trim()) as { source: { kind: string; path?: string; reason?: string }; summer: number; winter: number };
}

describe("Egypt's offset: the system tz file first, Intl when it is missing or bad", () => {
  it('reads $TZDIR/Africa/Cairo when it is there', async () => {
    const d = zoneDir('good', new Uint8Array(Buffer.from(vectors.zones['Africa/Cairo'] as string, 'base64')));
    expect(await inChild(d)).toEqual({ source: { kind: 'zone-file', path: join(d, 'Africa', 'Cairo') }, summer: 3 * 3_600_000, winter: 2 * 3_600_000 });
  });

  it('falls back to Intl, with the reason, when the file is missing or not a tz file', async () => {
    const missing = await inChild(zoneDir('missing'));
    expect(missing).toEqual({ source: { kind: 'intl', reason: `${join(dir, 'missing', 'Africa', 'Cairo')}: ENOENT` }, summer: 3 * 3_600_000, winter: 2 * 3_600_000 });
    const junk = await inChild(zoneDir('junk', new TextEncoder().encode('not a zone file at all, but long enough to have a header of forty-four bytes')));
    expect(junk).toEqual({ source: { kind: 'intl', reason: `${join(dir, 'junk', 'Africa', 'Cairo')}: TIME_ZONE_INVALID` }, summer: 3 * 3_600_000, winter: 2 * 3_600_000 });
  });

  it('in this process, the cached per-hour offset equals Intl across a year, hour by hour', () => {
    const from = Date.parse('2026-01-01T00:00:00Z');
    for (let t = from; t < from + 366 * 86_400_000; t += 3_600_000) expect(cairoOffsetMs(t)).toBe(intlCairoOffsetSeconds(t / 1000) * 1000);
  });
});
