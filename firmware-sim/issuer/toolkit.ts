/**
 * The issuer toolkit: the ministry's and the vendor's side of the trust chain, simulated.
 * Each function writes files into a directory and returns their paths and public key ids;
 * secrets go only into files of mode 0600 (key files, card files), never into return values
 * meant for printing. Time and randomness are injected ({@link ToolkitContext}).
 *
 * Files written:
 * - `issuer.key` / `issuer.pub.json`, `vendor.key` / `vendor.pub.json` (key-file.ts formats);
 * - `terminal-<id>.key` / `terminal-<id>.json` (device-identity.ts);
 * - `card-<cardId>.json` (card-file.ts);
 * - `roster.cbor`, `revocation.cbor` (signed-lists.ts);
 * - `firmware-<version>.img` (firmware-image.ts).
 */
import { access, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { issueCardCertificate, issueDeviceCertificate, MemberRole } from '../../protocol/crypto/certificates.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import { createFirmwareHeader } from '../../protocol/crypto/firmware-header.js';
import { sha512 } from '../../protocol/crypto/bytes.js';
import { keyIdHex } from '../../protocol/crypto/signed-structure.js';
import { UnicardError } from '../../protocol/errors.js';
import { writeFileAtomic } from '../hardware/atomic-file.js';
import { loadCardFile, saveCardFile, type CardFileData, type CardFileMember, type MemberRoleName } from '../hardware/card-file.js';
import { saveTerminalFile } from '../hardware/device-identity.js';
import { newTemplate } from '../hardware/fingerprint-template.js';
import { keyPairFromSeed, loadKeyFile, saveKeyFile, savePublicKeyFile, type KeyKind, type KeyPair } from '../hardware/key-file.js';
import type { RandomBytes } from '../hardware/random.js';
import { encodeFirmwareImage } from './firmware-image.js';
import {
  signRevocationList,
  signRoster,
  type CardStateName,
  type RevokedCard,
  type RevokedTerminal,
  type RosterEntry,
} from './signed-lists.js';

/** Injected crypto, randomness and time. */
export interface ToolkitContext {
  readonly ed: Ed25519;
  readonly random: RandomBytes;
  /** Current time, ms since the epoch. */
  readonly nowMs: () => number;
}

/** Codes of {@link ToolkitError}. */
export type ToolkitErrorCode = 'ISSUER_WOULD_OVERWRITE' | 'ISSUER_BAD_INPUT';

/** A request the toolkit refuses (the CLI prints the message, exit code 1). */
export class ToolkitError extends UnicardError {
  declare readonly code: ToolkitErrorCode;
  constructor(code: ToolkitErrorCode, message: string) {
    super(code, message);
  }
}

const DAY = 86_400;
const nowS = (ctx: ToolkitContext): number => Math.floor(ctx.nowMs() / 1000);

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function prepareDir(dir: string): Promise<void> {
  // 0700: the directory holds secrets (only applies to directories created here).
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

async function refuseOverwrite(path: string, force: boolean | undefined): Promise<void> {
  if (!force && (await exists(path))) {
    throw new ToolkitError('ISSUER_WOULD_OVERWRITE', `${path} exists; refusing to overwrite a secret (use --force to replace it)`);
  }
}

/** Result of creating a root key. */
export interface RootKeyResult {
  readonly keyPath: string;
  readonly publicKeyPath: string;
  readonly keyId: string;
}

async function initRoot(ctx: ToolkitContext, kind: KeyKind, dir: string, name: string, force?: boolean): Promise<RootKeyResult> {
  await prepareDir(dir);
  const keyPath = join(dir, `${name}.key`);
  const publicKeyPath = join(dir, `${name}.pub.json`);
  await refuseOverwrite(keyPath, force);
  const key = keyPairFromSeed(kind, ctx.random(32), ctx.ed);
  await saveKeyFile(keyPath, key);
  await savePublicKeyFile(publicKeyPath, key);
  return { keyPath, publicKeyPath, keyId: key.keyId };
}

/** Creates the issuer (ministry) root key: `<name>.key` (0600) and `<name>.pub.json`. */
export function initIssuer(ctx: ToolkitContext, opts: { dir: string; name?: string; force?: boolean }): Promise<RootKeyResult> {
  return initRoot(ctx, 'issuer-root', opts.dir, opts.name ?? 'issuer', opts.force);
}

/** Creates a vendor root key: `<name>.key` (0600) and `<name>.pub.json`. */
export function initVendor(ctx: ToolkitContext, opts: { dir: string; name?: string; force?: boolean }): Promise<RootKeyResult> {
  return initRoot(ctx, 'vendor-root', opts.dir, opts.name ?? 'vendor', opts.force);
}

/** Options of {@link makeTerminal}. */
export interface MakeTerminalOptions {
  dir: string;
  vendorKeyPath: string;
  terminalId: string;
  vendor: string;
  model: string;
  /** Unix seconds (default: now − 1 day). */
  validFrom?: number;
  /** Unix seconds (default: validFrom + 10 years). */
  validUntil?: number;
  force?: boolean;
}

/** Result of {@link makeTerminal}. */
export interface TerminalResult {
  readonly terminalId: string;
  readonly keyPath: string;
  /** Base path for DeviceIdentity.load (without .key/.json). */
  readonly identityBase: string;
  readonly identityPath: string;
  readonly keyId: string;
}

/** Creates a terminal identity: its key and a device certificate under the vendor root. */
export async function makeTerminal(ctx: ToolkitContext, o: MakeTerminalOptions): Promise<TerminalResult> {
  await prepareDir(o.dir);
  const vendorKey = await loadKeyFile(o.vendorKeyPath, ctx.ed, 'vendor-root');
  const base = join(o.dir, `terminal-${safeName(o.terminalId)}`);
  await refuseOverwrite(`${base}.key`, o.force);
  const key = keyPairFromSeed('terminal', ctx.random(32), ctx.ed);
  const validFrom = o.validFrom ?? nowS(ctx) - DAY;
  const certificate = issueDeviceCertificate(ctx.ed, vendorKey.seed, {
    subjectPublicKey: key.publicKey,
    terminalId: o.terminalId,
    vendor: o.vendor,
    model: o.model,
    validFrom,
    validUntil: o.validUntil ?? validFrom + 3650 * DAY,
  });
  await saveKeyFile(`${base}.key`, key);
  await saveTerminalFile(base, certificate, key.keyId);
  return { terminalId: o.terminalId, keyPath: `${base}.key`, identityBase: base, identityPath: `${base}.json`, keyId: key.keyId };
}

/** A member to put on a new card. */
export interface NewMember {
  role: MemberRoleName;
  name?: string;
}

/** Options of {@link makeCard}. */
export interface MakeCardOptions {
  dir: string;
  issuerKeyPath: string;
  cardId: string;
  householdId: string;
  governorate: number;
  /** Members in index order (indices 0, 1, 2, ... are assigned here). */
  members: readonly NewMember[];
  cardSerial?: number;
  /** Unix seconds (default: now − 1 day). */
  validFrom?: number;
  /** Unix seconds (default: validFrom + 5 years). */
  validUntil?: number;
  force?: boolean;
}

/** Result of {@link makeCard} (no secrets). */
export interface CardResult {
  readonly cardId: string;
  readonly cardPath: string;
  readonly householdId: string;
  readonly governorate: number;
  readonly cardSerial: number;
  /** Key id of the card key. */
  readonly keyId: string;
  readonly members: readonly { index: number; role: MemberRoleName; name?: string }[];
  readonly validFrom: number;
  readonly validUntil: number;
}

/**
 * Creates a card file: a fresh card key, one fingerprint template per member, the issuer's
 * certificate over card id, household, governorate, members, validity and serial; counter 0.
 */
export async function makeCard(ctx: ToolkitContext, o: MakeCardOptions): Promise<CardResult> {
  await prepareDir(o.dir);
  if (o.members.length === 0) throw new ToolkitError('ISSUER_BAD_INPUT', 'a card needs at least one member');
  for (const m of o.members) if (!Object.hasOwn(MemberRole, m.role)) throw new ToolkitError('ISSUER_BAD_INPUT', `unknown member role ${m.role}`);
  const issuer = await loadKeyFile(o.issuerKeyPath, ctx.ed, 'issuer-root');
  const cardPath = join(o.dir, `card-${safeName(o.cardId)}.json`);
  await refuseOverwrite(cardPath, o.force);
  const seed = ctx.random(32);
  const publicKey = ctx.ed.publicKeyFromSeed(seed);
  const validFrom = o.validFrom ?? nowS(ctx) - DAY;
  const validUntil = o.validUntil ?? validFrom + 5 * 365 * DAY;
  const cardSerial = o.cardSerial ?? 1;
  const members: CardFileMember[] = o.members.map((m, index) => ({
    index,
    role: m.role,
    ...(m.name !== undefined ? { name: m.name } : {}),
    template: newTemplate(ctx.random),
  }));
  const certificate = issueCardCertificate(ctx.ed, issuer.seed, {
    subjectPublicKey: publicKey,
    cardId: o.cardId,
    householdId: o.householdId,
    governorate: o.governorate,
    members: members.map((m) => ({ index: m.index, role: MemberRole[m.role] })),
    cardSerial,
    validFrom,
    validUntil,
  });
  const data: CardFileData = {
    cardId: o.cardId,
    householdId: o.householdId,
    governorate: o.governorate,
    cardSerial,
    validFrom,
    validUntil,
    members,
    seed,
    certificate,
    counter: 0,
  };
  await saveCardFile(cardPath, data);
  return {
    cardId: o.cardId,
    cardPath,
    householdId: o.householdId,
    governorate: o.governorate,
    cardSerial,
    keyId: keyIdHex(publicKey),
    members: members.map((m) => ({ index: m.index, role: m.role, ...(m.name !== undefined ? { name: m.name } : {}) })),
    validFrom,
    validUntil,
  };
}

/** A card's state to record in the roster. */
export interface CardStateChange {
  state: CardStateName;
  /** Unix seconds (default: the card's validFrom). */
  since?: number;
}

/** Options of {@link makeRoster}. */
export interface MakeRosterOptions {
  dir: string;
  issuerKeyPath: string;
  /** Card files to list (default: every card-*.json in `dir`). */
  cardPaths?: readonly string[];
  /** State per card id (default: active since validFrom). */
  states?: ReadonlyMap<string, CardStateChange>;
  sequence?: number;
  /** Output file name in `dir` (default roster.cbor). */
  out?: string;
}

/** Result of {@link makeRoster}. */
export interface RosterResult {
  readonly path: string;
  readonly entries: readonly RosterEntry[];
  readonly sequence: number;
}

/** Card files in a directory (card-*.json), sorted. */
export async function listCardFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names
    .filter((n) => n.startsWith('card-') && n.endsWith('.json'))
    .sort()
    .map((n) => join(dir, n));
}

/** Signs the roster of the given cards (household size = members on the card). */
export async function makeRoster(ctx: ToolkitContext, o: MakeRosterOptions): Promise<RosterResult> {
  await prepareDir(o.dir);
  const issuer = await loadKeyFile(o.issuerKeyPath, ctx.ed, 'issuer-root');
  const paths = o.cardPaths ?? (await listCardFiles(o.dir));
  const cards: CardFileData[] = [];
  for (const p of paths) cards.push(await loadCardFile(p, ctx.ed));
  const known = new Set(cards.map((c) => c.cardId));
  for (const id of o.states?.keys() ?? []) if (!known.has(id)) throw new ToolkitError('ISSUER_BAD_INPUT', `state given for unknown card ${id}`);
  const entries: RosterEntry[] = cards.map((c) => {
    const change = o.states?.get(c.cardId);
    return {
      cardId: c.cardId,
      cardSerial: c.cardSerial,
      householdId: c.householdId,
      householdSize: c.members.length,
      governorate: c.governorate,
      state: change?.state ?? 'active',
      since: change?.since ?? c.validFrom,
    };
  });
  const sequence = o.sequence ?? 1;
  const bytes = signRoster(ctx.ed, issuer.seed, { sequence, issuedAt: nowS(ctx), entries });
  const path = join(o.dir, o.out ?? 'roster.cbor');
  await writeFileAtomic(path, bytes, { mode: 0o644 });
  return { path, entries, sequence };
}

/** Options of {@link makeRevocation}. */
export interface MakeRevocationOptions {
  dir: string;
  issuerKeyPath: string;
  cards?: readonly RevokedCard[];
  terminals?: readonly RevokedTerminal[];
  sequence?: number;
  /** Output file name in `dir` (default revocation.cbor). */
  out?: string;
}

/** Signs a revocation list. */
export async function makeRevocation(ctx: ToolkitContext, o: MakeRevocationOptions): Promise<{ path: string; sequence: number }> {
  await prepareDir(o.dir);
  const issuer = await loadKeyFile(o.issuerKeyPath, ctx.ed, 'issuer-root');
  const sequence = o.sequence ?? 1;
  const bytes = signRevocationList(ctx.ed, issuer.seed, {
    sequence,
    issuedAt: nowS(ctx),
    cards: o.cards ?? [],
    terminals: o.terminals ?? [],
  });
  const path = join(o.dir, o.out ?? 'revocation.cbor');
  await writeFileAtomic(path, bytes, { mode: 0o644 });
  return { path, sequence };
}

/** Options of {@link makeFirmware}. */
export interface MakeFirmwareOptions {
  dir: string;
  vendorKeyPath: string;
  vendor: string;
  model: string;
  version: readonly [number, number, number];
  antiRollback: number;
  /** Image body; default: `size` random bytes. */
  body?: Uint8Array;
  /** Body size when no body is given (default 65,536). */
  size?: number;
  /** Output file name in `dir` (default firmware-<version>.img). */
  out?: string;
}

/** Result of {@link makeFirmware}. */
export interface FirmwareResult {
  readonly path: string;
  readonly version: readonly [number, number, number];
  readonly antiRollback: number;
  readonly size: number;
  /** SHA-512 of the body, hex. */
  readonly bodyHash: string;
}

/** Signs a firmware image with the vendor key and writes the image file. */
export async function makeFirmware(ctx: ToolkitContext, o: MakeFirmwareOptions): Promise<FirmwareResult> {
  await prepareDir(o.dir);
  const vendorKey = await loadKeyFile(o.vendorKeyPath, ctx.ed, 'vendor-root');
  return writeFirmware(ctx, o, vendorKey);
}

/** {@link makeFirmware} with a key already in memory (used by demo-world for the forged image). */
export async function writeFirmware(ctx: ToolkitContext, o: Omit<MakeFirmwareOptions, 'vendorKeyPath'>, key: KeyPair): Promise<FirmwareResult> {
  const body = o.body ?? ctx.random(o.size ?? 65_536);
  const header = createFirmwareHeader(ctx.ed, key.seed, { vendor: o.vendor, model: o.model, version: o.version, antiRollback: o.antiRollback }, body);
  const path = join(o.dir, o.out ?? `firmware-${o.version.join('.')}.img`);
  await writeFileAtomic(path, encodeFirmwareImage(header, body), { mode: 0o644 });
  return { path, version: o.version, antiRollback: o.antiRollback, size: body.length, bodyHash: Buffer.from(sha512(body)).toString('hex') };
}

/** File-name-safe form of an id (ids are ASCII in practice; anything else becomes "_"). */
export function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_');
}
