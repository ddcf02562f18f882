/**
 * The TerminalManager: finds terminals (discovery sources), probes them (banner, GetInfo,
 * handshake, trust: TerminalSession.open), keeps one trusted session per terminal, notices
 * when one goes away, and reconnects with backoff when it comes back. The API hands its
 * sessions to clients; nothing else in the daemon opens a link to a terminal.
 *
 * Identity. A terminal is listed under its terminal id from its device certificate (what
 * the handshake proved), wherever it is plugged in: a reader that moves from ttyUSB0 to
 * ttyUSB1 keeps its entry. Until a probe has learnt the id (probing, a port in error), the
 * entry's id is `<link>:<path>`, e.g. `serial:/dev/ttyUSB0`.
 *
 * States (TerminalInfo.state):
 *   probing    a probe is running on the terminal's port
 *   ready      trusted session up; session(id) returns it
 *   untrusted  the handshake succeeded but the certificate is under no trusted vendor root
 *              and the terminal is not pinned: listed with the reason, never used
 *   gone       it was there and its link closed (unplugged, connection lost, silent); a
 *              gone terminal is retried: when its serial path exists again, at once, then
 *              with backoff; TCP addresses with backoff
 *   error      a port that did not yield a usable terminal (no answer, protocol mismatch,
 *              busy port, missing configured port...), retried with backoff
 *
 * Hotplug: every `rescanIntervalMs` the sources are listed again, the pins file is checked
 * for changes (a new pin admits an untrusted terminal at once; a removed one drops it), and
 * idle sessions are pinged every `pingIntervalMs` so a terminal that went silent is noticed.
 * A terminal that restarts (new boot banner, or it says it lost the session) gets a new
 * handshake on the same link: `terminal.gone` (TERMINAL_REBOOTED), then `terminal.connected`.
 */
import type { Link } from '../../link/link.js';
import { UnicardError } from '../../protocol/errors.js';
import { TerminalSession, type TerminalSessionOptions } from '../session/terminal-session.js';
import type { TerminalEvent as SessionEvent } from '../session/terminal-session.js';
import type { TrustCallback } from '../session/trust-policy.js';
import type { DeviceCertificate } from '../../protocol/crypto/certificates.js';
import { errorFields, traceToLog, type DaemonLogger } from '../logging.js';
import type { DiscoverySource, TerminalCandidate, TerminalLinkKind } from './discovery.js';
import { Reasons, reasonForError } from './terminal-reasons.js';

export type { TerminalLinkKind } from './discovery.js';

/** Where a terminal stands (see the module comment). */
export type TerminalState = 'probing' | 'ready' | 'untrusted' | 'gone' | 'error';

/** One terminal (or port) as the manager lists it. */
export interface TerminalInfo {
  /** The terminal id from its device certificate; `<link>:<path>` until that is known. */
  id: string;
  link: TerminalLinkKind;
  /** Port or address it is (or was last) reached on. */
  path: string;
  state: TerminalState;
  vendor?: string;
  model?: string;
  serial?: string;
  /** Running firmware, `major.minor.patch`. */
  firmware?: string;
  /** How a ready terminal was admitted. */
  trust?: 'vendor-root' | 'pinned';
  /** Why it is untrusted, gone or in error. */
  reason?: { code: string; en: string; ar: string };
  cardPresent: boolean;
  /** When it entered its current state (ms since the epoch). */
  since: number;
}

/** What the manager tells its listeners. */
export type TerminalEvent =
  | { kind: 'terminal.connected'; terminal: TerminalInfo }
  /** `reason` is the stable code (TERMINAL_GONE, TERMINAL_REBOOTED, ...); `terminal.reason` has the texts. */
  | { kind: 'terminal.gone'; terminal: TerminalInfo; reason: string }
  | { kind: 'card.inserted'; terminalId: string; cardId: string }
  | { kind: 'card.removed'; terminalId: string; cardId: string };

