/**
 * In-memory links for tests of the simulator and the daemon: a connected pair, optionally
 * splitting every write into random-sized chunks (seeded, so a failing test replays), and a
 * bus that lists and opens simulated devices by name.
 */
import { LinkError } from '../protocol/errors.js';
import { BaseLink } from './base-link.js';
import type { Link, LinkBus, LinkInfo, LinkOpenOptions } from './link.js';

/** How a memory link cuts writes into chunks on the way to its peer. */
export interface MemoryChunking {
  /** Seed of the chunk-size generator (same seed, same cuts). */
  seed: number;
  /** Smallest chunk, default 1. */
  minChunk?: number;
  /** Largest chunk, default 64. */
  maxChunk?: number;
}

/** Options of {@link createMemoryLinkPair}. */
export interface MemoryLinkPairOptions {
  /** Split writes into random-sized chunks; without it each write arrives as one chunk. */
  chunking?: MemoryChunking;
  /** Paths reported in `info` of the two ends (defaults `memory:a` / `memory:b`). */
  paths?: [string, string];
  /** Extra `info` fields for each end (label, vendorId...). */
  info?: [Partial<LinkInfo>, Partial<LinkInfo>];
}

interface Pending {
  chunk: Uint8Array;
  /** Set on the last chunk of a write: resolves that write. */
  last?: { resolve: () => void; reject: (e: LinkError) => void };
}

/**
 * One end of an in-memory pair. Bytes written here arrive at the peer in order, each chunk in
 * its own macrotask. A write resolves once all of its bytes were delivered to the peer.
 */
export class MemoryLink extends BaseLink {
  private peer: MemoryLink | undefined;
  private readonly outbox: Pending[] = [];
  private pumping = false;
  private readonly nextChunkSize: (() => number) | undefined;

  /** Use {@link createMemoryLinkPair}; ends are only useful in pairs. */
  constructor(info: LinkInfo, chunking?: MemoryChunking) {
    super(info);
    this.nextChunkSize = chunking === undefined ? undefined : chunkSizer(chunking);
  }

  /** Connects two fresh ends. */
  static connect(a: MemoryLink, b: MemoryLink): void {
    a.peer = b;
    b.peer = a;
  }

  /**
   * Simulates pulling the cable: both ends end at once with `LINK_IO` (or `error`), bytes not
   * yet delivered are lost and their writes reject.
   */
  unplug(error?: LinkError): void {
    const e = error ?? new LinkError('LINK_IO', `${this.info.path} was unplugged`, { path: this.info.path });
    const peer = this.peer;
    // Detach first, so neither end reports the other's end as a clean "peer closed".
    this.peer = undefined;
    if (peer !== undefined) peer.peer = undefined;
    this.fail(e);
    peer?.fail(e);
  }

  protected rawWrite(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return Promise.resolve();
    // Copy: the caller may reuse its buffer once the write resolved, the peer may keep chunks.
    const copy = chunk.slice();
    return new Promise<void>((resolve, reject) => {
      const sizes = this.nextChunkSize;
      let offset = 0;
      while (offset < copy.length) {
        const size = sizes === undefined ? copy.length : Math.min(sizes(), copy.length - offset);
        const part = copy.subarray(offset, offset + size);
        offset += size;
        this.outbox.push(offset >= copy.length ? { chunk: part, last: { resolve, reject } } : { chunk: part });
      }
      this.schedulePump();
    });
  }

  protected async rawClose(): Promise<void> {
    const lost = this.outbox.splice(0);
    for (const p of lost) p.last?.reject(new LinkError('LINK_CLOSED', `${this.info.path} closed before the bytes were delivered`));
    const peer = this.peer;
    this.peer = undefined;
    if (peer !== undefined) peer.peer = undefined;
    // Our close is the peer's unexpected end (it did not ask for it).
    peer?.fail(new LinkError('LINK_CLOSED', `the other end of ${peer.info.path} closed the link`, { path: peer.info.path }));
  }

  private schedulePump(): void {
    if (this.pumping) return;
    this.pumping = true;
    setImmediate(() => this.pumpOne());
  }

