import { stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from './api-errors.js';
import { ApiServerError } from './api-errors.js';
import { ApiServer } from './api-server.js';
import { helloClient, RawClient, startTestServer, TEST_TOKENS, type Received, type TestServer } from './api-test-kit.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(overrides: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const t = await startTestServer(overrides);
  cleanups.push(() => t.stop());
  return t;
}

async function client(t: TestServer, token: string = TEST_TOKENS.shop, name?: string): Promise<RawClient> {
  const c = await helloClient(t.socketPath, token, name);
  cleanups.push(() => c.close());
  return c;
}

async function raw(t: TestServer): Promise<RawClient> {
  const c = await RawClient.connect(t.socketPath);
  cleanups.push(() => c.close());
  return c;
}

function errorCode(r: Received): string | undefined {
  return r.error?.data.code;
}

/** Waits (event-loop turns, no deadline of its own) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
}

/** A socket file nobody listens on: a process listens on it and is killed with SIGKILL. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(process.argv[1], () => console.log('up'))", path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** A promise the test resolves by hand. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

describe('authentication', () => {
  it('answers every call before hello with UNAUTHENTICATED, and nothing else', async () => {
    const t = await setup();
    t.manager.add('T1');
    const c = await raw(t);
    const r = await c.call('terminals.list');
    expect(r.result).toBeUndefined();
    expect(r.error?.code).toBe(-32001);
    expect(errorCode(r)).toBe('UNAUTHENTICATED');
    expect(r.error?.data.ar).toMatch(/[\u0600-\u06FF]/);
    // Not even the method table leaks before hello.
    expect(errorCode(await c.call('no.such.method'))).toBe('UNAUTHENTICATED');
  });

  it('refuses an unknown token, and closes the connection after three failures', async () => {
    const t = await setup();
    const c = await raw(t);
    const r1 = await c.call('hello', { token: 'wrong' });
    expect(r1.error?.code).toBe(-32002);
    expect(errorCode(r1)).toBe('BAD_TOKEN');
    expect(r1.error?.data.en).toBe('Unknown token.');
    expect(r1.error?.data.ar).toBe('رمز الدخول غير معروف.');
    expect(errorCode(await c.call('hello', { token: 'still wrong' }))).toBe('BAD_TOKEN');
    expect(errorCode(await c.call('hello', { token: 'wrong again' }))).toBe('BAD_TOKEN');
    await c.whenClosed();
    expect(c.closed).toBe(true);
    // The token never reaches the logs.
    expect(t.logs.text).not.toContain('still wrong');
  });

  it('counts garbage before hello as failures too', async () => {
    const t = await setup({ maxAuthFailures: 2 });
    const c = await raw(t);
    c.write('nonsense\n');
    expect(errorCode((await c.next())!)).toBe('PARSE_ERROR');
    c.write('{"jsonrpc":"2.0","id":1,"method":"status"}\n');
    expect(errorCode((await c.next())!)).toBe('UNAUTHENTICATED');
    await c.whenClosed();
  });

  it('accepts a good token: hello tells who you are, the methods and the events', async () => {
    const t = await setup();
    const c = await raw(t);
    const r = await c.call('hello', { token: TEST_TOKENS.shop, client: 'bakery-pos 2.1' });
    expect(r.error).toBeUndefined();
    expect(r.result).toEqual({
      server: 'unicardd',
      version: '9.9.9-test',
      apiVersion: 1,
      you: { name: 'bakery-pos', role: 'shop', client: 'bakery-pos 2.1' },
      methods: ['hello', 'status', 'subscribe', 'terminals.claim', 'terminals.list', 'terminals.release', 'unsubscribe'],
      events: ['card.inserted', 'card.removed', 'terminal.connected', 'terminal.gone'],
    });
    // hello again with the same token is harmless; with another token it is refused.
    expect((await c.call('hello', { token: TEST_TOKENS.shop })).result.you.name).toBe('bakery-pos');
    expect(errorCode(await c.call('hello', { token: TEST_TOKENS.shop2 }))).toBe('ALREADY_AUTHENTICATED');
    expect(errorCode(await c.call('hello', {}))).toBe('INVALID_PARAMS');
    expect((await c.call('status')).result.server).toBe('unicardd');
    expect(t.logs.text).not.toContain(TEST_TOKENS.shop);
  });

  it('closes a connection that never says hello', async () => {
    const t = await setup({ helloTimeoutMs: 20 });
    const c = await raw(t);
    await c.whenClosed();
    expect(c.closed).toBe(true);
  });

  it('answers a pipelined hello + call in order, the call after hello took effect', async () => {
    const t = await setup();
    t.manager.add('T1');
    const c = await raw(t);
    c.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 'h', method: 'hello', params: { token: TEST_TOKENS.shop } })}\n` +
        `${JSON.stringify({ jsonrpc: '2.0', id: 'l', method: 'terminals.list' })}\n`,
    );
    const a = await c.next();
    const b = await c.next();
    expect(a?.id).toBe('h');
    expect(b?.id).toBe('l');
    expect(b?.result.terminals).toHaveLength(1);
  });
});

describe('methods', () => {
  it('status: version, uptime, terminals by state, clients', async () => {
    let now = 1_000_000;
    const t = await setup({ now: () => now });
    t.manager.add('T1');
    t.manager.add('T2', { state: 'untrusted' });
    t.manager.add('T3', { state: 'gone' });
    const c = await client(t);
    await raw(t); // connected, not authenticated
    now += 1234;
    const r = await c.call('status');
    expect(r.result).toEqual({
      server: 'unicardd',
      version: '9.9.9-test',
      apiVersion: 1,
      startedAt: new Date(1_000_000).toISOString(),
      uptimeMs: 1234,
      terminals: { total: 3, probing: 0, ready: 1, untrusted: 1, gone: 1, error: 0 },
      clients: { connected: 2, authenticated: 1 },
      claims: 0,
    });
    expect(errorCode(await c.call('status', { extra: 1 }))).toBe('INVALID_PARAMS');
  });

  it('terminals.list: every terminal with its claim as this connection sees it', async () => {
    const t = await setup();
    t.manager.add('T1', { reason: undefined });
    t.manager.add('T2', { state: 'untrusted', trust: undefined, reason: { code: 'CERT_UNKNOWN_ISSUER', en: 'unknown vendor', ar: 'مصنع غير معروف' } });
    const a = await client(t, TEST_TOKENS.shop, 'till-1');
    const b = await client(t, TEST_TOKENS.shop2);
    expect((await a.call('terminals.claim', { terminalId: 'T1' })).error).toBeUndefined();
    const la = (await a.call('terminals.list')).result.terminals;
    const lb = (await b.call('terminals.list')).result.terminals;
    expect(la[0]).toMatchObject({ id: 'T1', state: 'ready', link: 'serial', vendor: 'Acme', claim: { name: 'bakery-pos', client: 'till-1', mine: true } });
    expect(lb[0].claim).toMatchObject({ name: 'bakery-pos', client: 'till-1', mine: false });
    expect(la[1]).toMatchObject({ id: 'T2', state: 'untrusted', claim: null, reason: { code: 'CERT_UNKNOWN_ISSUER' } });
  });

  it('terminals.claim and release: states, repeats, unknown ids', async () => {
    const t = await setup();
    t.manager.add('T1');
    t.manager.add('T2', { state: 'untrusted', reason: { code: 'CERT_UNKNOWN_ISSUER', en: 'unknown vendor', ar: 'مصنع غير معروف' } });
    t.manager.add('T3', { state: 'gone' });
    t.manager.add('T4', { state: 'probing' });
    const c = await client(t);
    const first = await c.call('terminals.claim', { terminalId: 'T1' });
    expect(first.result).toMatchObject({ terminalId: 'T1', alreadyHeld: false, waitedMs: 0, terminal: { id: 'T1', claim: { mine: true } } });
    expect((await c.call('terminals.claim', { terminalId: 'T1' })).result.alreadyHeld).toBe(true);

    const untrusted = await c.call('terminals.claim', { terminalId: 'T2' });
    expect(untrusted.error?.code).toBe(1006);
    expect(untrusted.error?.data).toMatchObject({ code: 'TERMINAL_UNTRUSTED', terminalId: 'T2', state: 'untrusted' });
    expect(untrusted.error?.data.ar).toContain('مصنع غير معروف');
    expect(errorCode(await c.call('terminals.claim', { terminalId: 'T3' }))).toBe('TERMINAL_GONE');
    expect(errorCode(await c.call('terminals.claim', { terminalId: 'T4' }))).toBe('TERMINAL_NOT_READY');
    const unknown = await c.call('terminals.claim', { terminalId: 'T9' });
    expect(unknown.error?.data).toMatchObject({ code: 'UNKNOWN_TERMINAL', terminalId: 'T9' });

    expect((await c.call('terminals.release', { terminalId: 'T1' })).result).toEqual({ terminalId: 'T1', released: true });
    expect((await c.call('terminals.release', { terminalId: 'T1' })).result).toEqual({ terminalId: 'T1', released: false });
    expect(errorCode(await c.call('terminals.release', { terminalId: 'T9' }))).toBe('UNKNOWN_TERMINAL');
    expect((await c.call('status')).result.claims).toBe(0);
  });

  it('terminals.release of a terminal someone else holds: NOT_CLAIMED naming the holder', async () => {
    const t = await setup();
    t.manager.add('T1');
    const a = await client(t, TEST_TOKENS.shop);
    const b = await client(t, TEST_TOKENS.shop2);
    await a.call('terminals.claim', { terminalId: 'T1' });
    const r = await b.call('terminals.release', { terminalId: 'T1' });
    expect(r.error?.data).toMatchObject({ code: 'NOT_CLAIMED', holder: { name: 'bakery-pos' } });
    expect((await a.call('terminals.list')).result.terminals[0].claim.mine).toBe(true);
  });
});

describe('claim contention', () => {
  it('TERMINAL_BUSY at once without waitMs, naming who holds it', async () => {
    const t = await setup();
    t.manager.add('T1');
    const a = await client(t, TEST_TOKENS.shop, 'till-1');
    const b = await client(t, TEST_TOKENS.shop2);
    await a.call('terminals.claim', { terminalId: 'T1' });
    const r = await b.call('terminals.claim', { terminalId: 'T1' });
    expect(r.error?.code).toBe(1002);
    expect(r.error?.data).toMatchObject({ code: 'TERMINAL_BUSY', terminalId: 'T1', holder: { name: 'bakery-pos', client: 'till-1' } });
    expect(r.error?.data.en).toBe('Terminal T1 is in use by bakery-pos (till-1).');
    expect(r.error?.data.ar).toBe('القارئ T1 مشغول ببرنامج آخر: bakery-pos (till-1).');
  });

  it('a waiting claim gets the terminal when the holder releases it; waiters are served first come first served', async () => {
    const t = await setup();
    t.manager.add('T1');
    const a = await client(t, TEST_TOKENS.shop);
    const b = await client(t, TEST_TOKENS.shop2);
    const c = await client(t, TEST_TOKENS.tech);
    await a.call('terminals.claim', { terminalId: 'T1' });
    const bId = b.send('terminals.claim', { terminalId: 'T1', waitMs: 20_000 });
    await until(() => t.server.claims.waiting('T1').length === 1);
    const cId = c.send('terminals.claim', { terminalId: 'T1', waitMs: 20_000 });
    await until(() => t.server.claims.waiting('T1').length === 2);
    expect(t.server.claims.waiting('T1').map((w) => w.name)).toEqual(['grocer-pos', 'technician']);
    expect((await a.call('terminals.release', { terminalId: 'T1' })).result.released).toBe(true);
    const rb = await b.response();
    expect(rb.id).toBe(bId);
    expect(rb.result).toMatchObject({ terminalId: 'T1', alreadyHeld: false, terminal: { claim: { name: 'grocer-pos', mine: true } } });
    expect(rb.result.waitedMs).toBeGreaterThanOrEqual(0);
    // b disconnects: its claim goes to c, the next in line.
    await b.close();
    const rc = await c.response();
    expect(rc.id).toBe(cId);
    expect(rc.result.terminal.claim).toMatchObject({ name: 'technician', mine: true });
  });

  it('a wait that runs out ends in TERMINAL_BUSY naming the holder', async () => {
    const t = await setup();
    t.manager.add('T1');
    const a = await client(t, TEST_TOKENS.shop);
    const b = await client(t, TEST_TOKENS.shop2);
    await a.call('terminals.claim', { terminalId: 'T1' });
    const r = await b.call('terminals.claim', { terminalId: 'T1', waitMs: 30 });
    expect(r.error?.data).toMatchObject({ code: 'TERMINAL_BUSY', holder: { name: 'bakery-pos' } });
    expect(typeof r.error?.data.waitedMs).toBe('number');
    // The timed-out waiter is out of the line: a's release leaves the terminal free.
    await a.call('terminals.release', { terminalId: 'T1' });
    expect((await a.call('status')).result.claims).toBe(0);
  });

  it('claims are released when the connection drops', async () => {
    const t = await setup();
    t.manager.add('T1');
    t.manager.add('T2');
    const a = await client(t, TEST_TOKENS.shop);
    const b = await client(t, TEST_TOKENS.shop2);
    await a.call('terminals.claim', { terminalId: 'T1' });
    await a.call('terminals.claim', { terminalId: 'T2' });
    a.socket.destroy(); // an abrupt drop, not a polite close
    const r1 = await b.call('terminals.claim', { terminalId: 'T1', waitMs: 20_000 });
    expect(r1.result.terminal.claim.mine).toBe(true);
    const r2 = await b.call('terminals.claim', { terminalId: 'T2', waitMs: 20_000 });
    expect(r2.result.alreadyHeld).toBe(false);
  });

  it('a waiting claim of a client that died is passed over: the next in line gets the terminal', async () => {
    const t = await setup();
    t.manager.add('T1');
    const a = await client(t, TEST_TOKENS.shop);
    const b = await client(t, TEST_TOKENS.shop2);
    const c = await client(t, TEST_TOKENS.tech);
    await a.call('terminals.claim', { terminalId: 'T1' });
    b.send('terminals.claim', { terminalId: 'T1', waitMs: 20_000 });
    await until(() => t.server.claims.waiting('T1').length === 1);
    const cId = c.send('terminals.claim', { terminalId: 'T1', waitMs: 20_000 });
    await until(() => t.server.claims.waiting('T1').length === 2);
    // The daemon sees only EOF (a dead client and a half-closed one look alike): b's turn
    // comes, its reply cannot be delivered, its connection closes and c is served.
    b.socket.destroy();
    await a.call('terminals.release', { terminalId: 'T1' });
    const rc = await c.response();
    expect(rc.id).toBe(cId);
    expect(rc.result.terminal.claim.name).toBe('technician');
  });
});

describe('a claimed terminal that goes away', () => {
  it('keeps the claim; calls that need the terminal fail with TERMINAL_GONE until it returns', async () => {
    const t = await setup();
    t.manager.add('T1');
    t.server.methods.register({
      name: 'test.use',
      params: (r) => ({ terminalId: r.string('terminalId') }),
      handler: ({ terminalId }, ctx) => ({ session: (ctx.requireClaim(terminalId).session as unknown as { stand_in_for: string }).stand_in_for }),
    });
    const a = await client(t, TEST_TOKENS.shop);
    const b = await client(t, TEST_TOKENS.shop2);
    expect(errorCode(await a.call('test.use', { terminalId: 'T1' }))).toBe('NOT_CLAIMED');
    await a.call('terminals.claim', { terminalId: 'T1' });
    expect((await a.call('test.use', { terminalId: 'T1' })).result).toEqual({ session: 'T1' });
    const other = await b.call('test.use', { terminalId: 'T1' });
    expect(other.error?.data).toMatchObject({ code: 'NOT_CLAIMED', holder: { name: 'bakery-pos' } });

    t.manager.setState('T1', 'gone', { code: 'LINK_CLOSED', en: 'unplugged', ar: 'تم فصل القارئ' });
    const gone = await a.call('test.use', { terminalId: 'T1' });
    expect(gone.error?.code).toBe(1004);
    expect(gone.error?.data).toMatchObject({ code: 'TERMINAL_GONE', terminalId: 'T1', state: 'gone' });
    expect((await a.call('terminals.list')).result.terminals[0]).toMatchObject({ state: 'gone', claim: { mine: true } });
    expect((await a.call('terminals.claim', { terminalId: 'T1' })).result.alreadyHeld).toBe(true);
    expect(errorCode(await b.call('terminals.claim', { terminalId: 'T1' }))).toBe('TERMINAL_GONE');

    t.manager.setState('T1', 'ready');
    expect((await a.call('test.use', { terminalId: 'T1' })).result).toEqual({ session: 'T1' });
  });
});

describe('events', () => {
  it('go to subscribers only, for the events they chose', async () => {
    const t = await setup({ now: () => 42 });
    const s = await client(t, TEST_TOKENS.shop);
    const n = await client(t, TEST_TOKENS.shop2);
    expect((await s.call('subscribe', { events: ['terminal.connected', 'terminal.gone', 'card.inserted', 'card.removed'] })).result).toEqual({
      events: ['card.inserted', 'card.removed', 'terminal.connected', 'terminal.gone'],
    });
    t.manager.add('T1');
    t.manager.insertCard('T1', 'card-1');
    t.manager.removeCard('T1', 'card-1');
    t.manager.setState('T1', 'gone', { code: 'LINK_CLOSED', en: 'unplugged', ar: 'تم فصل القارئ' });

    expect(await s.next()).toMatchObject({ jsonrpc: '2.0', method: 'terminal.connected', params: { terminal: { id: 'T1', state: 'ready', claim: null }, at: 42 } });
    expect(await s.next()).toEqual({ jsonrpc: '2.0', method: 'card.inserted', params: { terminalId: 'T1', cardId: 'card-1', at: 42 } });
    expect(await s.next()).toEqual({ jsonrpc: '2.0', method: 'card.removed', params: { terminalId: 'T1', cardId: 'card-1', at: 42 } });
    const gone = await s.next();
    expect(gone).toMatchObject({ method: 'terminal.gone', params: { terminal: { id: 'T1', state: 'gone' }, reason: 'LINK_CLOSED' } });
    expect(gone).not.toHaveProperty('id');
    // The events were written before n's next reply would be: nothing came before it.
    const r = await n.call('status');
    expect(r.skipped).toEqual([]);

    // Unsubscribing one event stops that one only; unsubscribe without events stops all.
    expect((await s.call('unsubscribe', { events: ['card.inserted'] })).result.events).toEqual(['card.removed', 'terminal.connected', 'terminal.gone']);
    t.manager.insertCard('T1', 'card-2');
    t.manager.removeCard('T1', 'card-2');
    expect(await s.next()).toMatchObject({ method: 'card.removed', params: { cardId: 'card-2' } });
    expect((await s.call('unsubscribe')).result.events).toEqual([]);
    t.manager.insertCard('T1', 'card-3');
    expect((await s.call('status')).skipped).toEqual([]);
  });

  it('refuses unknown event names, naming the element', async () => {
    const t = await setup();
    const c = await client(t);
    const r = await c.call('subscribe', { events: ['card.inserted', 'card.eaten'] });
    expect(r.error?.code).toBe(-32602);
    expect(r.error?.data).toMatchObject({ code: 'INVALID_PARAMS', field: 'events[1]' });
    expect(errorCode(await c.call('subscribe', { events: 'card.inserted' }))).toBe('INVALID_PARAMS');
    expect(errorCode(await c.call('subscribe', {}))).toBe('INVALID_PARAMS');
    expect((await c.call('subscribe', { events: [] })).result.events).toEqual([]);
  });

  it('publishes events registered by later services', async () => {
    const t = await setup();
    t.server.registerEvent('authorization.progress');
    expect(() => t.server.registerEvent('Bad Name')).toThrow();
    const c = await client(t);
    await c.call('subscribe', { events: ['authorization.progress'] });
    t.server.publish('authorization.progress', { step: 'waiting-for-card' });
    expect(await c.next()).toEqual({ jsonrpc: '2.0', method: 'authorization.progress', params: { step: 'waiting-for-card' } });
  });

  it('a subscriber that does not read loses events, then learns how many (events.dropped)', async () => {
    const t = await setup({ maxOutputBytes: 16 * 1024 });
    t.manager.add('T1');
    const c = await client(t);
    await c.call('subscribe', { events: ['card.inserted'] });
    c.socket.pause();
    const total = 20_000;
    for (let i = 0; i < total; i++) t.manager.insertCard('T1', `card-${String(i).padStart(120, '0')}`);
    c.socket.resume();
    let received = 0;
    let dropped = 0;
    c.send('status');
    for (;;) {
      const m = await c.next();
      if (m === undefined) throw new Error('closed');
      if (m.method === 'card.inserted') received++;
      else if (m.method === 'events.dropped') dropped += m.params.count as number;
      else break;
    }
    expect(received + dropped).toBe(total);
    expect(dropped).toBeGreaterThan(0);
  });
});

describe('bad input', () => {
  it('malformed JSON: -32700 with id null, and the connection goes on', async () => {
    const t = await setup();
    const c = await client(t);
    c.write('{"jsonrpc":"2.0","id":1,"method":\n');
    const r = await c.next();
    expect(r).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700, data: { code: 'PARSE_ERROR' } } });
    c.write(Buffer.from([0xff, 0xfe, 0x7b, 0x7d, 0x0a])); // not UTF-8
    expect(errorCode((await c.next())!)).toBe('PARSE_ERROR');
    c.write('\n   \r\n'); // blank lines are ignored
    expect((await c.call('status')).result.server).toBe('unicardd');
  });

  it('invalid requests: -32600, with the id when it can be read', async () => {
    const t = await setup();
    const c = await client(t);
    const cases: Array<[string, string | number | null, string]> = [
      ['{"id":5,"method":"status"}', 5, 'INVALID_REQUEST'],
      ['{"jsonrpc":"1.0","id":"x","method":"status"}', 'x', 'INVALID_REQUEST'],
      ['{"jsonrpc":"2.0","id":6,"method":7}', 6, 'INVALID_REQUEST'],
      ['{"jsonrpc":"2.0","id":{"a":1},"method":"status"}', null, 'INVALID_REQUEST'],
      ['{"jsonrpc":"2.0","id":8,"method":"status","param":{}}', 8, 'INVALID_REQUEST'],
      ['[{"jsonrpc":"2.0","id":9,"method":"status"}]', null, 'INVALID_REQUEST'],
      ['"just a string"', null, 'INVALID_REQUEST'],
      ['{"jsonrpc":"2.0","id":10,"method":"status","params":[1]}', 10, 'INVALID_PARAMS'],
    ];
    for (const [line, id, code] of cases) {
      c.write(line + '\n');
      const r = await c.next();
      expect(r?.id, line).toEqual(id);
      expect(errorCode(r!), line).toBe(code);
      expect(r?.error?.code, line).toBe(code === 'INVALID_PARAMS' ? -32602 : -32600);
    }
  });

  it('unknown method: -32601 naming it', async () => {
    const t = await setup();
    const c = await client(t);
    const r = await c.call('terminals.eat', { terminalId: 'T1' });
    expect(r.error?.code).toBe(-32601);
    expect(r.error?.data).toMatchObject({ code: 'METHOD_NOT_FOUND', method: 'terminals.eat' });
    expect(r.error?.message).toBe('Unknown method "terminals.eat".');
    expect(errorCode(await c.call('rpc.discover'))).toBe('METHOD_NOT_FOUND');
  });

  it('wrong params: -32602 naming the field', async () => {
    const t = await setup();
    t.manager.add('T1');
    const c = await client(t);
    const cases: Array<[unknown, string]> = [
      [{}, 'terminalId'],
      [{ terminalId: 7 }, 'terminalId'],
      [{ terminalId: '' }, 'terminalId'],
      [{ terminalId: 'T1', waitMs: 'soon' }, 'waitMs'],
      [{ terminalId: 'T1', waitMs: -1 }, 'waitMs'],
      [{ terminalId: 'T1', waitMs: 1.5 }, 'waitMs'],
      [{ terminalId: 'T1', waitMs: 10_000_000 }, 'waitMs'],
      [{ terminalID: 'T1' }, 'terminalId'],
      [{ terminalId: 'T1', extra: true }, 'extra'],
    ];
    for (const [params, field] of cases) {
      const r = await c.call('terminals.claim', params);
      expect(r.error?.code, JSON.stringify(params)).toBe(-32602);
      expect(r.error?.data.field, JSON.stringify(params)).toBe(field);
      expect(r.error?.data.en).toContain(field);
      expect(r.error?.data.ar).toContain(field);
    }
    const missing = await c.call('terminals.claim', {});
    expect(missing.error?.data.en).toBe('Missing parameter "terminalId".');
    expect(missing.error?.data.ar).toBe('الحقل "terminalId" مطلوب.');
  });

  it('an oversized line: one error reply, the rest of the line skipped, the connection still works', async () => {
    const t = await setup({ maxLineBytes: 1024 });
    const c = await client(t);
    // Far beyond the limit, sent in pieces, with a valid request right behind it.
    const big = '{"jsonrpc":"2.0","id":1,"method":"status","params":{"pad":"' + 'x'.repeat(300_000);
    for (let i = 0; i < big.length; i += 7_000) c.write(big.slice(i, i + 7_000));
    c.write('"}}\n{"jsonrpc":"2.0","id":2,"method":"status"}\n');
    const r = await c.next();
    expect(r).toMatchObject({ id: null, error: { code: -32600, data: { code: 'LINE_TOO_LONG', maxLineBytes: 1024 } } });
    const next = await c.next();
    expect(next?.id).toBe(2);
    expect(next?.result.server).toBe('unicardd');
    // A line of exactly the limit is accepted.
    const exact = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'status', params: {} });
    c.write(exact.replace('{}', `{"p":"${'y'.repeat(1024 - exact.length - 6)}"}`) + '\n');
    expect(errorCode((await c.next())!)).toBe('INVALID_PARAMS'); // p is unknown, but the line was read
  });

  it('a notification (no id) runs and gets no reply, even an error', async () => {
    const t = await setup();
    t.manager.add('T1');
    const c = await client(t);
    c.write('{"jsonrpc":"2.0","method":"terminals.claim","params":{"terminalId":"T1"}}\n');
    c.write('{"jsonrpc":"2.0","method":"no.such"}\n');
    const r = await c.call('terminals.list');
    expect(r.skipped).toEqual([]);
    expect(r.result.terminals[0].claim.mine).toBe(true);
  });

  it('a handler that throws an unexpected error: INTERNAL_ERROR without its text', async () => {
    const t = await setup();
    t.server.methods.register({ name: 'test.boom', params: (r) => r.done(), handler: () => { throw new Error('secret internals'); } });
    t.server.methods.register({ name: 'test.cycle', params: (r) => r.done(), handler: () => { const o: Record<string, unknown> = {}; o.self = o; return o; } });
    const c = await client(t);
    const r = await c.call('test.boom');
    expect(r.error?.code).toBe(-32603);
    expect(JSON.stringify(r)).not.toContain('secret');
    expect(errorCode(await c.call('test.cycle'))).toBe('INTERNAL_ERROR');
    expect(t.logs.text).toContain('secret internals'); // but the log has it
    expect((await c.call('status')).error).toBeUndefined();
  });

  it('roles: a method limited to a role is FORBIDDEN to others and absent from their hello', async () => {
    const t = await setup();
    t.server.methods.register({ name: 'test.flash', roles: ['technician'], params: (r) => r.done(), handler: () => 'ok' });
    const shop = await RawClient.connect(t.socketPath);
    cleanups.push(() => shop.close());
    expect((await shop.hello(TEST_TOKENS.shop)).result.methods).not.toContain('test.flash');
    const r = await shop.call('test.flash');
    expect(r.error?.data).toMatchObject({ code: 'FORBIDDEN', method: 'test.flash' });
    const tech = await RawClient.connect(t.socketPath);
    cleanups.push(() => tech.close());
    expect((await tech.hello(TEST_TOKENS.tech)).result.methods).toContain('test.flash');
    expect((await tech.call('test.flash')).result).toBe('ok');
  });

  it('a flooding client is served in order with a bounded queue, and others are served meanwhile', async () => {
    const t = await setup({ maxQueuedRequests: 4 });
    const blocker = gate();
    t.server.methods.register({ name: 'test.wait', params: (r) => r.done(), handler: () => blocker.promise.then(() => 'done') });
    const flood = await client(t, TEST_TOKENS.shop);
    const other = await client(t, TEST_TOKENS.shop2);
    let text = JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'test.wait' }) + '\n';
    for (let i = 1; i <= 3000; i++) text += JSON.stringify({ jsonrpc: '2.0', id: i, method: 'status' }) + '\n';
    flood.write(text);
    // The flood is stuck behind test.wait; another client is not.
    expect((await other.call('status')).result.clients.connected).toBe(2);
    blocker.open();
    for (let i = 0; i <= 3000; i++) {
      const r = await flood.next();
      expect(r?.id).toBe(i);
    }
  }, 60_000);

  it('a client that half-closes after writing gets every answer, the last line even without a newline', async () => {
    const t = await setup();
    t.manager.add('T1');
    const c = await raw(t);
    c.socket.end(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'hello', params: { token: TEST_TOKENS.shop } }) +
        '\n' +
        JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'terminals.list' }),
    );
    expect((await c.next())?.id).toBe(1);
    const r = await c.next();
    expect(r?.id).toBe(2);
    expect(r?.result.terminals).toHaveLength(1);
    await c.whenClosed();
  });
});

describe('concurrent methods', () => {
  it('a method marked concurrent runs while an earlier call waits; replies stay in order', async () => {
    const t = await setup();
    const blocker = gate<string>();
    t.server.methods.register({ name: 'test.wait', params: (r) => r.done(), handler: () => blocker.promise });
    t.server.methods.register({ name: 'test.cancel', concurrent: true, params: (r) => r.done(), handler: () => { blocker.open('cancelled'); return 'ok'; } });
    const c = await client(t);
    c.send('test.wait', undefined, 'w');
    c.send('test.cancel', undefined, 'c');
    expect(await c.next()).toMatchObject({ id: 'w', result: 'cancelled' });
    expect(await c.next()).toMatchObject({ id: 'c', result: 'ok' });
  });
});

describe('socket and lifecycle', () => {
  it('creates the socket with mode 0660 and removes it on stop', async () => {
    const t = await startTestServer();
    try {
      const s = await stat(t.socketPath);
      expect(s.isSocket()).toBe(true);
      expect(s.mode & 0o777).toBe(0o660);
      await t.server.stop();
      await expect(stat(t.socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
      await t.server.stop(); // twice is fine
    } finally {
      await t.stop();
    }
    expect(t.manager.listenerCount).toBe(0);
  });

  it('replaces a stale socket file, refuses a live one and a path that is not a socket', async () => {
    const t = await setup();
    const make = (socketPath: string) =>
      new ApiServer({ socketPath, tokens: new Map(), manager: t.manager, logger: t.logs.logger });
    // Live: the test server answers on it.
    await expect(make(t.socketPath).start()).rejects.toMatchObject({ code: 'SOCKET_IN_USE' });
    // A regular file is never removed.
    const file = `${t.dir}/not-a-socket`;
    await writeFile(file, 'keep me');
    const e = await make(file).start().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiServerError);
    expect(e).toMatchObject({ code: 'SOCKET_PATH_INVALID' });
    expect((await stat(file)).isFile()).toBe(true);
    // Stale: a socket file nobody listens on (left by a killed process).
    const stalePath = `${t.dir}/stale.sock`;
    await leaveStaleSocket(stalePath);
    expect((await stat(stalePath)).isSocket()).toBe(true);
    const s = make(stalePath);
    await s.start();
    const c = await RawClient.connect(stalePath);
    expect(errorCode(await c.call('status'))).toBe('UNAUTHENTICATED');
    await c.close();
    await s.stop();
    await expect(make(`${t.dir}/${'x'.repeat(120)}.sock`).start()).rejects.toMatchObject({ code: 'SOCKET_PATH_INVALID' });
    await expect(make(`${t.dir}/missing-dir/api.sock`).start()).rejects.toMatchObject({ code: 'SOCKET_LISTEN_FAILED' });
  });

  it('stop: lets a running call finish, answers the rest SHUTTING_DOWN, ends waiting claims, closes connections', async () => {
    const t = await startTestServer();
    cleanups.push(() => t.stop());
    t.manager.add('T1');
    const blocker = gate<string>();
    const started = gate();
    t.server.methods.register({
      name: 'test.slow',
      params: (r) => r.done(),
      handler: () => {
        started.open();
        return blocker.promise;
      },
    });
    const a = await client(t, TEST_TOKENS.shop);
    const b = await client(t, TEST_TOKENS.shop2);
    await a.call('terminals.claim', { terminalId: 'T1' });
    const waitId = b.send('terminals.claim', { terminalId: 'T1', waitMs: 60_000 });
    await a.call('status');
    a.send('test.slow', undefined, 'slow');
    a.send('status', undefined, 'queued');
    await started.promise;
    const stopping = t.server.stop();
    const rb = await b.next();
    expect(rb).toMatchObject({ id: waitId, error: { data: { code: 'SHUTTING_DOWN' } } });
    expect(rb?.error?.data.ar).toMatch(/[\u0600-\u06FF]/);
    // New connections are refused while stopping (the socket is gone, or closed at once).
    const late = await RawClient.connect(t.socketPath).then(
      (c) => c.whenClosed().then(() => 'closed'),
      () => 'refused',
    );
    expect(['closed', 'refused']).toContain(late);
    blocker.open('finished');
    expect(await a.next()).toMatchObject({ id: 'slow', result: 'finished' });
    expect(await a.next()).toMatchObject({ id: 'queued', error: { data: { code: 'SHUTTING_DOWN' } } });
    await stopping;
    await a.whenClosed();
    await b.whenClosed();
    await expect(stat(t.socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stop: a call still running after stopTimeoutMs is answered SHUTTING_DOWN', async () => {
    const t = await startTestServer({ stopTimeoutMs: 20 });
    cleanups.push(() => t.stop());
    const started = gate();
    t.server.methods.register({
      name: 'test.forever',
      params: (r) => r.done(),
      handler: (_p, ctx) =>
        new Promise((_resolve, reject) => {
          started.open();
          ctx.signal.addEventListener('abort', () => reject(new ApiError('SHUTTING_DOWN')));
        }),
    });
    const a = await client(t);
    a.send('test.forever', undefined, 'f');
    await started.promise;
    await t.server.stop();
    expect(await a.next()).toMatchObject({ id: 'f', error: { data: { code: 'SHUTTING_DOWN' } } });
    await a.whenClosed();
  });
});
