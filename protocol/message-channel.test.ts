import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MessageChannel, StreamPacketCodec, type ChannelEvent } from './message-channel.js';
import { encodeFrame, FrameDecoder } from './stream-framing.js';
import { PacketFlags } from './packet.js';
import { encodeCanonical } from './cbor-codec.js';
import { HostHandshake, TerminalHandshake } from './crypto/handshake.js';
import { issueDeviceCertificate } from './crypto/certificates.js';
import { TweetnaclEd25519 } from './crypto/ed25519.js';
import { TEST_SEEDS, TEST_VALIDITY } from './crypto/crypto-vectors.js';
import type { Message } from './messages.js';
import { fuzzRuns } from '../test/support/fuzz.js';

const ed = new TweetnaclEd25519();
const rng = (n: number) => new Uint8Array(randomBytes(n));

function pair() {
  const host = new MessageChannel({ codec: new StreamPacketCodec() });
  const terminal = new MessageChannel({ codec: new StreamPacketCodec() });
  return { host, terminal };
}

/** Runs the handshake over the two channels, as the daemon and the simulator do. */
function establish(host: MessageChannel, terminal: MessageChannel): void {
  const deviceCertificate = issueDeviceCertificate(ed, TEST_SEEDS.vendorRoot, {
    ...TEST_VALIDITY,
    subjectPublicKey: ed.publicKeyFromSeed(TEST_SEEDS.device),
    terminalId: 'SIM0001',
    vendor: 'SimVendor',
    model: 'SIM-1',
  });
  const hs = new HostHandshake({ ed, randomBytes: rng });
  const hello: Message = { type: 'Handshake', id: 1, hostEphemeralKey: hs.hello.hostEphemeral, hostNonce: hs.hello.hostNonce };
  const [req] = deliver(host.send(hello), terminal);
  expect(req?.kind).toBe('message');
  const th = new TerminalHandshake({ ed, deviceSeed: TEST_SEEDS.device, deviceCertificate, randomBytes: rng });
  const t = th.respond(hs.hello);
  const reply: Message = {
    type: 'HandshakeResult',
    id: 1,
    terminalEphemeralKey: t.reply.terminalEphemeral,
    deviceCertificate: t.reply.deviceCertificate,
    signature: t.reply.signature,
  };
  const [res] = deliver(terminal.send(reply, { clear: true }), host);
  if (res?.kind !== 'message' || res.message.type !== 'HandshakeResult') throw new Error('no handshake result');
  terminal.setSession(t.channel);
  const m = res.message;
  host.setSession(hs.finish({ terminalEphemeral: m.terminalEphemeralKey, deviceCertificate: m.deviceCertificate, signature: m.signature }).channel);
}

function deliver(units: Uint8Array[], to: MessageChannel): ChannelEvent[] {
  return units.flatMap((u) => [...to.receive(u)]);
}

