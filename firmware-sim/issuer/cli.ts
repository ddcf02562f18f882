/**
 * unicard-issuer: the issuer toolkit's command line. Run with
 * `node --import tsx firmware-sim/issuer/cli.ts <command> [options]`.
 * Prints file paths and public key ids only; secrets go into 0600 files.
 * Exit codes: 0 done, 1 refused or failed (message on stderr), 2 bad arguments.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MemberRole } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { UnicardError } from '../../protocol/errors.js';
import type { MemberRoleName } from '../hardware/card-file.js';
import { seededRandomBytes, systemRandomBytes } from '../hardware/random.js';
import { demoWorld } from './demo-world.js';
import {
  CardRevocationReason,
  CardState,
  TerminalRevocationReason,
  type CardRevocationReasonName,
  type CardStateName,
  type RevokedCard,
  type RevokedTerminal,
  type TerminalRevocationReasonName,
} from './signed-lists.js';
import {
  initIssuer,
  initVendor,
  makeCard,
  makeFirmware,
  makeRevocation,
  makeRoster,
  makeTerminal,
  type CardStateChange,
  type NewMember,
  type ToolkitContext,
} from './toolkit.js';

const USAGE = `usage: unicard-issuer <command> [options]

commands:
  init-issuer      --dir DIR [--name issuer] [--force]
  init-vendor      --dir DIR [--name vendor] [--force]
  make-terminal    --dir DIR --vendor-key FILE --terminal-id ID --vendor NAME --model NAME
                   [--valid-from DATE] [--valid-until DATE] [--force]
  make-card        --dir DIR --issuer-key FILE --card-id ID --household ID --governorate N
                   --member ROLE[:NAME] (once per member, in order) [--serial N]
                   [--valid-from DATE] [--valid-until DATE] [--force]
  make-roster      --dir DIR --issuer-key FILE [--card FILE]... [--state CARD_ID=STATE[@DATE]]...
                   [--sequence N] [--out NAME]
  make-revocation  --dir DIR --issuer-key FILE [--card CARD_ID:SERIAL[:REASON][@DATE]]...
                   [--terminal TERMINAL_ID[:REASON][@DATE]]... [--sequence N] [--out NAME]
  make-firmware    --dir DIR --vendor-key FILE --vendor NAME --model NAME --version X.Y.Z
                   --anti-rollback N [--body FILE | --size BYTES] [--out NAME]
  demo-world       DIR [--firmware-size BYTES] [--force]

global options:
  --now DATE       use this time instead of the clock (YYYY-MM-DD, ISO 8601 or Unix seconds)
  --seed TEXT      deterministic randomness, for reproducible test fixtures only: keys made
                   with it are not secret
  --help           this text

DATE: YYYY-MM-DD is 00:00 UTC of that day (02:00 or 03:00 in Cairo, the same Egyptian day);
  an ISO 8601 time with an offset gives any other instant (2026-11-01T00:00:00+02:00).
A household's entitlements, and last month's bread points, count from its roster entry's
  since: the card's --valid-from unless make-roster --state CARD_ID=active@DATE gives another.

roles: ${Object.keys(MemberRole).join(', ')}
card states: ${Object.keys(CardState).join(', ')}
card revocation reasons: ${Object.keys(CardRevocationReason).join(', ')}
terminal revocation reasons: ${Object.keys(TerminalRevocationReason).join(', ')}`;

/** Where the CLI writes. */
export interface CliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

/** A bad command line (exit code 2). */
class UsageError extends Error {}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

