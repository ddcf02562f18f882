/**
 * Session handshake (host authenticates the terminal, both derive one key per direction):
 *   1. host → terminal, in clear: host ephemeral X25519 key (32) and host nonce (32);
 *   2. terminal → host: terminal ephemeral key (32), device certificate, and the device
 *      key's Ed25519 signature over the `unicard/v1/handshake` structure
 *      {1: host eph, 2: host nonce, 3: terminal eph, 4: SHA-512(device certificate)};
 *   3. both: shared = X25519(own eph secret, peer eph public), refused when all zero;
 *      transcript hash = SHA-512(signed bytes of step 2); keys per {@link deriveSessionKeys}.
 * Whether the device certificate is trusted (vendor root, technician pin) is the caller's
 * decision: the host gets the parsed certificate back and calls verifyDeviceCertificate.
 */
import type { CborValue } from '../cbor-codec.js';
import { CryptoError, SessionError, UnicardError } from '../errors.js';
import { constantTimeEqual, isBytes, sha512 } from './bytes.js';
import { parseDeviceCertificate, type DeviceCertificate } from './certificates.js';
import { Domain } from './domains.js';
import { ED25519_SIGNATURE_LENGTH, type Ed25519 } from './ed25519.js';
import { SealedChannel } from './sealed-channel.js';
import { deriveSessionKeys, x25519KeyPairFromSecret, x25519SharedSecret, X25519_KEY_LENGTH, type X25519KeyPair } from './session-keys.js';
import { encodeBody, signedBytes } from './signed-structure.js';

/** Length of the host nonce. */
export const HANDSHAKE_NONCE_LENGTH = 32;
/** Largest device certificate accepted in a handshake reply. */
export const MAX_DEVICE_CERTIFICATE_LENGTH = 4096;

/** Integer keys of the signed handshake body. */
export const HandshakeKey = { domain: 0, hostEphemeral: 1, hostNonce: 2, terminalEphemeral: 3, deviceCertificateHash: 4 } as const;

/** Injected randomness: `n` fresh random bytes (crypto.randomBytes in production, fixed bytes in tests). */
export type RandomBytes = (n: number) => Uint8Array;

/** Step 1, host → terminal. */
export interface HandshakeHello {
  readonly hostEphemeral: Uint8Array;
  readonly hostNonce: Uint8Array;
}

/** Step 2, terminal → host. */
export interface HandshakeReply {
  readonly terminalEphemeral: Uint8Array;
  readonly deviceCertificate: Uint8Array;
  readonly signature: Uint8Array;
}

/** The host's result: a channel, the terminal's (unverified-chain) certificate and the transcript hash. */
export interface HostSession {
  readonly channel: SealedChannel;
  /** Parsed device certificate whose key signed this handshake. Its chain is NOT yet checked. */
  readonly device: DeviceCertificate;
  readonly transcriptHash: Uint8Array;
}

/** The terminal's result: the reply to send, its channel and the transcript hash. */
export interface TerminalSession {
  readonly reply: HandshakeReply;
  readonly channel: SealedChannel;
  readonly transcriptHash: Uint8Array;
}

function malformed(message: string, detail?: Record<string, unknown>): SessionError {
  return new SessionError('HANDSHAKE_MALFORMED', message, detail);
}

function draw(randomBytes: RandomBytes, n: number): Uint8Array {
  const b = randomBytes(n);
  if (!isBytes(b, n)) throw malformed(`randomBytes(${n}) returned the wrong length`);
  return new Uint8Array(b);
}

/** Canonical CBOR body of the handshake structure (what the device key signs after the domain prefix). */
export function handshakeBody(hello: HandshakeHello, terminalEphemeral: Uint8Array, deviceCertificate: Uint8Array): Uint8Array {
  return encodeBody(
    Domain.handshake,
    new Map<number, CborValue>([
      [HandshakeKey.hostEphemeral, hello.hostEphemeral],
      [HandshakeKey.hostNonce, hello.hostNonce],
      [HandshakeKey.terminalEphemeral, terminalEphemeral],
      [HandshakeKey.deviceCertificateHash, sha512(deviceCertificate)],
    ]),
  );
}

/** Transcript hash = SHA-512(UTF-8("unicard/v1/handshake") ‖ 0x00 ‖ handshake body). */
export function transcriptHashOf(body: Uint8Array): Uint8Array {
  return sha512(signedBytes(Domain.handshake, body));
}

function checkHello(hello: HandshakeHello): void {
  if (!isBytes(hello?.hostEphemeral, X25519_KEY_LENGTH) || !isBytes(hello?.hostNonce, HANDSHAKE_NONCE_LENGTH)) {
    throw malformed('hello needs a 32-byte host ephemeral key and a 32-byte nonce');
  }
}

/**
 * Host side. Construct one per connection attempt: the constructor draws the ephemeral
 * key and nonce; send {@link hello}, then pass the terminal's reply to {@link finish} once.
 */
