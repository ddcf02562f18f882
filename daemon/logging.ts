/**
 * unicardd's logs: pino, one JSON object per line on stderr (stdout carries only the ready
 * line). Every record has `time`, `level` (pino's numbers: 20 debug, 30 info, 40 warn,
 * 50 error), `msg`, and fields such as `terminal`, `path`, `state`, `code`. DAEMON.md lists
 * the messages an operator or a test can rely on.
 *
 * `--verbose` sets the level to debug and logs every decoded protocol message through
 * TerminalSession's trace hook: `{"msg":"rx GetInfoResult","path":"/dev/ttyUSB0",
 * "dir":"rx","type":"GetInfoResult","id":123,"sealed":false,"message":{...}}`; at level
 * trace the wire units are added as hex.
 */
import pino from 'pino';
import { UnicardError } from '../protocol/errors.js';
import { messageToJson, type Message } from '../protocol/messages.js';
import type { TraceCallback } from './session/terminal-session.js';
import type { LogLevel } from './config/daemon-config.js';

/** The part of a pino logger the daemon's modules use (tests may pass any pino logger). */
export interface DaemonLogger {
  trace(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  fatal(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): DaemonLogger;
  isLevelEnabled(level: string): boolean;
  flush?(cb?: (err?: Error) => void): void;
}

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  level: LogLevel;
  /** A file descriptor (default 2, stderr), or anything with write(line) (tests collect records). */
  destination?: number | { write(chunk: string): unknown };
  /** Fields on every record (default `{ name: "unicardd", pid }`). */
  base?: Record<string, unknown>;
}

/**
 * A pino logger writing synchronously to stderr, so the last records before an exit
 * (a bad config, a fatal error, the shutdown) are never lost in a buffer.
 */
export function createLogger(options: CreateLoggerOptions): pino.Logger {
  const dest =
    options.destination === undefined || typeof options.destination === 'number'
      ? pino.destination({ fd: options.destination ?? 2, sync: true })
      : options.destination;
  return pino(
    {
      level: options.level,
      base: options.base ?? { name: 'unicardd', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: errorFields },
    },
    dest as pino.DestinationStream,
  );
}

/** An error as log fields: code, message and detail for ours; message (and stack) otherwise. */
export function errorFields(e: unknown): Record<string, unknown> {
  if (e instanceof UnicardError) {
    return { type: e.name, code: e.code, message: e.message, ...(e.detail === undefined ? {} : { detail: e.detail }) };
  }
  if (e instanceof Error) return { type: e.name, message: e.message, stack: e.stack };
  return { message: String(e) };
}

/**
 * The --verbose hook: logs each message a session sends or receives at debug level, and
 * each bad frame or record as the error it produced. `bindings` say which terminal.
 */
export function traceToLog(logger: DaemonLogger, bindings: () => Record<string, unknown>): TraceCallback {
  return (direction, item, _bytes, info) => {
    if (!logger.isLevelEnabled('debug')) return;
    const wire = logger.isLevelEnabled('trace') && info.wire !== undefined ? { wire: info.wire.map(hex) } : {};
    if (item instanceof UnicardError) {
      logger.debug(
        { ...bindings(), dir: direction, sealed: info.sealed, id: info.requestId, error: { code: item.code, message: item.message } },
        `${direction} bad ${item.code}`,
      );
      return;
    }
    logger.debug(
      {
        ...bindings(),
        dir: direction,
        type: item.type,
        id: item.id,
        sealed: info.sealed,
        ...(info.attempt !== undefined && info.attempt > 0 ? { attempt: info.attempt } : {}),
        message: messageJson(item),
        ...wire,
      },
      `${direction} ${item.type}`,
    );
  };
}

function messageJson(m: Message): Record<string, unknown> {
  try {
    return messageToJson(m);
  } catch {
    return { type: m.type, id: m.id };
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