const OPTIONS = {
  dir: { type: 'string' },
  name: { type: 'string' },
  force: { type: 'boolean' },
  'vendor-key': { type: 'string' },
  'issuer-key': { type: 'string' },
  'terminal-id': { type: 'string' },
  vendor: { type: 'string' },
  model: { type: 'string' },
  'valid-from': { type: 'string' },
  'valid-until': { type: 'string' },
  'card-id': { type: 'string' },
  household: { type: 'string' },
  governorate: { type: 'string' },
  member: { type: 'string', multiple: true },
  serial: { type: 'string' },
  card: { type: 'string', multiple: true },
  terminal: { type: 'string', multiple: true },
  state: { type: 'string', multiple: true },
  sequence: { type: 'string' },
  out: { type: 'string' },
  version: { type: 'string' },
  'anti-rollback': { type: 'string' },
  body: { type: 'string' },
  size: { type: 'string' },
  'firmware-size': { type: 'string' },
  now: { type: 'string' },
  seed: { type: 'string' },
  help: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

/** Options each command accepts (besides the global ones). */
const ALLOWED: Record<string, readonly string[]> = {
  'init-issuer': ['dir', 'name', 'force'],
  'init-vendor': ['dir', 'name', 'force'],
  'make-terminal': ['dir', 'vendor-key', 'terminal-id', 'vendor', 'model', 'valid-from', 'valid-until', 'force'],
  'make-card': ['dir', 'issuer-key', 'card-id', 'household', 'governorate', 'member', 'serial', 'valid-from', 'valid-until', 'force'],
  'make-roster': ['dir', 'issuer-key', 'card', 'state', 'sequence', 'out'],
  'make-revocation': ['dir', 'issuer-key', 'card', 'terminal', 'sequence', 'out'],
  'make-firmware': ['dir', 'vendor-key', 'vendor', 'model', 'version', 'anti-rollback', 'body', 'size', 'out'],
  'demo-world': ['dir', 'firmware-size', 'force'],
};
const GLOBAL = ['now', 'seed', 'help'];

function str(v: Values, key: string, required: true): string;
function str(v: Values, key: string, required?: false): string | undefined;
function str(v: Values, key: string, required = false): string | undefined {
  const x = v[key];
  if (x === undefined) {
    if (required) throw new UsageError(`missing --${key}`);
    return undefined;
  }
  if (typeof x !== 'string' || x.length === 0) throw new UsageError(`--${key} needs a value`);
  return x;
}

function list(v: Values, key: string): string[] {
  const x = v[key];
  return Array.isArray(x) ? x.map(String) : [];
}

function uintArg(v: Values, key: string, max: number, required: true): number;
function uintArg(v: Values, key: string, max: number, required?: false): number | undefined;
function uintArg(v: Values, key: string, max: number, required = false): number | undefined {
  const s = required ? str(v, key, true) : str(v, key);
  if (s === undefined) return undefined;
  return parseUint(s, `--${key}`, max);
}

function parseUint(s: string, what: string, max: number): number {
  if (!/^\d+$/.test(s) || Number(s) > max) throw new UsageError(`${what} must be an integer from 0 to ${max}, got "${s}"`);
  return Number(s);
}

/** Unix seconds from YYYY-MM-DD, an ISO 8601 time, or Unix seconds. */
function parseDate(s: string, what: string): number {
  if (/^\d+$/.test(s)) return Number(s);
  const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s);
  if (!Number.isFinite(ms)) throw new UsageError(`${what}: not a date: "${s}" (use YYYY-MM-DD, ISO 8601 or Unix seconds)`);
  return Math.floor(ms / 1000);
}

function dateArg(v: Values, key: string): number | undefined {
  const s = str(v, key);
  return s === undefined ? undefined : parseDate(s, `--${key}`);
}

function pick<T extends string>(names: readonly T[], s: string, what: string): T {
  if (!(names as readonly string[]).includes(s)) throw new UsageError(`${what} "${s}" is not one of: ${names.join(', ')}`);
  return s as T;
}

/** "VALUE[@DATE]" → [value, date?]. */
function splitDate(s: string, what: string): [string, number | undefined] {
  const at = s.lastIndexOf('@');
  return at < 0 ? [s, undefined] : [s.slice(0, at), parseDate(s.slice(at + 1), what)];
}

