/**
 * Every handler of the reference terminal, driven over an in-memory link by a minimal host.
 * Signatures are checked the way the daemon will check them: the card certificate under the
 * issuer root of the world, then the card-auth / holder-verify structure under the card key.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCardAuthBody, buildHolderVerifyBody, verifyCardAuth, verifyHolderVerify, type HolderResultName } from '../../protocol/crypto/card-structures.js';
import { trustedKeysOf, verifyCardCertificate, verifyDeviceCertificate } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { encodeCanonical } from '../../protocol/cbor-codec.js';
import { Capability, Service, type Message } from '../../protocol/messages.js';
import { WireError } from '../../protocol/wire-errors.js';
import { ManualClock } from '../hardware/clock.js';
import { loadPublicKeyFile } from '../hardware/key-file.js';
import { ANY_MEMBER_INDEX } from '../hardware/secure-element.js';
import { decodeFirmwareImage } from '../issuer/firmware-image.js';
import { parseBannerLine } from './banner.js';
import { SIM_CAPABILITIES } from './terminal-firmware.js';
import { TERMINAL_MAX_FRAME_SIZE } from './terminal-packet-codec.js';
import type { TestHost } from './test-host.js';
import { makeTestWorld, startTestTerminal, type StartTestTerminalOptions, type TestTerminal, type TestWorld } from './test-world.js';

const ed = new NodeEd25519();
let world: TestWorld;
let issuerKeys: Map<string, Uint8Array>;
let vendorKeys: Map<string, Uint8Array>;
const running: TestTerminal[] = [];

beforeAll(async () => {
  world = await makeTestWorld();
  issuerKeys = trustedKeysOf([(await loadPublicKeyFile(join(world.dir, world.manifest.issuer.publicKeyFile))).publicKey]);
  vendorKeys = trustedKeysOf([(await loadPublicKeyFile(join(world.dir, world.manifest.vendor.publicKeyFile))).publicKey]);
});
afterAll(() => world.cleanup());
afterEach(async () => {
  for (const t of running.splice(0)) await t.close();
});

async function start(options: StartTestTerminalOptions = {}): Promise<TestTerminal> {
  const t = await startTestTerminal(world, options);
  running.push(t);
  return t;
}

/** A terminal with a session already open. */
async function session(options: StartTestTerminalOptions = {}): Promise<TestTerminal & { h: TestHost }> {
  const t = await start(options);
  await t.host.handshake();
  return Object.assign(t, { h: t.host });
}

const nowS = (): number => Math.floor(Date.now() / 1000);
const nonce = (): Uint8Array => new Uint8Array(randomBytes(32));
const errorName = (m: Message): string => (m.type === 'Error' ? (Object.entries(WireError).find(([, c]) => c === m.code)?.[0] ?? String(m.code)) : m.type);

async function firmware(kind: 'update' | 'downgrade' | 'forged' | 'tampered' | 'factory'): Promise<{ header: Uint8Array; body: Uint8Array }> {
  const img = decodeFirmwareImage(new Uint8Array(await readFile(join(world.dir, world.manifest.firmware[kind].file))));
  return { header: img.header, body: img.body };
}

/** Uploads `body` from `from` in chunks of `chunk` bytes up to `until`; returns the last next offset. */
async function upload(h: TestHost, body: Uint8Array, from: number, until = body.length, chunk = 2048): Promise<number> {
  let offset = from;
  while (offset < until) {
    const data = body.subarray(offset, Math.min(until, offset + chunk));
    const r = await h.expect('FirmwareChunkResult', { type: 'FirmwareChunk', offset, data });
    offset = r.nextOffset;
  }
  return offset;
}

