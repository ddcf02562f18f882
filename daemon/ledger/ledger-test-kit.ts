/**
 * Helpers for the ledger's tests: a ledger in a unique temporary directory with a clock the
 * test moves, and ready-made bread and ration authorizations with signed evidence.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ledger, type LedgerOptions } from './ledger.js';
import { FixtureWorld, type EvidenceOptions, type FixtureCard } from './ledger-fixtures.js';
import type { Allocation, NewAuthorization, RequestedLine, ServiceName } from './ledger-types.js';
import { addDays, dayKey, monthKey } from './periods.js';

/** 2026-11-20 10:00 in Cairo (08:00 UTC). */
export const T0 = Date.UTC(2026, 10, 20, 8);

/** A temporary ledger and the world that signs for it. */
export class LedgerHarness {
  readonly dir: string;
  readonly path: string;
  readonly world: FixtureWorld;
  now = T0;
  ledger: Ledger;
  private keys = 0;

  constructor(name = 'test', options: Partial<LedgerOptions> = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'unicard-ledger-'));
    this.path = join(this.dir, 'ledger.db');
    this.world = new FixtureWorld(name);
    this.ledger = this.open(options);
  }

  /** Opens (another handle on) the ledger file with the world's daemon key and the harness clock. */
  open(options: Partial<LedgerOptions> = {}): Ledger {
    return Ledger.open(this.path, { daemonSeed: this.world.daemonSeed, clock: () => this.now, ...options });
  }

  /** Closes the current handle and opens the file again. */
  reopen(): Ledger {
    this.ledger.close();
    this.ledger = this.open();
    return this.ledger;
  }

  /** A fresh idempotency key. */
  key(): string {
    return `key-${++this.keys}`;
  }

  /** A bread authorization request: `days` entitlement days of `perDay` loaves from today. */
  bread(
    card: FixtureCard,
    o: { perDay?: number; days?: number; key?: string; clientId?: string; evidence?: Partial<EvidenceOptions>; expiresInMs?: number; supervisorDailyCap?: number } = {},
  ): NewAuthorization {
    const perDay = o.perDay ?? 5 * card.members;
    const days = o.days ?? 1;
    const today = dayKey(this.now);
    const approved: Allocation[] = Array.from({ length: days }, (_, i) => ({ period: addDays(today, i), item: 'loaf', quantity: perDay, unitPiastres: 20 }));
    return this.request(card, 'bread', [{ item: 'loaf', quantity: perDay * days }], approved, perDay * days, o);
  }

  /** A ration authorization request for `items` this month. */
  ration(
    card: FixtureCard,
    items: readonly { item: string; quantity: number; unitPiastres: number }[],
    o: { key?: string; clientId?: string; evidence?: Partial<EvidenceOptions>; expiresInMs?: number } = {},
  ): NewAuthorization {
    const month = monthKey(this.now);
    const approved = items.map((i) => ({ period: month, item: i.item, quantity: i.quantity, unitPiastres: i.unitPiastres }));
    const piastres = items.reduce((s, i) => s + i.quantity * i.unitPiastres, 0);
    return this.request(card, 'ration', items.map((i) => ({ item: i.item, quantity: i.quantity })), approved, piastres, o);
  }

  private request(
    card: FixtureCard,
    service: ServiceName,
    requested: RequestedLine[],
    approved: Allocation[],
    cardQuantity: number,
    o: { key?: string; clientId?: string; evidence?: Partial<EvidenceOptions>; expiresInMs?: number; supervisorDailyCap?: number },
  ): NewAuthorization {
    return {
      clientId: o.clientId ?? 'pos-1',
      idempotencyKey: o.key ?? this.key(),
      shopId: this.world.shopId,
      terminalId: this.world.terminalId,
      service,
      requested,
      approved,
      expiresAt: this.now + (o.expiresInMs ?? 120_000),
      evidence: this.world.evidence(card, { service, quantity: cardQuantity, timeMs: this.now, ...o.evidence }),
      ...(o.supervisorDailyCap !== undefined ? { supervisorDailyCap: o.supervisorDailyCap } : {}),
    };
  }

  /** Closes the ledger and removes the directory. */
  dispose(): void {
    try {
      this.ledger.close();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
