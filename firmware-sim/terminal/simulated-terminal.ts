/**
 * A whole simulated terminal: the hardware, the firmware, the connection of the current boot,
 * faults and quirks, and the commands of the control interface (insert a card, present a
 * finger, inject a fault, reboot, vanish). `unicard-sim` is this object plus a port and a
 * control socket; tests build it directly on an in-memory link.
 */
import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { NodeEd25519, type Ed25519 } from '../../protocol/crypto/ed25519.js';
import { UnicardError } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/messages.js';
import type { Link } from '../../link/link.js';
import { loadCard, SimulatedCardSlot, type LoadedCard } from '../hardware/card-slot.js';
import { DeviceClock, SystemClock, type CancelTimer, type Clock } from '../hardware/clock.js';
import { DeviceIdentity } from '../hardware/device-identity.js';
import { PROMPTS, SimulatedDisplay } from '../hardware/display.js';
import { SimulatedFingerprintSensor, type FingerPresentation, type SensorRetryStatus } from '../hardware/fingerprint-sensor.js';
import { VendorFirmwareVerifier } from '../hardware/firmware-verifier.js';
import { FlashStore, formatVersion, type BootResult } from '../hardware/flash-store.js';
import { HardwareError } from '../hardware/hardware-error.js';
import { loadPublicKeyFile } from '../hardware/key-file.js';
import { systemRandomBytes, type RandomBytes } from '../hardware/random.js';
import { DEFAULT_ATTEMPT_LIMIT, SimulatedCard } from '../hardware/secure-element.js';
import { loadCardFile } from '../hardware/card-file.js';
import { decodeFirmwareImage } from '../issuer/firmware-image.js';
import type { DemoManifest } from '../issuer/demo-world.js';
import { bannerBytes, type BannerInfo } from './banner.js';
import { FaultInjector, type FaultDirection } from './faults.js';
import type { TerminalPort } from './ports.js';
import { isQuirkName, QUIRK_NAMES, QUIRK_RULES, QuirkSet } from './quirks.js';
import { TerminalConnection, type ConnectionLogLevel } from './terminal-connection.js';
import { TerminalFirmware } from './terminal-firmware.js';

/** Log sink of the simulator (the process writes it to stderr). */
export type SimLogger = (level: ConnectionLogLevel, message: string) => void;

/** Finds and loads a card for `insert`: a card file path, or a card id of the world. */
export type CardLoader = (ref: string) => Promise<LoadedCard>;

/** Options of {@link SimulatedTerminal.create}. */
export interface SimulatedTerminalOptions {
  identity: DeviceIdentity;
  flash: FlashStore;
  /** Loads cards for insert (default: card file paths, counters kept in the file itself). */
  cards?: CardLoader;
  /** Base clock (default the system clock). */
  clock?: Clock;
  random?: RandomBytes;
  ed?: Ed25519;
  /** Fingerprint capture latency in ms (default 0). */
  sensorLatencyMs?: number;
  /** Receive limit advertised in GetInfo (default TERMINAL_MAX_FRAME_SIZE). */
  maxFrameSize?: number;
  keepaliveIntervalMs?: number;
  /** Seed of the drop/corrupt faults (default 1). */
  faultSeed?: number;
  log?: SimLogger;
}

/** Options of {@link SimulatedTerminal.fromWorld}. */
export interface WorldTerminalOptions extends Omit<SimulatedTerminalOptions, 'identity' | 'flash' | 'cards'> {
  /** A directory made by the issuer toolkit's demo-world (manifest.json). */
  worldDir: string;
  /** Terminal id in the manifest (default: the first terminal). */
  terminalId?: string;
  /** Where the flash store and the cards' counters live. */
  stateDir: string;
  /** fsync flash and card writes (default true). */
  durable?: boolean;
  /** Match attempts per member per card session (default 3). */
  attemptLimit?: number;
  /**
   * 'memory' keeps each card's counter in this process instead of its file under `stateDir`
   * (for benchmarks, whose terminals share the daemon's machine: no file write per signature).
   * Default 'file', like the physical card the file stands for.
   */
  cardCounters?: 'file' | 'memory';
}

