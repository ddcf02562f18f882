/**
 * Whether the host accepts a terminal: its device certificate must verify under a trusted
 * vendor root at the current time, or its device key must have been pinned by a technician
 * (`unicard trust`). The session asks this through a {@link TrustCallback} after the
 * handshake has proved the terminal holds the certificate's key.
 */
import type { LinkInfo } from '../../link/link.js';
import { UnicardError } from '../../protocol/errors.js';
import type { GetInfoResult } from '../../protocol/messages.js';
import { verifyDeviceCertificate, type DeviceCertificate } from '../../protocol/crypto/certificates.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import { keyIdHex, type TrustedKeys } from '../../protocol/crypto/signed-structure.js';
import type { TerminalBanner } from './banner.js';

/** A refusal: why the terminal is not trusted. */
export interface TrustRefusal {
  /** English reason for logs and the technician, e.g. "certificate issuer is not trusted". */
  readonly refused: string;
  /** The check that failed, when there was one (CryptoError CERT_UNKNOWN_ISSUER, CERT_EXPIRED...). */
  readonly cause?: UnicardError;
}

/** The answer of a trust callback. */
export type TrustDecision = 'trusted' | 'pinned' | TrustRefusal;

/** What the trust callback knows besides the certificate. */
export interface TrustContext {
  /** GetInfo's answer, when the session asked before the handshake (open() does). */
  readonly info: GetInfoResult | undefined;
  readonly banner: TerminalBanner | undefined;
  readonly link: LinkInfo;
}

/**
 * Decides about a terminal whose handshake succeeded: `device` is the parsed certificate
 * whose key signed the handshake (its chain is NOT checked yet: that is this callback's job).
 * A callback that throws refuses (the error becomes the refusal's cause).
 */
export type TrustCallback = (device: DeviceCertificate, context: TrustContext) => TrustDecision | Promise<TrustDecision>;

/** Options of {@link createTrustPolicy}. */
export interface TrustPolicyOptions {
  ed: Ed25519;
  /** Vendor root keys by key id (see trustedKeysOf). */
  vendorRoots: TrustedKeys;
  /**
   * Pinned device keys: key ids (lower-case hex, keyIdHex of the certificate's subject key)
   * or a predicate. A pin accepts the terminal whatever its certificate's issuer and dates.
   */
  pins?: ReadonlySet<string> | ((device: DeviceCertificate) => boolean);
  /** Current Unix time in seconds (default: the system clock). */
  nowSeconds?: () => number;
}

/** The id a technician pins a terminal by: keyIdHex of its device key. */
export function devicePinId(device: DeviceCertificate): string {
  return keyIdHex(device.subjectPublicKey);
}

/** The daemon's trust rule as a {@link TrustCallback}: vendor root first, then pins. */
export function createTrustPolicy(options: TrustPolicyOptions): TrustCallback {
  const now = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const pins = options.pins;
  const pinned = (device: DeviceCertificate): boolean =>
    pins === undefined ? false : typeof pins === 'function' ? pins(device) : pins.has(devicePinId(device));
  return (device) => {
    try {
      verifyDeviceCertificate(device.bytes, options.vendorRoots, now(), options.ed);
      return 'trusted';
    } catch (e) {
      if (pinned(device)) return 'pinned';
      const cause = e instanceof UnicardError ? e : undefined;
      return {
        refused:
          `terminal ${device.terminalId} (${device.vendor} ${device.model}, key ${devicePinId(device)}) is not trusted: ` +
          `${cause?.message ?? 'its certificate does not verify'}; add its vendor root, or pin it with "unicard trust"`,
        ...(cause === undefined ? {} : { cause }),
      };
    }
  };
}
