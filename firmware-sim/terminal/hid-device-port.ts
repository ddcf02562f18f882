/**
 * The simulated terminal serving USB HID: the device side of PROTOCOL.d/30-hid-framing.md on
 * a link whose units are 64-byte reports (the device end of an in-memory HID device, or a
 * /dev/uhid node).
 *
 * - INIT on the broadcast channel allocates a channel (HidChannelAllocator, 8 channels, least
 *   recently used reused when full); INIT on an own channel resynchronises it.
 * - Each channel is a host program of its own: it gets its own TerminalConnection (its own
 *   handshake, session, sequence numbers and exactly-once cache) on the same firmware, and
 *   every answer goes out on the channel its request came from, so two programs never read
 *   each other's replies.
 * - MSG data is reassembled per channel (HidReassembler, limits checked before allocating);
 *   PING is echoed; reassembly errors are answered with one ERROR report on the bad report's
 *   channel, except a report of the wrong size, CID 0 and an unexpected continuation, which
 *   are only counted.
 *
 * A connection speaks stream frames to its link (it is the terminal's UART logic); each
 * channel's link is a small adapter that turns the frames the connection writes into MSG
 * reports and MSG packets into frames for the connection. The banner the connection prints
 * on attach is not a frame and never reaches the wire: HID has no text channel.
 */
import { BaseLink } from '../../link/base-link.js';
import type { Link } from '../../link/link.js';
import { FramingError, UnicardError } from '../../protocol/errors.js';
import {
  answerInit,
  buildErrorReport,
  decodeMsgPacket,
  fragmentMessage,
  fragmentPacket,
  HID_BROADCAST_CID,
  HID_DEFAULT_TIMEOUT_MS,
  HID_MAX_MESSAGE_SIZE,
  HidChannelAllocator,
  HidCommand,
  HidErrorCode,
  HidReassembler,
  type HidDeviceVersion,
  type HidReassemblerCounters,
  type HidReassemblerEvent,
} from '../../protocol/hid-framing.js';
import { encodeFrame, FrameDecoder, MAX_FRAME_SIZE_LIMIT } from '../../protocol/stream-framing.js';
import type { CancelTimer } from '../hardware/clock.js';
import { systemRandomBytes, type RandomBytes } from '../hardware/random.js';
import type { SimulatedTerminal } from './simulated-terminal.js';
import type { ConnectionLogLevel, TerminalConnection } from './terminal-connection.js';

/**
 * The GetInfo maxFrameSize a terminal served over HID advertises (pass it as the simulator's
 * `maxFrameSize`): the largest HID message, 7,609 bytes, is a packet, and a stream-frame body
 * is that packet plus a 4-byte CRC. Hosts size requests (firmware chunks) from this value, so
 * a terminal that advertised its serial limit (16,896) over HID would be sent messages HID
 * cannot carry.
 */
export const HID_TERMINAL_MAX_FRAME_SIZE = HID_MAX_MESSAGE_SIZE + 4;

/** Options of {@link HidDevicePort}. */
export interface HidDevicePortOptions {
  terminal: SimulatedTerminal;
  /** Source of channel ids (default node:crypto). */
  randomBytes?: RandomBytes;
  /** Channels held at once (default 8). */
  maxChannels?: number;
  /** Messages reassembled at once (default 4). */
  maxPendingChannels?: number;
  /** Largest message accepted (default 7,609). */
  maxMessageSize?: number;
  /** Gap allowed between two reports of one message (default 3,000 ms). */
  timeoutMs?: number;
  /** Version in INIT answers (default the running firmware's). */
  deviceVersion?: HidDeviceVersion;
  log?: (level: ConnectionLogLevel, message: string) => void;
}

/** Counters of the device side. */
export interface HidDeviceCounters extends HidReassemblerCounters {
  /** ERROR reports sent. */
  errorsSent: number;
  /** Channels allocated since start. */
  channelsAllocated: number;
  /** Channels reused for another program because all were taken. */
  channelsEvicted: number;
  /** MSG reports sent. */
  reportsSent: number;
}

interface Channel {
  readonly cid: number;
  readonly link: HidChannelLink;
  readonly connection: TerminalConnection;
}

/** See the module comment. */
export class HidDevicePort {
  private readonly terminal: SimulatedTerminal;
  private readonly allocator: HidChannelAllocator;
  private readonly reassembler: HidReassembler;
  private readonly channels = new Map<number, Channel>();
  private readonly deviceVersion: HidDeviceVersion | undefined;
  private readonly log: (level: ConnectionLogLevel, message: string) => void;
  private link: Link | undefined;
  private offLink: Array<() => void> = [];
  /** The terminal's main connection when the channels were made: it changes on every boot. */
  private boot: TerminalConnection;
  private expiryTimer: CancelTimer | undefined;
  private closed = false;
  private readonly stats = { errorsSent: 0, channelsAllocated: 0, channelsEvicted: 0, reportsSent: 0 };