/** A control command (the JSON object of one control line). */
export type ControlCommand = { readonly cmd: string; readonly id?: unknown } & Readonly<Record<string, unknown>>;

/** A control reply: `ok` with data, or a typed error. */
export type ControlReply =
  | ({ ok: true; id?: unknown } & Record<string, unknown>)
  | { ok: false; id?: unknown; error: { code: string; message: string } };

/** Codes of control interface errors (besides the hardware codes it passes on). */
export type ControlErrorCode = 'CONTROL_BAD_COMMAND' | 'CONTROL_BAD_ARGUMENT' | 'CONTROL_NOT_SUPPORTED' | 'CONTROL_FAILED';

/** A control command the simulator refuses. */
export class ControlError extends UnicardError {
  declare readonly code: ControlErrorCode;
  constructor(code: ControlErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * Bad placements of the `finger` command → the sensor's retry status names. The sensor is
 * moving to the catalog's KeepaliveStatus names (poor_quality, finger_not_centred, ...);
 * until every build has them, the name is picked by what the display catalogue knows.
 */
const NEW_SENSOR_NAMES = Object.hasOwn(PROMPTS, 'poor_quality');
const FINGER_RETRIES: Readonly<Record<string, string>> = NEW_SENSOR_NAMES
  ? { poor: 'poor_quality', not_centred: 'finger_not_centred', too_fast: 'too_fast', dry: 'finger_too_dry', wet: 'finger_too_wet', lift: 'lift_and_retry' }
  : { poor: 'poor_capture', not_centred: 'not_centred', too_fast: 'too_fast' };

/** The sensor retry status for a `finger` name (short, or the sensor's own), if any. */
function fingerRetry(name: string): SensorRetryStatus | undefined {
  const own = Object.values(FINGER_RETRIES);
  const status = FINGER_RETRIES[name] ?? (own.includes(name) ? name : undefined);
  return status as SensorRetryStatus | undefined;
}

/** The finger names of the `finger` command. */
export const FINGER_NAMES: readonly string[] = ['unknown', 'none', ...Object.keys(FINGER_RETRIES)];

/** Help text of the control interface: one line per command. */
export const CONTROL_HELP: Readonly<Record<string, string>> = {
  status: 'state of the terminal, link, card, faults and quirks',
  insert: '{"card": "<card file or card id>"}: insert a card',
  remove: 'remove the card',
  finger: '{"finger": <member index> | "unknown" | "none" | "poor" | "not_centred" | "too_fast" | "dry" | "wet" | "lift", "count"?: n}: what the sensor sees next',
  drop: '{"rate": 0..1, "direction"?: "in"|"out"|"both"}: drop bytes at a rate',
  corrupt: '{"rate": 0..1, "direction"?: "in"|"out"|"both"}: flip a bit in bytes at a rate',
  stall: '{"ms": n}: hold every byte both ways for n ms',
  reboot: 'power-cycle the terminal (banner again, session and cache gone)',
  vanish: '{"ms"?: n}: unplug the port (back after n ms if given)',
  return: 'plug the port back in',
  quirk: `{"name": ${QUIRK_NAMES.map((q) => `"${q}"`).join('|')}, "enabled"?: bool}: break a protocol rule`,
  latency: '{"ms": n}: fingerprint capture latency',
  seed: '{"seed": n}: restart the fault random sequence',
  clear: 'all faults and quirks off',
  help: 'this list',
};

const argError = (message: string): ControlError => new ControlError('CONTROL_BAD_ARGUMENT', message);

function numberArg(c: ControlCommand, name: string, min: number, max: number, optional = false): number | undefined {
  const v = c[name];
  if (v === undefined && optional) return undefined;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) throw argError(`${c.cmd}: "${name}" must be a number from ${min} to ${max}`);
  return n;
}

function directionArg(c: ControlCommand): FaultDirection {
  const d = c.direction ?? 'both';
  if (d !== 'in' && d !== 'out' && d !== 'both') throw argError(`${c.cmd}: "direction" is in, out or both`);
  return d;
}

function boolArg(c: ControlCommand, name: string, byDefault: boolean): boolean {
  const v = c[name];
  if (v === undefined) return byDefault;
  if (v === true || v === 'on' || v === 'true' || v === '1') return true;
  if (v === false || v === 'off' || v === 'false' || v === '0') return false;
  throw argError(`${c.cmd}: "${name}" is true or false`);
}

/** See the module comment. */
export class SimulatedTerminal {
  readonly identity: DeviceIdentity;
  readonly flash: FlashStore;
  readonly clock: DeviceClock;
  readonly slot: SimulatedCardSlot;
  readonly sensor: SimulatedFingerprintSensor;
  readonly display: SimulatedDisplay;
  readonly firmware: TerminalFirmware;
  readonly faults: FaultInjector;
  readonly quirks = new QuirkSet();
  private readonly baseClock: Clock;
  private readonly cards: CardLoader;
  private readonly logger: SimLogger;
  private readonly keepaliveIntervalMs: number | undefined;
  private readonly maxFrameSize: number | undefined;
  private connectionNow: TerminalConnection;
  private port: TerminalPort | undefined;
  private rawLink: Link | undefined;
  private wrapped: Link | undefined;
  private rebooting: Promise<BootResult> | undefined;
  private lastBoot: BootResult | undefined;
  private boots = 0;
  private returnTimer: CancelTimer | undefined;
  private closed = false;