describe('identification and session', () => {
  it('prints the banner line and 0x00 at boot', async () => {
    const t = await start();
    const raw = t.host.rawText;
    const line = 'UNICARD-TERMINAL vendor=SimVendor model=SIM-1 serial=SIM0001 fw=1.0.0 proto=1\r\n';
    expect(raw.startsWith(`${line}\0`)).toBe(true);
    expect(parseBannerLine(line)).toEqual({ vendor: 'SimVendor', model: 'SIM-1', serial: 'SIM0001', firmwareVersion: [1, 0, 0], protocolVersion: 1 });
  });

  it('answers GetInfo in clear with its identity and limits (its connection reassembles segments)', async () => {
    const t = await start();
    const info = await t.host.expect('GetInfoResult', { type: 'GetInfo' }, { clear: true });
    expect(info).toMatchObject({
      vendor: 'SimVendor',
      model: 'SIM-1',
      serial: 'SIM0001',
      terminalId: 'SIM0001',
      firmwareVersion: [1, 0, 0],
      protocolVersion: 1,
      maxFrameSize: TERMINAL_MAX_FRAME_SIZE,
      capabilities: SIM_CAPABILITIES | Capability.segments,
    });
  });

  it('echoes Ping data, and answers a Ping without data without data', async () => {
    const t = await start();
    const data = new Uint8Array([0, 1, 2, 0xff]);
    expect(await t.host.expect('PingResult', { type: 'Ping', data }, { clear: true })).toMatchObject({ data });
    const bare = await t.host.expect('PingResult', { type: 'Ping' }, { clear: true });
    expect('data' in bare).toBe(false);
  });

  it('completes a handshake whose device certificate verifies under the vendor root', async () => {
    const t = await start();
    const s = await t.host.handshake();
    const cert = verifyDeviceCertificate(s.device.bytes, vendorKeys, nowS(), ed);
    expect(cert.terminalId).toBe('SIM0001');
    const pong = await t.host.expect('PingResult', { type: 'Ping', data: new Uint8Array([7]) });
    expect(pong.data).toEqual(new Uint8Array([7]));
    expect(t.host.sealed[t.host.sealed.length - 1]).toBe(true);
  });

  it('refuses a low-order host key with HANDSHAKE_FAILED', async () => {
    const t = await start();
    const r = await t.host.request({ type: 'Handshake', hostEphemeralKey: new Uint8Array(32), hostNonce: nonce() }, { clear: true });
    expect(errorName(r)).toBe('HANDSHAKE_FAILED');
    expect(t.terminal.connection.hasSession).toBe(false);
  });
});

