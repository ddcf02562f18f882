/**
 * What the API needs from the daemon's terminal manager (daemon/terminals/): the API codes
 * against this subset only, so the real manager and the small in-test manager both fit it.
 */
import type { TerminalManager, TerminalState } from '../terminals/terminal-manager.js';

// The types are the manager's own: one definition, so the API and the core cannot drift.
export type { TerminalEvent, TerminalInfo, TerminalLinkKind, TerminalState } from '../terminals/terminal-manager.js';

/** Every state, in the order `status` reports them. */
export const TERMINAL_STATES: readonly TerminalState[] = ['probing', 'ready', 'untrusted', 'gone', 'error'];

/** The part of the daemon's TerminalManager the API uses (a test manager implements just this). */
export type ApiTerminalManager = Pick<TerminalManager, 'list' | 'get' | 'session' | 'on'>;
