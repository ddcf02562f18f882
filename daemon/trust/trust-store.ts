/**
 * The daemon's trust store: which roots it trusts and which terminals technicians pinned.
 * Terminals are admitted only with a device certificate that verifies under a vendor root
 * now, or with a pin of their terminal id AND device key (DESIGN.md §4). Issuer roots are
 * kept here for the services that check cards, rosters and revocation lists.
 */
import { devicePinId, createTrustPolicy, type TrustCallback } from '../session/trust-policy.js';
import type { DeviceCertificate } from '../../protocol/crypto/certificates.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import type { TrustedKeys } from '../../protocol/crypto/signed-structure.js';
import { loadPins, pinsFileStamp, type PinMap, type TerminalPin } from './pins-file.js';
import { trustedKeysOfRoots, type RootKey } from './root-keys.js';

/** Options of {@link TrustStore.open}. */
export interface TrustStoreOptions {
  ed: Ed25519;
  vendorRoots: readonly RootKey[];
  issuerRoots: readonly RootKey[];
  /** The pins file (need not exist). */
  pinsFile: string;
  /** Unix seconds (default: the system clock). */
  nowSeconds?: () => number;
}

/** What {@link TrustStore.reloadPins} found. */
export interface PinsReload {
  changed: boolean;
  count: number;
}

/** See the module comment. Create with {@link TrustStore.open}. */
export class TrustStore {
  readonly vendorRoots: readonly RootKey[];
  readonly issuerRoots: readonly RootKey[];
  /** Vendor root keys by key id (for device certificates and firmware images). */
  readonly vendorKeys: TrustedKeys;
  /** Issuer root keys by key id (for card certificates and signed lists). */
  readonly issuerKeys: TrustedKeys;
  readonly pinsFile: string;
  private pinMap: Map<string, TerminalPin>;
  private stamp: string;
  private readonly callback: TrustCallback;

  private constructor(options: TrustStoreOptions, pins: Map<string, TerminalPin>, stamp: string) {
    this.vendorRoots = [...options.vendorRoots];
    this.issuerRoots = [...options.issuerRoots];
    this.vendorKeys = trustedKeysOfRoots(this.vendorRoots);
    this.issuerKeys = trustedKeysOfRoots(this.issuerRoots);
    this.pinsFile = options.pinsFile;
    this.pinMap = pins;
    this.stamp = stamp;
    this.callback = createTrustPolicy({
      ed: options.ed,
      vendorRoots: this.vendorKeys,
      pins: (device) => this.isPinned(device),
      ...(options.nowSeconds === undefined ? {} : { nowSeconds: options.nowSeconds }),
    });
  }

  /** Loads the pins file. Throws TrustStoreError PINS_FILE_INVALID / PINS_FILE_UNREADABLE. */
  static async open(options: TrustStoreOptions): Promise<TrustStore> {
    const loaded = await loadPins(options.pinsFile);
    return new TrustStore(options, loaded.pins, loaded.stamp);
  }

  /** The current pins by terminal id. */
  get pins(): PinMap {
    return this.pinMap;
  }

  /** The session's trust callback: vendor root first, then a pin of this id and key. */
  get trust(): TrustCallback {
    return this.callback;
  }

  /** True when the terminal's id is pinned to exactly this device key. */
  isPinned(device: DeviceCertificate): boolean {
    const pin = this.pinMap.get(device.terminalId);
    return pin !== undefined && pin.keyId === devicePinId(device);
  }

  /**
   * Reads the pins file again when it changed since the last read (cheap: one stat when it
   * did not). Keeps the old pins and throws when the new file is invalid, so a technician's
   * typo never drops every pin of a running shop.
   */
  async reloadPins(): Promise<PinsReload> {
    const stamp = await pinsFileStamp(this.pinsFile);
    if (stamp === this.stamp) return { changed: false, count: this.pinMap.size };
    const loaded = await loadPins(this.pinsFile);
    const changed = !samePins(this.pinMap, loaded.pins);
    this.pinMap = loaded.pins;
    this.stamp = loaded.stamp;
    return { changed, count: loaded.pins.size };
  }
}

function samePins(a: PinMap, b: PinMap): boolean {
  if (a.size !== b.size) return false;
  for (const [id, p] of a) {
    const q = b.get(id);
    if (q === undefined || q.keyId !== p.keyId) return false;
  }
  return true;
}
