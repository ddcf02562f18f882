/**
 * Group commit: many writes share one SQLite transaction, so one fsync makes them all
 * durable. Each write runs in its own SAVEPOINT inside the batch, so a refused write rolls
 * back alone; the promise of every write settles only after the batch's COMMIT returned
 * (with `synchronous = FULL`, after the WAL was fsynced). Nothing is acknowledged before it
 * is on disk.
 *
 * Batching comes for free from the event loop: the first write schedules a flush with
 * setImmediate; every write queued until then (and, while a flush blocks on fsync, every
 * request that arrives meanwhile) joins the next batch.
 */
import type Database from 'better-sqlite3';
import { LedgerError, toLedgerError } from './ledger-error.js';

/**
 * Returned by a write that must keep its changes and still fail: e.g. a commit that finds
 * its authorization expired marks it expired (kept) and rejects with AUTHORIZATION_EXPIRED.
 */
export class KeptRefusal {
  constructor(readonly error: LedgerError) {}
}

/** Hooks the queue calls around a batch so its owner can keep in-memory state in step with the database. */
export interface BatchHooks<S> {
  /** Called inside the batch transaction, before the first write (e.g. reload the chain head). */
  begin(): void;
  /** In-memory state to restore when one write is rolled back. */
  snapshot(): S;
  restore(state: S): void;
  /** The whole batch failed to commit: drop any in-memory state and reload it. */
  failed(): void;
}

interface Job {
  readonly op: () => unknown;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

/** Serialises writes into batches, one transaction and one fsync per batch. */
export class GroupCommitQueue<S> {
  private pending: Job[] = [];
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  private batches = 0;
  private writes = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly hooks: BatchHooks<S>,
    private readonly maxBatch = 1024,
  ) {}

  /**
   * Queues a write. `op` runs synchronously inside the batch transaction; its return value
   * resolves the promise once the batch is durable. A thrown error rolls back this write
   * only and rejects (as a LedgerError); a returned {@link KeptRefusal} keeps the write and rejects.
   */
  run<T>(op: () => T | KeptRefusal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Number of batches and writes committed so far (for tests and statistics). */
  get counts(): { batches: number; writes: number } {
    return { batches: this.batches, writes: this.writes };
  }

  /** Resolves once every queued write has settled. */
  idle(): Promise<void> {
    if (this.pending.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Runs every queued write now (used by close). */
  flushNow(): void {
    while (this.pending.length > 0) this.flushBatch();
    this.notifyIdle();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flushBatch();
      if (this.pending.length > 0) this.schedule();
      else this.notifyIdle();
    });
  }

  private notifyIdle(): void {
    if (this.pending.length > 0 || this.scheduled) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private flushBatch(): void {
    const jobs = this.pending.splice(0, this.maxBatch);
    if (jobs.length === 0) return;
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (e) {
      const err = toLedgerError(e, 'ledger write');
      for (const j of jobs) j.reject(err);
      return;
    }
    try {
      this.hooks.begin();
      for (const job of jobs) {
        const state = this.hooks.snapshot();
        this.db.exec('SAVEPOINT w');
        try {
          const value = job.op();
          this.db.exec('RELEASE w');
          outcomes.push(value instanceof KeptRefusal ? { ok: false, value: value.error } : { ok: true, value });
        } catch (e) {
          this.db.exec('ROLLBACK TO w');
          this.db.exec('RELEASE w');
          this.hooks.restore(state);
          outcomes.push({ ok: false, value: toLedgerError(e, 'ledger write') });
        }
      }
      this.db.exec('COMMIT');
    } catch (e) {
      // The batch as a whole did not reach the disk (I/O error, disk full): nothing of it counts.
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } catch {
        // the connection is already outside a transaction
      }
      this.hooks.failed();
      const err = toLedgerError(e, 'ledger write');
      for (const j of jobs) j.reject(err);
      return;
    }
    this.batches++;
    this.writes += jobs.length;
    jobs.forEach((job, i) => {
      const o = outcomes[i] as { ok: boolean; value: unknown };
      if (o.ok) job.resolve(o.value);
      else job.reject(o.value);
    });
  }
}
