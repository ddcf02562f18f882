/**
 * The API's methods, by name. The transport (api-connection.ts) knows nothing about any
 * method but hello: it parses a line, finds the definition here, checks the caller's role,
 * reads the params with the definition's reader and runs the handler. Later issues add
 * methods (authorize, commit, void, balance, receipts.list) with register().
 */
import type { TerminalSession } from '../session/terminal-session.js';
import type { ClaimRegistry } from './claim-registry.js';
import type { ApiTerminalManager, TerminalInfo } from './manager-contract.js';
import type { ParamReader } from './params.js';
import type { ClientIdentityView, TerminalView } from './api-types.js';

/** The authenticated caller of a method. */
export interface MethodClient extends ClientIdentityView {
  /** Unique per connection for the life of the server. */
  connectionId: number;
}

/** What a handler can use. */
export interface MethodContext {
  readonly client: MethodClient;
  /** Aborted when the caller's connection closes or the server stops: give up then. */
  readonly signal: AbortSignal;
  readonly manager: ApiTerminalManager;
  readonly claims: ClaimRegistry;
  /** Milliseconds since the epoch (the server's clock). */
  now(): number;
  /** The terminal, or UNKNOWN_TERMINAL. */
  terminal(terminalId: string): TerminalInfo;
  /** A terminal as this caller sees it (with its claim). */
  view(info: TerminalInfo): TerminalView;
  /**
   * The session of a terminal this caller has claimed, ready to use; otherwise the error
   * the client should get: UNKNOWN_TERMINAL, NOT_CLAIMED (naming the holder),
   * TERMINAL_GONE (claimed, but unplugged: the claim stays until it returns),
   * TERMINAL_UNTRUSTED or TERMINAL_NOT_READY.
   */
  requireClaim(terminalId: string): { terminal: TerminalInfo; session: TerminalSession };
  /** Sends an event to this caller if it subscribed to `event` (e.g. authorization progress). */
  notify(event: string, params: object): void;
  /** This connection's subscriptions. */
  subscriptions(): string[];
  /** Adds subscriptions (names already checked against the server's events). */
  subscribe(events: readonly string[]): void;
  /** Removes subscriptions (all when `events` is undefined). */
  unsubscribe(events?: readonly string[]): void;
  /** Event names the server knows. */
  eventNames(): string[];
  /** Every method name this caller may call. */
  methodNames(): string[];
}

/** One method. */
export interface MethodDefinition<P = unknown, R = unknown> {
  /** `terminals.claim`: lower-case words joined by dots. */
  readonly name: string;
  /** Reads and checks params (throw via the reader for INVALID_PARAMS); call reader.done(). */
  readonly params: (reader: ParamReader) => P;
  /** Does the work. Throw an ApiError for a specific failure; anything else is INTERNAL_ERROR. */
  readonly handler: (params: P, ctx: MethodContext) => R | Promise<R>;
  /** Token roles allowed to call it (every role when absent; `admin` may call everything). */
  readonly roles?: readonly string[];
  /**
   * Starts as soon as it is read, without waiting for the connection's earlier calls to
   * finish (e.g. a cancel for a running authorize). Replies still go out in request order.
   * Later calls still wait for it. Default false: calls on one connection run one at a time.
   */
  readonly concurrent?: boolean;
}

type AnyMethod = MethodDefinition<unknown, unknown>;

const NAME = /^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)*$/;

/** The method table. */
export class MethodRegistry {
  private readonly methods = new Map<string, AnyMethod>();

  /** Adds a method. Throws on a bad or duplicate name (a programming error). */
  register<P, R>(definition: MethodDefinition<P, R>): void {
    if (!NAME.test(definition.name) || definition.name === 'hello' || definition.name.startsWith('rpc.')) {
      throw new Error(`bad method name ${JSON.stringify(definition.name)}`);
    }
    if (this.methods.has(definition.name)) throw new Error(`method ${definition.name} is registered twice`);
    this.methods.set(definition.name, definition as unknown as AnyMethod);
  }

  /** The definition of `name`, if any. */
  get(name: string): AnyMethod | undefined {
    return this.methods.get(name);
  }

  /** Names a role may call, sorted (hello is not in the table: the transport handles it). */
  namesFor(role: string): string[] {
    return [...this.methods.values()]
      .filter((m) => roleMayCall(m, role))
      .map((m) => m.name)
      .sort();
  }
}

/** The role that may call every method, whatever the method's `roles` say. */
export const ADMIN_ROLE = 'admin';

/** True when `role` may call `method`. */
export function roleMayCall(method: { readonly roles?: readonly string[] }, role: string): boolean {
  return method.roles === undefined || role === ADMIN_ROLE || method.roles.includes(role);
}