function parseVersion(s: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (!m) throw new UsageError(`--version must look like 1.2.3, got "${s}"`);
  return [1, 2, 3].map((i) => parseUint(m[i]!, '--version part', 0xffff)) as [number, number, number];
}

/**
 * Runs the CLI with `argv` (without node and script). Returns the exit code.
 * `baseCtx` replaces the real crypto/randomness/clock (tests).
 */
export async function runIssuerCli(argv: readonly string[], io: CliIo, baseCtx?: Partial<ToolkitContext>): Promise<number> {
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }) as unknown as {
      values: Values;
      positionals: string[];
    };
  } catch (e) {
    io.stderr(`unicard-issuer: ${(e as Error).message}`);
    io.stderr('run with --help for usage');
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    (values.help ? io.stdout : io.stderr)(USAGE);
    return values.help ? 0 : 2;
  }
  const [command, ...rest] = positionals as [string, ...string[]];
  try {
    const allowed = ALLOWED[command];
    if (!allowed) throw new UsageError(`unknown command "${command}"`);
    for (const k of Object.keys(values)) {
      if (values[k] !== undefined && !allowed.includes(k) && !GLOBAL.includes(k)) throw new UsageError(`${command} does not take --${k}`);
    }
    if (command === 'demo-world') {
      if (rest.length > 1 || (rest.length === 1 && values.dir !== undefined)) throw new UsageError('demo-world takes one directory');
      if (rest[0] !== undefined) values.dir = rest[0];
    } else if (rest.length > 0) {
      throw new UsageError(`unexpected argument "${rest[0]}"`);
    }
    const nowOpt = str(values, 'now');
    const fixedNow = nowOpt === undefined ? undefined : parseDate(nowOpt, '--now') * 1000;
    const seed = str(values, 'seed');
    const ctx: ToolkitContext = {
      ed: baseCtx?.ed ?? new NodeEd25519(),
      random: seed !== undefined ? seededRandomBytes(seed) : (baseCtx?.random ?? systemRandomBytes),
      nowMs: fixedNow !== undefined ? () => fixedNow : (baseCtx?.nowMs ?? (() => Date.now())),
    };
    const dir = resolve(str(values, 'dir', true));
    await COMMANDS[command]!(ctx, dir, values, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`unicard-issuer ${command}: ${e.message}`);
      io.stderr('run with --help for usage');
      return 2;
    }
    if (e instanceof UnicardError) {
      io.stderr(`unicard-issuer ${command}: ${e.message} [${e.code}]`);
      return 1;
    }
    io.stderr(`unicard-issuer ${command}: ${(e as Error).message ?? String(e)}`);
    return 1;
  }
}

type Command = (ctx: ToolkitContext, dir: string, v: Values, io: CliIo) => Promise<void>;

const secret = (path: string): string => `wrote ${path} (secret, mode 0600)`;

