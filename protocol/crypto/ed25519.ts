/**
 * Ed25519 (RFC 8032, pure EdDSA) behind one small interface with three implementations:
 * - {@link SodiumEd25519}: libsodium through sodium-native, the daemon's fast path (on this
 *   project's machines 2 × node:crypto's verify and sign: BENCHMARKS.md);
 * - {@link NodeEd25519}: node:crypto (OpenSSL), where the native addon cannot load;
 * - {@link TweetnaclEd25519}: tweetnacl, the firmware reference (the shape a C port with
 *   TweetNaCl or Monocypher has).
 * Ed25519 is deterministic, so all produce identical signatures for the same seed and
 * message. All reject malleable signatures (S >= L), which tweetnacl alone does not check.
 * {@link fastestEd25519} picks the daemon's.
 */
import { createHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import { CryptoError } from '../errors.js';
import { concatBytes, isBytes } from './bytes.js';
import { loadSodium, sodiumUnavailableReason, type SodiumBinding } from './sodium-addon.js';

/** Length of an Ed25519 seed (the RFC 8032 private key). */
export const ED25519_SEED_LENGTH = 32;
/** Length of an Ed25519 public key. */
export const ED25519_PUBLIC_KEY_LENGTH = 32;
/** Length of an Ed25519 signature (R ‖ S). */
export const ED25519_SIGNATURE_LENGTH = 64;

/** Ed25519 signing and verification; implementations differ only in speed. */
export interface Ed25519 {
  /** 'libsodium' | 'node:crypto' | 'tweetnacl' */
  readonly name: string;
  /** Public key (32 bytes) of a 32-byte seed. Throws CryptoError KEY_INVALID on a bad seed. */
  publicKeyFromSeed(seed32: Uint8Array): Uint8Array;
  /** 64-byte signature of `message`. Throws CryptoError KEY_INVALID on a bad seed. */
  sign(seed32: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * True only for a valid signature with S < L. Wrong key or signature lengths, keys that
   * are not curve points and every other defect give false, never an exception.
   */
  verify(publicKey32: Uint8Array, message: Uint8Array, signature64: Uint8Array): boolean;
}

/** The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
const L_LE = new Uint8Array([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
]);

/**
 * True when the S half of a 64-byte signature (bytes 32..63, little-endian) is below the
 * group order L. RFC 8032 §5.1.7 requires this; without it S + L verifies as well, giving
 * a second valid signature for the same message. Not secret data: plain comparison.
 */
export function isCanonicalS(signature64: Uint8Array): boolean {
  if (signature64.length !== ED25519_SIGNATURE_LENGTH) return false;
  for (let i = 31; i >= 0; i--) {
    const s = signature64[32 + i] as number;
    const l = L_LE[i] as number;
    if (s < l) return true;
    if (s > l) return false;
  }
  return false; // S == L
}

function checkSeed(seed32: Uint8Array): void {
  if (!isBytes(seed32, ED25519_SEED_LENGTH)) {
    throw new CryptoError('KEY_INVALID', `Ed25519 seed must be ${ED25519_SEED_LENGTH} bytes`);
  }
}

/**
 * A size-bounded map with least-recently-used eviction. Held by one implementation
 * instance (no global state); keeps parsed keys so hot keys are not re-parsed per call.
 */
class BoundedCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v !== undefined) {
      // Re-insert: Map keeps insertion order, so the oldest entry is the first one.
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  set(key: string, value: V): void {
    if (this.capacity <= 0) return;
    this.entries.delete(key);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Cache key for public data: the bytes themselves as a short string. */
function publicCacheKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Cache key for a seed: a hash, so the secret itself never becomes an immutable JS string. */
function seedCacheKey(seed: Uint8Array): string {
  return createHash('sha256').update('unicard seed cache').update(seed).digest('base64');
}

// Fixed DER wrappers for raw Ed25519 keys (RFC 8410): PKCS#8 v1 with OID 1.3.101.112 and
// the seed as an OCTET STRING; SubjectPublicKeyInfo with the 32-byte key as a BIT STRING.
const PKCS8_PREFIX = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const SPKI_PREFIX = new Uint8Array([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** Options for {@link NodeEd25519}. */
export interface NodeEd25519Options {
  /** How many parsed public keys to keep (default 4096). */
  publicKeyCacheSize?: number;
  /** How many parsed private keys to keep (default 64). */
  privateKeyCacheSize?: number;
}

/**
 * Ed25519 on node:crypto (OpenSSL). Builds KeyObjects from raw keys through the fixed
 * PKCS#8/SPKI prefixes and keeps them in per-instance bounded caches: the daemon verifies
 * thousands of signatures per second from a small set of keys.
 */
export class NodeEd25519 implements Ed25519 {
  readonly name = 'node:crypto';
  private readonly publicKeys: BoundedCache<KeyObject>;
  private readonly privateKeys: BoundedCache<KeyObject>;

  constructor(options: NodeEd25519Options = {}) {
    this.publicKeys = new BoundedCache(options.publicKeyCacheSize ?? 4096);
    this.privateKeys = new BoundedCache(options.privateKeyCacheSize ?? 64);
  }

  private privateKey(seed32: Uint8Array): KeyObject {
    checkSeed(seed32);
    const cacheKey = seedCacheKey(seed32);
    let key = this.privateKeys.get(cacheKey);
    if (key === undefined) {
      try {
        key = createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_PREFIX, seed32)), format: 'der', type: 'pkcs8' });
      } catch {
        throw new CryptoError('KEY_INVALID', 'Ed25519 seed rejected by node:crypto');
      }
      this.privateKeys.set(cacheKey, key);
    }
    return key;
  }

  private publicKey(publicKey32: Uint8Array): KeyObject | undefined {
    const cacheKey = publicCacheKey(publicKey32);
    let key = this.publicKeys.get(cacheKey);
    if (key === undefined) {
      try {
        key = createPublicKey({ key: Buffer.from(concatBytes(SPKI_PREFIX, publicKey32)), format: 'der', type: 'spki' });
      } catch {
        return undefined;
      }
      this.publicKeys.set(cacheKey, key);
    }
    return key;
  }

  publicKeyFromSeed(seed32: Uint8Array): Uint8Array {
    const spki = createPublicKey(this.privateKey(seed32)).export({ format: 'der', type: 'spki' });
    return new Uint8Array(spki.subarray(spki.length - ED25519_PUBLIC_KEY_LENGTH));
  }

  sign(seed32: Uint8Array, message: Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign(null, message, this.privateKey(seed32)));
  }

  verify(publicKey32: Uint8Array, message: Uint8Array, signature64: Uint8Array): boolean {
    if (!isBytes(publicKey32, ED25519_PUBLIC_KEY_LENGTH) || !isBytes(signature64, ED25519_SIGNATURE_LENGTH) || !isBytes(message)) {
      return false;
    }
    // OpenSSL checks S < L itself; checking here too keeps the rule visible and uniform.
    if (!isCanonicalS(signature64)) return false;
    const key = this.publicKey(publicKey32);
    if (key === undefined) return false;
    try {
      return nodeVerify(null, message, key, signature64);
    } catch {
      return false;
    }
  }

  /** Number of cached public keys (for tests of the bound). */
  get cachedPublicKeys(): number {
    return this.publicKeys.size;
  }
}

