/**
 * Where the daemon's CPU time goes, per authorization and per layer, from Linux `perf`.
 *
 * Why not only `node --cpu-prof`: V8's profiler samples on wall time, so a thread blocked in
 * a system call (the group commit's fsync, a pipe write) is counted as if it ran. In session
 * 3 that made fsync, pino's stderr write and the idempotency-key read look 4–7 % each, while
 * `perf` (which samples CPU time only, every thread, native frames included) puts pino at
 * 0.5 % and shows what the wall-clock profile cannot: libsodium, SQLite's own code, the kernel
 * under each system call, and V8's compiler and GC threads. The daemon runs with
 * `--perf-basic-prof` for this run only, so its JIT frames have names.
 *
 * The pure part ({@link summarisePerfScript}) is tested in test/bench/; recording needs
 * `perf` and a kernel that lets a user profile their own processes (perf_event_paranoid ≤ 2).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One layer of the daemon's main thread, per authorization. */
export interface PerfLayer {
  readonly layer: string;
  readonly usPerAuthorization: number;
  /** Share of the main thread's samples. */
  readonly pct: number;
}

/** What {@link summarisePerfScript} finds. */
export interface PerfSummary {
  /** Samples of every thread of the process. */
  readonly samples: number;
  /** CPU per authorization on the main (JavaScript) thread, and on V8's and libuv's helper threads. */
  readonly mainUsPerAuthorization: number;
  readonly helperUsPerAuthorization: number;
  /** The helpers split: V8's optimizing compiler, GC, the rest. */
  readonly helpers: { readonly compilerUs: number; readonly gcUs: number; readonly otherUs: number };
  /** Main-thread layers, largest first. */
  readonly layers: readonly PerfLayer[];
}