/** The manager as the API and the process use it. */
export interface TerminalManager {
  list(): TerminalInfo[];
  get(id: string): TerminalInfo | undefined;
  /** The trusted session of a ready terminal; undefined otherwise. */
  session(id: string): TerminalSession | undefined;
  /** Adds a listener; returns the function that removes it. */
  on(listener: (e: TerminalEvent) => void): () => void;
  start(): Promise<void>;
  /** Stops rescanning and closes every session and link (outstanding requests fail with SESSION_CLOSED). */
  stop(): Promise<void>;
}

/** The trust the manager needs: the session's callback, and pins that may change. */
export interface TerminalTrust {
  readonly trust: TrustCallback;
  isPinned(device: DeviceCertificate): boolean;
  /** Re-reads the pins if they changed; throws when the new pins are invalid (old ones kept). */
  reloadPins(): Promise<{ changed: boolean; count: number }>;
}

/** Options of {@link DiscoveringTerminalManager}. */
export interface TerminalManagerOptions {
  sources: readonly DiscoverySource[];
  trust: TerminalTrust;
  logger: DaemonLogger;
  rescanIntervalMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** Ping idle sessions this often; 0: never. */
  pingIntervalMs: number;
  /** How long a probe waits for a boot banner before GetInfo (default 200 ms). */
  probeBannerMs?: number;
  /** Log decoded protocol traffic at debug level (--verbose). */
  traceTraffic?: boolean;
  /** Extra session options (timings in tests). */
  session?: Pick<TerminalSessionOptions, 'retryAfterMs' | 'maxRetries' | 'deadAfterMs' | 'ed' | 'clock'>;
  /** Wall clock for `since` (default Date.now). */
  now?: () => number;
}

/** The delay before the next attempt after `failures` failed ones in a row. */
export function backoffDelayMs(failures: number, initialMs: number, maxMs: number): number {
  if (failures <= 0) return 0;
  return Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30));
}

interface Slot {
  readonly key: string;
  candidate: TerminalCandidate;
  /** Listed by its source in the last scan. */
  listed: boolean;
  /** An attempt is running, or a session is up. */
  busy: boolean;
  /** The link of the attempt in progress (closed by stop()). */
  link: Link | undefined;
  /** The session of the probe in progress (closed by stop()). */
  probe: TerminalSession | undefined;
  session: TerminalSession | undefined;
  /** The entry that stands for this slot. */
  entryId: string | undefined;
  failures: number;
  nextAttemptAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The path was missing at the last check. */
  absent: boolean;
  considering: boolean;
  pingTimer: ReturnType<typeof setInterval> | undefined;
  /** A re-handshake after a restart is running. */
  rehandshaking: boolean;
  /** Card events seen on the current session (to order them against the first Status). */
  cardEvents: number;
  lastReasonCode: string | undefined;
}

interface Entry {
  info: TerminalInfo;
  slotKey: string;
}

/** The TerminalManager that discovers terminals through {@link DiscoverySource}s. */
export class DiscoveringTerminalManager implements TerminalManager {
  private readonly slots = new Map<string, Slot>();
  private readonly entries = new Map<string, Entry>();
  private readonly listeners: Array<(e: TerminalEvent) => void> = [];
  private readonly logger: DaemonLogger;
  private readonly now: () => number;
  private interval: ReturnType<typeof setInterval> | undefined;
  private scanning: Promise<void> | undefined;
  private started = false;
  private stopping = false;
  private pinsWarning: string | undefined;

  constructor(private readonly options: TerminalManagerOptions) {
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
  }

  // ------------------------------------------------------------------ public

