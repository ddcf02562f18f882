/** unicardd's configuration: schema, defaults, loading (see DAEMON.md for the operator's reference). */
export {
  validateConfig,
  CONFIG_DEFAULTS,
  LOG_LEVELS,
  TOKEN_ROLES,
  MIN_TOKEN_LENGTH,
  MAX_SOCKET_PATH_BYTES,
  TOP_LEVEL_FIELDS,
  type DaemonConfigFile,
  type LogLevel,
  type TokenRole,
  type UsbId,
  type ApiTokenConfig,
  type SerialTerminalConfig,
  type TcpTerminalConfig,
  type RootKeyRef,
  type ValidateOptions,
  type ValidateResult,
} from './daemon-config.js';
export {
  loadConfig,
  parseConfigText,
  MAX_CONFIG_BYTES,
  DEV_DATA_DIR,
  DEV_TOKEN_FILE,
  DEV_TOKEN_NAME,
  type DaemonConfig,
  type LoadConfigOptions,
} from './load-config.js';
export { ConfigError, formatIssue, type ConfigErrorCode, type ConfigIssue } from './config-error.js';
