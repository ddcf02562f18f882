/**
 * The terminal application: one handler per request of the message catalog, on top of the
 * simulated hardware. Handlers are plain async functions of (request, context) → result;
 * they throw typed errors (TerminalError, HardwareError, ...) that the connection turns into
 * `Error` messages under the request's id. The session rules (clear or sealed, exactly-once,
 * keepalive timing, Cancel) are the connection's job, not theirs: a handler only reports its
 * status (forwarded as Keepalive) and watches its AbortSignal.
 */
import { readFile } from 'node:fs/promises';
import { sha512 } from '../../protocol/crypto/bytes.js';
import { constantTimeEqual } from '../../protocol/crypto/bytes.js';
import type { SealedChannel } from '../../protocol/crypto/sealed-channel.js';
import {
  Capability,
  encodeMessage,
  PROTOCOL_VERSION,
  Service,
  type CardAuthenticate,
  type CardInserted,
  type CardRemoved,
  type CardWait,
  type Display as DisplayMessage,
  type FirmwareBegin,
  type FirmwareChunk,
  type FirmwareStateName,
  type FirmwareStatusResult,
  type KeepaliveStatusName,
  type Message,
  type Ping,
  type PromptName,
  type ReadLog,
  type ReadLogResult,
  type Reboot,
  type SetTime,
  type StatusResult,
  type VerifyHolder,
} from '../../protocol/messages.js';
import { maxPayloadSize, DEFAULT_MAX_FRAME_SIZE } from '../../protocol/stream-framing.js';
import { SEAL_MIN_RECORD_LENGTH } from '../../protocol/crypto/sealed-channel.js';
import type { HandshakeHello, TerminalHandshake } from '../../protocol/crypto/handshake.js';
import type { CancelTimer, DeviceClock } from '../hardware/clock.js';
import type { DeviceIdentity } from '../hardware/device-identity.js';
import { PROMPTS, type BilingualText, type Display, type PromptId } from '../hardware/display.js';
import type { FingerprintSensor } from '../hardware/fingerprint-sensor.js';
import { formatVersion, type BootResult, type FirmwareVersion, type FlashStore, type SlotInfo, type SlotName } from '../hardware/flash-store.js';
import { HardwareError } from '../hardware/hardware-error.js';
import type { RandomBytes } from '../hardware/random.js';
import type { CardSlot } from '../hardware/card-slot.js';
import type { SecureElement } from '../hardware/secure-element.js';
import { EventLog } from './event-log.js';
import { TerminalError } from './terminal-error.js';
import { TERMINAL_MAX_FRAME_SIZE } from './terminal-packet-codec.js';

/** Requests the firmware handles (Cancel is the connection's). */
export type FirmwareRequestName =
  | 'GetInfo'
  | 'Ping'
  | 'Handshake'
  | 'Status'
  | 'SelfTest'
  | 'Display'
  | 'Reboot'
  | 'SetTime'
  | 'ReadLog'
  | 'CardWait'
  | 'CardAuthenticate'
  | 'VerifyHolder'
  | 'FirmwareBegin'
  | 'FirmwareChunk'
  | 'FirmwareFinish'
  | 'FirmwareActivate'
  | 'FirmwareConfirm'
  | 'FirmwareStatus';

/** A request the firmware handles. */
export type FirmwareRequest = Extract<Message, { type: FirmwareRequestName }>;

/** Link counters as StatusResult carries them. */
export type LinkCounters = StatusResult['link'];

/** What a handler may ask of the connection running it. */
export interface RequestContext {
  /** Aborted by Cancel, by a reboot, or when the connection closes. */
  readonly signal: AbortSignal;
  /** Reports what the request is doing; a change is sent as a Keepalive at once. */
  status(status: KeepaliveStatusName, attempt?: number): void;
  /** The connection's link counters (StatusResult). */
  linkCounters(): LinkCounters;
  /** Requests in progress on the connection, this one included. */
  activeRequests(): number;
  /** Capability bits of the connection's link layer (`segments`), added to GetInfo's. */
  linkCapabilities?(): number;
}

