/**
 * `unicardd`: the host daemon as a process.
 *
 *   node --import tsx daemon/unicardd.ts --config /etc/unicard/unicardd.json [--verbose]
 *   node --import tsx daemon/unicardd.ts --dev            # zero-config development mode
 *
 * What ships is the tsc build, started with the memory flags of node-flags.ts:
 *   node --max-semi-space-size=2 ... dist/daemon/unicardd.js --config ...   (bin/unicardd does)
 *
 * Loads and checks the config (a bad one: the message on stderr, exit code 2), opens the
 * trust store, starts the TerminalManager (discovery, probes, hotplug) and the local API,
 * then prints ONE JSON line on stdout, e.g.
 *   {"event":"ready","pid":123,"socket":"/var/lib/unicard/unicardd.sock","dataDir":"/var/lib/unicard","version":"0.1.0"}
 * Logs are pino JSON lines on stderr (see DAEMON.md).
 *
 * Signals: SIGTERM / SIGINT stop accepting API connections, let calls in flight finish or
 * fail them, close every terminal link, remove the socket and exit 0. SIGHUP re-reads the
 * pins file and rescans at once.
 *
 * Exit codes: 0 after a clean stop, 1 on a runtime failure (the socket is taken, a crash),
 * 2 for a bad config or bad arguments.
 */
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { UnicardError } from '../protocol/errors.js';
import { fastestEd25519, SodiumEd25519 } from '../protocol/crypto/ed25519.js';
import { fastestSecretBox } from '../protocol/crypto/secretbox.js';
import { ApiServer, ApiServerError } from './api/index.js';
import { ConfigError, loadConfig, LOG_LEVELS, type DaemonConfig, type LogLevel } from './config/index.js';
import { createLogger, errorFields } from './logging.js';
import { missingNodeFlags } from './node-flags.js';
import { egyptTimeSource } from './time/egypt-time.js';
import { createTerminalManager } from './terminals/create-manager.js';
import { DispenseConfigError, startDispensing } from './dispense/index.js';
import { TrustStore, TrustStoreError } from './trust/index.js';

const USAGE = `usage: unicardd (--config <file> | --dev) [options]

  -c, --config <file>   the JSON config file (see DAEMON.md)
      --dev             zero-config development mode: data dir .unicard-dev/, a generated
                        token in .unicard-dev/token, the socket inside it (a --config file
                        may still add terminals and roots)
  -v, --verbose         debug logs, with every decoded protocol message
      --log-level <l>   ${LOG_LEVELS.join(', ')} (overrides the config's logLevel)
  -h, --help            this text
      --version         print the version
`;

/** Most time a clean stop may take before the process gives up and exits 1. */
const STOP_DEADLINE_MS = 15_000;

class UsageError extends Error {}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

interface Args {
  config: string | undefined;
  dev: boolean;
  verbose: boolean;
  logLevel: LogLevel | undefined;
}

