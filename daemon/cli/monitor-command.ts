/**
 * `unicard monitor`: live decoded traffic with one terminal, the tool a vendor debugs a port
 * with. Every message the session sends or receives is printed through TerminalSession's
 * trace hook: time since start, direction, sealed or clear, name, request id, decoded fields,
 * and with --hex the message bytes and the raw link bytes. Below the messages, the segments
 * and NAKs of a damaged line (link-trace.ts). A Ping every --interval ms keeps traffic
 * flowing, --ping-bytes makes it long enough to be segmented; card events and keepalives
 * appear as they come. Ctrl-C ends it.
 */
import { messageToJson, type Message } from '../../protocol/messages.js';
import { MAX_PING_BYTES } from '../../protocol/messages/catalog.js';
import { UnicardError } from '../../protocol/errors.js';
import { TerminalSession } from '../session/index.js';
import { ExitCode, hasTrust, intOption, LINK_OPTIONS, linkTarget, openLink, parseCommand, sessionFailure, trustFrom, type CliIo } from './cli-common.js';
import { refuseIfDaemonHolds } from './daemon-check.js';
import { formatLinkTrace, LinkTracer } from './link-trace.js';

export const MONITOR_USAGE = `usage: unicard monitor (--port <path> | --tcp <host:port>) [trust] [--hex] [--interval <ms>] [--ping-bytes <n>] [--duration <s>] [--json]

Prints the decoded traffic with the terminal, one line per message:
  +12.345 ms  → sealed  Ping #4012  {"data":"c0ffee"}
and, on a damaged line, the pieces below the messages:
  +12.401 ms  ← link    segment 2/7 of packet seq 18: 32 bytes, stride 32
  +12.460 ms  → link    NAK for packet seq 18: missing segment 5 of 7
With a trust option the session is sealed (and card events show); without, it stays clear.
--hex adds the CBOR bytes and the raw bytes on the link; --json prints one JSON object per line.
--ping-bytes sends that many bytes in each Ping (0-256), to test a line with long packets.

example: unicard monitor --port /dev/ttyUSB0 --vendor-root vendor.pub --hex`;

/** `unicard monitor` */
export async function monitorCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(argv, { ...LINK_OPTIONS, hex: { type: 'boolean' }, interval: { type: 'string' }, duration: { type: 'string' }, 'ping-bytes': { type: 'string' } }, MONITOR_USAGE);
  if (values.help) return io.out(`${MONITOR_USAGE}\n`), ExitCode.OK;
  const target = linkTarget(values, MONITOR_USAGE);
  const interval = intOption('interval', values.interval, 0, 3_600_000, 2000);
  const durationS = intOption('duration', values.duration, 0, 86_400 * 7, 0);
  // Without --ping-bytes, the session's own short Ping data.
  const pingData = values['ping-bytes'] === undefined ? undefined : Uint8Array.from({ length: intOption('ping-bytes', values['ping-bytes'], 0, MAX_PING_BYTES, 0) }, (_, i) => (i * 151 + 7) & 0xff);
  await refuseIfDaemonHolds(values, io, target, 'monitor');
  const trust = hasTrust(values) ? await trustFrom(values, io) : undefined;
  const t0 = performance.now();
  const stamp = (): string => `+${(performance.now() - t0).toFixed(3)} ms`;
  const link = await openLink(target, intOption('baud', values.baud, 300, 4_000_000, 115_200));
  const links = new LinkTracer();
  const s = new TerminalSession(link, {
    ...(trust === undefined ? {} : { trust }),
    trace: (dir, item, bytes, info) => {
      const arrow = dir === 'tx' ? '→' : '←';
      const sealed = info.sealed ? 'sealed' : 'clear';
      if (item instanceof UnicardError) {
        if (values.json) io.out(`${JSON.stringify({ t: +(performance.now() - t0).toFixed(3), dir, sealed: info.sealed, error: item.code, message: item.message, hex: Buffer.from(bytes).toString('hex') })}\n`);
        else io.out(`${stamp()}  ${arrow} ${sealed.padEnd(6)}  BAD ${item.code}: ${item.message}${values.hex ? `\n    ${Buffer.from(bytes).toString('hex')}` : ''}\n`);
        return;
      }
      const m = item as Message;
      const fields = messageToJson(m);
      delete fields.type;
      delete fields.id;
      if (values.json) {
        io.out(`${JSON.stringify({ t: +(performance.now() - t0).toFixed(3), dir, sealed: info.sealed, type: m.type, id: m.id, ...(info.attempt ? { attempt: info.attempt } : {}), fields, ...(values.hex ? { hex: Buffer.from(bytes).toString('hex') } : {}) })}\n`);
      } else {
        io.out(`${stamp()}  ${arrow} ${sealed.padEnd(6)}  ${m.type} #${m.id}${info.attempt ? ` (resend ${info.attempt})` : ''}  ${JSON.stringify(fields)}${values.hex ? `\n    cbor ${Buffer.from(bytes).toString('hex')}` : ''}\n`);
      }
    },
    traceBytes: (dir: 'tx' | 'rx', bytes: Uint8Array) => {
      const arrow = dir === 'tx' ? '→' : '←';
      if (values.hex && !values.json) io.out(`${stamp()}  ${arrow} wire   ${Buffer.from(bytes).toString('hex')}\n`);
      for (const item of links.push(dir, bytes)) {
        if (values.json) io.out(`${JSON.stringify({ t: +(performance.now() - t0).toFixed(3), dir, link: item })}\n`);
        else io.out(`${stamp()}  ${arrow} link    ${formatLinkTrace(item)}\n`);
      }
    },
  });
  s.onBanner((b) => io.out(values.json ? `${JSON.stringify({ t: +(performance.now() - t0).toFixed(3), banner: b })}\n` : `${stamp()}  ← banner  ${JSON.stringify(b)}\n`));
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const onSig = (): void => stop();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  s.onClose(() => stop());
  const timers: ReturnType<typeof setTimeout>[] = [];
  try {
    try {
      if (target.kind === 'tcp') await s.waitForBanner(1500);
      await s.getInfo();
      if (trust !== undefined) await s.handshake(trust);
    } catch (e) {
      throw sessionFailure(e, target);
    }
    if (durationS > 0) timers.push(setTimeout(stop, durationS * 1000));
    if (interval > 0) {
      const tick = (): void => {
        void s.ping(pingData, trust === undefined ? { clear: true } : {}).catch(() => undefined);
        timers.push(setTimeout(tick, interval));
      };
      timers.push(setTimeout(tick, interval));
    }
    await stopped;
  } finally {
    for (const t of timers) clearTimeout(t);
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
    await s.close();
  }
  return ExitCode.OK;
}
