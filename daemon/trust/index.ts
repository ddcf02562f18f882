/** The daemon's trust store: root keys, the pins file, the terminal admission rule. */
export { TrustStore, type TrustStoreOptions, type PinsReload } from './trust-store.js';
export {
  parsePins,
  loadPins,
  savePins,
  formatPins,
  addPin,
  removePin,
  pinsFileStamp,
  MAX_PINS_FILE_BYTES,
  type TerminalPin,
  type PinMap,
  type LoadedPins,
  type NewPin,
} from './pins-file.js';
export {
  parseRootKeyFile,
  loadRootKeyFile,
  rootKeyFromHex,
  isHexKey,
  trustedKeysOfRoots,
  PUBLIC_KEY_FILE_FORMAT,
  type RootKey,
  type RootKind,
} from './root-keys.js';
export { TrustStoreError, type TrustStoreErrorCode } from './trust-error.js';
