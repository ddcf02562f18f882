/** The reference terminal: firmware, connection (session rules), simulator, ports, control. */
export { TerminalFirmware, SIM_CAPABILITIES, keepaliveStatusOfSensor } from './terminal-firmware.js';
export type { FirmwareRequest, FirmwareRequestName, HandlerResult, LinkCounters, RequestContext, TerminalEvent, TerminalFirmwareOptions } from './terminal-firmware.js';
export { TerminalConnection, KEEPALIVE_INTERVAL_MS, IDLE_GAP_MS, CLEAR_REQUESTS } from './terminal-connection.js';
export type { TerminalConnectionOptions, ConnectionLogLevel } from './terminal-connection.js';
export { TerminalPacketCodec, TERMINAL_MAX_FRAME_SIZE } from './terminal-packet-codec.js';
export { ResponseCache, RESPONSE_CACHE_CAPACITY } from './response-cache.js';
export { EventLog, DEFAULT_LOG_CAPACITY, type LogEntryRecord } from './event-log.js';
export { TerminalError, wireErrorOf, truncateUtf8, type WireFailure } from './terminal-error.js';
export { bannerLine, bannerBytes, parseBannerLine, BANNER_PREFIX, MAX_BANNER_BYTES, type BannerInfo } from './banner.js';
export { QuirkSet, QUIRK_NAMES, QUIRK_RULES, isQuirkName, nonCanonicalMessage, withBadCrc, type QuirkName } from './quirks.js';
export { FaultInjector, FaultyLink, type FaultDirection, type FaultCounters, type FaultSettings } from './faults.js';
export {
  SimulatedTerminal,
  ControlError,
  CONTROL_HELP,
  FINGER_NAMES,
  worldCardLoader,
  type SimulatedTerminalOptions,
  type WorldTerminalOptions,
  type ControlCommand,
  type ControlReply,
  type ControlErrorCode,
  type CardLoader,
  type SimLogger,
} from './simulated-terminal.js';
export { HidDevicePort, HID_TERMINAL_MAX_FRAME_SIZE, type HidDevicePortOptions, type HidDeviceCounters } from './hid-device-port.js';
export { PtyPort, SerialDevicePort, TcpPort, type TerminalPort, type PortKind, type PortPacing } from './ports.js';
export { ControlServer, parseControlLine, parseControlWords, MAX_CONTROL_LINE, type ControlHandler } from './control-server.js';
