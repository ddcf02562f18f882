import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { BaseLink } from '../../link/base-link.js';
import {
  HID_BROADCAST_CID,
  HID_MAX_MESSAGE_SIZE,
  HidCommand,
  HidErrorCode,
  buildInitRequest,
  fragmentMessage,
  parseInitResponse,
} from '../../protocol/hid-framing.js';
import { HidHostPacketCodec } from '../../protocol/hid-packet-codec.js';
import { MessageChannel } from '../../protocol/message-channel.js';
import type { Message } from '../../protocol/messages.js';
import { flushMicrotasks, ManualClock } from '../hardware/clock.js';
import { HidDevicePort } from './hid-device-port.js';
import { SimulatedTerminal } from './simulated-terminal.js';
import { makeTestWorld, type TestWorld } from './test-world.js';

/** The device end as the port sees it: every report it writes is recorded at once. */
class RecordingLink extends BaseLink {
  readonly sent: Uint8Array[] = [];
  constructor() {
    super({ kind: 'hid', path: 'recording' });
  }
  protected rawWrite(report: Uint8Array): Promise<void> {
    this.sent.push(report.slice());
    return Promise.resolve();
  }
  protected async rawClose(): Promise<void> {}
  take(): Uint8Array[] {
    return this.sent.splice(0);
  }
}

function counterBytes(start: number): (n: number) => Uint8Array {
  let next = start;
  return (n) => Uint8Array.from({ length: n }, () => next++ & 0xff);
}

const u32 = (r: Uint8Array, o = 0): number => (((r[o] ?? 0) << 24) | ((r[o + 1] ?? 0) << 16) | ((r[o + 2] ?? 0) << 8) | (r[o + 3] ?? 0)) >>> 0;
/** [cid, cmd, first data byte] of an init packet, for compact assertions. */
const head = (r: Uint8Array): [number, number, number] => [u32(r), r[4] ?? 0, r[7] ?? 0];