  list(): TerminalInfo[] {
    return [...this.entries.values()].map((e) => copyInfo(e.info)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get(id: string): TerminalInfo | undefined {
    const e = this.entries.get(id);
    return e === undefined ? undefined : copyInfo(e.info);
  }

  session(id: string): TerminalSession | undefined {
    const e = this.entries.get(id);
    if (e === undefined || e.info.state !== 'ready') return undefined;
    const s = this.slots.get(e.slotKey)?.session;
    return s !== undefined && s.isSealed ? s : undefined;
  }

  on(listener: (e: TerminalEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Scans once (and starts probing what it found), then every rescanIntervalMs. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.rescan();
    if (this.stopping) return;
    this.interval = setInterval(() => void this.rescan(), this.options.rescanIntervalMs);
  }

  /** Lists the sources again now (also what the periodic rescan runs). */
  rescan(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    this.scanning ??= this.scan().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.interval !== undefined) clearInterval(this.interval);
    this.interval = undefined;
    await this.scanning?.catch(() => {});
    const closing: Array<Promise<void>> = [];
    for (const slot of this.slots.values()) {
      this.clearTimers(slot);
      if (slot.session !== undefined) closing.push(slot.session.close().catch(() => {}));
      else if (slot.probe !== undefined) closing.push(slot.probe.close().catch(() => {}));
      else if (slot.link !== undefined) closing.push(slot.link.close().catch(() => {}));
    }
    await Promise.all(closing);
    for (const e of this.entries.values()) {
      if (e.info.state === 'ready' || e.info.state === 'probing') {
        this.setState(e, 'gone', Reasons.stopping({ path: e.info.path }));
      }
    }
    this.logger.info({ terminals: this.entries.size }, 'terminal manager stopped');
  }

  // ------------------------------------------------------------------ scanning

  private async scan(): Promise<void> {
    await this.checkPins();
    const seen = new Set<string>();
    for (const source of this.options.sources) {
      let candidates: TerminalCandidate[];
      try {
        candidates = await source.scan();
      } catch (e) {
        this.logger.warn({ source: source.kind, err: e }, `${source.kind} discovery failed`);
        continue;
      }
      for (const c of candidates) {
        if (seen.has(c.key)) continue;
        seen.add(c.key);
        const slot = this.slots.get(c.key);
        if (slot === undefined) this.addSlot(c);
        else {
          slot.candidate = c;
          slot.listed = true;
        }
      }
    }
    if (this.stopping) return;
    for (const slot of [...this.slots.values()]) {
      if (!seen.has(slot.key)) {
        slot.listed = false;
        if (!slot.busy) this.dropSlot(slot);
        continue;
      }
      if (slot.session !== undefined && slot.session.state === 'lost') void this.rehandshake(slot);
      void this.consider(slot);
    }
  }

  private addSlot(c: TerminalCandidate): Slot {
    const slot: Slot = {
      key: c.key,
      candidate: c,
      listed: true,
      busy: false,
      link: undefined,
      probe: undefined,
      session: undefined,
      entryId: undefined,
      failures: 0,
      nextAttemptAt: 0,
      timer: undefined,
      absent: false,
      considering: false,
      pingTimer: undefined,
      rehandshaking: false,
      cardEvents: 0,
      lastReasonCode: undefined,
    };
    this.slots.set(c.key, slot);
    this.logger.debug({ path: c.path, link: c.kind, origin: c.origin, ...(c.info?.vendorId ? { usb: `${c.info.vendorId}:${c.info.productId ?? ''}` } : {}) }, 'port found');
    return slot;
  }

  /** An enumerated port went away: forget it, keeping the entry of a known terminal (gone). */
  private dropSlot(slot: Slot): void {
    this.clearTimers(slot);
    this.slots.delete(slot.key);
    const entry = slot.entryId === undefined ? undefined : this.entries.get(slot.entryId);
    if (entry !== undefined && entry.slotKey === slot.key && entry.info.id === provisionalId(slot)) this.entries.delete(entry.info.id);
    this.logger.debug({ path: slot.candidate.path, link: slot.candidate.kind }, 'port no longer listed');
  }

  /** Starts an attempt on an idle slot when it is due and its device is there. */
  private async consider(slot: Slot): Promise<void> {
    if (slot.busy || slot.considering || this.stopping || !slot.listed) return;
    slot.considering = true;
    try {
      const present = await slot.candidate.isPresent();
      if (slot.busy || this.stopping || this.slots.get(slot.key) !== slot) return;
      if (present === false) {
        if (!slot.absent) {
          slot.absent = true;
          this.portMissing(slot);
        }
        return;
      }
      if (slot.absent) {
        // The path is back (replugged): try at once, whatever the backoff said.
        slot.absent = false;
        slot.failures = 0;
        slot.nextAttemptAt = 0;
        this.clearRetry(slot);
      }
      if (slot.timer !== undefined || this.now() < slot.nextAttemptAt) return;
      void this.attempt(slot);
    } finally {
      slot.considering = false;
    }
  }

  private schedule(slot: Slot, delayMs: number): void {
    this.clearRetry(slot);
    slot.nextAttemptAt = this.now() + delayMs;
    if (this.stopping) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      void this.consider(slot);
    }, delayMs);
  }

