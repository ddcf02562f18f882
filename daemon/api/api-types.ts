/**
 * The shapes the local API sends: method results and event parameters. Shared by the server
 * and the client library (type-only), and described for other languages in API.md.
 */
import type { TerminalInfo } from './manager-contract.js';

/** The API's version: bumped only for a change that breaks existing clients. */
export const API_VERSION = 1;

/** Events of this issue. Later issues add names (authorization progress). */
export const CORE_EVENTS = ['terminal.connected', 'terminal.gone', 'card.inserted', 'card.removed'] as const;

/** An event name. */
export type CoreEventName = (typeof CORE_EVENTS)[number];

/** Who holds a terminal, as seen by the asking connection. */
export interface ClaimView {
  /** The holder's token name. */
  name: string;
  /** The client name the holder gave in hello. */
  client?: string;
  /** True when the asking connection is the holder. */
  mine: boolean;
  /** When the claim was granted (ms since the epoch). */
  since: number;
}

/** A terminal as the API shows it: the manager's description plus its claim. */
export interface TerminalView extends TerminalInfo {
  claim: ClaimView | null;
}

/** The identity a token gives a connection. */
export interface ClientIdentityView {
  /** The token's name in the daemon's config. */
  name: string;
  /** The token's role in the daemon's config. */
  role: string;
  /** The client name given in hello. */
  client?: string;
}

/** `hello` → */
export interface HelloResult {
  server: 'unicardd';
  version: string;
  apiVersion: number;
  you: ClientIdentityView;
  /** Methods this client may call. */
  methods: string[];
  /** Event names `subscribe` accepts. */
  events: string[];
}

/** `status` → */
export interface StatusResult {
  server: 'unicardd';
  version: string;
  apiVersion: number;
  /** When the API started (ISO 8601). */
  startedAt: string;
  uptimeMs: number;
  terminals: { total: number; probing: number; ready: number; untrusted: number; gone: number; error: number };
  clients: { connected: number; authenticated: number };
  claims: number;
}

/** `terminals.list` → */
export interface TerminalsListResult {
  terminals: TerminalView[];
}

/** `terminals.claim` → */
export interface ClaimResult {
  terminalId: string;
  /** This connection held it already (nothing changed). */
  alreadyHeld: boolean;
  /** How long the claim waited for the previous holder. */
  waitedMs: number;
  terminal: TerminalView;
}

/** `terminals.release` → */
export interface ReleaseResult {
  terminalId: string;
  /** False when this connection did not hold it (nothing changed). */
  released: boolean;
}

/** `subscribe` / `unsubscribe` → the connection's subscriptions after the call. */
export interface SubscriptionResult {
  events: string[];
}

/** Parameters of each core event notification (`method` is the event name). */
export interface CoreEventParams {
  'terminal.connected': { terminal: TerminalView; at: number };
  'terminal.gone': { terminal: TerminalView; reason: string; at: number };
  'card.inserted': { terminalId: string; cardId: string; at: number };
  'card.removed': { terminalId: string; cardId: string; at: number };
}

/** Sent instead of events a slow reader missed (its output buffer was full). */
export interface EventsDroppedParams {
  count: number;
}
