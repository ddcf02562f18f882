/**
 * Segmentation with selective repeat, for stream links (serial, TCP) on noisy lines.
 *
 * On a line that damages 1 % of the bytes, a 300-byte frame arrives intact about 5 % of the
 * time, so resending whole frames cannot get it through. Instead a sender may cut a packet into
 * short **segments**, each a stream frame of its own with its own CRC-32C:
 *
 *   flags  = SEGMENT | (SEALED when the whole packet is sealed)
 *   seq    = the whole packet's seq (all segments of a packet share it: it names the transfer)
 *   payload = index u8 ‖ count u8 ‖ stride u8 ‖ data
 *
 * Every segment but the last carries exactly `stride` data bytes, the last 1 … stride, so
 * segment i starts at byte i × stride of the packet payload. The receiver collects the segments
 * of each transfer; when one stops moving with segments missing, it sends a **NAK**, a LINK
 * packet (flags LINK alone, seq 0) with payload
 *
 *   kind 0x01 ‖ seq u8 ‖ count u8 ‖ missing bitmap (ceil(count / 8) bytes; bit i = byte i >> 3, mask 1 << (i & 7))
 *
 * and the sender sends exactly those segments again. The reassembled packet goes up to the
 * session layer as if it had arrived in one frame (the seal is checked once, on the whole
 * packet). Segments are sent only to a peer that said it reassembles them (GetInfo
 * capability `segments` for a terminal; Handshake `hostCapabilities` for a host); a receiver
 * that reassembles accepts them at any time.
 *
 * Everything here is pure: time comes in as arguments, packets go out as return values.
 */
import { FramingError } from './errors.js';
import { PacketFlags, type Packet } from './packet.js';

/** index ‖ count ‖ stride. */
export const SEGMENT_HEADER_SIZE = 3;
/** Fewest segments a segmented packet has (one segment would be a plain frame). */
export const MIN_SEGMENT_COUNT = 2;
/** Most segments a packet can be cut into (count is a byte). */
export const MAX_SEGMENT_COUNT = 255;
/** Largest stride (a byte). */
export const MAX_SEGMENT_STRIDE = 255;
/** LINK packet kind: a NAK naming the missing segments of a transfer. */
export const LINK_KIND_NAK = 0x01;

/**
 * Data bytes per segment a sender uses by default. At 1 % damaged bytes a frame of n bytes
 * survives with probability 0.99^n; a 32-byte stride gives 44-byte frames (64 % intact) and
 * the best data rate per byte on the wire (about 47 %, against 5 % for a 300-byte frame).
 */
export const DEFAULT_SEGMENT_STRIDE = 32;
/** A receiver NAKs an incomplete transfer after this much time without a new segment of it. */
export const DEFAULT_NAK_AFTER_MS = 40;
/** NAKs in a row without a new segment after which a receiver drops the transfer. */
export const DEFAULT_MAX_NAKS = 8;
/** Incomplete transfers a receiver holds at once (the least recently moved is dropped). */
export const DEFAULT_RECEIVE_SLOTS = 4;
/** Segmented packets a sender keeps to answer NAKs (the oldest is forgotten). */
export const DEFAULT_SEND_RETAIN = 4;
/** NAKs a sender answers for one transfer; later ones are ignored (bounds what a forged NAK costs). */
export const DEFAULT_MAX_NAK_ANSWERS = 32;
/** How long a receiver ignores late segments of a transfer it completed (a resend crossing the end). */
export const DEFAULT_COMPLETED_MEMORY_MS = 2_000;
/** After any sign of a damaged line, an adaptive sender segments for this long. */
export const DEFAULT_NOISY_HOLD_MS = 30_000;

/** One segment, parsed. */
export interface Segment {
  index: number;
  count: number;
  stride: number;
  data: Uint8Array;
}

/** A NAK, parsed: the transfer (seq, count) and the indexes of its missing segments, ascending. */
export interface Nak {
  seq: number;
  count: number;
  missing: number[];
}

function badSegment(message: string, detail: Record<string, unknown>): FramingError {
  return new FramingError('FRAME_BAD_SEGMENT', message, detail);
}

