/**
 * HID report framing (USB HID terminals), modelled on CTAPHID (FIDO CTAP 2.1 §11.2).
 *
 * Every report is 64 bytes. A message is one init packet
 *   CID u32 BE ‖ CMD u8 (bit7 set) ‖ BCNT u16 BE ‖ DATA[57]
 * followed by as many continuation packets as BCNT needs
 *   CID u32 BE ‖ SEQ u8 (0..127, bit7 clear) ‖ DATA[59].
 * Unused bytes are 0. USB checks integrity, so there is no CRC and no COBS here; an MSG
 * command carries the same packet (version ‖ flags ‖ seq ‖ payload) as a stream frame body.
 *
 * Channels let several host programs share one device: each gets its own CID by sending
 * INIT with a random nonce on the broadcast channel, and recognises the device's answer by
 * that nonce.
 */
import { FramingError, type FramingErrorCode } from './errors.js';
import { PROTOCOL_VERSION, decodePacket, encodePacket, type Packet } from './packet.js';

/** Bytes in every HID report. */
export const HID_REPORT_SIZE = 64;
/** CID ‖ CMD ‖ BCNT. */
export const HID_INIT_HEADER_SIZE = 7;
/** Message bytes an init packet carries. */
export const HID_INIT_DATA_SIZE = HID_REPORT_SIZE - HID_INIT_HEADER_SIZE; // 57
/** CID ‖ SEQ. */
export const HID_CONT_HEADER_SIZE = 5;
/** Message bytes a continuation packet carries. */
export const HID_CONT_DATA_SIZE = HID_REPORT_SIZE - HID_CONT_HEADER_SIZE; // 59
/** Highest continuation sequence number. */
export const HID_MAX_SEQ = 127;
/** Largest message the report format can carry: 57 + 128 × 59. */
export const HID_MAX_MESSAGE_SIZE = HID_INIT_DATA_SIZE + (HID_MAX_SEQ + 1) * HID_CONT_DATA_SIZE; // 7609
/** The broadcast channel: only INIT (and ERROR answering it) may use it. */
export const HID_BROADCAST_CID = 0xffffffff;
/** Default time allowed between two packets of one message. */
export const HID_DEFAULT_TIMEOUT_MS = 3000;
/** INIT request data: an 8-byte nonce. */
export const HID_INIT_NONCE_SIZE = 8;
/** INIT response data: nonce(8) ‖ CID(4) ‖ protocol version(1) ‖ major ‖ minor ‖ build ‖ capabilities. */
export const HID_INIT_RESPONSE_SIZE = 17;

/** HID commands (CMD byte of an init packet, bit7 set). */
export const HidCommand = {
  /** Echo: the device answers with the same data. */
  PING: 0x81,
  /** A protocol packet: DATA = version ‖ flags ‖ seq ‖ payload. */
  MSG: 0x83,
  /** Channel allocation (on the broadcast channel) or resynchronisation (on an own channel). */
  INIT: 0x86,
  /** Error: DATA = one HidErrorCode byte. */
  ERROR: 0xbf,
} as const;

/** Error codes carried by an ERROR command (the numbers CTAPHID uses). */
export const HidErrorCode = {
  INVALID_CMD: 0x01,
  INVALID_PAR: 0x02,
  INVALID_LEN: 0x03,
  INVALID_SEQ: 0x04,
  MSG_TIMEOUT: 0x05,
  CHANNEL_BUSY: 0x06,
  INVALID_CHANNEL: 0x0b,
  OTHER: 0x7f,
} as const;
export type HidErrorCodeValue = (typeof HidErrorCode)[keyof typeof HidErrorCode];

/** The HID error code a device sends for each reassembly error. */
export const HID_ERROR_FOR: Readonly<Partial<Record<FramingErrorCode, HidErrorCodeValue>>> = {
  HID_REPORT_SIZE: HidErrorCode.OTHER,
  HID_BAD_CHANNEL: HidErrorCode.INVALID_CHANNEL,
  HID_BAD_COMMAND: HidErrorCode.INVALID_CMD,
  HID_BAD_SEQUENCE: HidErrorCode.INVALID_SEQ,
  HID_UNEXPECTED_CONTINUATION: HidErrorCode.INVALID_SEQ,
  HID_MESSAGE_TOO_LARGE: HidErrorCode.INVALID_LEN,
  HID_BAD_LENGTH: HidErrorCode.INVALID_LEN,
  HID_CHANNEL_BUSY: HidErrorCode.CHANNEL_BUSY,
  HID_TIMEOUT: HidErrorCode.MSG_TIMEOUT,
  HID_BAD_NONCE: HidErrorCode.INVALID_PAR,
  HID_NO_CHANNELS: HidErrorCode.CHANNEL_BUSY,
};

