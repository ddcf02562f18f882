/**
 * unicardd's local API: JSON-RPC 2.0, one object per line, on a Unix domain socket (mode
 * 0660) or, on Windows, a named pipe (`\\.\pipe\unicard`). See API.md for the protocol.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApiLogger } from './api-logger.js';
import { ApiError, ApiServerError } from './api-errors.js';
import { ApiConnection, terminalView, type ConnectionHost, type ConnectionLimits, type TokenIdentity } from './api-connection.js';
import { API_VERSION, CORE_EVENTS, type HelloResult, type StatusResult } from './api-types.js';
import { ClaimRegistry } from './claim-registry.js';
import { registerCoreMethods } from './core-methods.js';
import { TERMINAL_STATES, type ApiTerminalManager, type TerminalEvent } from './manager-contract.js';
import type { MethodClient } from './method-registry.js';
import { MethodRegistry } from './method-registry.js';

/** The default socket path on Windows (a named pipe). */
export const WINDOWS_PIPE_PATH = '\\\\.\\pipe\\unicard';

/** Defaults of the bounds in {@link ApiServerOptions}. */
export const API_DEFAULTS = {
  maxLineBytes: 64 * 1024,
  maxQueuedRequests: 32,
  maxOutputBytes: 1024 * 1024,
  maxConnections: 256,
  maxAuthFailures: 3,
  helloTimeoutMs: 60_000,
  stopTimeoutMs: 5_000,
  closeGraceMs: 1_000,
} as const;

/** How to build an {@link ApiServer}. */
export interface ApiServerOptions {
  /** Unix socket path, or a Windows named pipe path (`\\.\pipe\name`). */
  socketPath: string;
  /** Token → identity, from the daemon's config. Tokens are compared in constant time. */
  tokens: ReadonlyMap<string, { name: string; role: string }>;
  manager: ApiTerminalManager;
  logger: ApiLogger;
  /** Longest request line (bytes before `\n`); longer lines get LINE_TOO_LONG and are skipped. */
  maxLineBytes?: number;
  /** Requests read but not yet answered, per connection, before reading pauses. */
  maxQueuedRequests?: number;
  /** Unsent output per connection above which reading pauses and events are dropped. */
  maxOutputBytes?: number;
  /** Simultaneous connections; more are refused by closing them at once. */
  maxConnections?: number;
  /** Errors before a successful hello after which the connection is closed. */
  maxAuthFailures?: number;
  /** A connection that has not said hello by then is closed (0: never). */
  helloTimeoutMs?: number;
  /** How long stop() lets running calls finish. */
  stopTimeoutMs?: number;
  /** How long a connection we ended may stay half-open. */
  closeGraceMs?: number;
  /** Reported by hello and status (default: the version in unicard's package.json). */
  version?: string;
  /** Clock (ms since the epoch); tests may pass their own. */
  now?: () => number;
}

/** True for a Windows named pipe path. */
export function isNamedPipePath(path: string): boolean {
  return /^[\\/][\\/][.?][\\/]pipe[\\/]/i.test(path);
}

/** The JSON-RPC server. Construct, register extra methods/events if any, start(), stop(). */
export class ApiServer {
  /** The method table: later issues register their methods here before or after start(). */
  readonly methods = new MethodRegistry();
  /** Who holds which terminal (read by later services to check a caller's claim). */
  readonly claims: ClaimRegistry;
  private readonly options: ApiServerOptions;
  private readonly limits: ConnectionLimits;
  private readonly log: ApiLogger;
  private readonly now: () => number;
  private readonly version: string;
  private readonly tokenHashes: Array<{ hash: Buffer; identity: TokenIdentity }>;
  private readonly events = new Set<string>(CORE_EVENTS);
  private readonly connections = new Set<ApiConnection>();
  private server: net.Server | undefined;
  private unsubscribeManager: (() => void) | undefined;
  private nextConnectionId = 1;
  private startedAt = 0;
  private stoppingFlag = false;
  private stopPromise: Promise<void> | undefined;
  private readonly host: ConnectionHost;

