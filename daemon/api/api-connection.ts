/**
 * One client connection: lines in, requests run, replies out in request order, events out
 * as notifications. Everything a connection holds is bounded:
 *   - input: one partial line (≤ maxLineBytes) plus the chunk being scanned;
 *   - requests read but not yet answered: ≤ maxQueuedRequests, then the socket is paused
 *     (the client's writes back up in the kernel: a flooding client slows itself down);
 *   - output: reading also pauses while more than maxOutputBytes wait to be sent, and
 *     events are dropped (then counted in one `events.dropped` notification) rather than
 *     queued without bound for a client that does not read.
 * Nothing a client sends can throw out of this class: every failure becomes an error reply.
 */
import type { Socket } from 'node:net';
import type { ApiLogger } from './api-logger.js';
import type { TerminalSession } from '../session/terminal-session.js';
import { ApiError, notClaimed, toApiError, unknownTerminal } from './api-errors.js';
import type { HelloResult, TerminalView } from './api-types.js';
import { describe, type ClaimRegistry } from './claim-registry.js';
import { encodeError, encodeNotification, encodeResult, parseRequestLine, type RpcId } from './json-rpc.js';
import { type LineItem, LineSplitter } from './line-splitter.js';
import type { ApiTerminalManager, TerminalInfo } from './manager-contract.js';
import { roleMayCall, type MethodClient, type MethodContext, type MethodRegistry } from './method-registry.js';
import { ParamReader } from './params.js';
import { TickCork } from '../../link/tick-cork.js';

/** Per-connection bounds. */
export interface ConnectionLimits {
  maxLineBytes: number;
  maxQueuedRequests: number;
  maxOutputBytes: number;
  maxAuthFailures: number;
  helloTimeoutMs: number;
  /** How long a connection we ended may stay half-open before it is destroyed. */
  closeGraceMs: number;
}

/** A configured token's identity. */
export interface TokenIdentity {
  readonly name: string;
  readonly role: string;
}

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly logger: ApiLogger;
  readonly methods: MethodRegistry;
  readonly claims: ClaimRegistry;
  readonly manager: ApiTerminalManager;
  readonly limits: ConnectionLimits;
  now(): number;
  /** The identity of `token`, compared in constant time; undefined when unknown. */
  authenticate(token: string): TokenIdentity | undefined;
  hello(client: MethodClient): HelloResult;
  eventNames(): string[];
  stopping(): boolean;
  closed(connection: ApiConnection): void;
}

type EntryState = 'queued' | 'running' | 'done';

interface Entry {
  /** undefined: a notification (no reply, ever). */
  readonly id: RpcId | undefined;
  readonly exclusive: boolean;
  state: EntryState;
  reply: string | undefined;
  readonly run: (() => Promise<string | undefined>) | undefined;
}

/** Longest token read from hello (longer cannot be a configured token). */
const MAX_TOKEN_LENGTH = 1024;
const MAX_CLIENT_NAME = 128;

/** The terminal as a caller sees it, with its claim. */
export function terminalView(info: TerminalInfo, claims: ClaimRegistry, connectionId: number): TerminalView {
  const owner = claims.holder(info.id);
  // Built field by field, in a fixed order, so nothing the manager keeps internally leaks
  // onto the wire.
  const view = { id: info.id, link: info.link, path: info.path, state: info.state } as TerminalView;
  if (info.vendor !== undefined) view.vendor = info.vendor;
  if (info.model !== undefined) view.model = info.model;
  if (info.serial !== undefined) view.serial = info.serial;
  if (info.firmware !== undefined) view.firmware = info.firmware;
  if (info.trust !== undefined) view.trust = info.trust;
  if (info.reason !== undefined) view.reason = { code: info.reason.code, en: info.reason.en, ar: info.reason.ar };
  view.cardPresent = info.cardPresent;
  view.since = info.since;
  view.claim =
    owner === undefined ? null : { ...describe(owner), mine: owner.connectionId === connectionId, since: claims.heldSince(info.id) ?? 0 };
  return view;
}