const COMMANDS: Record<string, Command> = {
  async 'init-issuer'(ctx, dir, v, io) {
    const r = await initIssuer(ctx, { dir, name: str(v, 'name') ?? 'issuer', force: v.force === true });
    io.stdout(secret(r.keyPath));
    io.stdout(`wrote ${r.publicKeyPath}`);
    io.stdout(`issuer root key id ${r.keyId}`);
  },
  async 'init-vendor'(ctx, dir, v, io) {
    const r = await initVendor(ctx, { dir, name: str(v, 'name') ?? 'vendor', force: v.force === true });
    io.stdout(secret(r.keyPath));
    io.stdout(`wrote ${r.publicKeyPath}`);
    io.stdout(`vendor root key id ${r.keyId}`);
  },
  async 'make-terminal'(ctx, dir, v, io) {
    const validFrom = dateArg(v, 'valid-from');
    const validUntil = dateArg(v, 'valid-until');
    const r = await makeTerminal(ctx, {
      dir,
      vendorKeyPath: resolve(str(v, 'vendor-key', true)),
      terminalId: str(v, 'terminal-id', true),
      vendor: str(v, 'vendor', true),
      model: str(v, 'model', true),
      ...(validFrom !== undefined ? { validFrom } : {}),
      ...(validUntil !== undefined ? { validUntil } : {}),
      force: v.force === true,
    });
    io.stdout(secret(r.keyPath));
    io.stdout(`wrote ${r.identityPath}`);
    io.stdout(`terminal ${r.terminalId} key id ${r.keyId}`);
  },
  async 'make-card'(ctx, dir, v, io) {
    const memberArgs = list(v, 'member');
    if (memberArgs.length === 0) throw new UsageError('give at least one --member ROLE[:NAME]');
    const roles = Object.keys(MemberRole) as MemberRoleName[];
    const members: NewMember[] = memberArgs.map((m) => {
      const colon = m.indexOf(':');
      const role = pick(roles, colon < 0 ? m : m.slice(0, colon), 'member role');
      const name = colon < 0 ? undefined : m.slice(colon + 1);
      return name ? { role, name } : { role };
    });
    const validFrom = dateArg(v, 'valid-from');
    const validUntil = dateArg(v, 'valid-until');
    const serial = uintArg(v, 'serial', 0xffff_ffff);
    const r = await makeCard(ctx, {
      dir,
      issuerKeyPath: resolve(str(v, 'issuer-key', true)),
      cardId: str(v, 'card-id', true),
      householdId: str(v, 'household', true),
      governorate: uintArg(v, 'governorate', 99, true),
      members,
      ...(serial !== undefined ? { cardSerial: serial } : {}),
      ...(validFrom !== undefined ? { validFrom } : {}),
      ...(validUntil !== undefined ? { validUntil } : {}),
      force: v.force === true,
    });
    io.stdout(secret(r.cardPath));
    io.stdout(`card ${r.cardId} household ${r.householdId} governorate ${r.governorate} members ${r.members.length} key id ${r.keyId}`);
  },
  async 'make-roster'(ctx, dir, v, io) {
    const states = new Map<string, CardStateChange>();
    for (const s of list(v, 'state')) {
      const eq = s.indexOf('=');
      if (eq <= 0) throw new UsageError(`--state wants CARD_ID=STATE[@DATE], got "${s}"`);
      const [name, since] = splitDate(s.slice(eq + 1), '--state');
      const state = pick(Object.keys(CardState) as CardStateName[], name, 'card state');
      states.set(s.slice(0, eq), since === undefined ? { state } : { state, since });
    }
    const cards = list(v, 'card').map((p) => resolve(p));
    const sequence = uintArg(v, 'sequence', Number.MAX_SAFE_INTEGER);
    const out = str(v, 'out');
    const r = await makeRoster(ctx, {
      dir,
      issuerKeyPath: resolve(str(v, 'issuer-key', true)),
      ...(cards.length > 0 ? { cardPaths: cards } : {}),
      states,
      ...(sequence !== undefined ? { sequence } : {}),
      ...(out !== undefined ? { out } : {}),
    });
    io.stdout(`wrote ${r.path}`);
    io.stdout(`roster sequence ${r.sequence}: ${r.entries.length} cards`);
  },
  async 'make-revocation'(ctx, dir, v, io) {
    const now = Math.floor(ctx.nowMs() / 1000);
    const cards: RevokedCard[] = list(v, 'card').map((s) => {
      const [spec, at] = splitDate(s, '--card');
      const [cardId, serial, reason, extra] = spec.split(':');
      if (!cardId || serial === undefined || extra !== undefined) throw new UsageError(`--card wants CARD_ID:SERIAL[:REASON][@DATE], got "${s}"`);
      return {
        cardId,
        cardSerial: parseUint(serial, '--card serial', 0xffff_ffff),
        revokedAt: at ?? now,
        reason: pick(Object.keys(CardRevocationReason) as CardRevocationReasonName[], reason ?? 'unspecified', 'revocation reason'),
      };
    });
    const terminals: RevokedTerminal[] = list(v, 'terminal').map((s) => {
      const [spec, at] = splitDate(s, '--terminal');
      const [terminalId, reason, extra] = spec.split(':');
      if (!terminalId || extra !== undefined) throw new UsageError(`--terminal wants TERMINAL_ID[:REASON][@DATE], got "${s}"`);
      return {
        terminalId,
        revokedAt: at ?? now,
        reason: pick(Object.keys(TerminalRevocationReason) as TerminalRevocationReasonName[], reason ?? 'unspecified', 'revocation reason'),
      };
    });
    const sequence = uintArg(v, 'sequence', Number.MAX_SAFE_INTEGER);
    const out = str(v, 'out');
    const r = await makeRevocation(ctx, {
      dir,
      issuerKeyPath: resolve(str(v, 'issuer-key', true)),
      cards,
      terminals,
      ...(sequence !== undefined ? { sequence } : {}),
      ...(out !== undefined ? { out } : {}),
    });
    io.stdout(`wrote ${r.path}`);
    io.stdout(`revocation list sequence ${r.sequence}: ${cards.length} cards, ${terminals.length} terminals`);
  },
  async 'make-firmware'(ctx, dir, v, io) {
    const bodyPath = str(v, 'body');
    const size = uintArg(v, 'size', 0xffff_ffff);
    if (bodyPath !== undefined && size !== undefined) throw new UsageError('give --body or --size, not both');
    const body = bodyPath !== undefined ? new Uint8Array(await readFile(resolve(bodyPath))) : undefined;
    const out = str(v, 'out');
    const r = await makeFirmware(ctx, {
      dir,
      vendorKeyPath: resolve(str(v, 'vendor-key', true)),
      vendor: str(v, 'vendor', true),
      model: str(v, 'model', true),
      version: parseVersion(str(v, 'version', true)),
      antiRollback: uintArg(v, 'anti-rollback', 0xffff_ffff, true),
      ...(body !== undefined ? { body } : {}),
      ...(size !== undefined ? { size } : {}),
      ...(out !== undefined ? { out } : {}),
    });
    io.stdout(`wrote ${r.path}`);
    io.stdout(`firmware ${r.version.join('.')} anti-rollback ${r.antiRollback}, ${r.size} bytes, sha-512 ${r.bodyHash.slice(0, 16)}…`);
  },
  async 'demo-world'(ctx, dir, v, io) {
    const firmwareSize = uintArg(v, 'firmware-size', 64 * 1024 * 1024);
    const m = await demoWorld(ctx, dir, { ...(firmwareSize !== undefined ? { firmwareSize } : {}), force: v.force === true });
    io.stdout(`demo world in ${dir}`);
    io.stdout(`issuer root key id ${m.issuer.keyId}, vendor root key id ${m.vendor.keyId}`);
    for (const t of m.terminals) io.stdout(`terminal ${t.terminalId} (${t.vendor} ${t.model}) key id ${t.keyId}`);
    for (const c of m.cards) io.stdout(`card ${c.cardId}: ${c.members.length} member(s), governorate ${c.governorate}, ${c.rosterState}${c.revoked ? ', revoked' : ''}`);
    for (const [role, f] of Object.entries(m.firmware)) io.stdout(`firmware ${role}: ${f.file} (${f.version.join('.')}, anti-rollback ${f.antiRollback})`);
    io.stdout(`wrote ${resolve(dir, 'manifest.json')}`);
  },
};

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const code = await runIssuerCli(process.argv.slice(2), {
    stdout: (l) => process.stdout.write(`${l}\n`),
    stderr: (l) => process.stderr.write(`${l}\n`),
  });
  process.exitCode = code;
}
