/**
 * unicardd's configuration: the schema of the JSON file (as code, see schema-check.ts), the
 * resolved configuration the daemon runs with, and the defaults. DAEMON.md is the operator's
 * reference for every field; keep the two in step.
 *
 * Relative paths in the file are relative to the file's own directory, so a config and the
 * keys next to it can move together.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { parseTcpAddress } from '../../link/tcp-link.js';
import { type ConfigIssue } from './config-error.js';
import {
  arrayOf,
  bool,
  check,
  either,
  fail,
  int,
  INVALID,
  jsonTypeOf,
  object,
  oneOf,
  optional,
  record,
  required,
  str,
  type Schema,
} from './schema-check.js';

/** pino's levels. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * What a client with a token may do: `shop` (a POS: terminals, authorize, commit), `technician`
 * (adds diagnostics, firmware, trust), `admin` (everything). The API enforces them.
 */
export const TOKEN_ROLES = ['shop', 'technician', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** Defaults. */
export const CONFIG_DEFAULTS = Object.freeze({
  logLevel: 'info' as LogLevel,
  socketName: 'unicardd.sock',
  pinsFileName: 'pins.json',
  rescanIntervalMs: 2_000,
  reconnectInitialMs: 250,
  reconnectMaxMs: 10_000,
  pingIntervalMs: 5_000,
  baudRate: 115_200,
});

/** Shortest API token accepted (a token is a password; 16 characters is already weak). */
export const MIN_TOKEN_LENGTH = 16;
/** Longest Unix socket path (sun_path is 108 bytes on Linux, with its NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

/** A USB vendor id, and optionally product id, as 4 lower-case hex digits. */
export interface UsbId {
  vendorId: string;
  productId?: string;
}

/** An API token: the client presents `token`; `name` appears in logs (never the token). */
export interface ApiTokenConfig {
  name: string;
  token: string;
  role: TokenRole;
}

/** A configured serial terminal. */
export interface SerialTerminalConfig {
  path: string;
  baudRate: number;
}

/** A configured TCP terminal (a ser2net-style raw TCP port). */
export interface TcpTerminalConfig {
  /** `host:port` as written. */
  address: string;
  host: string;
  port: number;
}

/** A root key as the config names it, before it is read. */
export type RootKeyRef = { kind: 'file'; path: string } | { kind: 'hex'; hex: string };

/** The configuration unicardd runs with (everything resolved except key and token files). */
export interface DaemonConfigFile {
  dataDir: string;
  socketPath: string;
  logLevel: LogLevel;
  tokens: Array<{ name: string; role: TokenRole } & ({ token: string } | { tokenFile: string })>;
  terminals: {
    serial: SerialTerminalConfig[];
    enumerate: {
      enabled: boolean;
      /** Enumerated ports are probed only when their USB ids match one of these... */
      usb: UsbId[];
      /** ...or, with anyUsb, every port on USB (never built-in UARTs). */
      anyUsb: boolean;
    };
    tcp: TcpTerminalConfig[];
    hid: { enabled: boolean; usb: UsbId[] };
    rescanIntervalMs: number;
    reconnectInitialMs: number;
    reconnectMaxMs: number;
    /** Ping an idle terminal this often to notice a silent one; 0: never. */
    pingIntervalMs: number;
  };
  trust: {
    vendorRoots: Array<{ path: string; ref: RootKeyRef }>;
    issuerRoots: Array<{ path: string; ref: RootKeyRef }>;
    pinsFile: string;
  };
}

/** Options of {@link validateConfig}. */
export interface ValidateOptions {
  /** Directory relative paths are resolved against (the config file's). */
  baseDir: string;
  /** Zero-config development mode: dataDir and tokens may be left out (the loader fills them). */
  dev?: boolean;
  /** Data dir to use when the file has none (dev mode). */
  defaultDataDir?: string;
}

const HEX4 = /^(0x)?[0-9a-fA-F]{1,4}$/;
const USB_ID_RULE = { pattern: HEX4, patternHint: 'a USB id of up to 4 hex digits, e.g. "0483"' };
const TOKEN_NAME = { minLength: 1, maxLength: 64, pattern: /^[A-Za-z0-9._-]+$/, patternHint: 'letters, digits, ".", "_" or "-"' };
const TOKEN_RULE = {
  minLength: MIN_TOKEN_LENGTH,
  maxLength: 512,
  pattern: /^[\x21-\x7e]+$/,
  patternHint: 'printable ASCII without spaces',
};

const usbIdSchema: Schema<UsbId> = (value, path, ctx) => {
  const v = object({ vendorId: required(str(USB_ID_RULE)), productId: optional(str(USB_ID_RULE)) })(value, path, ctx);
  if (v === INVALID) return INVALID;
  const vendorId = normaliseHex4(v.vendorId);
  return v.productId === undefined ? { vendorId } : { vendorId, productId: normaliseHex4(v.productId) };
};

const tcpSchema: Schema<TcpTerminalConfig> = (value, path, ctx) => {
  const v = object({ address: required(str({ minLength: 1 })) })(value, path, ctx);
  if (v === INVALID) return INVALID;
  try {
    const { host, port } = parseTcpAddress(v.address);
    return { address: v.address, host, port };
  } catch {
    return fail(ctx, `${path}.address`, `must be host:port, e.g. "10.0.0.5:4001" (got ${JSON.stringify(v.address)})`);
  }
};

/** A root key: a file name, 64 hex digits, `{ "file": ... }` or `{ "publicKey": ... }`. */
const rootKeySchema: Schema<RootKeyRef> = either(
  (v) => typeof v === 'string',
  (value, path, ctx) => {
    const s = str({ minLength: 1 })(value, path, ctx);
    if (s === INVALID) return INVALID;
    return /^[0-9a-fA-F]{64}$/.test(s.trim()) ? { kind: 'hex', hex: s.trim().toLowerCase() } : { kind: 'file', path: s };
  },
  (value, path, ctx) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return fail(ctx, path, `must be a public key file name, 64 hex digits, {"file": ...} or {"publicKey": ...} (got ${jsonTypeOf(value)})`);
    }
    const v = object({
      file: optional(str({ minLength: 1 })),
      publicKey: optional(str({ pattern: /^[0-9a-fA-F]{64}$/, patternHint: '64 hex digits (a 32-byte Ed25519 public key)' })),
    })(value, path, ctx);
    if (v === INVALID) return INVALID;
    if ((v.file === undefined) === (v.publicKey === undefined)) {
      return fail(ctx, path, 'give exactly one of "file" (a public key file) or "publicKey" (64 hex digits)');
    }
    return v.file !== undefined ? { kind: 'file', path: v.file } : { kind: 'hex', hex: v.publicKey!.toLowerCase() };
  },
);