/** What a handler produces. */
export interface HandlerResult {
  readonly response: Message;
  /** Handshake: the session to install once the response has been sent. */
  readonly session?: SealedChannel;
  /** Reboot or FirmwareActivate: restart once the response is on the wire. */
  readonly reboot?: 'normal' | 'test';
}

/** Unsolicited events (request id 0), sent only inside a session. */
export type TerminalEvent = CardInserted | CardRemoved;

export interface TerminalFirmwareOptions {
  identity: DeviceIdentity;
  slot: CardSlot;
  sensor: FingerprintSensor;
  display: Display;
  clock: DeviceClock;
  flash: FlashStore;
  random: RandomBytes;
  /** Event log (default: a new one on `clock`). */
  log?: EventLog;
  /** maxFrameSize advertised in GetInfo (default {@link TERMINAL_MAX_FRAME_SIZE}). */
  maxFrameSize?: number;
  /** Largest frame the terminal sends (default 4096): ReadLog pages are cut to fit. */
  sendMaxFrameSize?: number;
  /** False: the clock counts as never set until SetTime (default true: the sim has an RTC). */
  clockSet?: boolean;
}

/** Every capability bit of the parts: the simulator has them all (its connection adds `segments`). */
export const SIM_CAPABILITIES =
  Capability.cardSlot | Capability.fingerprint | Capability.display | Capability.firmwareUpdate | Capability.clock | Capability.log;

const SLOT_NUMBER: Record<SlotName, number> = { A: 0, B: 1 };
const other = (s: SlotName): SlotName => (s === 'A' ? 'B' : 'A');

/** Built-in prompts of the Display message → the display's prompt catalogue. */
const PROMPT_OF: Readonly<Record<PromptName, PromptId | BilingualText>> = {
  idle: 'ready',
  insert_card: 'insert_card',
  remove_card: 'remove_card',
  place_finger: 'place_finger',
  lift_finger: 'lift_and_retry',
  please_wait: 'please_wait',
  approved: 'approved',
  declined: 'refused',
  card_error: 'card_error',
  out_of_service: { ar: 'الجهاز خارج الخدمة', en: 'Out of service' },
};

/**
 * Sensor statuses → keepalive statuses. The sensor's names are (being made) the catalog's
 * KeepaliveStatus names; the older sensor names are mapped too, so either reads right.
 */
const SENSOR_TO_KEEPALIVE: Readonly<Record<string, KeepaliveStatusName>> = {
  waiting_finger: 'waiting_finger',
  waiting_for_finger: 'waiting_finger',
  processing: 'processing',
  capturing: 'processing',
  poor_quality: 'poor_quality',
  poor_capture: 'poor_quality',
  finger_not_centred: 'finger_not_centred',
  not_centred: 'finger_not_centred',
  too_fast: 'too_fast',
  lift_and_retry: 'lift_and_retry',
  finger_too_dry: 'finger_too_dry',
  finger_too_wet: 'finger_too_wet',
};

/** Keepalive status of a sensor status (unknown ones: processing). */
export function keepaliveStatusOfSensor(status: string): KeepaliveStatusName {
  return SENSOR_TO_KEEPALIVE[status] ?? 'processing';
}

/** The display prompt for a sensor retry status (its own name, or its keepalive name). */
function retryPrompt(status: string): PromptId {
  for (const name of [status, SENSOR_TO_KEEPALIVE[status]]) if (name !== undefined && Object.hasOwn(PROMPTS, name)) return name as PromptId;
  return 'lift_and_retry';
}