/** The reassembly error codes a HidReassembler reports. */
export type HidReassemblyErrorCode =
  | 'HID_REPORT_SIZE'
  | 'HID_BAD_CHANNEL'
  | 'HID_BAD_COMMAND'
  | 'HID_BAD_SEQUENCE'
  | 'HID_UNEXPECTED_CONTINUATION'
  | 'HID_MESSAGE_TOO_LARGE'
  | 'HID_CHANNEL_BUSY'
  | 'HID_TIMEOUT';

const DEFAULT_COMMANDS: readonly number[] = [HidCommand.PING, HidCommand.MSG, HidCommand.INIT, HidCommand.ERROR];

/** Options of {@link fragmentMessage}. */
export interface FragmentOptions {
  /** Largest message allowed, at most 7609 (the default). */
  maxMessageSize?: number;
}

/**
 * Cuts one message into 64-byte reports: an init packet and 0..128 continuation packets.
 * Throws FramingError: HID_BAD_CHANNEL (CID 0 or not a u32), HID_BAD_COMMAND (cmd not
 * 0x80..0xFF), HID_MESSAGE_TOO_LARGE (data over the limit, or over 57 bytes on the broadcast
 * channel, whose messages are single-packet).
 */
export function fragmentMessage(cid: number, cmd: number, data: Uint8Array, options: FragmentOptions = {}): Uint8Array[] {
  const maxMessageSize = checkMaxMessageSize(options.maxMessageSize ?? HID_MAX_MESSAGE_SIZE);
  if (!Number.isInteger(cid) || cid <= 0 || cid > HID_BROADCAST_CID) {
    throw new FramingError('HID_BAD_CHANNEL', `channel id ${cid} is not usable`, { cid });
  }
  if (!Number.isInteger(cmd) || cmd < 0x80 || cmd > 0xff) {
    throw new FramingError('HID_BAD_COMMAND', `command ${cmd} does not have bit 7 set`, { cmd });
  }
  const limit = cid === HID_BROADCAST_CID ? Math.min(maxMessageSize, HID_INIT_DATA_SIZE) : maxMessageSize;
  if (data.length > limit) {
    throw new FramingError('HID_MESSAGE_TOO_LARGE', `message of ${data.length} bytes exceeds ${limit}`, {
      length: data.length,
      limit,
    });
  }
  const reports: Uint8Array[] = [];
  const init = new Uint8Array(HID_REPORT_SIZE);
  writeU32BE(init, 0, cid);
  init[4] = cmd;
  init[5] = data.length >>> 8;
  init[6] = data.length & 0xff;
  init.set(data.subarray(0, HID_INIT_DATA_SIZE), HID_INIT_HEADER_SIZE);
  reports.push(init);
  let offset = HID_INIT_DATA_SIZE;
  for (let seq = 0; offset < data.length; seq++) {
    const cont = new Uint8Array(HID_REPORT_SIZE);
    writeU32BE(cont, 0, cid);
    cont[4] = seq;
    cont.set(data.subarray(offset, offset + HID_CONT_DATA_SIZE), HID_CONT_HEADER_SIZE);
    reports.push(cont);
    offset += HID_CONT_DATA_SIZE;
  }
  return reports;
}

/** Reports of an MSG command carrying `packet`. Throws like encodePacket and fragmentMessage. */
export function fragmentPacket(cid: number, packet: Packet, options: FragmentOptions = {}): Uint8Array[] {
  return fragmentMessage(cid, HidCommand.MSG, encodePacket(packet), options);
}

/** The packet in an MSG command's data. Throws FramingError like decodePacket. */
export function decodeMsgPacket(data: Uint8Array): Packet {
  return decodePacket(data);
}

/** The one report of an ERROR command with `hidErrorCode` on channel `cid`. */
export function buildErrorReport(cid: number, hidErrorCode: number): Uint8Array {
  const [report] = fragmentMessage(cid, HidCommand.ERROR, Uint8Array.of(hidErrorCode & 0xff));
  return report as Uint8Array;
}

