/**
 * The daemon's TerminalManager for a configuration. HID discovery (with link/hid-link and the
 * HID report codec) is imported only when `terminals.hid.enabled`: a daemon with serial and
 * TCP terminals alone never loads that code (resident memory, BENCHMARKS.md "Daemon RSS").
 * node-hid and serialport themselves are imported lazily by their links.
 */
import type { DaemonConfig } from '../config/load-config.js';
import type { DaemonLogger } from '../logging.js';
import { SerialDiscovery, TcpDiscovery, type DiscoverySource } from './discovery.js';
import type { HidDiscoveryOptions, HidLoader } from './hid-discovery.js';
import { DiscoveringTerminalManager, type TerminalTrust, type TerminalManagerOptions } from './terminal-manager.js';

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

/** The daemon's TerminalManager for a configuration: serial, TCP and (when enabled) HID sources. */
export function createTerminalManager(config: Pick<DaemonConfig, 'terminals'>, options: CreateTerminalManagerOptions): DiscoveringTerminalManager {
  const t = config.terminals;
  const logger = options.logger;
  const sources: DiscoverySource[] = [new SerialDiscovery({ configured: t.serial, enumerate: t.enumerate, logger }), new TcpDiscovery({ configured: t.tcp })];
  if (t.hid.enabled) sources.push(lazyHidDiscovery({ enabled: true, usb: t.hid.usb, logger, ...(options.hidLoader === undefined ? {} : { load: options.hidLoader }) }));
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

/** A HidDiscovery whose module is imported at its first scan. */
function lazyHidDiscovery(options: HidDiscoveryOptions): DiscoverySource {
  let source: Promise<DiscoverySource> | undefined;
  return {
    kind: 'hid',
    scan: async () => (await (source ??= import('./hid-discovery.js').then((m) => new m.HidDiscovery(options)))).scan(),
  };
}