  private constructor(options: SimulatedTerminalOptions) {
    this.identity = options.identity;
    this.flash = options.flash;
    this.baseClock = options.clock ?? new SystemClock();
    this.clock = new DeviceClock(this.baseClock);
    const random = options.random ?? systemRandomBytes;
    const ed = options.ed ?? new NodeEd25519();
    this.logger = options.log ?? (() => {});
    this.cards = options.cards ?? ((ref) => loadCard(ref, ed));
    this.keepaliveIntervalMs = options.keepaliveIntervalMs;
    this.maxFrameSize = options.maxFrameSize;
    this.slot = new SimulatedCardSlot();
    this.sensor = new SimulatedFingerprintSensor({ clock: this.clock, random, fingers: this.slot, latencyMs: options.sensorLatencyMs ?? 0 });
    this.display = new SimulatedDisplay({ clock: this.clock });
    this.display.onChange((s) => this.logger('debug', `display: ${s.lines.map((l) => l.en).join(' / ')}`));
    this.firmware = new TerminalFirmware({
      identity: this.identity,
      slot: this.slot,
      sensor: this.sensor,
      display: this.display,
      clock: this.clock,
      flash: this.flash,
      random,
      ...(options.maxFrameSize !== undefined ? { maxFrameSize: options.maxFrameSize } : {}),
    });
    this.firmware.log.onEntry((e) => this.logger(e.level === 'debug' ? 'debug' : e.level, `log ${e.event}${e.detail ? `: ${e.detail}` : ''}`));
    this.faults = new FaultInjector(this.baseClock, options.faultSeed ?? 1);
    this.connectionNow = this.newConnection();
  }

  /** Builds the terminal and boots it (the boot loader runs: test boot or rollback happen here). */
  static async create(options: SimulatedTerminalOptions): Promise<SimulatedTerminal> {
    const t = new SimulatedTerminal(options);
    await t.boot();
    return t;
  }

