/**
 * A small TypeScript client for unicardd's local API, for shop software written in
 * TypeScript or JavaScript. (Other languages speak the same JSON-RPC lines: see API.md.)
 *
 * @example
 * ```ts
 * const client = await UnicardClient.connect('/run/unicard/unicard.sock', { token, name: 'bakery-pos' });
 * client.on('card.inserted', (e) => console.log('card in', e.terminalId));
 * await client.subscribe(['card.inserted', 'card.removed']);
 * const [terminal] = await client.listTerminals();
 * await client.claim(terminal.id, { waitMs: 5000 });
 * // ... later issues: await client.call('authorize', { ... })
 * await client.close();
 * ```
 */
import net from 'node:net';
import { UnicardError } from '../../protocol/errors.js';
import type { ApiErrorCode } from '../api/api-errors.js';
import type {
  ClaimResult,
  CoreEventParams,
  EventsDroppedParams,
  HelloResult,
  ReleaseResult,
  StatusResult,
  SubscriptionResult,
  TerminalView,
  TerminalsListResult,
} from '../api/api-types.js';
import { LineSplitter } from '../api/line-splitter.js';

/** Codes the client itself raises (the others come from the daemon, see API.md). */
export type ClientSideErrorCode = 'CONNECT_FAILED' | 'CONNECTION_CLOSED' | 'CLIENT_TIMEOUT' | 'BAD_REPLY';

/** Every code an {@link ApiClientError} can carry. */
export type ApiClientErrorCode = ApiErrorCode | ClientSideErrorCode;

const CLIENT_MESSAGES: Record<ClientSideErrorCode, { en: string; ar: string }> = {
  CONNECT_FAILED: {
    en: 'Cannot reach the unicard service; is it running?',
    ar: 'تعذر الاتصال بخدمة الكارت الموحد، تأكد أنها تعمل.',
  },
  CONNECTION_CLOSED: {
    en: 'The connection to the unicard service was closed.',
    ar: 'انقطع الاتصال بخدمة الكارت الموحد.',
  },
  CLIENT_TIMEOUT: {
    en: 'The unicard service did not answer in time.',
    ar: 'خدمة الكارت الموحد لم ترد في الوقت المحدد.',
  },
  BAD_REPLY: {
    en: 'The unicard service sent a reply this program cannot read.',
    ar: 'رد خدمة الكارت الموحد غير مفهوم لهذا البرنامج.',
  },
};

/**
 * An error from the daemon (its stable `code`, `en`, `ar` and JSON-RPC `rpcCode`) or from
 * the client itself (CONNECT_FAILED, CONNECTION_CLOSED, CLIENT_TIMEOUT, BAD_REPLY). Show
 * `ar` (or `en`) to the shop assistant; switch on `code` in code.
 */
export class ApiClientError extends UnicardError {
  declare readonly code: ApiClientErrorCode;
  /** The JSON-RPC error code (undefined for client-side errors). */
  readonly rpcCode: number | undefined;
  /** English message. */
  readonly en: string;
  /** Arabic message. */
  readonly ar: string;
  /** The error's `data` from the daemon: code, en, ar and detail fields (`field`, `holder`, ...). */
  readonly data: Readonly<Record<string, unknown>>;

  constructor(code: ApiClientErrorCode, en: string, ar: string, rpcCode?: number, data: Record<string, unknown> = {}) {
    super(code, en, data);
    this.rpcCode = rpcCode;
    this.en = en;
    this.ar = ar;
    this.data = data;
  }

  /** A client-side error. */
  static local(code: ClientSideErrorCode, detail: Record<string, unknown> = {}): ApiClientError {
    const m = CLIENT_MESSAGES[code];
    return new ApiClientError(code, m.en, m.ar, undefined, { code, en: m.en, ar: m.ar, ...detail });
  }
}

/** Options of {@link UnicardClient.connect}. */
export interface UnicardClientOptions {
  /** The client's token, from the daemon's config. */
  token: string;
  /** A name for this program in the daemon's logs and in TERMINAL_BUSY messages (e.g. `bakery-pos 2.1`). */
  name?: string;
  /** Default time limit of a call, in ms (10 s). Claims add their `waitMs`. */
  timeoutMs?: number;
  /** Time limit for connecting and hello, in ms (5 s). */
  connectTimeoutMs?: number;
  /** Longest reply line accepted, in bytes (16 MiB). */
  maxLineBytes?: number;
}

/** Options of one call. */
export interface CallOptions {
  /** Time limit of this call, in ms (default: the client's `timeoutMs`). */
  timeoutMs?: number;
}

