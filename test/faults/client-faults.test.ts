/**
 * Client faults against a running unicardd, all real processes: the simulator on a socat
 * pty, unicardd with its ledger, and N raw connections on its API socket at once
 * (N = UNICARD_CLIENTS, 64). Every connection mixes valid calls with malformed traffic, in a
 * seeded order, pipelined in one write:
 *   - valid: hello with the shop's token, status, terminals.list, receipts.list, subscribe;
 *   - malformed: broken JSON, binary garbage (not UTF-8), NUL bytes, a line beyond the
 *     documented 64 KiB, a request without "jsonrpc", a batch, a string id of an object,
 *     wrong parameter types, an unknown method, balance on a terminal it does not hold,
 *     a commit of an authorization it does not have.
 * Calls on one connection are answered in order, one answer per line, so each answer is
 * checked against what its own line deserved: the specific code, the JSON-RPC number, the id
 * (null when it could not be read), an English and an Arabic text.
 * Besides, by connection number:
 *   - dispensers wait in line for the terminal (terminals.claim with waitMs) and sell through
 *     the simulator: card in, balance, authorize, commit or void, release — with garbage sent
 *     while they hold the claim;
 *   - one dispenser disconnects mid-authorize (card read, waiting for the finger): nothing
 *     is recorded, the terminal goes to the next in line, whose sale goes through;
 *   - some say hello with an unknown token first (BAD_TOKEN, UNAUTHENTICATED, then a good
 *     hello); some only send unknown tokens and are closed after the third, as documented;
 *   - some end with half a line and vanish.
 * Afterwards: the daemon is up and serves, holds no connection or claim of theirs, its log
 * has no error, its RSS stayed bounded; stopped, its ledger verifies, every receipt is one a
 * client committed, nothing is pending, and the usage index equals the receipts.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnicardClient } from '../../daemon/client/index.js';
import { RawClient, type Received } from '../../daemon/api/api-test-kit.js';
import { eventually, startDaemon, TRUSTED_TERMINAL, type DaemonHandle, type SimHandle } from '../e2e/daemon-harness.js';
import { auditLedger, setUpCampaignShop, terminalReady, type Ack, type CampaignShop } from './campaign-shop.js';
import { envCount, reportFigures, seededRandom } from './figures.js';

const TOKEN = 'client-faults-token-0123456789';
const N = envCount('UNICARD_CLIENTS', 64);
const SEED = envCount('UNICARD_CLIENTS_SEED', (Date.now() % 1_000_000) + 1);
/** The documented line limit (API.md, Limits), the daemon's default. */
const MAX_LINE_BYTES = 64 * 1024;
/** How much the daemon's RSS may grow over the run before it counts as running away. */
const RSS_GROWTH_LIMIT_MIB = 32;

/** What each connection does besides its mixed traffic (by connection number). */
type Role = 'plain' | 'dispenser' | 'quitter' | 'bad-token-first' | 'bad-token-only' | 'half-line';
function roleOf(i: number): Role {
  if (N > 9 && i === 9) return 'quitter';
  switch (i % 8) {
    case 1:
      return 'dispenser';
    case 5:
      return 'bad-token-first';
    case 6:
      return 'bad-token-only';
    case 7:
      return 'half-line';
    default:
      return 'plain';
  }
}

let shop: CampaignShop;
let sim: SimHandle;
let daemon: DaemonHandle;
/** A well-behaved client on the side: watches the daemon while the others run. */
let observer: UnicardClient;

beforeAll(async () => {
  shop = await setUpCampaignShop({ name: 'clients', token: TOKEN, transactions: 6 });
  ({ sim } = shop);
  daemon = await startDaemon(['--config', shop.configPath]);
  observer = await UnicardClient.connect(daemon.ready.socket, { token: TOKEN, name: 'observer' });
  await terminalReady(observer);
}, 120_000);

afterAll(async () => {
  await observer?.close().catch(() => {});
  await daemon?.stop();
  await shop?.close();
}, 60_000);

/** One line to send and what its answer must be. */
interface Line {
  text: string | Buffer;
  /** Checks the answer (undefined: the line gets none). */
  check: (r: Received, where: string) => void;
}