/** JavaScript source paths → the daemon's layers (first match wins). */
const JS_LAYERS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\/daemon\/ledger\//, 'ledger (JS)'],
  [/\/better-sqlite3\//, 'ledger (JS)'],
  [/\/daemon\/policy\//, 'policy'],
  [/\/daemon\/dispense\//, 'dispensing'],
  [/\/daemon\/session\//, 'terminal session'],
  [/\/daemon\/api\//, 'local API (JSON-RPC)'],
  [/\/daemon\/time\//, 'policy'],
  [/\/daemon\//, 'daemon, other'],
  [/\/protocol\/crypto\//, 'protocol crypto (JS)'],
  [/\/protocol\/(cbor-codec|messages\/)|\/cbor-x\//, 'CBOR codec'],
  [/\/protocol\/|\/link\//, 'framing and links'],
  [/\/tweetnacl\//, 'tweetnacl'],
  [/\/pino|\/sonic-boom\//, 'logging'],
  [/node:internal\/(streams|stream_base_commons)|node:net|node:events/, 'node streams and sockets'],
  [/node:internal\/(event_target|abort_controller)/, 'AbortSignal listeners'],
  [/node:internal\/timers|node:timers/, 'timers'],
  [/node:/, 'node, other'],
];

const GC_SYMBOL = /Scaveng|MarkCompact|Mark[A-Z]|Sweep|Heap::|ConcurrentMarking|Evacuat|ArrayBufferSweeper|MinorGC|IncrementalMarking/;
const COMPILER_SYMBOL = /compiler::|maglev|Compile|turboshaft|Pipeline/i;

interface Frame {
  readonly symbol: string;
  readonly dso: string;
}

interface Sample {
  readonly tid: number;
  readonly frames: readonly Frame[];
}

/** Parses `perf script` text (header line, then one frame per line: address, symbol, (dso)). */
export function parsePerfScript(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter((l) => l.trim() !== '');
    const head = lines[0];
    if (head === undefined) continue;
    const h = /^\S.*?\s+(\d+)(?:\/(\d+))?\s+[\d.]+:/.exec(head);
    if (h === null) continue;
    const tid = Number(h[2] ?? h[1]);
    const frames: Frame[] = [];
    for (const l of lines.slice(1)) {
      const m = /^\s*[0-9a-f]+\s+(.*?)\s+\(([^()]*)\)\s*$/.exec(l);
      if (m !== null) frames.push({ symbol: (m[1] as string).replace(/\+0x[0-9a-f]+$/, ''), dso: m[2] as string });
    }
    if (frames.length > 0) samples.push({ tid, frames });
  }
  return samples;
}

function layerOfJs(symbol: string): string | undefined {
  for (const [re, layer] of JS_LAYERS) if (re.test(symbol)) return layer;
  return undefined;
}

/** The layer a main-thread sample counts against. */
export function layerOf(frames: readonly Frame[]): string {
  // Native libraries first: a JIT frame's name can be stale (V8 moves code), a library's cannot.
  for (const f of frames) {
    if (f.dso.includes('sodium')) return 'libsodium (Ed25519, secretbox)';
    if (f.dso.includes('better_sqlite3')) return 'ledger: SQLite (its writes and fsync in the kernel included)';
  }
  for (const f of frames) {
    if (!f.symbol.startsWith('JS:')) continue;
    const layer = layerOfJs(f.symbol);
    if (layer !== undefined) return frames[0]?.dso.includes('kernel') === true ? `${layer}: system calls` : layer;
  }
  const leaf = frames[0] as Frame;
  if (GC_SYMBOL.test(leaf.symbol)) return 'GC (on the main thread)';
  if (leaf.dso.includes('kernel')) return 'event loop: system calls';
  return 'V8 and node runtime';
}

/**
 * Shares out the process's CPU per authorization (`cpuUsPerAuthorization`, measured from
 * /proc over the same run) by `perf script` samples: the main thread (`mainTid`, the process
 * id) by layer, the helper threads by kind. perf gives the proportions only: it attaches a
 * moment after it starts and may drop samples under load, so its own counts would understate.
 */
export function summarisePerfScript(text: string, mainTid: number, cpuUsPerAuthorization: number): PerfSummary {
  const samples = parsePerfScript(text);
  const usPerSample = samples.length > 0 ? cpuUsPerAuthorization / samples.length : 0;
  const byLayer = new Map<string, number>();
  let main = 0;
  let compiler = 0;
  let gc = 0;
  let other = 0;
  for (const s of samples) {
    if (s.tid === mainTid) {
      main++;
      const layer = layerOf(s.frames);
      byLayer.set(layer, (byLayer.get(layer) ?? 0) + 1);
    } else if (s.frames.some((f) => COMPILER_SYMBOL.test(f.symbol))) compiler++;
    else if (s.frames.some((f) => GC_SYMBOL.test(f.symbol))) gc++;
    else other++;
  }
  const layers = [...byLayer.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([layer, n]) => ({ layer, usPerAuthorization: n * usPerSample, pct: main === 0 ? 0 : (n / main) * 100 }));
  return {
    samples: samples.length,
    mainUsPerAuthorization: main * usPerSample,
    helperUsPerAuthorization: (compiler + gc + other) * usPerSample,
    helpers: { compilerUs: compiler * usPerSample, gcUs: gc * usPerSample, otherUs: other * usPerSample },
    layers,
  };
}

/** True when `perf record` can profile a process of this user here. */
export async function perfAvailable(): Promise<boolean> {
  try {
    await run('perf', ['record', '-q', '-F', '99', '-o', '/dev/null', '--', 'true'], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Sampling frequency of {@link startPerfRecord} (a prime, so it does not beat with timers). */
export const PERF_HZ = 997;

/**
 * Starts `perf record -g` on `pid`, writing `out`; resolves once perf has attached (its file
 * exists), so the counted run is recorded from its start. `stop()` ends it and waits until
 * the file is complete; it rejects with perf's own message when perf did not record.
 */
export async function startPerfRecord(pid: number, out: string): Promise<{ stop(): Promise<void> }> {
  const child: ChildProcess = spawn('perf', ['record', '-q', '-F', String(PERF_HZ), '-g', '-p', String(pid), '-o', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (e) => {
      stderr += e.message;
      resolve(-1);
    });
  });
  const failure = (): Error => new Error(`perf record did not record: ${stderr.trim().split('\n').slice(-2).join(' ') || 'no message'}`);
  const deadline = Date.now() + 15_000;
  while (!existsSync(out)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw failure();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      await exited;
      if (!existsSync(out)) throw failure();
    },
  };
}

/** `perf script` of a recording, as text. */
export async function perfScript(file: string): Promise<string> {
  const { stdout } = await run('perf', ['script', '-i', file], { maxBuffer: 512 * 1024 * 1024, timeout: 120_000 });
  return stdout;
}
