/**
 * The terminal's flash: two firmware image slots (A/B), the running slot, the test-boot
 * state, the anti-rollback counter and an upload staging area, persisted so that a pulled
 * cable or a kill at any instant leaves a consistent store. Implements DESIGN.md §9 as
 * methods the firmware-update handlers call:
 *
 *   begin(header, total) → resume offset      write(offset, bytes) → next offset
 *   finish() → verified image, pending        activate() → test boot at next reboot
 *   reboot() → test boot / rollback           confirm() → permanent, anti-rollback raised
 *
 * Files (all next to `path`):
 * - `path`            the state, JSON, replaced atomically (temp + fsync + rename) on every change
 *                     except upload chunks;
 * - `path.slot-A|B`   the image bodies, each replaced atomically;
 * - `path.staging`    the upload in progress (its header and image hash are in the state): an
 *                     append-only log of chunk records `u32be length ‖ data ‖ u32be CRC-32C`,
 *                     the CRC over (first 8 bytes of the image hash ‖ u32be offset ‖ data).
 * A chunk costs one append and one fdatasync. On open, the log is read up to the first record
 * that is cut short or fails its CRC (a chunk a crash interrupted) and cut there: the bytes
 * held are always a contiguous, verified prefix of the image.
 */
import { open, readFile, truncate } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { crc32c } from '../../protocol/crc32c.js';
import { removeIfExists, SerialQueue, writeFileAtomic, type AtomicWriteStep } from './atomic-file.js';
import { HardwareError } from './hardware-error.js';

/** Slot names. */
export type SlotName = 'A' | 'B';

/** Firmware version [major, minor, patch], as in the signed header. */
export type FirmwareVersion = readonly [number, number, number];

/** "1.1.0" for [1, 1, 0]. */
export function formatVersion(v: FirmwareVersion): string {
  return v.join('.');
}

/** What a verified firmware header says about its image. */
export interface FirmwareHeaderInfo {
  readonly vendor: string;
  readonly model: string;
  readonly version: FirmwareVersion;
  /** The image's anti-rollback counter; images below the device's counter are refused. */
  readonly antiRollback: number;
  /** Body size in bytes. */
  readonly size: number;
  /** SHA-512 of the body (64 bytes); also the key of the upload staging area. */
  readonly bodyHash: Uint8Array;
}

/**
 * Parses a firmware header and checks its vendor signature (and, if the terminal is set up
 * so, vendor and model). Throws HardwareError FIRMWARE_BAD_HEADER, FIRMWARE_BAD_SIGNATURE or
 * FIRMWARE_WRONG_MODEL. Injected so the trusted vendor roots are configuration.
 */
export interface FirmwareVerifier {
  verifyHeader(header: Uint8Array): FirmwareHeaderInfo;
}

/**
 * Life of an image in a slot: `pending` (verified, not activated) → `activated` (test boot
 * at next reboot) → `testing` (running on trial) → `confirmed`; or `rejected` (rolled back,
 * or its body failed the boot-time hash check).
 */
export type SlotState = 'confirmed' | 'pending' | 'activated' | 'testing' | 'rejected';

/** One slot's image. */
export interface SlotInfo {
  readonly header: Uint8Array;
  readonly vendor: string;
  readonly model: string;
  readonly version: FirmwareVersion;
  readonly antiRollback: number;
  readonly size: number;
  readonly bodyHash: Uint8Array;
  readonly state: SlotState;
}

/** The upload in progress. */
export interface StagingInfo {
  readonly imageHash: Uint8Array;
  readonly header: Uint8Array;
  readonly version: FirmwareVersion;
  readonly total: number;
  /** Bytes received so far; the next chunk must start here. */
  readonly offset: number;
}

/** A snapshot for FirmwareStatus / GetInfo. */
export interface FlashStatus {
  readonly running: SlotName;
  readonly runningVersion: FirmwareVersion;
  /** The running image is on trial: confirm it, or the next reboot rolls back. */
  readonly testBoot: boolean;
  /** The slot that the next reboot will test-boot, if any. */
  readonly bootNext: SlotName | null;
  readonly antiRollback: number;
  readonly bootCount: number;
  readonly slots: Readonly<Record<SlotName, SlotInfo | null>>;
  readonly staging: StagingInfo | null;
}

