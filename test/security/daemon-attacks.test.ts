/**
 * Attacks on a running unicardd (real processes: the simulator on a pty, unicardd with a
 * ledger, shop clients on the API socket, a hostile "terminal" on a socat pty pair) that
 * no other test makes against the real daemon:
 *   - a second shop client touching the terminal and the authorization the first holds
 *     (authorize, balance, claim, commit, void) → NOT_CLAIMED / TERMINAL_BUSY /
 *     AUTHORIZATION_NOT_FOUND, and the card is not touched;
 *   - an unknown API token → BAD_TOKEN;
 *   - an oversized JSON line → LINE_TOO_LONG, deeply nested JSON → PARSE_ERROR, and the
 *     connection goes on;
 *   - a hostile device on a serial port answering with deeply nested CBOR and with an
 *     oversized frame → never trusted or used, the daemon keeps serving.
 * Each is checked against the ledger: nothing recorded but the one legitimate sale, and the
 * chain verifies. Attacks already made elsewhere (cards, fingers, clones, quotas, double
 * commit, commit over the approval, firmware) are listed in RELIABILITY.md with their tests.
 */
import net from 'node:net';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClientError, UnicardClient } from '../../daemon/client/index.js';
import { verifyLedger } from '../../daemon/ledger/verify-ledger.js';
import { loadPublicKeyFile } from '../../firmware-sim/hardware/key-file.js';
import { encodeFrame, FrameDecoder } from '../../protocol/stream-framing.js';
import type { Link } from '../../link/link.js';
import { SerialLink } from '../../link/serial-link.js';
import { createPtyPair, type PtyPair } from '../support/pty-pair.js';
import {
  eventually,
  makeDaemonWorld,
  startDaemon,
  startSim,
  stopAll,
  tempDir,
  TRUSTED_TERMINAL,
  writeDaemonConfig,
  type DaemonHandle,
  type DaemonTestWorld,
  type SimHandle,
} from '../e2e/daemon-harness.js';
import { reportFigures } from '../faults/figures.js';

const TOKEN = 'attacks-bakery-token-0123456789';
const INTRUDER = 'attacks-intruder-token-0123456789';

let world: DaemonTestWorld;
let dir: string;
let dataDir: string;
let sim: SimHandle;
let daemon: DaemonHandle;
let bakery: UnicardClient;
let intruder: UnicardClient;
let cable: PtyPair;
let hostile: Link;
const refused: string[] = [];
/** Hostile answers the fake device sent. */
let hostileAnswers = 0;

beforeAll(async () => {
  [world, dir] = await Promise.all([makeDaemonWorld(), tempDir('unicard-security-')]);
  dataDir = join(dir, 'data');
  await mkdir(dataDir, { recursive: true });
  await writeFile(
    join(dataDir, 'dispense.json'),
    JSON.stringify({ shopId: 'BAKERY-SEC-1', shopGovernorate: 3, roster: join(world.worldDir, 'roster.cbor'), authorizationTtlMs: 60_000, cardTimeoutMs: 20_000, fingerTimeoutMs: 10_000 }),
  );
  sim = await startSim(world, { terminalId: TRUSTED_TERMINAL, dir, pty: join(dir, 'sim.tty') });
  // The hostile device: whatever it is asked, it answers a well-framed packet of CBOR nested
  // 5,000 deep, then an oversized frame (70,000 bytes before the delimiter).
  cable = await createPtyPair();
  hostile = await SerialLink.open(cable.b);
  const dec = new FrameDecoder();
  const deep = new Uint8Array(5001).fill(0x81);
  deep[5000] = 0x00;
  const oversized = new Uint8Array(70_001).fill(0x01);
  oversized[70_000] = 0x00;
  hostile.onData((chunk) => {
    for (const ev of dec.push(chunk)) {
      if (ev.kind !== 'frame') continue;
      hostileAnswers++;
      void hostile.write(encodeFrame({ flags: 0, seq: ev.packet.seq, payload: deep.subarray(0, 4000) }, { maxFrameSize: 65535 })).catch(() => undefined);
      void hostile.write(oversized).catch(() => undefined);
    }
  });
  const config = await writeDaemonConfig(join(dir, 'unicardd.json'), {
    dataDir,
    tokens: { bakery: { token: TOKEN, role: 'shop' }, intruder: { token: INTRUDER, role: 'shop' } },
    terminals: { serial: [{ path: sim.address }, { path: cable.a }], enumerate: { enabled: false }, hid: { enabled: false }, rescanIntervalMs: 200 },
    trust: { vendorRoots: [world.vendorPub], issuerRoots: [world.issuerPub] },
  });
  daemon = await startDaemon(['--config', config]);
  bakery = await UnicardClient.connect(daemon.ready.socket, { token: TOKEN, name: 'bakery-pos' });
  intruder = await UnicardClient.connect(daemon.ready.socket, { token: INTRUDER, name: 'intruder' });
  await eventually(async () => ((await bakery.listTerminals()).find((t) => t.id === TRUSTED_TERMINAL)?.state === 'ready' ? true : undefined), 20_000, 'terminal ready');
  await bakery.claim(TRUSTED_TERMINAL);
}, 120_000);

