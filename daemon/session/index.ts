/** The host side of the session layer: import from here. */
export {
  TerminalSession,
  DEFAULT_RETRY_AFTER_MS,
  DEFAULT_MAX_RETRIES,
  DEFAULT_DEAD_AFTER_MS,
  type TerminalSessionOptions,
  type RequestOptions,
  type TerminalSessionCounters,
  type RoundTripStats,
  type HandshakeOutcome,
  type TerminalEvent,
  type TerminalSessionState,
  type TraceCallback,
  type TraceDirection,
  type TraceInfo,
} from './terminal-session.js';
export {
  TerminalSessionError,
  TerminalError,
  type TerminalSessionErrorCode,
  type TerminalErrorCode,
} from './session-errors.js';
export {
  BannerScanner,
  parseBanner,
  readBanner,
  BANNER_PREFIX,
  MAX_BANNER_BYTES,
  type TerminalBanner,
  type BannerScanItem,
  type BannerReadResult,
  type ReadBannerOptions,
} from './banner.js';
export {
  createTrustPolicy,
  devicePinId,
  type TrustCallback,
  type TrustContext,
  type TrustDecision,
  type TrustRefusal,
  type TrustPolicyOptions,
} from './trust-policy.js';
export {
  CLEAR_REQUESTS,
  DEFAULT_TIMEOUT_MS,
  SLOW_TIMEOUT_MS,
  HUMAN_TIMEOUT_MS,
  HUMAN_TIMEOUT_MARGIN_MS,
  defaultTimeoutMs,
  type RequestBody,
  type RequestName,
  type ResultName,
  type ResultOf,
} from './request-types.js';
export { realClock, type SessionClock } from './session-clock.js';