  // ------------------------------------------------------------------ probing

  private async attempt(slot: Slot): Promise<void> {
    if (slot.busy || this.stopping) return;
    slot.busy = true;
    this.clearRetry(slot);
    const c = slot.candidate;
    this.probing(slot);
    let answered = false;
    let session: TerminalSession | undefined;
    try {
      const opened = await c.open();
      slot.link = opened.link;
      if (this.stopping) throw new UnicardError('DAEMON_STOPPING', 'unicardd is stopping');
      // TerminalSession.open's steps, spelt out so a failure still tells whether GetInfo was
      // answered (a terminal that failed later, or no terminal at all).
      session = new TerminalSession(opened.link, {
        ...this.options.session,
        trust: this.options.trust.trust,
        ...(opened.codec === undefined ? {} : { codec: opened.codec }),
        ...(this.options.traceTraffic === true ? { trace: traceToLog(this.logger, () => ({ path: c.path, terminal: slot.entryId })) } : {}),
      });
      slot.probe = session;
      const bannerMs = this.options.probeBannerMs ?? 200;
      if (bannerMs > 0) await session.waitForBanner(bannerMs);
      await session.getInfo();
      answered = true;
      await session.handshake();
      slot.probe = undefined;
      slot.link = undefined;
      if (this.stopping) throw new UnicardError('DAEMON_STOPPING', 'unicardd is stopping');
      await this.admitted(slot, session);
    } catch (e) {
      slot.probe = undefined;
      const link = slot.link;
      slot.link = undefined;
      if (session !== undefined && slot.session !== session) await session.close().catch(() => {});
      else if (link !== undefined) await link.close().catch(() => {});
      if (this.stopping) return;
      this.failed(slot, e, answered);
    }
  }

  /** The slot's entry shows the probe. */
  private probing(slot: Slot): void {
    const c = slot.candidate;
    let entry = slot.entryId === undefined ? undefined : this.entries.get(slot.entryId);
    // The terminal moved to another port since: this port gets an entry of its own.
    if (entry !== undefined && entry.slotKey !== slot.key) entry = undefined;
    // A port seen for the first time is listed as probing; a retry keeps the state and reason
    // it has (gone since..., error: ...) until the attempt has an outcome, so `since` stays true.
    if (entry === undefined) entry = this.provisionalEntry(slot);
    entry.info.path = c.path;
    entry.info.link = c.kind;
  }

  private provisionalEntry(slot: Slot): Entry {
    const id = provisionalId(slot);
    let entry = this.entries.get(id);
    if (entry === undefined) {
      entry = {
        info: { id, link: slot.candidate.kind, path: slot.candidate.path, state: 'probing', cardPresent: false, since: this.now() },
        slotKey: slot.key,
      };
      this.entries.set(id, entry);
    }
    slot.entryId = id;
    return entry;
  }

  private portMissing(slot: Slot): void {
    const entry = slot.entryId === undefined ? undefined : this.entries.get(slot.entryId);
    if (entry !== undefined && entry.slotKey === slot.key && entry.info.state === 'gone') return;
    if (slot.candidate.origin !== 'config') return;
    const e = entry !== undefined && entry.slotKey === slot.key ? entry : this.provisionalEntry(slot);
    const reason = Reasons.portNotFound({ path: slot.candidate.path, link: slot.candidate.kind });
    if (e.info.state !== 'error' || e.info.reason?.code !== reason.code) {
      // A terminal known by id is gone; a port that never held one is in error.
      this.setState(e, e.info.id === provisionalId(slot) ? 'error' : 'gone', reason);
      this.logger.warn({ path: slot.candidate.path, link: slot.candidate.kind, code: reason.code }, `configured port ${slot.candidate.path} is not there`);
    }
  }

