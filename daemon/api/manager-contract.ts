/**
 * What the API needs from the daemon's terminal manager. The manager itself lives in
 * daemon/terminals/ (owned by the daemon core); the API codes against this shape only, so
 * the real manager and the small in-test manager both fit it structurally.
 */
import type { TerminalSession } from '../session/terminal-session.js';

/** Link kinds a terminal can be reached over. */
export type TerminalLinkKind = 'serial' | 'tcp' | 'hid';

/** Where a terminal stands, as the manager sees it. */
export type TerminalState = 'probing' | 'ready' | 'untrusted' | 'gone' | 'error';

/** Every state, in the order `status` reports them. */
export const TERMINAL_STATES: readonly TerminalState[] = ['probing', 'ready', 'untrusted', 'gone', 'error'];

/** One terminal as the manager describes it. */
export interface TerminalInfo {
  id: string;
  link: TerminalLinkKind;
  path: string;
  state: TerminalState;
  vendor?: string;
  model?: string;
  serial?: string;
  firmware?: string;
  trust?: 'vendor-root' | 'pinned';
  /** Why the terminal is untrusted, gone or in error: a stable code and both languages. */
  reason?: { code: string; en: string; ar: string };
  cardPresent: boolean;
  /** When the terminal entered its current state (ms since the epoch). */
  since: number;
}

/** Things the manager tells its listeners. */
export type TerminalEvent =
  | { kind: 'terminal.connected'; terminal: TerminalInfo }
  | { kind: 'terminal.gone'; terminal: TerminalInfo; reason: string }
  | { kind: 'card.inserted'; terminalId: string; cardId: string }
  | { kind: 'card.removed'; terminalId: string; cardId: string };

/** The part of the daemon's TerminalManager the API uses. */
export interface ApiTerminalManager {
  list(): TerminalInfo[];
  get(id: string): TerminalInfo | undefined;
  /** The trusted session of a ready terminal (undefined otherwise). */
  session(id: string): TerminalSession | undefined;
  /** Adds a listener; returns the function that removes it. */
  on(listener: (e: TerminalEvent) => void): () => void;
}
