import { describe, expect, it } from 'vitest';
import { HidMemoryDevice } from '../../link/hid-memory.js';
import { HID_BROADCAST_CID, HidCommand, buildInitResponse, fragmentMessage } from '../../protocol/hid-framing.js';
import { openHidChannel } from './hid-channel.js';

function counterBytes(start: number): (n: number) => Uint8Array {
  let next = start;
  return (n) => Uint8Array.from({ length: n }, () => next++ & 0xff);
}

const answer = (nonce: Uint8Array, cid: number): Uint8Array =>
  buildInitResponse(HID_BROADCAST_CID, { nonce, cid, protocolVersion: 1, deviceVersion: { major: 1, minor: 0, build: 0 }, capabilities: 0 })[0]!;

describe('openHidChannel', () => {
  it('sends INIT with its nonce, ignores answers to other programs, and takes its own', async () => {
    const dev = new HidMemoryDevice();
    const inits: Uint8Array[] = [];
    dev.deviceLink.onData((r) => {
      inits.push(r);
      const nonce = r.slice(7, 15);
      // Another program's answer first, then ours, then noise on another channel.
      void dev.deviceLink.write(answer(Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9), 0x11111111));
      void dev.deviceLink.write(fragmentMessage(0x22222222, HidCommand.MSG, Uint8Array.of(1, 0, 0))[0]!);
      void dev.deviceLink.write(answer(nonce, 0x33333333));
    });
    const host = dev.openHost();
    const codec = await openHidChannel(host, { randomBytes: counterBytes(0x40) });
    expect(codec.state).toBe('open');
    expect(codec.cid).toBe(0x33333333);
    expect(inits).toHaveLength(1);
    expect(Array.from(inits[0]!.subarray(0, 15))).toEqual([0xff, 0xff, 0xff, 0xff, 0x86, 0, 8, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47]);
    expect(codec.counters().foreignInitAnswers).toBe(1);
    expect(host.isOpen).toBe(true);
  });

  it('sends INIT again (with a fresh nonce) when unanswered, and answers to an old nonce do not count', async () => {
    const dev = new HidMemoryDevice();
    const nonces: string[] = [];
    dev.deviceLink.onData((r) => {
      nonces.push(Buffer.from(r.subarray(7, 15)).toString('hex'));
      if (nonces.length === 2) {
        void dev.deviceLink.write(answer(Buffer.from(nonces[0]!, 'hex'), 0x44444444));
        void dev.deviceLink.write(answer(r.slice(7, 15), 0x55555555));
      }
    });
    const codec = await openHidChannel(dev.openHost(), { randomBytes: counterBytes(0), retryMs: 200, attempts: 3 });
    expect(nonces).toEqual(['0001020304050607', '08090a0b0c0d0e0f']);
    expect(codec.cid).toBe(0x55555555);
  });

  it('a device that never answers: TERMINAL_UNRESPONSIVE after the attempts', async () => {
    const dev = new HidMemoryDevice({ path: '/dev/hidraw9' });
    let inits = 0;
    dev.deviceLink.onData(() => inits++);
    const e = await openHidChannel(dev.openHost(), { retryMs: 10, attempts: 2 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'TERMINAL_UNRESPONSIVE' });
    expect((e as Error).message).toContain('/dev/hidraw9');
    expect(inits).toBe(2);
  });

  it('the device unplugged while allocating: the link\'s error', async () => {
    const dev = new HidMemoryDevice();
    dev.deviceLink.onData(() => dev.unplug());
    const e = await openHidChannel(dev.openHost(), { retryMs: 1000 }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'LINK_IO' });
  });
});
