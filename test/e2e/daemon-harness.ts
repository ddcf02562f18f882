/**
 * Real-process helpers for the daemon's end-to-end tests: a demo world made with the issuer
 * toolkit's CLI (plus a second trusted terminal and one under an unknown vendor), the
 * simulator (`firmware-sim/main.ts`) on a socat pty or TCP, unicardd itself, and the
 * simulator's control socket, and a whole dispensing shop ({@link startShop}). Every process
 * is stopped by pid and every temp dir removed by the test that made it; {@link stopAll} is the
 * safety net for a test that failed half-way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UnicardClient } from '../../daemon/client/index.js';

/** The repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** How a process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<ProcessHandle>();

/** A child process with its output kept line by line. */
export class ProcessHandle {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<ExitStatus>;
  private exitStatus: ExitStatus | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(this);
    const collect = (stream: NodeJS.ReadableStream | null, into: string[]): void => {
      if (stream === null) return;
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => {
        partial += text;
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          into.push(partial.slice(0, nl));
          partial = partial.slice(nl + 1);
        }
        this.notify();
      });
      stream.on('end', () => {
        if (partial !== '') into.push(partial);
        partial = '';
        this.notify();
      });
    };
    collect(child.stdout, this.stdout);
    collect(child.stderr, this.stderr);
    this.exited = new Promise<ExitStatus>((resolveExit) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        live.delete(this);
        this.notify();
        resolveExit(this.exitStatus);
      });
      child.once('error', () => {
        this.exitStatus ??= { code: null, signal: null };
        live.delete(this);
        this.notify();
        resolveExit(this.exitStatus);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get hasExited(): boolean {
    return this.exitStatus !== undefined;
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Resolves with the first value `probe` returns (not undefined), re-checked on every output
   * line; rejects after `timeoutMs` or when the process exits first, with its output.
   */
  waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolveWait, reject) => {
      const check = (): boolean => {
        const v = probe();
        if (v !== undefined) {
          done();
          resolveWait(v);
          return true;
        }
        if (this.exitStatus !== undefined) {
          done();
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exitStatus)}) before ${what}\n${this.tail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${this.name}\n${this.tail()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(onLine);
      };
      const onLine = (): void => {
        check();
      };
      if (!check()) this.waiters.add(onLine);
    });
  }

  /** Last lines of output, for failure messages. */
  tail(lines = 30): string {
    return [...this.stdout.slice(-5).map((l) => `stdout| ${l}`), ...this.stderr.slice(-lines).map((l) => `stderr| ${l}`)].join('\n');
  }

  /** Sends `signal` (by pid) and waits for the exit; SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitStatus> {
    if (this.exitStatus !== undefined) return this.exitStatus;
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, timeoutMs);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }
}

/** tsx's loader by absolute URL, so a process may run in any working directory. */
const TSX_LOADER = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** Runs `node --import tsx <script> ...args` (from the repository root unless `cwd` says otherwise). */
export function startScript(name: string, script: string, args: readonly string[], options: { cwd?: string } = {}): ProcessHandle {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, join(REPO_ROOT, script), ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  return new ProcessHandle(name, child);
}

/** Stops every process these helpers started that is still running (afterAll safety net). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop('SIGKILL', 5_000)));
}

/** Runs a script to its end; rejects with its output when it fails. */
export async function runScript(script: string, args: readonly string[], options: { cwd?: string } = {}): Promise<{ status: ExitStatus; stdout: string[]; stderr: string[] }> {
  const p = startScript(script, script, args, options);
  const status = await p.exited;
  return { status, stdout: p.stdout, stderr: p.stderr };
}

async function toolkit(args: readonly string[]): Promise<void> {
  const r = await runScript('firmware-sim/issuer/cli.ts', args);
  if (r.status.code !== 0) throw new Error(`issuer toolkit ${args.join(' ')} failed (${JSON.stringify(r.status)}):\n${[...r.stdout, ...r.stderr].join('\n')}`);
}

/** A temp directory (unique per call). */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Terminal ids of the daemon test world. */
export const TRUSTED_TERMINAL = 'SIM0001';
export const SECOND_TERMINAL = 'SIM0002';
export const ROGUE_TERMINAL = 'SIM0666';

/** A demo world for daemon tests. */
export interface DaemonTestWorld {
  readonly root: string;
  readonly worldDir: string;
  readonly vendorPub: string;
  readonly issuerPub: string;
  /** Device key id of each terminal (what a technician pins). */
  readonly keyIds: Readonly<Record<string, string>>;
  cleanup(): Promise<void>;
}

