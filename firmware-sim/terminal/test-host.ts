/**
 * A minimal host for tests of the terminal (unit tests in memory, e2e tests over a pty or TCP):
 * MessageChannel + HostHandshake on a link, request ids, and a record of everything received.
 * It is deliberately not the daemon's TerminalSession: it has no retries or policy of its own,
 * so a test can send exactly the bytes it means (duplicates, clear packets, garbage) and see
 * exactly what the terminal answers.
 */
import { randomBytes } from 'node:crypto';
import { HostHandshake, type HostSession } from '../../protocol/crypto/handshake.js';
import { NodeEd25519, type Ed25519 } from '../../protocol/crypto/ed25519.js';
import type { UnicardError } from '../../protocol/errors.js';
import { MessageChannel, StreamPacketCodec } from '../../protocol/message-channel.js';
import type { Message } from '../../protocol/messages.js';
import type { Link } from '../../link/link.js';
import { BANNER_PREFIX } from './banner.js';

/** A message without its id (the host assigns one). */
export type Outgoing = Message extends infer M ? (M extends Message ? Omit<M, 'id'> & { id?: number } : never) : never;

export interface TestHostOptions {
  ed?: Ed25519;
  /** First request id (default a random one, as the reference host does). */
  firstId?: number;
  /** Give up waiting after this long (default 10 s); only ever ends a test that failed anyway. */
  timeoutMs?: number;
  /** Reassemble segmented packets (it never cuts, and never NAKs: it has no timers). */
  segments?: boolean;
}

interface Waiter {
  readonly from: number;
  readonly pred: (m: Message) => boolean;
  readonly resolve: (m: Message) => void;
}

/** See the module comment. */
export class TestHost {
  readonly channel: MessageChannel;
  /** Every message received, in order. */
  readonly messages: Message[] = [];
  /** Every framing, session or codec error the host's channel reported. */
  readonly errors: UnicardError[] = [];
  /** Sealed state of each received message (same index as {@link messages}). */
  readonly sealed: boolean[] = [];
  private rawBytes: number[] = [];
  private waiters: Waiter[] = [];
  private conditions: { cond: () => boolean; resolve: () => void }[] = [];
  private nextId: number;
  private readonly ed: Ed25519;
  private readonly timeoutMs: number;
  private readonly off: () => void;
  session: HostSession | undefined;

  constructor(
    readonly link: Link,
    options: TestHostOptions = {},
  ) {
    this.channel = new MessageChannel({
      codec: new StreamPacketCodec(),
      ...(options.segments === true ? { segmentation: { mode: 'never' as const, now: () => 0 } } : {}),
    });
    this.ed = options.ed ?? new NodeEd25519();
    this.nextId = options.firstId ?? 1 + (randomBytes(4).readUInt32BE(0) % 0x7fff_0000);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.off = link.onData((chunk) => this.receive(chunk));
  }

  /** Everything received as Latin-1 text (first 64 KiB): where the banner line shows up. */
  get rawText(): string {
    return Buffer.from(this.rawBytes).toString('latin1');
  }

  /** Number of banner lines seen so far. */
  bannerCount(): number {
    return this.rawText.split(BANNER_PREFIX).length - 1;
  }

  /** The last banner line received (without `\r\n`), if any. */
  banner(): string | undefined {
    const lines = this.rawText.match(/UNICARD-TERMINAL [^\r\n\0]*\r\n/g);
    return lines?.[lines.length - 1]?.replace(/\r\n$/, '');
  }

  /** Waits until `count` banners have arrived. */
  async waitForBanner(count = 1): Promise<string> {
    await this.until(() => this.bannerCount() >= count, `banner #${count}`);
    return this.banner()!;
  }

  /** A fresh request id. */
  id(): number {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_fffe ? 1 : this.nextId + 1;
    return id;
  }

  /** Sends a message as it is (sealed when a session exists, unless `clear`). */
  send(message: Message, options: { clear?: boolean } = {}): void {
    for (const unit of this.channel.send(message, options)) void this.link.write(unit).catch(() => {});
  }

  /** Sends raw bytes (garbage, hand-made frames). */
  sendRaw(bytes: Uint8Array): void {
    void this.link.write(bytes).catch(() => {});
  }

