import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import nacl from 'tweetnacl';
import { SessionError } from '../errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { u64be } from './bytes.js';
import { SEAL_MAX_COUNTER, SEAL_MIN_RECORD_LENGTH, SEAL_REPLAY_WINDOW, SealedChannel, sealNonce } from './sealed-channel.js';
import { SodiumSecretBox, tweetnaclSecretBox, type SecretBox } from './secretbox.js';
import type { SessionKeys } from './session-keys.js';

const keys: SessionKeys = { h2t: new Uint8Array(32).fill(0xa1), t2h: new Uint8Array(32).fill(0xb2) };
const sodiumBox = SodiumSecretBox.create();
// The addon ships prebuilt for this project's platforms; a run without it must not pass silently.
const boxes: SecretBox[] = [tweetnaclSecretBox, ...(sodiumBox === undefined ? [] : [sodiumBox])];
const pairOn = (box: SecretBox): { host: SealedChannel; terminal: SealedChannel } => ({
  host: new SealedChannel('host', keys, { box }),
  terminal: new SealedChannel('terminal', keys, { box }),
});
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const code = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof SessionError)) throw e;
    return e.code;
  }
};

it('libsodium secretbox loads here', () => {
  expect(sodiumBox?.name).toBe('libsodium');
});

describe.each(boxes)('SealedChannel on $name', (box) => {
  const pair = (): { host: SealedChannel; terminal: SealedChannel } => pairOn(box);
  it('round-trips both directions with counters starting at 1', () => {
    const { host, terminal } = pair();
    const r1 = host.seal(bytes('ping'));
    expect(r1.subarray(0, 8)).toEqual(u64be(1n));
    expect(r1).toHaveLength(8 + 16 + 4);
    expect(terminal.open(r1)).toEqual(bytes('ping'));
    const r2 = terminal.seal(bytes('pong'));
    expect(r2.subarray(0, 8)).toEqual(u64be(1n));
    expect(host.open(r2)).toEqual(bytes('pong'));
    expect(host.nextSendCounter).toBe(2n);
    expect(host.highestReceivedCounter).toBe(1n);
  });
  it('record = counter ‖ secretbox(k_dir, dir ‖ 0^15 ‖ counter, plaintext)', () => {
    const { host } = pair();
    host.seal(bytes('x'));
    const r = host.seal(bytes('hello'));
    const nonce = sealNonce(0x01, 2n);
    expect(Array.from(nonce)).toEqual([1, ...new Array<number>(15).fill(0), 0, 0, 0, 0, 0, 0, 0, 2]);
    expect(r.subarray(8)).toEqual(nacl.secretbox(bytes('hello'), nonce, keys.h2t));
  });
  it('empty plaintext seals to the minimum record length', () => {
    const { host, terminal } = pair();
    const r = host.seal(new Uint8Array(0));
    expect(r).toHaveLength(SEAL_MIN_RECORD_LENGTH);
    expect(terminal.open(r)).toEqual(new Uint8Array(0));
  });
  it('a replayed record is SEAL_REPLAY and does not change the state', () => {
    const { host, terminal } = pair();
    const r1 = host.seal(bytes('a'));
    terminal.open(r1);
    expect(code(() => terminal.open(r1))).toBe('SEAL_REPLAY');
    expect(terminal.highestReceivedCounter).toBe(1n);
    expect(terminal.open(host.seal(bytes('b')))).toEqual(bytes('b'));
  });
  it('gaps are accepted; a late record opens once inside the window, never twice', () => {
    const { host, terminal } = pair();
    const [r1, r2, r3, r4] = [host.seal(bytes('1')), host.seal(bytes('2')), host.seal(bytes('3')), host.seal(bytes('4'))] as const;
    expect(terminal.open(r1)).toEqual(bytes('1'));
    expect(terminal.open(r3)).toEqual(bytes('3')); // r2 not here yet
    expect(terminal.open(r2)).toEqual(bytes('2')); // late arrival (a segmented packet completing)
    expect(code(() => terminal.open(r2))).toBe('SEAL_REPLAY');
    expect(code(() => terminal.open(r1))).toBe('SEAL_REPLAY');
    expect(code(() => terminal.open(r3))).toBe('SEAL_REPLAY');
    expect(terminal.highestReceivedCounter).toBe(3n);
    expect(terminal.open(r4)).toEqual(bytes('4'));
  });
  it(`the window is ${SEAL_REPLAY_WINDOW} records: older ones are SEAL_REPLAY even if never seen`, () => {
    const { host, terminal } = pair();
    const records = Array.from({ length: SEAL_REPLAY_WINDOW + 2 }, (_, i) => host.seal(bytes(`r${i + 1}`)));
    const last = records[records.length - 1]!; // counter 66
    expect(terminal.open(last)).toEqual(bytes(`r${records.length}`));
    expect(code(() => terminal.open(records[0]!))).toBe('SEAL_REPLAY'); // 65 below
    expect(code(() => terminal.open(records[1]!))).toBe('SEAL_REPLAY'); // 64 below
    expect(terminal.open(records[2]!)).toEqual(bytes('r3')); // 63 below
    expect(code(() => terminal.open(records[2]!))).toBe('SEAL_REPLAY');
    // A jump of more than the window forgets everything below: the old top is now too old.
    const far = new SealedChannel('host', keys, { firstSendCounter: 66n + BigInt(SEAL_REPLAY_WINDOW) + 5n, box }).seal(bytes('far'));
    expect(terminal.open(far)).toEqual(bytes('far'));
    expect(code(() => terminal.open(last))).toBe('SEAL_REPLAY');
  });
  it('a failed record inside the window leaves its counter usable', () => {
    const { host, terminal } = pair();
    const r1 = host.seal(bytes('1'));
    terminal.open(host.seal(bytes('2')));
    const t = new Uint8Array(r1);
    t[t.length - 1] = (t[t.length - 1] as number) ^ 1;
    expect(code(() => terminal.open(t))).toBe('SEAL_AUTH_FAILED');
    expect(terminal.open(r1)).toEqual(bytes('1'));
  });
  it('a record sealed for one direction does not open in the other (reflection)', () => {
    const { host } = pair();
    const other = new SealedChannel('host', keys, { box });
    expect(code(() => other.open(host.seal(bytes('mirror'))))).toBe('SEAL_AUTH_FAILED');
  });
  it('a record under other session keys is SEAL_AUTH_FAILED', () => {
    const { host } = pair();
    const stranger = new SealedChannel('terminal', { h2t: new Uint8Array(32).fill(1), t2h: new Uint8Array(32).fill(2) }, { box });
    expect(code(() => stranger.open(host.seal(bytes('x'))))).toBe('SEAL_AUTH_FAILED');
  });
  it('short records are SEAL_MALFORMED', () => {
    const { terminal } = pair();
    for (let n = 0; n < SEAL_MIN_RECORD_LENGTH; n++) {
      expect(code(() => terminal.open(new Uint8Array(n).fill(0xff)))).toBe('SEAL_MALFORMED');
    }
    expect(code(() => terminal.open('x' as unknown as Uint8Array))).toBe('SEAL_MALFORMED');
  });
  it('counter 0 is never accepted', () => {
    const { terminal } = pair();
    const forged = new Uint8Array(40);
    expect(code(() => terminal.open(forged))).toBe('SEAL_REPLAY');
  });
  it('tampering with any single byte of a record is refused (counter bytes: REPLAY for 0 or an accepted counter, AUTH_FAILED otherwise)', () => {
    const { host, terminal } = pair();
    host.seal(bytes('warm-up'));
    terminal.open(host.seal(bytes('first'))); // highest accepted = 2
    const record = host.seal(bytes('a record of some length')); // counter 3
    for (let i = 0; i < record.length; i++) {
      for (const delta of [0x01, 0x80, 0xff]) {
        const t = new Uint8Array(record);
        t[i] = (t[i] as number) ^ delta;
        const counter = t.subarray(0, 7).every((b) => b === 0) ? (t[7] as number) : 256;
        const expected = counter === 0 || counter === 2 ? 'SEAL_REPLAY' : 'SEAL_AUTH_FAILED';
        expect(code(() => terminal.open(t)), `byte ${i} ^ ${delta}`).toBe(expected);
      }
    }
    // Truncated or extended by one byte: also refused, and the original still opens afterwards.
    expect(code(() => terminal.open(record.subarray(0, record.length - 1)))).toBe('SEAL_AUTH_FAILED');
    expect(code(() => terminal.open(new Uint8Array([...record, 0])))).toBe('SEAL_AUTH_FAILED');
    expect(terminal.open(record)).toEqual(bytes('a record of some length'));
  });
  it('the last counter 2^64−1 is usable, then SEAL_COUNTER_EXHAUSTED', () => {
    const host = new SealedChannel('host', keys, { firstSendCounter: SEAL_MAX_COUNTER, box });
    const terminal = new SealedChannel('terminal', keys, { box });
    const last = host.seal(bytes('last'));
    expect(last.subarray(0, 8)).toEqual(new Uint8Array(8).fill(0xff));
    expect(terminal.open(last)).toEqual(bytes('last'));
    expect(code(() => host.seal(bytes('one more')))).toBe('SEAL_COUNTER_EXHAUSTED');
    expect(code(() => terminal.open(last))).toBe('SEAL_REPLAY');
  });
  it('refuses keys of the wrong length', () => {
    expect(() => new SealedChannel('host', { h2t: new Uint8Array(31), t2h: new Uint8Array(32) })).toThrow(SessionError);
    expect(() => new SealedChannel('host', keys, { firstSendCounter: 0n, box })).toThrow(SessionError);
  });
});