  constructor(options: HidDevicePortOptions) {
    this.terminal = options.terminal;
    this.allocator = new HidChannelAllocator({
      randomBytes: options.randomBytes ?? systemRandomBytes,
      ...(options.maxChannels === undefined ? {} : { maxChannels: options.maxChannels }),
    });
    this.reassembler = new HidReassembler({
      channelFilter: (cid) => this.allocator.has(cid),
      timeoutMs: options.timeoutMs ?? HID_DEFAULT_TIMEOUT_MS,
      ...(options.maxPendingChannels === undefined ? {} : { maxPendingChannels: options.maxPendingChannels }),
      ...(options.maxMessageSize === undefined ? {} : { maxMessageSize: options.maxMessageSize }),
    });
    this.deviceVersion = options.deviceVersion;
    this.log = options.log ?? (() => {});
    this.boot = this.terminal.connection;
  }

  /** The channels allocated now, least recently used first. */
  get channelIds(): number[] {
    return this.allocator.channels();
  }

  /** The connection serving `cid` (tests look at its session). */
  connectionOf(cid: number): TerminalConnection | undefined {
    return this.channels.get(cid)?.connection;
  }

  /** Reports now come from and go to `link` (the device end). Channels are kept across links. */
  attach(link: Link): void {
    if (this.closed) return;
    this.detach();
    this.link = link;
    this.offLink = [
      link.onData((report) => this.receive(report)),
      link.onClose(() => {
        if (this.link === link) this.detach();
      }),
    ];
  }

  /** Stops using the current link. */
  detach(): void {
    for (const off of this.offLink.splice(0)) off();
    this.link = undefined;
  }

  /** Drops every channel and stops. The link is the caller's to close. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.expiryTimer?.();
    this.dropAll();
    this.detach();
  }

  /** Link counters of the HID side. */
  counters(): HidDeviceCounters {
    return { ...this.reassembler.counters(), ...this.stats };
  }

  // ------------------------------------------------------------------ receiving