describe('diagnostics and housekeeping', () => {
  it('reports status: state, card, uptime, link counters, slots and clock', async () => {
    const { h } = await session({ card: 'PSD-000002' });
    const st = await h.expect('StatusResult', { type: 'Status' });
    expect(st.state).toBe('ready');
    expect(st.cardPresent).toBe(true);
    expect(st.firmwareSlots).toEqual([
      { slot: 0, version: [1, 0, 0], state: 'running' },
      { slot: 1, version: null, state: 'empty' },
    ]);
    expect(st.link.rxFrames).toBe(2); // Handshake and this Status
    expect(st.link.txFrames).toBe(1); // the HandshakeResult
    expect(typeof st.unixMs).toBe('number');
  });

  it('runs a self test over every component', async () => {
    const { h } = await session({ card: 'PSD-000001' });
    const r = await h.expect('SelfTestResult', { type: 'SelfTest' });
    expect(r.results.map((x) => x.component)).toEqual(['card_reader', 'secure_element', 'fingerprint', 'display', 'clock', 'storage']);
    expect(r.results.every((x) => x.ok)).toBe(true);
  });

  it('shows host text, built-in prompts, and reverts to idle after durationMs', async () => {
    const clock = new ManualClock();
    const { h, terminal } = await session({ clock });
    await h.expect('DisplayResult', { type: 'Display', lines: [{ ar: 'مرحبا', en: 'Hello' }] });
    expect(terminal.display.current.lines).toEqual([{ ar: 'مرحبا', en: 'Hello' }]);
    await h.expect('DisplayResult', { type: 'Display', prompt: 'insert_card', durationMs: 1000 });
    expect(terminal.display.current.source).toBe('insert_card');
    await clock.advanceAsync(1000);
    expect(terminal.display.current.source).toBe('ready');
    await h.expect('DisplayResult', { type: 'Display', prompt: 'out_of_service' });
    expect(terminal.display.current.lines[0]?.en).toBe('Out of service');
  });

  it('refuses a Display with both lines and prompt with INVALID_MESSAGE under its id', async () => {
    const { h } = await session();
    // The host's encoder refuses such a message, so the bytes are made by hand.
    const id = h.id();
    const bytes = encodeCanonical(new Map<number, unknown>([[0, 0x0a], [1, id], [2, [new Map([[0, 'a'], [1, 'a']])]], [3, 0]]) as never);
    const from = h.mark;
    for (const u of h.channel.sendPayload(bytes)) h.sendRaw(u);
    const r = await h.waitFor((m) => m.id === id, from);
    expect(errorName(r)).toBe('INVALID_MESSAGE');
  });

  it('sets the clock and reports the previous time', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const { h, terminal } = await session({ clock });
    const target = Date.UTC(2027, 5, 1, 12);
    const r = await h.expect('SetTimeResult', { type: 'SetTime', unixMs: target });
    expect(r.previousUnixMs).toBe(Date.UTC(2026, 0, 1));
    expect(terminal.clock.now()).toBe(target);
  });

  it('pages through the event log by sequence number', async () => {
    const { h, terminal } = await session();
    for (let i = 0; i < 10; i++) terminal.firmware.log.append('info', 'test', `entry ${i}`);
    const first = await h.expect('ReadLogResult', { type: 'ReadLog', sinceSeq: 0, max: 4 });
    expect(first.entries).toHaveLength(4);
    expect(first.entries[0]?.event).toBe('boot');
    const second = await h.expect('ReadLogResult', { type: 'ReadLog', sinceSeq: first.nextSeq, max: 64 });
    expect(second.entries[0]?.seq).toBe(first.nextSeq);
    expect(second.entries.map((e) => e.detail)).toContain('entry 9');
    const third = await h.expect('ReadLogResult', { type: 'ReadLog', sinceSeq: second.nextSeq, max: 64 });
    expect(third.entries).toEqual([]);
    expect(third.nextSeq).toBe(second.nextSeq);
  });

  it('cuts a log page to what one 4 KiB frame holds', async () => {
    const { h, terminal } = await session();
    for (let i = 0; i < 64; i++) terminal.firmware.log.append('info', 'long', 'x'.repeat(250));
    const page = await h.expect('ReadLogResult', { type: 'ReadLog', sinceSeq: 0, max: 64 });
    expect(page.entries.length).toBeGreaterThan(5);
    expect(page.entries.length).toBeLessThan(64);
    const next = await h.expect('ReadLogResult', { type: 'ReadLog', sinceSeq: page.nextSeq, max: 64 });
    expect(next.entries[0]?.seq).toBe(page.nextSeq);
  });

  it('reboots on request: answer first, then banner again, no session', async () => {
    const { h, terminal } = await session();
    await h.expect('RebootResult', { type: 'Reboot', mode: 'normal' });
    await h.waitForBanner(2);
    expect(terminal.connection.hasSession).toBe(false);
    // The host's old session is gone on the terminal: told at once, under id 0.
    const from = h.mark;
    h.send({ type: 'Status', id: h.id() });
    const err = await h.waitFor((m) => m.type === 'Error', from);
    expect(err.id).toBe(0);
    expect(errorName(err)).toBe('SESSION_REQUIRED');
    await h.handshake();
    expect((await h.request({ type: 'Status' })).type).toBe('StatusResult');
  });
});

