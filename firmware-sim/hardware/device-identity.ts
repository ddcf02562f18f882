/**
 * The terminal's identity: its id, its Ed25519 key (a key file, mode 0600) and the device
 * certificate its vendor issued for that key. The seed stays inside this object and the
 * handshake responder it creates.
 *
 * Files (written by the issuer toolkit's make-terminal):
 * - `<name>.key`  — key file of kind "terminal" (see key-file.ts), mode 0600;
 * - `<name>.json` — `{ "format": "unicard-terminal/1", "terminalId", "vendor", "model",
 *                    "publicKey", "keyId", "certificate": "<device certificate hex>" }`.
 */
import { readFile } from 'node:fs/promises';
import { parseDeviceCertificate, type DeviceCertificate } from '../../protocol/crypto/certificates.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import { TerminalHandshake } from '../../protocol/crypto/handshake.js';
import { UnicardError } from '../../protocol/errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { HardwareError } from './hardware-error.js';
import { loadKeyFile, type KeyPair } from './key-file.js';
import type { RandomBytes } from './random.js';

/** Format tag of terminal identity files. */
export const TERMINAL_FILE_FORMAT = 'unicard-terminal/1';

/** The terminal's identity. */
export class DeviceIdentity {
  readonly #seed: Uint8Array;
  readonly #ed: Ed25519;
  /** The parsed device certificate (structure checked, signature checked by hosts). */
  readonly certificate: DeviceCertificate;

  /**
   * Build from a terminal key and its certificate. Throws IDENTITY_INVALID when the
   * certificate is malformed or certifies another key.
   */
  constructor(key: KeyPair, certificateBytes: Uint8Array, ed: Ed25519) {
    let cert: DeviceCertificate;
    try {
      cert = parseDeviceCertificate(certificateBytes);
    } catch (e) {
      throw new HardwareError('IDENTITY_INVALID', `device certificate: ${e instanceof UnicardError ? e.code : 'unreadable'}`);
    }
    if (!Buffer.from(cert.subjectPublicKey).equals(Buffer.from(key.publicKey))) {
      throw new HardwareError('IDENTITY_INVALID', 'the device certificate is for another key');
    }
    this.#seed = Uint8Array.from(key.seed);
    this.#ed = ed;
    this.certificate = cert;
  }

  get terminalId(): string {
    return this.certificate.terminalId;
  }
  get vendor(): string {
    return this.certificate.vendor;
  }
  get model(): string {
    return this.certificate.model;
  }
  get publicKey(): Uint8Array {
    return this.certificate.subjectPublicKey;
  }
  /** The encoded device certificate, as sent in the handshake. */
  get certificateBytes(): Uint8Array {
    return this.certificate.bytes;
  }

  /** Ed25519 signature of `message` with the terminal key. */
  sign(message: Uint8Array): Uint8Array {
    return this.#ed.sign(this.#seed, message);
  }

  /**
   * The handshake responder for this identity (protocol/crypto TerminalHandshake): the
   * seed goes into it and nowhere else. One responder answers every hello of this boot.
   */
  handshake(randomBytes: RandomBytes): TerminalHandshake {
    return new TerminalHandshake({ ed: this.#ed, deviceSeed: this.#seed, deviceCertificate: this.certificate.bytes, randomBytes });
  }

  /** Load `<base>.key` and `<base>.json`. Throws IDENTITY_INVALID. */
  static async load(base: string, ed: Ed25519): Promise<DeviceIdentity> {
    const key = await loadKeyFile(`${base}.key`, ed, 'terminal');
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(await readFile(`${base}.json`, 'utf8')) as Record<string, unknown>;
    } catch {
      throw new HardwareError('IDENTITY_INVALID', `${base}.json: cannot read or not JSON`);
    }
    if (!j || j.format !== TERMINAL_FILE_FORMAT || typeof j.certificate !== 'string' || !/^([0-9a-f]{2})+$/.test(j.certificate)) {
      throw new HardwareError('IDENTITY_INVALID', `${base}.json: not a ${TERMINAL_FILE_FORMAT} file`);
    }
    const identity = new DeviceIdentity(key, new Uint8Array(Buffer.from(j.certificate, 'hex')), ed);
    if (j.terminalId !== identity.terminalId) throw new HardwareError('IDENTITY_INVALID', `${base}.json: terminal id differs from the certificate`);
    return identity;
  }
}

/** Write the public half of a terminal identity (`<base>.json`, mode 0644). */
export async function saveTerminalFile(base: string, certificateBytes: Uint8Array, keyId: string): Promise<void> {
  const cert = parseDeviceCertificate(certificateBytes);
  const json = {
    format: TERMINAL_FILE_FORMAT,
    terminalId: cert.terminalId,
    vendor: cert.vendor,
    model: cert.model,
    publicKey: Buffer.from(cert.subjectPublicKey).toString('hex'),
    keyId,
    certificate: Buffer.from(certificateBytes).toString('hex'),
  };
  await writeFileAtomic(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o644 });
}
