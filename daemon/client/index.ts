/** The TypeScript client of unicardd's local API: import from here. */
export {
  UnicardClient,
  ApiClientError,
  type ApiClientErrorCode,
  type ClientSideErrorCode,
  type UnicardClientOptions,
  type CallOptions,
  type AnyEventListener,
} from './unicard-client.js';
export type {
  HelloResult,
  StatusResult,
  TerminalView,
  ClaimView,
  ClaimResult,
  ReleaseResult,
  SubscriptionResult,
  CoreEventName,
  CoreEventParams,
  EventsDroppedParams,
} from '../api/api-types.js';
