/**
 * Commands that talk to one terminal directly: `info`, `ping`, `test`, `conformance`.
 * Each opens the link named by --port/--tcp, speaks through TerminalSession, and closes it.
 */
import { randomBytes } from 'node:crypto';
import type { Link } from '../../link/link.js';
import { controlCommand } from './sim-control.js';
import { TerminalSession } from '../session/index.js';
import { formatReport, runConformance } from '../conformance/conformance-suite.js';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { loadRootKeyFile } from '../trust/root-keys.js';
import {
  CliError,
  ExitCode,
  hasTrust,
  intOption,
  jsonText,
  LINK_OPTIONS,
  linkTarget,
  openLink,
  parseCommand,
  sessionFailure,
  trustFrom,
  type CliIo,
  type LinkTarget,
} from './cli-common.js';
import { daemonTerminals, heldBy, refuseIfDaemonHolds } from './daemon-check.js';

/** Opens the target, waits briefly for a banner on TCP (sent at connect), returns a session. */
export async function connect(target: LinkTarget, baud: number | undefined, trust: Parameters<typeof TerminalSession.open>[1]['trust'] | undefined): Promise<TerminalSession> {
  const link: Link = await openLink(target, baud);
  const session = new TerminalSession(link, trust === undefined ? {} : { trust });
  try {
    if (target.kind === 'tcp') await session.waitForBanner(1500);
    await session.getInfo();
    if (trust !== undefined) await session.handshake(trust);
    return session;
  } catch (e) {
    await session.close();
    throw sessionFailure(e, target);
  }
}

const version = (v: readonly number[] | null | undefined): string => (v == null ? '-' : v.join('.'));

export const INFO_USAGE = `usage: unicard info (--port <path> | --tcp <host:port>) [--vendor-root <file> | --pins <file> | --pin <id> | --insecure-accept] [--json]

Shows who the terminal is (GetInfo, in clear) and, when it is trusted, its state, firmware
slots and link counters (Status, FirmwareStatus, in the sealed session).

example: unicard info --port /dev/ttyUSB0 --vendor-root /etc/unicard/vendor-acme.pub`;

/** `unicard info` */
export async function infoCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(argv, LINK_OPTIONS, INFO_USAGE);
  if (values.help) return io.out(`${INFO_USAGE}\n`), ExitCode.OK;
  const target = linkTarget(values, INFO_USAGE);
  // The daemon holds it: ask the daemon (its API) instead of fighting it for the port.
  const daemon = await daemonTerminals(values, io);
  const held = daemon !== undefined && 'terminals' in daemon ? heldBy(daemon.terminals, target) : undefined;
  if (held !== undefined) {
    const out = { source: `unicardd (${daemon!.socket})`, ...held, link: `${held.link} ${held.path}` };
    if (values.json) io.out(jsonText(out));
    else {
      for (const [k, val] of Object.entries(out)) io.out(`${k.padEnd(16)} ${typeof val === 'object' && val !== null ? JSON.stringify(val) : String(val)}\n`);
      io.out('(from unicardd, which holds this terminal; stop unicardd to query the terminal directly)\n');
    }
    return ExitCode.OK;
  }
  const trust = hasTrust(values) ? await trustFrom(values, io) : undefined;
  const s = await connect(target, intOption('baud', values.baud, 300, 4_000_000, 115_200), trust);
  try {
    const info = s.info!;
    const out: Record<string, unknown> = {
      link: `${target.kind} ${target.path}`,
      vendor: info.vendor,
      model: info.model,
      serial: info.serial,
      terminalId: info.terminalId,
      firmware: version(info.firmwareVersion),
      protocolVersion: info.protocolVersion,
      maxFrameSize: info.maxFrameSize,
      capabilities: info.capabilities,
      trusted: s.trustDecision ?? 'not checked (give --vendor-root or --pins)',
    };
    if (s.isSealed) {
      const st = await s.request({ type: 'Status' });
      const fw = await s.request({ type: 'FirmwareStatus' });
      out.state = st.state;
      out.cardPresent = st.cardPresent;
      out.uptimeS = st.uptimeS;
      out.clock = st.unixMs === null ? null : new Date(st.unixMs).toISOString();
      out.linkCounters = st.link;
      out.firmwareUpdate = { state: fw.state, running: version(fw.runningVersion), pending: version(fw.pendingVersion), antiRollbackCounter: fw.antiRollbackCounter, uploadOffset: fw.uploadOffset };
    }
    if (values.json) io.out(jsonText(out));
    else {
      for (const [k, v] of Object.entries(out)) io.out(`${k.padEnd(16)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}\n`);
    }
    return ExitCode.OK;
  } catch (e) {
    throw sessionFailure(e, target);
  } finally {
    await s.close();
  }
}

