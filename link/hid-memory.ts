/**
 * In-memory USB HID for tests: a device with any number of host ends, carrying whole reports
 * unchanged (no report-ID byte, no padding, no size check, so a test can send a bad report).
 *
 * It behaves like hidraw: every report the device sends reaches every host that has the
 * device open (which is why HID channels exist), and every report a host sends reaches the
 * device. Each report arrives as one unit, in order, in its own macrotask.
 */
import { LinkError } from '../protocol/errors.js';
import { BaseLink } from './base-link.js';
import type { LinkInfo } from './link.js';

/** Which side of the USB cable an end is on. */
export type HidMemoryRole = 'host' | 'device';

/** One end: a host program's open device, or the device's own side. Units are reports. */
export class HidMemoryLink extends BaseLink {
  private readonly outbox: Array<{ report: Uint8Array; resolve: () => void }> = [];
  private pumping = false;

  /** Use {@link HidMemoryDevice} or {@link createHidMemoryPair}. */
  constructor(
    info: LinkInfo,
    readonly role: HidMemoryRole,
    private readonly hub: HidMemoryDevice,
  ) {
    super(info);
  }

  protected rawWrite(report: Uint8Array): Promise<void> {
    // Copy: the caller may reuse its buffer once the write resolved; receivers may keep reports.
    const copy = report.slice();
    return new Promise<void>((resolve) => {
      this.outbox.push({ report: copy, resolve });
      if (!this.pumping) {
        this.pumping = true;
        setImmediate(() => this.pump());
      }
    });
  }

  protected async rawClose(): Promise<void> {
    for (const p of this.outbox.splice(0)) p.resolve();
    this.hub.ended(this);
  }

  /** Hub side: a report for this end. */
  receiveReport(report: Uint8Array): void {
    this.deliver(report);
  }

  /** Hub side: the device went away. */
  lose(error: LinkError): void {
    this.fail(error);
  }

  private pump(): void {
    const item = this.outbox.shift();
    if (item === undefined || !this.isOpen) {
      this.pumping = false;
      return;
    }
    this.hub.route(this, item.report);
    item.resolve();
    if (this.outbox.length === 0) {
      this.pumping = false;
      return;
    }
    setImmediate(() => this.pump());
  }
}

/** Options of {@link HidMemoryDevice}. */
export interface HidMemoryDeviceOptions {
  /** Path the host ends report (default `memory-hid:0`). */
  path?: string;
  /** Extra info of the host ends (label, vendorId, productId...). */
  info?: Partial<LinkInfo>;
}

/**
 * A simulated HID device: one device end, host ends opened with {@link openHost}. Closing a
 * host end affects nobody else; closing the device end (or {@link unplug}) ends every host
 * end with LINK_IO, as pulling the cable does.
 */
export class HidMemoryDevice {
  readonly path: string;
  /** The device's side: write reports to the hosts, read reports from them. */
  readonly deviceLink: HidMemoryLink;
  private readonly info: Partial<LinkInfo>;
  private readonly hosts = new Set<HidMemoryLink>();
  private gone = false;

  constructor(options: HidMemoryDeviceOptions = {}) {
    this.path = options.path ?? 'memory-hid:0';
    this.info = options.info ?? {};
    this.deviceLink = new HidMemoryLink({ ...this.info, kind: 'hid', path: `${this.path} (device end)` }, 'device', this);
  }

  /** Host ends open now. */
  get hostCount(): number {
    return this.hosts.size;
  }

  /** A new host end (another program opening the device). LINK_NOT_FOUND once unplugged. */
  openHost(): HidMemoryLink {
    if (this.gone) throw new LinkError('LINK_NOT_FOUND', `${this.path} is unplugged`, { path: this.path });
    const host = new HidMemoryLink({ ...this.info, kind: 'hid', path: this.path }, 'host', this);
    this.hosts.add(host);
    return host;
  }

  /** Pulls the cable: every end fails with LINK_IO; undelivered reports are lost. */
  unplug(): void {
    if (this.gone) return;
    this.gone = true;
    const error = new LinkError('LINK_IO', `${this.path} was unplugged`, { path: this.path });
    for (const h of [...this.hosts]) h.lose(error);
    this.hosts.clear();
    this.deviceLink.lose(error);
  }

  /** Link side: `from` sent `report`. */
  route(from: HidMemoryLink, report: Uint8Array): void {
    if (this.gone) return;
    if (from.role === 'host') {
      this.deviceLink.receiveReport(report);
      return;
    }
    for (const h of [...this.hosts]) h.receiveReport(report.slice());
  }

  /** Link side: `link` closed. */
  ended(link: HidMemoryLink): void {
    if (link.role === 'host') {
      this.hosts.delete(link);
      return;
    }
    this.unplug();
  }
}

/** A device with one host end: `[host, device]`. */
export function createHidMemoryPair(options: HidMemoryDeviceOptions = {}): [HidMemoryLink, HidMemoryLink, HidMemoryDevice] {
  const device = new HidMemoryDevice(options);
  return [device.openHost(), device.deviceLink, device];
}