/** A signal that aborts when any of `signals` does. */
function anySignal(...signals: AbortSignal[]): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  for (const s of signals) {
    if (s.aborted) controller.abort();
    else s.addEventListener('abort', abort, { once: true });
  }
  return { signal: controller.signal, dispose: () => signals.forEach((s) => s.removeEventListener('abort', abort)) };
}

/** The application; see the module comment. One per simulated terminal, across reboots. */
export class TerminalFirmware {
  readonly identity: DeviceIdentity;
  readonly slot: CardSlot;
  readonly sensor: FingerprintSensor;
  readonly display: Display;
  readonly clock: DeviceClock;
  readonly flash: FlashStore;
  readonly log: EventLog;
  readonly maxFrameSize: number;
  private readonly sendMaxFrameSize: number;
  private readonly handshaker: TerminalHandshake;
  private clockSet: boolean;
  private bootedAt: number;
  private displayTimer: CancelTimer | undefined;
  private readonly eventListeners = new Set<(e: TerminalEvent) => void>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(options: TerminalFirmwareOptions) {
    this.identity = options.identity;
    this.slot = options.slot;
    this.sensor = options.sensor;
    this.display = options.display;
    this.clock = options.clock;
    this.flash = options.flash;
    this.handshaker = options.identity.handshake(options.random);
    this.clockSet = options.clockSet ?? true;
    this.log = options.log ?? new EventLog(() => (this.clockSet ? this.clock.now() : null));
    this.maxFrameSize = options.maxFrameSize ?? TERMINAL_MAX_FRAME_SIZE;
    this.sendMaxFrameSize = options.sendMaxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.bootedAt = this.clock.monotonic();
    this.unsubscribe.push(
      this.slot.onInserted((card) => {
        this.log.append('info', 'card_inserted', card.info.cardId);
        this.emit({ type: 'CardInserted', id: 0, cardId: card.info.cardId, cardCertificate: card.info.certificate });
      }),
      this.slot.onRemoved((card) => {
        this.log.append('info', 'card_removed', card.info.cardId);
        this.emit({ type: 'CardRemoved', id: 0, cardId: card.info.cardId });
      }),
    );
  }

