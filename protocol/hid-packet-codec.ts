/**
 * The host side of HID report framing as a {@link PacketCodec}: one host program's channel
 * on a HID terminal. Pure: randomness (the INIT nonce) and time (reassembly timeouts) are
 * injected; it never writes anything itself.
 *
 * Channel allocation is an exchange, so the codec has a small state machine the caller
 * drives: `init()` returns the INIT report to send on the broadcast channel; the reports
 * that come back go through `accept()` (or `decode()`), which takes only the INIT answer
 * carrying OUR nonce (answers to other programs are ignored) and then moves to `open`. From
 * then on packets travel as MSG on the allocated CID; reports on other channels (other
 * programs sharing the device) are ignored without an error, and ERROR reports from the
 * device on our channel become typed FramingErrors `HID_DEVICE_ERROR`.
 */
import { FramingError } from './errors.js';
import {
  buildInitRequest,
  decodeMsgPacket,
  fragmentMessage,
  fragmentPacket,
  HID_BROADCAST_CID,
  HID_DEFAULT_TIMEOUT_MS,
  HID_MAX_MESSAGE_SIZE,
  HID_REPORT_SIZE,
  HidCommand,
  HidErrorCode,
  HidReassembler,
  parseInitResponse,
  type HidInitResponse,
  type HidReassemblerCounters,
} from './hid-framing.js';
import type { PacketCodec, PacketCodecEvent } from './message-channel.js';
import type { Packet } from './packet.js';

/** Names of the HID error codes, by number (for messages and `detail.name`). */
export const HID_ERROR_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(HidErrorCode).map(([name, code]) => [code, name]),
);

/** Options of {@link HidHostPacketCodec}. */
export interface HidHostPacketCodecOptions {
  /** Random bytes for the INIT nonce (node:crypto randomBytes, or a test stub). */
  randomBytes: (length: number) => Uint8Array;
  /** Monotonic milliseconds, for the reassembly timeout. */
  now: () => number;
  /** Largest message accepted from and sent to the device (default 7,609, the format's maximum). */
  maxMessageSize?: number;
  /** Longest gap between two reports of one incoming message (default 3,000 ms). */
  timeoutMs?: number;
  /**
   * Called when the device answers INVALID_CHANNEL on our channel: it reused the channel for
   * another program (or rebooted), and with it dropped our session. The caller allocates a new
   * channel and starts a new session (the daemon closes the link and reconnects).
   */
  onChannelLost?: (cid: number) => void;
}

/** Allocation state of a {@link HidHostPacketCodec}. */
export type HidHostState = 'idle' | 'allocating' | 'open';

/** What {@link HidHostPacketCodec.accept} reports. */
export type HidHostEvent =
  | PacketCodecEvent
  /** Our INIT was answered: the channel is open. */
  | { kind: 'open'; response: HidInitResponse }
  /** The device echoed a PING on our channel. */
  | { kind: 'ping'; data: Uint8Array };

/** Counters of the host side, beyond the reassembler's. */
export interface HidHostCounters extends HidReassemblerCounters {
  /** Reports for other programs' channels, ignored. */
  foreignReports: number;
  /** INIT answers carrying another program's nonce, ignored. */
  foreignInitAnswers: number;
  /** ERROR reports the device sent on our channel. */
  deviceErrors: number;
}

/** See the module comment. */
export class HidHostPacketCodec implements PacketCodec {
  readonly maxMessageSize: number;
  private readonly randomBytes: (length: number) => Uint8Array;
  private readonly now: () => number;
  private readonly onChannelLost: ((cid: number) => void) | undefined;
  private readonly reassembler: HidReassembler;
  private stateValue: HidHostState = 'idle';
  private nonce: Uint8Array | undefined;
  private cidValue: number | undefined;
  private responseValue: HidInitResponse | undefined;
  private foreignReports = 0;
  private foreignInitAnswers = 0;
  private deviceErrors = 0;

  /** Throws FramingError FRAME_BAD_LIMIT for limits out of range. */
  constructor(options: HidHostPacketCodecOptions) {
    this.randomBytes = options.randomBytes;
    this.now = options.now;
    this.onChannelLost = options.onChannelLost;
    this.maxMessageSize = options.maxMessageSize ?? HID_MAX_MESSAGE_SIZE;
    this.reassembler = new HidReassembler({
      maxMessageSize: this.maxMessageSize,
      timeoutMs: options.timeoutMs ?? HID_DEFAULT_TIMEOUT_MS,
      // One channel of our own; broadcast messages are single-report and never pend.
      maxPendingChannels: 1,
      channelFilter: (cid) => cid === this.cidValue,
    });
  }

  /** idle (no INIT sent), allocating (waiting for our INIT answer), open. */
  get state(): HidHostState {
    return this.stateValue;
  }

  /** Our channel id, once open. */
  get cid(): number | undefined {
    return this.cidValue;
  }

  /** The device's INIT answer (protocol and device version), once open. */
  get initResponse(): HidInitResponse | undefined {
    return this.responseValue;
  }

  /**
   * Starts (or restarts) channel allocation: draws a fresh 8-byte nonce and returns the INIT
   * report to send. Any channel held so far is forgotten. Throws FramingError HID_BAD_NONCE
   * when the random source gives fewer than 8 bytes.
   */
  init(): Uint8Array[] {
    const nonce = this.randomBytes(8).slice(0, 8);
    const reports = buildInitRequest(nonce);
    if (this.cidValue !== undefined) this.reassembler.dropChannel(this.cidValue);
    this.nonce = nonce;
    this.cidValue = undefined;
    this.responseValue = undefined;
    this.stateValue = 'allocating';
    return reports;
  }