interface ManifestTerminal {
  terminalId: string;
  keyFile: string;
  identityFile: string;
  identityBase: string;
  keyId: string;
  vendor: string;
  model: string;
}

/**
 * The issuer toolkit's demo world (terminal SIM0001 under the world's vendor root), plus
 * SIM0002 under the same root and SIM0666 whose certificate is signed by another vendor
 * (`init-vendor` in a separate dir): a terminal the daemon must refuse until it is pinned.
 */
export async function makeDaemonWorld(): Promise<DaemonTestWorld> {
  const root = await tempDir('unicard-daemon-world-');
  try {
    const worldDir = join(root, 'world');
    const rogueDir = join(root, 'rogue-vendor');
    await Promise.all([toolkit(['demo-world', worldDir, '--firmware-size', '1024']), toolkit(['init-vendor', '--dir', rogueDir])]);
    const terminal = (id: string, vendorKey: string): Promise<void> =>
      toolkit(['make-terminal', '--dir', worldDir, '--vendor-key', vendorKey, '--terminal-id', id, '--vendor', 'SimVendor', '--model', 'SIM-1']);
    await Promise.all([terminal(SECOND_TERMINAL, join(worldDir, 'vendor.key')), terminal(ROGUE_TERMINAL, join(rogueDir, 'vendor.key'))]);
    const manifestPath = join(worldDir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { terminals: ManifestTerminal[] };
    const keyIds: Record<string, string> = {};
    for (const t of manifest.terminals) keyIds[t.terminalId] = t.keyId;
    for (const id of [SECOND_TERMINAL, ROGUE_TERMINAL]) {
      const identity = JSON.parse(await readFile(join(worldDir, `terminal-${id}.json`), 'utf8')) as { keyId: string };
      keyIds[id] = identity.keyId;
      manifest.terminals.push({
        terminalId: id,
        keyFile: `terminal-${id}.key`,
        identityFile: `terminal-${id}.json`,
        identityBase: `terminal-${id}`,
        keyId: identity.keyId,
        vendor: 'SimVendor',
        model: 'SIM-1',
      });
    }
    await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
    return {
      root,
      worldDir,
      vendorPub: join(worldDir, 'vendor.pub.json'),
      issuerPub: join(worldDir, 'issuer.pub.json'),
      keyIds,
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  } catch (e) {
    await rm(root, { recursive: true, force: true });
    throw e;
  }
}

/** The simulator's ready line. */
export interface SimReady {
  event: 'ready';
  pid: number;
  terminalId: string;
  link: { kind: string; path?: string; host?: string; port?: number };
  control: string | null;
}

/** A running simulator. */
export interface SimHandle {
  readonly process: ProcessHandle;
  readonly ready: SimReady;
  /** pty path, or host:port. */
  readonly address: string;
  /** Sends one control command and resolves with the reply. */
  control(command: Record<string, unknown>): Promise<Record<string, unknown>>;
  stop(): Promise<ExitStatus>;
}

/** Starts the simulator as `terminalId` of `world` on a pty at `pty`, or on TCP (any free port). */
export async function startSim(world: DaemonTestWorld, options: { terminalId: string; dir: string; pty?: string; card?: string }): Promise<SimHandle> {
  const controlPath = join(options.dir, `${options.terminalId}.ctl`);
  const args = ['--world', world.worldDir, '--terminal', options.terminalId, '--control', controlPath];
  if (options.pty !== undefined) args.push('--pty', options.pty);
  else args.push('--tcp', '0');
  if (options.card !== undefined) args.push('--card', options.card);
  const p = startScript(`sim ${options.terminalId}`, 'firmware-sim/main.ts', args);
  const ready = await p.waitFor(() => readyLine<SimReady>(p), 20_000, 'the simulator ready line');
  const address = ready.link.kind === 'tcp' ? `127.0.0.1:${ready.link.port}` : (ready.link.path ?? options.pty ?? '');
  return {
    process: p,
    ready,
    address,
    control: (command) => controlCommand(controlPath, command),
    stop: () => p.stop(),
  };
}

/** unicardd's ready line. */
export interface DaemonReady {
  event: 'ready';
  pid: number;
  socket: string;
  dataDir: string;
  version: string;
}

/** A running unicardd. */
export interface DaemonHandle {
  readonly process: ProcessHandle;
  readonly ready: DaemonReady;
  /** The JSON log records so far. */
  logs(): Array<Record<string, unknown>>;
  /** Waits for a log record matching `pred`. */
  waitForLog(pred: (r: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<ExitStatus>;
}

/** Starts unicardd with `args` and waits for its ready line. */
export async function startDaemon(args: readonly string[], options: { cwd?: string } = {}): Promise<DaemonHandle> {
  const p = startScript('unicardd', 'daemon/unicardd.ts', args, options);
  const ready = await p.waitFor(() => readyLine<DaemonReady>(p), 20_000, 'the unicardd ready line');
  const logs = (): Array<Record<string, unknown>> => p.stderr.flatMap((l): Array<Record<string, unknown>> => {
    const j = parseJsonLine(l);
    return j === undefined ? [] : [j];
  });
  return {
    process: p,
    ready,
    logs,
    waitForLog: (pred, timeoutMs, what) => p.waitFor(() => logs().find(pred), timeoutMs, what),
    stop: (signal) => p.stop(signal),
  };
}

function readyLine<T>(p: ProcessHandle): T | undefined {
  for (const line of p.stdout) {
    const j = parseJsonLine(line);
    if (j !== undefined && j.event === 'ready') return j as T;
  }
  return undefined;
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** One command on a simulator's control socket. */
export function controlCommand(path: string, command: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolveReply, reject) => {
    const socket = net.connect(path);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply to ${JSON.stringify(command)} on ${path}`));
    }, 10_000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(command)}\n`));
    socket.on('data', (text: string) => {
      buffer += text;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      socket.end();
      try {
        resolveReply(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Polls `probe` every 50 ms until it returns a value (not undefined); rejects after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Writes a daemon config file; returns its path. */
export async function writeDaemonConfig(path: string, config: Record<string, unknown>): Promise<string> {
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
  return path;
}

/** A dispensing shop on a real pty (see {@link startShop}). */
export interface Shop {
  readonly sim: SimHandle;
  readonly daemon: DaemonHandle;
  /** The shop client, connected, with TRUSTED_TERMINAL claimed. */
  readonly client: UnicardClient;
  /** unicardd's data dir, `<dir>/data`: dispense.json, daemon.pub, ledger.sqlite. */
  readonly dataDir: string;
  /** Closes the client, stops unicardd and the simulator, then whatever else these helpers started. */
  stop(): Promise<void>;
}

/**
 * A dispensing shop, all real processes: the simulator as TRUSTED_TERMINAL of `world` on a
 * socat pty in `dir`, unicardd with `dispense` as its data dir's dispense.json and `token`
 * for the shop role, and a client named `clientName` that has claimed the terminal once the
 * daemon lists it ready.
 */
export async function startShop(world: DaemonTestWorld, o: { dir: string; token: string; clientName: string; dispense: Record<string, unknown> }): Promise<Shop> {
  const dataDir = join(o.dir, 'data');
  await mkdir(dataDir, { recursive: true });
  await writeFile(join(dataDir, 'dispense.json'), JSON.stringify(o.dispense));
  const sim = await startSim(world, { terminalId: TRUSTED_TERMINAL, dir: o.dir, pty: join(o.dir, 'sim.tty') });
  let daemon: DaemonHandle | undefined;
  let client: UnicardClient | undefined;
  const stop = async (): Promise<void> => {
    await client?.close().catch(() => {});
    await Promise.all([daemon?.stop(), sim.stop()]);
    await stopAll();
  };
  try {
    const config = await writeDaemonConfig(join(o.dir, 'unicardd.json'), {
      dataDir,
      tokens: { shop: { token: o.token, role: 'shop' } },
      terminals: { serial: [{ path: sim.address }], enumerate: { enabled: false }, hid: { enabled: false }, rescanIntervalMs: 200 },
      trust: { vendorRoots: [world.vendorPub], issuerRoots: [world.issuerPub] },
    });
    daemon = await startDaemon(['--config', config]);
    const c = await UnicardClient.connect(daemon.ready.socket, { token: o.token, name: o.clientName });
    client = c;
    await eventually(async () => ((await c.listTerminals()).find((t) => t.id === TRUSTED_TERMINAL)?.state === 'ready' ? true : undefined), 20_000, 'terminal ready');
    await c.claim(TRUSTED_TERMINAL);
    return { sim, daemon, client: c, dataDir, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