const tokenSchema = object({
  token: optional(str(TOKEN_RULE)),
  tokenFile: optional(str({ minLength: 1 })),
  role: required(oneOf(TOKEN_ROLES)),
});

const FILE_SCHEMA = object({
  dataDir: optional(str({ minLength: 1 })),
  socket: optional(str({ minLength: 1 })),
  logLevel: optional(oneOf(LOG_LEVELS)),
  tokens: optional(record(TOKEN_NAME, tokenSchema)),
  terminals: optional(
    object({
      serial: optional(
        arrayOf(
          object({
            path: required(str({ minLength: 1 })),
            baudRate: optional(int(300, 4_000_000)),
          }),
          { maxItems: 256 },
        ),
      ),
      enumerate: optional(
        object({
          enabled: optional(bool()),
          usb: optional(arrayOf(usbIdSchema, { maxItems: 64 })),
          anyUsb: optional(bool()),
        }),
      ),
      tcp: optional(arrayOf(tcpSchema, { maxItems: 256 })),
      hid: optional(object({ enabled: optional(bool()), usb: optional(arrayOf(usbIdSchema, { maxItems: 64 })) })),
      rescanIntervalMs: optional(int(100, 600_000)),
      reconnectInitialMs: optional(int(10, 600_000)),
      reconnectMaxMs: optional(int(100, 3_600_000)),
      pingIntervalMs: optional(int(0, 3_600_000)),
    }),
  ),
  trust: optional(
    object({
      vendorRoots: optional(arrayOf(rootKeySchema, { maxItems: 64 })),
      issuerRoots: optional(arrayOf(rootKeySchema, { maxItems: 64 })),
      pinsFile: optional(str({ minLength: 1 })),
    }),
  ),
});

/** Field names of the file's top level (for docs and tests). */
export const TOP_LEVEL_FIELDS = ['dataDir', 'socket', 'logLevel', 'tokens', 'terminals', 'trust'] as const;

/** The outcome of {@link validateConfig}. */
export type ValidateResult = { ok: true; config: DaemonConfigFile } | { ok: false; issues: ConfigIssue[] };

/**
 * Checks a parsed config file against the schema and resolves defaults and relative paths.
 * Pure: reads no files (key and token files are read by loadConfig). Every issue is reported.
 */
