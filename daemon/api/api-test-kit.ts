/**
 * Test support for the API: a terminal manager over plain data (the test emits its events),
 * a server on a unique temp socket, and a raw line client that reads exactly what the
 * daemon writes. Used by the API's and the client library's tests only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { TerminalSession } from '../session/terminal-session.js';
import { ApiServer, type ApiServerOptions } from './api-server.js';
import type { ApiTerminalManager, TerminalEvent, TerminalInfo, TerminalState } from './manager-contract.js';

/** A TerminalManager over plain data; the test drives its events. */
export class FakeTerminalManager implements ApiTerminalManager {
  private readonly terminals = new Map<string, TerminalInfo>();
  private readonly sessions = new Map<string, TerminalSession>();
  private readonly listeners = new Set<(e: TerminalEvent) => void>();

  list(): TerminalInfo[] {
    return [...this.terminals.values()].map((t) => ({ ...t }));
  }

  get(id: string): TerminalInfo | undefined {
    const t = this.terminals.get(id);
    return t === undefined ? undefined : { ...t };
  }

  session(id: string): TerminalSession | undefined {
    return this.terminals.get(id)?.state === 'ready' ? this.sessions.get(id) : undefined;
  }

  on(listener: (e: TerminalEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** How many listeners are attached (the server attaches one while started). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Adds a terminal (ready by default, with a stand-in session object) and emits terminal.connected. */
  add(id: string, fields: Partial<TerminalInfo> = {}): TerminalInfo {
    const info: TerminalInfo = {
      id,
      link: 'serial',
      path: `/dev/ttyUSB-${id}`,
      state: 'ready',
      vendor: 'Acme',
      model: 'UC-100',
      serial: `SN-${id}`,
      firmware: '1.0.0',
      trust: 'vendor-root',
      cardPresent: false,
      since: 1_700_000_000_000,
      ...fields,
    };
    this.terminals.set(id, info);
    // The API only hands the session to method handlers; tests check identity, not behaviour.
    this.sessions.set(id, { stand_in_for: id } as unknown as TerminalSession);
    if (info.state === 'ready') this.emit({ kind: 'terminal.connected', terminal: { ...info } });
    return info;
  }

  /** Changes a terminal's state; emits terminal.gone / terminal.connected when it goes / returns. */
  setState(id: string, state: TerminalState, reason?: TerminalInfo['reason']): void {
    const t = this.terminals.get(id);
    if (t === undefined) throw new Error(`no terminal ${id}`);
    const was = t.state;
    t.state = state;
    if (reason === undefined) delete t.reason;
    else t.reason = reason;
    if (state === 'gone' && was !== 'gone') this.emit({ kind: 'terminal.gone', terminal: { ...t }, reason: reason?.code ?? 'unplugged' });
    if (state === 'ready' && was !== 'ready') this.emit({ kind: 'terminal.connected', terminal: { ...t } });
  }

  /** A card goes in. */
  insertCard(id: string, cardId: string): void {
    const t = this.terminals.get(id);
    if (t !== undefined) t.cardPresent = true;
    this.emit({ kind: 'card.inserted', terminalId: id, cardId });
  }

  /** A card comes out. */
  removeCard(id: string, cardId: string): void {
    const t = this.terminals.get(id);
    if (t !== undefined) t.cardPresent = false;
    this.emit({ kind: 'card.removed', terminalId: id, cardId });
  }

  /** Sends any event to the listeners. */
  emit(e: TerminalEvent): void {
    for (const l of [...this.listeners]) l(e);
  }
}

/** Tokens every test server accepts. */
export const TEST_TOKENS = {
  shop: 'tok-shop-0123456789abcdef',
  shop2: 'tok-shop2-0123456789abcdef',
  tech: 'tok-tech-0123456789abcdef',
} as const;

/** Collects pino's JSON lines. */
export class LogCollector {
  readonly lines: string[] = [];
  readonly logger: Logger;

  constructor() {
    const stream = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
        cb();
      },
    });
    this.logger = pino({ level: 'debug' }, stream);
  }

  get text(): string {
    return this.lines.join('\n');
  }
}