  constructor(options: ApiServerOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'api' });
    this.now = options.now ?? Date.now;
    this.version = options.version ?? packageVersion();
    this.limits = {
      maxLineBytes: positive(options.maxLineBytes, API_DEFAULTS.maxLineBytes, 'maxLineBytes'),
      maxQueuedRequests: positive(options.maxQueuedRequests, API_DEFAULTS.maxQueuedRequests, 'maxQueuedRequests'),
      maxOutputBytes: positive(options.maxOutputBytes, API_DEFAULTS.maxOutputBytes, 'maxOutputBytes'),
      maxAuthFailures: positive(options.maxAuthFailures, API_DEFAULTS.maxAuthFailures, 'maxAuthFailures'),
      helloTimeoutMs: options.helloTimeoutMs ?? API_DEFAULTS.helloTimeoutMs,
      closeGraceMs: options.closeGraceMs ?? API_DEFAULTS.closeGraceMs,
    };
    // Identities are kept by token digest; lookups compare every digest in constant time.
    this.tokenHashes = [...options.tokens].map(([token, id]) => ({
      hash: digest(token),
      identity: { name: id.name, role: id.role },
    }));
    this.claims = new ClaimRegistry({
      now: this.now,
      onChange: (c) =>
        this.log.info(
          c.kind === 'granted'
            ? { terminalId: c.terminalId, client: c.owner.name, conn: c.owner.connectionId, waitedMs: c.waitedMs }
            : { terminalId: c.terminalId, client: c.owner.name, conn: c.owner.connectionId, why: c.why },
          c.kind === 'granted' ? 'terminal claimed' : 'terminal released',
        ),
    });
    registerCoreMethods(this.methods, () => this.status());
    this.host = {
      logger: this.log,
      methods: this.methods,
      claims: this.claims,
      manager: options.manager,
      limits: this.limits,
      now: () => this.now(),
      authenticate: (token) => this.authenticate(token),
      hello: (client) => this.hello(client),
      eventNames: () => [...this.events].sort(),
      stopping: () => this.stoppingFlag,
      closed: (c) => {
        this.connections.delete(c);
      },
    };
  }

  /** Adds an event name clients may subscribe to (e.g. `authorization.progress`). */
  registerEvent(name: string): void {
    if (!/^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)+$/.test(name) || name === 'events.dropped') throw new Error(`bad event name ${name}`);
    this.events.add(name);
  }

  /**
   * Sends an event to every authenticated connection subscribed to it. `params` may be a
   * function of the connection id (for per-connection views such as `claim.mine`).
   */
  publish(event: string, params: object | ((connectionId: number) => object)): void {
    for (const c of this.connections) c.deliver(event, params);
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** The path clients connect to. */
  get socketPath(): string {
    return this.options.socketPath;
  }

  /**
   * Listens. A stale socket file left by a crashed daemon is removed; a live one (another
   * daemon answers on it) fails with SOCKET_IN_USE; a path that is not a socket with
   * SOCKET_PATH_INVALID. The socket is created with mode 0660.
   */
  async start(): Promise<void> {
    if (this.server !== undefined) throw new Error('ApiServer already started');
    const path = this.options.socketPath;
    const pipe = isNamedPipePath(path) || process.platform === 'win32';
    if (!pipe) await prepareSocketPath(path);

    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => this.accept(socket));
    server.maxConnections = positive(this.options.maxConnections, API_DEFAULTS.maxConnections, 'maxConnections');
    server.on('drop', () => this.log.warn({}, 'connection refused: too many connections'));
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        reject(
          e.code === 'EADDRINUSE'
            ? new ApiServerError('SOCKET_IN_USE', `another process listens on ${path}`, { path })
            : new ApiServerError('SOCKET_LISTEN_FAILED', `cannot listen on ${path}: ${e.code ?? e.message}`, { path, errno: e.code }),
        );
      };
      server.once('error', onError);
      // The socket is created by listen(): with this umask it is never, even for a moment,
      // wider than 0660. umask is per process, so it is held only across listen(), which
      // binds synchronously (unicardd starts the API before anything else creates files).
      const oldMask = pipe ? undefined : setUmask(0o117);
      try {
        server.listen(path, () => {
          server.off('error', onError);
          resolve();
        });
      } finally {
        if (oldMask !== undefined) setUmask(oldMask);
      }
    });
    server.on('error', (e) => this.log.error({ err: e }, 'API server error'));
    if (!pipe) await chmod(path, 0o660);
    this.server = server;
    this.startedAt = this.now();
    this.stoppingFlag = false;
    this.stopPromise = undefined;
    this.unsubscribeManager = this.options.manager.on((e) => this.onTerminalEvent(e));
    this.log.info({ path, version: this.version }, 'API listening');
  }

  /**
   * Stops: accepts nothing more, answers calls not yet started with SHUTTING_DOWN, ends
   * waiting claims, lets running calls finish (up to stopTimeoutMs), closes every
   * connection and removes the socket file. Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.stoppingFlag = true;
    this.unsubscribeManager?.();
    this.unsubscribeManager = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    this.claims.rejectAllWaiters(new ApiError('SHUTTING_DOWN'));
    const connections = [...this.connections];
    for (const c of connections) c.beginStop();
    const stopTimeoutMs = this.options.stopTimeoutMs ?? API_DEFAULTS.stopTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      Promise.all(connections.map((c) => c.whenIdle())).then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), stopTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) this.log.warn({ stopTimeoutMs }, 'calls still running at stop: answered SHUTTING_DOWN');
    for (const c of [...this.connections]) c.finish();
    await closed;
    const path = this.options.socketPath;
    if (!(isNamedPipePath(path) || process.platform === 'win32')) {
      // libuv normally unlinks it on close; make sure, and never remove anything but a socket.
      try {
        if ((await lstat(path)).isSocket()) await unlink(path);
      } catch {
        // already gone
      }
    }
    this.server = undefined;
    this.log.info({ path: this.options.socketPath }, 'API stopped');
  }

  private accept(socket: net.Socket): void {
    if (this.stoppingFlag) {
      socket.destroy();
      return;
    }
    const id = this.nextConnectionId++;
    const connection = new ApiConnection(socket, this.host, id);
    this.connections.add(connection);
    this.log.debug({ conn: id }, 'client connected');
  }

  private authenticate(token: string): TokenIdentity | undefined {
    const h = digest(token);
    let found: TokenIdentity | undefined;
    for (const t of this.tokenHashes) {
      // No early exit: every configured token is compared, whatever matches.
      if (timingSafeEqual(h, t.hash)) found ??= t.identity;
    }
    return found;
  }

  private hello(client: MethodClient): HelloResult {
    return {
      server: 'unicardd',
      version: this.version,
      apiVersion: API_VERSION,
      you: { name: client.name, role: client.role, ...(client.client === undefined ? {} : { client: client.client }) },
      methods: ['hello', ...this.methods.namesFor(client.role)],
      events: [...this.events].sort(),
    };
  }

  private status(): StatusResult {
    const terminals = { total: 0, probing: 0, ready: 0, untrusted: 0, gone: 0, error: 0 };
    for (const t of this.options.manager.list()) {
      terminals.total++;
      if (TERMINAL_STATES.includes(t.state)) terminals[t.state]++;
    }
    let authenticated = 0;
    for (const c of this.connections) if (c.who !== undefined) authenticated++;
    const now = this.now();
    return {
      server: 'unicardd',
      version: this.version,
      apiVersion: API_VERSION,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeMs: Math.max(0, now - this.startedAt),
      terminals,
      clients: { connected: this.connections.size, authenticated },
      claims: this.claims.size,
    };
  }

  private onTerminalEvent(e: TerminalEvent): void {
    try {
      const at = this.now();
      switch (e.kind) {
        case 'terminal.connected':
          this.publish(e.kind, (conn) => ({ terminal: terminalView(e.terminal, this.claims, conn), at }));
          break;
        case 'terminal.gone':
          this.publish(e.kind, (conn) => ({ terminal: terminalView(e.terminal, this.claims, conn), reason: e.reason, at }));
          break;
        case 'card.inserted':
        case 'card.removed':
          this.publish(e.kind, { terminalId: e.terminalId, cardId: e.cardId, at });
          break;
      }
    } catch (err) {
      this.log.error({ err }, 'terminal event not published');
    }
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer`);
  return v;
}

function setUmask(mask: number): number | undefined {
  try {
    return process.umask(mask);
  } catch {
    // Worker threads cannot change the umask: the chmod right after listen() still applies.
    return undefined;
  }
}

async function prepareSocketPath(path: string): Promise<void> {
  // sockaddr_un.sun_path holds 108 bytes on Linux (104 on macOS and the BSDs), its NUL included.
  const max = process.platform === 'linux' ? 107 : 103;
  if (Buffer.byteLength(path) > max) {
    throw new ApiServerError('SOCKET_PATH_INVALID', `socket path too long for a Unix socket (max ${max} bytes): ${path}`, { path });
  }
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ApiServerError('SOCKET_LISTEN_FAILED', `cannot inspect ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { path });
  }
  if (!isSocket) throw new ApiServerError('SOCKET_PATH_INVALID', `${path} exists and is not a socket; refusing to replace it`, { path });
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new ApiServerError('SOCKET_IN_USE', `another process answers on ${path} (is unicardd already running?)`, { path });
  await unlink(path).catch(() => undefined);
}

let cachedVersion: string | undefined;

/** unicard's version from its package.json (found by walking up from this file). */
function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'unicard' && typeof pkg.version === 'string') return (cachedVersion = pkg.version);
    } catch {
      // not here
    }
    dir = dirname(dir);
  }
  return (cachedVersion = 'unknown');
}
