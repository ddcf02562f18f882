/**
 * USB HID terminals through node-hid (the hidraw driver on Linux). The units of this link are
 * whole 64-byte reports: write(report) sends one output report, onData delivers one input
 * report per call. The HID framing above (protocol/hid-framing.ts) never sees a report-ID
 * byte: hidapi wants one in front of every write, so this link adds the 0x00 there.
 *
 * node-hid is loaded lazily, so a machine without libusb-1.0 (which its Linux build loads)
 * fails only when a HID device is opened, with an error that says what to install.
 */
import { LinkError, type LinkErrorCode } from '../protocol/errors.js';
import { BaseLink } from './base-link.js';
import type { LinkInfo } from './link.js';
import { osErrorCode } from './link-errors.js';

/** Bytes in every report of the terminal protocol (without the report-ID byte). */
export const HID_LINK_REPORT_SIZE = 64;

/** An open device as node-hid gives it (HIDAsync, or the synchronous HID class). */
export interface NodeHidDevice {
  on(event: 'data', listener: (data: Buffer | Uint8Array) => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  removeAllListeners(event?: string): unknown;
  write(values: number[] | Buffer): Promise<number> | number;
  close(): Promise<void> | void;
}

/** The part of node-hid this link uses. */
export interface NodeHidModule {
  HIDAsync?: { open(path: string, options?: { nonExclusive?: boolean }): Promise<NodeHidDevice> };
  HID?: new (path: string, options?: { nonExclusive?: boolean }) => NodeHidDevice;
}

/** Options of {@link HidLink.open}. */
export interface HidLinkOptions {
  /** node-hid itself (default: a dynamic import). Tests pass a fake; the daemon the module it loaded. */
  module?: NodeHidModule;
  /** What the enumeration said about the device (label, USB ids, serial number). */
  info?: Partial<LinkInfo>;
}

/** The module name, in a variable so the build does not depend on node-hid's typings. */
const NODE_HID = 'node-hid';

/** Loads node-hid. Rejects with LinkError LINK_UNAVAILABLE saying what is missing. */
export async function loadNodeHidModule(): Promise<NodeHidModule> {
  try {
    const mod = (await import(NODE_HID)) as NodeHidModule & { default?: NodeHidModule };
    return mod.HIDAsync !== undefined || mod.HID !== undefined ? mod : (mod.default ?? mod);
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    throw new LinkError('LINK_UNAVAILABLE', `USB HID is unavailable: node-hid could not be loaded (${text}); on Linux install libusb-1.0-0 (make setup does)`, {
      cause: text,
    });
  }
}

/** See the module comment. */
export class HidLink extends BaseLink {
  private readonly device: NodeHidDevice;

  private constructor(info: LinkInfo, device: NodeHidDevice) {
    super(info);
    this.device = device;
    device.on('data', (data) => {
      // Copy out of node-hid's Buffer: the receiver may keep the report.
      this.deliver(Uint8Array.from(data));
    });
    device.on('error', (e) => this.fail(hidLinkError(e, info.path, 'read')));
  }

  /**
   * Opens the HID device at `path` (a hidraw node on Linux, an IOService path on macOS, a
   * device interface path on Windows: what node-hid's devices() reports). Rejects with a
   * LinkError: LINK_NOT_FOUND (unplugged), LINK_PERMISSION_DENIED (with the udev rule to add),
   * LINK_BUSY, LINK_UNAVAILABLE (node-hid or libusb missing), LINK_IO.
   */
  static async open(path: string, options: HidLinkOptions = {}): Promise<HidLink> {
    const hid = options.module ?? (await loadNodeHidModule());
    const info: LinkInfo = { ...options.info, kind: 'hid', path };
    let device: NodeHidDevice;
    try {
      if (hid.HIDAsync !== undefined) device = await hid.HIDAsync.open(path);
      else if (hid.HID !== undefined) device = new hid.HID(path);
      else throw new LinkError('LINK_UNAVAILABLE', `USB HID is unavailable: the loaded node-hid has neither HIDAsync nor HID`, { path });
    } catch (e) {
      throw hidLinkError(e, path, 'open', info);
    }
    return new HidLink(info, device);
  }

  /** Sends one 64-byte report (LINK_INVALID_OPTIONS for any other size: the framing would break). */
  protected async rawWrite(report: Uint8Array): Promise<void> {
    if (report.length !== HID_LINK_REPORT_SIZE) {
      throw new LinkError('LINK_INVALID_OPTIONS', `a HID write is one ${HID_LINK_REPORT_SIZE}-byte report, not ${report.length} bytes`, {
        path: this.info.path,
        length: report.length,
      });
    }
    // hidapi takes the report ID as the first byte; our reports have none, so it is 0x00.
    const buf = Buffer.alloc(HID_LINK_REPORT_SIZE + 1);
    buf.set(report, 1);
    let written: number;
    try {
      written = await this.device.write(buf);
    } catch (e) {
      const error = hidLinkError(e, this.info.path, 'write');
      this.fail(error);
      throw error;
    }
    if (written < 0) {
      const error = new LinkError('LINK_IO', `write failed on ${this.info.path}: the device went away`, { path: this.info.path });
      this.fail(error);
      throw error;
    }
  }

  protected async rawClose(): Promise<void> {
    this.device.removeAllListeners('data');
    await this.device.close();
    this.device.removeAllListeners();
  }
}

/**
 * A LinkError for a node-hid failure, saying what to do. node-hid's errors carry only
 * hidapi's text ("Failed to open a device with path '/dev/hidraw3': Permission denied").
 */
export function hidLinkError(e: unknown, path: string, op: 'open' | 'read' | 'write', info?: Partial<LinkInfo>): LinkError {
  if (e instanceof LinkError) return e;
  const cause = e instanceof Error ? e.message : String(e);
  const osCode = osErrorCode(e);
  const ids = info?.vendorId !== undefined && info.productId !== undefined ? { vendor: info.vendorId, product: info.productId } : { vendor: 'VVVV', product: 'PPPP' };
  let code: LinkErrorCode = 'LINK_IO';
  let message: string;
  switch (osCode) {
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      code = 'LINK_NOT_FOUND';
      message = `no HID device at ${path}: it was unplugged or the path changed (run unicard devices)`;
      break;
    case 'EACCES':
    case 'EPERM':
      code = 'LINK_PERMISSION_DENIED';
      message =
        `permission denied on ${path}: allow the user to open it with a udev rule, e.g. ` +
        `KERNEL=="hidraw*", ATTRS{idVendor}=="${ids.vendor}", ATTRS{idProduct}=="${ids.product}", MODE="0660", GROUP="plugdev" ` +
        `in /etc/udev/rules.d/70-unicard.rules, then sudo udevadm control --reload && sudo udevadm trigger, and replug`;
      break;
    case 'EBUSY':
      code = 'LINK_BUSY';
      message = `${path} is in use by another program: close it and try again`;
      break;
    case 'EIO':
    case 'EBADF':
    case 'EPIPE':
      message = `${path} went away (unplugged, or the device reset): check the cable`;
      break;
    default:
      if (/libusb|cannot open shared object/i.test(cause)) {
        code = 'LINK_UNAVAILABLE';
        message = `USB HID is unavailable: ${cause}; on Linux install libusb-1.0-0 (make setup does)`;
      } else if (op === 'read' || op === 'write') {
        message = `${op} failed on ${path}: ${cause} (unplugged?)`;
      } else {
        message = `cannot open ${path}: ${cause}`;
      }
  }
  return new LinkError(code, message, { kind: 'hid', path, op, ...(osCode === undefined ? {} : { osCode }), cause });
}
