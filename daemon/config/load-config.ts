/**
 * Loading unicardd's configuration: the JSON file (or the zero-config development defaults),
 * then the files it names (root keys, token files). Every failure is a ConfigError whose
 * message names the file and the field; unicardd prints it and exits with code 2.
 *
 * Zero-config development mode (`unicardd --dev`): data dir `.unicard-dev/` in the working
 * directory, the socket inside it, and an API token generated once into `.unicard-dev/token`
 * (mode 0600) for a client named "dev" with the admin role. A config file given with --dev
 * may leave out dataDir and tokens; everything else it says applies.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UnicardError } from '../../protocol/errors.js';
import { loadRootKeyFile, rootKeyFromHex, type RootKey, type RootKind } from '../trust/root-keys.js';
import { ConfigError, type ConfigIssue } from './config-error.js';
import { validateConfig, type ApiTokenConfig, type DaemonConfigFile, type RootKeyRef } from './daemon-config.js';

/** Largest config file read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** The development data dir, relative to the working directory. */
export const DEV_DATA_DIR = '.unicard-dev';
/** The generated development token's file name, inside the data dir. */
export const DEV_TOKEN_FILE = 'token';
/** The generated development token's client name. */
export const DEV_TOKEN_NAME = 'dev';

/** The configuration unicardd runs with: validated, defaults filled, files read. */
export interface DaemonConfig extends Omit<DaemonConfigFile, 'tokens' | 'trust'> {
  /** The file it came from (absolute), if any. */
  configFile: string | undefined;
  /** Started with --dev. */
  dev: boolean;
  tokens: ApiTokenConfig[];
  trust: { vendorRoots: RootKey[]; issuerRoots: RootKey[]; pinsFile: string };
  /** --dev: where the generated token is (tell the developer). */
  devTokenFile?: string;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The config file (relative to `cwd`). */
  configFile?: string;
  /** Zero-config development mode. */
  dev?: boolean;
  /** Working directory (default process.cwd()). */
  cwd?: string;
}

/**
 * Loads and checks the configuration. With neither a file nor `dev`, CONFIG_USAGE.
 * In dev mode this creates the data dir and the token file when they do not exist.
 */
export async function loadConfig(options: LoadConfigOptions): Promise<DaemonConfig> {
  const cwd = options.cwd ?? process.cwd();
  const dev = options.dev === true;
  if (options.configFile === undefined && !dev) {
    throw new ConfigError('CONFIG_USAGE', 'give a config file (--config <file>) or run in development mode (--dev)');
  }
  const configFile = options.configFile === undefined ? undefined : resolve(cwd, options.configFile);
  const json = configFile === undefined ? {} : parseConfigText(await readConfigFile(configFile), configFile);
  const source = configFile ?? '--dev defaults';
  const devDataDir = resolve(cwd, DEV_DATA_DIR);
  const result = validateConfig(json, {
    baseDir: configFile === undefined ? cwd : dirname(configFile),
    dev,
    ...(dev ? { defaultDataDir: devDataDir } : {}),
  });
  if (!result.ok) throw ConfigError.invalid(source, result.issues);
  const file = result.config;

  const issues: ConfigIssue[] = [];
  const tokens: ApiTokenConfig[] = [];
  for (const [i, t] of file.tokens.entries()) {
    if ('token' in t) {
      tokens.push({ name: t.name, role: t.role, token: t.token });
      continue;
    }
    try {
      tokens.push({ name: t.name, role: t.role, token: await readTokenFile(t.tokenFile) });
    } catch (e) {
      issues.push({ path: `tokens.${file.tokens[i]?.name ?? i}.tokenFile`, message: messageOf(e) });
    }
  }
  const vendorRoots = await loadRoots(file.trust.vendorRoots, 'vendor-root', issues);
  const issuerRoots = await loadRoots(file.trust.issuerRoots, 'issuer-root', issues);
  const dup = new Set<string>();
  tokens.forEach((t, i) => {
    if (tokens.findIndex((o) => o.token === t.token) < i) dup.add(t.name);
  });
  for (const name of dup) issues.push({ path: `tokens.${name}`, message: 'has the same token as another client: every client needs its own token' });
  if (issues.length > 0) throw new ConfigError('CONFIG_FILE_INVALID', ConfigError.invalid(source, issues).message, issues, { source });

  const config: DaemonConfig = {
    ...file,
    configFile,
    dev,
    tokens,
    trust: { vendorRoots, issuerRoots, pinsFile: file.trust.pinsFile },
  };
  if (dev && tokens.length === 0) {
    const devToken = await ensureDevToken(file.dataDir);
    config.tokens = [{ name: DEV_TOKEN_NAME, role: 'admin', token: devToken.token }];
    config.devTokenFile = devToken.file;
  }
  return config;
}