/** A running server on a fresh temp socket, with its manager; stop() cleans everything. */
export interface TestServer {
  server: ApiServer;
  manager: FakeTerminalManager;
  socketPath: string;
  dir: string;
  logs: LogCollector;
  stop(): Promise<void>;
}

/** Starts a server on `<fresh temp dir>/api.sock`. */
export async function startTestServer(overrides: Partial<ApiServerOptions> = {}): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'uc-api-'));
  const socketPath = join(dir, 'api.sock');
  const manager = new FakeTerminalManager();
  const logs = new LogCollector();
  const server = new ApiServer({
    socketPath,
    tokens: new Map([
      [TEST_TOKENS.shop, { name: 'bakery-pos', role: 'shop' }],
      [TEST_TOKENS.shop2, { name: 'grocer-pos', role: 'shop' }],
      [TEST_TOKENS.tech, { name: 'technician', role: 'technician' }],
    ]),
    manager,
    logger: logs.logger,
    version: '9.9.9-test',
    ...overrides,
  });
  await server.start();
  return {
    server,
    manager,
    socketPath,
    dir,
    logs,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A JSON-RPC message as received. */
export interface Received {
  jsonrpc?: string;
  id?: string | number | null;
  result?: any;
  error?: { code: number; message: string; data: { code: string; en: string; ar: string; [k: string]: unknown } };
  method?: string;
  params?: any;
}

/** A raw line client: writes bytes, reads lines exactly as sent. */
export class RawClient {
  readonly socket: net.Socket;
  private buffer = '';
  private readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  private closedFlag = false;
  private nextId = 1;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => {
      this.buffer += s;
      let i: number;
      while ((i = this.buffer.indexOf('\n')) !== -1) {
        this.lines.push(this.buffer.slice(0, i));
        this.buffer = this.buffer.slice(i + 1);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closedFlag = true;
      this.wake();
    });
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path);
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** True once the server closed the connection. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Writes raw text (add the newline yourself). */
  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Writes one request; returns its id. */
  send(method: string, params?: unknown, id: string | number | null = this.nextId++): string | number | null {
    const req: Record<string, unknown> = { jsonrpc: '2.0', id, method };
    if (params !== undefined) req.params = params;
    this.write(JSON.stringify(req) + '\n');
    return id;
  }

  /** The next line, parsed; undefined when the connection closed first. */
  async next(): Promise<Received | undefined> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return JSON.parse(line) as Received;
      if (this.closedFlag) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** The next line that is a response (notifications before it are returned in `skipped`). */
  async response(): Promise<Received & { skipped: Received[] }> {
    const skipped: Received[] = [];
    for (;;) {
      const m = await this.next();
      if (m === undefined) throw new Error('connection closed before a response');
      if (m.method === undefined) return { ...m, skipped };
      skipped.push(m);
    }
  }

  /** Sends a request and returns its response. */
  async call(method: string, params?: unknown): Promise<Received & { skipped: Received[] }> {
    const id = this.send(method, params);
    const r = await this.response();
    if (r.id !== id) throw new Error(`response id ${String(r.id)} for request ${String(id)}`);
    return r;
  }

  /** hello with a token; throws if refused. */
  async hello(token: string, client?: string): Promise<Received> {
    const r = await this.call('hello', client === undefined ? { token } : { token, client });
    if (r.error !== undefined) throw new Error(`hello refused: ${r.error.data.code}`);
    return r;
  }

  /** Resolves when the server has closed the connection. */
  async whenClosed(): Promise<void> {
    while (!this.closedFlag) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Closes from this side and waits for the close. */
  async close(): Promise<void> {
    if (this.closedFlag) return;
    this.socket.end();
    await this.whenClosed();
  }
}

/** Connects and says hello. */
export async function helloClient(path: string, token: string = TEST_TOKENS.shop, name?: string): Promise<RawClient> {
  const c = await RawClient.connect(path);
  await c.hello(token, name);
  return c;
}
