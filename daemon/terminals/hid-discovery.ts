/**
 * HID terminals through node-hid (hidraw on Linux). node-hid is a native module whose Linux
 * build loads libusb-1.0 (Debian package libusb-1.0-0, installed by `make setup`). When it
 * is missing, or its native library does not load, the daemon logs one clear line ("HID
 * disabled: ...") and carries on with serial and TCP.
 *
 * A matching device is opened as a {@link HidLink} (64-byte reports), a channel is allocated
 * on it by nonce ({@link openHidChannel}), and the session runs over that channel with the
 * HID codec: several host programs can share one terminal.
 *
 * Devices are probed only when their USB vendor/product ids are configured
 * (terminals.hid.usb): the HID class is shared with keyboards and card readers of other
 * kinds, which must never receive our reports.
 */
import { HidLink, type NodeHidModule } from '../../link/hid-link.js';
import type { UsbId } from '../config/daemon-config.js';
import type { DaemonLogger } from '../logging.js';
import { matchesUsbIds, OnceLogger, type DiscoverySource, type OpenedLink, type TerminalCandidate } from './discovery.js';
import { openHidChannel, type OpenHidChannelOptions } from './hid-channel.js';

/** What node-hid's `devices()` reports for one device (the fields used here). */
export interface HidDeviceInfo {
  vendorId: number;
  productId: number;
  path?: string;
  serialNumber?: string;
  manufacturer?: string;
  product?: string;
  usagePage?: number;
  usage?: number;
}

/** The part of node-hid used: devices() for discovery, HIDAsync (or HID) to open one. */
export interface HidModule extends NodeHidModule {
  devices(): HidDeviceInfo[];
}

/** Loads node-hid; rejects when it is not installed or its native part does not load. */
export type HidLoader = () => Promise<HidModule>;

/** Options of {@link HidDiscovery}. */
export interface HidDiscoveryOptions {
  enabled: boolean;
  usb: readonly UsbId[];
  logger: DaemonLogger;
  /** Default: a dynamic import of node-hid. */
  load?: HidLoader;
  /**
   * Opens a device as a link with the HID report codec. Default: {@link openHidDevice} with
   * the loaded node-hid.
   */
  openDevice?: (device: HidDeviceInfo & { path: string }) => Promise<OpenedLink>;
  /** Channel allocation settings of the default openDevice (tests shorten the INIT wait). */
  channel?: OpenHidChannelOptions;
}

/**
 * Opens a HID terminal: a {@link HidLink} on `device.path` with `hid`, then a channel of our
 * own on it (the link is closed when the device drops that channel). Rejects with the link's LinkError (LINK_NOT_FOUND, LINK_PERMISSION_DENIED with
 * the udev rule to add, ...) or openHidChannel's error (the device does not answer INIT);
 * the link is closed then.
 */
export async function openHidDevice(hid: NodeHidModule, device: HidDeviceInfo & { path: string }, channel: OpenHidChannelOptions = {}): Promise<OpenedLink> {
  const ids = { vendorId: hex4(device.vendorId), productId: hex4(device.productId) };
  const link = await HidLink.open(device.path, {
    module: hid,
    info: { ...ids, ...(device.product === undefined ? {} : { label: device.product }), ...(device.serialNumber === undefined ? {} : { serialNumber: device.serialNumber }) },
  });
  try {
    // A device that reused our channel for another program also dropped our session: end the
    // link, so the manager reconnects with a new channel and a new handshake at once instead
    // of waiting for the session to time out.
    const codec = await openHidChannel(link, { onChannelLost: () => void link.close(), ...channel });
    return { link, codec };
  } catch (e) {
    await link.close().catch(() => {});
    throw e;
  }
}

/** The module name, in a variable so the TypeScript build does not need node-hid's types. */
const NODE_HID = 'node-hid';

/** Loads node-hid with a dynamic import. */
export const loadNodeHid: HidLoader = async () => {
  const mod = (await import(NODE_HID)) as { default?: HidModule } & Partial<HidModule>;
  const hid = typeof mod.devices === 'function' ? (mod as HidModule) : mod.default;
  if (hid === undefined || typeof hid.devices !== 'function') throw new Error('node-hid has no devices() function');
  return hid;
};

/** Why node-hid did not load, as the one log line the operator sees. */
export function hidLoadFailure(e: unknown): { message: string; missing: boolean } {
  const code = (e as { code?: unknown }).code;
  const text = e instanceof Error ? e.message : String(e);
  const missing = (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && text.includes(NODE_HID);
  if (missing) return { message: 'HID disabled: node-hid not installed', missing };
  return {
    message: `HID disabled: node-hid could not be loaded (${text}); on Linux install libusb-1.0-0 and rebuild node-hid`,
    missing,
  };
}

/** See the module comment. */
export class HidDiscovery implements DiscoverySource {
  readonly kind = 'hid' as const;
  private module: HidModule | undefined;
  private disabled = false;
  private readonly once: OnceLogger;

  constructor(private readonly options: HidDiscoveryOptions) {
    this.once = new OnceLogger(options.logger);
  }

  /** True once loading node-hid failed (HID stays off until restart). */
  get isDisabled(): boolean {
    return this.disabled || !this.options.enabled;
  }

  async scan(): Promise<TerminalCandidate[]> {
    if (!this.options.enabled || this.disabled) return [];
    if (this.module === undefined) {
      try {
        this.module = await (this.options.load ?? loadNodeHid)();
      } catch (e) {
        this.disabled = true;
        const failure = hidLoadFailure(e);
        if (failure.missing) this.options.logger.info({ hid: 'disabled' }, failure.message);
        else this.options.logger.warn({ hid: 'disabled' }, failure.message);
        return [];
      }
    }
    if (this.options.usb.length === 0) {
      this.once.info('no-ids', { hid: 'no-ids' }, 'HID: no USB ids configured (terminals.hid.usb), so no HID device is probed');
      return [];
    }
    let devices: HidDeviceInfo[];
    try {
      devices = this.module.devices();
      this.once.clear('list');
    } catch (e) {
      this.once.warn('list', {}, `HID enumeration failed (${e instanceof Error ? e.message : String(e)}); carrying on without HID`);
      return [];
    }
    const out: TerminalCandidate[] = [];
    const seen = new Set<string>();
    for (const d of devices) {
      if (d.path === undefined || seen.has(d.path)) continue;
      const ids = { vendorId: hex4(d.vendorId), productId: hex4(d.productId) };
      if (!matchesUsbIds(ids, this.options.usb)) continue;
      seen.add(d.path);
      const device = { ...d, path: d.path };
      const hid = this.module;
      const openDevice = this.options.openDevice ?? ((dev: HidDeviceInfo & { path: string }) => openHidDevice(hid, dev, this.options.channel));
      out.push({
        key: `hid:${d.path}`,
        kind: 'hid',
        path: d.path,
        origin: 'enumerated',
        info: {
          kind: 'hid',
          path: d.path,
          ...ids,
          ...(d.product === undefined ? {} : { label: d.product }),
          ...(d.serialNumber === undefined ? {} : { serialNumber: d.serialNumber }),
          ...(d.manufacturer === undefined ? {} : { manufacturer: d.manufacturer }),
        },
        isPresent: () => Promise.resolve(true),
        open: () => openDevice(device),
      });
    }
    return out;
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
