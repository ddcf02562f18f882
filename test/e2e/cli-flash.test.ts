/**
 * `unicard flash` as a real process against the simulator on a real pty: a forged image is
 * refused before anything is sent, a downgrade is refused by the terminal, and an upload
 * interrupted by killing the CLI is resumed by the next `unicard flash` at the terminal's
 * offset, then test-booted and confirmed.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestWorld, type TestWorld } from '../../firmware-sim/terminal/test-world.js';
import { startSim, type SimHandle } from './sim-harness.js';
import { runCli, startCli } from './cli-harness.js';

let world: TestWorld;
let sim: SimHandle;
let vendorRoot: string;

beforeAll(async () => {
  world = await makeTestWorld({ firmwareSize: 512 * 1024 });
  sim = await startSim({ world, link: 'pty' });
  vendorRoot = join(world.dir, world.manifest.vendor.publicKeyFile);
}, 60_000);
afterAll(async () => {
  await sim?.stop();
  await world?.cleanup();
});

const image = (k: 'update' | 'downgrade' | 'forged'): string => join(world.dir, world.manifest.firmware[k].file);

describe('unicard flash', () => {
  it('refuses a forged image locally (exit 4) and a downgrade at the terminal (exit 1)', async () => {
    const forged = await runCli(['flash', image('forged'), '--port', sim.ptyPath!, '--vendor-root', vendorRoot]);
    expect(forged.code).toBe(4);
    expect(forged.stderr).toContain('does not verify');
    expect(forged.stderr).toContain('do not install this image');
    const down = await runCli(['flash', image('downgrade'), '--port', sim.ptyPath!, '--vendor-root', vendorRoot]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('anti-rollback');
    const st = await sim.control({ cmd: 'status' });
    expect(JSON.stringify(st)).not.toContain('receiving');
  }, 60_000);

  it('leaves an image on trial with --no-confirm; a restart rolls it back, and the next flash says so', async () => {
    const trial = await runCli(['flash', image('update'), '--port', sim.ptyPath!, '--vendor-root', vendorRoot, '--no-confirm', '--json']);
    expect(trial.code, trial.stderr).toBe(0);
    expect(JSON.parse(trial.stdout)).toMatchObject({ outcome: 'on-trial', from: '1.0.0', to: '1.1.0' });
    expect(trial.stderr).toContain('NOT confirmed');
    expect((await sim.control({ cmd: 'reboot' })).ok).toBe(true);
    const info = JSON.parse((await runCli(['info', '--port', sim.ptyPath!, '--vendor-root', vendorRoot, '--json'])).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ firmware: '1.0.0', firmwareUpdate: { state: 'rolled_back' } });
  }, 60_000);

  it('resumes an upload after the CLI was killed mid-way, then test-boots and confirms', async () => {
    const first = startCli(['flash', image('update'), '--port', sim.ptyPath!, '--vendor-root', vendorRoot, '--chunk', '1024']);
    // Plain progress lines (not a TTY) every 10 %: kill hard once a fifth is uploaded.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no progress: ${first.stdout()}`)), 60_000);
      const poll = setInterval(() => {
        if (/\]\s+(2\d|3\d|4\d)%/.test(first.stdout())) {
          clearInterval(poll);
          clearTimeout(timer);
          first.child.kill('SIGKILL');
          resolve();
        }
      }, 5);
    });
    await first.done;

    const second = await runCli(['flash', image('update'), '--port', sim.ptyPath!, '--vendor-root', vendorRoot, '--json']);
    expect(second.code, second.stderr).toBe(0);
    const r = JSON.parse(second.stdout) as { outcome: string; from: string; to: string; resumedAt: number; bytesSent: number; antiRollbackCounter: number };
    expect(r).toMatchObject({ outcome: 'confirmed', from: '1.0.0', to: '1.1.0' });
    expect(r.resumedAt).toBeGreaterThan(0);
    expect(r.resumedAt + r.bytesSent).toBe(world.manifest.firmware.update.size);
    expect(second.stderr).toContain('resuming an interrupted upload');
    expect(first.stdout()).toContain('rolled back its last update');
    const info = JSON.parse((await runCli(['info', '--port', sim.ptyPath!, '--vendor-root', vendorRoot, '--json'])).stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ firmware: '1.1.0', firmwareUpdate: { state: 'idle', running: '1.1.0' } });
  }, 120_000);
});
