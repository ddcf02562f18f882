/**
 * Root public keys the daemon trusts: vendor roots (terminal device certificates, firmware)
 * and issuer roots (cards, rosters, policy, revocation lists). A root comes from the config
 * as a public key file written by the issuer toolkit,
 *
 * ```json
 * { "format": "unicard-public-key/1", "kind": "vendor-root", "keyId": "7649cc65fa83a883",
 *   "publicKey": "77a2ef85…5597f" }
 * ```
 *
 * or as a file holding just the 64 hex digits of the key, or as those hex digits inline.
 */
import { readFile } from 'node:fs/promises';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { keyIdHex } from '../../protocol/crypto/signed-structure.js';
import { TrustStoreError } from './trust-error.js';

/** Format tag of public key files (the issuer toolkit's). */
export const PUBLIC_KEY_FILE_FORMAT = 'unicard-public-key/1';
/** Format tag of secret key files, refused here with a clear message. */
const SECRET_KEY_FILE_FORMAT = 'unicard-key/1';

/** Which kind of root a key is. */
export type RootKind = 'vendor-root' | 'issuer-root';

/** A trusted root key. */
export interface RootKey {
  readonly kind: RootKind;
  readonly publicKey: Uint8Array;
  /** Lower-case hex key id: first 8 bytes of SHA-512(publicKey). */
  readonly keyId: string;
  /** Where it came from: the file path, or "inline". */
  readonly source: string;
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** True for a string that is a public key itself rather than a file name. */
export function isHexKey(text: string): boolean {
  return HEX_KEY.test(text.trim());
}

/** A root key from its 64 hex digits. */
export function rootKeyFromHex(hex: string, kind: RootKind, source = 'inline'): RootKey {
  const t = hex.trim();
  if (!HEX_KEY.test(t)) {
    throw new TrustStoreError('ROOT_KEY_INVALID', `${source}: a public key is 64 hex digits (32 bytes)`, { source });
  }
  const publicKey = new Uint8Array(Buffer.from(t, 'hex'));
  return { kind, publicKey, keyId: keyIdHex(publicKey), source };
}

/**
 * Parses the text of a public key file (JSON in the toolkit's format, or bare hex), checking
 * its kind and that its key id belongs to the key. Throws ROOT_KEY_INVALID naming `source`.
 */
export function parseRootKeyFile(text: string, kind: RootKind, source: string): RootKey {
  const bad = (why: string): never => {
    throw new TrustStoreError('ROOT_KEY_INVALID', `${source}: ${why}`, { source });
  };
  const t = text.trim();
  if (HEX_KEY.test(t)) return rootKeyFromHex(t, kind, source);
  let j: unknown;
  try {
    j = JSON.parse(t);
  } catch {
    return bad(`not a public key file (expected ${PUBLIC_KEY_FILE_FORMAT} JSON or 64 hex digits)`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) return bad('not a public key file (the JSON is not an object)');
  const o = j as Record<string, unknown>;
  if (o.format === SECRET_KEY_FILE_FORMAT) {
    return bad('this is a SECRET key file: give the daemon the public key file (*.pub.json) and keep the secret one off this machine');
  }
  if (o.format !== PUBLIC_KEY_FILE_FORMAT) return bad(`format must be "${PUBLIC_KEY_FILE_FORMAT}" (got ${JSON.stringify(o.format ?? null)})`);
  if (o.kind !== kind) {
    const got = typeof o.kind === 'string' ? o.kind : 'key of no kind';
    return bad(`is ${aOrAn(got)} ${got} key, not ${aOrAn(kind)} ${kind} key (vendor roots sign terminals, issuer roots sign cards)`);
  }
  if (typeof o.publicKey !== 'string' || !HEX_KEY.test(o.publicKey)) return bad('publicKey must be 64 hex digits');
  const key = rootKeyFromHex(o.publicKey, kind, source);
  if (o.keyId !== undefined && (typeof o.keyId !== 'string' || o.keyId.toLowerCase() !== key.keyId)) {
    return bad(`keyId ${JSON.stringify(o.keyId)} does not belong to the public key (its key id is ${key.keyId}): the file was edited or damaged`);
  }
  return key;
}

/** Reads and parses a public key file. Throws ROOT_KEY_INVALID naming the file. */
export async function loadRootKeyFile(path: string, kind: RootKind): Promise<RootKey> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
    throw new TrustStoreError('ROOT_KEY_INVALID', `${path}: cannot read the ${kind} key: ${why}`, { source: path });
  }
  return parseRootKeyFile(text, kind, path);
}

/** The keys as a TrustedKeys map (key id → key), as the certificate checks take them. */
export function trustedKeysOfRoots(roots: readonly RootKey[]): Map<string, Uint8Array> {
  return trustedKeysOf(roots.map((r) => r.publicKey));
}

function aOrAn(word: string): string {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}