export function validateConfig(json: unknown, options: ValidateOptions): ValidateResult {
  const { value: v, issues } = check(FILE_SCHEMA, json);
  if (v === INVALID) return { ok: false, issues };
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(options.baseDir, p));
  const dev = options.dev === true;

  let dataDir: string | undefined;
  if (v.dataDir !== undefined) dataDir = abs(v.dataDir);
  else if (options.defaultDataDir !== undefined) dataDir = options.defaultDataDir;
  else issues.push({ path: 'dataDir', message: 'is required (where unicardd keeps its ledger, pins and socket), e.g. "/var/lib/unicard"' });

  const tokens: DaemonConfigFile['tokens'] = [];
  const seen = new Map<string, string>();
  for (const [name, t] of v.tokens ?? new Map()) {
    const path = `tokens.${name}`;
    if ((t.token === undefined) === (t.tokenFile === undefined)) {
      issues.push({ path, message: 'give exactly one of "token" (the secret itself) or "tokenFile" (a file holding it)' });
      continue;
    }
    if (t.token !== undefined) {
      const other = seen.get(t.token);
      if (other !== undefined) issues.push({ path: `${path}.token`, message: `is the same as tokens.${other}.token: every client needs its own token` });
      seen.set(t.token, name);
      tokens.push({ name, role: t.role, token: t.token });
    } else tokens.push({ name, role: t.role, tokenFile: abs(t.tokenFile!) });
  }
  if (tokens.length === 0 && !dev && !issues.some((i) => i.path.startsWith('tokens'))) {
    issues.push({ path: 'tokens', message: 'needs at least one API token: without one no client can use the daemon' });
  }

  let socketPath = '';
  if (dataDir !== undefined) {
    socketPath = v.socket !== undefined ? abs(v.socket) : join(dataDir, CONFIG_DEFAULTS.socketName);
    if (!socketPath.startsWith('\\\\.\\pipe\\') && Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
      issues.push({
        path: v.socket !== undefined ? 'socket' : 'dataDir',
        message: `the socket path ${socketPath} is ${Buffer.byteLength(socketPath)} bytes long; Unix sockets allow at most ${MAX_SOCKET_PATH_BYTES}: set "socket" to a shorter path`,
      });
    }
  }

  const t: Partial<NonNullable<typeof v.terminals>> = v.terminals ?? {};
  // Device names stay as written (COM3, /dev/ttyUSB0); other relative paths follow the file.
  const devicePath = (p: string): string => (/^COM\d+$/i.test(p) || p.startsWith('\\\\.\\') ? p : abs(p));
  const serial = (t.serial ?? []).map((s) => ({ path: devicePath(s.path), baudRate: s.baudRate ?? CONFIG_DEFAULTS.baudRate }));
  serial.forEach((s, i) => {
    const j = serial.findIndex((o) => o.path === s.path);
    if (j < i) issues.push({ path: `terminals.serial[${i}].path`, message: `${s.path} is already terminals.serial[${j}]` });
  });
  const tcp = t.tcp ?? [];
  tcp.forEach((s, i) => {
    const j = tcp.findIndex((o) => o.host === s.host && o.port === s.port);
    if (j < i) issues.push({ path: `terminals.tcp[${i}].address`, message: `${s.address} is already terminals.tcp[${j}]` });
  });
  const reconnectInitialMs = t.reconnectInitialMs ?? CONFIG_DEFAULTS.reconnectInitialMs;
  const reconnectMaxMs = t.reconnectMaxMs ?? Math.max(CONFIG_DEFAULTS.reconnectMaxMs, reconnectInitialMs);
  if (reconnectMaxMs < reconnectInitialMs) {
    issues.push({ path: 'terminals.reconnectMaxMs', message: `must be at least terminals.reconnectInitialMs (${reconnectInitialMs})` });
  }
  const pingIntervalMs = t.pingIntervalMs ?? CONFIG_DEFAULTS.pingIntervalMs;
  if (pingIntervalMs !== 0 && pingIntervalMs < 500) {
    issues.push({ path: 'terminals.pingIntervalMs', message: `must be 0 (off) or at least 500 (got ${pingIntervalMs})` });
  }

  const tr: Partial<NonNullable<typeof v.trust>> = v.trust ?? {};
  const roots = (list: RootKeyRef[] | undefined, field: string): Array<{ path: string; ref: RootKeyRef }> =>
    (list ?? []).map((ref, i) => ({ path: `trust.${field}[${i}]`, ref: ref.kind === 'file' ? { kind: 'file', path: abs(ref.path) } : ref }));

  if (issues.length > 0 || dataDir === undefined) return { ok: false, issues };
  return {
    ok: true,
    config: {
      dataDir,
      socketPath,
      logLevel: v.logLevel ?? CONFIG_DEFAULTS.logLevel,
      tokens,
      terminals: {
        serial,
        enumerate: { enabled: t.enumerate?.enabled ?? true, usb: t.enumerate?.usb ?? [], anyUsb: t.enumerate?.anyUsb ?? false },
        tcp,
        hid: { enabled: t.hid?.enabled ?? true, usb: t.hid?.usb ?? [] },
        rescanIntervalMs: t.rescanIntervalMs ?? CONFIG_DEFAULTS.rescanIntervalMs,
        reconnectInitialMs,
        reconnectMaxMs,
        pingIntervalMs,
      },
      trust: {
        vendorRoots: roots(tr.vendorRoots, 'vendorRoots'),
        issuerRoots: roots(tr.issuerRoots, 'issuerRoots'),
        pinsFile: tr.pinsFile !== undefined ? abs(tr.pinsFile) : join(dataDir, CONFIG_DEFAULTS.pinsFileName),
      },
    },
  };
}

/** `0x483` → `0483`. */
function normaliseHex4(id: string): string {
  return id.replace(/^0x/i, '').toLowerCase().padStart(4, '0');
}