/** A listener for every event notification. */
export type AnyEventListener = (event: string, params: unknown) => void;

interface Pending {
  readonly method: string;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: ApiClientError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

/** A connection to unicardd. Create with {@link UnicardClient.connect}. */
export class UnicardClient {
  /** What the daemon said to hello: its version, your identity, methods and events. */
  readonly server: HelloResult;
  private readonly core: ClientCore;

  private constructor(core: ClientCore, server: HelloResult) {
    this.core = core;
    this.server = server;
  }

  /**
   * Connects to the daemon at `socketPath` (a Unix socket path, or `\\.\pipe\unicard` on
   * Windows) and says hello with `token`. Rejects with an {@link ApiClientError}:
   * CONNECT_FAILED, BAD_TOKEN, CLIENT_TIMEOUT, ...
   */
  static async connect(socketPath: string, options: UnicardClientOptions): Promise<UnicardClient> {
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.createConnection(socketPath);
      const timer = setTimeout(() => {
        s.destroy();
        reject(ApiClientError.local('CONNECT_FAILED', { path: socketPath, reason: 'timeout' }));
      }, connectTimeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(ApiClientError.local('CONNECT_FAILED', { path: socketPath, reason: e.code ?? e.message }));
      });
    });
    const core = new ClientCore(socket, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    try {
      const params: Record<string, unknown> = { token: options.token };
      if (options.name !== undefined) params.client = options.name;
      const hello = (await core.call('hello', params, connectTimeoutMs)) as HelloResult;
      return new UnicardClient(core, hello);
    } catch (e) {
      socket.destroy();
      throw e;
    }
  }

  /** True once the connection is closed (by close(), the daemon, or an error). */
  get closed(): boolean {
    return this.core.closedError !== undefined;
  }

  /**
   * Calls any method (e.g. `authorize` from later API versions) with named params. Resolves
   * with the result; rejects with an {@link ApiClientError}.
   */
  call<R = unknown>(method: string, params?: Record<string, unknown>, options: CallOptions = {}): Promise<R> {
    return this.core.call(method, params, options.timeoutMs ?? this.core.timeoutMs) as Promise<R>;
  }

  /** Health: version, uptime, terminals by state, connected clients. */
  status(options?: CallOptions): Promise<StatusResult> {
    return this.call<StatusResult>('status', undefined, options);
  }

  /** Every terminal the daemon knows, with its state and who holds it. */
  async listTerminals(options?: CallOptions): Promise<TerminalView[]> {
    return (await this.call<TerminalsListResult>('terminals.list', undefined, options)).terminals;
  }

  /**
   * Claims a terminal for this connection. With `waitMs`, waits up to that long (in line
   * behind other waiting clients) for the holder to release it; otherwise, or when the wait
   * runs out, rejects with TERMINAL_BUSY (`data.holder` names the holder).
   */
  claim(terminalId: string, options: { waitMs?: number } & CallOptions = {}): Promise<ClaimResult> {
    const params: Record<string, unknown> = { terminalId };
    if (options.waitMs !== undefined) params.waitMs = options.waitMs;
    const timeoutMs = (options.timeoutMs ?? this.core.timeoutMs) + (options.waitMs ?? 0);
    return this.call<ClaimResult>('terminals.claim', params, { timeoutMs });
  }

  /** Releases a terminal this connection holds (`released: false` when it held none). */
  release(terminalId: string, options?: CallOptions): Promise<ReleaseResult> {
    return this.call<ReleaseResult>('terminals.release', { terminalId }, options);
  }

  /**
   * Subscribes to events (`terminal.connected`, `terminal.gone`, `card.inserted`,
   * `card.removed`, ...); `listener`, when given, is added with {@link onEvent}. Resolves
   * with all current subscriptions.
   */
  async subscribe(events: readonly string[], listener?: AnyEventListener): Promise<string[]> {
    if (listener !== undefined) this.onEvent(listener);
    return (await this.call<SubscriptionResult>('subscribe', { events: [...events] })).events;
  }

  /** Unsubscribes from `events` (all when omitted). Resolves with what remains. */
  async unsubscribe(events?: readonly string[]): Promise<string[]> {
    return (await this.call<SubscriptionResult>('unsubscribe', events === undefined ? {} : { events: [...events] })).events;
  }

  /** Listens to every event notification; returns the function that stops listening. */
  onEvent(listener: AnyEventListener): () => void {
    this.core.listeners.add(listener);
    return () => this.core.listeners.delete(listener);
  }

  /** Listens to one core event (typed params); returns the function that stops listening. */
  on<E extends keyof CoreEventParams>(event: E, listener: (params: CoreEventParams[E]) => void): () => void;
  /** `events.dropped`: this client read too slowly and missed `count` events. */
  on(event: 'events.dropped', listener: (params: EventsDroppedParams) => void): () => void;
  on(event: string, listener: (params: never) => void): () => void {
    return this.onEvent((name, params) => {
      if (name === event) (listener as (p: unknown) => void)(params);
    });
  }

  /** Called once when the connection closes, for whatever reason. */
  onClose(listener: (error: ApiClientError) => void): () => void {
    const closed = this.core.closedError;
    if (closed !== undefined) {
      listener(closed);
      return () => undefined;
    }
    this.core.closeListeners.add(listener);
    return () => this.core.closeListeners.delete(listener);
  }

  /**
   * Closes the connection (the daemon releases this connection's claims). Calls still
   * waiting reject with CONNECTION_CLOSED.
   */
  close(): Promise<void> {
    return this.core.close();
  }
}