/** What a {@link HidReassembler} reports. */
export type HidReassemblerEvent =
  | { kind: 'message'; cid: number; cmd: number; data: Uint8Array }
  | {
      kind: 'error';
      /** The channel the bad report named; null for a report of the wrong size. */
      cid: number | null;
      error: FramingError;
      /** The code a device answers with in an ERROR command on `cid` (see the spec for when). */
      hidErrorCode: HidErrorCodeValue;
    };

/** Options of {@link HidReassembler}. */
export interface HidReassemblerOptions {
  /** Largest message accepted, at most 7609 (default). Checked against BCNT before allocating. */
  maxMessageSize?: number;
  /** Longest gap allowed between two packets of one message, in ms. Default 3000. */
  timeoutMs?: number;
  /** Messages reassembled at once (each holds up to maxMessageSize bytes). Default 4. */
  maxPendingChannels?: number;
  /** Accepted commands. Default PING, MSG, INIT, ERROR. */
  commands?: readonly number[];
  /**
   * Accepts or refuses a (non-broadcast) channel; the device passes its allocator's `has`, so
   * reports on channels it never allocated are refused with HID_BAD_CHANNEL.
   */
  channelFilter?: (cid: number) => boolean;
}

/** Link error counters. */
export interface HidReassemblerCounters {
  /** Messages delivered. */
  messagesOk: number;
  /** All reports pushed. */
  reportsReceived: number;
  /** Reports that did not end up in a delivered message (errors, skipped continuations). */
  reportsDiscarded: number;
  /** Messages given up when an INIT resynchronised their channel. */
  messagesAborted: number;
  /** Errors by code. */
  errors: Record<HidReassemblyErrorCode, number>;
}

interface PendingMessage {
  cmd: number;
  data: Uint8Array;
  filled: number;
  nextSeq: number;
  /** Number of reports so far, for the discard counter if the message is lost. */
  reports: number;
  lastAt: number;
}

/** Channels whose message failed: their late continuations are dropped silently. */
const SKIP_TRACK_LIMIT = 32;

/**
 * Reassembles messages from HID reports, on the host or the device. Pure: time comes in with
 * each report (`now`, monotonic milliseconds). Each channel has at most one message in
 * progress; a message's buffer is allocated only after its BCNT passed the limit check, and
 * at most maxPendingChannels messages are in progress at once. Every bad report ends in one
 * typed error event, never an exception.
 */
export class HidReassembler {
  readonly maxMessageSize: number;
  readonly timeoutMs: number;
  readonly maxPendingChannels: number;

  private readonly commands: ReadonlySet<number>;
  private readonly channelFilter: ((cid: number) => boolean) | undefined;
  private readonly pending = new Map<number, PendingMessage>();
  /** cid → time of the last report skipped on it. */
  private readonly skipping = new Map<number, number>();
  private readonly stats: HidReassemblerCounters;

  /** Throws FramingError FRAME_BAD_LIMIT for limits out of range. */
  constructor(options: HidReassemblerOptions = {}) {
    this.maxMessageSize = checkMaxMessageSize(options.maxMessageSize ?? HID_MAX_MESSAGE_SIZE);
    const timeoutMs = options.timeoutMs ?? HID_DEFAULT_TIMEOUT_MS;
    const maxPending = options.maxPendingChannels ?? 4;
    if (!(timeoutMs > 0) || !Number.isInteger(maxPending) || maxPending < 1) {
      throw new FramingError('FRAME_BAD_LIMIT', 'timeoutMs must be > 0 and maxPendingChannels ≥ 1', {
        timeoutMs,
        maxPendingChannels: maxPending,
      });
    }
    this.timeoutMs = timeoutMs;
    this.maxPendingChannels = maxPending;
    this.commands = new Set(options.commands ?? DEFAULT_COMMANDS);
    this.channelFilter = options.channelFilter;
    this.stats = {
      messagesOk: 0,
      reportsReceived: 0,
      reportsDiscarded: 0,
      messagesAborted: 0,
      errors: {
        HID_REPORT_SIZE: 0,
        HID_BAD_CHANNEL: 0,
        HID_BAD_COMMAND: 0,
        HID_BAD_SEQUENCE: 0,
        HID_UNEXPECTED_CONTINUATION: 0,
        HID_MESSAGE_TOO_LARGE: 0,
        HID_CHANNEL_BUSY: 0,
        HID_TIMEOUT: 0,
      },
    };
  }