  private async admitted(slot: Slot, session: TerminalSession): Promise<void> {
    const device = session.device!;
    const id = device.terminalId;
    const c = slot.candidate;
    const existing = this.entries.get(id);
    // Another port holds a session with this id (ready, or admitted a moment ago).
    const holder = existing === undefined || existing.slotKey === slot.key ? undefined : this.slots.get(existing.slotKey);
    if (existing !== undefined && holder?.session !== undefined && !holder.session.isClosed) {
      await session.close();
      this.failed(slot, new DuplicateTerminal(id, existing.info.path), true);
      return;
    }
    // The slot's provisional or previous entry makes way for the terminal's own.
    this.releaseSlotEntry(slot, id);
    const info = session.info;
    const entry: Entry = existing ?? {
      info: { id, link: c.kind, path: c.path, state: 'probing', cardPresent: false, since: this.now() },
      slotKey: slot.key,
    };
    this.entries.set(id, entry);
    entry.slotKey = slot.key;
    slot.entryId = id;
    slot.session = session;
    slot.failures = 0;
    slot.cardEvents = 0;
    slot.lastReasonCode = undefined;
    Object.assign(entry.info, {
      link: c.kind,
      path: c.path,
      vendor: info?.vendor ?? device.vendor,
      model: info?.model ?? device.model,
      ...(info === undefined ? {} : { serial: info.serial, firmware: info.firmwareVersion.join('.') }),
      trust: session.trustDecision === 'pinned' ? 'pinned' : 'vendor-root',
    });

    session.onEvent((e) => this.cardEvent(slot, entry, e));
    session.onBanner(() => {
      // Listeners run before the session marks itself lost: look once it has.
      setImmediate(() => {
        if (session.state === 'lost') void this.rehandshake(slot);
      });
    });
    session.onClose((error) => this.sessionClosed(slot, session, error));
    await this.readCardState(slot, entry, session);
    if (session.isClosed || slot.session !== session) return;
    this.becameReady(slot, entry);
  }

  /** Marks the entry ready and tells listeners. */
  private becameReady(slot: Slot, entry: Entry): void {
    this.setState(entry, 'ready', undefined);
    this.logger.info(
      {
        terminal: entry.info.id,
        link: entry.info.link,
        path: entry.info.path,
        state: 'ready',
        vendor: entry.info.vendor,
        model: entry.info.model,
        serial: entry.info.serial,
        firmware: entry.info.firmware,
        trust: entry.info.trust,
        cardPresent: entry.info.cardPresent,
      },
      `terminal ${entry.info.id} ready on ${entry.info.path}`,
    );
    this.startPing(slot);
    this.emit({ kind: 'terminal.connected', terminal: copyInfo(entry.info) });
  }

  /** The first Status tells whether a card is in the slot (card events keep it current after). */
  private async readCardState(slot: Slot, entry: Entry, session: TerminalSession): Promise<void> {
    const eventsBefore = slot.cardEvents;
    try {
      const status = await session.request({ type: 'Status' });
      // A card event that overtook the answer is newer than it.
      if (slot.cardEvents === eventsBefore) entry.info.cardPresent = status.cardPresent;
    } catch (e) {
      this.logger.warn({ terminal: entry.info.id, path: entry.info.path, err: e }, 'Status failed after the handshake; card presence unknown until the next card event');
    }
  }

  /** Frees the entry that stood for the slot so far, when it is not terminal `id`'s. */
  private releaseSlotEntry(slot: Slot, id: string): void {
    const prevId = slot.entryId;
    if (prevId === undefined || prevId === id) return;
    const prev = this.entries.get(prevId);
    if (prev === undefined || prev.slotKey !== slot.key) return;
    if (prevId === provisionalId(slot)) this.entries.delete(prevId);
    else if (prev.info.state === 'probing') this.setState(prev, 'gone', Reasons.gone({ path: slot.candidate.path }, `another terminal (${id}) is now on ${slot.candidate.path}`));
  }