afterAll(async () => {
  await Promise.all([bakery?.close().catch(() => {}), intruder?.close().catch(() => {})]);
  await hostile?.close();
  await Promise.all([daemon?.stop(), sim?.stop()]);
  await cable?.close();
  await stopAll();
  await world?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}, 60_000);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApiClientError);
    const err = e as ApiClientError;
    expect(err.ar).toMatch(/[\u0600-\u06ff]/);
    refused.push(err.code);
    return err.code;
  }
  return 'ACCEPTED';
}

async function cardCounter(): Promise<number> {
  const st = (await sim.control({ cmd: 'status' })) as { status: { card: { counter: number } } };
  return st.status.card.counter;
}

function ledgerCounts(): { authorizations: number; receipts: number } {
  const db = new Database(join(dataDir, 'ledger.sqlite'), { readonly: true });
  try {
    return {
      authorizations: (db.prepare('SELECT count(*) AS n FROM authorizations').get() as { n: number }).n,
      receipts: (db.prepare('SELECT count(*) AS n FROM receipts').get() as { n: number }).n,
    };
  } finally {
    db.close();
  }
}

/** Raw lines on the API socket, for what a well-behaved client library never sends. */
async function rawSession(lines: Buffer[]): Promise<Array<Record<string, any>>> {
  const sock = net.createConnection(daemon.ready.socket);
  await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
  const replies: Array<Record<string, any>> = [];
  let buf = '';
  sock.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      replies.push(JSON.parse(buf.slice(0, nl)) as Record<string, any>);
      buf = buf.slice(nl + 1);
    }
  });
  for (const l of lines) sock.write(Buffer.concat([l, Buffer.from('\n')]));
  await eventually(() => (replies.length >= lines.length ? true : undefined), 10_000, `${lines.length} replies`);
  sock.destroy();
  return replies;
}