/** The payload of a SEGMENT packet: index ‖ count ‖ stride ‖ data. */
export function segmentPayload(segment: Segment): Uint8Array {
  const out = new Uint8Array(SEGMENT_HEADER_SIZE + segment.data.length);
  out[0] = segment.index;
  out[1] = segment.count;
  out[2] = segment.stride;
  out.set(segment.data, SEGMENT_HEADER_SIZE);
  return out;
}

/**
 * Parses and checks a SEGMENT packet's payload. Throws FramingError FRAME_BAD_SEGMENT: shorter
 * than 4 bytes, count < 2, index ≥ count, stride 0, a segment before the last whose data is
 * not exactly `stride` bytes, or a last segment with more than `stride`.
 */
export function parseSegment(payload: Uint8Array): Segment {
  if (payload.length < SEGMENT_HEADER_SIZE + 1) throw badSegment(`segment of ${payload.length} bytes has no data`, { length: payload.length });
  const index = payload[0] ?? 0;
  const count = payload[1] ?? 0;
  const stride = payload[2] ?? 0;
  const data = payload.subarray(SEGMENT_HEADER_SIZE);
  if (count < MIN_SEGMENT_COUNT) throw badSegment(`segment count ${count} is below ${MIN_SEGMENT_COUNT}`, { count });
  if (index >= count) throw badSegment(`segment index ${index} is not below its count ${count}`, { index, count });
  if (stride === 0) throw badSegment('segment stride is 0', { stride });
  const last = index === count - 1;
  if (last ? data.length > stride : data.length !== stride) {
    throw badSegment(`segment ${index} of ${count} carries ${data.length} bytes with stride ${stride}`, { index, count, stride, length: data.length });
  }
  return { index, count, stride, data };
}

/** Payload bytes a transfer of `count` segments with `stride` may hold at most. */
export function transferCapacity(count: number, stride: number): number {
  return count * stride;
}

/**
 * The stride to cut a `payloadLength`-byte payload with, preferring `stride`; undefined when the
 * payload is too short to be worth cutting (at most 2 × stride: two short frames cost more than
 * they save) or too long for 255 segments of 255 bytes.
 */
export function segmentStrideFor(payloadLength: number, stride: number = DEFAULT_SEGMENT_STRIDE): number | undefined {
  if (payloadLength <= 2 * stride) return undefined;
  const s = Math.max(stride, Math.ceil(payloadLength / MAX_SEGMENT_COUNT));
  return s > MAX_SEGMENT_STRIDE ? undefined : s;
}

/**
 * Cuts `packet` into segment packets with the given stride (see the module comment). Throws
 * FramingError FRAME_BAD_SEGMENT when the payload would give fewer than 2 or more than 255
 * segments, or the stride is not 1..255.
 */
export function splitPacket(packet: Packet, stride: number): Packet[] {
  const n = packet.payload.length;
  const count = Math.ceil(n / stride);
  if (!Number.isInteger(stride) || stride < 1 || stride > MAX_SEGMENT_STRIDE || count < MIN_SEGMENT_COUNT || count > MAX_SEGMENT_COUNT) {
    throw badSegment(`cannot cut ${n} bytes into segments of ${stride}`, { length: n, stride });
  }
  const flags = PacketFlags.SEGMENT | (packet.flags & PacketFlags.SEALED);
  const out: Packet[] = [];
  for (let index = 0; index < count; index++) {
    const data = packet.payload.subarray(index * stride, Math.min(n, (index + 1) * stride));
    out.push({ flags, seq: packet.seq, payload: segmentPayload({ index, count, stride, data }) });
  }
  return out;
}

/** The LINK packet of a NAK. Throws FramingError FRAME_BAD_LINK for an empty or out-of-range list. */
export function nakPacket(nak: Nak): Packet {
  const { seq, count, missing } = nak;
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xff || !Number.isInteger(count) || count < MIN_SEGMENT_COUNT || count > MAX_SEGMENT_COUNT) {
    throw new FramingError('FRAME_BAD_LINK', `NAK for seq ${seq}, count ${count} is out of range`, { seq, count });
  }
  if (missing.length === 0 || missing.some((i) => !Number.isInteger(i) || i < 0 || i >= count)) {
    throw new FramingError('FRAME_BAD_LINK', 'a NAK names at least one segment, each below the count', { count, missing });
  }
  const payload = new Uint8Array(3 + Math.ceil(count / 8));
  payload[0] = LINK_KIND_NAK;
  payload[1] = seq;
  payload[2] = count;
  for (const i of missing) payload[3 + (i >> 3)] = (payload[3 + (i >> 3)] ?? 0) | (1 << (i & 7));
  return { flags: PacketFlags.LINK, seq: 0, payload };
}

