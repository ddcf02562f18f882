/**
 * Who drives which terminal: at most one connection holds a terminal at a time; others may
 * wait for it, first come first served, each up to its own time limit. Claims are keyed by
 * terminal id and by connection, so dropping a connection releases everything it held and
 * withdraws everything it waited for.
 */
import { type ApiError, type HolderDescription, terminalBusy } from './api-errors.js';

/** The connection that holds or wants a terminal. */
export interface ClaimOwner {
  /** Unique per connection for the life of the server. */
  readonly connectionId: number;
  /** The token's name (from the daemon's config). */
  readonly name: string;
  /** The client name given in hello, if any. */
  readonly client?: string;
}

/** How a claim was granted. */
export interface ClaimGrant {
  /** The connection already held the terminal: nothing changed. */
  alreadyHeld: boolean;
  /** How long the claim waited for the previous holder (0 when the terminal was free). */
  waitedMs: number;
}

/** What {@link ClaimRegistry.release} did. */
export type ReleaseOutcome = 'released' | 'not-claimed' | 'held-by-other';

interface Waiter {
  readonly owner: ClaimOwner;
  readonly since: number;
  readonly resolve: (g: ClaimGrant) => void;
  readonly reject: (e: ApiError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Claim {
  owner: ClaimOwner;
  since: number;
  readonly waiters: Waiter[];
}

/** A change, for logs. */
export type ClaimChange =
  | { kind: 'granted'; terminalId: string; owner: ClaimOwner; waitedMs: number }
  | { kind: 'released'; terminalId: string; owner: ClaimOwner; why: 'release' | 'disconnect' };

/** The claim table. */
export class ClaimRegistry {
  private readonly claims = new Map<string, Claim>();
  private readonly now: () => number;
  private readonly onChange: ((c: ClaimChange) => void) | undefined;

  constructor(options: { now?: () => number; onChange?: (c: ClaimChange) => void } = {}) {
    this.now = options.now ?? Date.now;
    this.onChange = options.onChange;
  }

  /** The holder of `terminalId`, if any. */
  holder(terminalId: string): ClaimOwner | undefined {
    return this.claims.get(terminalId)?.owner;
  }

  /** When the current holder got `terminalId`. */
  heldSince(terminalId: string): number | undefined {
    return this.claims.get(terminalId)?.since;
  }

  /** Terminal ids held by a connection. */
  heldBy(connectionId: number): string[] {
    const out: string[] = [];
    for (const [id, c] of this.claims) if (c.owner.connectionId === connectionId) out.push(id);
    return out;
  }

  /** Connections waiting for `terminalId`, first in line first. */
  waiting(terminalId: string): ClaimOwner[] {
    return this.claims.get(terminalId)?.waiters.map((w) => w.owner) ?? [];
  }

  /** How many terminals are claimed. */
  get size(): number {
    return this.claims.size;
  }

  /**
   * Claims `terminalId` for `owner`. Free: granted now. Held by the same connection: granted
   * now, `alreadyHeld`. Held by another: with `waitMs` 0 rejects at once with TERMINAL_BUSY
   * naming the holder; otherwise waits in line, and rejects with TERMINAL_BUSY (naming the
   * holder at that moment) when `waitMs` passes first.
   */
  claim(terminalId: string, owner: ClaimOwner, waitMs: number): Promise<ClaimGrant> {
    const current = this.claims.get(terminalId);
    if (current === undefined) {
      this.claims.set(terminalId, { owner, since: this.now(), waiters: [] });
      this.onChange?.({ kind: 'granted', terminalId, owner, waitedMs: 0 });
      return Promise.resolve({ alreadyHeld: false, waitedMs: 0 });
    }
    if (current.owner.connectionId === owner.connectionId) return Promise.resolve({ alreadyHeld: true, waitedMs: 0 });
    if (waitMs <= 0 || current.waiters.some((w) => w.owner.connectionId === owner.connectionId)) {
      return Promise.reject(terminalBusy(terminalId, describe(current.owner)));
    }
    return new Promise<ClaimGrant>((resolve, reject) => {
      const waiter: Waiter = { owner, since: this.now(), resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => {
        const claim = this.claims.get(terminalId);
        const i = claim?.waiters.indexOf(waiter) ?? -1;
        if (claim === undefined || i === -1) return;
        claim.waiters.splice(i, 1);
        reject(terminalBusy(terminalId, describe(claim.owner), this.now() - waiter.since));
      }, waitMs);
      current.waiters.push(waiter);
    });
  }

  /** Releases `terminalId` if `connectionId` holds it; the first waiter, if any, gets it. */
  release(terminalId: string, connectionId: number): ReleaseOutcome {
    const claim = this.claims.get(terminalId);
    if (claim === undefined) return 'not-claimed';
    if (claim.owner.connectionId !== connectionId) return 'held-by-other';
    this.handOver(terminalId, claim, 'release');
    return 'released';
  }

  /**
   * A connection went away: its waits are withdrawn (rejected with `error`, which nobody
   * will read) and its claims released to the next in line. Returns the released ids.
   */
  dropConnection(connectionId: number, error: ApiError): string[] {
    const released: string[] = [];
    for (const [terminalId, claim] of [...this.claims]) {
      for (const w of claim.waiters.filter((x) => x.owner.connectionId === connectionId)) {
        claim.waiters.splice(claim.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.reject(error);
      }
      if (claim.owner.connectionId === connectionId) {
        this.handOver(terminalId, claim, 'disconnect');
        released.push(terminalId);
      }
    }
    return released;
  }

  /** Rejects every waiting claim with `error` (the server is stopping); claims stay. */
  rejectAllWaiters(error: ApiError): void {
    for (const claim of this.claims.values()) {
      for (const w of claim.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(error);
      }
    }
  }

  private handOver(terminalId: string, claim: Claim, why: 'release' | 'disconnect'): void {
    const previous = claim.owner;
    const next = claim.waiters.shift();
    this.onChange?.({ kind: 'released', terminalId, owner: previous, why });
    if (next === undefined) {
      this.claims.delete(terminalId);
      return;
    }
    clearTimeout(next.timer);
    const now = this.now();
    claim.owner = next.owner;
    claim.since = now;
    const waitedMs = now - next.since;
    this.onChange?.({ kind: 'granted', terminalId, owner: next.owner, waitedMs });
    next.resolve({ alreadyHeld: false, waitedMs });
  }
}

/** The holder as named in errors: token name and hello's client name. */
export function describe(owner: ClaimOwner): HolderDescription {
  return owner.client === undefined ? { name: owner.name } : { name: owner.name, client: owner.client };
}
