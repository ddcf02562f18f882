/**
 * `unicard trust pin|list|remove`: the pins file unicardd reads (daemon/trust's format). A
 * pin accepts one terminal's device key even when no vendor root vouches for it.
 */
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { addPin, loadPins, removePin } from '../trust/pins-file.js';
import { devicePinId, TerminalSession } from '../session/index.js';
import type { DeviceCertificate } from '../../protocol/crypto/certificates.js';
import { CliError, ExitCode, jsonText, linkTarget, openLink, parseCommand, sessionFailure, type CliIo } from './cli-common.js';
import { refuseIfDaemonHolds } from './daemon-check.js';

export const TRUST_USAGE = `usage: unicard trust pin (--port <path> | --tcp <host:port>) --by <name> [--note <text>] [--yes] [--pins <file>]
       unicard trust pin --terminal <id> --key <key id> --by <name> [--pins <file>]
       unicard trust list [--pins <file>] [--json]
       unicard trust remove <terminal id> [--pins <file>]

Pins a terminal's device key in the pins file unicardd reads (default: UNICARD_PINS). Pin
only a terminal you have in front of you: the CLI shows its id, vendor, model and key id,
and asks before writing (--yes to skip the question in scripts). unicardd picks the change up
on its next rescan, or at once with SIGHUP.

example: unicard trust pin --port /dev/ttyUSB0 --by "Ahmed (tech 114)" --pins /var/lib/unicard/pins.json`;

const OPTIONS = {
  port: { type: 'string' },
  tcp: { type: 'string' },
  hid: { type: 'string' },
  terminal: { type: 'string' },
  key: { type: 'string' },
  by: { type: 'string' },
  note: { type: 'string' },
  yes: { type: 'boolean' },
  pins: { type: 'string' },
  socket: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `unicard trust` */
export async function trustCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, OPTIONS, TRUST_USAGE);
  if (values.help || positionals.length === 0) {
    io.out(`${TRUST_USAGE}\n`);
    return values.help ? ExitCode.OK : ExitCode.USAGE;
  }
  const pinsPath = values.pins ?? io.env.UNICARD_PINS;
  if (pinsPath === undefined) throw new CliError(ExitCode.USAGE, 'which pins file? give --pins <file> (the "trust.pinsFile" of unicardd\'s config) or set UNICARD_PINS');
  const [sub, ...rest] = positionals;
  if (sub === 'list') {
    let pins;
    try {
      pins = (await loadPins(pinsPath)).pins;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || /no such file|ENOENT/.test(String(e))) pins = new Map();
      else throw new CliError(ExitCode.FAILED, `${pinsPath}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const list = [...pins].map(([terminalId, p]) => ({ terminalId, ...p }));
    if (values.json) io.out(jsonText({ pinsFile: pinsPath, pins: list }));
    else if (list.length === 0) io.out(`no pins in ${pinsPath}\n`);
    else for (const p of list) io.out(`${p.terminalId.padEnd(16)} key ${p.keyId}  pinned by ${p.pinnedBy} at ${p.pinnedAt}${p.note ? `  (${p.note})` : ''}\n`);
    return ExitCode.OK;
  }
  if (sub === 'remove') {
    const id = rest[0];
    if (id === undefined) throw new CliError(ExitCode.USAGE, 'which terminal? unicard trust remove <terminal id>', TRUST_USAGE);
    const removed = await removePin(pinsPath, id);
    if (values.json) io.out(jsonText({ removed, terminalId: id }));
    else io.out(removed ? `removed the pin of ${id}\n` : `${id} was not pinned\n`);
    return removed ? ExitCode.OK : ExitCode.CHECK_FAILED;
  }
  if (sub !== 'pin') throw new CliError(ExitCode.USAGE, `unknown trust command "${sub}"`, TRUST_USAGE);
  if (values.by === undefined) throw new CliError(ExitCode.USAGE, 'say who pins it: --by "<your name or badge>" (kept in the pins file)');

  let terminalId: string;
  let keyId: string;
  if (values.terminal !== undefined || values.key !== undefined) {
    if (values.terminal === undefined || values.key === undefined || !/^[0-9a-f]{16}$/i.test(values.key)) {
      throw new CliError(ExitCode.USAGE, 'offline pinning needs --terminal <id> and --key <16 hex digits>');
    }
    terminalId = values.terminal;
    keyId = values.key.toLowerCase();
  } else {
    const target = linkTarget(values, TRUST_USAGE);
    await refuseIfDaemonHolds(values, io, target, 'trust pin');
    let device: DeviceCertificate | undefined;
    const link = await openLink(target);
    // The handshake proves the terminal holds the key of the certificate it shows; that key is what gets pinned.
    const s = new TerminalSession(link, { ed: new NodeEd25519(), trust: (d) => ((device = d), 'pinned') });
    try {
      if (target.kind === 'tcp') await s.waitForBanner(1500);
      await s.getInfo();
      await s.handshake();
    } catch (e) {
      throw sessionFailure(e, target);
    } finally {
      await s.close();
    }
    terminalId = device!.terminalId;
    keyId = devicePinId(device!);
    io.err(`terminal ${terminalId}: ${device!.vendor} ${device!.model}, device key id ${keyId}\n`);
    if (!values.yes) {
      if (io.ask === undefined) throw new CliError(ExitCode.USAGE, 'confirm with --yes (no terminal to ask on)');
      const a = await io.ask(`Pin terminal ${terminalId} (key ${keyId})? Only if it is the reader in front of you. [y/N] `);
      if (!/^y(es)?$/i.test(a.trim())) {
        io.err('not pinned\n');
        return ExitCode.CHECK_FAILED;
      }
    }
  }
  await addPin(pinsPath, { terminalId, keyId, pinnedBy: values.by, ...(values.note === undefined ? {} : { note: values.note }) });
  if (values.json) io.out(jsonText({ pinned: { terminalId, keyId, pinnedBy: values.by }, pinsFile: pinsPath }));
  else io.out(`pinned ${terminalId} (key ${keyId}) in ${pinsPath}\n`);
  return ExitCode.OK;
}