  /** One report from a host. Never throws. */
  receive(report: Uint8Array): void {
    if (this.closed) return;
    this.checkBoot();
    const now = this.terminal.clock.monotonic();
    for (const ev of this.reassembler.push(report, now)) {
      try {
        this.onEvent(ev);
      } catch (e) {
        this.log('error', `HID: failed to handle a report: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.armExpiry();
  }

  private onEvent(ev: HidReassemblerEvent): void {
    if (ev.kind === 'error') {
      this.log('debug', `HID: ${ev.error.code} on channel ${ev.cid === null ? '-' : hex32(ev.cid)}`);
      // Answered on the channel of the bad report, except where no channel can be trusted
      // (wrong size, CID 0) and a stray continuation (answering every one would flood).
      if (ev.cid === null || ev.cid === 0 || ev.error.code === 'HID_UNEXPECTED_CONTINUATION') return;
      this.sendError(ev.cid, ev.hidErrorCode);
      return;
    }
    const { cid, cmd, data } = ev;
    switch (cmd) {
      case HidCommand.INIT:
        this.init(cid, data);
        return;
      case HidCommand.PING:
        this.allocator.touch(cid);
        this.write(fragmentMessage(cid, HidCommand.PING, data));
        return;
      case HidCommand.MSG:
        this.msg(cid, data);
        return;
      default:
        // ERROR from a host: hosts never send it (PROTOCOL.d/30); nothing to answer.
        this.log('debug', `HID: ignored command 0x${cmd.toString(16)} from channel ${hex32(cid)}`);
    }
  }

  private init(requestCid: number, data: Uint8Array): void {
    let answer: ReturnType<typeof answerInit>;
    try {
      answer = answerInit(this.allocator, requestCid, data, { deviceVersion: this.deviceVersion ?? this.firmwareVersion() });
    } catch (e) {
      const code = e instanceof FramingError && e.code === 'HID_NO_CHANNELS' ? HidErrorCode.CHANNEL_BUSY : HidErrorCode.INVALID_LEN;
      this.sendError(requestCid, code);
      return;
    }
    if (answer.evicted !== null) {
      this.stats.channelsEvicted++;
      this.dropChannel(answer.evicted);
      this.log('info', `HID: channel ${hex32(answer.evicted)} reused (all channels taken)`);
    }
    if (requestCid === HID_BROADCAST_CID) {
      this.stats.channelsAllocated++;
      this.openChannel(answer.cid);
      this.log('debug', `HID: channel ${hex32(answer.cid)} allocated`);
    }
    this.write(answer.reports);
  }

  private msg(cid: number, data: Uint8Array): void {
    const channel = this.channels.get(cid);
    if (channel === undefined) {
      this.sendError(cid, HidErrorCode.INVALID_CHANNEL);
      return;
    }
    let frame: Uint8Array;
    try {
      frame = encodeFrame(decodeMsgPacket(data), { maxFrameSize: MAX_FRAME_SIZE_LIMIT });
    } catch (e) {
      this.log('debug', `HID: MSG that is not a packet on ${hex32(cid)}: ${e instanceof UnicardError ? e.code : String(e)}`);
      this.sendError(cid, HidErrorCode.INVALID_PAR);
      return;
    }
    this.allocator.touch(cid);
    channel.link.toConnection(frame);
  }

  // ------------------------------------------------------------------ channels

  private openChannel(cid: number): void {
    const connection = this.terminal.extraConnection();
    const link = new HidChannelLink(cid, (reports) => this.fromChannel(cid, reports));
    this.channels.set(cid, { cid, link, connection });
    connection.attach(link);
  }

  private dropChannel(cid: number): void {
    const channel = this.channels.get(cid);
    this.channels.delete(cid);
    this.allocator.release(cid);
    this.reassembler.dropChannel(cid);
    if (channel === undefined) return;
    channel.connection.close();
    void channel.link.close();
  }

  private dropAll(): void {
    for (const cid of [...this.channels.keys()]) this.dropChannel(cid);
  }

  /** The terminal rebooted: its sessions are gone, so are the channels (hosts re-INIT). */
  private checkBoot(): boolean {
    if (this.terminal.connection === this.boot) return true;
    this.boot = this.terminal.connection;
    if (this.channels.size > 0) this.log('info', 'HID: the terminal rebooted; every channel is dropped');
    this.dropAll();
    return false;
  }

  /** A channel's connection sent a packet. */
  private fromChannel(cid: number, reports: Uint8Array[]): Promise<void> {
    if (this.closed || !this.checkBoot() || !this.channels.has(cid)) return Promise.resolve();
    return this.write(reports);
  }

  // ------------------------------------------------------------------ sending

  private sendError(cid: number, code: number): void {
    this.stats.errorsSent++;
    this.write([buildErrorReport(cid, code)]);
  }

  private write(reports: Uint8Array[]): Promise<void> {
    const link = this.link;
    if (link === undefined) return Promise.resolve();
    this.stats.reportsSent += reports.length;
    // A write fails only when the link went away; its close handling deals with that.
    return Promise.all(reports.map((r) => link.write(r))).then(
      () => undefined,
      () => undefined,
    );
  }

  /** While a message is half received, check for its timeout even if the host goes quiet. */
  private armExpiry(): void {
    this.expiryTimer?.();
    this.expiryTimer = undefined;
    if (this.reassembler.pendingChannels === 0 || this.closed) return;
    this.expiryTimer = this.terminal.clock.setTimer(this.reassembler.timeoutMs + 1, () => {
      this.expiryTimer = undefined;
      for (const ev of this.reassembler.expire(this.terminal.clock.monotonic())) this.onEvent(ev);
      this.armExpiry();
    });
  }

  private firmwareVersion(): HidDeviceVersion {
    const [major = 0, minor = 0, build = 0] = this.terminal.firmware.firmwareVersion;
    return { major: major & 0xff, minor: minor & 0xff, build: build & 0xff };
  }
}

/**
 * One channel's side of a TerminalConnection: the connection writes stream frames (and its
 * banner), which go out as MSG reports on the channel; MSG packets for the channel come in
 * as frames. Not exported: it exists only inside a {@link HidDevicePort}.
 */
class HidChannelLink extends BaseLink {
  private readonly decoder = new FrameDecoder({ maxFrameSize: MAX_FRAME_SIZE_LIMIT });

  constructor(
    readonly cid: number,
    private readonly send: (reports: Uint8Array[]) => Promise<void>,
  ) {
    super({ kind: 'hid', path: `hid-channel:${hex32(cid)}` });
  }

  /** A frame for the connection. */
  toConnection(frame: Uint8Array): void {
    this.deliver(frame);
  }

  protected rawWrite(bytes: Uint8Array): Promise<void> {
    const writes: Array<Promise<void>> = [];
    for (const ev of this.decoder.push(bytes)) {
      // Not frames: the banner line (HID has no text channel) or a quirk's broken CRC.
      if (ev.kind !== 'frame') continue;
      try {
        writes.push(this.send(fragmentPacket(this.cid, ev.packet)));
      } catch {
        // A packet over 7,609 bytes cannot go out on HID; the terminal sends at most 4,096.
      }
    }
    return Promise.all(writes).then(() => undefined);
  }

  protected async rawClose(): Promise<void> {}
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
