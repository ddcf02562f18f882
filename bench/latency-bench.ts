/**
 * Authorization latency over a pty paced at 115,200 baud, beside the wire-time floor.
 *
 * The real `unicard-sim` process on a socat pty (it paces what it sends to 115,200 baud, 10
 * bits a byte, as a UART would; sensor latency 0) and the real `unicardd` opening that pty.
 * Each authorization: a finger queued on the simulator's control socket (no human delay),
 * then `authorize` (card auth + holder verify) timed at the shop client, then `commit`.
 *
 * The floor is computed from the bytes the frames actually took: a second terminal of the
 * same daemon is reached over TCP through a counting relay in this process, and the bytes
 * crossing it in both directions during each `authorize` are averaged (the exchange is
 * stop-and-wait, so the directions do not overlap): floor = bytes × 10 / 115,200 s.
 *
 * Run alone with `node --import tsx bench/latency-bench.ts [--quick]`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UnicardClient } from '../daemon/client/index.js';
import { startSim, type DaemonTestWorld, type SimHandle } from '../test/e2e/daemon-harness.js';
import { AUTHS_PER_CARD, CardPool, makeBenchWorld } from './bench-world.js';
import { formatValue, renderTable, type BenchRow } from './bench-table.js';
import { BENCH_TOKEN, quantile, startBenchDaemon, startInProcessTerminal, waitTerminalsReady, type BenchDaemon, type InProcessTerminal } from './daemon-bench.js';

export const BAUD = 115_200;

/** Time (ms) `bytes` take on a UART at `baud` with 10 bits a byte (start, 8 data, stop). */
export function wireTimeMs(bytes: number, baud: number = BAUD): number {
  return (bytes * 10 * 1000) / baud;
}

/** The latency target of DESIGN.md §10: median ≤ 1.3 × floor + 2 ms. */
export function latencyTargetMs(floorMs: number): number {
  return 1.3 * floorMs + 2;
}

/** A TCP relay that counts the bytes in each direction. */
export class CountingRelay {
  toTerminal = 0;
  toHost = 0;
  private readonly sockets = new Set<net.Socket>();
  private constructor(private readonly server: net.Server) {}

