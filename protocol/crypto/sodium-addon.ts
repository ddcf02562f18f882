/**
 * sodium-native (libsodium's prebuilt addon), loaded once at first use and shared by the
 * fast Ed25519 ({@link ./ed25519.ts}) and secretbox ({@link ./secretbox.ts}) paths. Null when
 * the addon cannot load here (no prebuilt binary for this platform, a damaged install):
 * callers then fall back to node:crypto or tweetnacl and say so.
 */
import { createRequire } from 'node:module';

/** The few libsodium calls this project uses (sodium-native's names and argument order). */
export interface SodiumBinding {
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_secretbox_easy(box: Uint8Array, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void;
  crypto_secretbox_open_easy(message: Uint8Array, box: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean;
}

let binding: SodiumBinding | null | undefined;
let failure: string | undefined;

/** The addon, or null when it does not load on this machine ({@link sodiumUnavailableReason} says why). */
export function loadSodium(): SodiumBinding | null {
  if (binding !== undefined) return binding;
  try {
    binding = createRequire(import.meta.url)('sodium-native') as SodiumBinding;
  } catch (e) {
    binding = null;
    failure = e instanceof Error ? (e.message.split('\n')[0] ?? e.message) : String(e);
  }
  return binding;
}

/** Why the addon did not load, or undefined when it did. */
export function sodiumUnavailableReason(): string | undefined {
  loadSodium();
  return failure;
}