export const PING_USAGE = `usage: unicard ping (--port <path> | --tcp <host:port>) [--count <n>] [--interval <ms>] [--size <bytes>] [--json]

Sends Ping (in clear; no trust needed) and prints round-trip statistics.

example: unicard ping --tcp 192.168.1.40:4001 --count 20`;

/** `unicard ping` */
export async function pingCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(argv, { ...LINK_OPTIONS, count: { type: 'string', short: 'c' }, interval: { type: 'string' }, size: { type: 'string' } }, PING_USAGE);
  if (values.help) return io.out(`${PING_USAGE}\n`), ExitCode.OK;
  const target = linkTarget(values, PING_USAGE);
  const count = intOption('count', values.count, 1, 100_000, 10);
  const interval = intOption('interval', values.interval, 0, 60_000, 100);
  const size = intOption('size', values.size, 0, 256, 16);
  await refuseIfDaemonHolds(values, io, target, 'ping');
  const s = await connect(target, intOption('baud', values.baud, 300, 4_000_000, 115_200), undefined);
  const rtts: number[] = [];
  let lost = 0;
  try {
    for (let i = 0; i < count; i++) {
      try {
        const r = await s.ping(new Uint8Array(randomBytes(size)), { clear: true, maxRetries: 0, timeoutMs: 2000 });
        rtts.push(r.rttMs);
        if (!values.json) io.out(`reply from ${s.info!.terminalId}: seq=${i + 1} time=${r.rttMs.toFixed(2)} ms\n`);
      } catch (e) {
        lost++;
        if (!values.json) io.out(`seq=${i + 1}: no reply (${e instanceof Error ? e.message : String(e)})\n`);
        if (s.isClosed) break;
      }
      if (i + 1 < count && interval > 0) await new Promise((r) => setTimeout(r, interval));
    }
  } finally {
    await s.close();
  }
  const sorted = [...rtts].sort((a, b) => a - b);
  const pick = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
  const stats = {
    terminalId: s.info?.terminalId,
    sent: rtts.length + lost,
    received: rtts.length,
    lost,
    minMs: round(sorted[0]),
    avgMs: round(rtts.length === 0 ? undefined : rtts.reduce((a, b) => a + b, 0) / rtts.length),
    p95Ms: round(rtts.length === 0 ? undefined : pick(0.95)),
    maxMs: round(sorted[sorted.length - 1]),
  };
  if (values.json) io.out(jsonText(stats));
  else {
    io.out(`--- ${stats.terminalId} ping statistics ---\n${stats.sent} sent, ${stats.received} received, ${stats.lost} lost\n`);
    if (rtts.length > 0) io.out(`rtt min/avg/p95/max = ${stats.minMs}/${stats.avgMs}/${stats.p95Ms}/${stats.maxMs} ms\n`);
  }
  if (rtts.length === 0) throw new CliError(ExitCode.UNREACHABLE, 'no Ping was answered', 'check the cable and the port; run "unicard devices"');
  return lost > 0 ? ExitCode.CHECK_FAILED : ExitCode.OK;
}

