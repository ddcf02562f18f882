/**
 * The simulator's control interface: a Unix socket, one JSON object per line in, one JSON
 * object per line out (`{"ok":true,...}` or `{"ok":false,"error":{"code","message"}}`).
 * Tests, the demo and a technician's bench use it; with socat a shell can too:
 *
 *   echo '{"cmd":"insert","card":"PSD-000001"}' | socat - UNIX-CONNECT:/tmp/sim.ctl
 *
 * A line that is not JSON is read as words, `insert PSD-000001` or `finger 1` or
 * `quirk bad_crc off`, for typing by hand (see {@link parseControlWords}).
 */
import { lstat, unlink, chmod } from 'node:fs/promises';
import net from 'node:net';
import { UnicardError } from '../../protocol/errors.js';

/** Longest control line accepted. */
export const MAX_CONTROL_LINE = 64 * 1024;

/** Handles one parsed command and returns the reply object. Must not throw. */
export type ControlHandler = (command: unknown) => Promise<object>;

/** Control socket errors. */
export class ControlSocketError extends UnicardError {
  declare readonly code: 'CONTROL_SOCKET_BUSY' | 'CONTROL_SOCKET_FAILED';
  constructor(code: 'CONTROL_SOCKET_BUSY' | 'CONTROL_SOCKET_FAILED', message: string) {
    super(code, message);
  }
}

/** Positional argument names of the word form, per command. */
const POSITIONAL: Readonly<Record<string, readonly string[]>> = {
  insert: ['card'],
  finger: ['finger', 'count'],
  drop: ['rate', 'direction'],
  corrupt: ['rate', 'direction'],
  stall: ['ms'],
  vanish: ['ms'],
  quirk: ['name', 'enabled'],
  latency: ['ms'],
  seed: ['seed'],
};

/** `finger 1` → `{cmd: "finger", finger: "1"}`; numbers stay strings, the command checks them. */
export function parseControlWords(line: string): Record<string, unknown> {
  const words = line.trim().split(/\s+/).filter((w) => w !== '');
  const [cmd, ...args] = words;
  const out: Record<string, unknown> = { cmd: cmd ?? '' };
  const names = POSITIONAL[cmd ?? ''] ?? [];
  args.forEach((a, i) => {
    const name = names[i];
    if (name !== undefined) out[name] = a;
  });
  return out;
}

/** Parses one control line: a JSON object, or words. */
export function parseControlLine(line: string): unknown {
  const t = line.trim();
  if (t.startsWith('{')) return JSON.parse(t) as unknown;
  return parseControlWords(t);
}

/** A listening control socket. */
export class ControlServer {
  private readonly sockets = new Set<net.Socket>();
  private closing: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    private readonly server: net.Server,
  ) {}

  /**
   * Listens at `path` (mode 0600). A stale socket file from a killed simulator is replaced;
   * a live one (another simulator answers) is CONTROL_SOCKET_BUSY; a non-socket file is refused.
   */
  static async listen(path: string, handler: ControlHandler): Promise<ControlServer> {
    await clearStaleSocket(path);
    const server = net.createServer((socket) => ctl.serve(socket, handler));
    const ctl = new ControlServer(path, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new ControlSocketError('CONTROL_SOCKET_FAILED', `cannot listen on ${path}: ${e.message}`)));
      server.listen(path, () => resolve());
    });
    server.on('error', () => {});
    await chmod(path, 0o600).catch(() => {});
    return ctl;
  }

  private serve(socket: net.Socket, handler: ControlHandler): void {
    this.sockets.add(socket);
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
    let buffer = '';
    // One command at a time per connection, so replies come back in order.
    let queue: Promise<void> = Promise.resolve();
    socket.on('data', (text: string) => {
      buffer += text;
      if (buffer.length > MAX_CONTROL_LINE && !buffer.includes('\n')) {
        socket.end(`${JSON.stringify({ ok: false, error: { code: 'CONTROL_BAD_COMMAND', message: `line longer than ${MAX_CONTROL_LINE} bytes` } })}\n`);
        buffer = '';
        return;
      }
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.trim() === '') continue;
        queue = queue.then(async () => {
          let reply: object;
          try {
            reply = await handler(parseControlLine(line));
          } catch (e) {
            const message = e instanceof SyntaxError ? `not JSON: ${e.message}` : e instanceof Error ? e.message : String(e);
            reply = { ok: false, error: { code: 'CONTROL_BAD_COMMAND', message } };
          }
          if (!socket.destroyed) socket.write(`${JSON.stringify(reply, replacer)}\n`);
        });
      }
    });
  }

  /** Stops listening, ends every client, removes the socket file. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      for (const s of this.sockets) s.destroy();
      await stopped;
      await unlink(this.path).catch(() => {});
    })();
    return this.closing;
  }
}

/** JSON for replies: byte arrays as hex, bigints as numbers. */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (typeof value === 'bigint') return Number(value);
  return value;
}

async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ControlSocketError('CONTROL_SOCKET_BUSY', `${path} exists and is not a socket; refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new ControlSocketError('CONTROL_SOCKET_BUSY', `another simulator is listening on ${path}`);
  await unlink(path).catch(() => {});
}