/**
 * Parses a LINK packet's payload: a NAK, or undefined for a kind this code does not know (a
 * receiver ignores those, so later kinds can be added). Throws FramingError FRAME_BAD_LINK for
 * an empty payload or a malformed NAK (wrong length for its count, count < 2, no bit set, a bit
 * at or above the count).
 */
export function parseLink(payload: Uint8Array): Nak | undefined {
  if (payload.length === 0) throw new FramingError('FRAME_BAD_LINK', 'empty link packet', {});
  if (payload[0] !== LINK_KIND_NAK) return undefined;
  const seq = payload[1] ?? 0;
  const count = payload[2] ?? 0;
  if (payload.length < 3 || count < MIN_SEGMENT_COUNT || payload.length !== 3 + Math.ceil(count / 8)) {
    throw new FramingError('FRAME_BAD_LINK', `malformed NAK (${payload.length} bytes, count ${count})`, { length: payload.length, count });
  }
  const missing: number[] = [];
  for (let i = 0; i < 8 * (payload.length - 3); i++) {
    if ((((payload[3 + (i >> 3)] ?? 0) >> (i & 7)) & 1) === 0) continue;
    if (i >= count) throw new FramingError('FRAME_BAD_LINK', `NAK names segment ${i} of a ${count}-segment transfer`, { count, index: i });
    missing.push(i);
  }
  if (missing.length === 0) throw new FramingError('FRAME_BAD_LINK', 'NAK names no segment', { seq, count });
  return { seq, count, missing };
}

// ---------------------------------------------------------------- receiving

interface Transfer {
  readonly seq: number;
  readonly count: number;
  readonly stride: number;
  readonly sealed: boolean;
  readonly parts: Array<Uint8Array | undefined>;
  have: number;
  /** When to NAK if nothing new arrives. */
  nakAt: number;
  /** NAKs sent since the last new segment. */
  naks: number;
  /** Last time a new segment arrived (the least recently moved transfer is dropped first). */
  movedAt: number;
}

interface Completed {
  readonly seq: number;
  readonly count: number;
  readonly stride: number;
  readonly sealed: boolean;
  readonly at: number;
}

/** What {@link Reassembler.accept} made of a segment. */
export type ReassemblyResult =
  | { kind: 'complete'; packet: Packet }
  /** A new segment of a transfer still incomplete. */
  | { kind: 'partial' }
  /** A segment already held, or of a transfer completed a moment ago: nothing to do. */
  | { kind: 'duplicate' };

/** Options of a {@link Reassembler}. */
export interface ReassemblerOptions {
  /** Largest reassembled payload accepted (the receiver's maxFrameSize − 7). */
  maxPayload: number;
  nakAfterMs?: number;
  maxNaks?: number;
  slots?: number;
  completedMemoryMs?: number;
}

/** Counters of a receiver's reassembly. */
export interface ReassemblyCounters {
  /** Segments received intact (duplicates included). */
  segments: number;
  /** Of those, ones already held or of a finished transfer. */
  duplicates: number;
  /** Packets reassembled. */
  completed: number;
  /** Transfers given up (too many NAKs unanswered, pushed out by newer ones, or replaced). */
  abandoned: number;
  /** NAKs sent. */
  naks: number;
}

/**
 * The receiving half: collects segments by transfer, hands back whole packets, and says which
 * NAKs are due. Memory: at most `slots` transfers of at most `maxPayload` bytes each.
 */
export class Reassembler {
  private readonly maxPayload: number;
  private readonly nakAfterMs: number;
  private readonly maxNaks: number;
  private readonly slots: number;
  private readonly completedMemoryMs: number;
  private readonly transfers = new Map<number, Transfer>();
  private completedList: Completed[] = [];
  private readonly stats: ReassemblyCounters = { segments: 0, duplicates: 0, completed: 0, abandoned: 0, naks: 0 };

