/**
 * HID terminals through node-hid (hidraw on Linux). node-hid is an optional native module:
 * it is not a dependency of this project, because its Linux build needs libusb at build
 * time. When it is missing, or its native library does not load, the daemon logs one clear
 * line ("HID disabled: node-hid not installed") and carries on with serial and TCP.
 *
 * Devices are probed only when their USB vendor/product ids are configured
 * (terminals.hid.usb): the HID class is shared with keyboards and card readers of other
 * kinds, which must never receive our reports.
 */
import { LinkError } from '../../protocol/errors.js';
import type { UsbId } from '../config/daemon-config.js';
import type { DaemonLogger } from '../logging.js';
import { matchesUsbIds, OnceLogger, type DiscoverySource, type OpenedLink, type TerminalCandidate } from './discovery.js';

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

/** The part of node-hid used for discovery. */
export interface HidModule {
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
   * Opens a device as a link with the HID report codec. Absent in this build (the HID link
   * is not written yet): a matching device is then listed in error with PORT_ERROR.
   */
  openDevice?: (device: HidDeviceInfo & { path: string }) => Promise<OpenedLink>;
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
      const openDevice = this.options.openDevice;
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
        open: () =>
          openDevice !== undefined
            ? openDevice(device)
            : Promise.reject(
                new LinkError('LINK_UNAVAILABLE', `${d.path} is a matching HID device, but this build of unicardd has no HID link yet`, { path: d.path }),
              ),
      });
    }
    return out;
  }
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