/**
 * Ed25519 on libsodium (sodium-native's prebuilt addon): the same verdicts as node:crypto on
 * all 151 Wycheproof cases and the RFC 8032 vectors (tests), at about half its cost per verify
 * and per sign on this project's machines. Expanded secret keys are kept per seed (bounded,
 * keyed by a hash of the seed), as the node implementation keeps its KeyObjects.
 */
export class SodiumEd25519 implements Ed25519 {
  readonly name = 'libsodium';
  private readonly keyPairs = new BoundedCache<{ secretKey: Uint8Array; publicKey: Uint8Array }>(64);

  private constructor(private readonly sodium: SodiumBinding) {}

  /** An instance, or undefined when the addon does not load on this machine. */
  static create(): SodiumEd25519 | undefined {
    const binding = loadSodium();
    return binding === null ? undefined : new SodiumEd25519(binding);
  }

  /** Why the addon did not load (for the daemon's start record), or undefined. */
  static get unavailableReason(): string | undefined {
    return sodiumUnavailableReason();
  }

  private keyPair(seed32: Uint8Array): { secretKey: Uint8Array; publicKey: Uint8Array } {
    checkSeed(seed32);
    const cacheKey = seedCacheKey(seed32);
    let pair = this.keyPairs.get(cacheKey);
    if (pair === undefined) {
      const publicKey = new Uint8Array(ED25519_PUBLIC_KEY_LENGTH);
      const secretKey = new Uint8Array(64);
      try {
        this.sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed32);
      } catch {
        throw new CryptoError('KEY_INVALID', 'Ed25519 seed rejected by libsodium');
      }
      pair = { secretKey, publicKey };
      this.keyPairs.set(cacheKey, pair);
    }
    return pair;
  }

  publicKeyFromSeed(seed32: Uint8Array): Uint8Array {
    return new Uint8Array(this.keyPair(seed32).publicKey);
  }

  sign(seed32: Uint8Array, message: Uint8Array): Uint8Array {
    const { secretKey } = this.keyPair(seed32);
    const signature = new Uint8Array(ED25519_SIGNATURE_LENGTH);
    this.sodium.crypto_sign_detached(signature, message, secretKey);
    return signature;
  }

  verify(publicKey32: Uint8Array, message: Uint8Array, signature64: Uint8Array): boolean {
    if (!isBytes(publicKey32, ED25519_PUBLIC_KEY_LENGTH) || !isBytes(signature64, ED25519_SIGNATURE_LENGTH) || !isBytes(message)) {
      return false;
    }
    // libsodium checks S < L itself; checking here too keeps the rule visible and uniform.
    if (!isCanonicalS(signature64)) return false;
    try {
      return this.sodium.crypto_sign_verify_detached(signature64, message, publicKey32);
    } catch {
      return false;
    }
  }
}

