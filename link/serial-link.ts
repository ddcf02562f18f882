/**
 * Serial links on the `serialport` package: a real UART, a USB-CDC port, or a pty (socat).
 * Default line settings are the protocol's: 115200 baud, 8N1, no flow control (neither
 * RTS/CTS nor XON/XOFF: the frames are binary and contain 0x11 and 0x13).
 *
 * `serialport` is imported lazily, so code that only uses memory or TCP links never loads its
 * native module, and a missing native build becomes a LINK_UNAVAILABLE error, not a crash.
 */
import { read as fsReadCallback } from 'node:fs';
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { basename, dirname, join } from 'node:path';
import type { SerialPort as SerialPortClass } from 'serialport';
import { LinkError } from '../protocol/errors.js';
import { BaseLink, type BaseLinkOptions } from './base-link.js';
import type { LinkBus, LinkInfo, LinkOpenOptions } from './link.js';
import { toLinkError } from './link-errors.js';

/** The protocol's line rate. */
export const DEFAULT_BAUD_RATE = 115200;

/** Options for opening a serial port. Data format is always 8N1, without flow control. */
export interface SerialOpenOptions extends LinkOpenOptions {
  /** Default 115200. Ignored by ptys and USB-CDC devices, which run at their own speed. */
  baudRate?: number;
  /** Take an exclusive lock on the port (default true), so two programs never share it. */
  lock?: boolean;
  /** Clock and timers for pacing (tests). */
  timer?: BaseLinkOptions['timer'];
}

/** What serialport's list() reports for one port (the fields we use). */
export interface SerialPortInfo {
  path: string;
  manufacturer?: string | undefined;
  serialNumber?: string | undefined;
  pnpId?: string | undefined;
  vendorId?: string | undefined;
  productId?: string | undefined;
}

const fsRead = promisify(fsReadCallback);

type SerialPortModule = typeof import('serialport');
let serialportModule: Promise<SerialPortModule> | undefined;

async function loadSerialport(): Promise<SerialPortModule> {
  serialportModule ??= import('serialport');
  try {
    return await serialportModule;
  } catch (e) {
    serialportModule = undefined;
    const cause = e instanceof Error ? e.message : String(e);
    throw new LinkError(
      'LINK_UNAVAILABLE',
      `serial ports are unavailable: the serialport native module did not load (run make setup, or npm ci): ${cause}`,
      { cause },
    );
  }
}

/** An open serial port. Create with {@link SerialLink.open} or {@link SerialBus.open}. */
export class SerialLink extends BaseLink {
  private closing = false;

