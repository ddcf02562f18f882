/**
 * Daemon throughput, CPU per authorization and memory: the real `unicardd` process (data dir
 * on disk, commits durable as the daemon makes them), simulated terminals on unpaced TCP
 * links, one shop client per terminal. The terminals all live in THIS process (they sign
 * with libsodium, or node:crypto without it, so they cost the daemon's two cores as little
 * as they can; they still share the machine): the daemon's own CPU time is read from /proc/<pid>/stat around each
 * run, and its memory from /proc/<pid>/status. An authorization here is authorize (card
 * auth + holder verify, finger queued in advance, no sensor delay) + commit (durable receipt).
 *
 * Run alone with `node --import tsx bench/daemon-bench.ts [--quick]`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { UnicardClient } from '../daemon/client/index.js';
import { fastestEd25519 } from '../protocol/crypto/ed25519.js';
import { TcpPort } from '../firmware-sim/terminal/ports.js';
import { SimulatedTerminal, type ControlReply } from '../firmware-sim/terminal/simulated-terminal.js';
import { ProcessHandle, REPO_ROOT } from '../test/e2e/daemon-harness.js';
import { UNICARDD_NODE_FLAGS } from '../daemon/node-flags.js';
import { AUTHS_PER_CARD, CardPool, makeBenchWorld, type BenchWorld } from './bench-world.js';
import { formatValue, renderTable, type BenchRow } from './bench-table.js';
import { perfAvailable, perfScript, startPerfRecord, summarisePerfScript, type PerfSummary } from './perf-profile.js';

export const BENCH_TOKEN = 'bench-shop-token-0123456789';
const TSX = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const CLK_TCK = 100;

/** A p-quantile of sorted samples (nearest rank). */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

/** The daemon's user + system CPU time so far, in ms (Linux /proc). */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime); `rest` starts at field 3.
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK;
}

/** `syscw` of /proc/<pid>/io: the write-family system calls a process has made (write, writev, pwrite, ...). */
export function processWriteCalls(pid: number): number {
  const m = /^syscw:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]);
}

/**
 * The main-thread time of one `--trace-gc` line, in ms: the pause, plus the incremental
 * marking steps a mark-compact reports ("+ 12.3 ms in 15 steps"); undefined for other lines.
 * Unlike total CPU, which moves ±20 % with the machine's load, this counts the allocation cost.
 */
export function gcPauseMsOfTraceLine(line: string): number | undefined {
  const m = /: (?:Scavenge|Mark-Compact|Mark-Sweep|Minor Mark-Sweep|Mark-sweep)\b.*? MB, ([\d.]+) \/ [\d.]+ ms/.exec(line);
  if (m === null) return undefined;
  const steps = /\(\+ ([\d.]+) ms in \d+ steps/.exec(line);
  return Number(m[1]) + (steps === null ? 0 : Number(steps[1]));
}

/** VmRSS and VmHWM of a process, in MiB. */
export function processMemoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** A running unicardd started by the benchmarks. */
export interface BenchDaemon {
  readonly process: ProcessHandle;
  readonly pid: number;
  readonly socket: string;
  /** Lines the daemon has logged on stderr so far. */
  logLines(): number;
  /** Main-thread GC time so far (ms), from the `--trace-gc` lines the bench has it print. */
  gcPauseMs(): number;
  stop(): Promise<void>;
}

/**
 * Writes dispense.json and the config, starts unicardd with bin/unicardd's memory flags
 * (UNICARDD_NODE_FLAGS) and `nodeFlags` after them, and waits for its ready line.
 */
export async function startBenchDaemon(
  world: BenchWorld,
  dir: string,
  terminals: { tcp?: string[]; serial?: string[] },
  nodeFlags: readonly string[] = [],
  entry: 'tsx' | 'dist' = 'tsx',
): Promise<BenchDaemon> {
  const dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  await writeFile(
    join(dataDir, 'dispense.json'),
    JSON.stringify({
      shopId: 'BAKERY-BENCH-1',
      shopGovernorate: 3,
      roster: world.roster,
      revocation: world.revocation,
      authorizationTtlMs: 120_000,
      cardTimeoutMs: 20_000,
      fingerTimeoutMs: 20_000,
    }),
  );
  const config = join(dir, 'unicardd.json');
  await writeFile(
    config,
    JSON.stringify({
      dataDir,
      tokens: { bench: { token: BENCH_TOKEN, role: 'shop' } },
      terminals: {
        serial: (terminals.serial ?? []).map((path) => ({ path })),
        tcp: (terminals.tcp ?? []).map((address) => ({ address })),
        enumerate: { enabled: false },
        hid: { enabled: false },
        rescanIntervalMs: 200,
      },
      trust: { vendorRoots: [world.vendorPub], issuerRoots: [world.issuerPub] },
    }),
  );
  const script = entry === 'tsx' ? ['--import', TSX, join(REPO_ROOT, 'daemon/unicardd.ts')] : [join(REPO_ROOT, 'dist/daemon/unicardd.js')];
  // --trace-gc: one line per collection on stdout, summed into gcPauseMs().
  const child = spawn(process.execPath, [...UNICARDD_NODE_FLAGS, '--trace-gc', ...nodeFlags, ...script, '--config', config], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_NO_WARNINGS: '1' },
  });
  const p = new ProcessHandle('unicardd', child);
  const ready = await p.waitFor(
    () => {
      for (const line of p.stdout) {
        if (!line.startsWith('{')) continue;
        try {
          const j = JSON.parse(line) as { event?: string; socket?: string; pid?: number };
          if (j.event === 'ready') return j;
        } catch {
          // not a JSON line
        }
      }
      return undefined;
    },
    30_000,
    'the unicardd ready line',
  );
  // Drop the kept log lines as they come: thousands of authorizations log thousands of lines.
  let lines = 0;
  let gcMs = 0;
  child.stderr?.on('data', (t: string | Buffer) => {
    for (const ch of String(t)) if (ch === '\n') lines++;
    if (p.stderr.length > 2000) p.stderr.splice(0, p.stderr.length - 200);
  });
  return {
    process: p,
    pid: child.pid ?? -1,
    socket: ready.socket!,
    logLines: () => lines,
    gcPauseMs: () => {
      // The ready line was read above; from here stdout carries only the GC trace.
      for (const line of p.stdout.splice(0)) gcMs += gcPauseMsOfTraceLine(line) ?? 0;
      return gcMs;
    },
    stop: async () => {
      await p.stop('SIGTERM', 20_000);
    },
  };
}