  private pumpOne(): void {
    const item = this.outbox.shift();
    if (item === undefined || this.peer === undefined || !this.isOpen) {
      this.pumping = false;
      return;
    }
    this.peer.receive(item.chunk);
    item.last?.resolve();
    if (this.outbox.length === 0) {
      this.pumping = false;
      return;
    }
    setImmediate(() => this.pumpOne());
  }

  private receive(chunk: Uint8Array): void {
    this.deliver(chunk);
  }
}

/**
 * Two connected in-memory links. Closing one end cleanly ends the other with `LINK_CLOSED`
 * (from its point of view the device went away); `unplug()` ends both with `LINK_IO`.
 */
export function createMemoryLinkPair(options: MemoryLinkPairOptions = {}): [MemoryLink, MemoryLink] {
  const [pathA, pathB] = options.paths ?? ['memory:a', 'memory:b'];
  const [infoA, infoB] = options.info ?? [{}, {}];
  const a = new MemoryLink({ ...infoA, kind: 'memory', path: pathA }, options.chunking);
  const b = new MemoryLink({ ...infoB, kind: 'memory', path: pathB }, options.chunking);
  MemoryLink.connect(a, b);
  return [a, b];
}

/** Mulberry32: tiny, fast, good enough to pick chunk sizes; seeded so cuts replay. */
function chunkSizer({ seed, minChunk = 1, maxChunk = 64 }: MemoryChunking): () => number {
  if (!(Number.isInteger(minChunk) && Number.isInteger(maxChunk) && minChunk >= 1 && maxChunk >= minChunk)) {
    throw new LinkError('LINK_INVALID_OPTIONS', `chunking: need integers 1 <= minChunk <= maxChunk (got ${minChunk}, ${maxChunk})`);
  }
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return minChunk + Math.floor(r * (maxChunk - minChunk + 1));
  };
}

/** A simulated device on a {@link MemoryBus}. */
export interface MemoryDevice {
  /** Extra fields for the listed info (label, vendorId...). */
  info?: Partial<LinkInfo>;
  /** Called with the device's end each time a host opens the path. */
  onOpen(deviceEnd: Link): void;
  /** Chunking of the pairs created for this device. */
  chunking?: MemoryChunking;
}

/**
 * A bus of simulated devices, for discovery and hotplug tests: `plug` a device under a path,
 * the host `list`s and `open`s it like a serial port (one host at a time: a second open is
 * `LINK_BUSY`), `unplug` ends the open pair with `LINK_IO` and removes it from the list.
 */
export class MemoryBus implements LinkBus {
  readonly kind = 'memory' as const;
  private readonly devices = new Map<string, { device: MemoryDevice; open?: [MemoryLink, MemoryLink] }>();

  /** Adds a device under `path` (replacing nothing: a used path is LINK_BUSY). */
  plug(path: string, device: MemoryDevice): void {
    if (this.devices.has(path)) throw new LinkError('LINK_BUSY', `a memory device is already plugged in at ${path}`, { path });
    this.devices.set(path, { device });
  }

  /** Removes the device at `path`; an open link to it ends with LINK_IO. */
  unplug(path: string): void {
    const entry = this.devices.get(path);
    if (entry === undefined) return;
    this.devices.delete(path);
    entry.open?.[0].unplug();
  }

  async list(): Promise<LinkInfo[]> {
    return [...this.devices.entries()].map(([path, { device }]) => ({ ...device.info, kind: 'memory' as const, path }));
  }

  async open(path: string, _options?: LinkOpenOptions): Promise<Link> {
    const entry = this.devices.get(path);
    if (entry === undefined) throw new LinkError('LINK_NOT_FOUND', `no memory device at ${path}`, { path });
    if (entry.open !== undefined && entry.open[0].isOpen) {
      throw new LinkError('LINK_BUSY', `${path} is already open`, { path });
    }
    const pairOptions: MemoryLinkPairOptions = {
      paths: [path, `${path} (device end)`],
      info: [entry.device.info ?? {}, entry.device.info ?? {}],
    };
    if (entry.device.chunking !== undefined) pairOptions.chunking = entry.device.chunking;
    const pair = createMemoryLinkPair(pairOptions);
    entry.open = pair;
    entry.device.onOpen(pair[1]);
    return pair[0];
  }
}
