/**
 * Per-direction sealing of session records with XSalsa20-Poly1305 (nacl secretbox) and a
 * counter nonce. A record is counter u64 BE (8) ‖ secretbox(key_dir, nonce, plaintext);
 * nonce = direction byte ‖ 15 zero bytes ‖ counter u64 BE. The receiver accepts only a
 * counter above the highest it accepted so far (gaps allowed, since frames can be lost).
 */
import { SessionError } from '../errors.js';
import { isBytes, readU64be } from './bytes.js';
import { fastestSecretBox, SECRETBOX_NONCE_LENGTH, SECRETBOX_TAG_LENGTH, type SecretBox } from './secretbox.js';
import { SESSION_KEY_LENGTH, type SessionKeys } from './session-keys.js';

/** Direction byte of the nonce: host → terminal. */
export const DIRECTION_H2T = 0x01;
/** Direction byte of the nonce: terminal → host. */
export const DIRECTION_T2H = 0x02;
/** Bytes of the counter prefix of a record. */
export const SEAL_COUNTER_LENGTH = 8;
/** Poly1305 tag length added by secretbox. */
export const SEAL_TAG_LENGTH = SECRETBOX_TAG_LENGTH; // 16
/** Shortest valid record: counter + tag, empty plaintext. */
export const SEAL_MIN_RECORD_LENGTH = SEAL_COUNTER_LENGTH + SEAL_TAG_LENGTH;
/** Largest counter; a channel that has used it cannot seal again. */
export const SEAL_MAX_COUNTER = 0xffff_ffff_ffff_ffffn;

/** The 24-byte secretbox nonce for a direction and counter. */
export function sealNonce(direction: number, counter: bigint): Uint8Array {
  const nonce = new Uint8Array(SECRETBOX_NONCE_LENGTH); // 24
  nonce[0] = direction;
  setNonceCounter(nonce, counter);
  return nonce;
}

function setNonceCounter(nonce: Uint8Array, counter: bigint): void {
  new DataView(nonce.buffer, nonce.byteOffset, nonce.byteLength).setBigUint64(16, counter, false);
}

/** Options for {@link SealedChannel}; only tests need them. */
export interface SealedChannelOptions {
  /**
   * Counter of the first record this side seals (default 1). For tests of counter
   * exhaustion only: reusing a counter under the same key destroys confidentiality.
   */
  firstSendCounter?: bigint;
  /** The secretbox implementation (default {@link fastestSecretBox}: libsodium, else tweetnacl). */
  box?: SecretBox;
}

/**
 * Records below the highest accepted counter that a receiver can still accept once (a sliding
 * window, as in IPsec and DTLS): a segmented packet completes after packets sent behind it
 * (protocol/segmentation.ts), so records may arrive out of order, never twice.
 */
export const SEAL_REPLAY_WINDOW = 64;

const WINDOW_MASK = (1n << BigInt(SEAL_REPLAY_WINDOW)) - 1n;

/**
 * One side of an established session. `seal` numbers records 1, 2, 3, …; `open` refuses
 * short records (SEAL_MALFORMED), counter 0, a counter already accepted or
 * SEAL_REPLAY_WINDOW or more below the highest accepted (SEAL_REPLAY), and anything that fails
 * the Poly1305 check (SEAL_AUTH_FAILED). A failed `open` leaves the state unchanged.
 */
export class SealedChannel {
  private readonly sendKey: Uint8Array;
  private readonly receiveKey: Uint8Array;
  private readonly box: SecretBox;
  /** Nonces rewritten in place per record (direction byte fixed, counter in bytes 16..23). */
  private readonly sendNonce: Uint8Array;
  private readonly receiveNonce: Uint8Array;
  private nextSend: bigint;
  private highestReceived = 0n;
  /** Bit i set: counter highestReceived − i was accepted (bit 0 is highestReceived itself). */
  private window = 0n;