  private constructor(
    private readonly port: SerialPortClass,
    info: LinkInfo,
    options: BaseLinkOptions,
  ) {
    super(info, options);
    const ctx = { kind: 'serial' as const, path: info.path };
    // Always read (flowing mode): an unplugged pty or USB port is only noticed by a read.
    port.on('data', (chunk: Buffer) => {
      // A plain Uint8Array view: Buffer#slice shares memory, Uint8Array#slice copies;
      // readers above us must get the semantics the type promises.
      this.deliver(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
    // Keep an 'error' listener for the port's whole life: an EventEmitter without one throws.
    port.on('error', (err: Error) => {
      if (!this.closing) this.fail(toLinkError(err, { ...ctx, op: 'read' }));
    });
    port.on('close', (err: (Error & { disconnected?: boolean }) | null | undefined) => {
      if (this.closing) return;
      if (err) {
        // serialport closes the port itself on a read/write failure (err.disconnected): an unplug.
        this.fail(toLinkError({ code: 'EIO', message: err.message }, { ...ctx, op: 'read' }));
      } else {
        this.fail(new LinkError('LINK_CLOSED', `${info.path} was closed by another part of the program`, { path: info.path }));
      }
    });
    port.on('end', () => {
      if (!this.closing) this.fail(new LinkError('LINK_IO', `${info.path} reached end of file (the device went away?)`, { path: info.path }));
    });
  }

  /**
   * Opens the serial port at `path` (`/dev/ttyUSB0`, a socat pty link, `COM3`) at 115200 8N1.
   * Rejects with LINK_NOT_FOUND, LINK_PERMISSION_DENIED, LINK_BUSY, LINK_UNAVAILABLE or LINK_IO.
   */
  static async open(path: string, options: SerialOpenOptions = {}, info: Partial<LinkInfo> = {}): Promise<SerialLink> {
    const { SerialPort } = await loadSerialport();
    const baudRate = options.baudRate ?? DEFAULT_BAUD_RATE;
    let port: SerialPortClass;
    try {
      port = new SerialPort({
        path,
        baudRate,
        dataBits: 8,
        parity: 'none',
        stopBits: 1,
        rtscts: false,
        xon: false,
        xoff: false,
        xany: false,
        hupcl: true,
        lock: options.lock ?? true,
        autoOpen: false,
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      throw new LinkError('LINK_INVALID_OPTIONS', `cannot open ${path}: ${message}`, { path, cause: message });
    }
    await new Promise<void>((resolve, reject) => {
      port.open((err) => (err ? reject(toLinkError(err, { kind: 'serial', path, op: 'open' })) : resolve()));
    });
    // Before the first read starts (reading begins when SerialLink subscribes to 'data').
    guardEndOfFile(port.port);
    const baseOptions: BaseLinkOptions = {};
    if (options.pace !== undefined) baseOptions.pace = options.pace;
    if (options.timer !== undefined) baseOptions.timer = options.timer;
    return new SerialLink(port, { ...info, kind: 'serial', path }, baseOptions);
  }

  protected rawWrite(chunk: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      this.port.write(buf, (err) => {
        if (!err) return resolve();
        const error = toLinkError(err, { kind: 'serial', path: this.info.path, op: 'write' });
        reject(error);
        this.fail(error);
      });
    });
  }

  protected rawClose(): Promise<void> {
    this.closing = true;
    if (!this.port.isOpen) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.port.close(() => resolve());
    });
  }
}

/** The parts of serialport's unix port binding (Linux, macOS) that the read guard uses. */
interface UnixPortBinding {
  fd: number | null;
  readonly isOpen: boolean;
  poller: { once(event: 'readable', cb: (err?: Error | null) => void): unknown };
  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
}

function isUnixPortBinding(port: unknown): port is UnixPortBinding {
  const p = port as Partial<UnixPortBinding> | undefined;
  return typeof p?.fd === 'number' && typeof p.poller?.once === 'function' && typeof p.read === 'function';
}

/**
 * serialport's unix read retries forever when read() returns 0 bytes (bindings-cpp issue
 * #162). A tty returns 0 only once it has been hung up (USB unplug, pty master gone), and
 * depending on timing that is the only sign of it: the port then spins at 100 % CPU and never
 * reports the unplug. This replaces the port's read with one that treats 0 bytes as the
 * disconnect it is; EAGAIN still waits for the poller as before. Windows ports are left alone.
 */
function guardEndOfFile(port: unknown): void {
  if (!isUnixPortBinding(port)) return;
  const binding = port;
  const canceled = (): Error => Object.assign(new Error('Port is not open'), { canceled: true });
  binding.read = async (buffer, offset, length) => {
    for (;;) {
      const fd = binding.fd;
      if (!binding.isOpen || fd === null) throw canceled();
      try {
        const { bytesRead } = await fsRead(fd, buffer, offset, length, null);
        if (bytesRead === 0) {
          throw Object.assign(new Error('end of file: the port was hung up'), { code: 'EIO', disconnect: true });
        }
        return { buffer, bytesRead };
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') throw e;
        if (!binding.isOpen) throw canceled();
        await new Promise<void>((resolve, reject) => {
          binding.poller.once('readable', (err) => (err ? reject(err) : resolve()));
        });
      }
    }
  };
}

/** Options of {@link SerialBus}. */
export interface SerialBusOptions {
  /** Told when listing had to fall back (e.g. no udevadm); the library never logs by itself. */
  onWarning?: (message: string) => void;
  /** Replaces serialport's enumeration (tests). */
  listPorts?: () => Promise<SerialPortInfo[]>;
  /** Where the sysfs fallback looks (tests): default `/sys/class/tty` and `/dev`. */
  sysfsTtyDir?: string;
  devDir?: string;
}

/** The result of listing with the warnings kept. */
export interface SerialListing {
  links: LinkInfo[];
  warnings: string[];
}

/** Lists and opens serial ports. */
export class SerialBus implements LinkBus<SerialOpenOptions> {
  readonly kind = 'serial' as const;

  constructor(private readonly options: SerialBusOptions = {}) {}

  /** The ports serialport enumerates, or the sysfs scan when enumeration fails. */
  async list(): Promise<LinkInfo[]> {
    const { links, warnings } = await this.listWithWarnings();
    for (const w of warnings) this.options.onWarning?.(w);
    return links;
  }

  /** Like {@link list}, returning the warnings instead of calling `onWarning`. */
  async listWithWarnings(): Promise<SerialListing> {
    let firstError: string;
    try {
      const ports = await (this.options.listPorts ?? defaultListPorts)();
      return { links: ports.map(portInfoToLink), warnings: [] };
    } catch (e) {
      firstError = e instanceof LinkError ? e.message : e instanceof Error ? e.message : String(e);
    }
    const sysOptions: SysfsScanOptions = {};
    if (this.options.sysfsTtyDir !== undefined) sysOptions.ttyDir = this.options.sysfsTtyDir;
    if (this.options.devDir !== undefined) sysOptions.devDir = this.options.devDir;
    try {
      const links = await scanSysfsSerialPorts(sysOptions);
      return {
        links,
        warnings: [
          `serial port enumeration failed (${firstError}); listed ports from ${sysOptions.ttyDir ?? SYSFS_TTY_DIR} instead ` +
            '(install udev, which provides udevadm, for complete device details)',
        ],
      };
    } catch (e) {
      const cause = e instanceof Error ? e.message : String(e);
      throw new LinkError('LINK_UNAVAILABLE', `cannot list serial ports: ${firstError}; the sysfs fallback failed too: ${cause}`, {
        cause: firstError,
        fallbackCause: cause,
      });
    }
  }