/** What {@link FlashStore.reboot} did. */
export interface BootResult {
  /** normal: same image; test: a newly activated image on trial; rolled_back: trial image dropped. */
  readonly mode: 'normal' | 'test' | 'rolled_back';
  readonly running: SlotName;
  readonly version: FirmwareVersion;
  /** Version that was rolled back, or that failed its boot-time hash check. */
  readonly rejectedVersion?: FirmwareVersion;
}

/** Where a test may simulate a crash (by throwing from {@link FlashStoreOptions.onStep}). */
export type FlashStep =
  | `state-${AtomicWriteStep}`
  | 'staging-data-synced'
  | 'slot-body-written';

/** The factory image a new flash store starts with, in slot A, confirmed. */
export interface FactoryImage {
  readonly header: Uint8Array;
  readonly body: Uint8Array;
}

export interface FlashStoreOptions {
  verifier: FirmwareVerifier;
  /** Required when the store file does not exist yet. */
  factory?: FactoryImage;
  /** fsync every change (default true). Off only for unpaced benchmarks. */
  durable?: boolean;
  /** Test hook: throwing here simulates a crash at that step. */
  onStep?: (step: FlashStep) => void;
}

interface SlotRecord {
  header: string;
  vendor: string;
  model: string;
  version: [number, number, number];
  antiRollback: number;
  size: number;
  bodyHash: string;
  state: SlotState;
}

interface StagingRecord {
  imageHash: string;
  header: string;
  version: [number, number, number];
  total: number;
}

interface FlashRecord {
  format: 'unicard-flash/1';
  running: SlotName;
  testBoot: boolean;
  bootNext: SlotName | null;
  antiRollback: number;
  bootCount: number;
  slots: Record<SlotName, SlotRecord | null>;
  staging: StagingRecord | null;
}

const FORMAT = 'unicard-flash/1';
const SLOT_STATES: readonly SlotState[] = ['confirmed', 'pending', 'activated', 'testing', 'rejected'];

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const other = (s: SlotName): SlotName => (s === 'A' ? 'B' : 'A');

/** Persistent A/B firmware flash; see the module comment. Methods are serialised internally. */
export class FlashStore {
  private readonly queue = new SerialQueue();
  private readonly durable: boolean;
  /** Bytes of the upload held in the staging log (a verified, contiguous prefix). */
  private staged = 0;

  private constructor(
    readonly path: string,
    private state: FlashRecord,
    private readonly options: FlashStoreOptions,
  ) {
    this.durable = options.durable ?? true;
  }

