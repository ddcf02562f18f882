/** unicardd's local API (JSON-RPC 2.0 over a Unix socket): import from here. */
export { ApiServer, API_DEFAULTS, WINDOWS_PIPE_PATH, isNamedPipePath, type ApiServerOptions } from './api-server.js';
export {
  API_ERRORS,
  JSON_RPC,
  ApiError,
  ApiServerError,
  isApiError,
  invalidParams,
  notClaimed,
  terminalBusy,
  toApiError,
  unknownTerminal,
  type ApiErrorCode,
  type ApiErrorData,
  type ApiErrorEntry,
  type ApiErrorOptions,
  type ApiServerErrorCode,
  type HolderDescription,
  type JsonRpcErrorObject,
  type ParamProblem,
} from './api-errors.js';
export { MethodRegistry, ADMIN_ROLE, roleMayCall, type MethodClient, type MethodContext, type MethodDefinition } from './method-registry.js';
export type { ApiLogger } from './api-logger.js';
export { ParamReader } from './params.js';
export { ClaimRegistry, type ClaimOwner, type ClaimGrant, type ClaimChange, type ReleaseOutcome } from './claim-registry.js';
export { MAX_CLAIM_WAIT_MS } from './core-methods.js';
export { LineSplitter, type LineItem } from './line-splitter.js';
export { parseRequestLine, encodeError, encodeNotification, encodeResult, type ParsedLine, type RpcId } from './json-rpc.js';
export * from './api-types.js';
export {
  TERMINAL_STATES,
  type ApiTerminalManager,
  type TerminalEvent,
  type TerminalInfo,
  type TerminalLinkKind,
  type TerminalState,
} from './manager-contract.js';
