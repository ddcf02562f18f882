/**
 * Runs the real `unicard-sim` process for end-to-end tests: spawns it on a pty or TCP,
 * waits for its ready line, talks to its control socket, and stops it (checking that it
 * cleans up after itself). Each simulator gets its own temp dir for its pty, control socket
 * and (unless given) state; `stop()` removes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import type { Link } from '../../link/link.js';
import { SerialLink } from '../../link/serial-link.js';
import { TcpLink } from '../../link/tcp-link.js';
import { loadPublicKeyFile } from '../../firmware-sim/hardware/key-file.js';
import type { TestWorld } from '../../firmware-sim/terminal/test-world.js';
import { createTrustPolicy, TerminalSession, type TerminalSessionOptions } from '../../daemon/session/index.js';

/** The repository root (the simulator runs from here). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The ready line `unicard-sim` prints on stdout. */
export interface ReadyLine {
  event: 'ready';
  pid: number;
  terminalId: string;
  firmware: string;
  link: { kind: 'pty' | 'tcp' | 'serial'; path?: string; host?: string; port?: number; paced: boolean; baudRate: number | null; present: boolean };
  control: string | null;
  state: string;
}

/** A running simulator. */
export interface SimHandle {
  readonly ready: ReadyLine;
  readonly child: ChildProcess;
  /** The simulator's own temp dir (pty, control socket). */
  readonly dir: string;
  /** The pty path (pty simulators). */
  readonly ptyPath: string | undefined;
  /** `host:port` (TCP simulators). */
  readonly tcpAddress: string | undefined;
  /** What it logged on stderr so far. */
  stderr(): string;
  /** Sends one control command, resolves with its reply. */
  control(command: Record<string, unknown>): Promise<Record<string, unknown> & { ok: boolean }>;
  /** SIGTERM, wait for the exit; resolves with the exit code. Removes the temp dir. Idempotent. */
  stop(): Promise<number | null>;
}

/** Options of {@link startSim}. */
export interface StartSimOptions {
  world: TestWorld;
  /** pty: the simulator makes its own; tcp: it listens; serial: it opens `serialPath`. */
  link: 'pty' | 'tcp' | 'serial';
  /** The device for `link: 'serial'` (e.g. one end of a pty pair). */
  serialPath?: string;
  /** Extra arguments (`--card`, `--no-pace`, ...). */
  args?: string[];
  /** A state dir to use (kept by stop); default: one inside the simulator's temp dir. */
  stateDir?: string;
}

/** Starts `unicard-sim` and waits for its ready line (rejects with its stderr when it exits first). */
export async function startSim(options: StartSimOptions): Promise<SimHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'unicard-e2e-'));
  const control = join(dir, 'sim.ctl');
  const ptyPath = options.link === 'pty' ? join(dir, 'tty') : undefined;
  const args = [
    '--import',
    'tsx',
    join(REPO, 'firmware-sim/main.ts'),
    '--world',
    options.world.dir,
    '--state',
    options.stateDir ?? join(dir, 'state'),
    '--control',
    control,
    ...(options.link === 'pty' ? ['--pty', ptyPath!] : options.link === 'tcp' ? ['--tcp', '0'] : ['--serial', options.serialPath!]),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (t: string) => {
    stderr = (stderr + t).slice(-200_000);
  });
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  let ready: ReadyLine;
  try {
    ready = await new Promise<ReadyLine>((resolveReady, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`unicard-sim did not get ready within 30 s; stderr:\n${stderr}`)), 30_000);
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (t: string) => {
        out += t;
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        try {
          resolveReady(JSON.parse(out.slice(0, nl)) as ReadyLine);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`unicard-sim exited (${code}) before it was ready; stderr:\n${stderr}`));
      });
    });
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  let stopping: Promise<number | null> | undefined;
  return {
    ready,
    child,
    dir,
    ptyPath,
    tcpAddress: ready.link.port !== undefined ? `127.0.0.1:${ready.link.port}` : undefined,
    stderr: () => stderr,
    control: (command) => controlCommand(control, command),
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const code = await exited;
        clearTimeout(killer);
        await rm(dir, { recursive: true, force: true });
        return code;
      })();
      return stopping;
    },
  };
}

/** One control command over a fresh connection to the control socket. */
export function controlCommand(path: string, command: Record<string, unknown>): Promise<Record<string, unknown> & { ok: boolean }> {
  return new Promise((resolveReply, reject) => {
    const socket = net.connect(path);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (t: string) => {
      buffer += t;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      socket.destroy();
      resolveReply(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown> & { ok: boolean });
    });
    socket.on('error', reject);
    socket.write(`${JSON.stringify(command)}\n`);
  });
}

/** The host's trust policy for a world: its vendor root. */
export async function trustFor(world: TestWorld): Promise<ReturnType<typeof createTrustPolicy>> {
  const vendor = await loadPublicKeyFile(join(world.dir, world.manifest.vendor.publicKeyFile));
  return createTrustPolicy({ ed: new NodeEd25519(), vendorRoots: trustedKeysOf([vendor.publicKey]) });
}

/** Issuer roots of a world, for verifying card certificates. */
export async function issuerRootsOf(world: TestWorld): Promise<Map<string, Uint8Array>> {
  const issuer = await loadPublicKeyFile(join(world.dir, world.manifest.issuer.publicKeyFile));
  return trustedKeysOf([issuer.publicKey]);
}

/** Opens the host's side of the simulator's link: the pty as a serial port, or a TCP connection. */
export async function openHostLink(sim: SimHandle): Promise<Link> {
  if (sim.ptyPath !== undefined) return SerialLink.open(sim.ptyPath);
  return TcpLink.connect(sim.tcpAddress!);
}

/**
 * A trusted sealed session with the simulator, as the daemon opens one: GetInfo, handshake,
 * trust. On TCP the banner printed at connect is waited for; a pty opened after the terminal
 * booted has no banner to show (the serial driver flushed it), so GetInfo comes first.
 */
export async function openSession(sim: SimHandle, world: TestWorld, options: Partial<TerminalSessionOptions> = {}): Promise<TerminalSession> {
  const link = await openHostLink(sim);
  return TerminalSession.open(link, { trust: await trustFor(world), bannerTimeoutMs: sim.ptyPath === undefined ? 5000 : 0, ...options });
}