/** Parses config text as JSON; a syntax error names the line and column. */
export function parseConfigText(text: string, source: string): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    const raw = e instanceof Error ? e.message : String(e);
    const m = /position (\d+)/.exec(raw);
    let where = '';
    if (m !== null) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos);
      const line = before.split('\n').length;
      const col = pos - before.lastIndexOf('\n');
      where = ` at line ${line}, column ${col}`;
    } else if (text.trim() === '') where = ' (the file is empty)';
    const why = raw.replace(/ in JSON at position \d+.*$/, '').replace(/^Unexpected end of JSON input$/, 'the JSON ends too early');
    throw new ConfigError('CONFIG_NOT_JSON', `${source} is not valid JSON${where}: ${why}`, [], { source });
  }
}

async function readConfigFile(path: string): Promise<string> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new ConfigError('CONFIG_UNREADABLE', `cannot read the config file ${path}: it is a directory`);
    if (st.size > MAX_CONFIG_BYTES) {
      throw new ConfigError('CONFIG_UNREADABLE', `the config file ${path} is ${st.size} bytes; a config is at most ${MAX_CONFIG_BYTES}`);
    }
    return await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read the config file ${path}: ${errnoText(e)}`, [], { source: path });
  }
}

async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    const st = await stat(path);
    if (process.platform !== 'win32' && (st.mode & 0o004) !== 0) {
      throw new ConfigError('CONFIG_FILE_INVALID', `${path} is readable by every user: chmod 600 (or 640) it`);
    }
    if (st.size > 4096) throw new ConfigError('CONFIG_FILE_INVALID', `${path} is ${st.size} bytes; a token file holds one token`);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError('CONFIG_FILE_INVALID', `cannot read ${path}: ${errnoText(e)}`);
  }
  const token = text.trim();
  if (token.length < 16 || !/^[\x21-\x7e]+$/.test(token)) {
    throw new ConfigError('CONFIG_FILE_INVALID', `${path} must hold one token of at least 16 printable characters without spaces`);
  }
  return token;
}

async function loadRoots(refs: ReadonlyArray<{ path: string; ref: RootKeyRef }>, kind: RootKind, issues: ConfigIssue[]): Promise<RootKey[]> {
  const out: RootKey[] = [];
  for (const { path, ref } of refs) {
    try {
      const key = ref.kind === 'hex' ? rootKeyFromHex(ref.hex, kind) : await loadRootKeyFile(ref.path, kind);
      if (out.some((k) => k.keyId === key.keyId)) issues.push({ path, message: `key ${key.keyId} is listed twice` });
      else out.push(key);
    } catch (e) {
      issues.push({ path, message: messageOf(e) });
    }
  }
  return out;
}

/** Reads the dev token, or makes one (mode 0600, created exclusively so two starts agree). */
async function ensureDevToken(dataDir: string): Promise<{ token: string; file: string }> {
  const file = join(dataDir, DEV_TOKEN_FILE);
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    try {
      const fh = await open(file, 'wx', 0o600);
      try {
        await fh.writeFile(`${randomBytes(32).toString('base64url')}\n`, 'utf8');
      } finally {
        await fh.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    // An older file may have looser permissions (copied around): tighten it.
    if (process.platform !== 'win32') await chmod(file, 0o600);
    return { token: await readTokenFile(file), file };
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError('CONFIG_FILE_INVALID', `cannot set up the development data dir ${dataDir}: ${errnoText(e)}`);
  }
}

function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    default:
      return code ?? (e instanceof Error ? e.message : String(e));
  }
}

function messageOf(e: unknown): string {
  return e instanceof UnicardError || e instanceof Error ? e.message : String(e);
}
