/**
 * The link layer: the one interface every byte transport implements (serial port, TCP socket,
 * in-memory pair; USB HID later). A link only moves bytes. Framing, sessions and retries live
 * above it and never inside a driver, so one framing implementation serves every transport.
 *
 * Shape modelled on serialport's bindings and trezord's buses: a bus lists and opens links of
 * one kind; a link writes bytes, reports chunks as they arrive and reports its end once.
 */
import type { LinkError } from '../protocol/errors.js';
import type { PaceOptions } from './pacer.js';

/** Which transport a link runs over. */
export type LinkKind = 'serial' | 'tcp' | 'hid' | 'memory';

/** What a bus knows about a link before (and after) opening it. */
export interface LinkInfo {
  kind: LinkKind;
  /** What `LinkBus.open` takes: `/dev/ttyUSB0`, `COM3`, `127.0.0.1:4001`, a memory name. */
  path: string;
  /** Human-readable name for lists (USB product string, "connection from ..."). */
  label?: string;
  /** USB vendor id, 4 lowercase hex digits, when the port sits on USB. */
  vendorId?: string;
  /** USB product id, 4 lowercase hex digits. */
  productId?: string;
  serialNumber?: string;
  manufacturer?: string;
}

/**
 * An open byte link. Every method is safe to call in any state: writes on a closed link
 * reject (never throw synchronously), `close` is idempotent, `onClose` fires exactly once.
 */
export interface Link {
  readonly info: LinkInfo;
  /** False from the moment `close` is called or the link fails. */
  readonly isOpen: boolean;
  /**
   * Hands `data` to the transport (after pacing, when the link paces). Writes go out in call
   * order. Resolves when the bytes are handed over; rejects with a LinkError: the link's
   * failure for writes in flight when it fails, `LINK_CLOSED` for writes on a link that has
   * already ended (closed or failed; `detail.endedBy` then names the failure). The link
   * copies or consumes `data` before resolving; the caller may reuse the buffer afterwards.
   */
  write(data: Uint8Array): Promise<void>;
  /**
   * Subscribes to incoming bytes. Chunks are split wherever the transport split them.
   * Chunks that arrive while nobody is subscribed are held (up to {@link HOLD_LIMIT_BYTES})
   * and handed to the first subscriber. Returns the unsubscribe function.
   */
  onData(listener: (chunk: Uint8Array) => void): () => void;
  /**
   * Subscribes to the end of the link. Fires once: with no argument after `close()`, with a
   * LinkError when the link ended any other way (unplug, peer closed, I/O error). Subscribing
   * after the end calls the listener on the next microtask with the same argument.
   */
  onClose(listener: (error?: LinkError) => void): () => void;
  /** Closes the link and releases the port or socket. Idempotent. */
  close(): Promise<void>;
}

/** Options every bus accepts on open. */
export interface LinkOpenOptions {
  /** Pace writes to a UART's line rate (a pty or TCP socket has none of its own). */
  pace?: PaceOptions;
}

/** Lists and opens links of one kind. */
export interface LinkBus<O extends LinkOpenOptions = LinkOpenOptions> {
  readonly kind: LinkKind;
  list(): Promise<LinkInfo[]>;
  open(path: string, options?: O): Promise<Link>;
}

/** Bytes a link holds for a first subscriber before it starts dropping (like a UART overrun). */
export const HOLD_LIMIT_BYTES = 1024 * 1024;