  /** `role` is this side: the host seals with k_h2t and opens with k_t2h, the terminal the reverse. */
  constructor(role: 'host' | 'terminal', keys: SessionKeys, options: SealedChannelOptions = {}) {
    if (!isBytes(keys.h2t, SESSION_KEY_LENGTH) || !isBytes(keys.t2h, SESSION_KEY_LENGTH)) {
      throw new SessionError('SESSION_NOT_ESTABLISHED', `session keys must be ${SESSION_KEY_LENGTH} bytes`);
    }
    const host = role === 'host';
    this.sendKey = new Uint8Array(host ? keys.h2t : keys.t2h);
    this.receiveKey = new Uint8Array(host ? keys.t2h : keys.h2t);
    this.sendNonce = sealNonce(host ? DIRECTION_H2T : DIRECTION_T2H, 0n);
    this.receiveNonce = sealNonce(host ? DIRECTION_T2H : DIRECTION_H2T, 0n);
    this.box = options.box ?? fastestSecretBox();
    this.nextSend = options.firstSendCounter ?? 1n;
    if (this.nextSend < 1n || this.nextSend > SEAL_MAX_COUNTER + 1n) {
      throw new SessionError('SEAL_COUNTER_EXHAUSTED', 'first send counter out of range');
    }
  }

  /** Seals `plaintext` into a record with the next counter. Throws SEAL_COUNTER_EXHAUSTED after 2^64−1 records. */
  seal(plaintext: Uint8Array): Uint8Array {
    if (this.nextSend > SEAL_MAX_COUNTER) {
      throw new SessionError('SEAL_COUNTER_EXHAUSTED', 'send counter exhausted: start a new session');
    }
    const counter = this.nextSend;
    this.nextSend = counter + 1n;
    setNonceCounter(this.sendNonce, counter);
    const record = new Uint8Array(SEAL_COUNTER_LENGTH + SEAL_TAG_LENGTH + plaintext.length);
    record.set(this.sendNonce.subarray(16), 0); // the counter, big-endian
    this.box.seal(record.subarray(SEAL_COUNTER_LENGTH), plaintext, this.sendNonce, this.sendKey);
    return record;
  }

  /** Opens a record from the peer and returns its plaintext. */
  open(record: Uint8Array): Uint8Array {
    if (!isBytes(record) || record.length < SEAL_MIN_RECORD_LENGTH) {
      throw new SessionError('SEAL_MALFORMED', `sealed record shorter than ${SEAL_MIN_RECORD_LENGTH} bytes`, {
        length: isBytes(record) ? record.length : undefined,
      });
    }
    const counter = readU64be(record, 0);
    // Checked before decrypting: replays cost no Poly1305 work. Counter 0 is never sent.
    const below = this.highestReceived - counter;
    if (counter === 0n || (below >= 0n && (below >= BigInt(SEAL_REPLAY_WINDOW) || ((this.window >> below) & 1n) === 1n))) {
      throw new SessionError('SEAL_REPLAY', below >= BigInt(SEAL_REPLAY_WINDOW) ? 'record counter too far below the highest accepted' : 'record counter already accepted', {
        counter: counter.toString(),
        highest: this.highestReceived.toString(),
      });
    }
    setNonceCounter(this.receiveNonce, counter);
    const plaintext = new Uint8Array(record.length - SEAL_MIN_RECORD_LENGTH);
    if (!this.box.open(plaintext, record.subarray(SEAL_COUNTER_LENGTH), this.receiveNonce, this.receiveKey)) {
      throw new SessionError('SEAL_AUTH_FAILED', 'sealed record failed authentication');
    }
    if (below < 0n) {
      // A new highest: slide the window up.
      const ahead = -below;
      this.window = ahead >= BigInt(SEAL_REPLAY_WINDOW) ? 1n : ((this.window << ahead) | 1n) & WINDOW_MASK;
      this.highestReceived = counter;
    } else {
      this.window |= 1n << below;
    }
    return plaintext;
  }

  /** Counter the next `seal` will use. */
  get nextSendCounter(): bigint {
    return this.nextSend;
  }

  /** Highest counter accepted by `open` so far (0 before the first). */
  get highestReceivedCounter(): bigint {
    return this.highestReceived;
  }
}