  /** Channels with a message in progress. */
  get pendingChannels(): number {
    return this.pending.size;
  }

  /** Takes one report received at time `now` (ms); returns completed messages and errors. */
  push(report: Uint8Array, now: number): HidReassemblerEvent[] {
    const events = this.expire(now);
    this.stats.reportsReceived++;
    if (report.length !== HID_REPORT_SIZE) {
      // No channel is trusted from a report of the wrong size (a 65-byte report usually
      // means a report-ID byte was left in front, which shifts every field).
      this.fail(events, null, 'HID_REPORT_SIZE', `report of ${report.length} bytes is not ${HID_REPORT_SIZE}`, 1);
      return events;
    }
    const cid = readU32BE(report, 0);
    if (cid === 0) {
      this.fail(events, cid, 'HID_BAD_CHANNEL', 'channel id 0 is reserved', 1);
      return events;
    }
    const b4 = report[4] ?? 0;
    if ((b4 & 0x80) !== 0) this.initPacket(events, cid, b4, report, now);
    else this.continuationPacket(events, cid, b4, report, now);
    return events;
  }

  /**
   * Gives up messages whose next packet is overdue at `now` (HID_TIMEOUT each). push() does
   * this too; a device calls it when no report came for a while.
   */
  expire(now: number): HidReassemblerEvent[] {
    const events: HidReassemblerEvent[] = [];
    for (const [cid, p] of this.pending) {
      if (now - p.lastAt > this.timeoutMs) {
        this.pending.delete(cid);
        this.skip(cid, now);
        this.fail(events, cid, 'HID_TIMEOUT', `message on channel ${hex32(cid)} timed out`, p.reports);
      }
    }
    for (const [cid, at] of this.skipping) {
      if (now - at > this.timeoutMs) this.skipping.delete(cid);
    }
    return events;
  }

  /** Forgets everything in progress on `cid` (e.g. its channel was released). */
  dropChannel(cid: number): void {
    const p = this.pending.get(cid);
    if (p !== undefined) this.stats.reportsDiscarded += p.reports;
    this.pending.delete(cid);
    this.skipping.delete(cid);
  }

  /** A snapshot of the link counters. */
  counters(): HidReassemblerCounters {
    return { ...this.stats, errors: { ...this.stats.errors } };
  }

  private initPacket(events: HidReassemblerEvent[], cid: number, cmd: number, report: Uint8Array, now: number): void {
    const bcnt = ((report[5] ?? 0) << 8) | (report[6] ?? 0);
    const broadcast = cid === HID_BROADCAST_CID;
    if (broadcast ? cmd !== HidCommand.INIT && cmd !== HidCommand.ERROR : !this.channelAccepted(cid)) {
      this.dropChannel(cid);
      const why = broadcast ? `command 0x${cmd.toString(16)} on the broadcast channel` : `unknown channel ${hex32(cid)}`;
      this.fail(events, cid, 'HID_BAD_CHANNEL', why, 1);
      return;
    }
    const busy = this.pending.get(cid);
    if (busy !== undefined) {
      this.pending.delete(cid);
      if (cmd === HidCommand.INIT) {
        // INIT on a busy channel is the sender resynchronising: the old message is dropped.
        this.stats.messagesAborted++;
        this.stats.reportsDiscarded += busy.reports;
      } else {
        // Neither message can be trusted: drop both and skip the new one's continuations.
        this.stats.reportsDiscarded += busy.reports;
        this.skip(cid, now);
        this.fail(events, cid, 'HID_CHANNEL_BUSY', `new message on channel ${hex32(cid)} before the last one ended`, 1);
        return;
      }
    }
    if (!this.commands.has(cmd)) {
      this.skip(cid, now);
      this.fail(events, cid, 'HID_BAD_COMMAND', `unknown command 0x${cmd.toString(16)}`, 1);
      return;
    }
    const limit = broadcast ? Math.min(this.maxMessageSize, HID_INIT_DATA_SIZE) : this.maxMessageSize;
    if (bcnt > limit) {
      this.skip(cid, now);
      this.fail(events, cid, 'HID_MESSAGE_TOO_LARGE', `message length ${bcnt} exceeds ${limit}`, 1);
      return;
    }
    this.skipping.delete(cid);
    if (bcnt <= HID_INIT_DATA_SIZE) {
      this.stats.messagesOk++;
      events.push({ kind: 'message', cid, cmd, data: report.slice(HID_INIT_HEADER_SIZE, HID_INIT_HEADER_SIZE + bcnt) });
      return;
    }
    if (this.pending.size >= this.maxPendingChannels) {
      this.skip(cid, now);
      this.fail(events, cid, 'HID_CHANNEL_BUSY', `already reassembling ${this.pending.size} messages`, 1);
      return;
    }
    const data = new Uint8Array(bcnt);
    data.set(report.subarray(HID_INIT_HEADER_SIZE), 0);
    this.pending.set(cid, { cmd, data, filled: HID_INIT_DATA_SIZE, nextSeq: 0, reports: 1, lastAt: now });
  }

