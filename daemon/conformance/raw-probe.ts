/**
 * RawProbe: the conformance suite's own eyes and hands on a link, below the session. It
 * sends hand-made frames (bad CRCs, garbage, oversized frames, hostile CBOR) that a
 * TerminalSession would never produce, and records every frame the terminal sends, with
 * its arrival time, so a check can say "nothing came back" or "this came back".
 */
import type { Link } from '../../link/link.js';
import type { FramingError } from '../../protocol/errors.js';
import { CodecError } from '../../protocol/errors.js';
import { decodeMessage, encodeMessage, type Message } from '../../protocol/messages.js';
import { PacketFlags, type Packet } from '../../protocol/packet.js';
import { encodeFrame, FrameDecoder, MAX_FRAME_SIZE_LIMIT } from '../../protocol/stream-framing.js';

/** One thing the terminal sent, as the probe saw it. */
export type ProbeItem =
  | { kind: 'frame'; atMs: number; packet: Packet; sealed: boolean; message?: Message; codecError?: CodecError }
  | { kind: 'error'; atMs: number; error: FramingError };

/** Hex of bytes, shortened to `max` bytes with the full length noted. */
export function hex(bytes: Uint8Array, max = 48): string {
  const h = Buffer.from(bytes.subarray(0, max)).toString('hex');
  return bytes.length > max ? `${h}… (${bytes.length} bytes)` : h;
}

/** Reads and writes raw frames on a link (see the file comment). */
export class RawProbe {
  readonly items: ProbeItem[] = [];
  private readonly decoder = new FrameDecoder({ maxFrameSize: MAX_FRAME_SIZE_LIMIT });
  private readonly off: () => void;
  private seq = 0;
  private waiters: Array<() => void> = [];
  private nextIdValue: number;

  constructor(
    readonly link: Link,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.nextIdValue = 0x4000_0000 + Math.floor(Math.random() * 0x1000_0000);
    this.off = link.onData((chunk) => this.receive(chunk));
  }

  /** A fresh request id (never one the session allocates in practice). */
  nextId(): number {
    return this.nextIdValue++;
  }

  /** Position in `items`: pass to {@link since} / {@link waitFor} to see only what came later. */
  mark(): number {
    return this.items.length;
  }

  since(mark: number): ProbeItem[] {
    return this.items.slice(mark);
  }

  /** Frames (not errors) received since `mark`. */
  framesSince(mark: number): Extract<ProbeItem, { kind: 'frame' }>[] {
    return this.since(mark).filter((i): i is Extract<ProbeItem, { kind: 'frame' }> => i.kind === 'frame');
  }

  /** The wire bytes of a clear frame carrying `payload`. */
  frameOf(payload: Uint8Array, flags = 0): Uint8Array {
    const packet = { flags, seq: this.seq, payload };
    this.seq = (this.seq + 1) & 0xff;
    return encodeFrame(packet, { maxFrameSize: MAX_FRAME_SIZE_LIMIT, leadingDelimiter: true });
  }

  /** Encodes `message` canonically and frames it in clear. */
  messageFrame(message: Message): { payload: Uint8Array; wire: Uint8Array } {
    const payload = encodeMessage(message);
    return { payload, wire: this.frameOf(payload) };
  }

  async send(bytes: Uint8Array): Promise<void> {
    await this.link.write(bytes);
  }

  /**
   * Waits until an item after `mark` satisfies `match`, or `timeoutMs` passes.
   * Resolves with the item, or undefined on timeout.
   */
  async waitFor(mark: number, match: (item: ProbeItem) => boolean, timeoutMs: number): Promise<ProbeItem | undefined> {
    const deadline = this.now() + timeoutMs;
    for (;;) {
      const found = this.since(mark).find(match);
      if (found !== undefined) return found;
      const left = deadline - this.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.push(done);
      });
    }
  }

  /** Waits for a clear message with request id `id` after `mark`. */
  async answerTo(mark: number, id: number, timeoutMs: number): Promise<Extract<ProbeItem, { kind: 'frame' }> | undefined> {
    const item = await this.waitFor(mark, (i) => i.kind === 'frame' && i.message !== undefined && i.message.id === id && i.message.type !== 'Keepalive', timeoutMs);
    return item as Extract<ProbeItem, { kind: 'frame' }> | undefined;
  }

  /** Waits `ms` and returns the frames that arrived meanwhile. */
  async quietFor(ms: number): Promise<Extract<ProbeItem, { kind: 'frame' }>[]> {
    const mark = this.mark();
    await new Promise((r) => setTimeout(r, ms));
    return this.framesSince(mark);
  }

  close(): void {
    this.off();
    for (const w of this.waiters.splice(0)) w();
  }

  private receive(chunk: Uint8Array): void {
    const atMs = this.now();
    for (const e of this.decoder.push(chunk)) {
      if (e.kind === 'error') {
        this.items.push({ kind: 'error', atMs, error: e.error });
        continue;
      }
      const sealed = (e.packet.flags & PacketFlags.SEALED) !== 0;
      const item: Extract<ProbeItem, { kind: 'frame' }> = { kind: 'frame', atMs, packet: e.packet, sealed };
      if (!sealed) {
        try {
          item.message = decodeMessage(e.packet.payload);
        } catch (err) {
          item.codecError = err instanceof CodecError ? err : new CodecError('CBOR_MALFORMED', String(err));
        }
      }
      this.items.push(item);
    }
    for (const w of this.waiters.splice(0)) w();
  }
}
