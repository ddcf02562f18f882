/**
 * The terminal's check of a firmware header: signed by a trusted vendor key (protocol/crypto
 * firmware-header), and, when configured, built for this vendor and model. Errors become
 * the firmware-update codes the handlers send.
 */
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import { verifyFirmwareHeader, type FirmwareHeader } from '../../protocol/crypto/firmware-header.js';
import type { TrustedKeys } from '../../protocol/crypto/signed-structure.js';
import { UnicardError } from '../../protocol/errors.js';
import type { FirmwareHeaderInfo, FirmwareVerifier } from './flash-store.js';
import { HardwareError } from './hardware-error.js';

export interface VendorFirmwareVerifierOptions {
  /** Accept only images for this vendor (the terminal's own). */
  vendor?: string;
  /** Accept only images for this model. */
  model?: string;
}

/** {@link FirmwareVerifier} over protocol/crypto's signed firmware header. */
export class VendorFirmwareVerifier implements FirmwareVerifier {
  constructor(
    private readonly trustedVendors: TrustedKeys,
    private readonly ed: Ed25519,
    private readonly options: VendorFirmwareVerifierOptions = {},
  ) {}

  /** FIRMWARE_BAD_HEADER (malformed), FIRMWARE_BAD_SIGNATURE (unknown key or bad signature), FIRMWARE_WRONG_MODEL. */
  verifyHeader(header: Uint8Array): FirmwareHeaderInfo {
    let h: FirmwareHeader;
    try {
      h = verifyFirmwareHeader(header, this.trustedVendors, this.ed);
    } catch (e) {
      const code = e instanceof UnicardError ? e.code : 'unknown';
      if (code === 'KEY_UNKNOWN' || code === 'SIG_INVALID') {
        throw new HardwareError('FIRMWARE_BAD_SIGNATURE', 'firmware header is not signed by a trusted vendor key', { cause: code });
      }
      throw new HardwareError('FIRMWARE_BAD_HEADER', 'firmware header is malformed', { cause: code });
    }
    const { vendor, model } = this.options;
    if ((vendor !== undefined && h.vendor !== vendor) || (model !== undefined && h.model !== model)) {
      throw new HardwareError('FIRMWARE_WRONG_MODEL', `image is for ${h.vendor} ${h.model}, this terminal is ${vendor ?? '*'} ${model ?? '*'}`);
    }
    return { vendor: h.vendor, model: h.model, version: h.version, antiRollback: h.antiRollback, size: h.size, bodyHash: h.bodyHash };
  }
}
