/**
 * `unicard flash <image>`: the safe way to update a terminal's firmware.
 *
 *   1. the image's signature and body hash are checked here first, against the vendor root
 *      (nothing is sent for an image that does not verify);
 *   2. FirmwareBegin: the terminal says where to continue (an interrupted upload resumes);
 *   3. the body goes in chunks, with a progress line (rate, time left);
 *   4. FirmwareFinish, FirmwareActivate: the terminal restarts into the new image on trial;
 *   5. the CLI waits for the boot banner, handshakes again, and FirmwareConfirm keeps the image.
 *   If the terminal comes back on its old firmware, it rolled back: the CLI says so plainly.
 */
import { readFile } from 'node:fs/promises';
import { decodeFirmwareImage } from '../../firmware-sim/issuer/firmware-image.js';
import { UnicardError } from '../../protocol/errors.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { verifyFirmwareBody, verifyFirmwareHeader, type FirmwareHeader } from '../../protocol/crypto/firmware-header.js';
import { MAX_FIRMWARE_CHUNK_BYTES } from '../../protocol/messages.js';
import type { TerminalSession } from '../session/index.js';
import { loadRootKeyFile } from '../trust/root-keys.js';
import { CliError, ExitCode, intOption, jsonText, LINK_OPTIONS, linkTarget, parseCommand, sessionFailure, trustFrom, type CliIo } from './cli-common.js';
import { connect } from './device-commands.js';
import { refuseIfDaemonHolds } from './daemon-check.js';
import { formatBytes, formatDuration, ProgressLine } from './progress-line.js';

export const FLASH_USAGE = `usage: unicard flash <image file> (--port <path> | --tcp <host:port>) --vendor-root <file> [--chunk <bytes>] [--no-confirm] [--json]

Checks the image's signature against the vendor root, uploads it (an interrupted upload
resumes where the terminal stopped: just run the same command again), restarts the
terminal into it on trial, and confirms it once the terminal is back and trusted.
If the terminal returns on its old firmware, it rolled back by itself: nothing is broken.

  --vendor-root <file>  the vendor's public key (checks the image AND the terminal)
  --chunk <bytes>       upload chunk size (default: 4096, at most what the terminal's frames allow)
  --no-confirm          leave the new image on trial (it rolls back at the next restart)

example: unicard flash firmware-1.1.0.img --port /dev/ttyUSB0 --vendor-root /etc/unicard/vendor.pub`;

const v = (x: readonly number[] | null | undefined): string => (x == null ? '-' : x.join('.'));

/** `unicard flash` */
export async function flashCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(argv, { ...LINK_OPTIONS, chunk: { type: 'string' }, 'no-confirm': { type: 'boolean' } }, FLASH_USAGE);
  if (values.help) return io.out(`${FLASH_USAGE}\n`), ExitCode.OK;
  if (positionals.length !== 1) throw new CliError(ExitCode.USAGE, 'give exactly one image file', FLASH_USAGE);
  const target = linkTarget(values, FLASH_USAGE);
  const say = (t: string): void => (values.json ? io.err(`${t}\n`) : io.out(`${t}\n`));

  // 1. The image, checked here before anything is sent.
  const file = positionals[0]!;
  const rootFiles = values['vendor-root'] ?? (io.env.UNICARD_VENDOR_ROOT ? [io.env.UNICARD_VENDOR_ROOT] : []);
  if (rootFiles.length === 0) throw new CliError(ExitCode.USAGE, 'the image must be checked against the vendor root first', 'give --vendor-root <vendor public key file>');
  let header: FirmwareHeader;
  let body: Uint8Array;
  let headerBytes: Uint8Array;
  try {
    const img = decodeFirmwareImage(new Uint8Array(await readFile(file)));
    headerBytes = img.header;
    body = img.body;
  } catch (e) {
    throw new CliError(ExitCode.USAGE, `${file} is not a firmware image: ${e instanceof Error ? e.message : String(e)}`, 'use the .img file the vendor shipped');
  }
  const ed = new NodeEd25519();
  try {
    const roots = trustedKeysOf(await Promise.all(rootFiles.map(async (f) => (await loadRootKeyFile(f, 'vendor-root')).publicKey)));
    header = verifyFirmwareHeader(headerBytes, roots, ed);
    verifyFirmwareBody(header, body);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(
      ExitCode.UNTRUSTED,
      `${file} does not verify: ${e instanceof UnicardError ? `${e.code}: ${e.message}` : String(e)}`,
      'do not install this image: it was not signed by your vendor or it was changed after signing; get a fresh copy from the vendor',
    );
  }
  say(`image ${file}: ${header.vendor} ${header.model} ${v(header.version)} (${formatBytes(body.length)}), signature OK`);

  await refuseIfDaemonHolds(values, io, target, 'flash');
  const trust = await trustFrom(values, io);
  const s = await connect(target, intOption('baud', values.baud, 300, 4_000_000, 115_200), trust);
  try {
    const info = s.info!;
    if (info.vendor !== header.vendor || info.model !== header.model) {
      throw new CliError(ExitCode.USAGE, `this image is for ${header.vendor} ${header.model}, the terminal is a ${info.vendor} ${info.model}`, 'get the image for this model from the vendor');
    }
    const result = await flash(s, io, header, headerBytes, body, values, say);
    if (values.json) io.out(jsonText(result));
    return result.outcome === 'confirmed' || result.outcome === 'on-trial' ? ExitCode.OK : ExitCode.CHECK_FAILED;
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = e instanceof UnicardError ? e.code : '';
    if (code === 'FIRMWARE_DOWNGRADE') {
      throw new CliError(ExitCode.CHECK_FAILED, `the terminal refused ${v(header.version)}: it is older than what the terminal's anti-rollback counter allows`, 'install the current image (or a newer one); older firmware cannot go back on once a newer one was confirmed');
    }
    if (code === 'FIRMWARE_BAD_SIGNATURE' || code === 'FIRMWARE_HASH_MISMATCH') {
      throw new CliError(ExitCode.UNTRUSTED, `the terminal refused the image: ${code}`, 'the terminal trusts another vendor key than the one given here: check with the vendor before trying again');
    }
    if (code === 'BUSY') {
      throw new CliError(ExitCode.UNREACHABLE, `the terminal is busy: ${e instanceof Error ? e.message : String(e)}`, 'a firmware on trial must be confirmed first (run "unicard flash" with that image again) or dropped by restarting the terminal; then try again');
    }
    throw sessionFailure(e, target);
  } finally {
    await s.close();
  }
}