  /** Index the next received message will have (for {@link waitFor}'s `from`). */
  get mark(): number {
    return this.messages.length;
  }

  /**
   * Sends a request (assigning an id unless given) and waits for its final answer: the first
   * message with its id that is not a Keepalive.
   */
  async request(message: Outgoing, options: { clear?: boolean } = {}): Promise<Message> {
    const id = message.id ?? this.id();
    const full = { ...message, id } as Message;
    const from = this.mark;
    this.send(full, options);
    return this.waitFor((m) => m.id === id && m.type !== 'Keepalive', from, `answer to ${full.type} ${id}`);
  }

  /** Like {@link request}, but fails unless the answer has type `type`; returns it typed. */
  async expect<T extends Message['type']>(type: T, message: Outgoing, options: { clear?: boolean } = {}): Promise<Extract<Message, { type: T }>> {
    const answer = await this.request(message, options);
    if (answer.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(describe(answer))}`);
    return answer as Extract<Message, { type: T }>;
  }

  /** First message at index ≥ `from` matching `pred` (waiting for it if needed). */
  waitFor(pred: (m: Message) => boolean, from = 0, what = 'message'): Promise<Message> {
    for (let i = from; i < this.messages.length; i++) if (pred(this.messages[i]!)) return Promise.resolve(this.messages[i]!);
    return new Promise<Message>((resolve, reject) => {
      const waiter: Waiter = { from, pred, resolve: (m) => (clearTimeout(timer), resolve(m)) };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; received: ${this.messages.slice(from).map((m) => m.type).join(', ') || 'nothing'}`));
      }, this.timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Waits until `cond` holds (checked on every received chunk). */
  until(cond: () => boolean, what = 'condition'): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const entry = { cond, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.conditions = this.conditions.filter((c) => c !== entry);
        reject(new Error(`timed out waiting for ${what}`));
      }, this.timeoutMs);
      this.conditions.push(entry);
    });
  }

  /** Keepalives received for request `id`. */
  keepalives(id: number): Extract<Message, { type: 'Keepalive' }>[] {
    return this.messages.filter((m): m is Extract<Message, { type: 'Keepalive' }> => m.type === 'Keepalive' && m.id === id);
  }

  /** Runs the handshake in clear and installs the session; `hostCapabilities` goes in the Handshake when given. */
  async handshake(options: { hostCapabilities?: number } = {}): Promise<HostSession> {
    const hs = new HostHandshake({ ed: this.ed, randomBytes: (n) => new Uint8Array(randomBytes(n)) });
    const offer = options.hostCapabilities === undefined ? {} : { hostCapabilities: options.hostCapabilities };
    const reply = await this.expect('HandshakeResult', { type: 'Handshake', hostEphemeralKey: hs.hello.hostEphemeral, hostNonce: hs.hello.hostNonce, ...offer }, { clear: true });
    const session = hs.finish({ terminalEphemeral: reply.terminalEphemeralKey, deviceCertificate: reply.deviceCertificate, signature: reply.signature });
    this.channel.setSession(session.channel);
    this.session = session;
    return session;
  }

  /** Stops listening (the link is the caller's). */
  close(): void {
    this.off();
  }

  private receive(chunk: Uint8Array): void {
    if (this.rawBytes.length < 65_536) this.rawBytes.push(...chunk.subarray(0, 65_536 - this.rawBytes.length));
    for (const ev of this.channel.receive(chunk)) {
      if (ev.kind === 'error') {
        this.errors.push(ev.error);
        continue;
      }
      // A segment that completed nothing yet (this host answers no NAKs: it never cuts).
      if (ev.kind === 'link') continue;
      this.messages.push(ev.message);
      this.sealed.push(ev.sealed);
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      let hit: Message | undefined;
      for (let i = w.from; i < this.messages.length && hit === undefined; i++) if (w.pred(this.messages[i]!)) hit = this.messages[i];
      if (hit !== undefined) w.resolve(hit);
      else this.waiters.push(w);
    }
    const conditions = this.conditions;
    this.conditions = [];
    for (const c of conditions) {
      if (c.cond()) c.resolve();
      else this.conditions.push(c);
    }
  }
}

/** A message as plain JSON for assertion messages. */
export function describe(m: Message): Record<string, unknown> {
  return JSON.parse(JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))) as Record<string, unknown>;
}