  open(path: string, options?: SerialOpenOptions): Promise<SerialLink> {
    return SerialLink.open(path, options);
  }
}

async function defaultListPorts(): Promise<SerialPortInfo[]> {
  const { SerialPort } = await loadSerialport();
  return SerialPort.list();
}

function portInfoToLink(p: SerialPortInfo): LinkInfo {
  const info: LinkInfo = { kind: 'serial', path: p.path };
  const vendorId = normaliseUsbId(p.vendorId);
  const productId = normaliseUsbId(p.productId);
  if (vendorId !== undefined) info.vendorId = vendorId;
  if (productId !== undefined) info.productId = productId;
  if (p.serialNumber) info.serialNumber = p.serialNumber;
  if (p.manufacturer) {
    info.manufacturer = p.manufacturer;
    info.label = p.manufacturer;
  }
  return info;
}

/** USB ids as 4 lowercase hex digits (`0x0483`, `483`, `0483` all become `0483`). */
export function normaliseUsbId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined;
  const hex = id.trim().toLowerCase().replace(/^0x/, '');
  if (!/^[0-9a-f]{1,4}$/.test(hex)) return undefined;
  return hex.padStart(4, '0');
}

const SYSFS_TTY_DIR = '/sys/class/tty';
const SERIAL_NAME = /^(ttyS|ttyWCH|ttyACM|ttyUSB|ttyAMA|ttyMFD|ttyO|ttyXRUSB|ttyTHS|ttyGS|rfcomm)\d+$/;

/** Where {@link scanSysfsSerialPorts} looks. */
export interface SysfsScanOptions {
  /** Default `/sys/class/tty`. */
  ttyDir?: string;
  /** Default `/dev`. */
  devDir?: string;
}

/**
 * Lists serial ports from Linux sysfs without udev: every `/sys/class/tty/<name>` that has a
 * `device` (virtual consoles and ptys have none), skipping legacy `ttyS` slots with no UART
 * behind them (`type` 0), with USB vendor/product/serial/manufacturer read from the nearest
 * USB device directory above it.
 */
export async function scanSysfsSerialPorts(options: SysfsScanOptions = {}): Promise<LinkInfo[]> {
  const ttyDir = options.ttyDir ?? SYSFS_TTY_DIR;
  const devDir = options.devDir ?? '/dev';
  const names = (await readdir(ttyDir)).filter((n) => SERIAL_NAME.test(n)).sort(naturalCompare);
  const links: LinkInfo[] = [];
  for (const name of names) {
    const entry = join(ttyDir, name);
    let device: string;
    try {
      device = await realpath(join(entry, 'device'));
    } catch {
      continue;
    }
    if (name.startsWith('ttyS') && (await readAttr(join(entry, 'type'))) === '0') continue;
    const info: LinkInfo = { kind: 'serial', path: join(devDir, name) };
    const usb = await findUsbDevice(device);
    if (usb !== undefined) {
      const vendorId = normaliseUsbId(await readAttr(join(usb, 'idVendor')));
      const productId = normaliseUsbId(await readAttr(join(usb, 'idProduct')));
      const serialNumber = await readAttr(join(usb, 'serial'));
      const manufacturer = await readAttr(join(usb, 'manufacturer'));
      const product = await readAttr(join(usb, 'product'));
      if (vendorId !== undefined) info.vendorId = vendorId;
      if (productId !== undefined) info.productId = productId;
      if (serialNumber) info.serialNumber = serialNumber;
      if (manufacturer) info.manufacturer = manufacturer;
      if (product) info.label = product;
    }
    links.push(info);
  }
  return links;
}

/** The nearest directory at or above `device` that has an `idVendor` file (a USB device). */
async function findUsbDevice(device: string): Promise<string | undefined> {
  let dir = device;
  for (let depth = 0; depth < 8; depth++) {
    try {
      await stat(join(dir, 'idVendor'));
      return dir;
    } catch {
      // not this level
    }
    const parent = dirname(dir);
    if (parent === dir || basename(parent) === 'devices') return undefined;
    dir = parent;
  }
  return undefined;
}

async function readAttr(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/**
 * ttyUSB2 before ttyUSB10: runs of digits compare as numbers, the rest by code unit. Not
 * localeCompare: device paths are ASCII, and ICU's collation data would cost the daemon
 * megabytes of resident memory (BENCHMARKS.md, RSS).
 */
export function naturalCompare(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) {
      const xs = x.replace(/^0+/, '');
      const ys = y.replace(/^0+/, '');
      if (xs.length !== ys.length) return xs.length - ys.length;
      if (xs !== ys) return xs < ys ? -1 : 1;
      return x.length - y.length; // the same number: fewer leading zeros first
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}
