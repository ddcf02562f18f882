/**
 * The device end of a simulated serial port: a link over a child `socat` that makes a pty
 * and exposes its slave at a fixed path (`socat PTY,link=<path>,raw,echo=0 STDIO`). The host
 * opens that path like any USB serial adapter; whatever this link writes comes out there.
 *
 * Unlike other links this one survives its port going away: {@link PtyLink.vanish} kills
 * socat, so the path disappears and the host's open port hangs up exactly as an unplugged
 * USB serial device does, while the device (this link) stays up, its writes going nowhere;
 * {@link PtyLink.return} starts socat again at the same path, as when the cable is plugged
 * back in. If socat dies on its own, it is restarted the same way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, unlink } from 'node:fs/promises';
import { LinkError } from '../protocol/errors.js';
import { BaseLink, type BaseLinkOptions } from './base-link.js';
import type { PaceOptions } from './pacer.js';

/** Options of {@link PtyLink.open}. */
export interface PtyLinkOptions {
  /** Pace writes to a UART's line rate (the pty itself has none). */
  pace?: PaceOptions;
  /** Clock and timers for pacing (tests). */
  timer?: BaseLinkOptions['timer'];
  /** socat executable (default `socat` on the PATH). */
  socat?: string;
  /** Give up waiting for socat to start after this long (default 5000 ms). */
  startTimeoutMs?: number;
  /** Told about socat restarts and failures, for logs. */
  onLog?: (message: string) => void;
}

interface SocatProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** Set when we asked it to stop (vanish, close): its exit is expected. */
  stopping: boolean;
}

/** Most unexpected socat exits restarted in a row before the link gives up. */
const MAX_RESTARTS = 5;

/** See the module comment. Create with {@link PtyLink.open}. */
export class PtyLink extends BaseLink {
  private socat: SocatProcess | undefined;
  private presenceListeners: Array<{ fn: (present: boolean) => void }> = [];
  private closing = false;
  private restarts = 0;
  private transition: Promise<void> = Promise.resolve();

  private constructor(
    /** The path the host opens (a symlink to /dev/pts/N while present). */
    readonly path: string,
    private readonly options: PtyLinkOptions,
  ) {
    const base: BaseLinkOptions = {};
    if (options.pace !== undefined) base.pace = options.pace;
    if (options.timer !== undefined) base.timer = options.timer;
    super({ kind: 'serial', path, label: `simulated serial port ${path}` }, base);
  }

  /**
   * Starts socat with its pty at `path` and resolves once the path exists. A stale symlink
   * left at `path` (by a killed simulator) is replaced; anything else there is LINK_BUSY.
   * Rejects with LINK_UNAVAILABLE when socat is missing, LINK_TIMEOUT or LINK_IO when it
   * does not start.
   */
  static async open(path: string, options: PtyLinkOptions = {}): Promise<PtyLink> {
    const link = new PtyLink(path, options);
    await link.spawnSocat();
    return link;
  }

  /** True while the port exists (socat runs). */
  get present(): boolean {
    return this.socat !== undefined && !this.socat.stopping;
  }

  /** socat's process id, while present. */
  get pid(): number | undefined {
    return this.present ? this.socat?.child.pid : undefined;
  }

  /** Subscribes to the port disappearing (false) and reappearing (true). Returns the unsubscribe function. */
  onPresence(listener: (present: boolean) => void): () => void {
    const entry = { fn: listener };
    this.presenceListeners.push(entry);
    return () => {
      this.presenceListeners = this.presenceListeners.filter((e) => e !== entry);
    };
  }

  /**
   * Unplugs the port: socat is stopped, the path removed, the host's open port hangs up.
   * Bytes written meanwhile are discarded (as a UART with no cable). Idempotent.
   */
  vanish(): Promise<void> {
    return this.serialise(async () => {
      if (!this.isOpen || !this.present) return;
      await this.stopSocat();
      this.notify(false);
    });
  }

  /** Plugs the port back in at the same path. Idempotent; LINK_CLOSED after close(). */
  return(): Promise<void> {
    return this.serialise(async () => {
      if (!this.isOpen) throw new LinkError('LINK_CLOSED', `${this.path} is closed`, { path: this.path });
      if (this.present) return;
      this.restarts = 0;
      await this.spawnSocat();
      this.notify(true);
    });
  }

