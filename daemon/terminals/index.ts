/** Terminal discovery, probing, hotplug and the TerminalManager the API uses. */
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
export { createTerminalManager, type CreateTerminalManagerOptions } from './create-manager.js';
export { Reasons, reasonForError, TERMINAL_REASON_CODES, type TerminalReason, type TerminalReasonCode, type ReasonContext } from './terminal-reasons.js';
