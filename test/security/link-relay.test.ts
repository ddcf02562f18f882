/**
 * A man in the middle on the cable: the real simulator on a pty, a relay process-side between
 * it and a socat pty pair, and the daemon's TerminalSession on the other end of the pair.
 * The relay re-frames what the terminal sends with a valid CRC, so what reaches the host is a
 * well-formed frame whose sealed record was altered or repeated: only the session layer can
 * tell. Each must be refused with its code (SEAL_AUTH_FAILED, SEAL_REPLAY), have no effect
 * (the card signs once per request: its counter advances once), and the session carries on.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { verifyCardCertificate } from '../../protocol/crypto/certificates.js';
import { encodeFrame, FrameDecoder, MAX_FRAME_SIZE_LIMIT, PacketFlags } from '../../protocol/stream-framing.js';
import type { Link } from '../../link/link.js';
import { SerialLink } from '../../link/serial-link.js';
import { makeTestWorld, type TestWorld } from '../../firmware-sim/terminal/test-world.js';
import { TerminalSession } from '../../daemon/session/index.js';
import { createPtyPair, type PtyPair } from '../support/pty-pair.js';
import { issuerRootsOf, startSim, trustFor, type SimHandle } from '../e2e/sim-harness.js';
import { reportFigures } from '../faults/figures.js';

const ed = new NodeEd25519();

/** Relays bytes both ways; terminal → host frames pass through a decoder so sealed ones can be altered or repeated. */
class TamperRelay {
  tamperNext = 0;
  replayNext = 0;
  tampered = 0;
  replayed = 0;
  private readonly decoder = new FrameDecoder({ maxFrameSize: MAX_FRAME_SIZE_LIMIT });

  constructor(
    private readonly host: Link,
    private readonly terminal: Link,
  ) {
    host.onData((chunk) => void terminal.write(chunk).catch(() => undefined));
    terminal.onData((chunk) => {
      for (const ev of this.decoder.push(chunk)) {
        if (ev.kind !== 'frame') continue;
        const p = ev.packet;
        const frame = encodeFrame(p, { maxFrameSize: MAX_FRAME_SIZE_LIMIT });
        const sealed = (p.flags & PacketFlags.SEALED) !== 0;
        if (sealed && this.tamperNext > 0) {
          this.tamperNext--;
          this.tampered++;
          // One bit inside the ciphertext (after the 8-byte record counter), under a valid CRC.
          const payload = Uint8Array.from(p.payload);
          payload[Math.min(9, payload.length - 1)]! ^= 0x40;
          void host.write(encodeFrame({ ...p, payload }, { maxFrameSize: MAX_FRAME_SIZE_LIMIT })).catch(() => undefined);
          continue;
        }
        void host.write(frame).catch(() => undefined);
        if (sealed && this.replayNext > 0) {
          this.replayNext--;
          this.replayed++;
          void host.write(frame).catch(() => undefined);
        }
      }
    });
  }
}

let world: TestWorld;
let issuers: Map<string, Uint8Array>;
let sim: SimHandle;
let cable: PtyPair;
let relay: TamperRelay;
let session: TerminalSession;
let termLink: Link;

beforeAll(async () => {
  world = await makeTestWorld();
  issuers = await issuerRootsOf(world);
  sim = await startSim({ world, link: 'pty', args: ['--no-pace'] });
  cable = await createPtyPair();
  termLink = await SerialLink.open(sim.ptyPath!);
  relay = new TamperRelay(await SerialLink.open(cable.b), termLink);
  // Whole frames: these attacks are on the seal. (A replayed segment is a duplicate the
  // reassembler drops, and a packet rebuilt from old segments meets the same replay rule.)
  session = await TerminalSession.open(await SerialLink.open(cable.a), { trust: await trustFor(world), bannerTimeoutMs: 0, segmentation: false });
}, 60_000);

afterAll(async () => {
  await session?.close();
  await termLink?.close();
  await cable?.close();
  await sim?.stop();
  await world?.cleanup();
});

const nowS = (): number => Math.floor(Date.now() / 1000);

async function authenticate(id: number): Promise<{ counter: number; cardId: string }> {
  const nonce = new Uint8Array(randomBytes(32));
  const r = await session.request({ type: 'CardAuthenticate', nonce, service: 'bread', quantity: 5, shopId: 'BAKERY-MITM', terminalId: 'SIM0001', time: nowS() }, { id });
  const cert = verifyCardCertificate(r.cardCertificate, issuers, nowS(), ed);
  return { counter: r.counter, cardId: cert.cardId };
}

async function cardCounter(): Promise<number> {
  const st = (await sim.control({ cmd: 'status' })) as unknown as { status: { card: { counter: number } } };
  return st.status.card.counter;
}

describe('frames altered or replayed on the link, inside the sealed session', () => {
  it('a tampered sealed frame is refused (SEAL_AUTH_FAILED), has no effect, and the request still completes once', async () => {
    expect((await sim.control({ cmd: 'insert', card: 'PSD-000002' })).ok).toBe(true);
    const before = await cardCounter();
    relay.tamperNext = 1;
    const r = await authenticate(7001);
    expect(relay.tampered).toBe(1);
    expect(session.counters().sealErrors.SEAL_AUTH_FAILED ?? 0).toBeGreaterThanOrEqual(1);
    expect(r).toMatchObject({ cardId: 'PSD-000002', counter: before + 1 });
    // The resend was answered from the terminal's cache: the card signed once.
    expect(await cardCounter()).toBe(before + 1);
  }, 30_000);

  it('a replayed sealed frame is refused (SEAL_REPLAY) and changes nothing', async () => {
    const before = await cardCounter();
    relay.replayNext = 1;
    const r = await authenticate(7002);
    expect(relay.replayed).toBe(1);
    // The copy arrives right behind the original; give the host a moment to read it.
    for (let i = 0; i < 50 && (session.counters().sealErrors.SEAL_REPLAY ?? 0) === 0; i++) await new Promise((res) => setTimeout(res, 20));
    expect(session.counters().sealErrors.SEAL_REPLAY ?? 0).toBeGreaterThanOrEqual(1);
    expect(r.counter).toBe(before + 1);
    expect(await cardCounter()).toBe(before + 1);
    // The session is still good.
    expect((await authenticate(7003)).counter).toBe(before + 2);
    reportFigures({ campaign: 'link-mitm', attacksTried: relay.tampered + relay.replayed, attacksRefused: (session.counters().sealErrors.SEAL_AUTH_FAILED ?? 0) >= 1 && (session.counters().sealErrors.SEAL_REPLAY ?? 0) >= 1 ? 2 : 0 });
  }, 30_000);
});
