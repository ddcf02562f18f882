/**
 * `unicard devices`: every reader this machine can reach. Serial ports (as the serial bus
 * lists them, plus any --port given), TCP terminals (--tcp, or UNICARD_TCP="host:port,..."),
 * and, when unicardd answers on its socket, the terminals it holds. Each port not held by the
 * daemon is probed with GetInfo in clear: model, serial, firmware; a port that cannot be
 * opened is listed with the reason and what to do.
 */
import { SerialBus } from '../../link/serial-link.js';
import { TerminalSession } from '../session/index.js';
import { ExitCode, jsonText, linkHint, openLink, parseCommand, type CliError, type CliIo, type LinkTarget } from './cli-common.js';
import { daemonTerminals } from './daemon-check.js';

export const DEVICES_USAGE = `usage: unicard devices [--port <path>]... [--tcp <host:port>]... [--all] [--socket <path> --token <token>] [--json]

Lists readers: serial ports (probed with GetInfo), TCP terminals given with --tcp (or
UNICARD_TCP="host:port,host:port"), and the terminals unicardd holds (when its socket answers).
Ports that do not answer are listed only with --all (most are not readers: built-in UARTs).
USB HID readers are not available on this machine.

example: unicard devices --tcp 192.168.1.40:4001`;

/** One row. */
export interface DeviceRow {
  link: string;
  path: string;
  source: 'serial' | 'tcp' | 'daemon';
  state: string;
  vendor?: string;
  model?: string;
  serial?: string;
  terminalId?: string;
  firmware?: string;
  usb?: string;
  /** Why it cannot be used, and what to do. */
  problem?: string;
}

async function probe(target: LinkTarget): Promise<Omit<DeviceRow, 'source' | 'link' | 'path'>> {
  let link;
  try {
    link = await openLink(target);
  } catch (e) {
    const err = e as CliError;
    const busy = /busy|lock/i.test(err.message);
    return { state: busy ? 'busy' : 'cannot open', problem: /check|\?|group|stop /.test(err.message) ? err.message : `${err.message}; ${err.hint ?? linkHint(e, target)}` };
  }
  const s = new TerminalSession(link, {});
  try {
    if (target.kind === 'tcp') await s.waitForBanner(1000);
    const info = await s.getInfo({ timeoutMs: 1500, maxRetries: 2 });
    return { state: 'ready', vendor: info.vendor, model: info.model, serial: info.serial, terminalId: info.terminalId, firmware: info.firmwareVersion.join('.') };
  } catch (e) {
    return { state: 'no answer', problem: `opened, but no unicard terminal answered (${e instanceof Error ? e.message.split(':')[0] : String(e)}): not a reader, powered off, or another program holds it` };
  } finally {
    await s.close();
  }
}

/** `unicard devices` */
export async function devicesCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(
    argv,
    { port: { type: 'string', multiple: true }, tcp: { type: 'string', multiple: true }, hid: { type: 'boolean' }, all: { type: 'boolean' }, socket: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    DEVICES_USAGE,
  );
  if (values.help) return io.out(`${DEVICES_USAGE}\n`), ExitCode.OK;
  const rows: DeviceRow[] = [];
  const notes: string[] = [];

  const daemon = await daemonTerminals(values, io);
  const held = new Set<string>();
  if (daemon !== undefined && 'terminals' in daemon) {
    for (const t of daemon.terminals) {
      held.add(t.path);
      rows.push({
        link: t.link,
        path: t.path,
        source: 'daemon',
        state: `${t.state} (held by unicardd${t.claim ? `, claimed by ${JSON.stringify(t.claim)}` : ''})`,
        ...(t.vendor === undefined ? {} : { vendor: t.vendor }),
        ...(t.model === undefined ? {} : { model: t.model }),
        ...(t.serial === undefined ? {} : { serial: t.serial }),
        terminalId: t.id,
        ...(t.firmware === undefined ? {} : { firmware: t.firmware }),
        ...(t.reason === undefined ? {} : { problem: t.reason.en }),
      });
    }
  } else if (daemon !== undefined) notes.push(`unicardd socket ${daemon.socket}: ${daemon.error}`);

  const { links, warnings } = await new SerialBus().listWithWarnings();
  notes.push(...warnings);
  const serialPaths = new Map<string, string | undefined>();
  for (const l of links) serialPaths.set(l.path, l.vendorId !== undefined ? `${l.vendorId}:${l.productId ?? '?'} ${l.manufacturer ?? ''}`.trim() : undefined);
  for (const p of values.port ?? []) if (!serialPaths.has(p)) serialPaths.set(p, undefined);
  const tcp = [...(values.tcp ?? []), ...(io.env.UNICARD_TCP ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '')];

  const explicit = new Set([...(values.port ?? []), ...tcp]);
  const targets: (LinkTarget & { usb?: string | undefined })[] = [
    ...[...serialPaths].filter(([p]) => !held.has(p)).map(([path, usb]) => ({ kind: 'serial' as const, path, usb })),
    ...tcp.filter((p) => !held.has(p)).map((path) => ({ kind: 'tcp' as const, path })),
  ];
  const probed = await Promise.all(targets.map(async (t) => ({ t, r: await probe(t) })));
  for (const { t, r } of probed) {
    if (r.state === 'no answer' && !values.all && !explicit.has(t.path)) continue;
    rows.push({ link: t.kind, path: t.path, source: t.kind, ...r, ...(t.usb === undefined ? {} : { usb: t.usb }) });
  }
  if (values.hid) notes.push('USB HID readers are not available on this machine (no HID driver in this build): connect the reader as USB serial, or over TCP');

  if (values.json) io.out(jsonText({ devices: rows, notes }));
  else {
    if (rows.length === 0) io.out('no readers found. Plug one in (USB serial), give --tcp host:port for a network reader, or --all to see every port.\n');
    for (const r of rows) {
      const who = r.vendor !== undefined ? `${r.vendor} ${r.model ?? ''} serial ${r.serial ?? '?'} firmware ${r.firmware ?? '?'}` : '';
      io.out(`${r.path.padEnd(24)} ${r.link.padEnd(6)} ${r.state.padEnd(12)} ${who}${r.terminalId !== undefined && r.terminalId !== r.serial ? ` (id ${r.terminalId})` : ''}${r.usb ? ` [usb ${r.usb}]` : ''}\n`);
      if (r.problem !== undefined) io.out(`${''.padEnd(24)}   ${r.problem}\n`);
    }
    for (const n of notes) io.out(`note: ${n}\n`);
  }
  return rows.some((r) => r.state === 'ready' || r.source === 'daemon') ? ExitCode.OK : ExitCode.UNREACHABLE;
}
