/**
 * unicard-sim on TCP (`--tcp 0`, ser2net-style): the banner on connect, a trusted session,
 * card authentication, one host at a time, a faulty line the session rides out, keepalive
 * during a stall seen as a dead link, vanish (connection reset, then refused) and return.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpLink } from '../../link/tcp-link.js';
import { makeTestWorld, type TestWorld } from '../../firmware-sim/terminal/test-world.js';
import type { TerminalSession, TerminalSessionOptions } from '../../daemon/session/index.js';
import { openSession, startSim, type SimHandle } from './sim-harness.js';

const nonce = (): Uint8Array => new Uint8Array(randomBytes(32));

let world: TestWorld;
let sim: SimHandle;
let session: TerminalSession | undefined;

beforeAll(async () => {
  world = await makeTestWorld();
  sim = await startSim({ world, link: 'tcp', args: ['--card', 'CAI-000001', '--seed', '7'] });
});
afterAll(async () => {
  await session?.close();
  expect(await sim.stop()).toBe(0);
  await world.cleanup();
});

/**
 * A new session after the previous one was closed: the simulator refuses a second host until
 * it has seen the first one's connection end, so a refused attempt is tried again.
 */
async function reconnect(options: Partial<TerminalSessionOptions> = {}): Promise<TerminalSession> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await openSession(sim, world, options);
    } catch (e) {
      if (attempt >= 20 || (e as { code?: string }).code !== 'TERMINAL_GONE') throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Resolves when a TCP connection to `address` is refused. */
function refused(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const s = net.connect(Number(port), host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

describe('unicard-sim on TCP', () => {
  it('listens where the ready line says, unpaced, and prints the banner to each host that connects', async () => {
    expect(sim.ready.link).toMatchObject({ kind: 'tcp', host: '127.0.0.1', paced: false });
    expect(sim.ready.link.port).toBeGreaterThan(0);
    session = await openSession(sim, world);
    expect(session.banner).toMatchObject({ vendor: 'SimVendor', serial: 'SIM0001', firmware: '1.0.0', protocol: 1 });
    expect(session.isSealed).toBe(true);
  });

  it('authenticates the card it started with', async () => {
    const r = await session!.request({
      type: 'CardAuthenticate',
      nonce: nonce(),
      service: 'health',
      quantity: 1,
      shopId: 'CLINIC-CAI-9',
      terminalId: 'SIM0001',
      time: Math.floor(Date.now() / 1000),
    });
    expect(r.counter).toBe(1);
  });

  it('refuses a second host while one is connected (ser2net default)', async () => {
    const second = await TcpLink.connect(sim.tcpAddress!);
    const ended = await new Promise<unknown>((resolve) => second.onClose(resolve));
    expect(ended).toMatchObject({ code: expect.stringMatching(/^LINK_/) });
    expect((await session!.request({ type: 'Status' })).state).toBe('ready');
  });

  it('rides out dropped and corrupted bytes with retries of the same id: one signature per request', async () => {
    // A session of its own that keeps going when one request gives up.
    await session?.close();
    const s = await reconnect({ closeWhenUnresponsive: false, maxRetries: 8, deadAfterMs: 4000 });
    session = s;
    const counter = async (): Promise<number> =>
      ((await sim.control({ cmd: 'status' })) as unknown as { status: { card: { counter: number } } }).status.card.counter;
    const before = await counter();
    expect(await sim.control({ cmd: 'drop', rate: 0.002 })).toMatchObject({ ok: true });
    expect(await sim.control({ cmd: 'corrupt', rate: 0.001 })).toMatchObject({ ok: true });
    const n = 20;
    const counters: number[] = [];
    for (let i = 0; i < n; i++) {
      try {
        const r = await s.request({ type: 'CardAuthenticate', nonce: nonce(), service: 'bread', quantity: i + 1, shopId: 'B-1', terminalId: 'SIM0001', time: 1_790_000_000 });
        counters.push(r.counter);
      } catch (e) {
        // A request may still give up on a bad line; it then fails with a typed error.
        expect(e).toHaveProperty('code');
      }
    }
    await sim.control({ cmd: 'clear' });
    const st = (await sim.control({ cmd: 'status' })) as unknown as { status: { counters: { retriesAnswered: number; rxBadFrames: number } } };
    const executed = (await counter()) - before;
    expect(counters.length).toBeGreaterThanOrEqual(n - 3);
    expect(s.counters().retries).toBeGreaterThan(0);
    expect(st.status.counters.rxBadFrames).toBeGreaterThan(0);
    expect(st.status.counters.retriesAnswered).toBeGreaterThan(0);
    // Each answered request carries its own counter value, and the card signed at most once per request.
    expect(new Set(counters).size).toBe(counters.length);
    expect([...counters].sort((a, b) => a - b)).toEqual(counters);
    expect(executed).toBeLessThanOrEqual(n);
    expect(executed).toBeGreaterThanOrEqual(counters.length);
    // Back to a session with the daemon's defaults for the next tests.
    await s.close();
    session = await reconnect();
  });

  it('goes silent during a stall: the host declares the link dead within a second', async () => {
    const s = session!;
    expect(await sim.control({ cmd: 'stall', ms: 3000 })).toMatchObject({ ok: true });
    await expect(s.request({ type: 'Status' })).rejects.toMatchObject({ code: 'TERMINAL_UNRESPONSIVE' });
    await sim.control({ cmd: 'stall', ms: 0 });
    session = await reconnect();
  });

  it('vanishes (the connection drops, new ones are refused) and returns on the same port', async () => {
    const s = session!;
    const closed = new Promise<unknown>((resolve) => s.onClose(resolve));
    expect(await sim.control({ cmd: 'vanish' })).toMatchObject({ ok: true });
    expect(await closed).toMatchObject({ code: 'TERMINAL_GONE' });
    expect(await refused(sim.tcpAddress!)).toBe(true);
    expect(await sim.control({ cmd: 'return' })).toMatchObject({ ok: true });
    session = await reconnect();
    expect(session.banner?.serial).toBe('SIM0001');
    expect((await session.request({ type: 'Status' })).cardPresent).toBe(true);
  });
});