  /**
   * Builds a terminal from a demo world: its identity, the vendor key it trusts for firmware,
   * the factory image for a new flash store in `stateDir`, and cards by file or card id
   * (copied into `stateDir/cards` on first insert, where their counters then live).
   */
  static async fromWorld(options: WorldTerminalOptions): Promise<SimulatedTerminal> {
    const ed = options.ed ?? new NodeEd25519();
    const worldDir = resolve(options.worldDir);
    const manifest = JSON.parse(await readFile(join(worldDir, 'manifest.json'), 'utf8')) as DemoManifest;
    const entry = options.terminalId === undefined ? manifest.terminals[0] : manifest.terminals.find((t) => t.terminalId === options.terminalId);
    if (!entry) throw new ControlError('CONTROL_BAD_ARGUMENT', `terminal ${options.terminalId ?? '(first)'} is not in ${worldDir}/manifest.json`);
    const identity = await DeviceIdentity.load(join(worldDir, entry.identityBase), ed);
    const vendor = await loadPublicKeyFile(join(worldDir, manifest.vendor.publicKeyFile), 'vendor-root');
    const verifier = new VendorFirmwareVerifier(trustedKeysOf([vendor.publicKey]), ed, { vendor: identity.vendor, model: identity.model });
    const factoryFile = decodeFirmwareImage(new Uint8Array(await readFile(join(worldDir, manifest.firmware.factory.file))));
    await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    const flash = await FlashStore.open(join(options.stateDir, 'flash.json'), {
      verifier,
      factory: { header: factoryFile.header, body: factoryFile.body },
      durable: options.durable ?? true,
    });
    const cards = worldCardLoader({
      worldDir,
      manifest,
      stateDir: options.stateDir,
      ed,
      attemptLimit: options.attemptLimit ?? DEFAULT_ATTEMPT_LIMIT,
      durable: options.durable ?? true,
      ...(options.cardCounters === undefined ? {} : { cardCounters: options.cardCounters }),
    });
    const { worldDir: _w, terminalId: _t, stateDir: _s, durable: _d, attemptLimit: _a, cardCounters: _c, ...rest } = options;
    return SimulatedTerminal.create({ ...rest, ed, identity, flash, cards });
  }

  /** The connection of the current boot. */
  get connection(): TerminalConnection {
    return this.connectionNow;
  }

  /** What the banner says now. */
  bannerInfo(): BannerInfo {
    return {
      vendor: this.identity.vendor,
      model: this.identity.model,
      serial: this.identity.terminalId,
      firmwareVersion: this.firmware.firmwareVersion,
      protocolVersion: PROTOCOL_VERSION,
    };
  }

  /** The port vanish/return act on (set by the process; absent in memory tests). */
  setPort(port: TerminalPort): void {
    this.port = port;
  }

  /**
   * Bytes now cross `link` (through the fault injector), and the banner is printed on it.
   * Attaching the same link again prints the banner again (its port came back).
   */
  attach(link: Link): void {
    if (this.closed) return;
    if (link !== this.rawLink) {
      this.rawLink = link;
      this.wrapped = this.faults.wrap(link);
    }
    this.connectionNow.attach(this.wrapped!);
  }

  /**
   * Power-cycles the terminal: requests in progress end unanswered, the boot loader runs
   * (test boot, rollback), a new connection starts with the banner, with no session and an
   * empty response cache. The card stays in the slot but is powered up afresh.
   */
  reboot(): Promise<BootResult> {
    if (this.rebooting) return this.rebooting;
    this.rebooting = (async () => {
      this.connectionNow.close();
      this.display.show('rebooting');
      const loaded = this.slot.loaded;
      if (loaded) {
        loaded.card.powerOff();
        loaded.card.powerOn();
      }
      this.sensor.clearQueue();
      const result = await this.boot();
      if (!this.closed && this.wrapped) this.connectionNow.attach(this.wrapped);
      return result;
    })().finally(() => {
      this.rebooting = undefined;
    });
    return this.rebooting;
  }