interface FlashResult {
  outcome: 'confirmed' | 'on-trial' | 'rolled-back';
  terminalId: string;
  from: string;
  to: string;
  resumedAt: number;
  bytesSent: number;
  seconds: number;
  antiRollbackCounter?: number;
}

async function flash(
  s: TerminalSession,
  io: CliIo,
  header: FirmwareHeader,
  headerBytes: Uint8Array,
  body: Uint8Array,
  values: { chunk?: string | undefined; 'no-confirm'?: boolean | undefined; json?: boolean | undefined },
  say: (t: string) => void,
): Promise<FlashResult> {
  const started = performance.now();
  const before = await s.request({ type: 'FirmwareStatus' });
  const from = v(before.runningVersion);
  const result: FlashResult = { outcome: 'confirmed', terminalId: s.info!.terminalId, from, to: v(header.version), resumedAt: 0, bytesSent: 0, seconds: 0 };

  // A previous run activated this image but did not live to confirm it: confirm now.
  if (before.state === 'testing' && v(before.runningVersion) === v(header.version)) {
    say(`the terminal is already running ${v(header.version)} on trial: confirming it`);
    return confirm(s, result, values, say, started);
  }
  if (before.state === 'rolled_back') {
    say(`note: the terminal rolled back its last update (it runs ${from} again): an image on trial was not confirmed before a restart, or did not start properly`);
  }
  say(`terminal ${s.info!.terminalId} runs ${from}; installing ${v(header.version)}`);

  const maxChunk = Math.max(64, Math.min(MAX_FIRMWARE_CHUNK_BYTES, s.info!.maxFrameSize - 128));
  const chunk = Math.min(intOption('chunk', values.chunk, 64, MAX_FIRMWARE_CHUNK_BYTES, 4096), maxChunk);
  const begin = await s.request({ type: 'FirmwareBegin', imageHeader: headerBytes, totalSize: body.length });
  let offset = begin.resumeOffset;
  result.resumedAt = offset;
  if (offset > 0) say(`resuming an interrupted upload at ${formatBytes(offset)} of ${formatBytes(body.length)}`);
  const progress = values.json ? undefined : new ProgressLine(io.out, io.isTty, body.length, offset);
  progress?.update(offset);
  while (offset < body.length) {
    const end = Math.min(body.length, offset + chunk);
    const next = (await s.request({ type: 'FirmwareChunk', offset, data: body.subarray(offset, end) })).nextOffset;
    result.bytesSent += end - offset;
    offset = next;
    progress?.update(offset);
  }
  progress?.finish(offset);
  const fin = await s.request({ type: 'FirmwareFinish' });
  say(`upload complete; the terminal checked the image: ${fin.state}`);

  say('restarting the terminal into the new firmware (on trial)...');
  await throughReboot(s, () => s.request({ type: 'FirmwareActivate' }));
  const after = await s.request({ type: 'FirmwareStatus' });
  if (after.state === 'testing' && v(after.runningVersion) === v(header.version)) return confirm(s, result, values, say, started);
  result.outcome = 'rolled-back';
  result.seconds = Math.round((performance.now() - started) / 100) / 10;
  say(
    `ROLLED BACK: the terminal did not keep ${v(header.version)}; it restarted on ${v(after.runningVersion)} (state ${after.state}).\n` +
      'This is the safety net working: the new firmware did not start properly, so the terminal went back to the firmware it had. ' +
      'The terminal works as before. Try once more; if it rolls back again, send "unicard info" output and the image name to the vendor.',
  );
  return result;
}

async function confirm(s: TerminalSession, result: FlashResult, values: { 'no-confirm'?: boolean | undefined }, say: (t: string) => void, started: number): Promise<FlashResult> {
  if (values['no-confirm'] === true) {
    result.outcome = 'on-trial';
    say(`running ${result.to} on trial, NOT confirmed (--no-confirm): the next restart goes back to the old firmware`);
  } else {
    const c = await s.request({ type: 'FirmwareConfirm' });
    result.antiRollbackCounter = c.antiRollbackCounter;
    say(`confirmed: terminal ${result.terminalId} now runs ${result.to} (anti-rollback counter ${c.antiRollbackCounter})`);
  }
  result.seconds = Math.round((performance.now() - started) / 100) / 10;
  say(`done in ${formatDuration(result.seconds)}`);
  return result;
}

/** Runs `action` (which restarts the terminal), waits for its boot banner, and handshakes again. */
export async function throughReboot(s: TerminalSession, action: () => Promise<unknown>, timeoutMs = 30_000): Promise<void> {
  const banner = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const off = s.onBanner(() => {
      clearTimeout(timer);
      off();
      resolve();
    });
  });
  await action();
  await banner;
  for (let attempt = 0; ; attempt++) {
    try {
      await s.getInfo();
      await s.handshake();
      return;
    } catch (e) {
      if (attempt >= 5) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