  /** One report from the device: every event, including `open` and `ping`. Never throws. */
  accept(report: Uint8Array): HidHostEvent[] {
    if (report.length === HID_REPORT_SIZE) {
      const cid = readU32BE(report, 0);
      if (cid === HID_BROADCAST_CID) return this.broadcast(report);
      if (cid !== this.cidValue || cid === 0) {
        // Another program's channel (hidraw hands every reader every report): not ours to judge.
        this.foreignReports++;
        return [];
      }
    }
    const out: HidHostEvent[] = [];
    for (const ev of this.reassembler.push(report, this.now())) {
      if (ev.kind === 'error') {
        out.push({ kind: 'error', error: ev.error });
        continue;
      }
      if (ev.cmd === HidCommand.MSG) {
        try {
          out.push({ kind: 'packet', packet: decodeMsgPacket(ev.data) });
        } catch (e) {
          out.push({ kind: 'error', error: asFramingError(e) });
        }
      } else if (ev.cmd === HidCommand.ERROR) {
        out.push({ kind: 'error', error: this.deviceError(ev.cid, ev.data) });
        if (ev.data[0] === HidErrorCode.INVALID_CHANNEL) this.onChannelLost?.(ev.cid);
      } else if (ev.cmd === HidCommand.PING) {
        out.push({ kind: 'ping', data: ev.data });
      }
      // INIT on our own channel answers a resynchronisation we never send: nothing to do.
    }
    return out;
  }

  /** {@link PacketCodec.decode}: packets and typed errors of one report (open/ping are kept internal). */
  decode(unit: Uint8Array): PacketCodecEvent[] {
    return this.accept(unit).filter((e): e is PacketCodecEvent => e.kind === 'packet' || e.kind === 'error');
  }

  /**
   * The MSG reports carrying `packet` on our channel. Throws FramingError HID_BAD_CHANNEL
   * before the channel is open, HID_MESSAGE_TOO_LARGE when the packet exceeds maxMessageSize.
   */
  encode(packet: Packet): Uint8Array[] {
    return fragmentPacket(this.openCid(), packet, { maxMessageSize: this.maxMessageSize });
  }

  /** The PING reports carrying `data` on our channel (the device echoes them). Throws like encode. */
  ping(data: Uint8Array): Uint8Array[] {
    return fragmentMessage(this.openCid(), HidCommand.PING, data, { maxMessageSize: this.maxMessageSize });
  }

  /** Link counters. */
  counters(): HidHostCounters {
    return {
      ...this.reassembler.counters(),
      foreignReports: this.foreignReports,
      foreignInitAnswers: this.foreignInitAnswers,
      deviceErrors: this.deviceErrors,
    };
  }

  private openCid(): number {
    if (this.cidValue === undefined) {
      throw new FramingError('HID_BAD_CHANNEL', 'no HID channel yet: send init() and wait for its answer');
    }
    return this.cidValue;
  }

  private broadcast(report: Uint8Array): HidHostEvent[] {
    const out: HidHostEvent[] = [];
    for (const ev of this.reassembler.push(report, this.now())) {
      if (ev.kind === 'error') {
        out.push({ kind: 'error', error: ev.error });
        continue;
      }
      if (ev.cmd === HidCommand.ERROR) {
        // Broadcast ERROR answers someone's bad INIT; ours is well formed, so it is not for us.
        this.foreignReports++;
        continue;
      }
      if (ev.cmd !== HidCommand.INIT) continue;
      if (this.stateValue !== 'allocating' || this.nonce === undefined) {
        this.foreignInitAnswers++;
        continue;
      }
      let response: HidInitResponse | null;
      try {
        response = parseInitResponse(ev.data, this.nonce);
      } catch (e) {
        // Malformed answers can still be for another program: only a parsed nonce makes it ours.
        this.foreignInitAnswers++;
        const error = asFramingError(e);
        if (sameNonce(ev.data, this.nonce)) out.push({ kind: 'error', error });
        continue;
      }
      if (response === null) {
        this.foreignInitAnswers++;
        continue;
      }
      this.cidValue = response.cid;
      this.responseValue = response;
      this.stateValue = 'open';
      out.push({ kind: 'open', response });
    }
    return out;
  }

  private deviceError(cid: number, data: Uint8Array): FramingError {
    this.deviceErrors++;
    const code = data.length >= 1 ? (data[0] ?? 0) : HidErrorCode.OTHER;
    const name = HID_ERROR_NAMES[code] ?? `0x${code.toString(16).padStart(2, '0')}`;
    return new FramingError('HID_DEVICE_ERROR', `the terminal answered ERROR ${name} on HID channel 0x${cid.toString(16).padStart(8, '0')}`, {
      cid,
      hidErrorCode: code,
      name,
    });
  }
}

function sameNonce(data: Uint8Array, nonce: Uint8Array): boolean {
  if (data.length < nonce.length) return false;
  for (let i = 0; i < nonce.length; i++) if (data[i] !== nonce[i]) return false;
  return true;
}

function asFramingError(e: unknown): FramingError {
  if (e instanceof FramingError) return e;
  return new FramingError('FRAME_TOO_SHORT', 'unreadable HID message');
}

function readU32BE(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset] ?? 0) << 24) | ((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0)) >>>
    0
  );
}