  private continuationPacket(events: HidReassemblerEvent[], cid: number, seq: number, report: Uint8Array, now: number): void {
    const p = this.pending.get(cid);
    if (p === undefined) {
      if (this.skipping.has(cid)) {
        this.skip(cid, now);
        this.stats.reportsDiscarded++;
      } else if (cid !== HID_BROADCAST_CID && !this.channelAccepted(cid)) {
        this.fail(events, cid, 'HID_BAD_CHANNEL', `unknown channel ${hex32(cid)}`, 1);
      } else {
        this.fail(events, cid, 'HID_UNEXPECTED_CONTINUATION', `continuation ${seq} with no message in progress`, 1);
      }
      return;
    }
    if (seq !== p.nextSeq) {
      this.pending.delete(cid);
      this.skip(cid, now);
      this.fail(events, cid, 'HID_BAD_SEQUENCE', `continuation ${seq} where ${p.nextSeq} was expected`, p.reports + 1);
      return;
    }
    const n = Math.min(HID_CONT_DATA_SIZE, p.data.length - p.filled);
    p.data.set(report.subarray(HID_CONT_HEADER_SIZE, HID_CONT_HEADER_SIZE + n), p.filled);
    p.filled += n;
    p.nextSeq++;
    p.reports++;
    p.lastAt = now;
    if (p.filled === p.data.length) {
      this.pending.delete(cid);
      this.stats.messagesOk++;
      events.push({ kind: 'message', cid, cmd: p.cmd, data: p.data });
    }
  }

  private channelAccepted(cid: number): boolean {
    return this.channelFilter === undefined || this.channelFilter(cid);
  }

  /** Remember `cid` as failed so its remaining continuations are dropped without errors. */
  private skip(cid: number, now: number): void {
    this.skipping.delete(cid);
    if (this.skipping.size >= SKIP_TRACK_LIMIT) {
      const oldest = this.skipping.keys().next();
      if (oldest.done !== true) this.skipping.delete(oldest.value);
    }
    this.skipping.set(cid, now);
  }

  private fail(
    events: HidReassemblerEvent[],
    cid: number | null,
    code: HidReassemblyErrorCode,
    message: string,
    reportsLost: number,
  ): void {
    this.stats.errors[code]++;
    this.stats.reportsDiscarded += reportsLost;
    events.push({
      kind: 'error',
      cid,
      error: new FramingError(code, message, cid === null ? {} : { cid }),
      hidErrorCode: HID_ERROR_FOR[code] ?? HidErrorCode.OTHER,
    });
  }
}

/** Options of {@link HidChannelAllocator}. */
export interface HidChannelAllocatorOptions {
  /** Source of random bytes (node:crypto randomBytes, tweetnacl randomBytes, or a test stub). */
  randomBytes: (length: number) => Uint8Array;
  /** Channels held at once. Default 8. */
  maxChannels?: number;
  /**
   * When all channels are taken, reuse the least recently used one (default true). Host
   * programs never announce that they quit, so without this a device would eventually
   * refuse every new program until it reboots.
   */
  evictWhenFull?: boolean;
}

/** Random draws tried before giving up on a CID (a working source almost never needs 2). */
const CID_DRAW_ATTEMPTS = 16;

/**
 * Device side: hands out channel ids for INIT requests. A CID is random (so a program cannot
 * guess another's channel), never 0, never broadcast, never one in use.
 */
export class HidChannelAllocator {
  readonly maxChannels: number;
  private readonly randomBytes: (length: number) => Uint8Array;
  private readonly evictWhenFull: boolean;
  /** In least-recently-used-first order. */
  private readonly inUse = new Set<number>();