function parse(argv: string[]): Args | 'help' | 'version' {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        dev: { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (v.help) return 'help';
  if (v.version) return 'version';
  const level = v['log-level'];
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got "${level}")`);
  }
  if (v.config === undefined && v.dev !== true) throw new UsageError('give --config <file>, or --dev for development');
  return { config: v.config, dev: v.dev === true, verbose: v.verbose === true, logLevel: level as LogLevel | undefined };
}

async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    const parsed = parse(argv);
    if (parsed === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (parsed === 'version') {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    args = parsed;
  } catch (e) {
    process.stderr.write(`unicardd: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }

  // Configuration problems end here with exit code 2 and a message naming the field.
  let config: DaemonConfig;
  let trustStore: TrustStore;
  // One Ed25519 for the whole daemon: libsodium, or node:crypto where its addon cannot load.
  const ed = fastestEd25519();
  try {
    config = await loadConfig({ ...(args.config === undefined ? {} : { configFile: args.config }), dev: args.dev });
    try {
      await mkdir(config.dataDir, { recursive: true, mode: 0o750 });
    } catch (e) {
      throw new ConfigError('CONFIG_FILE_INVALID', `dataDir: cannot create ${config.dataDir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    trustStore = await TrustStore.open({
      ed,
      vendorRoots: config.trust.vendorRoots,
      issuerRoots: config.trust.issuerRoots,
      pinsFile: config.trust.pinsFile,
    });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof TrustStoreError) {
      process.stderr.write(`unicardd: config error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  const level: LogLevel = args.logLevel ?? (args.verbose ? (config.logLevel === 'trace' ? 'trace' : 'debug') : config.logLevel);
  const logger = createLogger({ level });
  const v = version();
  const missingFlags = missingNodeFlags();
  logger.info(
    {
      version: v,
      config: config.configFile ?? null,
      dev: config.dev,
      dataDir: config.dataDir,
      socket: config.socketPath,
      tokens: config.tokens.map((t) => `${t.name} (${t.role})`),
      vendorRoots: config.trust.vendorRoots.map((k) => k.keyId),
      issuerRoots: config.trust.issuerRoots.map((k) => k.keyId),
      pinsFile: config.trust.pinsFile,
      pins: trustStore.pins.size,
      serial: config.terminals.serial.map((s) => s.path),
      tcp: config.terminals.tcp.map((s) => s.address),
      // The memory flags the launcher passes (node-flags.ts); listed when this start lacks them.
      ...(missingFlags.length > 0 ? { nodeFlagsMissing: missingFlags } : {}),
      // Where Egypt's days come from: the system's tz file, or Intl when it is missing.
      egyptTime: egyptTimeSource(),
      ed25519: ed.name,
      secretbox: fastestSecretBox().name,
    },
    'unicardd starting',
  );
  if (ed.name !== 'libsodium') logger.warn({ reason: SodiumEd25519.unavailableReason }, `libsodium (sodium-native) did not load, so signatures are checked with node:crypto, about half as fast, and terminal sessions are sealed with tweetnacl: ${SodiumEd25519.unavailableReason ?? 'unknown reason'}`);
  const timeSource = egyptTimeSource();
  if (timeSource.kind === 'intl') logger.warn({ reason: timeSource.reason }, `no readable tz file for Africa/Cairo (${timeSource.reason}): Egypt's days come from Intl (about 8 MiB more memory); install the tzdata package`);
  if (config.devTokenFile !== undefined) logger.info({ tokenFile: config.devTokenFile }, `development mode: the API token is in ${config.devTokenFile}`);
  if (config.trust.vendorRoots.length === 0) {
    logger.warn({}, 'no vendor roots configured (trust.vendorRoots): only pinned terminals will be admitted');
  }

  const manager = createTerminalManager(config, { trust: trustStore, logger, verbose: args.verbose });
  const api = new ApiServer({
    socketPath: config.socketPath,
    tokens: new Map(config.tokens.map((t) => [t.token, { name: t.name, role: t.role }])),
    manager,
    logger,
    version: v,
  });
  // Dispensing (authorize, commit, ...): <dataDir>/dispense.json; a bad one is a config error.
  const dispensing = await startDispensing(api, { dataDir: config.dataDir, issuerKeys: trustStore.issuerKeys, logger, ed }).catch((e: unknown) => {
    if (e instanceof DispenseConfigError) return e;
    throw e;
  });
  if (dispensing instanceof DispenseConfigError) {
    process.stderr.write(`unicardd: config error: ${dispensing.message}\n`);
    return 2;
  }

  let stopping: Promise<number> | undefined;
  const stop = (code: number, why: string): Promise<number> => {
    stopping ??= (async () => {
      logger.info({ why }, 'unicardd stopping');
      const deadline = setTimeout(() => {
        logger.error({ deadlineMs: STOP_DEADLINE_MS }, 'stop took too long; exiting anyway');
        process.exit(1);
      }, STOP_DEADLINE_MS);
      deadline.unref();
      try {
        // Clients first (no new calls; calls in flight finish or fail), then the terminals.
        await api.stop();
        await manager.stop();
        dispensing.close();
      } catch (e) {
        logger.error({ err: errorFields(e) }, 'error while stopping');
        code = code === 0 ? 1 : code;
      }
      clearTimeout(deadline);
      logger.info({ code }, 'unicardd stopped');
      return code;
    })();
    return stopping;
  };

  const exited = new Promise<number>((resolveExit) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping !== undefined) {
        logger.warn({ signal }, 'already stopping');
        return;
      }
      void stop(0, signal).then(resolveExit);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', () => {
      logger.info({ signal: 'SIGHUP' }, 'SIGHUP: re-reading the pins file and rescanning');
      void manager.rescan();
    });
    const crash = (e: unknown, what: string): void => {
      logger.fatal({ err: errorFields(e) }, `${what}: ${e instanceof Error ? e.message : String(e)}`);
      void stop(1, what).then(resolveExit);
    };
    process.on('uncaughtException', (e) => crash(e, 'uncaught exception'));
    process.on('unhandledRejection', (e) => crash(e, 'unhandled rejection'));
  });

  try {
    // The API first: a socket in use means another unicardd runs, and it owns the terminals.
    await api.start();
    await manager.start();
  } catch (e) {
    const what = e instanceof ApiServerError || e instanceof UnicardError ? `${e.code}: ${e.message}` : String(e);
    logger.fatal({ err: errorFields(e) }, `cannot start: ${what}`);
    await stop(1, 'start failed');
    return 1;
  }
  if (stopping !== undefined) return exited;

  const ready = { event: 'ready', pid: process.pid, socket: config.socketPath, dataDir: config.dataDir, version: v };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  logger.info({ socket: config.socketPath, dataDir: config.dataDir }, 'unicardd ready');
  return exited;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`unicardd: fatal: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
