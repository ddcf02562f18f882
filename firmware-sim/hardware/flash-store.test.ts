import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempPathFor } from './atomic-file.js';
import { FlashStore, type FirmwareHeaderInfo, type FirmwareVerifier, type FlashStep } from './flash-store.js';
import { HardwareError } from './hardware-error.js';
import { seededRandomBytes } from './random.js';

// A stand-in header format for these tests: JSON with a "sig" field the fake verifier
// accepts when it says "good". The real header (protocol/crypto) is tested in
// firmware-verifier.test.ts; the flash logic does not depend on its bytes.
interface FakeHeader {
  version: string;
  antiRollback: number;
  size: number;
  bodyHash: string;
  sig: 'good' | 'bad';
}

const sha512 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha512').update(b).digest());

function makeImage(version: string, antiRollback: number, size: number, opts: { sig?: 'good' | 'bad'; bodyFor?: Uint8Array } = {}) {
  const body = seededRandomBytes(`body ${version}`)(size);
  const header: FakeHeader = {
    version,
    antiRollback,
    size,
    bodyHash: Buffer.from(sha512(opts.bodyFor ?? body)).toString('hex'),
    sig: opts.sig ?? 'good',
  };
  return { header: new TextEncoder().encode(JSON.stringify(header)), body };
}

const fakeVerifier: FirmwareVerifier = {
  verifyHeader(bytes: Uint8Array): FirmwareHeaderInfo {
    let h: FakeHeader;
    try {
      h = JSON.parse(new TextDecoder().decode(bytes)) as FakeHeader;
    } catch {
      throw new HardwareError('FIRMWARE_BAD_HEADER', 'not a header');
    }
    if (h.sig !== 'good') throw new HardwareError('FIRMWARE_BAD_SIGNATURE', 'bad vendor signature');
    return {
      vendor: 'acme',
      model: 'T1',
      version: h.version.split('.').map(Number) as [number, number, number],
      antiRollback: h.antiRollback,
      size: h.size,
      bodyHash: new Uint8Array(Buffer.from(h.bodyHash, 'hex')),
    };
  },
};

const factory = makeImage('1.0.0', 1, 3000);
const v11 = makeImage('1.1.0', 2, 10_000);

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-flash-'));
  path = join(dir, 'flash.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const openStore = (onStep?: (s: FlashStep) => void): Promise<FlashStore> =>
  FlashStore.open(path, { verifier: fakeVerifier, factory, ...(onStep ? { onStep } : {}) });

async function upload(store: FlashStore, img: { header: Uint8Array; body: Uint8Array }, chunk = 1024): Promise<void> {
  let { offset } = await store.begin(img.header, img.body.length);
  while (offset < img.body.length) offset = await store.write(offset, img.body.subarray(offset, offset + chunk));
  await store.finish();
}

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HardwareError);
    return (e as HardwareError).code;
  }
  throw new Error('expected a HardwareError');
};

