/**
 * InterceptLink: a Link that passes everything through to another link, except that the
 * conformance suite may take the next write away (to alter it, or to send it twice later).
 * The session above never knows: for it the write succeeded.
 */
import type { Link, LinkInfo } from '../../link/link.js';
import type { LinkError } from '../../protocol/errors.js';

/** Wraps `inner`; closing the wrapper closes `inner`. */
export class InterceptLink implements Link {
  private grab: ((data: Uint8Array) => void) | undefined;

  constructor(readonly inner: Link) {}

  get info(): LinkInfo {
    return this.inner.info;
  }

  get isOpen(): boolean {
    return this.inner.isOpen;
  }

  /** The next write is not sent: it resolves with its bytes (a copy). */
  takeNextWrite(): Promise<Uint8Array> {
    return new Promise((resolve) => {
      this.grab = resolve;
    });
  }

  write(data: Uint8Array): Promise<void> {
    const grab = this.grab;
    if (grab !== undefined) {
      this.grab = undefined;
      grab(new Uint8Array(data));
      return Promise.resolve();
    }
    return this.inner.write(data);
  }

  onData(listener: (chunk: Uint8Array) => void): () => void {
    return this.inner.onData(listener);
  }

  onClose(listener: (error?: LinkError) => void): () => void {
    return this.inner.onClose(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