describe('card', () => {
  it('sends CardInserted and CardRemoved inside a session', async () => {
    const { h, terminal } = await session();
    const from = h.mark;
    await terminal.insertCard('PSD-000001');
    const ins = await h.waitFor((m) => m.type === 'CardInserted', from);
    expect(ins).toMatchObject({ id: 0, cardId: 'PSD-000001' });
    if (ins.type !== 'CardInserted') throw new Error('unreachable');
    expect(verifyCardCertificate(ins.cardCertificate, issuerKeys, nowS(), ed).cardId).toBe('PSD-000001');
    terminal.removeCard();
    expect(await h.waitFor((m) => m.type === 'CardRemoved', from)).toMatchObject({ id: 0, cardId: 'PSD-000001' });
  });

  it('answers CardWait at once when a card is present', async () => {
    const { h } = await session({ card: 'PSD-000002' });
    const r = await h.expect('CardWaitResult', { type: 'CardWait', timeoutMs: 1000 });
    expect(r.cardId).toBe('PSD-000002');
  });

  it('waits for a card with keepalive waiting_card, then answers', async () => {
    const { h, terminal } = await session();
    const id = h.id();
    const answer = h.request({ type: 'CardWait', id, timeoutMs: 60_000 });
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id);
    expect(h.keepalives(id)[0]?.status).toBe('waiting_card');
    expect(terminal.display.current.source).toBe('insert_card');
    await terminal.insertCard('PSD-000001');
    expect(await answer).toMatchObject({ type: 'CardWaitResult', id, cardId: 'PSD-000001' });
  });

  it('ends CardWait with TIMEOUT', async () => {
    const clock = new ManualClock();
    const { h } = await session({ clock });
    const id = h.id();
    const answer = h.request({ type: 'CardWait', id, timeoutMs: 5000 });
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id);
    await clock.advanceAsync(5000);
    expect(errorName(await answer)).toBe('TIMEOUT');
  });

  it('signs a card authentication that verifies under the issuer chain, counter advancing', async () => {
    const { h } = await session({ card: 'PSD-000001' });
    const tx = { service: 'bread' as const, quantity: 20, shopId: 'BAKERY-PSD-17', terminalId: 'SIM0001', time: nowS() };
    const n1 = nonce();
    const r1 = await h.expect('CardAuthenticateResult', { type: 'CardAuthenticate', nonce: n1, ...tx });
    const cert = verifyCardCertificate(r1.cardCertificate, issuerKeys, nowS(), ed);
    const fields = { nonce: n1, cardId: cert.cardId, service: Service.values.bread, quantity: 20, shopId: tx.shopId, terminalId: 'SIM0001', time: tx.time, counter: r1.counter };
    expect(verifyCardAuth(ed, cert.subjectPublicKey, { body: buildCardAuthBody(fields), signature: r1.signature }, n1)).toMatchObject({ counter: 1 });
    const r2 = await h.expect('CardAuthenticateResult', { type: 'CardAuthenticate', nonce: nonce(), ...tx });
    expect(r2.counter).toBe(r1.counter + 1);
    // A signature over one transaction does not verify for another quantity.
    expect(() => verifyCardAuth(ed, cert.subjectPublicKey, { body: buildCardAuthBody({ ...fields, quantity: 21 }), signature: r1.signature }, n1)).toThrow();
  });

  it('refuses card authentication without a card (NO_CARD) or for another terminal id (INVALID_MESSAGE)', async () => {
    const { h, terminal } = await session();
    const tx = { nonce: nonce(), service: 'ration' as const, quantity: 1, shopId: 'S', time: nowS() };
    expect(errorName(await h.request({ type: 'CardAuthenticate', ...tx, terminalId: 'SIM0001' }))).toBe('NO_CARD');
    await terminal.insertCard('PSD-000001');
    expect(errorName(await h.request({ type: 'CardAuthenticate', ...tx, terminalId: 'SIM9999' }))).toBe('INVALID_MESSAGE');
  });
});

