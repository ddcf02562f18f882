/**
 * unicard-sim as a process on a real pty (`--pty`, socat), with the daemon's TerminalSession
 * as the host: banner, handshake under the vendor root, card events, card authentication
 * verified under the issuer chain, exactly-once, holder verification with retries and the
 * attempt limit, vanish and return, clean shutdown. Unpaced (`--no-pace`) for speed, except
 * the one test that checks pacing is on by default, by configuration.
 */
import { randomBytes } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCardAuthBody, buildHolderVerifyBody, verifyCardAuth, verifyHolderVerify } from '../../protocol/crypto/card-structures.js';
import { verifyCardCertificate } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { Service } from '../../protocol/messages.js';
import { SerialLink } from '../../link/serial-link.js';
import { createPtyPair } from '../support/pty-pair.js';
import { makeTestWorld, type TestWorld } from '../../firmware-sim/terminal/test-world.js';
import { TestHost } from '../../firmware-sim/terminal/test-host.js';
import { TerminalSession, type TerminalEvent } from '../../daemon/session/index.js';
import { issuerRootsOf, openHostLink, openSession, startSim, trustFor, type SimHandle } from './sim-harness.js';

const ed = new NodeEd25519();
const nowS = (): number => Math.floor(Date.now() / 1000);
const nonce = (): Uint8Array => new Uint8Array(randomBytes(32));
const exists = (p: string): Promise<boolean> =>
  lstat(p).then(
    () => true,
    () => false,
  );

let world: TestWorld;
let issuers: Map<string, Uint8Array>;

beforeAll(async () => {
  world = await makeTestWorld();
  issuers = await issuerRootsOf(world);
});
afterAll(() => world.cleanup());

