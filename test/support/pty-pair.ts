/**
 * Two connected pseudo-terminals made by socat: what a USB-serial cable between the daemon
 * and a terminal looks like, without hardware. Each pair lives in its own temp dir, so tests
 * can run in parallel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { socatError, waitForSocatStart } from '../../link/pty-link.js';

/** A running pty pair. */
export interface PtyPair {
  /** Path of one end (a symlink to /dev/pts/N). */
  a: string;
  /** Path of the other end. */
  b: string;
  /** socat's process id. */
  pid: number;
  /** Kills socat, waits for it, removes the temp dir. Idempotent. */
  close(): Promise<void>;
  /**
   * Simulates pulling the cable: kills socat with SIGKILL, so both ptys lose their other side
   * at once. The temp dir stays until `close()`.
   */
  unplug(): Promise<void>;
}

/** Options of {@link createPtyPair}. */
export interface PtyPairOptions {
  /** Give up waiting for socat after this long (default 5000 ms). */
  timeoutMs?: number;
}

/**
 * Spawns `socat -d -d pty,raw,echo=0,link=<dir>/a pty,raw,echo=0,link=<dir>/b` in a fresh
 * temp dir and resolves once socat runs its transfer loop (both links then exist).
 * Rejects with LINK_UNAVAILABLE when socat is not installed.
 */
export async function createPtyPair(options: PtyPairOptions = {}): Promise<PtyPair> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const dir = await mkdtemp(join(tmpdir(), 'unicard-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  let child: ChildProcess;
  try {
    child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw socatError(e);
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    // A failed spawn (socat missing) emits 'error' and never 'exit'.
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });

  try {
    await waitForSocatStart(child, timeoutMs, 'the ptys');
    await Promise.all([lstat(a), lstat(b)]);
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  // socat keeps logging to stderr; keep draining it so it never blocks on a full pipe.
  child.stderr?.resume();

  let closing: Promise<void> | undefined;
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    a,
    b,
    pid: child.pid ?? -1,
    unplug: () => kill('SIGKILL'),
    close: () => {
      closing ??= (async () => {
        await kill('SIGTERM');
        await rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
