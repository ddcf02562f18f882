/**
 * `unicard`: the technician's and vendor's command line. One tree:
 *
 *   unicard devices | info | ping | test | flash <image> | monitor | conformance
 *   unicard trust pin|list | ledger verify|export | issuer <toolkit command>
 *
 * Every command takes --help (with an example) and --json, and exits with the codes of
 * {@link ExitCode}: 0 ok, 1 a check failed, 2 usage, 3 device unreachable or busy,
 * 4 untrusted, 5 other failure.
 */
import { createInterface } from 'node:readline/promises';
import { UnicardError } from '../../protocol/errors.js';
import { CliError, ExitCode, type CliIo } from './cli-common.js';
import { conformanceCommand, infoCommand, pingCommand } from './device-commands.js';

/** One command: its one-line summary and how to run it. */
interface Command {
  summary: string;
  run: (argv: readonly string[], io: CliIo) => Promise<number>;
}

const lazy =
  (load: () => Promise<(argv: readonly string[], io: CliIo) => Promise<number>>) =>
  async (argv: readonly string[], io: CliIo): Promise<number> =>
    (await load())(argv, io);

/** The command table. */
export const COMMANDS: Record<string, Command> = {
  devices: { summary: 'list every reader reachable (serial, TCP, and those unicardd holds), with model, serial, firmware, state', run: lazy(async () => (await import('./devices-command.js')).devicesCommand) },
  info: { summary: "who a terminal is, its state, firmware slots and link counters", run: infoCommand },
  ping: { summary: 'round-trip times to a terminal (min/avg/p95/max)', run: pingCommand },
  test: { summary: 'self-test, card read, finger capture and link counters, with a PASS/FAIL summary', run: lazy(async () => (await import('./test-command.js')).testCommand) },
  flash: { summary: 'verify a firmware image, upload it (resumable), test-boot it and confirm it', run: lazy(async () => (await import('./flash-command.js')).flashCommand) },
  monitor: { summary: 'live decoded traffic with a terminal (direction, time, message, fields, --hex)', run: lazy(async () => (await import('./monitor-command.js')).monitorCommand) },
  conformance: { summary: "run the protocol's rules against a terminal (vendors)", run: conformanceCommand },
  trust: { summary: 'pin a terminal, list pins (the pins file unicardd reads)', run: lazy(async () => (await import('./trust-command.js')).trustCommand) },
  ledger: { summary: 'verify a ledger offline, export receipts', run: lazy(async () => (await import('./ledger-command.js')).ledgerCommand) },
  issuer: { summary: 'the issuer toolkit (keys, cards, rosters, firmware images, demo-world)', run: lazy(async () => (await import('./issuer-command.js')).issuerCommand) },
};

export const MAIN_USAGE = `usage: unicard <command> [options]    (unicard <command> --help for each)

${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

Link:   --port <path> (serial, e.g. /dev/ttyUSB0, COM3) | --tcp <host:port> (ser2net-style)
Trust:  --vendor-root <file> | --pins <file> | --pin <key id> | --insecure-accept (bench only)
Daemon: --socket <path> (or UNICARD_SOCKET), --token <token> (or UNICARD_TOKEN)
Output: --json on every command

Exit codes: 0 ok, 1 a check failed, 2 usage, 3 device unreachable or busy, 4 untrusted, 5 other failure

example: unicard devices
         unicard test --port /dev/ttyUSB0 --vendor-root /etc/unicard/vendor.pub`;

/** Runs one command line; never throws (errors are printed and turned into exit codes). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(`${MAIN_USAGE}\n`);
    return name === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  const command = COMMANDS[name];
  const json = rest.includes('--json');
  try {
    if (command === undefined) {
      const near = Object.keys(COMMANDS).find((c) => c.startsWith(name.slice(0, 2)));
      throw new CliError(ExitCode.USAGE, `unknown command "${name}"${near ? ` (did you mean "${near}"?)` : ''}`, 'run "unicard --help" for the list');
    }
    return await command.run(rest, io);
  } catch (e) {
    const err =
      e instanceof CliError
        ? e
        : new CliError(ExitCode.FAILED, e instanceof UnicardError ? `${e.code}: ${e.message}` : e instanceof Error ? (e.stack ?? e.message) : String(e));
    if (json) io.out(`${JSON.stringify({ error: { exitCode: err.exitCode, message: err.message, ...(err.hint === undefined ? {} : { hint: err.hint }) } }, null, 2)}\n`);
    io.err(`unicard ${name}: ${err.message}\n`);
    if (err.hint !== undefined) io.err(`what to do: ${err.hint}\n`);
    return err.exitCode;
  }
}

/** The process's streams as {@link CliIo}. */
export function processIo(): CliIo {
  const isTty = process.stdout.isTTY === true;
  const canAsk = process.stdin.isTTY === true && isTty;
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    isTty,
    env: process.env,
    ...(canAsk
      ? {
          ask: async (q: string) => {
            const rl = createInterface({ input: process.stdin, output: process.stderr });
            try {
              return await rl.question(q);
            } finally {
              rl.close();
            }
          },
        }
      : {}),
  };
}

const isMain = process.argv[1] !== undefined && /daemon[\\/]cli[\\/]main\.(ts|js)$/.test(process.argv[1]);
if (isMain) {
  // `unicard monitor | head`: a closed pipe ends the command quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(ExitCode.OK);
  });
  runCli(process.argv.slice(2), processIo()).then(
    (code) => {
      process.exitCode = code;
      // Leftover handles (a serial port closing) must not keep a finished command alive.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (e: unknown) => {
      process.stderr.write(`unicard: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(ExitCode.FAILED);
    },
  );
}