  /**
   * Open the store at `path`, creating it from `options.factory` if it does not exist.
   * Repairs what a crash can leave: a stale temp file (ignored), upload bytes past the
   * recorded offset (cut), an upload whose bytes were already moved into a slot (moved back).
   * Throws HardwareError STORAGE_CORRUPT when the state file is unreadable.
   */
  static async open(path: string, options: FlashStoreOptions): Promise<FlashStore> {
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text === undefined) return FlashStore.create(path, options);
    const store = new FlashStore(path, parseRecord(text, path), options);
    await store.recover();
    return store;
  }

  private static async create(path: string, options: FlashStoreOptions): Promise<FlashStore> {
    const factory = options.factory;
    if (!factory) throw new HardwareError('STORAGE_CORRUPT', `no flash store at ${path} and no factory image to create one`);
    const info = options.verifier.verifyHeader(factory.header);
    if (factory.body.length !== info.size) throw new HardwareError('FIRMWARE_TOO_LARGE', 'factory image body size differs from its header');
    if (!equalBytes(sha512(factory.body), info.bodyHash)) throw new HardwareError('FIRMWARE_HASH_MISMATCH', 'factory image body does not match its header hash');
    const record: FlashRecord = {
      format: FORMAT,
      running: 'A',
      testBoot: false,
      bootNext: null,
      antiRollback: info.antiRollback,
      bootCount: 0,
      slots: { A: slotRecord(factory.header, info, 'confirmed'), B: null },
      staging: null,
    };
    const store = new FlashStore(path, record, options);
    await writeFileAtomic(store.slotPath('A'), factory.body, { durable: store.durable });
    await store.persist(record);
    return store;
  }

  /** File holding a slot's body. */
  slotPath(slot: SlotName): string {
    return `${this.path}.slot-${slot}`;
  }

  /** File holding the bytes of the upload in progress. */
  get stagingPath(): string {
    return `${this.path}.staging`;
  }

  /** Current state (a copy). */
  status(): FlashStatus {
    const s = structuredClone(this.state);
    const running = s.slots[s.running];
    return {
      running: s.running,
      runningVersion: running ? versionOf(running.version) : [0, 0, 0],
      testBoot: s.testBoot,
      bootNext: s.bootNext,
      antiRollback: s.antiRollback,
      bootCount: s.bootCount,
      slots: { A: slotInfo(s.slots.A), B: slotInfo(s.slots.B) },
      staging: s.staging
        ? {
            imageHash: unhex(s.staging.imageHash),
            header: unhex(s.staging.header),
            version: versionOf(s.staging.version),
            total: s.staging.total,
            offset: this.staged,
          }
        : null,
    };
  }

  /**
   * Start (or resume) an upload of the image described by `header`, `total` body bytes.
   * Returns the offset the host continues at: 0 for a new image, the bytes already held
   * for the same image hash after an interruption. The header's signature and
   * anti-rollback counter are checked here already so a bad image costs no transfer.
   * Errors: FIRMWARE_TEST_BOOT_ACTIVE, FIRMWARE_BAD_HEADER, FIRMWARE_BAD_SIGNATURE, FIRMWARE_WRONG_MODEL,
   * FIRMWARE_TOO_LARGE, FIRMWARE_DOWNGRADE.
   */
  begin(header: Uint8Array, total: number): Promise<{ offset: number; total: number; resumed: boolean }> {
    return this.queue.run(async () => {
      const s = structuredClone(this.state);
      if (s.testBoot) {
        throw new HardwareError('FIRMWARE_TEST_BOOT_ACTIVE', 'the running image is on trial: confirm it or reboot before uploading another');
      }
      const info = this.options.verifier.verifyHeader(header);
      if (!Number.isSafeInteger(total) || total !== info.size) {
        throw new HardwareError('FIRMWARE_TOO_LARGE', `upload size ${total} differs from the header's ${info.size}`, { total, size: info.size });
      }
      this.checkRollback(info);
      const key = hex(info.bodyHash);
      if (s.staging && s.staging.imageHash === key && s.staging.header === hex(header)) {
        return { offset: this.staged, total, resumed: true };
      }
      // A different image: the old partial upload is dropped (log emptied before the state
      // names the new image, so the log never holds another image's bytes under its name).
      await this.emptyLog();
      this.staged = 0;
      s.staging = { imageHash: key, header: hex(header), version: [...info.version], total };
      await this.persist(s);
      return { offset: 0, total, resumed: false };
    });
  }

  /**
   * Store `bytes` at `offset` of the upload. `offset` must be the next expected one (the
   * current staging offset), else FIRMWARE_BAD_OFFSET with `detail.expected`. Returns the new
   * offset. Errors: FIRMWARE_NO_UPLOAD, FIRMWARE_BAD_OFFSET, FIRMWARE_TOO_LARGE.
   */
  write(offset: number, bytes: Uint8Array): Promise<number> {
    return this.queue.run(async () => {
      const st = this.state.staging;
      if (!st) throw new HardwareError('FIRMWARE_NO_UPLOAD', 'no upload in progress: send FirmwareBegin first');
      if (offset !== this.staged) {
        throw new HardwareError('FIRMWARE_BAD_OFFSET', `chunk at offset ${offset}, expected ${this.staged}`, { offset, expected: this.staged });
      }
      if (offset + bytes.length > st.total) {
        throw new HardwareError('FIRMWARE_TOO_LARGE', `chunk runs past the image end (${offset} + ${bytes.length} > ${st.total})`, {
          offset,
          length: bytes.length,
          total: st.total,
        });
      }
      if (bytes.length > MAX_LOG_RECORD) {
        throw new HardwareError('FIRMWARE_TOO_LARGE', `chunk of ${bytes.length} bytes (at most ${MAX_LOG_RECORD})`, { length: bytes.length });
      }
      if (bytes.length === 0) return this.staged;
      const record = encodeLogRecord(unhex(st.imageHash), offset, bytes);
      const fh = await open(this.stagingPath, 'a', 0o600);
      try {
        await fh.write(record);
        if (this.durable) await fh.datasync();
      } finally {
        await fh.close();
      }
      this.options.onStep?.('staging-data-synced');
      this.staged = offset + bytes.length;
      return this.staged;
    });
  }

  /**
   * Complete the upload: every byte received, SHA-512 of the body equal to the header's,
   * header signature valid, image not below the anti-rollback counter. The image then goes
   * into the slot that is not running, state `pending`. A failed check drops the upload.
   * Errors: FIRMWARE_NO_UPLOAD, FIRMWARE_INCOMPLETE, FIRMWARE_HASH_MISMATCH, FIRMWARE_BAD_SIGNATURE, FIRMWARE_DOWNGRADE.
   */
  finish(): Promise<SlotInfo> {
    return this.queue.run(async () => {
      const s = structuredClone(this.state);
      const st = s.staging;
      if (!st) throw new HardwareError('FIRMWARE_NO_UPLOAD', 'no upload in progress');
      if (this.staged < st.total) {
        throw new HardwareError('FIRMWARE_INCOMPLETE', `upload incomplete: ${this.staged} of ${st.total} bytes`, { offset: this.staged, total: st.total });
      }
      const header = unhex(st.header);
      let info: FirmwareHeaderInfo;
      let body: Uint8Array;
      try {
        body = scanLog(new Uint8Array(await readFile(this.stagingPath)), unhex(st.imageHash)).body;
        if (body.length !== st.total || hex(sha512(body)) !== st.imageHash) {
          throw new HardwareError('FIRMWARE_HASH_MISMATCH', 'the uploaded body does not match the SHA-512 in the header');
        }
        info = this.options.verifier.verifyHeader(header);
        if (hex(info.bodyHash) !== st.imageHash) throw new HardwareError('FIRMWARE_HASH_MISMATCH', 'header hash changed during upload');
        this.checkRollback(info);
      } catch (e) {
        await this.dropStaging();
        throw e;
      }
      const target = other(s.running);
      // A crash after this write leaves the upload complete in the log: finish runs again.
      await writeFileAtomic(this.slotPath(target), body, { durable: this.durable });
      this.options.onStep?.('slot-body-written');
      s.slots[target] = slotRecord(header, info, 'pending');
      if (s.bootNext === target) s.bootNext = null;
      s.staging = null;
      await this.persist(s);
      this.staged = 0;
      await removeIfExists(this.stagingPath);
      return slotInfo(s.slots[target])!;
    });
  }

  /** Drop the upload in progress, if any (Cancel, or a host starting over). */
  abortUpload(): Promise<void> {
    return this.queue.run(() => this.dropStaging());
  }

  /**
   * Mark the verified image for a test boot at the next reboot. Repeating it is harmless.
   * Errors: FIRMWARE_NOT_PENDING.
   */
  activate(): Promise<SlotInfo> {
    return this.queue.run(async () => {
      const s = structuredClone(this.state);
      const target = other(s.running);
      const slot = s.slots[target];
      if (!slot || (slot.state !== 'pending' && slot.state !== 'activated')) {
        throw new HardwareError('FIRMWARE_NOT_PENDING', 'no verified image waiting to be activated');
      }
      slot.state = 'activated';
      s.bootNext = target;
      await this.persist(s);
      return slotInfo(slot)!;
    });
  }

  /**
   * What the boot loader does at power-on or Reboot: if the running image was on trial and
   * not confirmed, roll back to the other slot; else if an image was activated, check its
   * body hash and boot it on trial; else boot the same image.
   */
  reboot(): Promise<BootResult> {
    return this.queue.run(async () => {
      const s = structuredClone(this.state);
      s.bootCount++;
      let result: BootResult;
      const current = s.slots[s.running];
      const fallback = s.slots[other(s.running)];
      if (s.testBoot && current && fallback && fallback.state === 'confirmed') {
        current.state = 'rejected';
        s.running = other(s.running);
        s.testBoot = false;
        s.bootNext = null;
        result = { mode: 'rolled_back', running: s.running, version: versionOf(fallback.version), rejectedVersion: versionOf(current.version) };
      } else if (s.bootNext !== null && s.slots[s.bootNext]?.state === 'activated') {
        const target = s.bootNext;
        const slot = s.slots[target]!;
        s.bootNext = null;
        if (await this.bodyIntact(target, slot)) {
          slot.state = 'testing';
          s.running = target;
          s.testBoot = true;
          result = { mode: 'test', running: target, version: versionOf(slot.version) };
        } else {
          slot.state = 'rejected';
          result = { mode: 'normal', running: s.running, version: versionOf(current?.version ?? []), rejectedVersion: versionOf(slot.version) };
        }
      } else {
        s.bootNext = null;
        result = { mode: 'normal', running: s.running, version: versionOf(current?.version ?? []) };
      }
      await this.persist(s);
      return result;
    });
  }

  /**
   * Make the image on trial permanent and raise the anti-rollback counter to its value.
   * Errors: FIRMWARE_NOT_TESTING (nothing on trial: e.g. it was already rolled back).
   */
  confirm(): Promise<SlotInfo> {
    return this.queue.run(async () => {
      const s = structuredClone(this.state);
      const slot = s.slots[s.running];
      if (!s.testBoot || !slot || slot.state !== 'testing') {
        throw new HardwareError('FIRMWARE_NOT_TESTING', 'the running image is not on trial');
      }
      slot.state = 'confirmed';
      s.testBoot = false;
      s.antiRollback = Math.max(s.antiRollback, slot.antiRollback);
      await this.persist(s);
      return slotInfo(slot)!;
    });
  }

  private checkRollback(info: FirmwareHeaderInfo): void {
    if (info.antiRollback < this.state.antiRollback) {
      throw new HardwareError(
        'FIRMWARE_DOWNGRADE',
        `image ${formatVersion(info.version)} has anti-rollback counter ${info.antiRollback}, below the device's ${this.state.antiRollback}`,
        { imageCounter: info.antiRollback, deviceCounter: this.state.antiRollback },
      );
    }
  }

  private async dropStaging(): Promise<void> {
    if (!this.state.staging) return;
    const s = structuredClone(this.state);
    s.staging = null;
    await this.persist(s);
    this.staged = 0;
    await removeIfExists(this.stagingPath);
  }

  /** Create or empty the staging log, durably. */
  private async emptyLog(): Promise<void> {
    const fh = await open(this.stagingPath, 'w', 0o600);
    try {
      if (this.durable) await fh.sync();
    } finally {
      await fh.close();
    }
  }

  private async bodyIntact(slot: SlotName, rec: SlotRecord): Promise<boolean> {
    try {
      const body = await readFile(this.slotPath(slot));
      return body.length === rec.size && hex(sha512(body)) === rec.bodyHash;
    } catch {
      return false;
    }
  }

  /**
   * Write `next` durably, then make it the in-memory state: a failed write leaves memory
   * agreeing with the disk.
   */
  private async persist(next: FlashRecord): Promise<void> {
    const onStep = this.options.onStep;
    await writeFileAtomic(this.path, `${JSON.stringify(next, null, 2)}\n`, {
      durable: this.durable,
      ...(onStep ? { onStep: (step: AtomicWriteStep) => onStep(`state-${step}`) } : {}),
    });
    this.state = next;
  }

  /** Bring files in line with the state after a crash (see {@link open}). */
  private async recover(): Promise<void> {
    const st = this.state.staging;
    if (!st) {
      await removeIfExists(this.stagingPath);
      return;
    }
    let log: Uint8Array;
    try {
      log = new Uint8Array(await readFile(this.stagingPath));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await this.emptyLog();
      this.staged = 0;
      return;
    }
    const { validLength, body } = scanLog(log, unhex(st.imageHash));
    // A record a crash cut short, or one that fails its CRC: cut it, the host resends it.
    if (validLength < log.length) await truncate(this.stagingPath, validLength);
    this.staged = Math.min(body.length, st.total);
  }
}

