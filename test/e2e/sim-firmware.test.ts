/**
 * A full firmware update against the unicard-sim process on a pty (DESIGN.md §9), with the
 * daemon's TerminalSession as the host: an upload interrupted by a power cut (the process is
 * stopped) and resumed by image hash after restart, a forged image and a downgrade refused,
 * a test boot rolled back by a reboot without confirm, then an update confirmed, kept across
 * a restart, and the old version refused as a downgrade.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFirmwareImage } from '../../firmware-sim/issuer/firmware-image.js';
import { makeTestWorld, type TestWorld } from '../../firmware-sim/terminal/test-world.js';
import { TerminalSession } from '../../daemon/session/index.js';
import { openHostLink, startSim, trustFor, type SimHandle } from './sim-harness.js';

const CHUNK = 4096;

let world: TestWorld;
let stateDir: string;
const sims: SimHandle[] = [];
const sessions: TerminalSession[] = [];
/** The simulator and session of the latest boot() (the tests run in order on one state dir). */
let current: { sim: SimHandle; session: TerminalSession };

beforeAll(async () => {
  world = await makeTestWorld({ firmwareSize: 65_536 });
  stateDir = await mkdtemp(join(tmpdir(), 'unicard-e2e-state-'));
});
afterAll(async () => {
  for (const s of sessions) await s.close();
  for (const s of sims) await s.stop();
  await rm(stateDir, { recursive: true, force: true });
  await world.cleanup();
});

async function image(kind: 'update' | 'downgrade' | 'forged' | 'factory'): Promise<{ header: Uint8Array; body: Uint8Array }> {
  const img = decodeFirmwareImage(new Uint8Array(await readFile(join(world.dir, world.manifest.firmware[kind].file))));
  return { header: img.header, body: img.body };
}

/** Starts the simulator on the shared state dir, with the host's port open before it boots into a session. */
async function boot(): Promise<{ sim: SimHandle; session: TerminalSession }> {
  const sim = await startSim({ world, link: 'pty', args: ['--no-pace'], stateDir });
  sims.push(sim);
  const link = await openHostLink(sim);
  const session = await TerminalSession.open(link, { trust: await trustFor(world) });
  sessions.push(session);
  current = { sim, session };
  return current;
}

async function upload(session: TerminalSession, body: Uint8Array, from: number, until = body.length): Promise<number> {
  let offset = from;
  while (offset < until) {
    const data = body.subarray(offset, Math.min(until, offset + CHUNK));
    offset = (await session.request({ type: 'FirmwareChunk', offset, data })).nextOffset;
  }
  return offset;
}

/** Runs `action` (which makes the terminal restart), waits for the new boot banner, handshakes again. */
async function throughReboot(session: TerminalSession, action: () => Promise<unknown>): Promise<string | undefined> {
  const banner = new Promise<string | undefined>((resolve) => {
    const off = session.onBanner((b) => {
      off();
      resolve(b.firmware);
    });
  });
  await action();
  const fw = await banner;
  await session.handshake();
  return fw;
}

describe('firmware update end to end', () => {
  it('resumes an upload interrupted by a power cut, refuses forged and downgraded images, rolls back without confirm', async () => {
    const update = await image('update');
    let { sim, session } = await boot();
    expect(sim.ready.firmware).toBe('1.0.0');
    const begin = await session.request({ type: 'FirmwareBegin', imageHeader: update.header, totalSize: update.body.length });
    expect(begin.resumeOffset).toBe(0);
    const half = await upload(session, update.body, 0, update.body.length / 2);
    // Power cut: the process goes away mid-upload.
    await session.close();
    expect(await sim.stop()).toBe(0);

    ({ sim, session } = await boot());
    const resumed = await session.request({ type: 'FirmwareBegin', imageHeader: update.header, totalSize: update.body.length });
    expect(resumed.resumeOffset).toBe(half);
    expect(await session.request({ type: 'FirmwareStatus' })).toMatchObject({ state: 'receiving', uploadOffset: half });

    // A forged header and a downgrade are refused before any byte is sent, and the upload survives.
    const forged = await image('forged');
    await expect(session.request({ type: 'FirmwareBegin', imageHeader: forged.header, totalSize: forged.body.length })).rejects.toMatchObject({
      code: 'FIRMWARE_BAD_SIGNATURE',
    });
    const downgrade = await image('downgrade');
    await expect(session.request({ type: 'FirmwareBegin', imageHeader: downgrade.header, totalSize: downgrade.body.length })).rejects.toMatchObject({
      code: 'FIRMWARE_DOWNGRADE',
    });
    expect((await session.request({ type: 'FirmwareBegin', imageHeader: update.header, totalSize: update.body.length })).resumeOffset).toBe(half);

    expect(await upload(session, update.body, half)).toBe(update.body.length);
    expect((await session.request({ type: 'FirmwareFinish' })).state).toBe('pending');
    expect(await session.request({ type: 'FirmwareStatus' })).toMatchObject({ state: 'pending', pendingVersion: [1, 1, 0] });

    // Activate: the terminal answers, restarts into 1.1.0 on trial.
    expect(await throughReboot(session, () => session.request({ type: 'FirmwareActivate' }))).toBe('1.1.0');
    expect(await session.request({ type: 'FirmwareStatus' })).toMatchObject({ state: 'testing', runningVersion: [1, 1, 0] });

    // Reboot without confirming: the boot loader rolls back to 1.0.0.
    expect(await throughReboot(session, () => session.request({ type: 'Reboot', mode: 'normal' }))).toBe('1.0.0');
    expect(await session.request({ type: 'FirmwareStatus' })).toMatchObject({ state: 'rolled_back', runningVersion: [1, 0, 0], antiRollbackCounter: 1 });
    await expect(session.request({ type: 'FirmwareConfirm' })).rejects.toMatchObject({ code: 'FIRMWARE_NOT_TESTING' });
    const log = await session.request({ type: 'ReadLog', sinceSeq: 0, max: 64 });
    expect(log.entries.map((e) => e.event)).toEqual(expect.arrayContaining(['fw_test_boot', 'fw_rollback']));
  });

  it('confirms an update, keeps it across a restart, and then refuses the old version', async () => {
    const update = await image('update');
    let { sim, session } = current;
    expect((await session.request({ type: 'FirmwareBegin', imageHeader: update.header, totalSize: update.body.length })).resumeOffset).toBe(0);
    await upload(session, update.body, 0);
    await session.request({ type: 'FirmwareFinish' });
    expect(await throughReboot(session, () => session.request({ type: 'Reboot', mode: 'test_image' }))).toBe('1.1.0');
    expect((await session.request({ type: 'FirmwareConfirm' })).antiRollbackCounter).toBe(2);

    await session.close();
    expect(await sim.stop()).toBe(0);
    ({ sim, session } = await boot());
    expect(sim.ready.firmware).toBe('1.1.0');
    expect(await session.request({ type: 'FirmwareStatus' })).toMatchObject({ state: 'idle', runningVersion: [1, 1, 0], antiRollbackCounter: 2 });
    const factory = await image('factory');
    await expect(session.request({ type: 'FirmwareBegin', imageHeader: factory.header, totalSize: factory.body.length })).rejects.toMatchObject({
      code: 'FIRMWARE_DOWNGRADE',
    });
  });
});
