/**
 * TCP links: a raw byte stream, as ser2net's raw mode offers a serial port on a TCP port
 * (no telnet or RFC 2217 negotiation; the bytes are the UART's bytes). The host connects
 * with {@link TcpLink.connect}; the simulator listens with {@link TcpLinkServer}, one
 * connection at a time like a ser2net port. Nagle is off (TCP_NODELAY): frames are small
 * and latency matters more than packet count; the frames of one tick still leave together
 * (tick-cork.ts).
 */
import net from 'node:net';
import { LinkError } from '../protocol/errors.js';
import { BaseLink, type BaseLinkOptions } from './base-link.js';
import type { LinkBus, LinkInfo, LinkOpenOptions } from './link.js';
import { toLinkError } from './link-errors.js';
import { TickCork } from './tick-cork.js';

/** Options for connecting. */
export interface TcpOpenOptions extends LinkOpenOptions {
  /** Give up connecting after this long (LINK_TIMEOUT). Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Clock and timers for pacing (tests). */
  timer?: BaseLinkOptions['timer'];
}

/** A parsed `host:port`. */
export interface TcpAddress {
  host: string;
  port: number;
}

/** Parses `host:port`, `[v6]:port` or `tcp://host:port`; throws LINK_INVALID_OPTIONS otherwise. */
export function parseTcpAddress(path: string): TcpAddress {
  const m = /^(?:tcp:\/\/)?(?:\[([^\]]+)\]|([^:/\s]+)):(\d{1,5})$/.exec(path.trim());
  const port = m === null ? NaN : Number(m[3]);
  const host = m?.[1] ?? m?.[2];
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new LinkError('LINK_INVALID_OPTIONS', `not a TCP address: "${path}" (expected host:port, e.g. 127.0.0.1:4001)`, { path });
  }
  return { host, port };
}