/** Longest chunk record the log accepts when reading (bounds the allocation). */
const MAX_LOG_RECORD = 16 * 1024 * 1024;

/** One staging-log record: u32be length ‖ data ‖ u32be CRC-32C(hash[0..8] ‖ u32be offset ‖ data). */
function encodeLogRecord(imageHash: Uint8Array, offset: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(data, 4);
  view.setUint32(4 + data.length, logCrc(imageHash, offset, data));
  return out;
}

function logCrc(imageHash: Uint8Array, offset: number, data: Uint8Array): number {
  const prefix = new Uint8Array(12);
  prefix.set(imageHash.subarray(0, 8));
  new DataView(prefix.buffer).setUint32(8, offset);
  return crc32c(Buffer.concat([prefix, data]));
}

/**
 * Reads a staging log: the body made of every record up to the first one that is cut short,
 * too long or fails its CRC, and the byte length of those valid records.
 */
function scanLog(log: Uint8Array, imageHash: Uint8Array): { validLength: number; body: Uint8Array } {
  const view = new DataView(log.buffer, log.byteOffset, log.byteLength);
  const chunks: Uint8Array[] = [];
  let pos = 0;
  let offset = 0;
  while (pos + 8 <= log.length) {
    const n = view.getUint32(pos);
    if (n === 0 || n > MAX_LOG_RECORD || pos + 8 + n > log.length) break;
    const data = log.subarray(pos + 4, pos + 4 + n);
    if (view.getUint32(pos + 4 + n) !== logCrc(imageHash, offset, data)) break;
    chunks.push(data);
    offset += n;
    pos += 8 + n;
  }
  return { validLength: pos, body: new Uint8Array(Buffer.concat(chunks)) };
}

