/**
 * Fills a ledger with realistic receipts for benchmarks: households of 1–8 people, bread
 * collected for 1–3 days at a time (5 loaves a person a day), ration goods a few times a
 * month, days advancing as a bakery's would. Every receipt goes through the ledger's own code
 * (evidence checks, card counter, authorization row, receipt signed by the daemon key, usage
 * index) via Ledger.appendDispensedNow, in one big transaction per chunk.
 *
 * Card signatures are real only with `signCards: true` (three Ed25519 signatures more per
 * receipt, ~3× slower); by default they are placeholders of the right size, so the receipt
 * bytes and the index are realistic while a million receipts load in a minute or two.
 */
import { sha512 } from '../../protocol/crypto/bytes.js';
import { CardAuthKey, HolderResult, HolderVerifyKey, type CardAuthFields } from '../../protocol/crypto/card-structures.js';
import { Domain } from '../../protocol/crypto/domains.js';
import { CborWriter } from './cbor-writer.js';
import type { Ledger } from './ledger.js';
import { FixtureWorld, type FixtureCard } from './ledger-fixtures.js';
import { serviceCode, type Allocation, type AuthorizationEvidence, type ServiceName } from './ledger-types.js';
import { addDays, dayKey, monthKey } from './periods.js';

/** Options of {@link populateLedger}. */
export interface PopulateOptions {
  /** Number of households (default n / 250, within 20..5000). */
  readonly households?: number;
  /** Seed of the pseudo-random choices (default 1). */
  readonly seed?: number;
  /** Unix ms of the first day (default 2024-01-01 04:00 UTC, 06:00 in Cairo). */
  readonly startMs?: number;
  /** Sign card-auth and holder-verify with the card keys (default false: placeholder signatures). */
  readonly signCards?: boolean;
  /** Receipts per transaction (default 50,000). */
  readonly chunk?: number;
  /** The world whose keys sign (must be the one whose daemon seed opened the ledger, for verification). */
  readonly world?: FixtureWorld;
  /** Called after each chunk with the number of receipts written so far. */
  readonly progress?: (done: number) => void;
}

/** What {@link populateLedger} made. */
export interface PopulateResult {
  readonly receipts: number;
  readonly householdIds: readonly string[];
  /** Unix ms of the last receipt: "now" for usage queries that should see recent data. */
  readonly lastMs: number;
  readonly firstMs: number;
}

/** mulberry32: a small, fast, seedable generator (benchmark data, not secrets). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RATION_ITEMS: readonly { item: string; unitPiastres: number }[] = [
  { item: 'sugar_kg', unitPiastres: 1260 },
  { item: 'oil_bottle', unitPiastres: 3000 },
  { item: 'rice_kg', unitPiastres: 1000 },
  { item: 'tea_pack', unitPiastres: 500 },
  { item: 'lentils_kg', unitPiastres: 2500 },
];

const LOAF_PIASTRES = 20;
const DAY_MS = 86_400_000;

/**
 * Appends `n` receipts to `ledger` (which must be open with the world's daemon seed for the
 * result to verify). Returns the households and the time span used.
 */
