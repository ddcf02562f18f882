/** Terminal discovery, probing, hotplug and the TerminalManager the API uses. */
import type { DaemonConfig } from '../config/load-config.js';
import type { DaemonLogger } from '../logging.js';
import { SerialDiscovery, TcpDiscovery, type DiscoverySource } from './discovery.js';
import { HidDiscovery, type HidLoader } from './hid-discovery.js';
import { DiscoveringTerminalManager, type TerminalTrust, type TerminalManagerOptions } from './terminal-manager.js';

export {
  DiscoveringTerminalManager,
  backoffDelayMs,
  type TerminalManager,
  type TerminalInfo,
  type TerminalEvent,
  type TerminalState,
  type TerminalTrust,
  type TerminalManagerOptions,
} from './terminal-manager.js';
export {
  SerialDiscovery,
  TcpDiscovery,
  OnceLogger,
  matchesUsbIds,
  serialPathPresent,
  type DiscoverySource,
  type TerminalCandidate,
  type TerminalLinkKind,
  type OpenedLink,
  type SerialDiscoveryOptions,
  type TcpDiscoveryOptions,
} from './discovery.js';
export { HidDiscovery, loadNodeHid, hidLoadFailure, type HidDeviceInfo, type HidModule, type HidLoader, type HidDiscoveryOptions } from './hid-discovery.js';
export { openHidChannel, HID_INIT_RETRY_MS, HID_INIT_ATTEMPTS, type OpenHidChannelOptions } from './hid-channel.js';
export { Reasons, reasonForError, TERMINAL_REASON_CODES, type TerminalReason, type TerminalReasonCode, type ReasonContext } from './terminal-reasons.js';

/** Options of {@link createTerminalManager}. */
export interface CreateTerminalManagerOptions {
  trust: TerminalTrust;
  logger: DaemonLogger;
  /** Log decoded protocol traffic (--verbose). */
  verbose?: boolean;
  /** Replaces the node-hid loader (tests). */
  hidLoader?: HidLoader;
  /** Extra manager options (tests: session timings, probe banner wait). */
  extra?: Partial<Pick<TerminalManagerOptions, 'session' | 'probeBannerMs' | 'now'>>;
}

/** The daemon's TerminalManager for a configuration: serial, TCP and HID sources. */
export function createTerminalManager(config: Pick<DaemonConfig, 'terminals'>, options: CreateTerminalManagerOptions): DiscoveringTerminalManager {
  const t = config.terminals;
  const logger = options.logger;
  const sources: DiscoverySource[] = [
    new SerialDiscovery({ configured: t.serial, enumerate: t.enumerate, logger }),
    new TcpDiscovery({ configured: t.tcp }),
    new HidDiscovery({ enabled: t.hid.enabled, usb: t.hid.usb, logger, ...(options.hidLoader === undefined ? {} : { load: options.hidLoader }) }),
  ];
  return new DiscoveringTerminalManager({
    sources,
    trust: options.trust,
    logger,
    rescanIntervalMs: t.rescanIntervalMs,
    reconnectInitialMs: t.reconnectInitialMs,
    reconnectMaxMs: t.reconnectMaxMs,
    pingIntervalMs: t.pingIntervalMs,
    traceTraffic: options.verbose === true,
    ...options.extra,
  });
}