describe('holder verification', () => {
  async function verifySignature(
    r: Extract<Message, { type: 'VerifyHolderResult' }>,
    n: Uint8Array,
    requested: number | null,
    cardCert: Uint8Array,
  ): Promise<void> {
    const cert = verifyCardCertificate(cardCert, issuerKeys, nowS(), ed);
    const memberIndex = r.member ?? requested ?? ANY_MEMBER_INDEX;
    const body = buildHolderVerifyBody({ nonce: n, cardId: cert.cardId, memberIndex, result: r.result as HolderResultName, attempts: r.attemptsUsed });
    expect(verifyHolderVerify(ed, cert.subjectPublicKey, { body, signature: r.signature }, n).result).toBe(r.result);
  }

  async function cardCert(h: TestHost): Promise<Uint8Array> {
    return (await h.expect('CardWaitResult', { type: 'CardWait', timeoutMs: 1 })).cardCertificate;
  }

  it('matches a member after retry statuses, forwarding them as keepalives', async () => {
    const { h, terminal } = await session({ card: 'PSD-000001' });
    const cert = await cardCert(h);
    terminal.control({ cmd: 'finger', finger: 'not_centred' });
    await terminal.control({ cmd: 'finger', finger: 'unknown' });
    await terminal.control({ cmd: 'finger', finger: 1 });
    const n = nonce();
    const id = h.id();
    const r = await h.expect('VerifyHolderResult', { type: 'VerifyHolder', id, nonce: n, member: 1, timeoutMs: 10_000, maxAttempts: 3 });
    expect(r).toMatchObject({ result: 'match', member: 1, attemptsUsed: 2 });
    await verifySignature(r, n, 1, cert);
    const statuses = h.keepalives(id).map((k) => k.status);
    expect(statuses).toContain('waiting_finger');
    expect(statuses).toContain('finger_not_centred');
    expect(statuses).toContain('lift_and_retry');
    expect(h.keepalives(id).some((k) => k.attempt === 2)).toBe(true);
    expect(terminal.display.current.source).toBe('holder_verified');
  });

  it('ends with a signed no_match after maxAttempts, then the card attempt limit refuses more', async () => {
    const { h, terminal } = await session({ card: 'PSD-000002' });
    const cert = await cardCert(h);
    await terminal.control({ cmd: 'finger', finger: 'unknown', count: 2 });
    const n = nonce();
    const r = await h.expect('VerifyHolderResult', { type: 'VerifyHolder', nonce: n, member: 0, timeoutMs: 10_000, maxAttempts: 2 });
    expect(r).toMatchObject({ result: 'no_match', member: null, attemptsUsed: 2 });
    await verifySignature(r, n, 0, cert);
    // The card allows 3 failures per member per card session: one more, then none.
    await terminal.control({ cmd: 'finger', finger: 'unknown' });
    const r2 = await h.expect('VerifyHolderResult', { type: 'VerifyHolder', nonce: nonce(), member: 0, timeoutMs: 10_000, maxAttempts: 5 });
    expect(r2).toMatchObject({ result: 'no_match', attemptsUsed: 1 });
    expect(errorName(await h.request({ type: 'VerifyHolder', nonce: nonce(), member: 0, timeoutMs: 10_000, maxAttempts: 5 }))).toBe('ATTEMPTS_EXHAUSTED');
    // Another household member may still verify.
    await terminal.control({ cmd: 'finger', finger: 1 });
    const n3 = nonce();
    const r3 = await h.expect('VerifyHolderResult', { type: 'VerifyHolder', nonce: n3, member: 1, timeoutMs: 10_000, maxAttempts: 3 });
    expect(r3).toMatchObject({ result: 'match', member: 1, attemptsUsed: 1 });
    await verifySignature(r3, n3, 1, cert);
  });

  it('verifies "any member" and signs the member that matched', async () => {
    const { h, terminal } = await session({ card: 'PSD-000001' });
    const cert = await cardCert(h);
    await terminal.control({ cmd: 'finger', finger: 3 });
    const n = nonce();
    const r = await h.expect('VerifyHolderResult', { type: 'VerifyHolder', nonce: n, member: null, timeoutMs: 10_000, maxAttempts: 1 });
    expect(r).toMatchObject({ result: 'match', member: 3 });
    await verifySignature(r, n, null, cert);
  });

  it('ends with a signed timeout when nobody puts a finger down', async () => {
    const clock = new ManualClock();
    const { h } = await session({ card: 'PSD-000001', clock });
    const cert = await cardCert(h);
    const n = nonce();
    const id = h.id();
    const answer = h.request({ type: 'VerifyHolder', id, nonce: n, member: 0, timeoutMs: 3000, maxAttempts: 3 });
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id);
    await clock.advanceAsync(3000);
    const r = await answer;
    if (r.type !== 'VerifyHolderResult') throw new Error(`got ${r.type}`);
    expect(r).toMatchObject({ result: 'timeout', attemptsUsed: 0 });
    await verifySignature(r, n, 0, cert);
  });

  it('refuses an unknown member (NO_SUCH_MEMBER) and a missing card (NO_CARD)', async () => {
    const { h, terminal } = await session({ card: 'PSD-000003' });
    expect(errorName(await h.request({ type: 'VerifyHolder', nonce: nonce(), member: 9, timeoutMs: 100, maxAttempts: 1 }))).toBe('NO_SUCH_MEMBER');
    terminal.removeCard();
    expect(errorName(await h.request({ type: 'VerifyHolder', nonce: nonce(), member: 0, timeoutMs: 100, maxAttempts: 1 }))).toBe('NO_CARD');
  });

  it('ends with CARD_REMOVED when the card leaves mid-verification', async () => {
    const { h, terminal } = await session({ card: 'PSD-000001' });
    const id = h.id();
    const answer = h.request({ type: 'VerifyHolder', id, nonce: nonce(), member: 0, timeoutMs: 60_000, maxAttempts: 3 });
    await h.waitFor((m) => m.type === 'Keepalive' && m.id === id);
    terminal.removeCard();
    expect(errorName(await answer)).toBe('CARD_REMOVED');
  });
});