describe('MessageChannel', () => {
  it('carries messages in clear before a handshake', () => {
    const { host, terminal } = pair();
    const events = deliver(host.send({ type: 'GetInfo', id: 7 }), terminal);
    expect(events).toHaveLength(1);
    const ev = events[0]!;
    expect(ev.kind).toBe('message');
    if (ev.kind === 'message') {
      expect(ev.sealed).toBe(false);
      expect(ev.message).toEqual({ type: 'GetInfo', id: 7 });
    }
  });

  it('seals every message after the handshake, both ways, and counts packets', () => {
    const { host, terminal } = pair();
    establish(host, terminal);
    expect(host.hasSession && terminal.hasSession).toBe(true);
    const units = host.send({ type: 'Ping', id: 9, data: new Uint8Array([1, 2, 3]) });
    // The frame is sealed: the plaintext ping bytes are not visible in it.
    const packet = new FrameDecoder().push(units[0]!)[0];
    expect(packet?.kind === 'frame' && packet.packet.flags).toBe(PacketFlags.SEALED);
    const [ev] = deliver(units, terminal);
    expect(ev?.kind === 'message' && ev.sealed).toBe(true);
    expect(ev?.kind === 'message' && ev.message).toEqual({ type: 'Ping', id: 9, data: new Uint8Array([1, 2, 3]) });
    const [back] = deliver(terminal.send({ type: 'PingResult', id: 9, data: new Uint8Array([1, 2, 3]) }), host);
    expect(back?.kind === 'message' && back.message.type).toBe('PingResult');
  });

  it('opens a sealed packet that follows the HandshakeResult in the same chunk with the new session', () => {
    const { host, terminal } = pair();
    const deviceCertificate = issueDeviceCertificate(ed, TEST_SEEDS.vendorRoot, {
      ...TEST_VALIDITY,
      subjectPublicKey: ed.publicKeyFromSeed(TEST_SEEDS.device),
      terminalId: 'SIM0001',
      vendor: 'SimVendor',
      model: 'SIM-1',
    });
    const hs = new HostHandshake({ ed, randomBytes: rng });
    const t = new TerminalHandshake({ ed, deviceSeed: TEST_SEEDS.device, deviceCertificate, randomBytes: rng }).respond(hs.hello);
    const reply = terminal.send(
      { type: 'HandshakeResult', id: 1, terminalEphemeralKey: t.reply.terminalEphemeral, deviceCertificate, signature: t.reply.signature },
      { clear: true },
    );
    terminal.setSession(t.channel);
    const event = terminal.send({ type: 'CardRemoved', id: 0, cardId: 'PS-0001' });
    const kinds: string[] = [];
    for (const ev of host.receive(new Uint8Array([...reply[0]!, ...event[0]!]))) {
      kinds.push(ev.kind === 'message' ? ev.message.type : ev.kind === 'error' ? ev.error.code : 'link');
      if (ev.kind === 'message' && ev.message.type === 'HandshakeResult') {
        const m = ev.message;
        host.setSession(hs.finish({ terminalEphemeral: m.terminalEphemeralKey, deviceCertificate: m.deviceCertificate, signature: m.signature }).channel);
      }
    }
    expect(kinds).toEqual(['HandshakeResult', 'CardRemoved']);
  });

  it('sends in clear on request even with a session (GetInfo, Ping, Handshake)', () => {
    const { host, terminal } = pair();
    establish(host, terminal);
    const [ev] = deliver(host.send({ type: 'GetInfo', id: 3 }, { clear: true }), terminal);
    expect(ev?.kind === 'message' && ev.sealed).toBe(false);
  });

  it('drops a replayed sealed frame with SEAL_REPLAY', () => {
    const { host, terminal } = pair();
    establish(host, terminal);
    const units = host.send({ type: 'Status', id: 11 });
    expect(deliver(units, terminal)[0]?.kind).toBe('message');
    const [again] = deliver(units, terminal);
    expect(again?.kind === 'error' && again.error.code).toBe('SEAL_REPLAY');
  });

  it('refuses a sealed record altered inside a valid frame with SEAL_AUTH_FAILED', () => {
    const { host, terminal } = pair();
    establish(host, terminal);
    const [unit] = host.send({ type: 'Status', id: 12 });
    const ev = new FrameDecoder().push(unit!)[0];
    if (ev?.kind !== 'frame') throw new Error('no frame');
    const payload = new Uint8Array(ev.packet.payload);
    payload[payload.length - 1]! ^= 0x01;
    // A relay that alters bytes and fixes the CRC: only the seal can catch it.
    const forged = encodeFrame({ ...ev.packet, payload });
    const [res] = terminal.receive(forged);
    expect(res?.kind === 'error' && res.error.code).toBe('SEAL_AUTH_FAILED');
    // The genuine frame still opens afterwards: a failed open changes nothing.
    expect([...terminal.receive(unit!)][0]?.kind).toBe('message');
  });

  it('reports a sealed packet before any handshake as SESSION_NOT_ESTABLISHED', () => {
    const { terminal } = pair();
    const [ev] = terminal.receive(encodeFrame({ flags: PacketFlags.SEALED, seq: 0, payload: new Uint8Array(40) }));
    expect(ev?.kind === 'error' && ev.error.code).toBe('SESSION_NOT_ESTABLISHED');
  });

  it('reports an invalid message with the request id it could read', () => {
    const { host, terminal } = pair();
    // A Ping whose data field has the wrong CBOR type.
    const bad = encodeCanonical(new Map<number, import('./cbor-codec.js').CborValue>([[0, 0x02], [1, 77], [2, 'text']]));
    const [ev] = deliver(host.sendPayload(bad), terminal);
    expect(ev?.kind).toBe('error');
    if (ev?.kind === 'error') {
      expect(ev.error.code).toBe('MSG_WRONG_TYPE');
      expect(ev.requestId).toBe(77);
    }
  });

  it('passes framing errors up and goes on with the next frame', () => {
    const { host, terminal } = pair();
    const [good] = host.send({ type: 'GetInfo', id: 5 });
    const corrupt = new Uint8Array(good!);
    corrupt[2]! ^= 0x40;
    const events = [...terminal.receive(new Uint8Array([...corrupt, ...good!]))];
    expect(events.map((e) => e.kind)).toEqual(['error', 'message']);
  });

  it('never throws on random bytes, sealed or not (property)', () => {
    const { host, terminal } = pair();
    establish(host, terminal);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, wrap) => {
        const unit = wrap ? encodeFrame({ flags: PacketFlags.SEALED, seq: 1, payload: bytes }) : bytes;
        for (const ev of terminal.receive(unit)) {
          expect(['message', 'error']).toContain(ev.kind);
          if (ev.kind === 'error') expect(typeof ev.error.code).toBe('string');
        }
      }),
      { numRuns: fuzzRuns(5000) },
    );
  });
});
