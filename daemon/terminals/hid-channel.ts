/**
 * Opens this program's channel on a HID terminal: sends INIT with a fresh nonce on the
 * broadcast channel and waits for the answer carrying that nonce (answers to other programs
 * sharing the device are ignored). The resulting codec then goes into a TerminalSession
 * (`new TerminalSession(link, { codec })`), which sends and receives MSG on that channel.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Link } from '../../link/link.js';
import { LinkError } from '../../protocol/errors.js';
import { HidHostPacketCodec } from '../../protocol/hid-packet-codec.js';
import { TerminalSessionError } from '../session/session-errors.js';

/** Wait for an INIT answer before sending INIT again. */
export const HID_INIT_RETRY_MS = 500;
/** INIT requests sent before giving up. */
export const HID_INIT_ATTEMPTS = 3;

/** Options of {@link openHidChannel}. */
export interface OpenHidChannelOptions {
  /** Random bytes for the nonce (default node:crypto). */
  randomBytes?: (length: number) => Uint8Array;
  /** Monotonic milliseconds for reassembly timeouts (default performance.now). */
  now?: () => number;
  /** Largest message in either direction (default 7,609). */
  maxMessageSize?: number;
  retryMs?: number;
  attempts?: number;
  /** The device dropped our channel (INVALID_CHANNEL): see HidHostPacketCodecOptions.onChannelLost. */
  onChannelLost?: (cid: number) => void;
}

/**
 * Allocates a channel on the HID device behind `link` and returns the codec bound to it.
 * Rejects with TerminalSessionError TERMINAL_UNRESPONSIVE when no INIT is answered (the
 * device is not a unicard terminal, or it is wedged), TERMINAL_GONE / the link's error when
 * the link ends or a write fails. Does not close the link.
 */
export function openHidChannel(link: Link, options: OpenHidChannelOptions = {}): Promise<HidHostPacketCodec> {
  const codec = new HidHostPacketCodec({
    randomBytes: options.randomBytes ?? ((n) => new Uint8Array(nodeRandomBytes(n))),
    now: options.now ?? (() => performance.now()),
    ...(options.maxMessageSize === undefined ? {} : { maxMessageSize: options.maxMessageSize }),
    ...(options.onChannelLost === undefined ? {} : { onChannelLost: options.onChannelLost }),
  });
  const retryMs = options.retryMs ?? HID_INIT_RETRY_MS;
  const attempts = options.attempts ?? HID_INIT_ATTEMPTS;
  const path = link.info.path;

  return new Promise<HidHostPacketCodec>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let sent = 0;
    let settled = false;
    const finish = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      offData();
      offClose();
      if (error === undefined) resolve(codec);
      else reject(error);
    };
    const offData = link.onData((report) => {
      for (const ev of codec.accept(report)) if (ev.kind === 'open') return finish();
    });
    const offClose = link.onClose((error) =>
      finish(error ?? new TerminalSessionError('TERMINAL_GONE', `${path} was closed while allocating a HID channel`, { path })),
    );
    const send = (): void => {
      if (settled) return;
      if (sent >= attempts) {
        finish(
          new TerminalSessionError(
            'TERMINAL_UNRESPONSIVE',
            `the HID device at ${path} did not answer INIT ${attempts} times in ${attempts * retryMs} ms: it is not a unicard terminal, or it is wedged (replug it)`,
            { path, attempts },
          ),
        );
        return;
      }
      sent++;
      let reports: Uint8Array[];
      try {
        reports = codec.init();
      } catch (e) {
        finish(e); // a random source that gave fewer than 8 bytes (HID_BAD_NONCE)
        return;
      }
      for (const r of reports) link.write(r).catch((e: unknown) => finish(e instanceof LinkError ? e : new LinkError('LINK_IO', `write failed on ${path}`, { path })));
      timer = setTimeout(send, retryMs);
    };
    send();
  });
}
