import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, TEST_TOKENS, type TestServer } from '../api/api-test-kit.js';
import { ApiClientError, UnicardClient } from './index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<TestServer> {
  const t = await startTestServer();
  cleanups.push(() => t.stop());
  return t;
}

async function connect(t: TestServer, token: string = TEST_TOKENS.shop, name?: string): Promise<UnicardClient> {
  const c = await UnicardClient.connect(t.socketPath, name === undefined ? { token } : { token, name });
  cleanups.push(() => c.close());
  return c;
}

async function rejection(p: Promise<unknown>): Promise<ApiClientError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ApiClientError);
  return e as ApiClientError;
}

describe('UnicardClient', () => {
  it('connects and says hello', async () => {
    const t = await setup();
    const c = await connect(t, TEST_TOKENS.shop, 'bakery-pos 2.1');
    expect(c.server).toMatchObject({ server: 'unicardd', version: '9.9.9-test', you: { name: 'bakery-pos', role: 'shop', client: 'bakery-pos 2.1' } });
    expect(c.closed).toBe(false);
  });

  it('a bad token: BAD_TOKEN with both messages', async () => {
    const t = await setup();
    const e = await rejection(UnicardClient.connect(t.socketPath, { token: 'not-a-token' }));
    expect(e.code).toBe('BAD_TOKEN');
    expect(e.rpcCode).toBe(-32002);
    expect(e.en).toBe('Unknown token.');
    expect(e.ar).toBe('رمز الدخول غير معروف.');
  });

  it('no daemon: CONNECT_FAILED', async () => {
    const t = await setup();
    const e = await rejection(UnicardClient.connect(join(t.dir, 'nobody.sock'), { token: TEST_TOKENS.shop }));
    expect(e.code).toBe('CONNECT_FAILED');
    expect(e.data).toMatchObject({ reason: 'ENOENT' });
    expect(e.ar).toMatch(/[\u0600-\u06FF]/);
  });

  it('status, terminals, claim and release', async () => {
    const t = await setup();
    t.manager.add('T1');
    t.manager.add('T2', { state: 'untrusted' });
    const c = await connect(t);
    const s = await c.status();
    expect(s.terminals).toMatchObject({ total: 2, ready: 1, untrusted: 1 });
    expect(s.clients.authenticated).toBe(1);
    const list = await c.listTerminals();
    expect(list.map((x) => [x.id, x.state, x.claim])).toEqual([
      ['T1', 'ready', null],
      ['T2', 'untrusted', null],
    ]);
    const claim = await c.claim('T1');
    expect(claim).toMatchObject({ terminalId: 'T1', alreadyHeld: false, terminal: { claim: { mine: true } } });
    const e = await rejection(c.claim('T2'));
    expect(e.code).toBe('TERMINAL_UNTRUSTED');
    expect(e.data.terminalId).toBe('T2');
    expect(await c.release('T1')).toEqual({ terminalId: 'T1', released: true });
  });

  it('claim contention: the second client waits and gets the terminal on release, or times out with TERMINAL_BUSY', async () => {
    const t = await setup();
    t.manager.add('T1');
    const a = await connect(t, TEST_TOKENS.shop, 'till-1');
    const b = await connect(t, TEST_TOKENS.shop2);
    await a.claim('T1');
    const busy = await rejection(b.claim('T1', { waitMs: 20 }));
    expect(busy.code).toBe('TERMINAL_BUSY');
    expect(busy.data.holder).toEqual({ name: 'bakery-pos', client: 'till-1' });
    expect(busy.ar).toContain('مشغول');

    const waiting = b.claim('T1', { waitMs: 20_000 });
    while (t.server.claims.waiting('T1').length === 0) await new Promise((r) => setTimeout(r, 1));
    await a.release('T1');
    expect((await waiting).terminal.claim).toMatchObject({ name: 'grocer-pos', mine: true });
  });

  it('closing a client releases its claims', async () => {
    const t = await setup();
    t.manager.add('T1');
    const a = await connect(t);
    const b = await connect(t, TEST_TOKENS.shop2);
    await a.claim('T1');
    await a.close();
    expect(a.closed).toBe(true);
    expect((await b.claim('T1', { waitMs: 20_000 })).alreadyHeld).toBe(false);
    const e = await rejection(a.status());
    expect(e.code).toBe('CONNECTION_CLOSED');
  });

  it('events: subscribe with a listener, typed on()', async () => {
    const t = await setup();
    t.manager.add('T1');
    const c = await connect(t);
    const all: string[] = [];
    expect(await c.subscribe(['card.inserted', 'terminal.gone'], (name) => all.push(name))).toEqual(['card.inserted', 'terminal.gone']);
    const inserted = new Promise<string>((resolve) => c.on('card.inserted', (p) => resolve(p.cardId)));
    const gone = new Promise<string>((resolve) => c.on('terminal.gone', (p) => resolve(p.terminal.id)));
    t.manager.insertCard('T1', 'card-7');
    t.manager.setState('T1', 'gone');
    expect(await inserted).toBe('card-7');
    expect(await gone).toBe('T1');
    expect(all).toEqual(['card.inserted', 'terminal.gone']);
    expect(await c.unsubscribe()).toEqual([]);
  });

  it('call(): later methods by name; errors carry code, en, ar and data', async () => {
    const t = await setup();
    t.server.methods.register({
      name: 'test.echo',
      params: (r) => ({ text: r.string('text') }),
      handler: ({ text }) => ({ text }),
    });
    const c = await connect(t);
    expect(await c.call('test.echo', { text: 'مرحبا' })).toEqual({ text: 'مرحبا' });
    const unknown = await rejection(c.call('authorize', {}));
    expect(unknown.code).toBe('METHOD_NOT_FOUND');
    expect(unknown.rpcCode).toBe(-32601);
    const bad = await rejection(c.call('test.echo', { text: 5 }));
    expect(bad.code).toBe('INVALID_PARAMS');
    expect(bad.data.field).toBe('text');
  });

  it('a call that takes too long: CLIENT_TIMEOUT, and the connection still works', async () => {
    const t = await setup();
    let release: (() => void) | undefined;
    t.server.methods.register({
      name: 'test.slow',
      params: (r) => r.done(),
      handler: () => new Promise<string>((resolve) => (release = () => resolve('late'))),
    });
    const c = await connect(t);
    const e = await rejection(c.call('test.slow', undefined, { timeoutMs: 10 }));
    expect(e.code).toBe('CLIENT_TIMEOUT');
    expect(e.data).toMatchObject({ method: 'test.slow', timeoutMs: 10 });
    release?.();
    // The late reply is dropped; the next call gets its own answer.
    expect((await c.status()).server).toBe('unicardd');
  });

  it('the daemon stopping: onClose fires and later calls fail with CONNECTION_CLOSED', async () => {
    const t = await setup();
    const c = await connect(t);
    const closed = new Promise<ApiClientError>((resolve) => c.onClose(resolve));
    await t.server.stop();
    expect((await closed).code).toBe('CONNECTION_CLOSED');
    expect(c.closed).toBe(true);
    expect((await rejection(c.status())).code).toBe('CONNECTION_CLOSED');
  });
});