  private async boot(): Promise<BootResult> {
    const result = await this.firmware.boot();
    this.boots++;
    this.lastBoot = result;
    this.connectionNow.close();
    this.connectionNow = this.newConnection();
    this.logger('info', `booted firmware ${formatVersion(result.version)} (${result.mode})`);
    return result;
  }

  /**
   * A further connection of the current boot, for a port with several hosts at once (USB HID:
   * one per channel). The caller attaches and closes it; a reboot replaces `connection`, which
   * is how the caller knows its extra connections belong to the previous boot.
   */
  extraConnection(): TerminalConnection {
    return this.newConnection();
  }

  private newConnection(): TerminalConnection {
    return new TerminalConnection({
      firmware: this.firmware,
      clock: this.baseClock,
      quirks: this.quirks,
      banner: () => bannerBytes(this.bannerInfo()),
      ...(this.maxFrameSize !== undefined ? { receiveMaxFrameSize: this.maxFrameSize } : {}),
      ...(this.keepaliveIntervalMs !== undefined ? { keepaliveIntervalMs: this.keepaliveIntervalMs } : {}),
      onReboot: () => {
        void this.reboot().catch((e: unknown) => this.logger('error', `reboot failed: ${e instanceof Error ? e.message : String(e)}`));
      },
      log: this.logger,
    });
  }

  /** Inserts a card (file path or world card id). CARD_ALREADY_PRESENT, CARD_FILE_INVALID. */
  async insertCard(ref: string): Promise<LoadedCard> {
    if (this.slot.loaded) throw new HardwareError('CARD_ALREADY_PRESENT', 'a card is already in the slot');
    const loaded = await this.cards(ref);
    this.slot.insert(loaded);
    return loaded;
  }

  /** Removes the card. NO_CARD when the slot is empty. */
  removeCard(): string {
    return this.slot.remove().info.cardId;
  }

  /** Vanishes the port (or goes silent when it cannot vanish); back after `ms` if given. */
  async vanish(ms?: number): Promise<void> {
    this.returnTimer?.();
    this.returnTimer = undefined;
    if (this.port?.canVanish) await this.port.vanish();
    else this.faults.setSilent(true);
    this.logger('info', 'port vanished');
    if (ms !== undefined) {
      this.returnTimer = this.baseClock.setTimer(ms, () => {
        this.returnTimer = undefined;
        void this.comeBack().catch((e: unknown) => this.logger('error', `return failed: ${e instanceof Error ? e.message : String(e)}`));
      });
    }
  }

  /** Brings the port back (a no-op when it is there). */
  async comeBack(): Promise<void> {
    this.returnTimer?.();
    this.returnTimer = undefined;
    if (this.port?.canVanish) {
      await this.port.return();
    } else if (this.faults.silent) {
      this.faults.setSilent(false);
      this.connectionNow.announce();
    }
    this.logger('info', 'port returned');
  }

  /** True while the port is gone. */
  get vanished(): boolean {
    return this.port?.canVanish ? !this.port.present : this.faults.silent;
  }

  /** Snapshot for the status command. */
  status(): Record<string, unknown> {
    const flash = this.flash.status();
    const card = this.slot.loaded;
    return {
      terminalId: this.identity.terminalId,
      vendor: this.identity.vendor,
      model: this.identity.model,
      firmware: formatVersion(flash.runningVersion),
      boots: this.boots,
      lastBoot: this.lastBoot ? { mode: this.lastBoot.mode, version: formatVersion(this.lastBoot.version) } : null,
      port: this.port?.describe() ?? (this.rawLink ? { kind: this.rawLink.info.kind, path: this.rawLink.info.path, paced: false } : null),
      vanished: this.vanished,
      attached: this.connectionNow.link !== undefined,
      session: this.connectionNow.hasSession,
      activeRequests: this.connectionNow.activeCount,
      counters: this.connectionNow.counters(),
      segments: this.connectionNow.segmentCounters() ?? null,
      card: card ? { cardId: card.data.cardId, counter: card.card.counter, members: card.data.members.map((m) => m.index) } : null,
      sensor: { latencyMs: this.sensor.latencyMs, queued: this.sensor.queued, capturing: this.sensor.capturing },
      display: { source: this.display.current.source, lines: this.display.current.lines },
      faults: { ...this.faults.settings(), counters: { ...this.faults.counters } },
      quirks: this.quirks.list(),
      flash: {
        running: flash.running,
        runningVersion: formatVersion(flash.runningVersion),
        testBoot: flash.testBoot,
        antiRollback: flash.antiRollback,
        upload: flash.staging ? { version: formatVersion(flash.staging.version), offset: flash.staging.offset, total: flash.staging.total } : null,
        slots: Object.fromEntries(
          (['A', 'B'] as const).map((s) => [s, flash.slots[s] ? { version: formatVersion(flash.slots[s]!.version), state: flash.slots[s]!.state } : null]),
        ),
      },
    };
  }

