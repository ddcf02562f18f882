/**
 * Errors of the daemon's configuration: every one names the file and the field, so an
 * operator can fix the config without reading code. unicardd turns them into exit code 2.
 */
import { UnicardError } from '../../protocol/errors.js';

/** Why a configuration was refused. */
export type ConfigErrorCode =
  /** The file could not be read (missing, permission). */
  | 'CONFIG_UNREADABLE'
  /** The file is not JSON. */
  | 'CONFIG_NOT_JSON'
  /** The JSON does not fit the schema (see `issues`). */
  | 'CONFIG_INVALID'
  /** A file the config names (key, token, pins) is missing or malformed. */
  | 'CONFIG_FILE_INVALID'
  /** Command-line arguments are wrong. */
  | 'CONFIG_USAGE';

/** One thing wrong with a config: the field's path (`terminals.serial[1].path`) and what is wrong. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** Formats an issue as `path: message` (the whole document when the path is empty). */
export function formatIssue(issue: ConfigIssue): string {
  return `${issue.path === '' ? '(top level)' : issue.path}: ${issue.message}`;
}

/** A configuration the daemon cannot run with. `message` lists every issue, one per line. */
export class ConfigError extends UnicardError {
  declare readonly code: ConfigErrorCode;
  /** Every issue found (one for errors that are not about a field). */
  readonly issues: readonly ConfigIssue[];

  constructor(code: ConfigErrorCode, message: string, issues: readonly ConfigIssue[] = [], detail?: Record<string, unknown>) {
    super(code, message, { ...detail, ...(issues.length > 0 ? { issues: issues.map(formatIssue) } : {}) });
    this.issues = issues;
  }

  /** A CONFIG_INVALID error for `issues` found in `source` (a file path, or "--dev defaults"). */
  static invalid(source: string, issues: readonly ConfigIssue[]): ConfigError {
    const lines = issues.map((i) => `  ${formatIssue(i)}`).join('\n');
    const what = issues.length === 1 ? 'an error' : `${issues.length} errors`;
    return new ConfigError('CONFIG_INVALID', `${source} has ${what}:\n${lines}`, issues, { source });
  }
}
