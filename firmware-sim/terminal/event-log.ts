/**
 * The terminal's event log (what ReadLog returns): a ring of the most recent entries with
 * sequence numbers that only go up, so a host that polls with `sinceSeq` never misses or
 * repeats an entry it could still have read. It lives as long as the process (it survives
 * simulated reboots, as a log in flash would).
 */
import type { LogLevel } from '../../protocol/messages.js';
import { MAX_TEXT_BYTES } from '../../protocol/messages.js';
import { truncateUtf8 } from './terminal-error.js';

/** Severity names. */
export type LogLevelName = keyof typeof LogLevel.values;

/** One entry, as ReadLogResult carries it. */
export interface LogEntryRecord {
  readonly seq: number;
  readonly unixMs: number | null;
  readonly level: LogLevelName;
  readonly event: string;
  readonly detail?: string;
}

/** Entries kept by default. */
export const DEFAULT_LOG_CAPACITY = 512;

/** The ring. Sequence numbers start at 1. */
export class EventLog {
  private readonly entries: LogEntryRecord[] = [];
  private next = 1;
  private readonly listeners = new Set<(e: LogEntryRecord) => void>();

  constructor(
    /** Wall time of a new entry, or null when the clock was never set. */
    private readonly now: () => number | null,
    private readonly capacity = DEFAULT_LOG_CAPACITY,
  ) {}

  /** Appends an entry (event names are cut to 32 bytes, details to 256). */
  append(level: LogLevelName, event: string, detail?: string): LogEntryRecord {
    const entry: LogEntryRecord = {
      seq: this.next++,
      unixMs: this.now(),
      level,
      event: truncateUtf8(event, 32) || 'event',
      ...(detail !== undefined ? { detail: truncateUtf8(detail, MAX_TEXT_BYTES) } : {}),
    };
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    for (const l of [...this.listeners]) l(entry);
    return entry;
  }

  /** Sequence number the next entry will get. */
  get nextSeq(): number {
    return this.next;
  }

  /**
   * Up to `max` entries with seq ≥ `sinceSeq`, oldest first. Entries older than the ring
   * are gone: reading starts at the oldest one kept.
   */
  read(sinceSeq: number, max: number): LogEntryRecord[] {
    const out: LogEntryRecord[] = [];
    for (const e of this.entries) {
      if (out.length >= max) break;
      if (e.seq >= sinceSeq) out.push(e);
    }
    return out;
  }

  /** Subscribe to new entries (the simulator echoes them to stderr); returns the unsubscribe function. */
  onEntry(listener: (e: LogEntryRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