describe('FlashStore', () => {
  it('starts with the factory image confirmed in slot A', async () => {
    const store = await openStore();
    const s = store.status();
    expect(s.running).toBe('A');
    expect(s.runningVersion).toEqual([1, 0, 0]);
    expect(s.antiRollback).toBe(1);
    expect(s.testBoot).toBe(false);
    expect(s.slots.A?.state).toBe('confirmed');
    expect(s.slots.B).toBeNull();
    expect(new Uint8Array(await readFile(store.slotPath('A')))).toEqual(factory.body);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('refuses to create a store without a factory image, or from a damaged one', async () => {
    expect(await codeOf(FlashStore.open(path, { verifier: fakeVerifier }))).toBe('STORAGE_CORRUPT');
    const damaged = { header: factory.header, body: factory.body.slice(1) };
    expect(await codeOf(FlashStore.open(path, { verifier: fakeVerifier, factory: damaged }))).toBe('FIRMWARE_TOO_LARGE');
  });

  it('updates: upload, finish → pending, activate, reboot → test boot, confirm → counter raised', async () => {
    const store = await openStore();
    await upload(store, v11);
    expect(store.status().slots.B?.state).toBe('pending');
    expect(store.status().runningVersion).toEqual([1, 0, 0]);
    await store.activate();
    expect(store.status().bootNext).toBe('B');
    const boot = await store.reboot();
    expect(boot).toEqual({ mode: 'test', running: 'B', version: [1, 1, 0] });
    expect(store.status().testBoot).toBe(true);
    expect(store.status().antiRollback).toBe(1);
    await store.confirm();
    expect(store.status().antiRollback).toBe(2);
    expect(store.status().slots.B?.state).toBe('confirmed');
    // Confirmed: a reboot keeps it.
    expect(await store.reboot()).toEqual({ mode: 'normal', running: 'B', version: [1, 1, 0] });
    // And the state is on disk.
    const again = await openStore();
    expect(again.status().runningVersion).toEqual([1, 1, 0]);
    expect(again.status().antiRollback).toBe(2);
    expect(new Uint8Array(await readFile(again.slotPath('B')))).toEqual(v11.body);
  });

  it('rolls back a test image that was not confirmed before the next reboot', async () => {
    const store = await openStore();
    await upload(store, v11);
    await store.activate();
    await store.reboot();
    const boot = await store.reboot();
    expect(boot).toEqual({ mode: 'rolled_back', running: 'A', version: [1, 0, 0], rejectedVersion: [1, 1, 0] });
    const s = store.status();
    expect(s.testBoot).toBe(false);
    expect(s.slots.B?.state).toBe('rejected');
    expect(s.antiRollback).toBe(1);
    expect(await codeOf(store.confirm())).toBe('FIRMWARE_NOT_TESTING');
    // A rolled-back image cannot be activated again without a new upload.
    expect(await codeOf(store.activate())).toBe('FIRMWARE_NOT_PENDING');
  });

  it('rolls back after a restart of the process too (power cut during the trial)', async () => {
    const store = await openStore();
    await upload(store, v11);
    await store.activate();
    await store.reboot();
    const reopened = await openStore();
    expect((await reopened.reboot()).mode).toBe('rolled_back');
  });

  it('refuses a bad signature at begin, and a downgrade below the anti-rollback counter', async () => {
    const store = await openStore();
    const forged = makeImage('1.1.0', 2, 100, { sig: 'bad' });
    expect(await codeOf(store.begin(forged.header, 100))).toBe('FIRMWARE_BAD_SIGNATURE');
    const old = makeImage('0.9.0', 0, 100);
    expect(await codeOf(store.begin(old.header, 100))).toBe('FIRMWARE_DOWNGRADE');
    expect(store.status().staging).toBeNull();
  });

  it('refuses a downgrade that became one during the upload (counter raised meanwhile)', async () => {
    // Same counter as the device at begin: allowed (a same-level reinstall).
    const store = await openStore();
    const v12 = makeImage('1.2.0', 2, 500);
    const same = makeImage('1.0.1', 1, 500);
    await upload(store, v12);
    await store.activate();
    await store.reboot();
    await store.confirm(); // counter now 2
    expect(await codeOf(store.begin(same.header, 500))).toBe('FIRMWARE_DOWNGRADE');
  });

  it('refuses a body that does not hash to the header value, and drops the upload', async () => {
    const store = await openStore();
    const body = seededRandomBytes('other body')(2048);
    const lying = makeImage('1.1.0', 2, 2048, { bodyFor: seededRandomBytes('claimed')(2048) });
    let { offset } = await store.begin(lying.header, 2048);
    while (offset < 2048) offset = await store.write(offset, body.subarray(offset, offset + 512));
    expect(await codeOf(store.finish())).toBe('FIRMWARE_HASH_MISMATCH');
    expect(store.status().staging).toBeNull();
    expect(store.status().slots.B).toBeNull();
    expect(await codeOf(store.write(2048, new Uint8Array(1)))).toBe('FIRMWARE_NO_UPLOAD');
  });

  it('enforces offsets and sizes', async () => {
    const store = await openStore();
    expect(await codeOf(store.write(0, new Uint8Array(4)))).toBe('FIRMWARE_NO_UPLOAD');
    expect(await codeOf(store.finish())).toBe('FIRMWARE_NO_UPLOAD');
    expect(await codeOf(store.begin(v11.header, 9_999))).toBe('FIRMWARE_TOO_LARGE');
    await store.begin(v11.header, v11.body.length);
    const e = await store.write(100, v11.body.subarray(100, 200)).catch((x: unknown) => x as HardwareError);
    expect(e).toBeInstanceOf(HardwareError);
    expect((e as HardwareError).code).toBe('FIRMWARE_BAD_OFFSET');
    expect((e as HardwareError).detail).toEqual({ offset: 100, expected: 0 });
    expect(await store.write(0, v11.body.subarray(0, 100))).toBe(100);
    expect(await codeOf(store.write(0, v11.body.subarray(0, 100)))).toBe('FIRMWARE_BAD_OFFSET');
    expect(await codeOf(store.write(100, new Uint8Array(10_000)))).toBe('FIRMWARE_TOO_LARGE');
    const hugeSize = 17 * 1024 * 1024;
    const hugeHeader = JSON.stringify({ version: '9.0.0', antiRollback: 9, size: hugeSize, bodyHash: '00'.repeat(64), sig: 'good' });
    await store.begin(new TextEncoder().encode(hugeHeader), hugeSize);
    expect(await codeOf(store.write(0, new Uint8Array(hugeSize)))).toBe('FIRMWARE_TOO_LARGE'); // one record at most 16 MiB
    await store.begin(v11.header, v11.body.length);
    await store.write(0, v11.body.subarray(0, 100));
    expect(await codeOf(store.finish())).toBe('FIRMWARE_INCOMPLETE');
    expect(await codeOf(store.activate())).toBe('FIRMWARE_NOT_PENDING');
    expect(await codeOf(store.confirm())).toBe('FIRMWARE_NOT_TESTING');
  });

  it('resumes an interrupted upload at the last offset, keyed by the image hash', async () => {
    const first = await openStore();
    let { offset } = await first.begin(v11.header, v11.body.length);
    while (offset < 4096) offset = await first.write(offset, v11.body.subarray(offset, offset + 1024));
    // The process dies here; a new one opens the same flash.
    const second = await openStore();
    const resumed = await second.begin(v11.header, v11.body.length);
    expect(resumed).toEqual({ offset: 4096, total: v11.body.length, resumed: true });
    offset = resumed.offset;
    while (offset < v11.body.length) offset = await second.write(offset, v11.body.subarray(offset, offset + 1024));
    expect((await second.finish()).version).toEqual([1, 1, 0]);
    expect(new Uint8Array(await readFile(second.slotPath('B')))).toEqual(v11.body);
  });

  it('starts over when a different image begins', async () => {
    const store = await openStore();
    await store.begin(v11.header, v11.body.length);
    await store.write(0, v11.body.subarray(0, 1000));
    const v12 = makeImage('1.2.0', 3, 700);
    expect(await store.begin(v12.header, 700)).toEqual({ offset: 0, total: 700, resumed: false });
    await store.write(0, v12.body);
    expect((await store.finish()).version).toEqual([1, 2, 0]);
  });

  it('abortUpload drops the staging area', async () => {
    const store = await openStore();
    await store.begin(v11.header, v11.body.length);
    await store.write(0, v11.body.subarray(0, 10));
    await store.abortUpload();
    expect(store.status().staging).toBeNull();
    expect((await store.begin(v11.header, v11.body.length)).offset).toBe(0);
  });

  it('refuses a new upload while a test image awaits confirmation', async () => {
    const store = await openStore();
    await upload(store, v11);
    await store.activate();
    await store.reboot();
    expect(await codeOf(store.begin(makeImage('1.2.0', 3, 10).header, 10))).toBe('FIRMWARE_TEST_BOOT_ACTIVE');
  });

  it('does not test-boot an activated image whose body was damaged in flash', async () => {
    const store = await openStore();
    await upload(store, v11);
    await store.activate();
    const damaged = new Uint8Array(await readFile(store.slotPath('B')));
    damaged[5]! ^= 0xff;
    await writeFile(store.slotPath('B'), damaged);
    const boot = await store.reboot();
    expect(boot).toEqual({ mode: 'normal', running: 'A', version: [1, 0, 0], rejectedVersion: [1, 1, 0] });
    expect(store.status().slots.B?.state).toBe('rejected');
  });

  it('ignores a truncated or corrupt temp file left by a crash', async () => {
    const store = await openStore();
    await upload(store, v11);
    const good = await readFile(path, 'utf8');
    for (const junk of ['{"format":"unicard-fla', '\u0000\u0000garbage', '']) {
      await writeFile(tempPathFor(path), junk);
      const again = await openStore();
      expect(again.status().slots.B?.version).toEqual([1, 1, 0]);
      // The next write replaces the stale temp file and still lands.
      await again.activate();
      expect((await openStore()).status().slots.B?.state).toBe('activated');
    }
    expect(good).toContain('"pending"');
  });

  it('reports a corrupt state file as STORAGE_CORRUPT', async () => {
    await openStore();
    for (const junk of ['not json', '{"format":"unicard-flash/1"}', '{}', 'null']) {
      await writeFile(path, junk);
      expect(await codeOf(openStore())).toBe('STORAGE_CORRUPT');
    }
  });

  it('resumes after the last whole, verified chunk when a crash cut or damaged the log', async () => {
    const store = await openStore();
    await store.begin(v11.header, v11.body.length);
    for (let off = 0; off < 3000; off += 1000) await store.write(off, v11.body.subarray(off, off + 1000));
    const log = new Uint8Array(await readFile(store.stagingPath));
    expect(log.length).toBe(3 * (1000 + 8));
    // A chunk cut short by a crash (length and part of the data written, no CRC yet).
    await writeFile(store.stagingPath, log.subarray(0, 2 * 1008 + 500));
    const cut = await openStore();
    expect(cut.status().staging?.offset).toBe(2000);
    expect((await stat(cut.stagingPath)).size).toBe(2 * 1008);
    expect((await cut.begin(v11.header, v11.body.length)).offset).toBe(2000);
    // A damaged byte inside the second record: only the first survives.
    const damaged = Uint8Array.from(log);
    damaged[1008 + 20]! ^= 0x40;
    await writeFile(cut.stagingPath, damaged);
    const third = await openStore();
    expect((await third.begin(v11.header, v11.body.length)).offset).toBe(1000);
    // The upload then completes and is intact.
    let offset = 1000;
    while (offset < v11.body.length) offset = await third.write(offset, v11.body.subarray(offset, offset + 4096));
    await third.finish();
    expect(new Uint8Array(await readFile(third.slotPath('B')))).toEqual(v11.body);
    // A log missing altogether: start again at 0.
    await third.begin(makeImage('1.2.0', 3, 100).header, 100);
    await rm(third.stagingPath);
    expect((await openStore()).status().staging?.offset).toBe(0);
  });

  // Crash at every persistence step of a whole update, reopen, let the host carry on from
  // what the device reports, and check the end state is always the same.
  const steps: FlashStep[] = ['state-temp-written', 'state-renamed', 'staging-data-synced', 'slot-body-written'];
  for (const step of steps) {
    it(`survives a crash at every '${step}' of an update`, async () => {
      let crashes = 0;
      for (let nth = 1; nth <= 30; nth++) {
        await rm(dir, { recursive: true, force: true });
        dir = await mkdtemp(join(tmpdir(), 'unicard-flash-'));
        path = join(dir, 'flash.json');
        await openStore(); // factory state, no crash
        let seen = 0;
        const crashing = await openStore((s) => {
          if (s === step && ++seen === nth) throw new Error('simulated crash');
        });
        let crashed = false;
        try {
          await driveToConfirmed(crashing);
        } catch (e) {
          expect((e as Error).message).toBe('simulated crash');
          crashed = true;
          crashes++;
        }
        const after = await openStore();
        await driveToConfirmed(after);
        const s = after.status();
        expect(s.runningVersion).toEqual([1, 1, 0]);
        expect(s.testBoot).toBe(false);
        expect(s.antiRollback).toBe(2);
        expect(new Uint8Array(await readFile(after.slotPath(s.running)))).toEqual(v11.body);
        if (!crashed) break;
      }
      expect(crashes).toBeGreaterThan(0);
    });
  }
});

/** What a host does: look at the device's state and carry the update to its end. */
async function driveToConfirmed(store: FlashStore): Promise<void> {
  for (let round = 0; round < 10; round++) {
    const s = store.status();
    const running = s.slots[s.running]!;
    const isV11 = (v: readonly number[] | undefined): boolean => v?.join('.') === '1.1.0';
    if (isV11(running.version)) {
      if (s.testBoot) await store.confirm();
      return;
    }
    const other = s.slots[s.running === 'A' ? 'B' : 'A'];
    if (isV11(other?.version) && other?.state === 'activated') {
      await store.reboot();
    } else if (isV11(other?.version) && other?.state === 'pending') {
      await store.activate();
    } else {
      let { offset } = await store.begin(v11.header, v11.body.length);
      while (offset < v11.body.length) offset = await store.write(offset, v11.body.subarray(offset, offset + 2500));
      await store.finish();
    }
  }
  throw new Error('update did not converge');
}