  constructor(options: ReassemblerOptions) {
    this.maxPayload = options.maxPayload;
    this.nakAfterMs = options.nakAfterMs ?? DEFAULT_NAK_AFTER_MS;
    this.maxNaks = options.maxNaks ?? DEFAULT_MAX_NAKS;
    this.slots = Math.max(1, options.slots ?? DEFAULT_RECEIVE_SLOTS);
    this.completedMemoryMs = options.completedMemoryMs ?? DEFAULT_COMPLETED_MEMORY_MS;
  }

  /**
   * Takes one SEGMENT packet received at `now`. Throws FramingError FRAME_BAD_SEGMENT (see
   * parseSegment) or FRAME_TOO_LARGE (the transfer could exceed maxPayload); the packet is
   * then ignored and nothing else changes.
   */
  accept(packet: Packet, now: number): ReassemblyResult {
    const seg = parseSegment(packet.payload);
    if (transferCapacity(seg.count - 1, seg.stride) + 1 > this.maxPayload) {
      throw new FramingError('FRAME_TOO_LARGE', `a transfer of ${seg.count} segments of ${seg.stride} bytes exceeds the ${this.maxPayload}-byte limit`, {
        count: seg.count,
        stride: seg.stride,
        maxPayload: this.maxPayload,
      });
    }
    this.stats.segments++;
    const sealed = (packet.flags & PacketFlags.SEALED) !== 0;
    const seq = packet.seq;
    this.forgetCompleted(now);
    if (this.completedList.some((c) => c.seq === seq && c.count === seg.count && c.stride === seg.stride && c.sealed === sealed)) {
      this.stats.duplicates++;
      return { kind: 'duplicate' };
    }
    let t = this.transfers.get(seq);
    if (t !== undefined && (t.count !== seg.count || t.stride !== seg.stride || t.sealed !== sealed)) {
      // The sender's seq came round to a new packet: the old transfer cannot finish any more.
      this.drop(t);
      t = undefined;
    }
    if (t === undefined) {
      if (this.transfers.size >= this.slots) {
        let oldest: Transfer | undefined;
        for (const x of this.transfers.values()) if (oldest === undefined || x.movedAt < oldest.movedAt) oldest = x;
        if (oldest !== undefined) this.drop(oldest);
      }
      t = { seq, count: seg.count, stride: seg.stride, sealed, parts: new Array<Uint8Array | undefined>(seg.count).fill(undefined), have: 0, nakAt: 0, naks: 0, movedAt: now };
      this.transfers.set(seq, t);
    }
    if (t.parts[seg.index] !== undefined) {
      this.stats.duplicates++;
      return { kind: 'duplicate' };
    }
    t.parts[seg.index] = seg.data.slice();
    t.have++;
    t.naks = 0;
    t.movedAt = now;
    t.nakAt = now + this.nakAfterMs;
    if (t.have < t.count) return { kind: 'partial' };

    this.transfers.delete(seq);
    const total = (t.count - 1) * t.stride + (t.parts[t.count - 1]?.length ?? 0);
    if (total > this.maxPayload) {
      this.stats.abandoned++;
      throw new FramingError('FRAME_TOO_LARGE', `a reassembled packet of ${total} bytes exceeds the ${this.maxPayload}-byte limit`, { length: total, maxPayload: this.maxPayload });
    }
    const payload = new Uint8Array(total);
    t.parts.forEach((p, i) => payload.set(p ?? new Uint8Array(0), i * t.stride));
    this.completedList.push({ seq, count: t.count, stride: t.stride, sealed, at: now });
    if (this.completedList.length > 16) this.completedList.shift();
    this.stats.completed++;
    return { kind: 'complete', packet: { flags: sealed ? PacketFlags.SEALED : 0, seq, payload } };
  }

  /** The NAKs due at `now` (each names the missing segments of one transfer); gives up on transfers NAKed too often. */
  due(now: number): Packet[] {
    const out: Packet[] = [];
    for (const t of [...this.transfers.values()]) {
      if (t.nakAt > now) continue;
      if (t.naks >= this.maxNaks) {
        this.drop(t);
        continue;
      }
      const missing: number[] = [];
      t.parts.forEach((p, i) => {
        if (p === undefined) missing.push(i);
      });
      out.push(nakPacket({ seq: t.seq, count: t.count, missing }));
      t.naks++;
      t.nakAt = now + this.nakAfterMs;
      this.stats.naks++;
    }
    return out;
  }

