/**
 * Type-level helpers that tie a request to its result, and the host's default time limits.
 */
import { MESSAGE_SCHEMAS, type Message, type MessageName, type MessageOf } from '../../protocol/messages.js';

type Schemas = typeof MESSAGE_SCHEMAS;

/** Names of the messages a host may send as requests. */
export type RequestName = { [N in MessageName]: Schemas[N]['kind'] extends 'request' ? N : never }[MessageName];

/** Name of the result answering request `N` (e.g. `GetInfoResult` for `GetInfo`). */
export type ResultName<N extends RequestName> = { [R in MessageName]: Schemas[R] extends { answers: N } ? R : never }[MessageName];

/** The result message answering request `N`. */
export type ResultOf<N extends RequestName> = MessageOf<ResultName<N>>;

/** A request as the caller writes it: the session assigns the id. */
export type RequestBody<N extends RequestName> = { type: N } & Omit<MessageOf<N>, 'type' | 'id'>;

/** Requests a terminal accepts in clear (PROTOCOL.md: which messages may travel in clear). */
export const CLEAR_REQUESTS: ReadonlySet<MessageName> = new Set<MessageName>(['GetInfo', 'Ping', 'Handshake']);

/** Overall limit of an ordinary request. */
export const DEFAULT_TIMEOUT_MS = 2_000;
/** Overall limit of requests that use the card, the secure element or flash. */
export const SLOW_TIMEOUT_MS = 10_000;
/** Overall limit of requests that wait for a human, at least (CardWait, VerifyHolder). */
export const HUMAN_TIMEOUT_MS = 30_000;
/** Margin added to a human wait's own `timeoutMs`, so the terminal's TIMEOUT answer arrives first. */
export const HUMAN_TIMEOUT_MARGIN_MS = 2_000;

const SLOW: ReadonlySet<MessageName> = new Set<MessageName>([
  'SelfTest',
  'CardAuthenticate',
  'FirmwareBegin',
  'FirmwareChunk',
  'FirmwareFinish',
  'FirmwareActivate',
  'FirmwareConfirm',
]);

/**
 * The overall time limit the session applies to `message` when the caller gives none. Human
 * waits get their own `timeoutMs` plus a margin (at least {@link HUMAN_TIMEOUT_MS}), so a slow
 * citizen ends in the terminal's own TIMEOUT answer rather than in a host timeout.
 */
export function defaultTimeoutMs(message: Message): number {
  if (message.type === 'CardWait' || message.type === 'VerifyHolder') {
    return Math.max(HUMAN_TIMEOUT_MS, message.timeoutMs + HUMAN_TIMEOUT_MARGIN_MS);
  }
  return SLOW.has(message.type) ? SLOW_TIMEOUT_MS : DEFAULT_TIMEOUT_MS;
}