let world: TestWorld;
let stateRoot: string;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  [world, stateRoot] = await Promise.all([makeTestWorld(), mkdtemp(join(tmpdir(), 'unicard-hid-port-'))]);
}, 60_000);
afterAll(async () => {
  await world?.cleanup();
  if (stateRoot !== undefined) await rm(stateRoot, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let n = 0;
async function start(options: { maxChannels?: number; maxMessageSize?: number } = {}) {
  const clock = new ManualClock();
  const terminal = await SimulatedTerminal.fromWorld({ worldDir: world.dir, stateDir: join(stateRoot, `s${++n}`), durable: false, clock });
  const port = new HidDevicePort({ terminal, randomBytes: counterBytes(0x10), ...options });
  const link = new RecordingLink();
  port.attach(link);
  cleanups.push(() => {
    port.close();
    terminal.close();
  });
  /** Sends host reports; returns what the device answered synchronously. */
  const send = (...reports: Uint8Array[]): Uint8Array[] => {
    for (const r of reports) port.receive(r);
    return link.take();
  };
  const allocate = (nonce: Uint8Array): number => {
    const [answer] = send(...buildInitRequest(nonce));
    const parsed = parseInitResponse(answer!.slice(7, 7 + 17), nonce);
    return parsed!.cid;
  };
  return { clock, terminal, port, link, send, allocate };
}

const NONCE_A = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const NONCE_B = Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1);

describe('HidDevicePort: channels', () => {
  it('answers INIT on the broadcast channel with our nonce, a fresh CID and the firmware version', async () => {
    const { send, terminal } = await start();
    const [answer, ...rest] = send(...buildInitRequest(NONCE_A));
    expect(rest).toEqual([]);
    expect(head(answer!)).toEqual([HID_BROADCAST_CID, HidCommand.INIT, 1]);
    const r = parseInitResponse(answer!.slice(7, 24), NONCE_A)!;
    expect(r.cid).toBe(0x10111213);
    expect(r.protocolVersion).toBe(1);
    const [major, minor, build] = terminal.firmware.firmwareVersion;
    expect(r.deviceVersion).toEqual({ major, minor, build });
  });

  it('two programs get two channels, each with its own connection', async () => {
    const { allocate, port } = await start();
    const a = allocate(NONCE_A);
    const b = allocate(NONCE_B);
    expect(a).not.toBe(b);
    expect(port.channelIds).toEqual([a, b]);
    expect(port.connectionOf(a)).toBeDefined();
    expect(port.connectionOf(a)).not.toBe(port.connectionOf(b));
  });

  it('INIT on an own channel resynchronises it: same CID, answered on that channel, half message dropped', async () => {
    const { allocate, send, port } = await start();
    const a = allocate(NONCE_A);
    const conn = port.connectionOf(a);
    const half = fragmentMessage(a, HidCommand.MSG, new Uint8Array(100));
    expect(send(half[0]!)).toEqual([]);
    const [init] = fragmentMessage(a, HidCommand.INIT, NONCE_B);
    const [answer] = send(init!);
    expect(head(answer!)).toEqual([a, HidCommand.INIT, 8]);
    expect(parseInitResponse(answer!.slice(7, 24), NONCE_B)!.cid).toBe(a);
    expect(port.connectionOf(a)).toBe(conn);
    // The rest of the dropped message is stray now: counted, not answered.
    expect(send(half[1]!)).toEqual([]);
  });

  it('when all channels are taken the least recently used is reused, and its owner gets INVALID_CHANNEL', async () => {
    const { allocate, send, port } = await start({ maxChannels: 2 });
    const a = allocate(NONCE_A);
    const b = allocate(NONCE_B);
    // Using a makes b the least recently used.
    expect(send(...fragmentMessage(a, HidCommand.PING, Uint8Array.of(1))).map(head)).toEqual([[a, HidCommand.PING, 1]]);
    const c = allocate(Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9));
    expect(port.channelIds).toEqual([a, c]);
    expect(port.counters().channelsEvicted).toBe(1);
    expect(send(...fragmentMessage(b, HidCommand.PING, Uint8Array.of(1))).map(head)).toEqual([[b, HidCommand.ERROR, HidErrorCode.INVALID_CHANNEL]]);
  });

  it('echoes PING on the channel it came from, multi-report too', async () => {
    const { allocate, send } = await start();
    const a = allocate(NONCE_A);
    const data = Uint8Array.from({ length: 200 }, (_, i) => i);
    const request = fragmentMessage(a, HidCommand.PING, data);
    expect(send(...request)).toEqual(request);
  });

  it('a reboot drops every channel', async () => {
    const { allocate, send, terminal, port } = await start();
    const a = allocate(NONCE_A);
    await terminal.reboot();
    expect(send(...fragmentMessage(a, HidCommand.PING, Uint8Array.of(1))).map(head)).toEqual([[a, HidCommand.ERROR, HidErrorCode.INVALID_CHANNEL]]);
    expect(port.channelIds).toEqual([]);
  });
});

describe('HidDevicePort: MSG reaches the channel\'s connection and the answer its channel only', () => {
  it('GetInfo in clear on two channels: each answer on its own channel', async () => {
    const { allocate, send, link, clock } = await start();
    const hosts = [NONCE_A, NONCE_B].map((nonce) => {
      const codec = new HidHostPacketCodec({ randomBytes: () => nonce, now: () => clock.monotonic() });
      const [init] = codec.init();
      const [answer] = send(init!);
      codec.accept(answer!);
      return { codec, channel: new MessageChannel({ codec }) };
    });
    expect(hosts.map((h) => h.codec.state)).toEqual(['open', 'open']);
    const [h0, h1] = hosts as [(typeof hosts)[0], (typeof hosts)[0]];
    send(...h0.channel.send({ type: 'GetInfo', id: 11 }));
    send(...h1.channel.send({ type: 'GetInfo', id: 22 }));
    let sent: Uint8Array[] = [];
    for (let i = 0; i < 50 && sent.length < 2; i++) {
      await flushMicrotasks();
      sent = [...sent, ...link.take()];
    }
    const received = (h: typeof h0): Message[] => sent.flatMap((r) => [...h.channel.receive(r)]).flatMap((e) => (e.kind === 'message' ? [e.message] : []));
    expect(received(h0).map((m) => [m.type, m.id])).toEqual([['GetInfoResult', 11]]);
    expect(received(h1).map((m) => [m.type, m.id])).toEqual([['GetInfoResult', 22]]);
  });
});

describe('HidDevicePort: reassembly errors are answered with ERROR reports', () => {
  it('continuation out of sequence: INVALID_SEQ, and the rest of that message is ignored', async () => {
    const { allocate, send } = await start();
    const a = allocate(NONCE_A);
    const r = fragmentMessage(a, HidCommand.PING, new Uint8Array(200));
    expect(send(r[0]!, r[2]!).map(head)).toEqual([[a, HidCommand.ERROR, HidErrorCode.INVALID_SEQ]]);
    expect(send(r[3]!)).toEqual([]);
  });

  it('a new message before the last ended: CHANNEL_BUSY', async () => {
    const { allocate, send } = await start();
    const a = allocate(NONCE_A);
    const r = fragmentMessage(a, HidCommand.PING, new Uint8Array(200));
    expect(send(r[0]!, r[0]!).map(head)).toEqual([[a, HidCommand.ERROR, HidErrorCode.CHANNEL_BUSY]]);
  });

  it('BCNT over 7,609: INVALID_LEN', async () => {
    const { allocate, send } = await start();
    const a = allocate(NONCE_A);
    const [r] = fragmentMessage(a, HidCommand.MSG, new Uint8Array(10));
    r![5] = (HID_MAX_MESSAGE_SIZE + 1) >>> 8;
    r![6] = (HID_MAX_MESSAGE_SIZE + 1) & 0xff;
    expect(send(r!).map(head)).toEqual([[a, HidCommand.ERROR, HidErrorCode.INVALID_LEN]]);
  });

  it('a channel never allocated: INVALID_CHANNEL; MSG on broadcast: INVALID_CHANNEL on broadcast', async () => {
    const { send } = await start();
    expect(send(...fragmentMessage(0x12345678, HidCommand.MSG, Uint8Array.of(1, 0, 0))).map(head)).toEqual([[0x12345678, HidCommand.ERROR, HidErrorCode.INVALID_CHANNEL]]);
    expect(send(...fragmentMessage(HID_BROADCAST_CID, HidCommand.MSG, Uint8Array.of(1, 0, 0))).map(head)).toEqual([[HID_BROADCAST_CID, HidCommand.ERROR, HidErrorCode.INVALID_CHANNEL]]);
  });

  it('unknown command: INVALID_CMD', async () => {
    const { allocate, send } = await start();
    const a = allocate(NONCE_A);
    expect(send(...fragmentMessage(a, 0x99, Uint8Array.of(1))).map(head)).toEqual([[a, HidCommand.ERROR, HidErrorCode.INVALID_CMD]]);
  });

  it('MSG data that is not a packet: INVALID_PAR', async () => {
    const { allocate, send } = await start();
    const a = allocate(NONCE_A);
    expect(send(...fragmentMessage(a, HidCommand.MSG, Uint8Array.of(2, 0, 0))).map(head)).toEqual([[a, HidCommand.ERROR, HidErrorCode.INVALID_PAR]]);
    expect(send(...fragmentMessage(a, HidCommand.MSG, Uint8Array.of(1))).map(head)).toEqual([[a, HidCommand.ERROR, HidErrorCode.INVALID_PAR]]);
  });

  it('INIT with a nonce that is not 8 bytes: INVALID_LEN on the broadcast channel', async () => {
    const { send } = await start();
    expect(send(...fragmentMessage(HID_BROADCAST_CID, HidCommand.INIT, Uint8Array.of(1, 2, 3))).map(head)).toEqual([[HID_BROADCAST_CID, HidCommand.ERROR, HidErrorCode.INVALID_LEN]]);
  });

  it('only counted, never answered: a report of the wrong size, CID 0, a stray continuation', async () => {
    const { allocate, send, port } = await start();
    const a = allocate(NONCE_A);
    expect(send(new Uint8Array(65), new Uint8Array(63))).toEqual([]);
    const zero = fragmentMessage(a, HidCommand.PING, Uint8Array.of(1))[0]!;
    zero.fill(0, 0, 4);
    expect(send(zero)).toEqual([]);
    const stray = new Uint8Array(64);
    stray.set([a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff, 5]);
    expect(send(stray)).toEqual([]);
    const c = port.counters();
    expect(c.errors).toMatchObject({ HID_REPORT_SIZE: 2, HID_BAD_CHANNEL: 1, HID_UNEXPECTED_CONTINUATION: 1 });
    expect(c.errorsSent).toBe(0);
  });

  it('a host that goes quiet mid-message gets MSG_TIMEOUT after 3 s without sending anything more', async () => {
    const { allocate, send, clock, link } = await start();
    const a = allocate(NONCE_A);
    expect(send(fragmentMessage(a, HidCommand.PING, new Uint8Array(100))[0]!)).toEqual([]);
    clock.advance(3000);
    expect(link.take()).toEqual([]);
    clock.advance(2);
    expect(link.take().map(head)).toEqual([[a, HidCommand.ERROR, HidErrorCode.MSG_TIMEOUT]]);
  });
});

describe('HidDevicePort: hostile reports', () => {
  it('random and mutated reports never throw, and everything the device sends is one 64-byte report', async () => {
    const { allocate, send } = await start();
    const a = allocate(NONCE_A);
    const cidBytes = [a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff];
    const report = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 70 }),
      fc.uint8Array({ minLength: 60, maxLength: 60 }).map((rest) => Uint8Array.from([...cidBytes, ...rest])),
      fc.uint8Array({ minLength: 60, maxLength: 60 }).map((rest) => Uint8Array.from([0xff, 0xff, 0xff, 0xff, ...rest])),
    );
    fc.assert(
      fc.property(fc.array(report, { maxLength: 6 }), (reports) => {
        for (const r of send(...reports)) expect(r.length).toBe(64);
      }),
      { numRuns: fuzzRuns(1000) },
    );
  });
});