  /** When {@link due} next has something to do, or undefined when no transfer is incomplete. */
  nextDue(): number | undefined {
    let next: number | undefined;
    for (const t of this.transfers.values()) if (next === undefined || t.nakAt < next) next = t.nakAt;
    return next;
  }

  /** Incomplete transfers held. */
  get incomplete(): number {
    return this.transfers.size;
  }

  counters(): ReassemblyCounters {
    return { ...this.stats };
  }

  /** Drops every incomplete transfer (the link was reopened). */
  reset(): void {
    for (const t of [...this.transfers.values()]) this.drop(t);
    this.completedList = [];
  }

  private drop(t: Transfer): void {
    this.transfers.delete(t.seq);
    this.stats.abandoned++;
  }

  private forgetCompleted(now: number): void {
    if (this.completedList.length > 0 && (this.completedList[0]?.at ?? now) + this.completedMemoryMs <= now) {
      this.completedList = this.completedList.filter((c) => c.at + this.completedMemoryMs > now);
    }
  }
}

// ---------------------------------------------------------------- sending

/** Counters of a sender's segmentation. */
export interface SegmentSendCounters {
  /** Packets sent segmented. */
  packets: number;
  /** Segments sent the first time. */
  segments: number;
  /** NAKs received (including ones for transfers no longer kept). */
  naks: number;
  /** Segments sent again in answer to a NAK. */
  resent: number;
}

interface Kept {
  readonly seq: number;
  readonly segments: Packet[];
  answers: number;
}

/** The sending half: cuts packets and answers NAKs from the segments it kept. */
export class SegmentSender {
  private readonly retain: number;
  private readonly maxAnswers: number;
  private kept: Kept[] = [];
  private readonly stats: SegmentSendCounters = { packets: 0, segments: 0, naks: 0, resent: 0 };

  constructor(options: { retain?: number; maxNakAnswers?: number } = {}) {
    this.retain = Math.max(1, options.retain ?? DEFAULT_SEND_RETAIN);
    this.maxAnswers = options.maxNakAnswers ?? DEFAULT_MAX_NAK_ANSWERS;
  }

  /** Cuts `packet` with `stride` (see splitPacket) and keeps the segments for NAKs. */
  split(packet: Packet, stride: number): Packet[] {
    const segments = splitPacket(packet, stride);
    this.kept = this.kept.filter((k) => k.seq !== packet.seq);
    this.kept.push({ seq: packet.seq, segments, answers: 0 });
    if (this.kept.length > this.retain) this.kept.shift();
    this.stats.packets++;
    this.stats.segments += segments.length;
    return segments;
  }

  /** The segments a NAK asks for again; none when the transfer is not kept or was asked for too often. */
  answer(nak: Nak): Packet[] {
    this.stats.naks++;
    const k = this.kept.find((x) => x.seq === nak.seq && x.segments.length === nak.count);
    if (k === undefined || k.answers >= this.maxAnswers) return [];
    k.answers++;
    const out = nak.missing.map((i) => k.segments[i]).filter((p): p is Packet => p !== undefined);
    this.stats.resent += out.length;
    return out;
  }

  counters(): SegmentSendCounters {
    return { ...this.stats };
  }
}

// ---------------------------------------------------------------- both halves and the policy

/** When a sender cuts its packets. */
export type SegmentationMode =
  /** Only while the line shows damage (a bad frame or a NAK received, a segment received, a resend): the clean line pays nothing. */
  | 'adaptive'
  /** Every packet long enough (tests, and lines known to be bad). */
  | 'always'
  /** Never (still reassembles what the peer sends). */
  | 'never';

/** Options of a {@link Segmenter}. */
export interface SegmenterOptions {
  /** Data bytes per segment (default 32). */
  stride?: number;
  mode?: SegmentationMode;
  nakAfterMs?: number;
  maxNaks?: number;
  noisyHoldMs?: number;
  /** Receive slots and send retention (defaults 4 and 4). */
  slots?: number;
  retain?: number;
}

/** Everything a {@link Segmenter} counted. */
export interface SegmentationCounters {
  sent: SegmentSendCounters;
  received: ReassemblyCounters;
}

