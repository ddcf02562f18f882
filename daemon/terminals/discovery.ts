/**
 * Where terminals may be: discovery sources list candidates (a serial port, a TCP address, a
 * HID device); the TerminalManager probes them. Every source has the same shape, so the
 * manager treats a USB serial adapter, a ser2net port and a HID reader alike.
 *
 * Serial: the configured paths, plus enumerated ports (serialport's list, or the sysfs scan
 * when udevadm is missing) whose USB vendor/product ids match the configured ones. Only
 * ports on USB are ever enumerated into probes, and only with matching ids unless `anyUsb`:
 * a probe writes a GetInfo frame, and a USB receipt printer would print it.
 */
import { realpath, stat } from 'node:fs/promises';
import type { Link, LinkInfo } from '../../link/link.js';
import { SerialBus, SerialLink } from '../../link/serial-link.js';
import { TcpLink } from '../../link/tcp-link.js';
import type { PacketCodec } from '../../protocol/message-channel.js';
import type { SerialTerminalConfig, TcpTerminalConfig, UsbId } from '../config/daemon-config.js';
import type { DaemonLogger } from '../logging.js';

/** Kinds of link a terminal is reached over. */
export type TerminalLinkKind = 'serial' | 'tcp' | 'hid';

/** An opened link, with the framing it needs (default: stream framing). */
export interface OpenedLink {
  link: Link;
  codec?: PacketCodec;
}

/** A place where a terminal may be. */
export interface TerminalCandidate {
  /** `<kind>:<path>`: one candidate per key. */
  readonly key: string;
  readonly kind: TerminalLinkKind;
  readonly path: string;
  /** From the config, or found by enumeration. */
  readonly origin: 'config' | 'enumerated';
  /** What the bus knows (USB ids, product name). */
  readonly info?: LinkInfo;
  /** Whether the device is there now: false skips the attempt; undefined means "try". */
  isPresent(): Promise<boolean | undefined>;
  open(): Promise<OpenedLink>;
}

/** A source of candidates. */
export interface DiscoverySource {
  readonly kind: TerminalLinkKind;
  /** The candidates now. Never throws: a failing enumeration is logged and skipped. */
  scan(): Promise<TerminalCandidate[]>;
}

/** Logs each distinct message once (enumeration warnings would otherwise repeat every rescan). */
export class OnceLogger {
  private readonly seen = new Set<string>();
  constructor(private readonly logger: DaemonLogger) {}

  warn(key: string, fields: object, msg: string): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.logger.warn(fields, msg);
  }

  info(key: string, fields: object, msg: string): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.logger.info(fields, msg);
  }

  /** Forget `key`, so it is logged again (the condition cleared and may come back). */
  clear(key: string): void {
    this.seen.delete(key);
  }
}

/** True when `info` matches one of `ids` (a vendor id alone matches every product). */
export function matchesUsbIds(info: Pick<LinkInfo, 'vendorId' | 'productId'>, ids: readonly UsbId[]): boolean {
  if (info.vendorId === undefined) return false;
  return ids.some((id) => id.vendorId === info.vendorId && (id.productId === undefined || id.productId === info.productId));
}

/** Options of {@link SerialDiscovery}. */
export interface SerialDiscoveryOptions {
  configured: readonly SerialTerminalConfig[];
  enumerate: { enabled: boolean; usb: readonly UsbId[]; anyUsb: boolean };
  logger: DaemonLogger;
  /** The bus to enumerate with (tests pass one with a fake list). */
  bus?: SerialBus;
  /** Opens a port (default SerialLink.open). */
  openPort?: (path: string, baudRate: number, info: Partial<LinkInfo>) => Promise<Link>;
}

/** Serial ports: configured, and enumerated by USB id. */
export class SerialDiscovery implements DiscoverySource {
  readonly kind = 'serial' as const;
  private readonly once: OnceLogger;
  private readonly bus: SerialBus;
  private readonly openPort: (path: string, baudRate: number, info: Partial<LinkInfo>) => Promise<Link>;
  private noIdsLogged = false;

  constructor(private readonly options: SerialDiscoveryOptions) {
    this.once = new OnceLogger(options.logger);
    this.bus = options.bus ?? new SerialBus();
    this.openPort = options.openPort ?? ((path, baudRate, info) => SerialLink.open(path, { baudRate }, info));
  }

  async scan(): Promise<TerminalCandidate[]> {
    const out: TerminalCandidate[] = this.options.configured.map((c) => this.candidate(c.path, c.baudRate, 'config'));
    const e = this.options.enumerate;
    if (!e.enabled) return out;
    if (e.usb.length === 0 && !e.anyUsb) {
      if (!this.noIdsLogged) {
        this.noIdsLogged = true;
        this.options.logger.info(
          {},
          'serial enumeration: no USB ids configured (terminals.enumerate.usb), so only the configured serial paths are probed',
        );
      }
      return out;
    }
    let ports: LinkInfo[];
    try {
      const listing = await this.bus.listWithWarnings();
      for (const w of listing.warnings) this.once.warn(`list:${w}`, {}, w);
      ports = listing.links;
      this.once.clear('unavailable');
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.once.warn('unavailable', { error: message }, `serial enumeration unavailable (${message}); carrying on with the configured serial paths`);
      return out;
    }
    const configured = new Set<string>();
    for (const c of this.options.configured) {
      configured.add(c.path);
      configured.add(await realpath(c.path).catch(() => c.path));
    }
    for (const p of ports) {
      if (p.vendorId === undefined) continue;
      if (!e.anyUsb && !matchesUsbIds(p, e.usb)) continue;
      const real = await realpath(p.path).catch(() => p.path);
      if (configured.has(p.path) || configured.has(real)) continue;
      out.push(this.candidate(p.path, 115_200, 'enumerated', p));
    }
    return out;
  }

  private candidate(path: string, baudRate: number, origin: 'config' | 'enumerated', info?: LinkInfo): TerminalCandidate {
    const openPort = this.openPort;
    return {
      key: `serial:${path}`,
      kind: 'serial',
      path,
      origin,
      ...(info === undefined ? {} : { info }),
      isPresent: () => serialPathPresent(path),
      open: async () => ({ link: await openPort(path, baudRate, info ?? {}) }),
    };
  }
}

/**
 * Whether a serial device path exists now. Windows port names (COM3) cannot be checked this
 * way: undefined, so they are simply tried.
 */
export async function serialPathPresent(path: string): Promise<boolean | undefined> {
  if (process.platform === 'win32') return undefined;
  try {
    await stat(path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? false : undefined;
  }
}

/** Options of {@link TcpDiscovery}. */
export interface TcpDiscoveryOptions {
  configured: readonly TcpTerminalConfig[];
  /** Connect timeout (default 3000 ms). */
  connectTimeoutMs?: number;
}

/** TCP terminals (ser2net-style raw ports) from the config. Presence is learnt by connecting. */
export class TcpDiscovery implements DiscoverySource {
  readonly kind = 'tcp' as const;
  constructor(private readonly options: TcpDiscoveryOptions) {}

  scan(): Promise<TerminalCandidate[]> {
    const timeout = this.options.connectTimeoutMs ?? 3_000;
    return Promise.resolve(
      this.options.configured.map((c) => ({
        key: `tcp:${c.address}`,
        kind: 'tcp' as const,
        path: c.address,
        origin: 'config' as const,
        isPresent: () => Promise.resolve(undefined),
        open: async () => ({ link: await TcpLink.connect(c.address, { connectTimeoutMs: timeout }) }),
      })),
    );
  }
}