  /** Listens on a free local port and relays every connection to `target` (host:port). */
  static async start(target: string): Promise<CountingRelay> {
    const [host, port] = target.split(':') as [string, string];
    const server = net.createServer();
    const relay = new CountingRelay(server);
    server.on('connection', (a) => {
      const b = net.connect(Number(port), host);
      for (const s of [a, b]) {
        s.setNoDelay(true);
        relay.sockets.add(s);
        s.on('close', () => relay.sockets.delete(s));
        s.on('error', () => {});
      }
      a.on('data', (d: Buffer) => {
        relay.toTerminal += d.length;
        b.write(d);
      });
      b.on('data', (d: Buffer) => {
        relay.toHost += d.length;
        a.write(d);
      });
      a.on('close', () => b.destroy());
      b.on('close', () => a.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return relay;
  }

  get address(): string {
    return `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Options of {@link latencyBench}. */
export interface LatencyBenchOptions {
  /** Timed authorizations over the pty (default 50). */
  readonly authorizations?: number;
  /** Authorizations whose bytes are counted (default 20). */
  readonly counted?: number;
  readonly verbose?: boolean;
}

/** Results, for the table and the chart. */
export interface LatencyBenchResult {
  rows: BenchRow[];
  medianMs: number;
  p99Ms: number;
  floorMs: number;
  bytesPerAuthorize: { toTerminal: number; toHost: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Measures authorization latency over the paced pty and the floor from counted bytes. */
export async function latencyBench(options: LatencyBenchOptions = {}): Promise<LatencyBenchResult> {
  const n = options.authorizations ?? 50;
  const counted = options.counted ?? 20;
  const log = (s: string) => {
    if (options.verbose !== false) process.stderr.write(`latency bench: ${s}\n`);
  };
  const dir = await mkdtemp(join(tmpdir(), 'unicard-latency-bench-'));
  let sim: SimHandle | undefined;
  let counter: InProcessTerminal | undefined;
  let relay: CountingRelay | undefined;
  let daemon: BenchDaemon | undefined;
  const clients: UnicardClient[] = [];
  try {
    const cards = Math.ceil((n + counted + 10) / AUTHS_PER_CARD) + 2;
    const world = await makeBenchWorld(join(dir, 'world'), 2, cards);
    const pool = new CardPool(world.cards);
    const [paced, countedId] = world.terminalIds as [string, string];
    const harnessWorld: DaemonTestWorld = { root: dir, worldDir: world.dir, vendorPub: world.vendorPub, issuerPub: world.issuerPub, keyIds: {}, cleanup: async () => {} };
    sim = await startSim(harnessWorld, { terminalId: paced, dir, pty: join(dir, 'sim.tty') });
    const link = sim.ready.link as { paced?: boolean; baudRate?: number };
    if (link.paced !== true || link.baudRate !== BAUD) throw new Error(`the simulator is not paced at ${BAUD} baud: ${JSON.stringify(link)}`);
    counter = await startInProcessTerminal(world, countedId, join(dir, 'state-counted'));
    relay = await CountingRelay.start(counter.address);
    daemon = await startBenchDaemon(world, join(dir, 'daemon'), { serial: [sim.address], tcp: [relay.address] });
    const watch = await UnicardClient.connect(daemon.socket, { token: BENCH_TOKEN, name: 'bench-watch' });
    clients.push(watch);
    await waitTerminalsReady(watch, [paced, countedId], 60_000);
    const pos = await UnicardClient.connect(daemon.socket, { token: BENCH_TOKEN, name: 'bench-pos' });
    clients.push(pos);
    await pos.claim(paced);
    await pos.claim(countedId);

    let seq = 0;
    const one = async (terminalId: string, control: (c: Record<string, unknown>) => Promise<Record<string, unknown>>, state: { uses: number }, around?: { before(): void; after(): void }): Promise<number> => {
      if (state.uses >= AUTHS_PER_CARD) {
        const card = pool.take();
        if (card === undefined) throw new Error('the card pool is spent');
        await control({ cmd: 'remove' });
        const r = await control({ cmd: 'insert', card });
        if (r.ok !== true) throw new Error(`insert: ${JSON.stringify(r)}`);
        state.uses = 0;
      }
      const f = await control({ cmd: 'finger', finger: 0 });
      if (f.ok !== true) throw new Error(`finger: ${JSON.stringify(f)}`);
      // Let whatever the last commit put on the line (the terminal's prompt) drain first.
      await sleep(30);
      around?.before();
      const t0 = performance.now();
      const a = await pos.call<{ authorizationId: string }>('authorize', { terminalId, service: 'bread', quantity: 1, idempotencyKey: `lat-${process.pid}-${++seq}` }, { timeoutMs: 60_000 });
      const ms = performance.now() - t0;
      around?.after();
      await pos.call('commit', { authorizationId: a.authorizationId, quantity: 1 }, { timeoutMs: 60_000 });
      state.uses++;
      return ms;
    };

    // 1. Bytes per authorize, counted on the relayed terminal.
    const r = relay;
    const cState = { uses: AUTHS_PER_CARD };
    let toT = 0;
    let toH = 0;
    let t0 = 0;
    let h0 = 0;
    const around = {
      before: () => {
        t0 = r.toTerminal;
        h0 = r.toHost;
      },
      after: () => {
        toT += r.toTerminal - t0;
        toH += r.toHost - h0;
      },
    };
    const c = counter;
    await one(countedId, (cmd) => c.control(cmd), cState); // warm-up, not counted
    for (let i = 0; i < counted; i++) await one(countedId, (cmd) => c.control(cmd), cState, around);
    const bytes = { toTerminal: toT / counted, toHost: toH / counted };
    const floorMs = wireTimeMs(bytes.toTerminal + bytes.toHost);
    const hostFloorMs = wireTimeMs(bytes.toHost);
    log(`bytes per authorize: ${bytes.toTerminal.toFixed(0)} to the terminal, ${bytes.toHost.toFixed(0)} back; floor ${floorMs.toFixed(1)} ms`);

    // 2. Latency over the paced pty.
    const s = sim;
    const pState = { uses: AUTHS_PER_CARD };
    await one(paced, (cmd) => s.control(cmd), pState); // warm-up
    const lat: number[] = [];
    for (let i = 0; i < n; i++) lat.push(await one(paced, (cmd) => s.control(cmd), pState));
    lat.sort((a, b) => a - b);
    const median = quantile(lat, 0.5);
    const p99 = quantile(lat, 0.99);
    const target = latencyTargetMs(floorMs);
    log(`median ${median.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (target ≤ ${target.toFixed(1)} ms)`);
    const rows: BenchRow[] = [
      {
        group: 'latency',
        name: 'authorize over a 115,200 baud pty: median',
        value: median,
        unit: 'ms',
        target: `≤ ${formatValue(target)} ms`,
        pass: median <= target,
        note: `${(median / floorMs).toFixed(2)} × the wire floor; ${n} authorizations, finger queued, sensor latency 0; target 1.3 × floor + 2 ms`,
      },
      {
        group: 'latency',
        name: 'authorize median against the paced bytes alone',
        value: median / hostFloorMs,
        unit: '× floor',
        target: `≤ ${formatValue(latencyTargetMs(hostFloorMs))} ms`,
        pass: median <= latencyTargetMs(hostFloorMs),
        note: `the stricter reading while unicardd does not pace its writes: 1.3 × ${formatValue(hostFloorMs)} ms (terminal→host bytes) + 2 ms`,
      },
      { group: 'latency', name: 'authorize over a 115,200 baud pty: p99', value: p99, unit: 'ms', note: `${(p99 / floorMs).toFixed(2)} × the wire floor` },
      {
        group: 'latency',
        name: 'wire floor of one authorize (both directions)',
        value: floorMs,
        unit: 'ms',
        note: `${formatValue(Math.round(bytes.toTerminal))} B host→terminal + ${formatValue(Math.round(bytes.toHost))} B terminal→host, counted on a relayed link over ${counted} authorizations; × 10 bits / 115,200`,
      },
      {
        group: 'latency',
        name: 'wire floor, terminal→host bytes only',
        value: hostFloorMs,
        unit: 'ms',
        note: 'the part the pty really paces: the simulator paces what it sends; unicardd does not pace its writes (SerialLink.open without pace), so host→terminal bytes arrive faster than a UART would carry them',
      },
    ];
    return { rows, medianMs: median, p99Ms: p99, floorMs, bytesPerAuthorize: bytes };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await daemon?.stop();
    await sim?.stop();
    await counter?.close();
    await relay?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// Run on its own: node --import tsx bench/latency-bench.ts [--quick]
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  latencyBench(quick ? { authorizations: 15, counted: 5 } : {})
    .then((r) => console.log(renderTable(r.rows)))
    .catch((e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    });
}