  /** Throws FramingError FRAME_BAD_LIMIT for maxChannels < 1. */
  constructor(options: HidChannelAllocatorOptions) {
    const maxChannels = options.maxChannels ?? 8;
    if (!Number.isInteger(maxChannels) || maxChannels < 1) {
      throw new FramingError('FRAME_BAD_LIMIT', `maxChannels ${maxChannels} must be ≥ 1`, { maxChannels });
    }
    this.maxChannels = maxChannels;
    this.randomBytes = options.randomBytes;
    this.evictWhenFull = options.evictWhenFull ?? true;
  }

  /** Channels allocated. */
  get size(): number {
    return this.inUse.size;
  }

  /**
   * A new CID. When full, evicts the least recently used channel (returned in `evicted`, so
   * the caller can drop its reassembly state) or, with evictWhenFull false, throws
   * FramingError HID_NO_CHANNELS. Also throws HID_NO_CHANNELS if the random source yields no
   * usable CID in 16 draws.
   */
  allocate(): { cid: number; evicted: number | null } {
    let cid = -1;
    for (let attempt = 0; attempt < CID_DRAW_ATTEMPTS && cid < 0; attempt++) {
      const bytes = this.randomBytes(4);
      if (bytes.length < 4) continue;
      const candidate = readU32BE(bytes, 0);
      if (candidate !== 0 && candidate !== HID_BROADCAST_CID && !this.inUse.has(candidate)) cid = candidate;
    }
    if (cid < 0) {
      throw new FramingError('HID_NO_CHANNELS', 'random source gave no usable channel id');
    }
    let evicted: number | null = null;
    if (this.inUse.size >= this.maxChannels) {
      if (!this.evictWhenFull) {
        throw new FramingError('HID_NO_CHANNELS', `all ${this.maxChannels} channels are in use`);
      }
      const oldest = this.inUse.values().next();
      if (oldest.done !== true) {
        evicted = oldest.value;
        this.inUse.delete(evicted);
      }
    }
    this.inUse.add(cid);
    return { cid, evicted };
  }

  /** True when `cid` is allocated (pass this as the reassembler's channelFilter). */
  has(cid: number): boolean {
    return this.inUse.has(cid);
  }

  /** Marks `cid` as just used, so eviction picks others first. */
  touch(cid: number): void {
    if (this.inUse.delete(cid)) this.inUse.add(cid);
  }

  /** Frees `cid`; returns whether it was allocated. */
  release(cid: number): boolean {
    return this.inUse.delete(cid);
  }

  /** The allocated CIDs, least recently used first. */
  channels(): number[] {
    return [...this.inUse];
  }
}

/** Device version in the INIT response. */
export interface HidDeviceVersion {
  major: number;
  minor: number;
  build: number;
}

/** The INIT response: nonce(8) ‖ CID(4) ‖ protocol version(1) ‖ major ‖ minor ‖ build ‖ capabilities. */
export interface HidInitResponse {
  nonce: Uint8Array;
  cid: number;
  protocolVersion: number;
  deviceVersion: HidDeviceVersion;
  /** Capability bits; none are defined yet (devices send 0, hosts ignore unknown bits). */
  capabilities: number;
}

/** Host side: the report(s) of an INIT request with an 8-byte `nonce` on the broadcast channel. */
export function buildInitRequest(nonce: Uint8Array): Uint8Array[] {
  checkNonce(nonce);
  return fragmentMessage(HID_BROADCAST_CID, HidCommand.INIT, nonce);
}

/** Device side: the nonce of an INIT request's data. Throws FramingError HID_BAD_LENGTH unless 8 bytes. */
export function parseInitRequest(data: Uint8Array): Uint8Array {
  if (data.length !== HID_INIT_NONCE_SIZE) {
    throw new FramingError('HID_BAD_LENGTH', `INIT request of ${data.length} bytes, expected ${HID_INIT_NONCE_SIZE}`, {
      length: data.length,
    });
  }
  return data.slice();
}

/** The 17 data bytes of an INIT response. Throws FramingError HID_BAD_NONCE / HID_BAD_CHANNEL. */
export function encodeInitResponse(response: HidInitResponse): Uint8Array {
  checkNonce(response.nonce);
  const { cid, deviceVersion: v } = response;
  if (!Number.isInteger(cid) || cid <= 0 || cid >= HID_BROADCAST_CID) {
    throw new FramingError('HID_BAD_CHANNEL', `channel id ${cid} cannot be allocated`, { cid });
  }
  const out = new Uint8Array(HID_INIT_RESPONSE_SIZE);
  out.set(response.nonce, 0);
  writeU32BE(out, 8, cid);
  out[12] = response.protocolVersion;
  out[13] = v.major;
  out[14] = v.minor;
  out[15] = v.build;
  out[16] = response.capabilities;
  return out;
}