  private failed(slot: Slot, error: unknown, answered: boolean): void {
    slot.busy = false;
    slot.session = undefined;
    slot.failures++;
    const c = slot.candidate;
    const ctx = { path: c.path, link: c.kind, answered, ...(error instanceof DuplicateTerminal ? { terminalId: error.terminalId, otherPath: error.otherPath } : {}) };
    const reason = error instanceof DuplicateTerminal ? Reasons.duplicate(ctx) : reasonForError(error, ctx);
    const delay = backoffDelayMs(slot.failures, this.options.reconnectInitialMs, this.options.reconnectMaxMs);
    const repeated = slot.lastReasonCode === reason.code;
    slot.lastReasonCode = reason.code;
    const fields = { path: c.path, link: c.kind, code: reason.code, retryInMs: delay, failures: slot.failures, err: error };

    const untrustedId = hasCode(error, 'HANDSHAKE_UNTRUSTED') ? terminalIdOf(error) : undefined;
    if (untrustedId !== undefined) {
      const known = this.entries.get(untrustedId);
      let entry: Entry;
      if (known !== undefined && known.slotKey !== slot.key && known.info.state === 'ready') {
        // Someone else claims the id of a trusted terminal: never touch the trusted entry.
        entry = this.provisionalEntry(slot);
      } else {
        this.releaseSlotEntry(slot, untrustedId);
        entry = known ?? { info: { id: untrustedId, link: c.kind, path: c.path, state: 'untrusted', cardPresent: false, since: this.now() }, slotKey: slot.key };
        this.entries.set(untrustedId, entry);
        entry.slotKey = slot.key;
        slot.entryId = untrustedId;
        const detail = (error as UnicardError).detail ?? {};
        if (typeof detail.vendor === 'string') entry.info.vendor = detail.vendor;
        if (typeof detail.model === 'string') entry.info.model = detail.model;
      }
      entry.info.path = c.path;
      entry.info.link = c.kind;
      delete entry.info.trust;
      entry.info.cardPresent = false;
      this.setState(entry, 'untrusted', Reasons.untrusted({ path: c.path, terminalId: untrustedId }, reason.en));
      if (repeated) this.logger.debug(fields, `terminal ${untrustedId} on ${c.path} is still not trusted`);
      else this.logger.warn({ ...fields, terminal: untrustedId, state: 'untrusted' }, `terminal ${untrustedId} on ${c.path} refused: not trusted`);
    } else {
      let entry = slot.entryId === undefined ? undefined : this.entries.get(slot.entryId);
      if (entry === undefined || entry.slotKey !== slot.key) entry = this.provisionalEntry(slot);
      // A known terminal that is gone stays gone (with the reason it went) while its port does
      // not open or nothing answers there; a port that answers wrongly is in error.
      const linkFailure = error instanceof UnicardError && error.code.startsWith('LINK_');
      const stillGone = entry.info.id !== provisionalId(slot) && entry.info.state === 'gone' && (linkFailure || !answered);
      if (!stillGone) this.setState(entry, 'error', reason);
      const msg = `no usable terminal on ${c.path}: ${reason.code}`;
      if (repeated) this.logger.debug(fields, msg);
      else this.logger.warn({ ...fields, terminal: entry.info.id, state: entry.info.state }, msg);
    }
    this.schedule(slot, delay);
  }

  // ------------------------------------------------------------------ running sessions

  private cardEvent(slot: Slot, entry: Entry, e: SessionEvent): void {
    if (slot.session === undefined) return;
    slot.cardEvents++;
    const terminalId = entry.info.id;
    if (e.type === 'CardInserted') {
      entry.info.cardPresent = true;
      this.logger.info({ terminal: terminalId, card: e.cardId }, `card ${e.cardId} inserted in ${terminalId}`);
      this.emit({ kind: 'card.inserted', terminalId, cardId: e.cardId });
    } else {
      entry.info.cardPresent = false;
      this.logger.info({ terminal: terminalId, card: e.cardId }, `card ${e.cardId} removed from ${terminalId}`);
      this.emit({ kind: 'card.removed', terminalId, cardId: e.cardId });
    }
  }

