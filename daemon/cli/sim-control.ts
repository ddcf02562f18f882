/** The simulator's control socket (JSON lines), for the conformance suite and `unicard test`. */
import net from 'node:net';

/** Sends one control command over a fresh connection; resolves with the reply object. */
export function controlCommand(path: string, command: Record<string, unknown>, timeoutMs = 10_000): Promise<Record<string, unknown> & { ok: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the control socket ${path} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (t: string) => {
      buffer += t;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      socket.destroy();
      try {
        resolve(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown> & { ok: boolean });
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the simulator's control socket ${path}: ${e.message}`));
    });
    socket.write(`${JSON.stringify(command)}\n`);
  });
}