/** The connection machinery, shared by connect() (for hello) and the client. */
class ClientCore {
  readonly timeoutMs: number;
  readonly pending = new Map<number, Pending>();
  readonly listeners = new Set<AnyEventListener>();
  readonly closeListeners = new Set<(error: ApiClientError) => void>();
  closedError: ApiClientError | undefined;
  private readonly socket: net.Socket;
  private readonly splitter: LineSplitter;
  private nextId = 1;

  constructor(socket: net.Socket, timeoutMs: number, maxLineBytes: number) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.splitter = new LineSplitter(maxLineBytes);
    socket.on('data', (chunk: Buffer) => {
      this.splitter.push(chunk);
      for (let item = this.splitter.next(); item !== undefined; item = this.splitter.next()) {
        if (item.kind === 'oversized') {
          this.fail(ApiClientError.local('BAD_REPLY', { reason: 'reply line too long' }));
          return;
        }
        this.onLine(item.bytes.toString('utf8'));
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => this.fail(ApiClientError.local('CONNECTION_CLOSED', { reason: e.code ?? e.message })));
    socket.on('end', () => socket.end());
    socket.on('close', () => this.fail(ApiClientError.local('CONNECTION_CLOSED')));
  }

  call(method: string, params: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const request: Record<string, unknown> = { jsonrpc: '2.0', id, method };
    if (params !== undefined) request.params = params;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The daemon may still answer; that late reply is ignored (its id is forgotten).
        this.pending.delete(id);
        reject(ApiClientError.local('CLIENT_TIMEOUT', { method, timeoutMs }));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.socket.write(JSON.stringify(request) + '\n');
    });
  }

  close(): Promise<void> {
    const socket = this.socket;
    if (socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // The daemon answers our end with its own; a daemon that does not is cut off.
      const timer = setTimeout(() => socket.destroy(), 1_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  private onLine(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.fail(ApiClientError.local('BAD_REPLY', { reason: 'not JSON' }));
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (typeof m.method === 'string' && m.id === undefined) {
      for (const l of [...this.listeners]) {
        try {
          l(m.method, m.params);
        } catch {
          // A listener's bug must not break the connection.
        }
      }
      return;
    }
    if (typeof m.id !== 'number') return; // id null: an error about a line we did not send
    const p = this.pending.get(m.id);
    if (p === undefined) return; // a late reply to a call that timed out
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error !== undefined) p.reject(fromWire(m.error));
    else p.resolve(m.result);
  }

  private fail(error: ApiClientError): void {
    this.closedError ??= error;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(error);
    }
    if (!this.socket.destroyed) this.socket.destroy();
    for (const l of [...this.closeListeners]) {
      this.closeListeners.delete(l);
      try {
        l(error);
      } catch {
        // ignore
      }
    }
  }
}

function fromWire(error: unknown): ApiClientError {
  if (typeof error !== 'object' || error === null) return ApiClientError.local('BAD_REPLY', { reason: 'malformed error' });
  const e = error as { code?: unknown; message?: unknown; data?: unknown };
  const data = typeof e.data === 'object' && e.data !== null ? (e.data as Record<string, unknown>) : {};
  const code = typeof data.code === 'string' ? data.code : 'INTERNAL_ERROR';
  const en = typeof data.en === 'string' ? data.en : typeof e.message === 'string' ? e.message : code;
  const ar = typeof data.ar === 'string' ? data.ar : en;
  return new ApiClientError(code as ApiClientErrorCode, en, ar, typeof e.code === 'number' ? e.code : undefined, data);
}
