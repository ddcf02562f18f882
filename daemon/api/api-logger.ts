/**
 * The logger the API writes to: the object-first part of pino's interface, so a pino
 * logger or the daemon's DaemonLogger both fit. Tokens are never logged, only token names.
 */
export interface ApiLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): ApiLogger;
}
