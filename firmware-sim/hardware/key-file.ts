/**
 * Key files: one Ed25519 seed per file, JSON, mode 0600, written atomically. The public
 * half travels separately (public key files, certificates); tools print paths and key ids,
 * never the seed.
 *
 * ```json
 * { "format": "unicard-key/1", "kind": "issuer-root", "keyId": "<8 bytes hex>",
 *   "publicKey": "<32 bytes hex>", "seed": "<32 bytes hex>" }
 * ```
 */
import { readFile, stat } from 'node:fs/promises';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import { keyIdHex } from '../../protocol/crypto/signed-structure.js';
import { writeFileAtomic } from './atomic-file.js';
import { HardwareError } from './hardware-error.js';

/** Format tag of secret key files. */
export const KEY_FILE_FORMAT = 'unicard-key/1';
/** Format tag of public key files. */
export const PUBLIC_KEY_FILE_FORMAT = 'unicard-public-key/1';

/** What a key is for. */
export type KeyKind = 'issuer-root' | 'vendor-root' | 'terminal';
const KINDS: readonly KeyKind[] = ['issuer-root', 'vendor-root', 'terminal'];

/** A loaded secret key. Keep it in memory only as long as needed. */
export interface KeyPair {
  readonly kind: KeyKind;
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
  /** Key id (lower-case hex): first 8 bytes of SHA-512(public key). */
  readonly keyId: string;
}

/** A public key as published to verifiers (trust stores, the daemon's config). */
export interface PublicKeyInfo {
  readonly kind: KeyKind;
  readonly publicKey: Uint8Array;
  readonly keyId: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Make a key pair from a 32-byte seed. */
export function keyPairFromSeed(kind: KeyKind, seed: Uint8Array, ed: Ed25519): KeyPair {
  const publicKey = ed.publicKeyFromSeed(seed);
  return { kind, seed: Uint8Array.from(seed), publicKey, keyId: keyIdHex(publicKey) };
}

/** Write a secret key file (mode 0600, atomic). */
export async function saveKeyFile(path: string, key: KeyPair): Promise<void> {
  const json = { format: KEY_FILE_FORMAT, kind: key.kind, keyId: key.keyId, publicKey: hex(key.publicKey), seed: hex(key.seed) };
  await writeFileAtomic(path, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o600 });
}

/** Write a public key file (mode 0644, atomic). */
export async function savePublicKeyFile(path: string, key: PublicKeyInfo): Promise<void> {
  const json = { format: PUBLIC_KEY_FILE_FORMAT, kind: key.kind, keyId: key.keyId, publicKey: hex(key.publicKey) };
  await writeFileAtomic(path, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o644 });
}

/**
 * Read a secret key file, checking its kind (if `expected` is given), that the public key
 * is the seed's, and that the file is not readable by group or others.
 * Throws HardwareError IDENTITY_INVALID.
 */
export async function loadKeyFile(path: string, ed: Ed25519, expected?: KeyKind): Promise<KeyPair> {
  const bad = (why: string): never => {
    throw new HardwareError('IDENTITY_INVALID', `key file ${path}: ${why}`);
  };
  let text: string;
  try {
    const st = await stat(path);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) bad('readable by others (chmod 600 it)');
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof HardwareError) throw e;
    return bad(`cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return bad('not JSON');
  }
  if (!j || typeof j !== 'object' || j.format !== KEY_FILE_FORMAT) return bad(`format is not ${KEY_FILE_FORMAT}`);
  const kind = j.kind as KeyKind;
  if (!KINDS.includes(kind)) return bad('unknown kind');
  if (expected !== undefined && kind !== expected) return bad(`is a ${kind} key, expected ${expected}`);
  if (typeof j.seed !== 'string' || !/^[0-9a-f]{64}$/.test(j.seed)) return bad('seed');
  const pair = keyPairFromSeed(kind, new Uint8Array(Buffer.from(j.seed, 'hex')), ed);
  if (j.publicKey !== hex(pair.publicKey)) return bad('public key does not belong to the seed');
  return pair;
}

/** Read a public key file. Throws HardwareError IDENTITY_INVALID. */
export async function loadPublicKeyFile(path: string, expected?: KeyKind): Promise<PublicKeyInfo> {
  const bad = (why: string): never => {
    throw new HardwareError('IDENTITY_INVALID', `public key file ${path}: ${why}`);
  };
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return bad('cannot read or not JSON');
  }
  if (!j || typeof j !== 'object' || j.format !== PUBLIC_KEY_FILE_FORMAT) return bad(`format is not ${PUBLIC_KEY_FILE_FORMAT}`);
  const kind = j.kind as KeyKind;
  if (!KINDS.includes(kind)) return bad('unknown kind');
  if (expected !== undefined && kind !== expected) return bad(`is a ${kind} key, expected ${expected}`);
  if (typeof j.publicKey !== 'string' || !/^[0-9a-f]{64}$/.test(j.publicKey)) return bad('public key');
  const publicKey = new Uint8Array(Buffer.from(j.publicKey, 'hex'));
  const keyId = keyIdHex(publicKey);
  if (j.keyId !== keyId) return bad('key id does not match the public key');
  return { kind, publicKey, keyId };
}