/** A simulated terminal in this process, on an unpaced TCP port. */
export interface InProcessTerminal {
  readonly terminalId: string;
  readonly terminal: SimulatedTerminal;
  readonly address: string;
  control(command: Record<string, unknown>): Promise<ControlReply>;
  close(): Promise<void>;
}

// The bench's terminals sign with the fastest Ed25519 here too (libsodium, else node:crypto):
// they share the daemon's two cores, and a real terminal signs in its secure element.
const benchTerminalEd = fastestEd25519();

/** Starts the terminal `terminalId` of the world in this process, listening on TCP (any free port). */
export async function startInProcessTerminal(world: BenchWorld, terminalId: string, stateDir: string): Promise<InProcessTerminal> {
  // Cards keep their counters in memory: the load generator shares the daemon's two cores, and
  // an atomic card-file write per signature cost it ~15 % of its CPU.
  const terminal = await SimulatedTerminal.fromWorld({ worldDir: world.dir, stateDir, terminalId, durable: false, cardCounters: 'memory', ed: benchTerminalEd, log: () => {} });
  const port = new TcpPort(0, '127.0.0.1', {}, () => {});
  terminal.setPort(port);
  await port.start((link) => terminal.attach(link));
  const info = port.describe() as { port?: number };
  return {
    terminalId,
    terminal,
    address: `127.0.0.1:${info.port}`,
    control: (c) => terminal.control(c),
    close: async () => {
      terminal.close();
      await port.close().catch(() => {});
    },
  };
}