/** A typed, bilingual error: the code, its JSON-RPC number, the id it must carry. */
function expectError(r: Received, where: string, code: string, rpc: number, id: string | number | null, detail: Record<string, unknown> = {}): void {
  expect(r.result, `${where}: ${JSON.stringify(r)}`).toBeUndefined();
  expect(r.id, where).toEqual(id);
  expect(r.error?.code, where).toBe(rpc);
  expect(r.error?.data, where).toMatchObject({ code, ...detail });
  expect(r.error?.data.en.length, where).toBeGreaterThan(0);
  expect(r.error?.data.ar, where).toMatch(/[\u0600-\u06ff]/);
}

function request(id: string, method: string, params?: unknown): string {
  return JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
}

/** Bytes that are not UTF-8 (so never JSON), without a newline, from the seeded generator. */
function binaryGarbage(rnd: () => number): Buffer {
  const b = Buffer.alloc(16 + Math.floor(rnd() * 200));
  for (let k = 0; k < b.length; k++) b[k] = Math.floor(rnd() * 256);
  b[0] = 0xfe;
  b[1] = 0xff;
  for (let k = 0; k < b.length; k++) if (b[k] === 0x0a) b[k] = 0x0b;
  return b;
}

/** The valid calls and malformed lines one connection mixes, each with the answer it must get. */
function mixedLines(i: number, rnd: () => number): { lines: Line[]; valid: number; malformed: number } {
  const p = `c${i}`;
  const valid: Line[] = [
    { text: request(`${p}-status`, 'status'), check: (r, w) => expect(r.result?.server, w).toBe('unicardd') },
    {
      text: request(`${p}-list`, 'terminals.list'),
      check: (r, w) => expect(r.result?.terminals.find((t: { id: string }) => t.id === TRUSTED_TERMINAL)?.state, w).toBe('ready'),
    },
    { text: request(`${p}-receipts`, 'receipts.list', { since: 0, limit: 5 }), check: (r, w) => expect(r.result?.receipts, w).toBeInstanceOf(Array) },
    { text: request(`${p}-sub`, 'subscribe', { events: ['card.inserted', 'card.removed'] }), check: (r, w) => expect(r.result?.events, w).toEqual(['card.inserted', 'card.removed']) },
  ];
  const malformed: Line[] = [
    { text: `{"jsonrpc":"2.0","id":"${p}-cut","method":`, check: (r, w) => expectError(r, w, 'PARSE_ERROR', -32700, null) },
    { text: binaryGarbage(rnd), check: (r, w) => expectError(r, w, 'PARSE_ERROR', -32700, null) },
    { text: '\u0000\u0001\u0002', check: (r, w) => expectError(r, w, 'PARSE_ERROR', -32700, null) },
    {
      // Beyond the limit, looking like a request whose id could be read if the line were.
      text: `{"jsonrpc":"2.0","id":"${p}-big","method":"status","params":{"pad":"${'x'.repeat(MAX_LINE_BYTES + Math.floor(rnd() * 40_000))}"}}`,
      check: (r, w) => expectError(r, w, 'LINE_TOO_LONG', -32600, null, { maxLineBytes: MAX_LINE_BYTES }),
    },
    { text: JSON.stringify({ id: `${p}-norpc`, method: 'status' }), check: (r, w) => expectError(r, w, 'INVALID_REQUEST', -32600, `${p}-norpc`) },
    { text: `[${request(`${p}-batch`, 'status')}]`, check: (r, w) => expectError(r, w, 'INVALID_REQUEST', -32600, null) },
    { text: '{"jsonrpc":"2.0","id":{"a":1},"method":"status"}', check: (r, w) => expectError(r, w, 'INVALID_REQUEST', -32600, null) },
    { text: request(`${p}-type`, 'terminals.claim', { terminalId: 5 }), check: (r, w) => expectError(r, w, 'INVALID_PARAMS', -32602, `${p}-type`, { field: 'terminalId' }) },
    {
      text: request(`${p}-qty`, 'authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', quantity: 'ten', idempotencyKey: `${p}-qty` }),
      check: (r, w) => expectError(r, w, 'INVALID_PARAMS', -32602, `${p}-qty`, { field: 'quantity' }),
    },
    { text: request(`${p}-pos`, 'receipts.list', [0]), check: (r, w) => expectError(r, w, 'INVALID_PARAMS', -32602, `${p}-pos`) },
    { text: request(`${p}-eat`, 'terminals.eat', { terminalId: TRUSTED_TERMINAL }), check: (r, w) => expectError(r, w, 'METHOD_NOT_FOUND', -32601, `${p}-eat`, { method: 'terminals.eat' }) },
    { text: request(`${p}-bal`, 'balance', { terminalId: TRUSTED_TERMINAL }), check: (r, w) => expectError(r, w, 'NOT_CLAIMED', 1003, `${p}-bal`) },
    {
      text: request(`${p}-commit`, 'commit', { authorizationId: '00'.repeat(16), quantity: 1 }),
      check: (r, w) => expectError(r, w, 'AUTHORIZATION_NOT_FOUND', 2050, `${p}-commit`),
    },
  ];
  // Each connection sends every valid call and a seeded half of the malformed lines, shuffled.
  const chosen = malformed.filter(() => rnd() < 0.5);
  const lines = [...valid, ...chosen];
  for (let k = lines.length - 1; k > 0; k--) {
    const j = Math.floor(rnd() * (k + 1));
    [lines[k], lines[j]] = [lines[j]!, lines[k]!];
  }
  return { lines, valid: valid.length, malformed: chosen.length };
}