/** What {@link Segmenter.receive} made of a SEGMENT or LINK packet. */
export interface SegmenterReceipt {
  /** A whole packet, when this segment completed one. */
  packet?: Packet;
  /** Packets to send now: segments a NAK asked for again. */
  send: Packet[];
}

/**
 * Both halves for one end of a link, with the sending policy: segment a packet only when the
 * peer reassembles, the line looks damaged (mode 'adaptive') and the payload is long enough.
 */
export class Segmenter {
  /** Set when the peer said it reassembles segments; until then nothing is cut. */
  peerReassembles = false;
  readonly stride: number;
  readonly mode: SegmentationMode;
  private readonly noisyHoldMs: number;
  private noisyUntil = Number.NEGATIVE_INFINITY;
  private damagedUntil = Number.NEGATIVE_INFINITY;
  private readonly reassembler: Reassembler;
  private readonly sender: SegmentSender;

  constructor(maxPayload: number, options: SegmenterOptions = {}) {
    this.stride = options.stride ?? DEFAULT_SEGMENT_STRIDE;
    this.mode = options.mode ?? 'adaptive';
    this.noisyHoldMs = options.noisyHoldMs ?? DEFAULT_NOISY_HOLD_MS;
    this.reassembler = new Reassembler({
      maxPayload,
      ...(options.nakAfterMs === undefined ? {} : { nakAfterMs: options.nakAfterMs }),
      ...(options.maxNaks === undefined ? {} : { maxNaks: options.maxNaks }),
      ...(options.slots === undefined ? {} : { slots: options.slots }),
    });
    this.sender = new SegmentSender(options.retain === undefined ? {} : { retain: options.retain });
  }

  /** A sign of a damaged line at `now` (a bad frame, a resend): an adaptive sender segments for a while. */
  trouble(now: number): void {
    this.noisyUntil = Math.max(this.noisyUntil, now + this.noisyHoldMs);
  }

  /**
   * Damage seen on what was received at `now` (a bad frame; a segment or NAK, which the peer
   * sends only when it sees damage): a sign of trouble, and proof that the line carries bytes.
   */
  sawDamage(now: number): void {
    this.trouble(now);
    this.damagedUntil = Math.max(this.damagedUntil, now + this.noisyHoldMs);
  }

  /** True while an adaptive sender segments. */
  noisy(now: number): boolean {
    return now < this.noisyUntil;
  }

  /** True for noisyHoldMs after damage was seen on received bytes ({@link sawDamage}); a mere resend does not count. */
  damaged(now: number): boolean {
    return now < this.damagedUntil;
  }

  /** The segments to send instead of `packet`, or undefined to send it whole. */
  split(packet: Packet, now: number): Packet[] | undefined {
    if (!this.peerReassembles || this.mode === 'never' || (this.mode === 'adaptive' && !this.noisy(now))) return undefined;
    const stride = segmentStrideFor(packet.payload.length, this.stride);
    return stride === undefined ? undefined : this.sender.split(packet, stride);
  }

  /**
   * Takes a SEGMENT or LINK packet received at `now`. Throws FramingError (FRAME_BAD_SEGMENT,
   * FRAME_BAD_LINK, FRAME_TOO_LARGE) for a bad one, which is then ignored.
   */
  receive(packet: Packet, now: number): SegmenterReceipt {
    // Segments and NAKs come from a peer that sees a damaged line: the same cable, both ways.
    this.sawDamage(now);
    if ((packet.flags & PacketFlags.LINK) !== 0) {
      const nak = parseLink(packet.payload);
      return { send: nak === undefined ? [] : this.sender.answer(nak) };
    }
    const r = this.reassembler.accept(packet, now);
    return r.kind === 'complete' ? { packet: r.packet, send: [] } : { send: [] };
  }

  /** NAKs due at `now`. */
  due(now: number): Packet[] {
    return this.reassembler.due(now);
  }

  /** When {@link due} next has work, if ever. */
  nextDue(): number | undefined {
    return this.reassembler.nextDue();
  }

  /** Drops incomplete transfers (the link was reopened); what was sent is kept for NAKs. */
  reset(): void {
    this.reassembler.reset();
  }

  counters(): SegmentationCounters {
    return { sent: this.sender.counters(), received: this.reassembler.counters() };
  }
}