describe.each(boxes)('SealedChannel fuzz on $name', (box) => {
  const pair = (): { host: SealedChannel; terminal: SealedChannel } => pairOn(box);
  const sealCodes = new Set(['SEAL_MALFORMED', 'SEAL_REPLAY', 'SEAL_AUTH_FAILED']);
  it('fuzz: random records end in a typed error only', () => {
    const { terminal } = pair();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (rec) => {
        const c = code(() => terminal.open(rec));
        expect(c !== undefined && sealCodes.has(c)).toBe(true);
      }),
      { numRuns: fuzzRuns(20000) },
    );
  });
  it('fuzz: mutated genuine records end in a typed error only, and the channel keeps working', () => {
    const { host, terminal } = pair();
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 100 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.nat(8),
        (plaintext, flips, cut) => {
          const record = host.seal(plaintext);
          const mutated = new Uint8Array(record);
          for (const [pos, x] of flips) mutated[pos % mutated.length] = (mutated[pos % mutated.length] as number) ^ x;
          const candidate = cut > 0 && cut < 4 ? mutated.subarray(0, Math.max(0, mutated.length - cut * 7)) : mutated;
          const unchanged = candidate.length === record.length && candidate.every((b, i) => b === record[i]);
          if (unchanged) {
            expect(terminal.open(candidate)).toEqual(plaintext); // flips cancelled out
            return;
          }
          const c = code(() => terminal.open(candidate));
          expect(c !== undefined && sealCodes.has(c)).toBe(true);
          expect(terminal.open(record)).toEqual(plaintext);
        },
      ),
      { numRuns: fuzzRuns(20000) },
    );
  });
});