  /** Subscribe to card events; returns the unsubscribe function. */
  onEvent(listener: (e: TerminalEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Stops listening to the hardware (the process is ending). */
  dispose(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.displayTimer?.();
  }

  /** Running firmware version. */
  get firmwareVersion(): FirmwareVersion {
    return this.flash.status().runningVersion;
  }

  /**
   * What the boot loader does at power-on and at every (simulated) reboot: test-boot an
   * activated image, roll back an unconfirmed one, or boot the same image again; then log it
   * and show it on the display.
   */
  async boot(): Promise<BootResult> {
    this.displayTimer?.();
    const result = await this.flash.reboot();
    this.bootedAt = this.clock.monotonic();
    const version = formatVersion(result.version);
    this.log.append('info', 'boot', `firmware ${version} from slot ${result.running} (${result.mode})`);
    if (result.mode === 'test') {
      this.log.append('warn', 'fw_test_boot', `firmware ${version} on trial: confirm it or the next reboot rolls back`);
      this.display.show('firmware_test_boot', { version });
    } else if (result.mode === 'rolled_back') {
      const rejected = result.rejectedVersion ? formatVersion(result.rejectedVersion) : '?';
      this.log.append('warn', 'fw_rollback', `firmware ${rejected} was not confirmed: rolled back to ${version}`);
      this.display.show('firmware_rolled_back', { version });
    } else {
      if (result.rejectedVersion) {
        this.log.append('error', 'fw_rejected', `firmware ${formatVersion(result.rejectedVersion)} failed its boot check; kept ${version}`);
      }
      this.display.show('ready');
    }
    return result;
  }

  /** Runs one request. Throws typed errors for failures (see the module comment). */
  handle(request: FirmwareRequest, ctx: RequestContext): Promise<HandlerResult> {
    switch (request.type) {
      case 'GetInfo':
        return this.done(() => this.getInfo(request.id, ctx.linkCapabilities?.() ?? 0));
      case 'Ping':
        return this.done(() => this.ping(request));
      case 'Handshake':
        return this.done(() => this.handshake(request.id, { hostEphemeral: request.hostEphemeralKey, hostNonce: request.hostNonce }));
      case 'Status':
        return this.status(request.id, ctx);
      case 'SelfTest':
        return this.selfTest(request.id);
      case 'Display':
        return this.done(() => this.showDisplay(request));
      case 'Reboot':
        return this.reboot(request);
      case 'SetTime':
        return this.done(() => this.setTime(request));
      case 'ReadLog':
        return this.done(() => this.readLog(request));
      case 'CardWait':
        return this.cardWait(request, ctx);
      case 'CardAuthenticate':
        return this.cardAuthenticate(request);
      case 'VerifyHolder':
        return this.verifyHolder(request, ctx);
      case 'FirmwareBegin':
        return this.firmwareBegin(request);
      case 'FirmwareChunk':
        return this.firmwareChunk(request);
      case 'FirmwareFinish':
        return this.firmwareFinish(request.id);
      case 'FirmwareActivate':
        return this.firmwareActivate(request.id);
      case 'FirmwareConfirm':
        return this.firmwareConfirm(request.id);
      case 'FirmwareStatus':
        return Promise.resolve({ response: this.firmwareStatus(request.id) });
    }
  }

  /** Wraps a synchronous handler: its result, or its error as a rejection. */
  private done(run: () => HandlerResult | Message): Promise<HandlerResult> {
    try {
      const v = run();
      return Promise.resolve('response' in v ? v : { response: v });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // ------------------------------------------------------------ identification and session

  private getInfo(id: number, linkCapabilities: number): Message {
    const cert = this.identity.certificate;
    return {
      type: 'GetInfoResult',
      id,
      vendor: cert.vendor,
      model: cert.model,
      serial: cert.terminalId,
      firmwareVersion: [...this.firmwareVersion],
      protocolVersion: PROTOCOL_VERSION,
      maxFrameSize: this.maxFrameSize,
      capabilities: SIM_CAPABILITIES | linkCapabilities,
      terminalId: cert.terminalId,
    };
  }

  private ping(m: Ping): Message {
    return m.data === undefined ? { type: 'PingResult', id: m.id } : { type: 'PingResult', id: m.id, data: m.data };
  }

  private handshake(id: number, hello: HandshakeHello): HandlerResult {
    let session;
    try {
      session = this.handshaker.respond(hello);
    } catch (e) {
      throw new TerminalError('HANDSHAKE_FAILED', `handshake refused: ${e instanceof Error ? e.message : 'error'}`);
    }
    this.log.append('info', 'session', 'new session');
    return {
      response: {
        type: 'HandshakeResult',
        id,
        terminalEphemeralKey: session.reply.terminalEphemeral,
        deviceCertificate: session.reply.deviceCertificate,
        signature: session.reply.signature,
      },
      session: session.channel,
    };
  }

  // ------------------------------------------------------------ diagnostics and housekeeping

  private async status(id: number, ctx: RequestContext): Promise<HandlerResult> {
    const flash = this.flash.status();
    const state = flash.staging !== null ? 'updating' : ctx.activeRequests() > 1 ? 'busy' : 'ready';
    return {
      response: {
        type: 'StatusResult',
        id,
        state,
        cardPresent: this.slot.card !== undefined,
        uptimeS: Math.min(0xffff_ffff, Math.floor((this.clock.monotonic() - this.bootedAt) / 1000)),
        link: ctx.linkCounters(),
        firmwareSlots: this.firmwareSlots(),
        unixMs: this.clockSet ? Math.max(0, Math.floor(this.clock.now())) : null,
      },
    };
  }

  /**
   * Slots as StatusResult reports them. A confirmed image that is not running (the previous
   * firmware, kept as the rollback target) has no state of its own in protocol v1, so it is
   * left out rather than reported as something it is not.
   */
  private firmwareSlots(): StatusResult['firmwareSlots'] {
    const st = this.flash.status();
    const out: StatusResult['firmwareSlots'] = [];
    for (const name of ['A', 'B'] as const) {
      const slot = st.slots[name];
      const slotNo = SLOT_NUMBER[name];
      if (slot === null) {
        out.push({ slot: slotNo, version: null, state: 'empty' });
        continue;
      }
      const version = [...slot.version];
      if (name === st.running) out.push({ slot: slotNo, version, state: st.testBoot ? 'testing' : 'running' });
      else if (slot.state === 'pending' || slot.state === 'activated') out.push({ slot: slotNo, version, state: 'pending' });
      else if (slot.state === 'rejected') out.push({ slot: slotNo, version, state: 'invalid' });
    }
    return out;
  }

  private async selfTest(id: number): Promise<HandlerResult> {
    const card = this.slot.card;
    const storage = await this.runningImageIntact();
    return {
      response: {
        type: 'SelfTestResult',
        id,
        results: [
          { component: 'card_reader', ok: true, detail: card ? `card ${card.info.cardId} present` : 'no card in the slot' },
          {
            component: 'secure_element',
            ok: true,
            detail: card ? `card counter ${card.counter}` : 'no card to test',
          },
          { component: 'fingerprint', ok: true, detail: 'sensor answers' },
          { component: 'display', ok: true, detail: this.display.current.lines[0]?.en ?? '' },
          { component: 'clock', ok: this.clockSet, detail: this.clockSet ? 'clock set' : 'clock never set (SetTime)' },
          {
            component: 'storage',
            ok: storage,
            detail: storage ? `running image ${formatVersion(this.firmwareVersion)} intact` : 'running image does not match its hash',
          },
        ],
      },
    };
  }

  private async runningImageIntact(): Promise<boolean> {
    const st = this.flash.status();
    const slot = st.slots[st.running];
    if (!slot) return false;
    try {
      const body = await readFile(this.flash.slotPath(st.running));
      return body.length === slot.size && constantTimeEqual(sha512(new Uint8Array(body)), slot.bodyHash);
    } catch {
      return false;
    }
  }

  private showDisplay(m: DisplayMessage): Message {
    this.displayTimer?.();
    this.displayTimer = undefined;
    if (m.lines !== undefined) {
      this.display.showText(m.lines);
    } else if (m.prompt !== undefined) {
      const p = PROMPT_OF[m.prompt];
      if (typeof p === 'string') this.display.show(p);
      else this.display.showText([p]);
    }
    if (m.durationMs !== undefined) {
      this.displayTimer = this.clock.setTimer(m.durationMs, () => {
        this.displayTimer = undefined;
        this.display.show('ready');
      });
    }
    return { type: 'DisplayResult', id: m.id };
  }

  private async reboot(m: Reboot): Promise<HandlerResult> {
    if (m.mode === 'test_image') {
      const slot = await this.flash.activate();
      this.log.append('info', 'fw_activate', `firmware ${formatVersion(slot.version)} will boot on trial`);
    }
    this.log.append('info', 'reboot', `reboot requested (${m.mode})`);
    this.display.show('rebooting');
    return { response: { type: 'RebootResult', id: m.id }, reboot: m.mode === 'test_image' ? 'test' : 'normal' };
  }

  private setTime(m: SetTime): Message {
    const previous = this.clockSet ? Math.max(0, Math.floor(this.clock.now())) : null;
    this.clock.setTime(m.unixMs);
    this.clockSet = true;
    this.log.append('info', 'clock_set', previous === null ? 'clock set' : `clock moved by ${m.unixMs - previous} ms`);
    return { type: 'SetTimeResult', id: m.id, previousUnixMs: previous };
  }

  /** Entries from `sinceSeq`, as many as the request allows and one frame holds. */
  private readLog(m: ReadLog): Message {
    const entries = this.log.read(m.sinceSeq, m.max).map((e) => ({ ...e }));
    const limit = maxPayloadSize(this.sendMaxFrameSize) - SEAL_MIN_RECORD_LENGTH;
    // nextSeq: after the last entry returned; when none is, the sequence number the next entry
    // will get (so a host asking beyond it, e.g. after the terminal lost its log, catches up).
    const result = (list: typeof entries): ReadLogResult => ({
      type: 'ReadLogResult',
      id: m.id,
      entries: list,
      nextSeq: list.length > 0 ? (list[list.length - 1]!.seq + 1) >>> 0 : this.log.nextSeq,
    });
    // The longest prefix that fits (binary search: at most 7 encodings for 64 entries).
    const fits = (n: number): boolean => n <= 1 || encodeMessage(result(entries.slice(0, n))).length <= limit;
    let lo = Math.min(1, entries.length);
    let hi = entries.length;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(mid)) lo = mid;
      else hi = mid - 1;
    }
    entries.length = lo;
    const r = result(entries);
    return r;
  }

  // ------------------------------------------------------------ card and holder

  private requireCard(): SecureElement {
    const card = this.slot.card;
    if (!card) throw new TerminalError('NO_CARD', 'no card is in the slot');
    return card;
  }

  private async cardWait(m: CardWait, ctx: RequestContext): Promise<HandlerResult> {
    const result = (card: SecureElement): HandlerResult => ({
      response: { type: 'CardWaitResult', id: m.id, cardId: card.info.cardId, cardCertificate: card.info.certificate },
    });
    const present = this.slot.card;
    if (present) return result(present);
    ctx.status('waiting_card');
    this.display.show('insert_card');
    const outcome = await new Promise<SecureElement | 'timeout' | 'cancelled'>((resolve) => {
      const finish = (r: SecureElement | 'timeout' | 'cancelled'): void => {
        off();
        cancelTimer();
        ctx.signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const onAbort = (): void => finish('cancelled');
      const off = this.slot.onInserted((card) => finish(card));
      const cancelTimer = this.clock.setTimer(m.timeoutMs, () => finish('timeout'));
      if (ctx.signal.aborted) finish('cancelled');
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    if (outcome === 'cancelled') throw new TerminalError('CANCELLED', 'card wait cancelled');
    if (outcome === 'timeout') {
      this.display.show('timeout');
      throw new TerminalError('TIMEOUT', `no card inserted within ${m.timeoutMs} ms`);
    }
    this.display.show('reading_card');
    return result(outcome);
  }

  private async cardAuthenticate(m: CardAuthenticate): Promise<HandlerResult> {
    const card = this.requireCard();
    if (m.terminalId !== this.identity.terminalId) {
      // The card would sign a transaction naming another terminal: refuse, the host is confused.
      throw new TerminalError('INVALID_MESSAGE', `terminalId ${m.terminalId} is not this terminal (${this.identity.terminalId})`);
    }
    this.display.show('reading_card');
    let r;
    try {
      r = await card.authenticate({
        nonce: m.nonce,
        service: Service.values[m.service],
        quantity: m.quantity,
        shopId: m.shopId,
        terminalId: m.terminalId,
        time: m.time,
      });
    } catch (e) {
      if (e instanceof HardwareError && e.code === 'NO_CARD') throw new TerminalError('CARD_REMOVED', 'the card was removed during authentication');
      throw e;
    }
    this.log.append('info', 'card_auth', `card ${card.info.cardId} counter ${r.fields.counter}`);
    return {
      response: { type: 'CardAuthenticateResult', id: m.id, counter: r.fields.counter, signature: r.signed.signature, cardCertificate: card.info.certificate },
    };
  }

  /**
   * Match-on-card: capture, hand the sample to the card, repeat. Retry statuses of the sensor
   * (poor capture, not centred, too fast) are forwarded as Keepalive and never reach the card;
   * each sample the card matches is one attempt. Ends with a signed result: match, no_match
   * (the request's maxAttempts or the card's own limit reached) or timeout; Error
   * ATTEMPTS_EXHAUSTED when the card had no attempt left for this member to begin with.
   */
  private async verifyHolder(m: VerifyHolder, ctx: RequestContext): Promise<HandlerResult> {
    const card = this.requireCard();
    const verification = card.startHolderVerification(m.nonce, m.member);
    if (card.attemptsLeft(m.member) === 0) {
      this.display.show('attempts_exhausted');
      throw new TerminalError('ATTEMPTS_EXHAUSTED', `the card allows no more fingerprint attempts for ${m.member === null ? 'any member' : `member ${m.member}`}`);
    }
    const removed = new AbortController();
    const offRemoved = this.slot.onRemoved((c) => {
      if (c === card) removed.abort();
    });
    const { signal, dispose } = anySignal(ctx.signal, removed.signal);
    const attempt = (): number => Math.min(10, verification.attempts + 1);
    // Sensor statuses are keepalive status names: forwarded as they come.
    const offStatus = this.sensor.onStatus((s) => ctx.status(keepaliveStatusOfSensor(s), attempt()));
    const deadline = this.clock.monotonic() + m.timeoutMs;
    const finalResult = (result: 'no_match' | 'timeout'): HandlerResult => {
      const signed = verification.end(result);
      return {
        response: { type: 'VerifyHolderResult', id: m.id, result, member: null, attemptsUsed: signed.fields.attempts, signature: signed.signed.signature },
      };
    };
    try {
      this.display.show('place_finger');
      for (;;) {
        ctx.status('waiting_finger', attempt());
        const remaining = deadline - this.clock.monotonic();
        if (remaining <= 0) {
          this.display.show('timeout');
          return finalResult('timeout');
        }
        const capture = await this.sensor.capture({ timeoutMs: remaining, signal });
        if (capture.kind === 'cancelled' || signal.aborted) {
          if (ctx.signal.aborted) throw new TerminalError('CANCELLED', 'holder verification cancelled');
          throw new TerminalError('CARD_REMOVED', 'the card was removed during holder verification');
        }
        if (capture.kind === 'timeout') {
          this.display.show('timeout');
          return finalResult('timeout');
        }
        if (capture.kind === 'retry') {
          ctx.status(keepaliveStatusOfSensor(capture.status), attempt());
          this.display.show(retryPrompt(capture.status));
          continue;
        }
        const a = verification.attempt(capture.sample);
        if (a.outcome === 'match') {
          this.display.show('holder_verified');
          this.log.append('info', 'holder_match', `card ${card.info.cardId} member ${a.memberIndex} after ${verification.attempts} attempt(s)`);
          return {
            response: {
              type: 'VerifyHolderResult',
              id: m.id,
              result: 'match',
              member: a.memberIndex,
              attemptsUsed: a.result.fields.attempts,
              signature: a.result.signed.signature,
            },
          };
        }
        const left = Math.min(m.maxAttempts - verification.attempts, a.attemptsLeft);
        if (left <= 0) {
          this.display.show(a.attemptsLeft === 0 ? 'attempts_exhausted' : 'finger_not_recognised', { attempts: 0 });
          this.log.append('warn', 'holder_no_match', `card ${card.info.cardId} after ${verification.attempts} attempt(s)`);
          return finalResult('no_match');
        }
        this.display.show('finger_not_recognised', { attempts: left });
        ctx.status('lift_and_retry', attempt());
      }
    } finally {
      offStatus();
      offRemoved();
      dispose();
    }
  }

  // ------------------------------------------------------------ firmware update

  private async firmwareBegin(m: FirmwareBegin): Promise<HandlerResult> {
    const r = await this.flash.begin(m.imageHeader, m.totalSize);
    const version = this.flash.status().staging?.version;
    this.log.append('info', 'fw_begin', `${r.resumed ? 'resuming' : 'starting'} upload of ${version ? formatVersion(version) : '?'} at ${r.offset}/${r.total}`);
    this.display.show('updating_firmware', { percent: (100 * r.offset) / Math.max(1, r.total) });
    return { response: { type: 'FirmwareBeginResult', id: m.id, resumeOffset: r.offset } };
  }

  private async firmwareChunk(m: FirmwareChunk): Promise<HandlerResult> {
    const next = await this.flash.write(m.offset, m.data);
    const total = this.flash.status().staging?.total ?? next;
    const percent = (100 * next) / Math.max(1, total);
    // One screen per whole percent: a 16-byte chunk must not redraw the display.
    if (Math.floor(percent) !== Math.floor((100 * m.offset) / Math.max(1, total))) this.display.show('updating_firmware', { percent });
    return { response: { type: 'FirmwareChunkResult', id: m.id, nextOffset: next } };
  }

  private async firmwareFinish(id: number): Promise<HandlerResult> {
    this.display.show('verifying_firmware');
    let slot: SlotInfo;
    try {
      slot = await this.flash.finish();
    } catch (e) {
      const code = e instanceof HardwareError ? e.code : 'INTERNAL';
      this.log.append('error', 'fw_refused', `upload refused: ${code}`);
      this.display.show('refused', { reason: { ar: 'تحديث غير صالح', en: 'invalid update' } });
      throw e;
    }
    const version = formatVersion(slot.version);
    this.log.append('info', 'fw_pending', `firmware ${version} verified and pending`);
    this.display.show('firmware_ready', { version });
    return { response: { type: 'FirmwareFinishResult', id, state: 'pending' } };
  }

  private async firmwareActivate(id: number): Promise<HandlerResult> {
    const slot = await this.flash.activate();
    this.log.append('info', 'fw_activate', `firmware ${formatVersion(slot.version)} will boot on trial`);
    this.display.show('rebooting');
    return { response: { type: 'FirmwareActivateResult', id }, reboot: 'test' };
  }

  private async firmwareConfirm(id: number): Promise<HandlerResult> {
    const slot = await this.flash.confirm();
    const counter = this.flash.status().antiRollback;
    this.log.append('info', 'fw_confirm', `firmware ${formatVersion(slot.version)} confirmed; anti-rollback counter ${counter}`);
    this.display.show('ready');
    return { response: { type: 'FirmwareConfirmResult', id, antiRollbackCounter: counter } };
  }

  /** FirmwareStatusResult from the flash state (see PROTOCOL.d/58-terminal.md for the mapping). */
  firmwareStatus(id: number): FirmwareStatusResult {
    const st = this.flash.status();
    const otherSlot = st.slots[other(st.running)];
    const pending = otherSlot !== null && (otherSlot.state === 'pending' || otherSlot.state === 'activated') ? otherSlot : null;
    let state: FirmwareStateName;
    if (st.staging !== null) state = 'receiving';
    else if (st.testBoot) state = 'testing';
    else if (pending) state = 'pending';
    else if (otherSlot?.state === 'rejected') state = 'rolled_back';
    else state = 'idle';
    const pendingVersion = st.testBoot ? st.runningVersion : pending ? pending.version : null;
    return {
      type: 'FirmwareStatusResult',
      id,
      runningVersion: [...st.runningVersion],
      pendingVersion: pendingVersion === null ? null : [...pendingVersion],
      state,
      antiRollbackCounter: st.antiRollback,
      uploadOffset: st.staging?.offset ?? 0,
    };
  }

  private emit(e: TerminalEvent): void {
    for (const l of [...this.eventListeners]) l(e);
  }
}
