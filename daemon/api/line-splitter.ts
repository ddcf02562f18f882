/**
 * Splits a byte stream into `\n`-terminated lines with a hard bound on memory: a line longer
 * than `maxLineBytes` is reported once as oversized the moment it crosses the bound, and the
 * rest of it is dropped up to its newline without being kept. Pull-based, so a reader that
 * must stop (its request queue is full) leaves the remaining bytes here, unparsed.
 */

/** One item out of the splitter. */
export type LineItem =
  /** A complete line, without its `\n` (and without a `\r` before it). */
  | { kind: 'line'; bytes: Buffer }
  /** A line that exceeded the limit; `seenBytes` is how much of it had arrived when it did. */
  | { kind: 'oversized'; seenBytes: number };

const NEWLINE = 0x0a;
const CR = 0x0d;

/** Bounded line splitter. */
export class LineSplitter {
  private readonly maxLineBytes: number;
  /** Pieces of the line being assembled (their total never exceeds maxLineBytes). */
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Chunks pushed but not yet scanned; `offset` is how far the first one was scanned. */
  private chunks: Buffer[] = [];
  private offset = 0;
  /** Inside an oversized line: drop bytes until its newline. */
  private skipping = false;

  /** @param maxLineBytes longest line accepted: every byte before its `\n`, a `\r` included (≥ 1). */
  constructor(maxLineBytes: number) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) throw new RangeError('maxLineBytes must be a positive integer');
    this.maxLineBytes = maxLineBytes;
  }

  /** Hands over the next chunk of the stream (kept by reference until scanned). */
  push(chunk: Buffer): void {
    if (chunk.length > 0) this.chunks.push(chunk);
  }

  /** Bytes pushed and not yet scanned, plus the partial line held. */
  get bufferedBytes(): number {
    let n = this.partBytes;
    for (const [i, c] of this.chunks.entries()) n += i === 0 ? c.length - this.offset : c.length;
    return n;
  }

  /** The next line or oversized report, or undefined when more bytes are needed. */
  next(): LineItem | undefined {
    for (;;) {
      const chunk = this.chunks[0];
      if (chunk === undefined) return undefined;
      const nl = chunk.indexOf(NEWLINE, this.offset);
      const end = nl === -1 ? chunk.length : nl;
      const piece = chunk.subarray(this.offset, end);
      if (nl === -1) {
        this.chunks.shift();
        this.offset = 0;
      } else {
        this.offset = nl + 1;
        if (this.offset >= chunk.length) {
          this.chunks.shift();
          this.offset = 0;
        }
      }

      if (this.skipping) {
        if (nl !== -1) this.skipping = false;
        continue;
      }
      if (this.partBytes + piece.length > this.maxLineBytes) {
        const seenBytes = this.partBytes + piece.length;
        this.parts = [];
        this.partBytes = 0;
        this.skipping = nl === -1;
        return { kind: 'oversized', seenBytes };
      }
      if (nl === -1) {
        // A copy, so a partial line never pins the (possibly much larger) chunk it came in.
        this.parts.push(Buffer.from(piece));
        this.partBytes += piece.length;
        continue;
      }
      const whole = this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece]);
      this.parts = [];
      this.partBytes = 0;
      const bytes = whole.length > 0 && whole[whole.length - 1] === CR ? whole.subarray(0, whole.length - 1) : whole;
      return { kind: 'line', bytes };
    }
  }

  /**
   * The stream ended: the unterminated last line, if any (a client that sends one request
   * without a final newline and closes is still answered). Call after next() returned undefined.
   */
  end(): LineItem | undefined {
    const skipping = this.skipping;
    this.skipping = false;
    if (this.partBytes === 0 || skipping) {
      this.parts = [];
      this.partBytes = 0;
      return undefined;
    }
    const whole = Buffer.concat(this.parts);
    this.parts = [];
    this.partBytes = 0;
    const bytes = whole[whole.length - 1] === CR ? whole.subarray(0, whole.length - 1) : whole;
    return { kind: 'line', bytes };
  }
}