/**
 * The fastest Ed25519 this machine offers: libsodium when its addon loads, else node:crypto.
 * What the daemon signs receipts and verifies cards and terminals with.
 */
export function fastestEd25519(): Ed25519 {
  return SodiumEd25519.create() ?? new NodeEd25519();
}

/**
 * Ed25519 on tweetnacl: the reference for firmware ports (TweetNaCl-C, Monocypher).
 * Adds the S < L check that tweetnacl's verify lacks (Wycheproof tcId 63–66, 85).
 */
export class TweetnaclEd25519 implements Ed25519 {
  readonly name = 'tweetnacl';
  // tweetnacl's 64-byte secret key (seed ‖ public key); deriving it costs a scalar
  // multiplication, so it is kept per seed like the node implementation does.
  private readonly secretKeys = new BoundedCache<Uint8Array>(64);

  private secretKey(seed32: Uint8Array): Uint8Array {
    checkSeed(seed32);
    const cacheKey = seedCacheKey(seed32);
    let sk = this.secretKeys.get(cacheKey);
    if (sk === undefined) {
      sk = nacl.sign.keyPair.fromSeed(seed32).secretKey;
      this.secretKeys.set(cacheKey, sk);
    }
    return sk;
  }

  publicKeyFromSeed(seed32: Uint8Array): Uint8Array {
    return this.secretKey(seed32).slice(ED25519_SEED_LENGTH);
  }

  sign(seed32: Uint8Array, message: Uint8Array): Uint8Array {
    return nacl.sign.detached(message, this.secretKey(seed32));
  }

  verify(publicKey32: Uint8Array, message: Uint8Array, signature64: Uint8Array): boolean {
    if (!isBytes(publicKey32, ED25519_PUBLIC_KEY_LENGTH) || !isBytes(signature64, ED25519_SIGNATURE_LENGTH) || !isBytes(message)) {
      return false;
    }
    if (!isCanonicalS(signature64)) return false;
    try {
      return nacl.sign.detached.verify(message, signature64, publicKey32);
    } catch {
      return false;
    }
  }
}

/**
 * An {@link Ed25519} that remembers the signatures it has seen verify, for structures that
 * come back again and again (a household's card certificate, at the same bakery every day):
 * the second time costs a SHA-256 instead of a curve check. Only successes are kept, keyed by
 * SHA-256 over public key ‖ signature ‖ message, so a hit means exactly this key signed exactly
 * this message. Never use it for fresh challenges (each nonce is new: every lookup would miss).
 * Bounded, least-recently-used; the state is this instance's, not global.
 */
export class VerifiedSignatureCache implements Ed25519 {
  readonly name: string;
  private readonly verified = new Map<string, true>();

  /** @param capacity how many verified signatures to keep (default 4,096: ~0.5 MB). */
  constructor(
    private readonly inner: Ed25519,
    readonly capacity = 4096,
  ) {
    this.name = inner.name;
  }

  publicKeyFromSeed(seed32: Uint8Array): Uint8Array {
    return this.inner.publicKeyFromSeed(seed32);
  }

  sign(seed32: Uint8Array, message: Uint8Array): Uint8Array {
    return this.inner.sign(seed32, message);
  }

  verify(publicKey32: Uint8Array, message: Uint8Array, signature64: Uint8Array): boolean {
    if (!isBytes(publicKey32, ED25519_PUBLIC_KEY_LENGTH) || !isBytes(signature64, ED25519_SIGNATURE_LENGTH) || !isBytes(message)) {
      return false;
    }
    const key = createHash('sha256').update(publicKey32).update(signature64).update(message).digest('base64');
    if (this.verified.has(key)) {
      this.verified.delete(key); // most recently used goes last
      this.verified.set(key, true);
      return true;
    }
    if (!this.inner.verify(publicKey32, message, signature64)) return false;
    if (this.verified.size >= this.capacity) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(key, true);
    return true;
  }

  /** Signatures remembered now (for tests of the bound). */
  get size(): number {
    return this.verified.size;
  }
}