/** Waits until the daemon lists every terminal as ready. */
export async function waitTerminalsReady(client: UnicardClient, ids: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await client.listTerminals();
    const ready = new Set(list.filter((t) => t.state === 'ready').map((t) => t.id));
    if (ids.every((id) => ready.has(id))) return;
    if (Date.now() > deadline) throw new Error(`terminals not ready after ${timeoutMs} ms: ${JSON.stringify(list.map((t) => [t.id, t.state]))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What one terminal's shop does, authorization after authorization. */
export class ShopLoop {
  private uses = AUTHS_PER_CARD;
  private seq = 0;
  constructor(
    readonly client: UnicardClient,
    readonly terminal: Pick<InProcessTerminal, 'terminalId' | 'control'>,
    private readonly pool: CardPool,
  ) {}

  /**
   * One authorization: a fresh card when the current one has served its share, a finger
   * queued, authorize and commit. Returns the authorize and the pair's latency (ms), or
   * undefined when the card pool is spent.
   */
  async once(): Promise<{ authorizeMs: number; pairMs: number } | undefined> {
    if (this.uses >= AUTHS_PER_CARD) {
      const card = this.pool.take();
      if (card === undefined) return undefined;
      await this.terminal.control({ cmd: 'remove' });
      const r = await this.terminal.control({ cmd: 'insert', card });
      if (!r.ok) throw new Error(`insert ${card}: ${JSON.stringify(r)}`);
      this.uses = 0;
    }
    const f = await this.terminal.control({ cmd: 'finger', finger: 0 });
    if (!f.ok) throw new Error(`finger: ${JSON.stringify(f)}`);
    const t0 = performance.now();
    const a = await this.client.call<{ authorizationId: string; approvedQuantity: number; replayed: boolean }>('authorize', { terminalId: this.terminal.terminalId, service: 'bread', quantity: 1, idempotencyKey: `${this.terminal.terminalId}-${process.pid}-${++this.seq}` }, { timeoutMs: 60_000 });
    const t1 = performance.now();
    // A replayed answer never touched the card: counting it would flatter every figure.
    if (a.replayed) throw new Error(`authorize ${a.authorizationId} was a replay: the bench reused an idempotency key on this ledger`);
    await this.client.call('commit', { authorizationId: a.authorizationId, quantity: 1 }, { timeoutMs: 60_000 });
    const t2 = performance.now();
    this.uses++;
    return { authorizeMs: t1 - t0, pairMs: t2 - t0 };
  }
}

/** One throughput run's result. */
export interface ThroughputResult {
  terminals: number;
  authorizations: number;
  seconds: number;
  perSecond: number;
  daemonCpuMsPerAuth: number;
  benchCpuMsPerAuth: number;
  authorizeP50: number;
  authorizeP99: number;
  pairP50: number;
  /** Lines the daemon logged per authorization (pino, synchronous writes to stderr). */
  logLinesPerAuth: number;
  /** The daemon's write-family system calls per authorization (/proc/<pid>/io syscw). */
  writeCallsPerAuth: number;
  /** The daemon's main-thread GC time per authorization, µs (--trace-gc); NaN without the trace. */
  gcPauseUsPerAuth: number;
  poolSpent: boolean;
}

/** Runs `loops` concurrently: `warmMs` not counted, then `measureMs` counted. */
export async function runThroughput(
  loops: readonly ShopLoop[],
  daemonPid: number,
  warmMs: number,
  measureMs: number,
  logLines: () => number = () => 0,
  gcPauseMs: () => number = () => Number.NaN,
  /** Started when the counted phase starts, stopped when it ends (e.g. a `perf record`). */
  during?: () => Promise<{ stop(): Promise<void> }>,
): Promise<ThroughputResult> {
  let spent = false;
  const phase = async (ms: number, auth: number[], pair: number[]): Promise<void> => {
    const deadline = performance.now() + ms;
    await Promise.all(
      loops.map(async (loop) => {
        while (performance.now() < deadline) {
          const r = await loop.once();
          if (r === undefined) {
            spent = true;
            return;
          }
          auth.push(r.authorizeMs);
          pair.push(r.pairMs);
        }
      }),
    );
  };
  await phase(warmMs, [], []);
  const recording = await during?.();
  const auth: number[] = [];
  const pair: number[] = [];
  const cpu0 = processCpuMs(daemonPid);
  const lines0 = logLines();
  const writes0 = processWriteCalls(daemonPid);
  const gc0 = gcPauseMs();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  await phase(measureMs, auth, pair);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = processCpuMs(daemonPid) - cpu0;
  const lines = logLines() - lines0;
  const writes = processWriteCalls(daemonPid) - writes0;
  const gc = gcPauseMs() - gc0;
  const own = process.cpuUsage(own0);
  await recording?.stop();
  auth.sort((a, b) => a - b);
  pair.sort((a, b) => a - b);
  const n = auth.length;
  return {
    terminals: loops.length,
    authorizations: n,
    seconds,
    perSecond: n / seconds,
    daemonCpuMsPerAuth: cpu / n,
    benchCpuMsPerAuth: (own.user + own.system) / 1000 / n,
    authorizeP50: quantile(auth, 0.5),
    authorizeP99: quantile(auth, 0.99),
    pairP50: quantile(pair, 0.5),
    logLinesPerAuth: lines / n,
    writeCallsPerAuth: writes / n,
    gcPauseUsPerAuth: (gc * 1000) / n,
    poolSpent: spent,
  };
}

/**
 * The Ed25519 work no authorization can skip, timed in this process with the daemon's own
 * implementation ({@link fastestEd25519}: libsodium, else node:crypto): the card's signature over the daemon's nonce and the holder
 * verification result (two verifies; the card certificate is verified once per card and then
 * remembered) and the receipt's signature (one sign). Milliseconds per authorization: the
 * floor under the daemon's CPU per authorization on this machine, measured in the same run.
 */
export function ed25519FloorMs(durationMs = 600): { floorMs: number; verifyUs: number; signUs: number; implementation: string } {
  const ed = fastestEd25519();
  const seed = randomBytes(32);
  const pub = ed.publicKeyFromSeed(seed);
  const msg = randomBytes(160);
  const sig = ed.sign(seed, msg);
  const time = (f: () => void): number => {
    for (let i = 0; i < 50; i++) f(); // warm
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < durationMs / 2) {
      for (let i = 0; i < 20; i++) f();
      n += 20;
    }
    return ((performance.now() - t0) * 1000) / n;
  };
  const verifyUs = time(() => {
    if (!ed.verify(pub, msg, sig)) throw new Error(`${ed.name} rejected a valid signature`);
  });
  const signUs = time(() => ed.sign(seed, msg));
  return { floorMs: (2 * verifyUs + signUs) / 1000, verifyUs, signUs, implementation: ed.name };
}

/** A V8 .cpuprofile (the parts read here). */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }>;
  samples?: number[];
  timeDeltas?: number[];
}

/**
 * Top self-time functions of a V8 .cpuprofile, as percentages of the non-idle samples.
 * With `lastMs`, only samples of the profile's last `lastMs` count (the measured run, not
 * the start-up's module loading).
 */
export function summariseCpuProfile(profile: CpuProfile, top = 8, lastMs?: number): Array<{ what: string; pct: number }> {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (f: CpuProfile['nodes'][number]['callFrame']): string =>
    `${f.functionName === '' ? '(anonymous)' : f.functionName}${f.url === '' ? '' : ` ${basename(f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}`}`;
  const callers = new Map<string, Map<string, number>>();
  const hits = new Map<number, number>();
  if (profile.samples !== undefined && profile.timeDeltas !== undefined && lastMs !== undefined) {
    const times: number[] = [];
    let t = 0;
    for (const d of profile.timeDeltas) times.push((t += d));
    const from = t - lastMs * 1000;
    profile.samples.forEach((id, i) => {
      if ((times[i] ?? 0) >= from) hits.set(id, (hits.get(id) ?? 0) + 1);
    });
  } else for (const n of profile.nodes) hits.set(n.id, n.hitCount ?? 0);
  const byName = new Map<string, number>();
  let total = 0;
  for (const [id, h] of hits) {
    const f = nodes.get(id)?.callFrame;
    if (f === undefined || f.functionName === '(idle)') continue;
    total += h;
    const key = label(f);
    byName.set(key, (byName.get(key) ?? 0) + h);
    // The nearest caller that is our code (not node: internals), to say whose write it is.
    let p = parent.get(id);
    while (p !== undefined && /^node:|^$/.test(nodes.get(p)?.callFrame.url ?? '')) p = parent.get(p);
    const pf = p === undefined ? undefined : nodes.get(p)?.callFrame;
    if (pf !== undefined) {
      const m = callers.get(key) ?? new Map<string, number>();
      m.set(label(pf), (m.get(label(pf)) ?? 0) + h);
      callers.set(key, m);
    }
  }
  return [...byName.entries()]
    .filter(([, h]) => h > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([what, h]) => {
      const by = [...(callers.get(what) ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1])[0];
      return { what: by === undefined || by[0] === what ? what : `${what} ← ${by[0]}`, pct: total === 0 ? 0 : (h / total) * 100 };
    });
}

/** Options of {@link daemonRows}. */
export interface DaemonBenchOptions {
  /** Terminal counts to run at (default 1, 8, 32). */
  readonly terminals?: readonly number[];
  /** Counted seconds per run (default 6). */
  readonly seconds?: number;
  /** Uncounted warm-up seconds per run (default 1.5). */
  readonly warmSeconds?: number;
  /** Profile the daemon in one extra run at the largest count when a target is missed (default true). */
  readonly profile?: boolean;
  /**
   * Which daemon the counted runs use: 'dist' (default: what `bin/unicardd` runs after
   * `make build`, compiled here first with scripts/build.sh) or 'tsx' (the sources through the
   * tsx loader). When the build fails, the runs fall back to tsx and say so.
   */
  readonly entry?: 'dist' | 'tsx';
  /**
   * Also run the largest count once more under the other entry (tsx when the counted runs use
   * dist): what the loader costs in memory and CPU (default false).
   */
  readonly compare?: boolean;
  /** Bench households (default 1,500: 30,000 authorizations before the pool is spent). */
  readonly cards?: number;
  /**
   * Seconds of the paced run: a fresh daemon, every terminal authorizing once per
   * {@link BAKERY_PERIOD_MS}, for its resident memory at a real shop's pace (default 20; 0 skips it).
   */
  readonly pacedSeconds?: number;
  readonly verbose?: boolean;
}

/**
 * One authorization per terminal every 2 s: a fast bakery queue (a loaf hand-over takes
 * longer than that), 16 /s at 32 terminals. The unpaced runs are a stress test far above it.
 */
export const BAKERY_PERIOD_MS = 2000;

/** Warm-up before the perf profile: V8 still compiles hot code for the first few thousand authorizations. */
const PERF_WARM_MS = 5000;

/** A paced run's result. */
export interface PacedResult {
  readonly authorizations: number;
  readonly seconds: number;
  readonly daemonCpuMsPerAuth: number;
  readonly authorizeP50: number;
  readonly rss: { rss: number; peak: number };
}

/**
 * Every loop authorizes once per `periodMs` (their starts spread over the first period) for
 * `durationMs`; the daemon's CPU and, at the end, its memory.
 */
export async function runPaced(loops: readonly ShopLoop[], daemonPid: number, periodMs: number, durationMs: number): Promise<PacedResult> {
  const auth: number[] = [];
  const cpu0 = processCpuMs(daemonPid);
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  await Promise.all(
    loops.map(async (loop, i) => {
      await new Promise((r) => setTimeout(r, (periodMs * i) / loops.length));
      while (performance.now() < deadline) {
        const started = performance.now();
        const r = await loop.once();
        if (r === undefined) return;
        auth.push(r.authorizeMs);
        const rest = periodMs - (performance.now() - started);
        if (rest > 0) await new Promise((res) => setTimeout(res, rest));
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  auth.sort((a, b) => a - b);
  return {
    authorizations: auth.length,
    seconds,
    daemonCpuMsPerAuth: (processCpuMs(daemonPid) - cpu0) / Math.max(1, auth.length),
    authorizeP50: quantile(auth, 0.5),
    rss: processMemoryMiB(daemonPid),
  };
}

/** Results of the daemon bench, for the table and the chart. */
export interface DaemonBenchResult {
  rows: BenchRow[];
  runs: ThroughputResult[];
  profileTop: Array<{ what: string; pct: number }>;
  /** CPU per authorization by layer from `perf`, when it could run (else profileTop, from --cpu-prof). */
  perfProfile?: PerfSummary;
  /** The paced run (memory at a real shop's pace), unless skipped. */
  paced?: PacedResult & { connected: number };
}

/** Throughput, CPU per authorization and RSS at each terminal count. */
export async function daemonBench(options: DaemonBenchOptions = {}): Promise<DaemonBenchResult> {
  const counts = options.terminals ?? [1, 8, 32];
  const seconds = options.seconds ?? 6;
  const warm = options.warmSeconds ?? 1.5;
  const log = (s: string) => {
    if (options.verbose !== false) process.stderr.write(`daemon bench: ${s}\n`);
  };
  const most = Math.max(...counts);
  const dir = await mkdtemp(join(tmpdir(), 'unicard-daemon-bench-'));
  const sims: InProcessTerminal[] = [];
  const clients: UnicardClient[] = [];
  let daemon: BenchDaemon | undefined;
  try {
    // Enough households that none runs out of today's bread, however fast the daemon is.
    const cardCount = options.cards ?? 1500;
    log(`making a world: ${most} terminals, ${cardCount} households`);
    const world = await makeBenchWorld(join(dir, 'world'), most, cardCount);
    let entry: 'dist' | 'tsx' = options.entry ?? 'dist';
    if (entry === 'dist') {
      log('building dist/ (scripts/build.sh): the daemon as bin/unicardd runs it after make build');
      try {
        execFileSync(join(REPO_ROOT, 'scripts/build.sh'), { cwd: REPO_ROOT, stdio: 'ignore' });
      } catch {
        log('the build failed (a source mid-edit?): measuring the daemon under tsx instead');
        entry = 'tsx';
      }
    }
    const other: 'dist' | 'tsx' = entry === 'dist' ? 'tsx' : 'dist';
    for (const id of world.terminalIds) sims.push(await startInProcessTerminal(world, id, join(dir, 'state', id)));
    // Each daemon gets its own data directory (a new ledger) and so the whole card pool again:
    // the counted runs, the comparison, the paced run and the profile together need more
    // authorizations than 1,500 households' bread allows one ledger.
    let daemons = 0;
    const startAll = async (flags: readonly string[] = [], which: 'tsx' | 'dist' = entry): Promise<{ d: BenchDaemon; loops: ShopLoop[] }> => {
      const pool = new CardPool(world.cards);
      const d = await startBenchDaemon(world, join(dir, `daemon-${++daemons}`), { tcp: sims.map((s) => s.address) }, flags, which);
      const admin = await UnicardClient.connect(d.socket, { token: BENCH_TOKEN, name: 'bench-watch' });
      clients.push(admin);
      await waitTerminalsReady(admin, world.terminalIds, 60_000);
      const loops: ShopLoop[] = [];
      for (const s of sims) {
        const c = await UnicardClient.connect(d.socket, { token: BENCH_TOKEN, name: `pos-${s.terminalId}` });
        clients.push(c);
        await c.claim(s.terminalId);
        loops.push(new ShopLoop(c, s, pool));
      }
      return { d, loops };
    };
    const closeClients = async () => {
      await Promise.all(clients.splice(0).map((c) => c.close().catch(() => {})));
    };
    const first = await startAll();
    daemon = first.d;
    const memIdle = processMemoryMiB(daemon.pid);
    // What the daemon spends with every terminal connected and nothing to do (keepalives, rescans).
    const idle0 = processCpuMs(daemon.pid);
    const idleT0 = performance.now();
    await new Promise((r) => setTimeout(r, 2000));
    const idleCpuPct = ((processCpuMs(daemon.pid) - idle0) / (performance.now() - idleT0)) * 100;
    log(`idle with ${most} terminals connected: ${idleCpuPct.toFixed(1)} % of a core`);
    const runs: ThroughputResult[] = [];
    let mem32 = memIdle;
    for (const n of counts) {
      const r = await runThroughput(first.loops.slice(0, n), daemon.pid, warm * 1000, seconds * 1000, daemon.logLines, daemon.gcPauseMs);
      runs.push(r);
      log(`${n} terminals: ${r.perSecond.toFixed(0)}/s, daemon CPU ${r.daemonCpuMsPerAuth.toFixed(2)} ms/auth, authorize p50 ${r.authorizeP50.toFixed(1)} ms${r.poolSpent ? ' (card pool spent)' : ''}`);
      if (n === most) mem32 = processMemoryMiB(daemon.pid);
    }
    await closeClients();
    await daemon.stop();
    daemon = undefined;

    let compared: { run: ThroughputResult; mem: { rss: number; peak: number }; idle: { rss: number; peak: number } } | undefined;
    if (options.compare === true && (other === 'tsx' || existsSync(join(REPO_ROOT, 'dist/daemon/unicardd.js')))) {
      try {
        const c = await startAll([], other);
        daemon = c.d;
        const idle = processMemoryMiB(daemon.pid);
        const run = await runThroughput(c.loops.slice(0, most), daemon.pid, warm * 1000, seconds * 1000, daemon.logLines, daemon.gcPauseMs);
        compared = { run, mem: processMemoryMiB(daemon.pid), idle };
        log(`daemon under ${other}, ${most} terminals: ${run.perSecond.toFixed(0)}/s, CPU ${run.daemonCpuMsPerAuth.toFixed(2)} ms/auth, RSS ${compared.mem.rss.toFixed(0)} MiB`);
      } catch (e) {
        // A comparison row, not a budget line: a run that fails is reported, not fatal.
        log(`the ${other} daemon run failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      }
      await closeClients();
      await daemon?.stop();
      daemon = undefined;
    }

    // Memory at a real shop's pace, on a fresh daemon (V8 keeps what a burst made it grow).
    let paced: (PacedResult & { connected: number }) | undefined;
    const pacedSeconds = options.pacedSeconds ?? 20;
    if (pacedSeconds > 0) {
      const p = await startAll();
      daemon = p.d;
      const connected = processMemoryMiB(daemon.pid).rss;
      const r = await runPaced(p.loops.slice(0, most), daemon.pid, BAKERY_PERIOD_MS, pacedSeconds * 1000);
      paced = { ...r, connected };
      log(`${most} terminals at one authorization each every ${BAKERY_PERIOD_MS / 1000} s: ${r.authorizations} in ${r.seconds.toFixed(0)} s, RSS ${r.rss.rss.toFixed(1)} MiB (peak ${r.rss.peak.toFixed(1)}), CPU ${r.daemonCpuMsPerAuth.toFixed(2)} ms/auth`);
      await closeClients();
      await daemon.stop();
      daemon = undefined;
    }

    const big = runs[runs.length - 1]!;
    const floor = ed25519FloorMs();
    log(`Ed25519 floor: 2 verifies (${floor.verifyUs.toFixed(0)} µs each) + 1 sign (${floor.signUs.toFixed(0)} µs) = ${floor.floorMs.toFixed(3)} ms per authorization`);
    const missed = big.perSecond < 2000 || big.daemonCpuMsPerAuth > 0.5;
    let profileTop: Array<{ what: string; pct: number }> = [];
    let perfProfile: PerfSummary | undefined;
    if (missed && options.profile !== false && (await perfAvailable())) {
      // CPU time by layer (perf-profile.ts says why not --cpu-prof): a fresh daemon, warmed
      // until V8 has compiled its hot code, then the counted seconds under `perf record`.
      const p = await startAll(['--perf-basic-prof']);
      daemon = p.d;
      const pid = daemon.pid;
      const perfFile = join(dir, 'perf.data');
      try {
        const r = await runThroughput(p.loops.slice(0, most), pid, PERF_WARM_MS, Math.min(seconds, 5) * 1000, undefined, undefined, () => startPerfRecord(pid, perfFile));
        await closeClients();
        await daemon.stop();
        daemon = undefined;
        if (r.authorizations === 0) throw new Error(`no authorization during the profile run${r.poolSpent ? ' (card pool spent)' : ''}`);
        perfProfile = summarisePerfScript(await perfScript(perfFile), pid, r.daemonCpuMsPerAuth * 1000);
        log(
          `perf (this run: ${r.perSecond.toFixed(0)}/s, ${r.daemonCpuMsPerAuth.toFixed(2)} ms/auth shared out by ${perfProfile.samples} samples): main thread ${perfProfile.mainUsPerAuthorization.toFixed(0)} µs/auth (${perfProfile.layers
            .slice(0, 8)
            .map((l) => `${l.layer} ${l.usPerAuthorization.toFixed(0)}`)
            .join('; ')}), helper threads ${perfProfile.helperUsPerAuthorization.toFixed(0)} µs/auth`,
        );
      } catch (e) {
        const stderr = (e as { stderr?: unknown }).stderr;
        log(`the perf profile failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}${typeof stderr === 'string' && stderr !== '' ? ` (${stderr.trim().split('\n').slice(-2).join(' ')})` : ''}`);
      } finally {
        // --perf-basic-prof leaves its symbol map in /tmp.
        await rm(`/tmp/perf-${pid}.map`, { force: true });
      }
    } else if (missed && options.profile !== false) {
      log('perf cannot profile here (Debian: apt-get install linux-perf; perf_event_paranoid ≤ 2): the profile falls back to --cpu-prof, which counts wall time, blocked system calls included');
      const profDir = join(dir, 'prof');
      const p = await startAll(['--cpu-prof', '--cpu-prof-dir', profDir]);
      daemon = p.d;
      const profMs = Math.min(seconds, 4) * 1000;
      await runThroughput(p.loops.slice(0, most), daemon.pid, 500, profMs);
      await closeClients();
      await daemon.stop();
      daemon = undefined;
      const files = (await readdir(profDir).catch(() => [])).filter((f) => f.endsWith('.cpuprofile'));
      if (files[0] !== undefined) {
        profileTop = summariseCpuProfile(JSON.parse(await readFile(join(profDir, files[0]), 'utf8')) as CpuProfile, 10, profMs);
        log(`profile (self time): ${profileTop.map((t) => `${t.what} ${t.pct.toFixed(1)}%`).join('; ')}`);
      } else log('no CPU profile was written');
    }

    const rows: BenchRow[] = [];
    const note = `unicardd process (${entry === 'dist' ? 'dist/, compiled, as bin/unicardd runs it' : 'sources under tsx'}); terminals simulated in the bench process (${benchTerminalEd.name}), unpaced TCP; authorize + durable commit`;
    for (const r of runs) {
      const gated = r.terminals === most && most === 32;
      rows.push({
        group: 'daemon',
        name: `authorizations/s, ${r.terminals} terminal${r.terminals === 1 ? '' : 's'}`,
        value: r.perSecond,
        unit: '/s',
        ...(gated ? { target: '≥ 2,000 /s', pass: r.perSecond >= 2000 } : {}),
        note: `${formatValue(r.authorizations)} in ${r.seconds.toFixed(1)} s; daemon busy ${((r.daemonCpuMsPerAuth * r.perSecond) / 10).toFixed(0)} % of one core; ${note}${r.poolSpent ? '; CARD POOL SPENT (run cut short)' : ''}`,
      });
      rows.push({
        group: 'daemon',
        name: `daemon CPU per authorization, ${r.terminals} terminal${r.terminals === 1 ? '' : 's'}`,
        value: r.daemonCpuMsPerAuth,
        unit: 'ms',
        ...(gated ? { target: '≤ 0.5 ms', pass: r.daemonCpuMsPerAuth <= 0.5 } : {}),
        note: `/proc/<pid>/stat utime+stime; each: main-thread GC ${r.gcPauseUsPerAuth.toFixed(0)} µs (--trace-gc), ${r.writeCallsPerAuth.toFixed(1)} write calls (/proc/<pid>/io), ${r.logLinesPerAuth.toFixed(1)} log lines; bench process (terminals + clients) used ${r.benchCpuMsPerAuth.toFixed(2)} ms each`,
      });
    }
    rows.push({
      group: 'daemon',
      name: `daemon CPU per authorization ÷ its Ed25519 floor, ${most} terminals`,
      value: big.daemonCpuMsPerAuth / floor.floorMs,
      unit: '×',
      note: `floor = 2 verifies + 1 sign with ${floor.implementation} (the daemon's Ed25519), timed in this run: ${floor.floorMs.toFixed(3)} ms (verify ${floor.verifyUs.toFixed(0)} µs, sign ${floor.signUs.toFixed(0)} µs); the 0.5 ms target is ${(0.5 / floor.floorMs).toFixed(2)} × this floor on this machine`,
    });
    rows.push({
      group: 'daemon',
      name: `daemon RSS, ${most} terminals, after the unpaced runs`,
      value: mem32.rss,
      unit: 'MiB',
      ...(most === 32 ? { target: '≤ 80 MB', pass: mem32.rss * 1.048576 <= 80 } : {}),
      note: `VmRSS after the ${most}-terminal run (peak VmHWM ${mem32.peak.toFixed(0)} MiB; ${memIdle.rss.toFixed(0)} MiB just after the terminals connected, idle CPU then ${idleCpuPct.toFixed(1)} % of a core); node ${UNICARDD_NODE_FLAGS.join(' ')} as bin/unicardd (+ --trace-gc for the GC figures)`,
    });
    if (paced !== undefined) {
      rows.push({
        group: 'daemon',
        name: `daemon RSS, ${most} terminals at a bakery's pace`,
        value: paced.rss.rss,
        unit: 'MiB',
        ...(most === 32 ? { target: '≤ 80 MB', pass: paced.rss.peak * 1.048576 <= 80 } : {}),
        note: `a fresh daemon, each terminal authorizing once every ${BAKERY_PERIOD_MS / 1000} s (${(paced.authorizations / paced.seconds).toFixed(0)} /s in all) for ${paced.seconds.toFixed(0)} s: VmRSS at the end, peak VmHWM ${paced.rss.peak.toFixed(1)} MiB (judged on the peak), ${paced.connected.toFixed(1)} MiB once connected; authorize p50 ${paced.authorizeP50.toFixed(1)} ms, daemon CPU ${paced.daemonCpuMsPerAuth.toFixed(2)} ms each (idle keepalives included)`,
      });
    }
    if (compared !== undefined) {
      const r = compared.run;
      rows.push({
        group: 'daemon',
        name: `daemon under ${other === 'tsx' ? 'the tsx loader' : 'dist/ (compiled)'}, ${r.terminals} terminals: CPU per authorization`,
        value: r.daemonCpuMsPerAuth,
        unit: 'ms',
        note: `${r.perSecond.toFixed(0)} authorizations/s; RSS ${compared.mem.rss.toFixed(0)} MiB (${compared.idle.rss.toFixed(0)} MiB before the run) — the same run with the ${other === 'tsx' ? 'sources through tsx, as tests and development run them' : 'compiled daemon'}`,
      });
    }
    for (const r of runs) {
      rows.push({
        group: 'growth',
        name: `${r.terminals} terminal${r.terminals === 1 ? '' : 's'}: authorize p50 / p99, pair p50`,
        value: r.authorizeP50,
        unit: 'ms',
        note: `p99 ${r.authorizeP99.toFixed(1)} ms; authorize + commit p50 ${r.pairP50.toFixed(1)} ms; daemon CPU ${r.daemonCpuMsPerAuth.toFixed(2)} ms/auth (unpaced)`,
      });
    }
    if (perfProfile !== undefined) {
      rows.push({
        group: 'daemon',
        name: `where the daemon's CPU goes (${most} terminals, perf, µs per authorization)`,
        value: perfProfile.mainUsPerAuthorization,
        unit: 'µs main thread',
        note: `${perfProfile.layers
          .slice(0, 7)
          .map((l) => `${l.layer} ${l.usPerAuthorization.toFixed(0)}`)
          .join('; ')}; helper threads ${perfProfile.helperUsPerAuthorization.toFixed(0)} (GC ${perfProfile.helpers.gcUs.toFixed(0)}, compiler ${perfProfile.helpers.compilerUs.toFixed(0)})`,
      });
    }
    if (profileTop.length > 0) {
      rows.push({
        group: 'daemon',
        name: `where the daemon's time goes (${most} terminals, --cpu-prof)`,
        value: profileTop[0]!.pct,
        unit: '% top self',
        note: profileTop.slice(0, 5).map((t) => `${t.what} ${t.pct.toFixed(1)}%`).join('; '),
      });
    }
    return { rows, runs, profileTop, ...(perfProfile === undefined ? {} : { perfProfile }), ...(paced === undefined ? {} : { paced }) };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await daemon?.stop();
    await Promise.all(sims.map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

// Run on its own: node --import tsx bench/daemon-bench.ts [--quick]
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  daemonBench(quick ? { seconds: 2, warmSeconds: 0.5, pacedSeconds: 5 } : {})
    .then((r) => console.log(renderTable(r.rows)))
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    });
}