  /**
   * Runs one control command; never throws. Replies `{ ok: true, ... }` or
   * `{ ok: false, error: { code, message } }`, echoing the command's `id` when it has one.
   */
  async control(command: unknown): Promise<ControlReply> {
    const id = typeof command === 'object' && command !== null ? (command as { id?: unknown }).id : undefined;
    const withId = <T extends object>(r: T): T => (id === undefined ? r : { ...r, id });
    try {
      if (typeof command !== 'object' || command === null || typeof (command as { cmd?: unknown }).cmd !== 'string') {
        throw new ControlError('CONTROL_BAD_COMMAND', 'a control line is a JSON object with a "cmd" string');
      }
      return withId({ ok: true as const, ...(await this.run(command as ControlCommand)) });
    } catch (e) {
      const code = e instanceof UnicardError ? e.code : 'CONTROL_FAILED';
      const message = e instanceof Error ? e.message : String(e);
      if (!(e instanceof UnicardError)) this.logger('error', `control command failed: ${e instanceof Error ? e.stack : message}`);
      return withId({ ok: false as const, error: { code, message } });
    }
  }

  private async run(c: ControlCommand): Promise<Record<string, unknown>> {
    switch (c.cmd) {
      case 'status':
        return { status: this.status() };
      case 'help':
        return { commands: CONTROL_HELP, quirks: QUIRK_RULES };
      case 'insert': {
        if (typeof c.card !== 'string' || c.card === '') throw argError('insert: "card" is a card file path or card id');
        const loaded = await this.insertCard(c.card);
        return { cardId: loaded.data.cardId, counter: loaded.card.counter };
      }
      case 'remove':
        return { cardId: this.removeCard() };
      case 'finger': {
        const f = c.finger;
        const count = numberArg(c, 'count', 1, 100, true) ?? 1;
        let p: FingerPresentation;
        if (typeof f === 'number' || (typeof f === 'string' && /^\d+$/.test(f))) {
          const member = Number(f);
          if (!Number.isInteger(member) || member < 0 || member > 255) throw argError('finger: a member index is 0..255');
          p = { kind: 'member', member };
        } else if (f === 'unknown') p = { kind: 'unknown' };
        else if (f === 'none') p = { kind: 'nothing' };
        else if (typeof f === 'string' && fingerRetry(f) !== undefined) p = { kind: 'retry', status: fingerRetry(f)! };
        else throw argError(`finger: "finger" is a member index or one of ${FINGER_NAMES.join(', ')}`);
        this.sensor.present(...Array.from({ length: count }, () => p));
        return { queued: this.sensor.queued.length };
      }
      case 'drop':
        this.faults.setDrop(numberArg(c, 'rate', 0, 1)!, directionArg(c));
        return { faults: this.faults.settings() };
      case 'corrupt':
        this.faults.setCorrupt(numberArg(c, 'rate', 0, 1)!, directionArg(c));
        return { faults: this.faults.settings() };
      case 'stall':
        this.faults.stall(numberArg(c, 'ms', 0, 3_600_000)!);
        return { faults: this.faults.settings() };
      case 'seed':
        this.faults.reseed(numberArg(c, 'seed', 0, 0xffff_ffff)!);
        return { faults: this.faults.settings() };
      case 'reboot': {
        const r = await this.reboot();
        return { mode: r.mode, firmware: formatVersion(r.version) };
      }
      case 'vanish':
        await this.vanish(numberArg(c, 'ms', 0, 3_600_000, true));
        return { vanished: true };
      case 'return':
        await this.comeBack();
        return { vanished: false };
      case 'quirk': {
        if (!isQuirkName(c.name)) throw argError(`quirk: "name" is one of ${QUIRK_NAMES.join(', ')}`);
        this.quirks.set(c.name, boolArg(c, 'enabled', true));
        return { quirks: this.quirks.list() };
      }
      case 'latency':
        this.sensor.latencyMs = numberArg(c, 'ms', 0, 60_000)!;
        return { latencyMs: this.sensor.latencyMs };
      case 'clear':
        this.faults.clear();
        this.quirks.clear();
        if (!this.port?.canVanish) this.connectionNow.announce();
        return { faults: this.faults.settings(), quirks: [] };
      default:
        throw new ControlError('CONTROL_BAD_COMMAND', `unknown command "${c.cmd}" (try "help")`);
    }
  }