describe('unicard-sim on a pty', () => {
  let sim: SimHandle;
  let session: TerminalSession | undefined;

  beforeAll(async () => {
    sim = await startSim({ world, link: 'pty', args: ['--no-pace'] });
  });
  afterAll(async () => {
    await session?.close();
    const code = await sim.stop();
    expect(code).toBe(0);
    // SIGTERM: the pty and the control socket are gone.
    expect(await exists(sim.ptyPath!)).toBe(false);
    expect(await exists(sim.ready.control!)).toBe(false);
  });

  it('announces itself: ready line, then the banner line on the port at boot', async () => {
    expect(sim.ready).toMatchObject({ event: 'ready', terminalId: 'SIM0001', firmware: '1.0.0', link: { kind: 'pty', path: sim.ptyPath, paced: false } });
    expect((await lstat(sim.ptyPath!)).isSymbolicLink()).toBe(true);
    // A serial driver flushes input when a port is opened, so a host sees the boot banner
    // only if it has the port open when the terminal boots: open, then power-cycle.
    const link = await openHostLink(sim);
    expect(await sim.control({ cmd: 'reboot' })).toMatchObject({ ok: true, mode: 'normal' });
    session = await TerminalSession.open(link, { trust: await trustFor(world), bannerTimeoutMs: 5000 });
    expect(session.banner).toMatchObject({ vendor: 'SimVendor', model: 'SIM-1', serial: 'SIM0001' });
    expect(session.isSealed).toBe(true);
    expect(session.device?.terminalId).toBe('SIM0001');
    expect(session.info?.maxFrameSize).toBeGreaterThanOrEqual(16_435);
  });

  it('sends CardInserted and CardRemoved when the control interface moves a card', async () => {
    const s = session!;
    const events: TerminalEvent[] = [];
    const off = s.onEvent((e) => events.push(e));
    const got = (type: TerminalEvent['type']): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (events.some((e) => e.type === type)) resolve();
          else setTimeout(check, 5);
        };
        check();
      });
    expect(await sim.control({ cmd: 'insert', card: 'PSD-000001' })).toMatchObject({ ok: true, cardId: 'PSD-000001' });
    await got('CardInserted');
    expect(await sim.control({ cmd: 'remove' })).toMatchObject({ ok: true });
    await got('CardRemoved');
    off();
    expect(events.map((e) => [e.type, e.cardId])).toEqual([
      ['CardInserted', 'PSD-000001'],
      ['CardRemoved', 'PSD-000001'],
    ]);
  });

  it('authenticates the card: signature verified under the issuer chain; a replayed id is answered once', async () => {
    const s = session!;
    await sim.control({ cmd: 'insert', card: 'PSD-000002' });
    const n = nonce();
    const tx = { nonce: n, service: 'ration' as const, quantity: 5000, shopId: 'GROCER-PSD-3', terminalId: 'SIM0001', time: nowS() };
    const id = 4242;
    const r = await s.request({ type: 'CardAuthenticate', ...tx }, { id });
    const cert = verifyCardCertificate(r.cardCertificate, issuers, nowS(), ed);
    expect(cert.cardId).toBe('PSD-000002');
    const body = buildCardAuthBody({ ...tx, service: Service.values.ration, cardId: cert.cardId, counter: r.counter });
    expect(verifyCardAuth(ed, cert.subjectPublicKey, { body, signature: r.signature }, n).counter).toBe(1);
    // The same id and body again (a host retry after a lost frame): the cached answer.
    const again = await s.request({ type: 'CardAuthenticate', ...tx }, { id });
    expect(again.counter).toBe(1);
    expect(again.signature).toEqual(r.signature);
    const st = await sim.control({ cmd: 'status' });
    expect(st).toMatchObject({ status: { card: { cardId: 'PSD-000002', counter: 1 }, counters: { retriesAnswered: 1 } } });
  });

  it('verifies the holder with retries, enforces the attempt limit, lets another member verify', async () => {
    const s = session!;
    const cardCert = (await s.request({ type: 'CardWait', timeoutMs: 1000 })).cardCertificate;
    const cert = verifyCardCertificate(cardCert, issuers, nowS(), ed);
    const check = (r: { result: string; member: number | null; attemptsUsed: number; signature: Uint8Array }, n: Uint8Array, requested: number): void => {
      const body = buildHolderVerifyBody({ nonce: n, cardId: cert.cardId, memberIndex: r.member ?? requested, result: r.result as 'match', attempts: r.attemptsUsed });
      expect(verifyHolderVerify(ed, cert.subjectPublicKey, { body, signature: r.signature }, n).result).toBe(r.result);
    };
    // A poor capture, a finger not centred, a stranger's finger, then the head of household.
    for (const finger of ['poor', 'not_centred', 'unknown', 0]) expect((await sim.control({ cmd: 'finger', finger })).ok).toBe(true);
    const statuses: string[] = [];
    const n1 = nonce();
    const r1 = await s.request(
      { type: 'VerifyHolder', nonce: n1, member: 0, timeoutMs: 20_000, maxAttempts: 3 },
      { onKeepalive: (k) => statuses.push(k.status) },
    );
    expect(r1).toMatchObject({ result: 'match', member: 0, attemptsUsed: 2 });
    check(r1, n1, 0);
    expect(statuses).toEqual(expect.arrayContaining(['waiting_finger', 'poor_quality', 'finger_not_centred', 'lift_and_retry']));
    // Member 1 fails three times (the card's limit per card session), then is refused.
    await sim.control({ cmd: 'finger', finger: 'unknown', count: 3 });
    const n2 = nonce();
    const r2 = await s.request({ type: 'VerifyHolder', nonce: n2, member: 1, timeoutMs: 20_000, maxAttempts: 5 });
    expect(r2).toMatchObject({ result: 'no_match', member: null, attemptsUsed: 3 });
    check(r2, n2, 1);
    await expect(s.request({ type: 'VerifyHolder', nonce: nonce(), member: 1, timeoutMs: 20_000, maxAttempts: 5 })).rejects.toMatchObject({
      code: 'ATTEMPTS_EXHAUSTED',
    });
    // Removing and reinserting the card starts a new card session: member 1 may try again.
    await sim.control({ cmd: 'remove' });
    await sim.control({ cmd: 'insert', card: 'PSD-000002' });
    await sim.control({ cmd: 'finger', finger: 1 });
    const n3 = nonce();
    const r3 = await s.request({ type: 'VerifyHolder', nonce: n3, member: 1, timeoutMs: 20_000, maxAttempts: 5 });
    expect(r3).toMatchObject({ result: 'match', member: 1, attemptsUsed: 1 });
    check(r3, n3, 1);
  });

  it('vanishes like an unplugged adapter and comes back at the same path', async () => {
    const s = session!;
    const closed = new Promise<unknown>((resolve) => s.onClose(resolve));
    expect(await sim.control({ cmd: 'vanish' })).toMatchObject({ ok: true, vanished: true });
    expect(await exists(sim.ptyPath!)).toBe(false);
    expect(await closed).toMatchObject({ code: 'TERMINAL_GONE' });
    expect(await sim.control({ cmd: 'status' })).toMatchObject({ status: { vanished: true, port: { present: false } } });
    expect(await sim.control({ cmd: 'return' })).toMatchObject({ ok: true, vanished: false });
    // A new host connection (GetInfo first: the port is opened after it came back).
    session = await openSession(sim, world);
    expect(session.info?.serial).toBe('SIM0001');
    expect((await session.request({ type: 'Status' })).cardPresent).toBe(true);
  });

  it('returns by itself after vanish with a duration', async () => {
    await session?.close();
    session = undefined;
    expect(await sim.control({ cmd: 'vanish', ms: 300 })).toMatchObject({ ok: true });
    expect(await exists(sim.ptyPath!)).toBe(false);
    for (let i = 0; i < 200 && !(await exists(sim.ptyPath!)); i++) await new Promise((r) => setTimeout(r, 20));
    session = await openSession(sim, world);
    expect(session.isSealed).toBe(true);
  });

  it('answers a raw host byte for byte: banner then clear SESSION_REQUIRED for a request in clear', async () => {
    await session?.close();
    session = undefined;
    const link = await SerialLink.open(sim.ptyPath!);
    const host = new TestHost(link);
    try {
      await sim.control({ cmd: 'reboot' });
      const banner = await host.waitForBanner();
      expect(banner).toBe('UNICARD-TERMINAL vendor=SimVendor model=SIM-1 serial=SIM0001 fw=1.0.0 proto=1');
      const r = await host.request({ type: 'Status' }, { clear: true });
      expect(r).toMatchObject({ type: 'Error', code: 0x10 });
    } finally {
      host.close();
      await link.close();
    }
  });
});