function sha512(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha512').update(data).digest());
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
}

function slotRecord(header: Uint8Array, info: FirmwareHeaderInfo, state: SlotState): SlotRecord {
  return {
    header: hex(header),
    vendor: info.vendor,
    model: info.model,
    version: [...info.version],
    antiRollback: info.antiRollback,
    size: info.size,
    bodyHash: hex(info.bodyHash),
    state,
  };
}

function slotInfo(r: SlotRecord | null): SlotInfo | null {
  if (!r) return null;
  return {
    header: unhex(r.header),
    vendor: r.vendor,
    model: r.model,
    version: versionOf(r.version),
    antiRollback: r.antiRollback,
    size: r.size,
    bodyHash: unhex(r.bodyHash),
    state: r.state,
  };
}

/** Validate a state file strictly: anything unexpected is STORAGE_CORRUPT, never a crash later. */
function parseRecord(text: string, path: string): FlashRecord {
  const bad = (why: string): HardwareError => new HardwareError('STORAGE_CORRUPT', `flash store ${path} is corrupt: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const r = v as Partial<FlashRecord> | null;
  if (!r || typeof r !== 'object' || r.format !== FORMAT) throw bad('unknown format');
  if (r.running !== 'A' && r.running !== 'B') throw bad('running slot');
  if (r.bootNext !== null && r.bootNext !== 'A' && r.bootNext !== 'B') throw bad('bootNext');
  if (typeof r.testBoot !== 'boolean') throw bad('testBoot');
  if (!isCount(r.antiRollback) || !isCount(r.bootCount)) throw bad('counters');
  if (!r.slots || typeof r.slots !== 'object') throw bad('slots');
  for (const name of ['A', 'B'] as const) {
    const s = r.slots[name];
    if (s === null) continue;
    if (
      !s ||
      typeof s !== 'object' ||
      !isHex(s.header) ||
      !isHex(s.bodyHash) ||
      !isVersion(s.version) ||
      typeof s.vendor !== 'string' ||
      typeof s.model !== 'string' ||
      !isCount(s.antiRollback) ||
      !isCount(s.size) ||
      !SLOT_STATES.includes(s.state)
    ) {
      throw bad(`slot ${name}`);
    }
  }
  if (!r.slots[r.running]) throw bad('running slot is empty');
  const st = r.staging;
  if (st !== null) {
    if (
      !st ||
      typeof st !== 'object' ||
      !isHex(st.imageHash) ||
      !isHex(st.header) ||
      !isVersion(st.version) ||
      !isCount(st.total)
    ) {
      throw bad('staging');
    }
  }
  return r as FlashRecord;
}

function isVersion(v: unknown): v is [number, number, number] {
  return Array.isArray(v) && v.length === 3 && v.every((x) => isCount(x) && x <= 0xffff);
}

function versionOf(v: readonly number[]): FirmwareVersion {
  return [v[0] ?? 0, v[1] ?? 0, v[2] ?? 0];
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isHex(v: unknown): v is string {
  return typeof v === 'string' && v.length % 2 === 0 && /^[0-9a-f]*$/.test(v);
}