/** The error for using a terminal that is not ready, or undefined when it is ready. */
export function terminalStateError(info: TerminalInfo): ApiError | undefined {
  const detail: Record<string, unknown> = { terminalId: info.id, state: info.state };
  if (info.reason !== undefined) detail.reason = info.reason;
  const why = (en: string, ar: string) =>
    info.reason === undefined ? { en, ar } : { en: `${en} (${info.reason.en})`, ar: `${ar} (${info.reason.ar})` };
  switch (info.state) {
    case 'ready':
      return undefined;
    case 'gone':
      return new ApiError('TERMINAL_GONE', {
        ...why(`Terminal ${info.id} is disconnected; check its cable.`, `القارئ ${info.id} غير متصل، تأكد من توصيل الكابل.`),
        detail,
      });
    case 'untrusted':
      return new ApiError('TERMINAL_UNTRUSTED', {
        ...why(`Terminal ${info.id} is not trusted; a technician must check it.`, `القارئ ${info.id} غير معتمد، يجب أن يفحصه فني.`),
        detail,
      });
    case 'probing':
    case 'error':
      return new ApiError('TERMINAL_NOT_READY', {
        ...why(`Terminal ${info.id} is not ready.`, `القارئ ${info.id} غير جاهز.`),
        detail,
      });
  }
}

/** One client connection. Created by the server for each accepted socket. */
export class ApiConnection {
  readonly id: number;
  private readonly socket: Socket;
  /** Replies and notifications of one tick leave in one write (a progress event, then the answer). */
  private readonly cork: TickCork;
  private readonly host: ConnectionHost;
  private readonly log: ApiLogger;
  private readonly splitter: LineSplitter;
  private readonly queue: Entry[] = [];
  private readonly subs = new Set<string>();
  private readonly abort = new AbortController();
  private client: MethodClient | undefined;
  private identity: TokenIdentity | undefined;
  private authFailures = 0;
  private droppedEvents = 0;
  /** The peer sent its last byte (half-close): answer what was read, then end. */
  private inputEnded = false;
  private inputDone = false;
  /** We are ending the connection: read nothing more; end once the replies are out. */
  private closing = false;
  private stopping = false;
  private ended = false;
  private closedFlag = false;
  private paused = false;
  private pumping = false;
  private again = false;
  private helloTimer: ReturnType<typeof setTimeout> | undefined;
  private graceTimer: ReturnType<typeof setTimeout> | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(socket: Socket, host: ConnectionHost, id: number) {
    this.id = id;
    this.socket = socket;
    this.cork = new TickCork(socket);
    this.host = host;
    this.log = host.logger.child({ conn: id });
    this.splitter = new LineSplitter(host.limits.maxLineBytes);

    socket.on('data', (chunk: Buffer) => {
      if (this.closing || this.stopping) return;
      this.splitter.push(chunk);
      this.pump();
    });
    socket.on('end', () => {
      this.inputEnded = true;
      this.pump();
    });
    socket.on('drain', () => this.pump());
    socket.on('error', (e: NodeJS.ErrnoException) => this.log.debug({ err: e.code ?? e.message }, 'client socket error'));
    socket.on('close', () => this.cleanup());

    if (host.limits.helloTimeoutMs > 0) {
      this.helloTimer = setTimeout(() => {
        if (this.client !== undefined) return;
        this.log.info({}, 'no hello in time: closing');
        this.closeAfterFlush();
      }, host.limits.helloTimeoutMs);
      this.helloTimer.unref();
    }
  }

  /** The authenticated identity, if hello succeeded. */
  get who(): MethodClient | undefined {
    return this.client;
  }

  /** The socket closed. */
  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Sends an event if this connection subscribed to it. Never throws. */
  deliver(event: string, params: object | ((connectionId: number) => object)): void {
    if (this.client === undefined || !this.subs.has(event) || this.closing || this.closedFlag || this.ended) return;
    try {
      if (this.socket.writableLength > this.host.limits.maxOutputBytes) {
        this.droppedEvents++;
        return;
      }
      this.write(encodeNotification(event, typeof params === 'function' ? params(this.id) : params));
    } catch (e) {
      this.log.error({ err: e }, 'event delivery failed');
    }
  }

