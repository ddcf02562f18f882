/**
 * The shop's dispensing settings: `dispense.json` in the daemon's data dir (the daemon's own
 * config schema is closed, so dispensing keeps its file next to the ledger). Example:
 *
 *   {
 *     "shopId": "BAKERY-PSD-1", "shopGovernorate": 3,
 *     "roster": "/etc/unicard/roster.cbor", "revocation": "/etc/unicard/revocation.cbor",
 *     "policy": "/etc/unicard/policy.cbor",          // optional: the shipped default rules
 *     "supervisors": ["SUP-PSD-1"], "supervisorDailyCap": 5,
 *     "authorizationTtlMs": 120000, "cardTimeoutMs": 60000, "fingerTimeoutMs": 30000,
 *     "fingerAttempts": 3, "breadPricePiastres": 20
 *   }
 *
 * Relative paths are relative to the file. The roster, the revocation list and the policy
 * are verified under the configured issuer roots at load. The daemon's receipt-signing key is
 * `daemon.key` (32-byte seed, hex, mode 0600) in the data dir, made on first start, with its
 * public key in `daemon.pub` (hex) for auditors; the ledger is `ledger.sqlite` there.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import type { TrustedKeys } from '../../protocol/crypto/signed-structure.js';
import { verifyRevocationList, verifyRoster, type RevocationList, type Roster } from '../../firmware-sim/issuer/signed-lists.js';
import { DEFAULT_POLICY, verifyPolicy, type Policy } from '../policy/index.js';
import { DISPENSE_DEFAULTS, type DispenseSettings } from './dispense-service.js';

/** File name of the dispensing settings in the data dir. */
export const DISPENSE_CONFIG_FILE = 'dispense.json';
/** File names of the daemon key and ledger in the data dir. */
export const DAEMON_KEY_FILE = 'daemon.key';
export const DAEMON_PUB_FILE = 'daemon.pub';
export const LEDGER_FILE = 'ledger.sqlite';

/** A bad dispense.json: the message names the field. */
export class DispenseConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DispenseConfigError';
  }
}

/** What {@link loadDispenseConfig} gives. */
export interface LoadedDispenseConfig {
  readonly settings: DispenseSettings;
  readonly roster: Roster;
  readonly revocation: RevocationList | undefined;
  readonly policies: readonly Policy[];
  readonly daemonSeed: Uint8Array;
  readonly daemonPublicKey: Uint8Array;
  readonly ledgerPath: string;
}

const FIELDS = [
  'shopId',
  'shopGovernorate',
  'roster',
  'revocation',
  'policy',
  'supervisors',
  'supervisorDailyCap',
  'authorizationTtlMs',
  'cardTimeoutMs',
  'fingerTimeoutMs',
  'fingerAttempts',
  'breadPricePiastres',
  'ledger',
] as const;