  private sessionClosed(slot: Slot, session: TerminalSession, error: UnicardError | undefined): void {
    if (slot.session !== session) return;
    slot.session = undefined;
    slot.busy = false;
    this.stopPing(slot);
    if (this.stopping) return;
    const entry = slot.entryId === undefined ? undefined : this.entries.get(slot.entryId);
    const c = slot.candidate;
    const reason = error === undefined ? Reasons.gone({ path: c.path }, `the session with ${c.path} was closed`) : reasonForError(error, { path: c.path, link: c.kind });
    if (entry !== undefined && entry.slotKey === slot.key) {
      const wasReady = entry.info.state === 'ready';
      entry.info.cardPresent = false;
      this.setState(entry, 'gone', reason);
      this.logger.warn(
        { terminal: entry.info.id, path: c.path, link: c.kind, state: 'gone', code: reason.code, err: error },
        `terminal ${entry.info.id} gone from ${c.path}: ${reason.code}`,
      );
      if (wasReady) this.emit({ kind: 'terminal.gone', terminal: copyInfo(entry.info), reason: reason.code });
    }
    if (!slot.listed) {
      this.dropSlot(slot);
      return;
    }
    slot.failures = 0;
    slot.lastReasonCode = reason.code;
    // Give a replugged port a moment; a serial path that vanished is retried when it exists.
    this.schedule(slot, this.options.reconnectInitialMs);
  }

  /**
   * The terminal restarted (or lost the session): the link is still open, so ask GetInfo
   * again (the firmware may have changed) and run a new handshake with a new trust decision.
   */
  private async rehandshake(slot: Slot): Promise<void> {
    const session = slot.session;
    if (session === undefined || slot.rehandshaking || session.state !== 'lost' || this.stopping) return;
    slot.rehandshaking = true;
    this.stopPing(slot);
    const entry = slot.entryId === undefined ? undefined : this.entries.get(slot.entryId);
    const id = entry?.info.id;
    try {
      if (entry !== undefined && entry.info.state === 'ready') {
        const reason = Reasons.rebooted({ path: slot.candidate.path });
        this.setState(entry, 'probing', reason);
        entry.info.cardPresent = false;
        this.logger.warn({ terminal: id, path: slot.candidate.path, code: reason.code }, `terminal ${id} restarted: new handshake`);
        this.emit({ kind: 'terminal.gone', terminal: copyInfo(entry.info), reason: reason.code });
      }
      const info = await session.getInfo();
      const outcome = await session.handshake();
      if (entry === undefined || outcome.device.terminalId !== id) {
        // Another terminal answered on the same link: start over with a fresh probe.
        await session.close();
        return;
      }
      entry.info.firmware = info.firmwareVersion.join('.');
      entry.info.serial = info.serial;
      entry.info.trust = outcome.decision === 'pinned' ? 'pinned' : 'vendor-root';
      slot.cardEvents = 0;
      await this.readCardState(slot, entry, session);
      if (session.isClosed || slot.session !== session) return;
      this.becameReady(slot, entry);
    } catch (e) {
      // handshake() and an unanswered getInfo() close the session; its close handler takes over.
      this.logger.debug({ terminal: id, path: slot.candidate.path, err: e }, 'new handshake after a restart failed');
      if (!session.isClosed) await session.close();
    } finally {
      slot.rehandshaking = false;
    }
  }

  private startPing(slot: Slot): void {
    this.stopPing(slot);
    const every = this.options.pingIntervalMs;
    if (every <= 0) return;
    slot.pingTimer = setInterval(() => {
      const s = slot.session;
      if (s === undefined || s.isClosed) return;
      if (s.state === 'lost') {
        void this.rehandshake(slot);
        return;
      }
      if (!s.isSealed || s.outstanding.length > 0) return;
      // TERMINAL_UNRESPONSIVE closes the session (its close handler marks it gone);
      // SESSION_LOST leaves it lost, and the next tick runs the handshake.
      s.ping().catch((e: unknown) => {
        if (s.state === 'lost') void this.rehandshake(slot);
        else this.logger.debug({ path: slot.candidate.path, err: e }, 'ping failed');
      });
    }, every);
  }