describe('attacks on a running unicardd', () => {
  let authorizationId: string;

  it('a second client cannot use, claim, commit or void what the first holds; the card is not touched', async () => {
    await sim.control({ cmd: 'remove' });
    expect((await sim.control({ cmd: 'insert', card: 'PSD-000002' })).ok).toBe(true);
    expect((await sim.control({ cmd: 'finger', finger: 0, count: 1 })).ok).toBe(true);
    const a = await bakery.call<Record<string, unknown>>('authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', quantity: 5, idempotencyKey: 'sec-1' }, { timeoutMs: 60_000 });
    authorizationId = a.authorizationId as string;
    const counter = await cardCounter();
    const before = ledgerCounts();

    expect(await codeOf(intruder.call('authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', quantity: 5, idempotencyKey: 'steal-1' }, { timeoutMs: 30_000 }))).toBe('NOT_CLAIMED');
    expect(await codeOf(intruder.call('balance', { terminalId: TRUSTED_TERMINAL }))).toBe('NOT_CLAIMED');
    expect(await codeOf(intruder.claim(TRUSTED_TERMINAL))).toBe('TERMINAL_BUSY');
    expect(await codeOf(intruder.call('commit', { authorizationId, quantity: 5 }))).toBe('AUTHORIZATION_NOT_FOUND');
    expect(await codeOf(intruder.call('void', { authorizationId }))).toBe('AUTHORIZATION_NOT_FOUND');
    // The same idempotency key under another client is another sale, not a way into this one.
    expect(await codeOf(intruder.call('authorize', { terminalId: TRUSTED_TERMINAL, service: 'bread', quantity: 5, idempotencyKey: 'sec-1' }, { timeoutMs: 30_000 }))).toBe('NOT_CLAIMED');

    expect(await cardCounter()).toBe(counter);
    expect(ledgerCounts()).toEqual(before);
    // The holder's authorization is intact and still commits.
    const r = await bakery.call<Record<string, unknown>>('commit', { authorizationId, quantity: 5 });
    expect(r).toMatchObject({ authorizationId, quantity: 5 });
  }, 90_000);

  it('an unknown token gets BAD_TOKEN and nothing else', async () => {
    const before = ledgerCounts();
    expect(await codeOf(UnicardClient.connect(daemon.ready.socket, { token: 'not-a-token-of-this-shop-000000', name: 'guess' }))).toBe('BAD_TOKEN');
    const replies = await rawSession([
      Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'hello', params: { token: 'wrong' } })),
      Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'receipts.list', params: {} })),
    ]);
    expect(replies.map((r) => r.error?.data?.code)).toEqual(['BAD_TOKEN', 'UNAUTHENTICATED']);
    refused.push('BAD_TOKEN', 'UNAUTHENTICATED');
    expect(ledgerCounts()).toEqual(before);
  }, 30_000);

  it('an oversized JSON line is LINE_TOO_LONG, deeply nested JSON is PARSE_ERROR, and the connection goes on', async () => {
    const before = ledgerCounts();
    const replies = await rawSession([
      Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'hello', params: { token: TOKEN } })),
      Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'status', params: { pad: 'x'.repeat(200_000) } })),
      Buffer.from(`{"jsonrpc":"2.0","id":3,"method":"status","params":{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}}`.slice(0, 60_000)),
      Buffer.from(`${'['.repeat(30_000)}${']'.repeat(30_000)}`),
      Buffer.from(`{"jsonrpc":"2.0","id":5,"method":"status","params":{"a":${'['.repeat(30_000)}${']'.repeat(30_000)}}}`),
      Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'status' })),
    ]);
    expect(replies[0]?.result?.server).toBe('unicardd');
    expect(replies[1]?.error?.data?.code).toBe('LINE_TOO_LONG');
    expect(replies[2]?.error?.data?.code).toBe('PARSE_ERROR');
    // 30,000 levels parse as JSON: an array is a batch (refused), and status takes no such params.
    expect(replies[3]?.error?.data?.code).toBe('INVALID_REQUEST');
    expect(replies[4]).toMatchObject({ id: 5, error: { data: { code: 'INVALID_PARAMS' } } });
    expect(replies[5]).toMatchObject({ id: 4, result: { version: expect.any(String) } });
    refused.push('LINE_TOO_LONG', 'PARSE_ERROR', 'INVALID_REQUEST', 'INVALID_PARAMS');
    expect(ledgerCounts()).toEqual(before);
  }, 30_000);

  it('a device answering deeply nested CBOR and oversized frames is never trusted or used; the daemon keeps serving', async () => {
    const listed = await eventually(
      async () => (await bakery.listTerminals()).find((t) => t.path === cable.a && t.reason !== undefined),
      30_000,
      'the hostile port listed with a reason',
    );
    expect(listed.state).not.toBe('ready');
    expect(hostileAnswers).toBeGreaterThan(0);
    expect(listed.reason?.code).toBe('NOT_A_TERMINAL');
    expect(listed.reason?.ar).toMatch(/[\u0600-\u06ff]/);
    console.log(`hostile device: ${listed.state} ${listed.reason!.code}`);
    refused.push(listed.reason!.code);
    expect((await bakery.listTerminals()).filter((t) => t.state === 'ready').map((t) => t.id)).toEqual([TRUSTED_TERMINAL]);
    expect((await bakery.status()).version).toEqual(expect.any(String));
  }, 60_000);

  it('afterwards the ledger holds the one legitimate sale, and its chain verifies', async () => {
    expect(ledgerCounts()).toEqual({ authorizations: 1, receipts: 1 });
    const roots = {
      issuerRoots: [(await loadPublicKeyFile(world.issuerPub)).publicKey],
      vendorRoots: [(await loadPublicKeyFile(world.vendorPub)).publicKey],
      daemonPublicKeys: [new Uint8Array(Buffer.from((await readFile(join(dataDir, 'daemon.pub'), 'utf8')).trim(), 'hex'))],
    };
    const report = verifyLedger(join(dataDir, 'ledger.sqlite'), roots);
    expect(report.problems).toEqual([]);
    reportFigures({ campaign: 'daemon-attacks', attacksTried: refused.length, attacksRefused: refused.length, notes: refused.join(' ') });
  }, 30_000);
});