  protected rawWrite(chunk: Uint8Array): Promise<void> {
    const proc = this.socat;
    const stdin = proc?.child.stdin;
    // Unplugged: the bytes leave the device and reach nobody.
    if (!proc || proc.stopping || !stdin || stdin.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // Resolve either way: a write that fails because socat just died is a lost byte on the
      // line, not an error of the device; the exit handler restarts socat.
      stdin.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength), () => resolve());
    });
  }

  protected async rawClose(): Promise<void> {
    this.closing = true;
    await this.transition.catch(() => {});
    await this.stopSocat();
  }

  private serialise(step: () => Promise<void>): Promise<void> {
    const run = this.transition.then(step);
    this.transition = run.catch(() => {});
    return run;
  }

  private notify(present: boolean): void {
    for (const e of this.presenceListeners.slice()) {
      try {
        e.fn(present);
      } catch {
        // A listener's bug must not stop the others from hearing about the port.
      }
    }
  }

  private async spawnSocat(): Promise<void> {
    await removeStaleLink(this.path);
    const timeoutMs = this.options.startTimeoutMs ?? 5000;
    let child: ChildProcess;
    try {
      child = spawn(this.options.socat ?? 'socat', ['-d', '-d', `PTY,link=${this.path},raw,echo=0`, 'STDIO'], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (e) {
      throw socatError(e);
    }
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const proc: SocatProcess = { child, exited, stopping: false };
    // stdin errors (EPIPE when socat dies) are handled by the exit path.
    child.stdin?.on('error', () => {});
    try {
      await waitForSocatStart(child, timeoutMs, 'the pty', { path: this.path });
      await lstat(this.path);
    } catch (e) {
      proc.stopping = true;
      child.kill('SIGKILL');
      await exited;
      throw e instanceof LinkError ? e : new LinkError('LINK_IO', `socat did not create ${this.path}`, { path: this.path });
    }
    child.stderr?.resume();
    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.socat === proc && !proc.stopping) this.deliver(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    child.once('exit', (code, signal) => this.onSocatExit(proc, code, signal));
    this.socat = proc;
  }

  private onSocatExit(proc: SocatProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (proc.stopping || this.closing || this.socat !== proc || !this.isOpen) return;
    this.socat = undefined;
    this.notify(false);
    if (this.restarts >= MAX_RESTARTS) {
      this.fail(new LinkError('LINK_IO', `socat for ${this.path} keeps exiting (last: ${signal ?? code})`, { path: this.path }));
      return;
    }
    this.restarts++;
    this.options.onLog?.(`socat for ${this.path} exited (${signal ?? code}); starting it again`);
    void this.serialise(async () => {
      if (!this.isOpen || this.present) return;
      try {
        await this.spawnSocat();
        this.notify(true);
      } catch (e) {
        this.fail(e instanceof LinkError ? e : new LinkError('LINK_IO', `cannot restart socat for ${this.path}`, { path: this.path }));
      }
    });
  }

  private async stopSocat(): Promise<void> {
    const proc = this.socat;
    if (!proc) return;
    proc.stopping = true;
    // SIGTERM: socat removes its symlink on the way out, as udev removes a device node.
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
    const killer = setTimeout(() => proc.child.kill('SIGKILL'), 2000);
    await proc.exited;
    clearTimeout(killer);
    if (this.socat === proc) this.socat = undefined;
    await removeStaleLink(this.path);
  }
}

/** Removes a symlink left at `path` (socat killed with SIGKILL leaves one); refuses anything else. */
async function removeStaleLink(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSymbolicLink()) {
    throw new LinkError('LINK_BUSY', `${path} exists and is not a pty link; refusing to replace it`, { path });
  }
  try {
    await unlink(path);
  } catch {
    // Gone already: fine.
  }
}

/** The LinkError for a socat that could not be spawned: LINK_UNAVAILABLE, saying how to install it when it is missing. */
export function socatError(e: unknown): LinkError {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') {
    return new LinkError('LINK_UNAVAILABLE', 'socat is not installed: run make setup (or sudo apt-get install socat)');
  }
  const message = e instanceof Error ? e.message : String(e);
  return new LinkError('LINK_UNAVAILABLE', `cannot start socat: ${message}`, { cause: message });
}

/**
 * Resolves once a socat started with `-d -d` logs that it runs its transfer loop (its ptys
 * then exist). Rejects with LINK_UNAVAILABLE when it cannot be spawned, LINK_IO when it exits
 * first, LINK_TIMEOUT after `timeoutMs`; the messages carry the tail of socat's stderr.
 * `what` names what was awaited ("the pty"), `detail` goes into the LINK_IO error.
 */
export function waitForSocatStart(child: ChildProcess, timeoutMs: number, what: string, detail?: Record<string, unknown>): Promise<void> {
  let stderr = '';
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
    };
    const onData = (text: string): void => {
      // Only the tail matters (for error messages); keep it bounded.
      stderr = (stderr + text).slice(-4000);
      if (stderr.includes('starting data transfer loop')) {
        done();
        resolve();
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new LinkError('LINK_TIMEOUT', `socat did not start within ${timeoutMs} ms: ${stderr.trim()}`));
    }, timeoutMs);
    child.once('error', (e) => {
      done();
      reject(socatError(e));
    });
    child.once('exit', (code, signal) => {
      done();
      reject(new LinkError('LINK_IO', `socat exited (${signal ?? code}) before ${what} was ready: ${stderr.trim()}`, detail));
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', onData);
  });
}
