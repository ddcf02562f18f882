/**
 * `unicard-sim`: the reference terminal as a process, on a real serial line.
 *
 *   node --import tsx firmware-sim/main.ts --world <dir> --pty /tmp/unicard-sim.tty \
 *        [--state <dir>] [--card PSD-000001] [--control /tmp/unicard-sim.ctl]
 *
 * One link: `--pty <path>` (the simulator runs socat and the host opens <path> as a serial
 * port), `--serial <device>` (an existing port), or `--tcp <port>` (ser2net-style listener).
 * On pty and serial, what the terminal sends is paced to `--baud` (default 115200, 10 bits
 * per byte) unless `--no-pace`; TCP is unpaced unless `--pace`.
 *
 * Prints one JSON line on stdout once it listens, e.g.
 *   {"event":"ready","pid":123,"terminalId":"SIM0001","firmware":"1.0.0",
 *    "link":{"kind":"pty","path":"/tmp/unicard-sim.tty","paced":true,"baudRate":115200,...},
 *    "control":"/tmp/unicard-sim.ctl","state":"/tmp/..."}
 * and logs to stderr. SIGTERM or SIGINT: links closed, sockets removed, exit 0.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UnicardError } from '../protocol/errors.js';
import { ControlServer } from './terminal/control-server.js';
import { PtyPort, SerialDevicePort, TcpPort, type TerminalPort } from './terminal/ports.js';
import { SimulatedTerminal } from './terminal/simulated-terminal.js';
import type { ConnectionLogLevel } from './terminal/terminal-connection.js';

const USAGE = `usage: unicard-sim --world <dir> (--pty <path> | --serial <device> | --tcp <port>) [options]

  --world <dir>         demo world made by the issuer toolkit (manifest.json)
  --terminal <id>       terminal of the world to be (default: the first)
  --state <dir>         flash store and card counters (default: a temp dir removed at exit)
  --card <file|id>      start with this card in the slot
  --pty <path>          make a pty at <path> with socat (what a USB serial adapter looks like)
  --serial <device>     use an existing serial device
  --tcp <port>          listen on TCP (0: any free port), one host at a time
  --host <addr>         TCP address to listen on (default 127.0.0.1)
  --baud <n>            line rate to pace to (default 115200)
  --no-pace / --pace    pacing off (pty, serial) or on (tcp)
  --control <path>      control socket (JSON lines: insert, remove, finger, faults, quirks, status)
  --sensor-latency <ms> fingerprint capture time (default 0)
  --seed <n>            seed of the drop/corrupt faults (default 1)
  --no-fsync            do not fsync flash and card writes (benchmarks)
  --verbose             debug logs on stderr
`;

type Level = ConnectionLogLevel;
const LEVELS: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function intArg(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        world: { type: 'string' },
        terminal: { type: 'string' },
        state: { type: 'string' },
        card: { type: 'string' },
        pty: { type: 'string' },
        serial: { type: 'string' },
        tcp: { type: 'string' },
        host: { type: 'string' },
        baud: { type: 'string' },
        pace: { type: 'boolean' },
        'no-pace': { type: 'boolean' },
        control: { type: 'string' },
        'sensor-latency': { type: 'string' },
        seed: { type: 'string' },
        'no-fsync': { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    process.stderr.write(`unicard-sim: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  const minLevel = args.verbose ? LEVELS.debug : LEVELS.info;
  const log = (level: Level, message: string): void => {
    if (LEVELS[level] < minLevel) return;
    process.stderr.write(`${new Date().toISOString()} unicard-sim ${level}: ${message}\n`);
  };

  let pacing: { pace?: boolean; baudRate?: number };
  let baud: number | undefined;
  let tcpPort: number | undefined;
  let latency: number | undefined;
  let seed: number | undefined;
  try {
    const links = [args.pty, args.serial, args.tcp].filter((v) => v !== undefined);
    if (links.length !== 1) throw new UsageError('give exactly one of --pty, --serial, --tcp');
    if (args.world === undefined) throw new UsageError('--world is required (make one with the issuer toolkit: demo-world)');
    if (args.pace && args['no-pace']) throw new UsageError('--pace and --no-pace contradict each other');
    baud = intArg('baud', args.baud, 300, 4_000_000);
    tcpPort = intArg('tcp', args.tcp, 0, 65535);
    latency = intArg('sensor-latency', args['sensor-latency'], 0, 60_000);
    seed = intArg('seed', args.seed, 0, 0xffff_ffff);
    pacing = {
      ...(args.pace ? { pace: true } : {}),
      ...(args['no-pace'] ? { pace: false } : {}),
      ...(baud !== undefined ? { baudRate: baud } : {}),
    };
  } catch (e) {
    process.stderr.write(`unicard-sim: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }

  const tempState = args.state === undefined ? await mkdtemp(join(tmpdir(), 'unicard-sim-state-')) : undefined;
  const stateDir = resolve(args.state ?? tempState!);
  let terminal: SimulatedTerminal | undefined;
  let port: TerminalPort | undefined;
  let control: ControlServer | undefined;
  let stopping: Promise<number> | undefined;

  const shutdown = (code: number): Promise<number> => {
    stopping ??= (async () => {
      log('info', 'shutting down');
      terminal?.close();
      await control?.close().catch(() => {});
      await port?.close().catch(() => {});
      if (tempState) await rm(tempState, { recursive: true, force: true }).catch(() => {});
      return code;
    })();
    return stopping;
  };

  try {
    terminal = await SimulatedTerminal.fromWorld({
      worldDir: args.world!,
      stateDir,
      durable: !args['no-fsync'],
      log,
      ...(args.terminal !== undefined ? { terminalId: args.terminal } : {}),
      ...(latency !== undefined ? { sensorLatencyMs: latency } : {}),
      ...(seed !== undefined ? { faultSeed: seed } : {}),
    });
    if (args.card !== undefined) {
      const loaded = await terminal.insertCard(args.card);
      log('info', `card ${loaded.data.cardId} in the slot`);
    }
    const onLog = (m: string): void => log('info', m);
    if (args.pty !== undefined) port = new PtyPort(resolve(args.pty), pacing, onLog);
    else if (args.serial !== undefined) port = new SerialDevicePort(args.serial, pacing);
    else port = new TcpPort(tcpPort!, args.host ?? '127.0.0.1', pacing, onLog);
    terminal.setPort(port);
    const t = terminal;
    await port.start(
      (link) => t.attach(link),
      (error) => {
        log('error', `the link failed: ${error.code}: ${error.message}`);
        void shutdown(1).then((code) => process.exit(code));
      },
    );
    if (args.control !== undefined) control = await ControlServer.listen(resolve(args.control), (c) => t.control(c));
  } catch (e) {
    const what = e instanceof UnicardError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    log('error', `cannot start: ${what}`);
    await shutdown(1);
    return 1;
  }

  const ready = {
    event: 'ready',
    pid: process.pid,
    terminalId: terminal.identity.terminalId,
    firmware: terminal.bannerInfo().firmwareVersion.join('.'),
    link: port.describe(),
    control: control?.path ?? null,
    state: stateDir,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  log('info', `ready: ${JSON.stringify(ready.link)}`);

  return new Promise<number>((resolveExit) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      log('info', `${signal}`);
      void shutdown(0).then(resolveExit);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`unicard-sim: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