/** Writes the lines in one go and checks each answer, in order. */
async function sendAll(c: RawClient, lines: readonly Line[], where: string): Promise<void> {
  c.write(Buffer.concat(lines.map((l) => Buffer.concat([Buffer.from(l.text), Buffer.from('\n')]))));
  for (const [k, l] of lines.entries()) l.check(await c.response(), `${where} line ${k}`);
}

/** One request, awaited; notifications before its answer are skipped. */
async function call(c: RawClient, id: string, method: string, params?: unknown): Promise<Received> {
  c.write(request(id, method, params) + '\n');
  const r = await c.response();
  expect(r.id).toBe(id);
  return r;
}

function ok(r: Received, where: string): any {
  expect(r.error, `${where}: ${JSON.stringify(r.error)}`).toBeUndefined();
  return r.result;
}

/** Waits until the simulator runs no request (a cancelled one is over). */
async function terminalIdle(): Promise<void> {
  const active = async (): Promise<number> => ((await sim.control({ cmd: 'status' })) as { status: { activeRequests: number } }).status.activeRequests;
  await eventually(async () => ((await active()) === 0 ? true : undefined), 10_000, 'the terminal idle');
}

/** The daemon's resident set, from /proc (Linux). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) / 1024;
}

describe('client faults against a running unicardd', () => {
  it(`${N} clients at once, malformed and valid traffic mixed: each bad line gets its typed error, every valid call succeeds, real sales go through, nothing leaks into the ledger (N=${N})`, async () => {
    console.log(`client faults: N=${N} seed=${SEED}`);
    const rnd = seededRandom(SEED);
    const pid = daemon.ready.pid;
    const rssBefore = rssMiB(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(pid))), 50);

    const tally = { validCalls: 0, malformed: 0, closedAsDocumented: 0, quitters: 0, halfLines: 0, sales: 0, committed: 0, voided: 0 };
    const acks: Ack[] = [];
    const voidedIds: string[] = [];
    const cards = shop.cards;
    let dispenserNo = 0;

    const clients = await Promise.all(Array.from({ length: N }, () => RawClient.connect(daemon.ready.socket)));
    try {
      // All N connected at once (and the observer).
      await eventually(async () => ((await observer.status()).clients.connected === N + 1 ? true : undefined), 10_000, `${N + 1} connections`);
      const started = Date.now();

      const plans = clients.map((_c, i) => ({ role: roleOf(i), mix: mixedLines(i, rnd) }));
      await Promise.all(
        clients.map(async (c, i) => {
          const { role, mix } = plans[i]!;
          const where = `client ${i} (${role})`;

          if (role === 'bad-token-only') {
            // Three unknown tokens: three BAD_TOKEN answers, then the daemon closes (API.md: 3 errors before hello).
            c.write([1, 2, 3].map((k) => request(`${i}-bad${k}`, 'hello', { token: `guess-${i}-${k}` })).join('\n') + '\n');
            for (const k of [1, 2, 3]) expectError(await c.response(), `${where} bad token ${k}`, 'BAD_TOKEN', -32002, `${i}-bad${k}`);
            await c.whenClosed();
            tally.malformed += 3;
            tally.closedAsDocumented++;
            return;
          }
          if (role === 'bad-token-first') {
            expectError(await call(c, `${i}-bad`, 'hello', { token: `guess-${i}` }), where, 'BAD_TOKEN', -32002, `${i}-bad`);
            expectError(await call(c, `${i}-early`, 'terminals.list'), where, 'UNAUTHENTICATED', -32001, `${i}-early`);
            tally.malformed += 2;
          }
          // hello and the mix in one write: the garbage right behind a good hello is not held
          // against the connection as failures before hello (which would close it).
          const hello: Line = {
            text: request(`${i}-hello`, 'hello', { token: TOKEN, client: `client-${i}` }),
            check: (r, w) => expect(ok(r, w).you).toMatchObject({ name: 'bakery', role: 'shop', client: `client-${i}` }),
          };
          await sendAll(c, [hello, ...mix.lines], where);
          tally.validCalls += 1 + mix.valid;
          tally.malformed += mix.malformed;

          if (role === 'dispenser' || role === 'quitter') {
            const j = dispenserNo++;
            const claim = ok(await call(c, `${i}-claim`, 'terminals.claim', { terminalId: TRUSTED_TERMINAL, waitMs: 300_000 }), where);
            expect(claim.terminalId).toBe(TRUSTED_TERMINAL);
            // The terminal is idle again (a quitter's cancelled request is over), then the citizen's card.
            await terminalIdle();
            await sim.control({ cmd: 'remove' });
            expect((await sim.control({ cmd: 'insert', card: cards[j % cards.length]! })).ok).toBe(true);
            const balance = ok(await call(c, `${i}-balance`, 'balance', { terminalId: TRUSTED_TERMINAL, waitMs: 5000 }), where);
            expect(balance.card.usable, where).toBe(true);
            // Garbage while holding the claim changes nothing about it.
            await sendAll(c, [
              { text: '}{', check: (r, w) => expectError(r, w, 'PARSE_ERROR', -32700, null) },
              { text: request(`${i}-claim-type`, 'terminals.claim', { terminalId: TRUSTED_TERMINAL, waitMs: 'soon' }), check: (r, w) => expectError(r, w, 'INVALID_PARAMS', -32602, `${i}-claim-type`, { field: 'waitMs' }) },
            ], where);
            tally.malformed += 2;
            const key = `clients-${SEED}-${i}`;
            if (role === 'quitter') {
              // Mid-authorize: the card is read, the terminal waits for a finger that never comes; the client vanishes.
              ok(await call(c, `${i}-sub-progress`, 'subscribe', { events: ['authorization.progress'] }), where);
              c.write(request(`${i}-auth`, 'authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', quantity: 1, idempotencyKey: key }) + '\n');
              for (;;) {
                const m = await c.next();
                if (m === undefined) throw new Error(`${where}: closed before waiting_finger`);
                expect(m.id, `${where}: ${JSON.stringify(m)}`).toBeUndefined();
                if (m.method === 'authorization.progress' && m.params.stage === 'waiting_finger') break;
              }
              c.socket.destroy();
              tally.quitters++;
              tally.validCalls += 4;
              return;
            }
            expect((await sim.control({ cmd: 'finger', finger: 0, count: 1 })).ok).toBe(true);
            const auth = ok(await call(c, `${i}-auth`, 'authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', quantity: 1, idempotencyKey: key }), where);
            expect(auth).toMatchObject({ approvedQuantity: 1, state: 'pending', cardId: balance.cardId, replayed: false });
            tally.sales++;
            if (j % 2 === 0) {
              const receipt = ok(await call(c, `${i}-commit`, 'commit', { authorizationId: auth.authorizationId, quantity: 1, idempotencyKey: `${key}-c` }), where);
              expect(receipt).toMatchObject({ authorizationId: auth.authorizationId, quantity: 1 });
              acks.push({ authorizationId: auth.authorizationId, receiptId: receipt.receiptId, seq: receipt.seq });
              tally.committed++;
            } else {
              expect(ok(await call(c, `${i}-void`, 'void', { authorizationId: auth.authorizationId }), where)).toMatchObject({ state: 'voided' });
              voidedIds.push(auth.authorizationId);
              tally.voided++;
            }
            expect(ok(await call(c, `${i}-release`, 'terminals.release', { terminalId: TRUSTED_TERMINAL }), where)).toMatchObject({ released: true });
            tally.validCalls += 6;
          }

          if (role === 'half-line') {
            c.write(`{"jsonrpc":"2.0","id":"${i}-half","method":"terminals.li`);
            c.socket.destroy();
            tally.halfLines++;
            return;
          }
          // Still served after all of it.
          expect(ok(await call(c, `${i}-last`, 'status'), where).server).toBe('unicardd');
          tally.validCalls++;
        }),
      );
      const ms = Date.now() - started;
      clearInterval(sampler);
      rssPeak = Math.max(rssPeak, rssMiB(pid));
      console.log(`client faults: ${JSON.stringify(tally)} in ${ms} ms; RSS ${rssBefore.toFixed(0)} → peak ${rssPeak.toFixed(0)} MiB`);

      // The daemon is up and serves; the terminal is free, and every connection but the observer's and the survivors' is gone.
      expect(daemon.process.hasExited).toBe(false);
      const survivors = clients.filter((_c, i) => !['bad-token-only', 'half-line', 'quitter'].includes(roleOf(i))).length;
      await eventually(async () => ((await observer.status()).clients.connected === survivors + 1 ? true : undefined), 10_000, 'the closed connections gone');
      expect((await observer.status()).claims).toBe(0);
      expect((await observer.listTerminals()).find((t) => t.id === TRUSTED_TERMINAL)).toMatchObject({ state: 'ready', claim: null });
      // The terminal no longer waits for the quitter's finger (the daemon sent Cancel).
      await terminalIdle();
      expect(rssPeak - rssBefore).toBeLessThan(RSS_GROWTH_LIMIT_MIB);
      if (N > 9) expect(tally.quitters).toBe(1);
      expect(tally.sales).toBeGreaterThan(0);
    } finally {
      clearInterval(sampler);
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    }

    // No error in the daemon's log (bad input is logged at debug or info, never as a failure).
    expect(daemon.logs().filter((r) => (r.level as number) >= 50)).toEqual([]);
    await observer.close();
    expect((await daemon.stop('SIGTERM')).code).toBe(0);
    const a = await auditLedger(shop, acks, voidedIds);
    reportFigures({
      campaign: 'client-faults',
      seed: SEED,
      faultsInjected: tally.malformed + tally.quitters + tally.halfLines,
      transactions: tally.sales + tally.quitters,
      completed: tally.sales,
      failedCleanly: tally.quitters,
      wrongApprovals: 0,
      duplicates: a.duplicates,
      lost: a.lost,
      notes:
        `${N} connections at once: ${tally.validCalls} valid calls all answered, ${tally.malformed} malformed lines each with its typed error, ` +
        `${tally.closedAsDocumented} closed after 3 unknown tokens, ${tally.halfLines} half lines then gone, ${tally.quitters} disconnected mid-authorize; ` +
        `${tally.committed} committed, ${tally.voided} voided, ${a.receipts} receipts; RSS ${rssBefore.toFixed(0)} → peak ${rssPeak.toFixed(0)} MiB`,
    });
    expect(a.problems).toEqual([]);
    expect(a.lost).toBe(0);
    expect(a.duplicates).toBe(0);
    expect(a.receipts).toBe(acks.length);
    expect(a.committed).toBe(acks.length);
    expect(a.pending).toEqual([]);
    expect(a.usageSums).toEqual(a.receiptSums);
  }, 300_000);
});
