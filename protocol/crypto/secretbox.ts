/**
 * XSalsa20-Poly1305 (NaCl's crypto_secretbox) behind one small interface, as Ed25519 is in
 * ed25519.ts: libsodium where its addon loads (the daemon's and the simulator's fast path),
 * tweetnacl otherwise and as the firmware reference. The construction is the same, so both
 * produce byte-identical boxes (tested on the session vectors and on random input). Both write
 * into a buffer the caller provides, so a sealed record is built without a copy.
 */
import nacl from 'tweetnacl';
import { loadSodium, type SodiumBinding } from './sodium-addon.js';

/** Key length of secretbox. */
export const SECRETBOX_KEY_LENGTH = 32;
/** Nonce length of secretbox (XSalsa20's 24 bytes). */
export const SECRETBOX_NONCE_LENGTH = 24;
/** Poly1305 tag length: a box is 16 bytes longer than its message. */
export const SECRETBOX_TAG_LENGTH = 16;

/** crypto_secretbox (the "easy" layout: tag ‖ ciphertext). */
export interface SecretBox {
  /** 'libsodium' | 'tweetnacl' */
  readonly name: string;
  /** Seals `message` into `out`, which is exactly message.length + 16 bytes. */
  seal(out: Uint8Array, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void;
  /** Opens `box` into `out` (exactly box.length − 16 bytes); false when the tag does not verify. */
  open(out: Uint8Array, box: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean;
}

/** secretbox on tweetnacl: the reference, and the fallback where libsodium cannot load. */
export const tweetnaclSecretBox: SecretBox = {
  name: 'tweetnacl',
  seal(out, message, nonce, key) {
    out.set(nacl.secretbox(message, nonce, key));
  },
  open(out, box, nonce, key) {
    const m = nacl.secretbox.open(box, nonce, key);
    if (m === null) return false;
    out.set(m);
    return true;
  },
};

/** secretbox on libsodium: ~4 × tweetnacl's speed on a 120-byte record, and no allocation of its own. */
export class SodiumSecretBox implements SecretBox {
  readonly name = 'libsodium';

  private constructor(private readonly sodium: SodiumBinding) {}

  /** An instance, or undefined when the addon does not load on this machine. */
  static create(): SodiumSecretBox | undefined {
    const binding = loadSodium();
    return binding === null ? undefined : new SodiumSecretBox(binding);
  }

  seal(out: Uint8Array, message: Uint8Array, nonce: Uint8Array, key: Uint8Array): void {
    this.sodium.crypto_secretbox_easy(out, message, nonce, key);
  }

  open(out: Uint8Array, box: Uint8Array, nonce: Uint8Array, key: Uint8Array): boolean {
    return this.sodium.crypto_secretbox_open_easy(out, box, nonce, key);
  }
}

let fastest: SecretBox | undefined;

/** The fastest secretbox this machine offers: libsodium when its addon loads, else tweetnacl. */
export function fastestSecretBox(): SecretBox {
  fastest ??= SodiumSecretBox.create() ?? tweetnaclSecretBox;
  return fastest;
}