function int(raw: Record<string, unknown>, name: string, min: number, max: number, fallback?: number): number {
  const v = raw[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new DispenseConfigError(`${name}: must be a whole number in ${min}..${max}`);
  return v;
}

function text(raw: Record<string, unknown>, name: string): string {
  const v = raw[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > 64 || !/^[\x21-\x7e]+$/.test(v)) throw new DispenseConfigError(`${name}: must be 1..64 printable ASCII characters without spaces`);
  return v;
}

async function readBytes(path: string, field: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new DispenseConfigError(`${field}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

/** The daemon's receipt-signing seed, made (0600) on first use. */
export async function daemonKey(dataDir: string, ed: Ed25519): Promise<{ seed: Uint8Array; publicKey: Uint8Array }> {
  const path = join(dataDir, DAEMON_KEY_FILE);
  let seed: Uint8Array;
  if (existsSync(path)) {
    const hex = (await readFile(path, 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new DispenseConfigError(`${path}: expected 64 hex digits (the daemon's Ed25519 seed)`);
    seed = new Uint8Array(Buffer.from(hex, 'hex'));
  } else {
    seed = new Uint8Array(randomBytes(32));
    await writeFile(path, `${Buffer.from(seed).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  }
  const publicKey = ed.publicKeyFromSeed(seed);
  await writeFile(join(dataDir, DAEMON_PUB_FILE), `${Buffer.from(publicKey).toString('hex')}\n`, { mode: 0o644 });
  return { seed, publicKey };
}

/** Reads and checks dispense.json (and what it names). DispenseConfigError on any problem. */
export async function loadDispenseConfig(path: string, o: { dataDir: string; issuerKeys: TrustedKeys; ed: Ed25519 }): Promise<LoadedDispenseConfig> {
  let raw: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new DispenseConfigError('the file must hold a JSON object');
    raw = v as Record<string, unknown>;
  } catch (e) {
    if (e instanceof DispenseConfigError) throw new DispenseConfigError(`${path}: ${e.message}`);
    throw new DispenseConfigError(`${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const where = (m: string): DispenseConfigError => new DispenseConfigError(`${path}: ${m}`);
  try {
    for (const k of Object.keys(raw)) if (!(FIELDS as readonly string[]).includes(k)) throw new DispenseConfigError(`${k}: unknown field (known: ${FIELDS.join(', ')})`);
    const base = dirname(resolve(path));
    const file = (name: string): string | undefined => {
      const v = raw[name];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v.length === 0) throw new DispenseConfigError(`${name}: must be a file path`);
      return isAbsolute(v) ? v : join(base, v);
    };
    const supervisors = raw.supervisors ?? [];
    if (!Array.isArray(supervisors) || !supervisors.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 64)) {
      throw new DispenseConfigError('supervisors: must be a list of supervisor ids');
    }
    const settings: DispenseSettings = {
      shopId: text(raw, 'shopId'),
      shopGovernorate: int(raw, 'shopGovernorate', 0, 99),
      authorizationTtlMs: int(raw, 'authorizationTtlMs', 1000, 86_400_000, DISPENSE_DEFAULTS.authorizationTtlMs),
      cardTimeoutMs: int(raw, 'cardTimeoutMs', 100, 600_000, DISPENSE_DEFAULTS.cardTimeoutMs),
      fingerTimeoutMs: int(raw, 'fingerTimeoutMs', 100, 600_000, DISPENSE_DEFAULTS.fingerTimeoutMs),
      fingerAttempts: int(raw, 'fingerAttempts', 1, 10, DISPENSE_DEFAULTS.fingerAttempts),
      supervisors: supervisors as string[],
      supervisorDailyCap: int(raw, 'supervisorDailyCap', 0, 1000, DISPENSE_DEFAULTS.supervisorDailyCap),
      breadPricePiastres: int(raw, 'breadPricePiastres', 0, 100_000, DISPENSE_DEFAULTS.breadPricePiastres),
    };
    const rosterPath = file('roster');
    if (rosterPath === undefined) throw new DispenseConfigError('roster: is required (the issuer-signed entitlement roster)');
    let roster: Roster;
    try {
      roster = verifyRoster(await readBytes(rosterPath, 'roster'), o.issuerKeys, o.ed);
    } catch (e) {
      if (e instanceof DispenseConfigError) throw e;
      throw new DispenseConfigError(`roster: ${rosterPath} does not verify under the issuer roots (${(e as { code?: string }).code ?? String(e)})`);
    }
    const revocationPath = file('revocation');
    let revocation: RevocationList | undefined;
    if (revocationPath !== undefined) {
      try {
        revocation = verifyRevocationList(await readBytes(revocationPath, 'revocation'), o.issuerKeys, o.ed);
      } catch (e) {
        if (e instanceof DispenseConfigError) throw e;
        throw new DispenseConfigError(`revocation: ${revocationPath} does not verify under the issuer roots (${(e as { code?: string }).code ?? String(e)})`);
      }
    }
    const policyPath = file('policy');
    let policies: Policy[] = [DEFAULT_POLICY];
    if (policyPath !== undefined) {
      try {
        policies = [verifyPolicy(await readBytes(policyPath, 'policy'), o.issuerKeys, o.ed).policy];
      } catch (e) {
        if (e instanceof DispenseConfigError) throw e;
        throw new DispenseConfigError(`policy: ${policyPath} does not verify under the issuer roots (${(e as { code?: string }).code ?? String(e)})`);
      }
    }
    const key = await daemonKey(o.dataDir, o.ed);
    return {
      settings,
      roster,
      revocation,
      policies,
      daemonSeed: key.seed,
      daemonPublicKey: key.publicKey,
      ledgerPath: file('ledger') ?? join(o.dataDir, LEDGER_FILE),
    };
  } catch (e) {
    if (e instanceof DispenseConfigError) throw where(e.message);
    throw e;
  }
}
