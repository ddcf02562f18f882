/**
 * The state machine every link shares: listeners, holding data for a late subscriber,
 * write ordering and pacing, and the "ends exactly once" rule. Transports supply only
 * `rawWrite` and `rawClose` and call `deliver` / `fail`.
 */
import { LinkError } from '../protocol/errors.js';
import { HOLD_LIMIT_BYTES, type Link, type LinkInfo } from './link.js';
import { closedError } from './link-errors.js';
import type { PaceOptions } from './pacer.js';
import { WriteQueue, realTimer, type LinkTimer } from './write-queue.js';

/** Options the base class understands. */
export interface BaseLinkOptions {
  pace?: PaceOptions;
  /** Clock and timers for pacing (tests inject a fake). */
  timer?: LinkTimer;
}

type DataListener = (chunk: Uint8Array) => void;
type CloseListener = (error?: LinkError) => void;

/** Common implementation of {@link Link}; see that interface for the contract. */
export abstract class BaseLink implements Link {
  readonly info: LinkInfo;
  private open = true;
  /** Set (synchronously, before any transport code runs) by the first of close() and fail(). */
  private ended: Promise<void> | undefined;
  private endError: LinkError | undefined;
  private endNotified = false;
  // Arrays of wrapper objects, not Sets: the same function may subscribe twice.
  private dataListeners: Array<{ fn: DataListener }> = [];
  private closeListeners: Array<{ fn: CloseListener }> = [];
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  private readonly writer: WriteQueue;

  protected constructor(info: LinkInfo, options: BaseLinkOptions = {}) {
    this.info = Object.freeze({ ...info });
    this.writer = new WriteQueue((chunk) => this.rawWrite(chunk), options.pace, options.timer ?? realTimer);
  }

  /** Hands one chunk (already sliced by pacing) to the transport. */
  protected abstract rawWrite(chunk: Uint8Array): Promise<void>;
  /** Releases the transport. Called once, after `close()` or `fail()`; errors are ignored. */
  protected abstract rawClose(): Promise<void>;

  get isOpen(): boolean {
    return this.open;
  }

  /** True when writes on this link are paced. */
  get paced(): boolean {
    return this.writer.paced;
  }

  write(data: Uint8Array): Promise<void> {
    if (!this.open) return Promise.reject(closedError(this.info.path, this.endError));
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new LinkError('LINK_INVALID_OPTIONS', 'write() takes a Uint8Array'));
    }
    return this.writer.write(data);
  }

  onData(listener: DataListener): () => void {
    const entry = { fn: listener };
    this.dataListeners.push(entry);
    if (this.held.length > 0) {
      const held = this.held;
      this.held = [];
      this.heldBytes = 0;
      for (const chunk of held) this.callData(entry, chunk);
    }
    return () => {
      this.dataListeners = this.dataListeners.filter((e) => e !== entry);
    };
  }

  onClose(listener: CloseListener): () => void {
    const entry = { fn: listener };
    if (this.endNotified) {
      const error = this.endError;
      queueMicrotask(() => listener(error));
      return () => {};
    }
    this.closeListeners.push(entry);
    return () => {
      this.closeListeners = this.closeListeners.filter((e) => e !== entry);
    };
  }

  close(): Promise<void> {
    return this.end(undefined);
  }

  /** Transport side: bytes arrived. */
  protected deliver(chunk: Uint8Array): void {
    if (!this.open || chunk.length === 0) return;
    if (this.dataListeners.length === 0) {
      // Nobody reads yet: hold for the first subscriber; past the limit drop, like a UART overrun.
      if (this.heldBytes + chunk.length <= HOLD_LIMIT_BYTES) {
        this.held.push(chunk);
        this.heldBytes += chunk.length;
      }
      return;
    }
    for (const entry of this.dataListeners.slice()) {
      if (!this.open) return;
      this.callData(entry, chunk);
    }
  }

  /**
   * Transport side: the link ended by itself (unplug, peer closed, I/O error). Pending and
   * later writes reject with `error`; close listeners get it. Ignored after close().
   */
  protected fail(error: LinkError): void {
    void this.end(error);
  }

  /** First caller wins; re-entrant calls (a transport's close failing its peer back) see `ended`. */
  private end(error: LinkError | undefined): Promise<void> {
    if (this.ended !== undefined) return this.ended;
    let done!: () => void;
    this.ended = new Promise<void>((resolve) => (done = resolve));
    this.open = false;
    this.endError = error;
    this.writer.abort(error ?? closedError(this.info.path));
    void this.release(error).then(done);
    return this.ended;
  }

  private async release(error: LinkError | undefined): Promise<void> {
    try {
      await this.rawClose();
    } catch {
      // The transport is going away either way; its close error adds nothing for the caller.
    }
    this.endNotified = true;
    this.dataListeners = [];
    this.held = [];
    const listeners = this.closeListeners;
    this.closeListeners = [];
    let thrown: unknown;
    for (const entry of listeners) {
      try {
        entry.fn(error);
      } catch (e) {
        thrown ??= e;
      }
    }
    // A close listener's bug must surface, but only after every listener was told.
    if (thrown !== undefined) queueMicrotask(() => { throw thrown; });
  }

  private callData(entry: { fn: DataListener }, chunk: Uint8Array): void {
    try {
      entry.fn(chunk);
    } catch (e) {
      // A throwing reader is a bug above us; end the link loudly instead of losing bytes quietly.
      const message = e instanceof Error ? e.message : String(e);
      this.fail(
        new LinkError('LINK_IO', `a data listener on ${this.info.path} threw, so the link was closed: ${message}`, {
          path: this.info.path,
          cause: message,
        }),
      );
    }
  }
}
