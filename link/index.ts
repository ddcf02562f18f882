/** The link layer's public surface: import links from here, not from the individual files. */
export type { Link, LinkBus, LinkInfo, LinkKind, LinkOpenOptions } from './link.js';
export { HOLD_LIMIT_BYTES } from './link.js';
export { BaseLink, type BaseLinkOptions } from './base-link.js';
export { Pacer, type PaceOptions, type PaceStep } from './pacer.js';
export { WriteQueue, realTimer, type LinkTimer, type RawWrite } from './write-queue.js';
export { toLinkError, osErrorCode, closedError, type LinkErrorContext, type LinkOperation } from './link-errors.js';
export {
  MemoryLink,
  MemoryBus,
  createMemoryLinkPair,
  type MemoryChunking,
  type MemoryDevice,
  type MemoryLinkPairOptions,
} from './memory-link.js';
export {
  SerialLink,
  SerialBus,
  DEFAULT_BAUD_RATE,
  scanSysfsSerialPorts,
  normaliseUsbId,
  type SerialOpenOptions,
  type SerialBusOptions,
  type SerialListing,
  type SerialPortInfo,
  type SysfsScanOptions,
} from './serial-link.js';
export {
  TcpLink,
  TcpBus,
  TcpLinkServer,
  parseTcpAddress,
  formatTcpAddress,
  type TcpAddress,
  type TcpBusOptions,
  type TcpBusyPolicy,
  type TcpLinkServerOptions,
  type TcpOpenOptions,
} from './tcp-link.js';
export { HidLink, loadNodeHidModule, hidLinkError, HID_LINK_REPORT_SIZE, type HidLinkOptions, type NodeHidDevice, type NodeHidModule } from './hid-link.js';
export { HidMemoryLink, HidMemoryDevice, createHidMemoryPair, type HidMemoryRole, type HidMemoryDeviceOptions } from './hid-memory.js';
export { LinkError, type LinkErrorCode } from '../protocol/errors.js';