export class HostHandshake {
  /** Step 1 message to send to the terminal. */
  readonly hello: HandshakeHello;
  private ephemeral: X25519KeyPair | undefined;
  private readonly ed: Ed25519;

  constructor(options: { ed: Ed25519; randomBytes: RandomBytes }) {
    this.ed = options.ed;
    this.ephemeral = x25519KeyPairFromSecret(draw(options.randomBytes, X25519_KEY_LENGTH));
    this.hello = { hostEphemeral: this.ephemeral.publicKey, hostNonce: draw(options.randomBytes, HANDSHAKE_NONCE_LENGTH) };
  }

  /**
   * Checks the terminal's reply and derives the session. HANDSHAKE_MALFORMED (bad lengths
   * or device certificate), HANDSHAKE_BAD_SIGNATURE, HANDSHAKE_WEAK_KEY (low-order
   * terminal key), SESSION_NOT_ESTABLISHED when called twice. The ephemeral secret is
   * wiped whatever the outcome: a failed handshake is started afresh.
   */
  finish(reply: HandshakeReply): HostSession {
    const eph = this.ephemeral;
    if (eph === undefined) throw new SessionError('SESSION_NOT_ESTABLISHED', 'handshake already finished; start a new one');
    this.ephemeral = undefined;
    try {
      if (
        !isBytes(reply?.terminalEphemeral, X25519_KEY_LENGTH) ||
        !isBytes(reply?.signature, ED25519_SIGNATURE_LENGTH) ||
        !isBytes(reply?.deviceCertificate) ||
        reply.deviceCertificate.length > MAX_DEVICE_CERTIFICATE_LENGTH
      ) {
        throw malformed('reply needs a 32-byte ephemeral key, a device certificate and a 64-byte signature');
      }
      let device: DeviceCertificate;
      try {
        device = parseDeviceCertificate(reply.deviceCertificate);
      } catch (e) {
        throw malformed('device certificate is not valid', { cause: e instanceof UnicardError ? e.code : 'unknown' });
      }
      const body = handshakeBody(this.hello, reply.terminalEphemeral, reply.deviceCertificate);
      if (!this.ed.verify(device.subjectPublicKey, signedBytes(Domain.handshake, body), reply.signature)) {
        throw new SessionError('HANDSHAKE_BAD_SIGNATURE', 'handshake signature does not verify with the device certificate key');
      }
      const shared = x25519SharedSecret(eph.secretKey, reply.terminalEphemeral);
      const transcriptHash = transcriptHashOf(body);
      const channel = new SealedChannel('host', deriveSessionKeys(shared, transcriptHash));
      shared.fill(0);
      return { channel, device, transcriptHash };
    } finally {
      eph.secretKey.fill(0);
    }
  }
}

/**
 * Terminal side. Holds the device key and certificate; {@link respond} answers one hello
 * with a fresh ephemeral key each time.
 */
export class TerminalHandshake {
  private readonly ed: Ed25519;
  private readonly deviceSeed: Uint8Array;
  private readonly deviceCertificate: Uint8Array;
  private readonly randomBytes: RandomBytes;

  /** Throws CryptoError CERT_MALFORMED for a bad certificate, KEY_INVALID when the seed is not the certificate's key. */
  constructor(options: { ed: Ed25519; deviceSeed: Uint8Array; deviceCertificate: Uint8Array; randomBytes: RandomBytes }) {
    this.ed = options.ed;
    const cert = parseDeviceCertificate(options.deviceCertificate);
    if (!constantTimeEqual(options.ed.publicKeyFromSeed(options.deviceSeed), cert.subjectPublicKey)) {
      throw new CryptoError('KEY_INVALID', 'device key does not match the device certificate');
    }
    this.deviceSeed = new Uint8Array(options.deviceSeed);
    this.deviceCertificate = new Uint8Array(options.deviceCertificate);
    this.randomBytes = options.randomBytes;
  }

  /** Answers a hello: HANDSHAKE_MALFORMED for bad lengths, HANDSHAKE_WEAK_KEY for a low-order host key. */
  respond(hello: HandshakeHello): TerminalSession {
    checkHello(hello);
    const eph = x25519KeyPairFromSecret(draw(this.randomBytes, X25519_KEY_LENGTH));
    try {
      const shared = x25519SharedSecret(eph.secretKey, hello.hostEphemeral);
      const body = handshakeBody(hello, eph.publicKey, this.deviceCertificate);
      const signature = this.ed.sign(this.deviceSeed, signedBytes(Domain.handshake, body));
      const transcriptHash = transcriptHashOf(body);
      const channel = new SealedChannel('terminal', deriveSessionKeys(shared, transcriptHash));
      shared.fill(0);
      return { reply: { terminalEphemeral: eph.publicKey, deviceCertificate: this.deviceCertificate, signature }, channel, transcriptHash };
    } finally {
      eph.secretKey.fill(0);
    }
  }
}
