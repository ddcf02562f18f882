/**
 * Session key math: X25519 ephemeral keys, the shared secret (refusing the all-zero
 * result of low-order points) and the per-direction key derivation.
 */
import nacl from 'tweetnacl';
import { SessionError } from '../errors.js';
import { concatBytes, isAllZero, isBytes, sha512, utf8 } from './bytes.js';
import { SESSION_KEY_LABEL } from './domains.js';

/** Length of X25519 secret keys, public keys and shared secrets. */
export const X25519_KEY_LENGTH = 32;
/** Length of each derived session key (XSalsa20-Poly1305 key). */
export const SESSION_KEY_LENGTH = 32;
/** Length of the handshake transcript hash (SHA-512). */
export const TRANSCRIPT_HASH_LENGTH = 64;

/** One key per direction: host → terminal and terminal → host. */
export interface SessionKeys {
  readonly h2t: Uint8Array;
  readonly t2h: Uint8Array;
}

/** An X25519 key pair. The secret is 32 random bytes; X25519 clamps it when used. */
export interface X25519KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** Key pair from 32 random bytes (clamping happens inside X25519, as in RFC 7748). */
export function x25519KeyPairFromSecret(secretKey: Uint8Array): X25519KeyPair {
  if (!isBytes(secretKey, X25519_KEY_LENGTH)) {
    throw new SessionError('HANDSHAKE_MALFORMED', `X25519 secret key must be ${X25519_KEY_LENGTH} bytes`);
  }
  return { secretKey: new Uint8Array(secretKey), publicKey: nacl.scalarMult.base(secretKey) };
}

/**
 * X25519(secret, peer public). Throws SessionError HANDSHAKE_WEAK_KEY when the result is
 * all zero: the peer sent a low-order point (or zero), which would make the "shared"
 * secret known to anyone. Throws HANDSHAKE_MALFORMED on wrong lengths.
 */
export function x25519SharedSecret(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  if (!isBytes(secretKey, X25519_KEY_LENGTH) || !isBytes(peerPublicKey, X25519_KEY_LENGTH)) {
    throw new SessionError('HANDSHAKE_MALFORMED', `X25519 keys must be ${X25519_KEY_LENGTH} bytes`);
  }
  const shared = nacl.scalarMult(secretKey, peerPublicKey);
  if (isAllZero(shared)) {
    throw new SessionError('HANDSHAKE_WEAK_KEY', 'peer ephemeral key is a low-order point (all-zero shared secret)');
  }
  return shared;
}

/**
 * k_dir = SHA-512(UTF-8("unicard/v1/session-key") ‖ 0x00 ‖ UTF-8(dir) ‖ shared ‖ transcriptHash)[0..32]
 * with dir = "h2t" or "t2h".
 */
export function deriveSessionKeys(shared: Uint8Array, transcriptHash: Uint8Array): SessionKeys {
  if (!isBytes(shared, X25519_KEY_LENGTH) || !isBytes(transcriptHash, TRANSCRIPT_HASH_LENGTH)) {
    throw new SessionError('HANDSHAKE_MALFORMED', 'shared secret must be 32 bytes and transcript hash 64 bytes');
  }
  const derive = (dir: string): Uint8Array =>
    sha512(utf8(SESSION_KEY_LABEL), new Uint8Array([0]), utf8(dir), shared, transcriptHash).slice(0, SESSION_KEY_LENGTH);
  return { h2t: derive('h2t'), t2h: derive('t2h') };
}

/** The exact bytes hashed for one direction's key (for the spec's worked example). */
export function sessionKeyInput(dir: 'h2t' | 't2h', shared: Uint8Array, transcriptHash: Uint8Array): Uint8Array {
  return concatBytes(utf8(SESSION_KEY_LABEL), new Uint8Array([0]), utf8(dir), shared, transcriptHash);
}