  private stopPing(slot: Slot): void {
    if (slot.pingTimer !== undefined) clearInterval(slot.pingTimer);
    slot.pingTimer = undefined;
  }

  // ------------------------------------------------------------------ pins

  private async checkPins(): Promise<void> {
    let changed: boolean;
    let count: number;
    try {
      ({ changed, count } = await this.options.trust.reloadPins());
      this.pinsWarning = undefined;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (this.pinsWarning !== message) {
        this.pinsWarning = message;
        this.logger.error({ err: e }, `the pins file is invalid; keeping the pins read before: ${message}`);
      }
      return;
    }
    if (!changed) return;
    this.logger.info({ pins: count }, `pins file changed: ${count} pin(s)`);
    for (const slot of this.slots.values()) {
      const entry = slot.entryId === undefined ? undefined : this.entries.get(slot.entryId);
      if (entry === undefined) continue;
      if (entry.info.state === 'untrusted' && !slot.busy) {
        // Try the refused terminal again now: it may be pinned.
        slot.failures = 0;
        slot.nextAttemptAt = 0;
        this.clearRetry(slot);
      } else if (entry.info.state === 'ready' && entry.info.trust === 'pinned' && slot.session?.device !== undefined) {
        if (!this.options.trust.isPinned(slot.session.device)) {
          const reason = Reasons.pinRemoved({ path: slot.candidate.path, terminalId: entry.info.id });
          this.logger.warn({ terminal: entry.info.id, code: reason.code }, `terminal ${entry.info.id} is no longer pinned: closing its session`);
          const s = slot.session;
          slot.session = undefined;
          slot.busy = false;
          this.stopPing(slot);
          this.setState(entry, 'untrusted', reason);
          this.emit({ kind: 'terminal.gone', terminal: copyInfo(entry.info), reason: reason.code });
          await s.close();
          this.schedule(slot, 0);
        }
      }
    }
  }

  // ------------------------------------------------------------------ helpers

  private setState(entry: Entry, state: TerminalState, reason: TerminalInfo['reason']): void {
    if (entry.info.state !== state) entry.info.since = this.now();
    entry.info.state = state;
    if (reason === undefined) delete entry.info.reason;
    else entry.info.reason = { code: reason.code, en: reason.en, ar: reason.ar };
  }

  private clearRetry(slot: Slot): void {
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    slot.timer = undefined;
  }

  private clearTimers(slot: Slot): void {
    this.clearRetry(slot);
    this.stopPing(slot);
  }

  private emit(event: TerminalEvent): void {
    for (const l of this.listeners.slice()) {
      try {
        l(event);
      } catch (e) {
        this.logger.error({ err: errorFields(e), event: event.kind }, 'a terminal event listener failed');
      }
    }
  }
}

/** A device claims the id of a terminal that is ready on another port. */
class DuplicateTerminal extends UnicardError {
  constructor(
    readonly terminalId: string,
    readonly otherPath: string,
  ) {
    super('DUPLICATE_TERMINAL', `terminal ${terminalId} is already connected on ${otherPath}`, { terminalId, otherPath });
  }
}

function provisionalId(slot: Slot): string {
  return slot.key;
}

function hasCode(e: unknown, ...codes: string[]): boolean {
  return e instanceof UnicardError && codes.includes(e.code);
}

function terminalIdOf(e: unknown): string | undefined {
  const id = e instanceof UnicardError ? e.detail?.terminalId : undefined;
  return typeof id === 'string' ? id : undefined;
}

function copyInfo(info: TerminalInfo): TerminalInfo {
  const out = { ...info };
  if (info.reason !== undefined) out.reason = { ...info.reason };
  return out;
}