/** Device side: the report(s) answering INIT, sent on the channel the request came on. */
export function buildInitResponse(replyCid: number, response: HidInitResponse): Uint8Array[] {
  return fragmentMessage(replyCid, HidCommand.INIT, encodeInitResponse(response));
}

/**
 * Host side: parses an INIT response's data. Returns null when the nonce is not
 * `expectedNonce` — the answer to another program's INIT, to be ignored. Throws FramingError:
 * HID_BAD_NONCE (expectedNonce not 8 bytes), HID_BAD_LENGTH (data not 17 bytes),
 * HID_BAD_CHANNEL (the CID given is 0 or broadcast).
 */
export function parseInitResponse(data: Uint8Array, expectedNonce: Uint8Array): HidInitResponse | null {
  checkNonce(expectedNonce);
  if (data.length !== HID_INIT_RESPONSE_SIZE) {
    throw new FramingError('HID_BAD_LENGTH', `INIT response of ${data.length} bytes, expected ${HID_INIT_RESPONSE_SIZE}`, {
      length: data.length,
    });
  }
  for (let i = 0; i < HID_INIT_NONCE_SIZE; i++) {
    if (data[i] !== expectedNonce[i]) return null;
  }
  const cid = readU32BE(data, 8);
  if (cid === 0 || cid === HID_BROADCAST_CID) {
    throw new FramingError('HID_BAD_CHANNEL', `device gave unusable channel id ${hex32(cid)}`, { cid });
  }
  return {
    nonce: data.slice(0, HID_INIT_NONCE_SIZE),
    cid,
    protocolVersion: data[12] ?? 0,
    deviceVersion: { major: data[13] ?? 0, minor: data[14] ?? 0, build: data[15] ?? 0 },
    capabilities: data[16] ?? 0,
  };
}

/**
 * Device side: answers an INIT message that arrived on `requestCid`. On the broadcast channel
 * it allocates a new CID; on an allocated channel (a resync) it keeps that CID. Returns the
 * reports to send (on `requestCid`) and the channel evicted to make room, if any. Throws
 * FramingError HID_BAD_LENGTH (data is not an 8-byte nonce) or HID_NO_CHANNELS.
 */
export function answerInit(
  allocator: HidChannelAllocator,
  requestCid: number,
  data: Uint8Array,
  device: { deviceVersion: HidDeviceVersion; capabilities?: number },
): { reports: Uint8Array[]; cid: number; evicted: number | null } {
  const nonce = parseInitRequest(data);
  let cid = requestCid;
  let evicted: number | null = null;
  if (requestCid === HID_BROADCAST_CID) {
    ({ cid, evicted } = allocator.allocate());
  } else {
    allocator.touch(requestCid);
  }
  const reports = buildInitResponse(requestCid, {
    nonce,
    cid,
    protocolVersion: PROTOCOL_VERSION,
    deviceVersion: device.deviceVersion,
    capabilities: device.capabilities ?? 0,
  });
  return { reports, cid, evicted };
}

function checkNonce(nonce: Uint8Array): void {
  if (nonce.length !== HID_INIT_NONCE_SIZE) {
    throw new FramingError('HID_BAD_NONCE', `nonce of ${nonce.length} bytes, expected ${HID_INIT_NONCE_SIZE}`, {
      length: nonce.length,
    });
  }
}

function checkMaxMessageSize(maxMessageSize: number): number {
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 0 || maxMessageSize > HID_MAX_MESSAGE_SIZE) {
    throw new FramingError('FRAME_BAD_LIMIT', `maxMessageSize ${maxMessageSize} is outside 0..${HID_MAX_MESSAGE_SIZE}`, {
      maxMessageSize,
    });
  }
  return maxMessageSize;
}

function writeU32BE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >>> 24) & 0xff;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

function readU32BE(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset] ?? 0) << 24) | ((bytes[offset + 1] ?? 0) << 16) | ((bytes[offset + 2] ?? 0) << 8) | (bytes[offset + 3] ?? 0)) >>>
    0
  );
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