describe('firmware update', () => {
  it('uploads, resumes after an interruption, verifies, test-boots and confirms', async () => {
    const { h, terminal } = await session();
    const img = await firmware('update');
    const begin = await h.expect('FirmwareBeginResult', { type: 'FirmwareBegin', imageHeader: img.header, totalSize: img.body.length });
    expect(begin.resumeOffset).toBe(0);
    await upload(h, img.body, 0, 4096);
    expect(terminal.firmware.firmwareStatus(1)).toMatchObject({ state: 'receiving', uploadOffset: 4096 });
    // The host reconnects (a new handshake) and begins again: the terminal resumes by image hash.
    await h.handshake();
    const again = await h.expect('FirmwareBeginResult', { type: 'FirmwareBegin', imageHeader: img.header, totalSize: img.body.length });
    expect(again.resumeOffset).toBe(4096);
    // A chunk at the wrong offset is refused with the expected one in the message.
    const bad = await h.request({ type: 'FirmwareChunk', offset: 0, data: img.body.subarray(0, 16) });
    expect(errorName(bad)).toBe('FIRMWARE_BAD_OFFSET');
    await upload(h, img.body, 4096);
    expect((await h.expect('FirmwareFinishResult', { type: 'FirmwareFinish' })).state).toBe('pending');
    expect(await h.expect('FirmwareStatusResult', { type: 'FirmwareStatus' })).toMatchObject({ state: 'pending', pendingVersion: [1, 1, 0], runningVersion: [1, 0, 0] });
    await h.expect('FirmwareActivateResult', { type: 'FirmwareActivate' });
    const banner = await h.waitForBanner(2);
    expect(banner).toContain('fw=1.1.0');
    await h.handshake();
    expect(await h.expect('FirmwareStatusResult', { type: 'FirmwareStatus' })).toMatchObject({ state: 'testing', runningVersion: [1, 1, 0], pendingVersion: [1, 1, 0] });
    const st = await h.expect('StatusResult', { type: 'Status' });
    expect(st.firmwareSlots).toEqual([{ slot: 1, version: [1, 1, 0], state: 'testing' }]);
    const c = await h.expect('FirmwareConfirmResult', { type: 'FirmwareConfirm' });
    expect(c.antiRollbackCounter).toBe(2);
    // Confirmed: a reboot keeps it.
    await h.expect('RebootResult', { type: 'Reboot', mode: 'normal' });
    expect(await h.waitForBanner(3)).toContain('fw=1.1.0');
    await h.handshake();
    expect(await h.expect('FirmwareStatusResult', { type: 'FirmwareStatus' })).toMatchObject({ state: 'idle', runningVersion: [1, 1, 0], pendingVersion: null });
    // Now 1.0.0 (anti-rollback 1) is a downgrade.
    const factory = await firmware('factory');
    expect(errorName(await h.request({ type: 'FirmwareBegin', imageHeader: factory.header, totalSize: factory.body.length }))).toBe('FIRMWARE_DOWNGRADE');
  });

  it('rolls back an unconfirmed image at the next reboot', async () => {
    const { h } = await session();
    const img = await firmware('update');
    await h.expect('FirmwareBeginResult', { type: 'FirmwareBegin', imageHeader: img.header, totalSize: img.body.length });
    await upload(h, img.body, 0);
    await h.expect('FirmwareFinishResult', { type: 'FirmwareFinish' });
    await h.expect('RebootResult', { type: 'Reboot', mode: 'test_image' });
    expect(await h.waitForBanner(2)).toContain('fw=1.1.0');
    await h.handshake();
    await h.expect('RebootResult', { type: 'Reboot', mode: 'normal' });
    expect(await h.waitForBanner(3)).toContain('fw=1.0.0');
    await h.handshake();
    expect(await h.expect('FirmwareStatusResult', { type: 'FirmwareStatus' })).toMatchObject({ state: 'rolled_back', runningVersion: [1, 0, 0], antiRollbackCounter: 1 });
    expect(errorName(await h.request({ type: 'FirmwareConfirm' }))).toBe('FIRMWARE_NOT_TESTING');
    const log = await h.expect('ReadLogResult', { type: 'ReadLog', sinceSeq: 0, max: 64 });
    expect(log.entries.map((e) => e.event)).toContain('fw_rollback');
    const st = await h.expect('StatusResult', { type: 'Status' });
    expect(st.firmwareSlots).toContainEqual({ slot: 1, version: [1, 1, 0], state: 'invalid' });
  });

  it('refuses a forged image at FirmwareBegin, a downgrade, and a tampered body at FirmwareFinish', async () => {
    const { h } = await session();
    const forged = await firmware('forged');
    expect(errorName(await h.request({ type: 'FirmwareBegin', imageHeader: forged.header, totalSize: forged.body.length }))).toBe('FIRMWARE_BAD_SIGNATURE');
    const down = await firmware('downgrade');
    expect(errorName(await h.request({ type: 'FirmwareBegin', imageHeader: down.header, totalSize: down.body.length }))).toBe('FIRMWARE_DOWNGRADE');
    const tampered = await firmware('tampered');
    await h.expect('FirmwareBeginResult', { type: 'FirmwareBegin', imageHeader: tampered.header, totalSize: tampered.body.length });
    await upload(h, tampered.body, 0);
    expect(errorName(await h.request({ type: 'FirmwareFinish' }))).toBe('FIRMWARE_HASH_MISMATCH');
    expect(await h.expect('FirmwareStatusResult', { type: 'FirmwareStatus' })).toMatchObject({ state: 'idle', uploadOffset: 0 });
    expect(errorName(await h.request({ type: 'FirmwareActivate' }))).toBe('FIRMWARE_NOT_PENDING');
    expect(errorName(await h.request({ type: 'FirmwareChunk', offset: 0, data: new Uint8Array(1) }))).toBe('FIRMWARE_NO_UPLOAD');
    expect(errorName(await h.request({ type: 'Reboot', mode: 'test_image' }))).toBe('FIRMWARE_NOT_PENDING');
  });

  it('reports updating in Status while an upload is in progress', async () => {
    const { h } = await session();
    const img = await firmware('update');
    await h.expect('FirmwareBeginResult', { type: 'FirmwareBegin', imageHeader: img.header, totalSize: img.body.length });
    expect((await h.expect('StatusResult', { type: 'Status' })).state).toBe('updating');
  });
});