  // ---- stopping (driven by the server) ----

  /** The server is stopping: read nothing more; calls not yet started get SHUTTING_DOWN. */
  beginStop(): void {
    this.stopping = true;
    for (const e of this.queue) {
      if (e.state !== 'queued') continue;
      e.state = 'done';
      e.reply = e.id === undefined ? undefined : encodeError(e.id, new ApiError('SHUTTING_DOWN'));
    }
    this.pump();
  }

  /** Resolves when no call of this connection is running. */
  whenIdle(): Promise<void> {
    if (!this.queue.some((e) => e.state === 'running')) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Ends the connection: calls still running are answered SHUTTING_DOWN and abandoned. */
  finish(): void {
    this.abort.abort();
    for (const e of this.queue) {
      if (e.state === 'done') continue;
      e.state = 'done';
      e.reply = e.id === undefined ? undefined : encodeError(e.id, new ApiError('SHUTTING_DOWN'));
    }
    this.closing = true;
    this.pump();
  }

  // ---- the pump: input → queue → running → replies ----

  private pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        this.readInput();
        this.startEntries();
        this.flushReplies();
      } while (this.again);
      if (this.socket.writableLength <= this.host.limits.maxOutputBytes) this.flushDroppedNotice();
      this.maybeEnd();
      this.updateFlow();
    } catch (e) {
      // Unreachable by design; a bug here must cost this connection only.
      this.log.error({ err: e }, 'connection pump failed: closing this connection');
      this.socket.destroy();
    } finally {
      this.pumping = false;
    }
    if (this.idleWaiters.length > 0 && !this.queue.some((e) => e.state === 'running')) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private readInput(): void {
    while (!this.closing && !this.stopping && this.queue.length < this.host.limits.maxQueuedRequests) {
      const item = this.splitter.next();
      if (item === undefined) break;
      this.accept(item);
      this.again = true;
    }
    // Reaching here with room in the queue means next() said "need more bytes": at the end
    // of input, what is left is an unterminated last line.
    if (this.inputEnded && !this.inputDone && !this.closing && !this.stopping && this.queue.length < this.host.limits.maxQueuedRequests) {
      this.inputDone = true;
      const last = this.splitter.end();
      if (last !== undefined) this.accept(last);
      this.again = true;
    }
  }

  private accept(item: LineItem): void {
    if (item.kind === 'oversized') {
      this.log.debug({ bytes: item.seenBytes }, 'oversized line skipped');
      const error = new ApiError('LINE_TOO_LONG', { detail: { maxLineBytes: this.host.limits.maxLineBytes } });
      this.queue.push(this.errorEntry(null, error));
      return;
    }
    const parsed = parseRequestLine(item.bytes);
    if (parsed.kind === 'blank') return;
    if (parsed.kind === 'invalid') {
      this.log.debug({ code: parsed.error.code }, 'invalid request');
      this.queue.push(this.errorEntry(parsed.id, parsed.error));
      return;
    }
    const { id, method, params } = parsed;
    const concurrent = method !== 'hello' && this.host.methods.get(method)?.concurrent === true;
    const run = method === 'hello' ? () => this.runHello(id, params) : () => this.runMethod(id, method, params);
    this.queue.push({ id, exclusive: !concurrent, state: 'queued', reply: undefined, run });
  }

  /**
   * A bad line's reply, queued like a call so that it counts (as a failure before hello)
   * only when its turn comes: garbage pipelined right after a good hello is not held
   * against the connection as if it came before.
   */
  private errorEntry(id: RpcId, error: ApiError): Entry {
    const run = (): Promise<string | undefined> => {
      this.preAuthFailure();
      return Promise.resolve(encodeError(id, error));
    };
    return { id, exclusive: true, state: 'queued', reply: undefined, run };
  }

  private startEntries(): void {
    let allEarlierDone = true;
    for (const e of this.queue) {
      if (e.state === 'queued' && e.run !== undefined && (allEarlierDone || (!e.exclusive && this.client !== undefined))) {
        e.state = 'running';
        const settle = (reply: string | undefined): void => {
          if (e.state !== 'running') return; // already answered SHUTTING_DOWN by finish(), or closed
          e.state = 'done';
          e.reply = reply;
          this.pump();
        };
        e.run().then(settle, (err: unknown) => {
          this.log.error({ err }, 'call failed outside its handler');
          settle(e.id === undefined ? undefined : encodeError(e.id, new ApiError('INTERNAL_ERROR')));
        });
      }
      if (e.state !== 'done') allEarlierDone = false;
    }
  }

  private flushReplies(): void {
    while (this.queue[0]?.state === 'done') {
      const e = this.queue.shift();
      if (e?.reply !== undefined) this.write(e.reply);
      this.again = true;
    }
  }

  private maybeEnd(): void {
    if (this.ended || this.queue.length > 0) return;
    if (this.closing || (this.inputDone && this.queue.length === 0)) {
      this.ended = true;
      this.socket.end();
      this.graceTimer = setTimeout(() => this.socket.destroy(), this.host.limits.closeGraceMs);
      this.graceTimer.unref();
    }
  }

  private updateFlow(): void {
    const full =
      this.closing ||
      this.stopping ||
      this.queue.length >= this.host.limits.maxQueuedRequests ||
      this.socket.writableLength > this.host.limits.maxOutputBytes;
    if (full && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!full && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private write(line: string): void {
    if (this.ended || this.socket.destroyed || !this.socket.writable) return;
    // Whatever is sent next, the count of events lost before it goes first.
    if (this.droppedEvents > 0) this.flushDroppedNotice();
    this.cork.hold();
    this.socket.write(line + '\n');
  }

  private flushDroppedNotice(): void {
    if (this.droppedEvents === 0) return;
    const count = this.droppedEvents;
    this.droppedEvents = 0;
    this.write(encodeNotification('events.dropped', { count }));
  }

  /** Before hello, every error counts; after maxAuthFailures the connection is closed. */
  private preAuthFailure(): void {
    if (this.client !== undefined) return;
    this.authFailures++;
    if (this.authFailures >= this.host.limits.maxAuthFailures) {
      this.log.warn({ failures: this.authFailures }, 'too many failures before hello: closing');
      this.closeAfterFlush();
    }
  }

  /** Stop reading, drop calls not yet started (silently), end once replies are out. */
  private closeAfterFlush(): void {
    if (this.closing) return;
    this.closing = true;
    // Marked, not spliced: this can run inside startEntries' loop over the queue.
    for (const e of this.queue) {
      if (e.state !== 'queued') continue;
      e.state = 'done';
      e.reply = undefined;
    }
    this.pump();
  }

  private cleanup(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.closing = true;
    clearTimeout(this.helloTimer);
    clearTimeout(this.graceTimer);
    this.abort.abort();
    const released = this.host.claims.dropConnection(this.id, new ApiError('SHUTTING_DOWN'));
    for (const e of this.queue) if (e.state !== 'done') e.state = 'done';
    this.queue.length = 0;
    for (const w of this.idleWaiters.splice(0)) w();
    this.log.info({ client: this.client?.name, released }, 'client disconnected');
    this.host.closed(this);
  }

  // ---- running calls ----

  private async runHello(id: RpcId | undefined, params: Record<string, unknown> | undefined): Promise<string | undefined> {
    try {
      if (this.host.stopping()) throw new ApiError('SHUTTING_DOWN');
      const reader = new ParamReader(params);
      const token = reader.string('token', MAX_TOKEN_LENGTH);
      const clientName = reader.optionalString('client', MAX_CLIENT_NAME);
      reader.done();
      const identity = this.host.authenticate(token);
      if (identity === undefined) {
        this.log.warn({}, 'hello with an unknown token');
        throw new ApiError('BAD_TOKEN');
      }
      if (this.client !== undefined) {
        if (identity !== this.identity) throw new ApiError('ALREADY_AUTHENTICATED');
        return reply(id, this.host.hello(this.client));
      }
      this.identity = identity;
      this.client = {
        connectionId: this.id,
        name: identity.name,
        role: identity.role,
        ...(clientName === undefined ? {} : { client: clientName }),
      };
      clearTimeout(this.helloTimer);
      this.log.info({ client: identity.name, role: identity.role, clientName }, 'client authenticated');
      return reply(id, this.host.hello(this.client));
    } catch (e) {
      this.preAuthFailure();
      return this.failure(id, 'hello', e);
    }
  }

  private async runMethod(id: RpcId | undefined, method: string, params: Record<string, unknown> | undefined): Promise<string | undefined> {
    try {
      if (this.host.stopping()) throw new ApiError('SHUTTING_DOWN');
      const client = this.client;
      if (client === undefined) {
        this.preAuthFailure();
        throw new ApiError('UNAUTHENTICATED');
      }
      const definition = this.host.methods.get(method);
      if (definition === undefined) {
        throw new ApiError('METHOD_NOT_FOUND', {
          en: `Unknown method "${method}".`,
          ar: `العملية "${method}" غير معروفة.`,
          detail: { method },
        });
      }
      if (!roleMayCall(definition, client.role)) {
        throw new ApiError('FORBIDDEN', { detail: { method, role: client.role } });
      }
      const reader = new ParamReader(params);
      const parsed = definition.params(reader);
      reader.done();
      const result = await definition.handler(parsed, this.context(client));
      return reply(id, result);
    } catch (e) {
      return this.failure(id, method, e);
    }
  }

  private failure(id: RpcId | undefined, method: string, e: unknown): string | undefined {
    const error = toApiError(e);
    if (error !== e) this.log.error({ err: e, method }, 'method failed unexpectedly');
    else this.log.debug({ method, code: error.code }, 'method refused');
    return id === undefined ? undefined : encodeError(id, error);
  }

  private context(client: MethodClient): MethodContext {
    const host = this.host;
    const connectionId = this.id;
    const terminal = (terminalId: string): TerminalInfo => {
      const info = host.manager.get(terminalId);
      if (info === undefined) throw unknownTerminal(terminalId);
      return info;
    };
    return {
      client,
      signal: this.abort.signal,
      manager: host.manager,
      claims: host.claims,
      now: () => host.now(),
      terminal,
      view: (info) => terminalView(info, host.claims, connectionId),
      requireClaim: (terminalId): { terminal: TerminalInfo; session: TerminalSession } => {
        const info = terminal(terminalId);
        const owner = host.claims.holder(terminalId);
        if (owner?.connectionId !== connectionId) throw notClaimed(terminalId, owner === undefined ? undefined : describe(owner));
        const stateError = terminalStateError(info);
        if (stateError !== undefined) throw stateError;
        const session = host.manager.session(terminalId);
        if (session === undefined) throw new ApiError('TERMINAL_NOT_READY', { detail: { terminalId, state: info.state } });
        return { terminal: info, session };
      },
      notify: (event, params) => this.deliver(event, params),
      subscriptions: () => [...this.subs].sort(),
      subscribe: (events) => {
        for (const e of events) this.subs.add(e);
      },
      unsubscribe: (events) => {
        if (events === undefined) this.subs.clear();
        else for (const e of events) this.subs.delete(e);
      },
      eventNames: () => host.eventNames(),
      methodNames: () => host.methods.namesFor(client.role),
    };
  }
}

/** A result line; a result that cannot be JSON is an INTERNAL_ERROR, not a crash. */
function reply(id: RpcId | undefined, result: unknown): string | undefined {
  if (id === undefined) return undefined;
  try {
    return encodeResult(id, result);
  } catch {
    return encodeError(id, new ApiError('INTERNAL_ERROR'));
  }
}