describe('unicard-sim on an existing serial device (--serial)', () => {
  it('serves a host on the other end of a cable (a socat pty pair), and goes silent on vanish', async () => {
    const cable = await createPtyPair();
    const sim = await startSim({ world, link: 'serial', serialPath: cable.a, args: ['--no-pace'] });
    try {
      expect(sim.ready.link).toMatchObject({ kind: 'serial', path: cable.a, paced: false });
      const link = await SerialLink.open(cable.b);
      const s = await TerminalSession.open(link, { trust: await trustFor(world) });
      try {
        expect((await s.ping(new Uint8Array([1, 2, 3]))).data).toEqual(new Uint8Array([1, 2, 3]));
        // A serial device cannot disappear from the host: vanish makes the terminal silent instead.
        expect(await sim.control({ cmd: 'vanish' })).toMatchObject({ ok: true });
        await expect(s.request({ type: 'Status' })).rejects.toMatchObject({ code: 'TERMINAL_UNRESPONSIVE' });
      } finally {
        await s.close();
      }
      expect(await sim.control({ cmd: 'return' })).toMatchObject({ ok: true });
      const s2 = await TerminalSession.open(await SerialLink.open(cable.b), { trust: await trustFor(world) });
      expect((await s2.request({ type: 'Status' })).state).toBe('ready');
      await s2.close();
    } finally {
      expect(await sim.stop()).toBe(0);
      await cable.close();
    }
  });
});

describe('unicard-sim defaults', () => {
  it('paces what it sends to 115200 baud on a pty unless told otherwise', async () => {
    const sim = await startSim({ world, link: 'pty', args: ['--card', 'PSD-000003'] });
    try {
      expect(sim.ready.link).toMatchObject({ kind: 'pty', paced: true, baudRate: 115200 });
      expect(await sim.control({ cmd: 'status' })).toMatchObject({ status: { port: { paced: true, baudRate: 115200 }, card: { cardId: 'PSD-000003' } } });
    } finally {
      expect(await sim.stop()).toBe(0);
    }
  });

  it('refuses to start without a world, with a usage message', async () => {
    await expect(startSim({ world: { ...world, dir: '/nonexistent/world' }, link: 'pty' })).rejects.toThrow(/cannot start/);
  });
});