function round(n: number | undefined): number | null {
  return n === undefined || Number.isNaN(n) ? null : Math.round(n * 100) / 100;
}

export const CONFORMANCE_USAGE = `usage: unicard conformance (--port <path> | --tcp <host:port>) [trust] [--sim-control <socket>] [--firmware-dir <dir>] [--issuer-root <file>] [--only <prefix>] [--json]

Runs the protocol's rules against a terminal and prints one row per check: id, PASS / FAIL /
SKIP, and the evidence (bytes sent and received, codes seen). Exit 0 when nothing failed.

  --sim-control <socket>  the simulator's control socket: the suite inserts a card and presents
                          fingers itself (a real terminal's operator is asked instead, on a TTY)
  --firmware-dir <dir>    a demo world (unicard issuer demo-world <dir>): runs the firmware
                          update checks (bad signature, downgrade, resume, rollback)
  --issuer-root <file>    check card certificates under this issuer root
  --only <prefix>         run only checks whose id starts with it (repeatable)
  trust                   --vendor-root <file> | --pins <file> | --pin <id> | --insecure-accept

The firmware checks leave the terminal on the firmware it had (the test image is rolled back).

example: unicard conformance --port /dev/ttyUSB0 --vendor-root vendor.pub --firmware-dir ./world`;

/** `unicard conformance` */
export async function conformanceCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(
    argv,
    { ...LINK_OPTIONS, 'sim-control': { type: 'string' }, 'firmware-dir': { type: 'string' }, 'issuer-root': { type: 'string' }, only: { type: 'string', multiple: true } },
    CONFORMANCE_USAGE,
  );
  if (values.help) return io.out(`${CONFORMANCE_USAGE}\n`), ExitCode.OK;
  const target = linkTarget(values, CONFORMANCE_USAGE);
  if (!hasTrust(values) && !io.env.UNICARD_VENDOR_ROOT) {
    throw new CliError(ExitCode.USAGE, 'the handshake checks need to know whom to trust', 'give --vendor-root <vendor public key file>, --pins <file>, --pin <key id>, or --insecure-accept on a bench');
  }
  await refuseIfDaemonHolds(values, io, target, 'conformance');
  const trust = await trustFrom(values, io);
  const issuerRoots = values['issuer-root'] === undefined ? undefined : trustedKeysOf([(await loadRootKeyFile(values['issuer-root'], 'issuer-root')).publicKey]);
  const link = await openLink(target, intOption('baud', values.baud, 300, 4_000_000, 115_200));
  if (target.kind === 'tcp') await new Promise((r) => setTimeout(r, 300)); // let the connect banner pass
  const simSocket = values['sim-control'];
  const ask = io.ask;
  const report = await runConformance({
    link,
    trust,
    ...(issuerRoots === undefined ? {} : { issuerRoots }),
    ...(values['firmware-dir'] === undefined ? {} : { firmwareDir: values['firmware-dir'] }),
    ...(values.only === undefined ? {} : { only: values.only }),
    ...(simSocket === undefined ? {} : { simControl: (c: Record<string, unknown>) => controlCommand(simSocket, c) }),
    ...(ask === undefined || simSocket !== undefined ? {} : { prompt: async (text: string) => !/^\s*skip\s*$/i.test(await ask(`${text}: `)) }),
    onResult: (r) => {
      if (!values.json) io.err(`${r.status.padEnd(4)} ${r.id}\n`);
    },
  });
  if (values.json) io.out(jsonText(report));
  else io.out(`${formatReport(report)}\n`);
  if (report.results.length === 0) throw new CliError(ExitCode.USAGE, 'no check matched --only');
  if (report.results[0]?.status === 'FAIL' && report.results[0].id === 'framing.good-frame' && report.passed === 0) {
    io.err('the terminal never answered a good frame: is this the right port, and is the terminal speaking unicard (not printing a console)?\n');
  }
  return report.failed > 0 ? ExitCode.CHECK_FAILED : ExitCode.OK;
}