/** `host:port`, with brackets around IPv6 hosts. */
export function formatTcpAddress({ host, port }: TcpAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** One TCP connection as a link (either end). */
export class TcpLink extends BaseLink {
  private closing = false;
  private readonly cork: TickCork;

  private constructor(
    private readonly socket: net.Socket,
    info: LinkInfo,
    options: BaseLinkOptions,
  ) {
    super(info, options);
    socket.setNoDelay(true);
    this.cork = new TickCork(socket);
    const ctx = { kind: 'tcp' as const, path: info.path };
    socket.on('data', (chunk: Buffer) => {
      this.deliver(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    socket.on('end', () => {
      if (!this.closing) {
        this.fail(new LinkError('LINK_CLOSED', `the other end of ${info.path} closed the connection`, { path: info.path }));
      }
    });
    socket.on('error', (err: Error) => {
      if (!this.closing) this.fail(toLinkError(err, { ...ctx, op: 'read' }));
    });
    socket.on('close', () => {
      if (!this.closing) {
        this.fail(new LinkError('LINK_CLOSED', `the connection ${info.path} closed`, { path: info.path }));
      }
    });
  }

  /**
   * Connects to `host:port`. Rejects with LINK_NOT_FOUND (refused, unknown host, no route),
   * LINK_TIMEOUT, LINK_INVALID_OPTIONS (bad address) or LINK_IO.
   */
  static connect(path: string, options: TcpOpenOptions = {}, info: Partial<LinkInfo> = {}): Promise<TcpLink> {
    let address: TcpAddress;
    try {
      address = parseTcpAddress(path);
    } catch (e) {
      return Promise.reject(e);
    }
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    return new Promise<TcpLink>((resolve, reject) => {
      const socket = net.connect({ host: address.host, port: address.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new LinkError('LINK_TIMEOUT', `connecting to ${path} timed out after ${timeoutMs} ms: check the address and the network`, { path }));
      }, timeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(toLinkError(err, { kind: 'tcp', path, op: 'connect' }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new TcpLink(socket, { ...info, kind: 'tcp', path }, baseOptions(options)));
      });
    });
  }

  /** Wraps an accepted socket (used by {@link TcpLinkServer}). */
  static fromSocket(socket: net.Socket, info: LinkInfo, options: TcpOpenOptions = {}): TcpLink {
    return new TcpLink(socket, info, baseOptions(options));
  }

  /** Ends the link as if the transport failed with `error` (a replaced connection, a test's fault). */
  async drop(error: LinkError): Promise<void> {
    this.fail(error);
    await this.close();
  }

  protected rawWrite(chunk: Uint8Array): Promise<void> {
    this.cork.hold();
    return new Promise<void>((resolve, reject) => {
      this.socket.write(chunk, (err) => {
        if (!err) return resolve();
        const error = toLinkError(err, { kind: 'tcp', path: this.info.path, op: 'write' });
        reject(error);
        this.fail(error);
      });
    });
  }

  protected rawClose(): Promise<void> {
    this.closing = true;
    const socket = this.socket;
    if (socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      // Flush what was written, send FIN, then release the descriptor without waiting for the peer.
      socket.end(() => socket.destroy());
      // A socket that cannot flush (peer gone) must not hold close() forever.
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }
}

function baseOptions(options: TcpOpenOptions): BaseLinkOptions {
  const out: BaseLinkOptions = {};
  if (options.pace !== undefined) out.pace = options.pace;
  if (options.timer !== undefined) out.timer = options.timer;
  return out;
}

/** Options of {@link TcpBus}. */
export interface TcpBusOptions {
  /** Known endpoints (`host:port`, or infos with labels) that `list()` reports. */
  endpoints?: Array<string | (Partial<LinkInfo> & { path: string })>;
}

/**
 * TCP "bus": TCP has no enumeration, so `list()` returns the configured endpoints (without
 * probing them) and `open()` connects to any `host:port`.
 */
export class TcpBus implements LinkBus<TcpOpenOptions> {
  readonly kind = 'tcp' as const;
  private readonly endpoints: LinkInfo[];

  constructor(options: TcpBusOptions = {}) {
    this.endpoints = (options.endpoints ?? []).map((e) =>
      typeof e === 'string' ? { kind: 'tcp' as const, path: e } : { ...e, kind: 'tcp' as const },
    );
    for (const e of this.endpoints) parseTcpAddress(e.path);
  }

  async list(): Promise<LinkInfo[]> {
    return this.endpoints.map((e) => ({ ...e }));
  }

  open(path: string, options?: TcpOpenOptions): Promise<TcpLink> {
    const known = this.endpoints.find((e) => e.path === path);
    const { kind: _kind, path: _path, ...extra } = known ?? { kind: 'tcp', path };
    return TcpLink.connect(path, options, extra);
  }
}

/** What a listening server does with a connection while another one is active. */
export type TcpBusyPolicy = 'refuse' | 'replace';

/** Options of {@link TcpLinkServer.listen}. */
export interface TcpLinkServerOptions {
  /** Default 127.0.0.1: a simulator is not meant to be reachable from the network by default. */
  host?: string;
  /** Default 0: an ephemeral port (read it from `address`). */
  port?: number;
  /**
   * `refuse` (default, as ser2net does): a second client is disconnected at once and the
   * first keeps its link. `replace` (ser2net's "kickolduser"): the old link ends with
   * LINK_CLOSED and the new client takes over.
   */
  whenBusy?: TcpBusyPolicy;
  /** Pacing (and timers) applied to every accepted link. */
  pace?: TcpOpenOptions['pace'];
  timer?: TcpOpenOptions['timer'];
  /** Told about each refused connection (remote `host:port`), for logs. */
  onRefused?: (remote: string) => void;
}

/** Listens like a ser2net port: one client at a time, each connection handed out as a link. */
export class TcpLinkServer {
  private current: TcpLink | undefined;
  private listeners: Array<{ fn: (link: TcpLink) => void }> = [];
  private closed = false;

  private constructor(
    private readonly server: net.Server,
    /** Where the server listens. */
    readonly address: TcpAddress,
    private readonly options: TcpLinkServerOptions,
  ) {
    server.on('connection', (socket) => this.accept(socket));
    // Errors after listening (rare: descriptor exhaustion) must not crash the process.
    server.on('error', () => {});
  }

  /** Starts listening; rejects with LINK_BUSY when the port is taken. */
  static listen(options: TcpLinkServerOptions = {}): Promise<TcpLinkServer> {
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 0;
    return new Promise<TcpLinkServer>((resolve, reject) => {
      const server = net.createServer({ noDelay: true });
      const onError = (err: Error): void => {
        reject(toLinkError(err, { kind: 'tcp', path: formatTcpAddress({ host, port }), op: 'open' }));
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        const bound = server.address() as net.AddressInfo;
        resolve(new TcpLinkServer(server, { host, port: bound.port }, options));
      });
    });
  }

  /** `host:port` a client passes to {@link TcpLink.connect}. */
  get path(): string {
    return formatTcpAddress(this.address);
  }

  /** The connected client's link, if any. */
  get link(): TcpLink | undefined {
    return this.current;
  }

  /** Subscribes to new connections. Returns the unsubscribe function. */
  onLink(listener: (link: TcpLink) => void): () => void {
    const entry = { fn: listener };
    this.listeners.push(entry);
    return () => {
      this.listeners = this.listeners.filter((e) => e !== entry);
    };
  }

  /** Stops listening and closes the current link. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.current?.close();
    this.current = undefined;
    await stopped;
  }

  private accept(socket: net.Socket): void {
    const remote = formatTcpAddress({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 });
    if (this.closed) {
      socket.destroy();
      return;
    }
    const previous = this.current;
    if (previous !== undefined && previous.isOpen) {
      if ((this.options.whenBusy ?? 'refuse') === 'refuse') {
        socket.destroy();
        this.options.onRefused?.(remote);
        return;
      }
      void previous.drop(
        new LinkError('LINK_CLOSED', `${previous.info.path} was replaced by a new connection from ${remote}`, {
          path: previous.info.path,
          replacedBy: remote,
        }),
      );
    }
    const linkOptions: TcpOpenOptions = {};
    if (this.options.pace !== undefined) linkOptions.pace = this.options.pace;
    if (this.options.timer !== undefined) linkOptions.timer = this.options.timer;
    const link = TcpLink.fromSocket(socket, { kind: 'tcp', path: remote, label: `connection from ${remote}` }, linkOptions);
    this.current = link;
    link.onClose(() => {
      if (this.current === link) this.current = undefined;
    });
    for (const entry of this.listeners.slice()) entry.fn(link);
  }
}
