/**
 * The daemon first: when unicardd answers on its socket and holds the terminal a command
 * points at, the CLI does not fight it for the port.
 */
import { existsSync } from 'node:fs';
import { UnicardClient } from '../client/unicard-client.js';
import type { TerminalView } from '../api/api-types.js';
import { CliError, daemonSocket, ExitCode, type CliIo, type LinkTarget } from './cli-common.js';

/** The daemon's terminals, or undefined when no daemon answers (or no token to ask with). */
export async function daemonTerminals(values: { socket?: string | undefined; token?: string | undefined }, io: CliIo): Promise<{ socket: string; terminals: TerminalView[] } | { socket: string; error: string } | undefined> {
  const socket = daemonSocket(values, io.env);
  if (!existsSync(socket)) return undefined;
  const token = values.token ?? io.env.UNICARD_TOKEN;
  if (token === undefined) return { socket, error: 'a daemon socket exists but no token was given (--token or UNICARD_TOKEN)' };
  let client: UnicardClient | undefined;
  try {
    client = await UnicardClient.connect(socket, { token, name: 'unicard-cli', connectTimeoutMs: 2000, timeoutMs: 5000 });
    return { socket, terminals: await client.listTerminals() };
  } catch (e) {
    return { socket, error: e instanceof Error ? e.message : String(e) };
  } finally {
    await client?.close().catch(() => undefined);
  }
}

/** A daemon terminal on the same port or address as `target`, if any. */
export function heldBy(terminals: readonly TerminalView[], target: LinkTarget): TerminalView | undefined {
  return terminals.find((t) => JSON.stringify(t).includes(`"${target.path}"`));
}

/**
 * Refuses with a clear message when the daemon holds the terminal at `target`: the command
 * needs the port itself (`info` says where to get the same facts from the daemon).
 */
export async function refuseIfDaemonHolds(values: { socket?: string | undefined; token?: string | undefined }, io: CliIo, target: LinkTarget, command: string): Promise<void> {
  const d = await daemonTerminals(values, io);
  if (d === undefined || !('terminals' in d)) return;
  const t = heldBy(d.terminals, target);
  if (t === undefined) return;
  throw new CliError(
    ExitCode.UNREACHABLE,
    `unicardd (${d.socket}) holds the terminal on ${target.path}; "unicard ${command}" needs the port itself`,
    command === 'info' ? `"unicard devices" shows what the daemon knows about it; or stop unicardd (systemctl stop unicardd) and try again` : 'stop unicardd (systemctl stop unicardd) for the duration, or use another port',
  );
}