  /** Ends everything (requests unanswered, timers stopped). The port is the caller's to close. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.returnTimer?.();
    this.connectionNow.close();
    this.faults.clear();
    this.firmware.dispose();
  }
}

/** Options of {@link worldCardLoader}. */
export interface WorldCardLoaderOptions {
  worldDir: string;
  manifest: DemoManifest;
  /** Cards are copied to `<stateDir>/cards/` on first insert; their counters live there. */
  stateDir: string;
  ed: Ed25519;
  attemptLimit: number;
  durable: boolean;
  /** Where a card's counter lives: its file in the state directory (default) or this process only. */
  cardCounters?: 'file' | 'memory';
}

/**
 * Card references → loaded cards: a path (absolute, or relative to the working directory or
 * the world), or a card id from the manifest. The card file is copied into the state
 * directory the first time, so the world stays as issued and a card keeps its counter across
 * runs of the same state directory, like the physical card it stands for.
 */
export function worldCardLoader(o: WorldCardLoaderOptions): CardLoader {
  // 'memory': one card object per file for the life of the process, so its counter still
  // only goes up across removals; nothing is written (benchmarks: no file write per signature).
  const inMemory = new Map<string, LoadedCard>();
  return async (ref) => {
    const source = await resolveCardRef(o, ref);
    if (o.cardCounters === 'memory') {
      let loaded = inMemory.get(source);
      if (loaded === undefined) {
        const data = await loadCardFile(source, o.ed);
        loaded = { card: new SimulatedCard(data, { ed: o.ed, attemptLimit: o.attemptLimit }), data, path: source };
        inMemory.set(source, loaded);
      }
      return loaded;
    }
    const dir = join(o.stateDir, 'cards');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const target = join(dir, basename(source));
    if (!(await exists(target))) await copyFile(source, target);
    return loadCard(target, o.ed, { attemptLimit: o.attemptLimit, durable: o.durable });
  };
}

async function resolveCardRef(o: WorldCardLoaderOptions, ref: string): Promise<string> {
  const byId = o.manifest.cards.find((c) => c.cardId === ref);
  if (byId) return join(o.worldDir, byId.file);
  const candidates = isAbsolute(ref) ? [ref] : [resolve(ref), join(o.worldDir, ref)];
  for (const p of candidates) if (await exists(p)) return p;
  throw new HardwareError('CARD_FILE_INVALID', `no card file or card id "${ref}" (cards of this world: ${o.manifest.cards.map((c) => c.cardId).join(', ')})`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