export function populateLedger(ledger: Ledger, n: number, options: PopulateOptions = {}): PopulateResult {
  const world = options.world ?? new FixtureWorld('bench');
  const random = rng(options.seed ?? 1);
  const householdCount = options.households ?? Math.min(5000, Math.max(20, Math.ceil(n / 250)));
  const householdIds: string[] = [];
  const cards: FixtureCard[] = [];
  for (let i = 0; i < householdCount; i++) {
    const id = `H${String(i + 1).padStart(6, '0')}`;
    // Sizes 1..8, most households 3..5.
    const members = Math.min(8, Math.max(1, Math.round(4 + (random() + random() + random() - 1.5) * 2.2)));
    householdIds.push(id);
    const card = world.card(id, members);
    // A ledger populated before (by another world instance) has seen these counters.
    card.counter = Math.max(card.counter, (ledger.cardCounter(card.cardId) ?? 0) + 1);
    cards.push(card);
  }
  const startMs = options.startMs ?? Date.UTC(2024, 0, 1, 4);
  // A household comes for bread about every second day; ration goods once or twice a month.
  const perDay = Math.max(1, Math.round(householdCount * 0.55));
  const chunk = options.chunk ?? 50_000;
  let dayIndex = 0;
  let inDay = 0;
  let done = 0;
  let lastMs = startMs;
  let counter = ledger.head().seq;
  let nowMs = startMs;
  while (done < n) {
    const todo = Math.min(chunk, n - done);
    ledger.bulk(() => {
      for (let k = 0; k < todo; k++) {
        if (inDay >= perDay) {
          dayIndex++;
          inDay = 0;
        }
        inDay++;
        // Opening hours 06:00–14:00 Cairo, spread over the day in order.
        nowMs = startMs + dayIndex * DAY_MS + Math.floor((inDay / perDay) * 8 * 3_600_000);
        lastMs = nowMs;
        const card = cards[Math.floor(random() * cards.length)] as FixtureCard;
        const bread = random() < 0.87;
        const service: ServiceName = bread ? 'bread' : 'ration';
        const approved: Allocation[] = [];
        if (bread) {
          const maxDays = card.members >= 4 ? 2 : 3;
          const days = 1 + Math.floor(random() * maxDays);
          const today = dayKey(nowMs);
          for (let d = 0; d < days; d++) approved.push({ period: addDays(today, d), item: 'loaf', quantity: 5 * card.members, unitPiastres: LOAF_PIASTRES });
        } else {
          const month = monthKey(nowMs);
          const count = 1 + Math.floor(random() * 3);
          const start = Math.floor(random() * RATION_ITEMS.length);
          for (let j = 0; j < count; j++) {
            const it = RATION_ITEMS[(start + j) % RATION_ITEMS.length] as (typeof RATION_ITEMS)[number];
            approved.push({ period: month, item: it.item, quantity: 1 + Math.floor(random() * Math.min(card.members, 4)), unitPiastres: it.unitPiastres });
          }
        }
        const amount = approved.reduce((s, a) => s + (bread ? a.quantity : a.quantity * a.unitPiastres), 0);
        const evidence =
          options.signCards === true ? world.evidence(card, { service, quantity: amount, timeMs: nowMs }) : placeholderEvidence(world, card, service, amount, nowMs);
        const requested = bread ? [{ item: 'loaf', quantity: approved.reduce((s, a) => s + a.quantity, 0) }] : approved.map((a) => ({ item: a.item, quantity: a.quantity }));
        ledger.appendDispensedNow(
          {
            clientId: 'bench-pos',
            // Zero-padded: keys in insertion order keep the (client, key) index appending at its edge.
            idempotencyKey: `pop-${String(counter++).padStart(12, '0')}`,
            shopId: world.shopId,
            terminalId: world.terminalId,
            service,
            requested,
            approved,
            expiresAt: nowMs + 120_000,
            evidence,
          },
          nowMs,
        );
      }
    });
    done += todo;
    options.progress?.(done);
  }
  return { receipts: done, householdIds, firstMs: startMs, lastMs };
}

/** Card-auth body (canonical CBOR, as buildCardAuthBody writes it), written directly: the bulk load builds one per receipt. */
export function placeholderCardAuthBody(f: CardAuthFields): Uint8Array {
  const K = CardAuthKey;
  return new CborWriter(256)
    .map(9)
    .uint(K.domain)
    .text(Domain.cardAuth)
    .uint(K.nonce)
    .bytes(f.nonce)
    .uint(K.cardId)
    .text(f.cardId)
    .uint(K.service)
    .uint(f.service)
    .uint(K.quantity)
    .uint(f.quantity)
    .uint(K.shopId)
    .text(f.shopId)
    .uint(K.terminalId)
    .text(f.terminalId)
    .uint(K.time)
    .uint(f.time)
    .uint(K.counter)
    .uint(f.counter)
    .finish();
}

/** Holder-verify body of a match by member 0 after one capture, written directly. */
export function placeholderHolderBody(nonce: Uint8Array, cardId: string): Uint8Array {
  const K = HolderVerifyKey;
  return new CborWriter(128)
    .map(6)
    .uint(K.domain)
    .text(Domain.holderVerify)
    .uint(K.nonce)
    .bytes(nonce)
    .uint(K.cardId)
    .text(cardId)
    .uint(K.memberIndex)
    .uint(0)
    .uint(K.result)
    .uint(HolderResult.match)
    .uint(K.attempts)
    .uint(1)
    .finish();
}

/** Card evidence with well-formed bodies and signature-sized placeholders (not verifiable). */
function placeholderEvidence(world: FixtureWorld, card: FixtureCard, service: ServiceName, quantity: number, timeMs: number): AuthorizationEvidence {
  const nonce = world.nextNonce();
  const cardAuthBody = placeholderCardAuthBody({
    nonce,
    cardId: card.cardId,
    service: serviceCode(service),
    quantity,
    shopId: world.shopId,
    terminalId: world.terminalId,
    time: Math.floor(timeMs / 1000),
    counter: card.counter++,
  });
  const holderBody = placeholderHolderBody(nonce, card.cardId);
  // Placeholder signatures: 64 bytes that do not verify (the receipt's size is what counts here).
  return {
    cardCertificate: card.certificate,
    cardAuth: { body: cardAuthBody, signature: sha512(cardAuthBody) },
    holderVerify: { body: holderBody, signature: sha512(holderBody) },
    terminalCertificate: world.terminalCertificate,
  };
}
