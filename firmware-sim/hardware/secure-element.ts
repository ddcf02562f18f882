/**
 * The card's secure element, simulated. What a real one guarantees, this object keeps:
 * - the Ed25519 seed never leaves it (no getter; it only signs);
 * - the transaction counter only goes up, and is stored before the signature that uses
 *   it is released, so a restart never signs the same counter twice;
 * - fingerprint matching happens inside it (match-on-card), and it signs only holder
 *   results it established itself: "match" only after a capture matched, and only the
 *   member that matched;
 * - failed match attempts are limited per member (and for "any member" requests) per card
 *   session, power-up to removal; a match clears the failures, like a PIN try counter.
 */
import { signCardAuth, signHolderVerify, type CardAuthFields, type HolderVerifyFields } from '../../protocol/crypto/card-structures.js';
import type { CardMember } from '../../protocol/crypto/certificates.js';
import { NodeEd25519, type Ed25519 } from '../../protocol/crypto/ed25519.js';
import type { SignedStructure } from '../../protocol/crypto/signed-structure.js';
import { SerialQueue, type AtomicWriteOptions } from './atomic-file.js';
import { MAX_CARD_COUNTER, roleCode, saveCardFile, type CardFileData } from './card-file.js';
import { DEFAULT_MATCH_THRESHOLD, templateMatches } from './fingerprint-template.js';
import { HardwareError } from './hardware-error.js';

/** Budget key of "any member" requests in the per-session failure counts. */
const ANY = -1;

/** Default match attempts per member per card session. */
export const DEFAULT_ATTEMPT_LIMIT = 3;

/** Public facts about the card (all of them are in its certificate too). */
export interface CardInfo {
  readonly cardId: string;
  readonly householdId: string;
  readonly governorate: number;
  readonly cardSerial: number;
  readonly validFrom: number;
  readonly validUntil: number;
  readonly members: readonly CardMember[];
  readonly publicKey: Uint8Array;
  /** The issuer's card certificate, as the host receives it. */
  readonly certificate: Uint8Array;
}

/** The transaction a card-auth approves; the card adds its id and counter. */
export type CardAuthRequest = Omit<CardAuthFields, 'cardId' | 'counter'>;

/** A signed structure and the fields it carries. */
export interface SignedResult<F> {
  readonly signed: SignedStructure;
  readonly fields: F;
}

/**
 * Member index signed in a holder-verify that asked for any member and matched none (the
 * wire's VerifyHolderResult carries no member then; host and card agree on this value).
 */
export const ANY_MEMBER_INDEX = 255;

/** Outcome of one match attempt. */
export type HolderAttempt =
  /** The capture matched member `memberIndex`: the verification is over, signed "match". */
  | { readonly outcome: 'match'; readonly memberIndex: number; readonly result: SignedResult<HolderVerifyFields> }
  /** No match. With attempts left the handler may capture again; at 0 it ends with no_match. */
  | { readonly outcome: 'no_match'; readonly attemptsLeft: number };

/** A holder verification in progress, bound to one nonce and one member (or any member). */
export interface HolderVerification {
  /** The member asked for; null when any member of the household may verify. */
  readonly requestedMember: number | null;
  /** Samples matched on the card in this verification (retry statuses never reach the card). */
  readonly attempts: number;
  /** True once a final result was signed. */
  readonly ended: boolean;
  /**
   * Match one capture on the card. Throws NO_CARD, ATTEMPTS_EXHAUSTED when the
   * card-session limit was already reached (nothing is matched then), or when ended.
   */
  attempt(sample: Uint8Array): HolderAttempt;
  /**
   * End without a match, signing why: no match within the attempts (no_match), the sensor
   * timed out, or the request was cancelled. Signed member index: the requested member,
   * or {@link ANY_MEMBER_INDEX}.
   */
  end(result: 'no_match' | 'timeout' | 'cancelled'): SignedResult<HolderVerifyFields>;
}

/** The card as the terminal's handlers see it. */
export interface SecureElement {
  readonly info: CardInfo;
  /** Last transaction counter used (0 = none). */
  readonly counter: number;
  /**
   * CDA card authentication: advances the counter, stores it, then signs the transaction
   * with it. Throws NO_CARD, CARD_COUNTER_EXHAUSTED, or a CryptoError for bad fields.
   */
  authenticate(request: CardAuthRequest): Promise<SignedResult<CardAuthFields>>;
  /**
   * Start verifying member `member` (null: any member) for the transaction `nonce`.
   * Throws NO_CARD, NO_SUCH_MEMBER.
   */
  startHolderVerification(nonce: Uint8Array, member: number | null): HolderVerification;
  /**
   * Failed-match budget left in this card session for a member, or for "any member"
   * requests (null), which have a budget of their own.
   */
  attemptsLeft(member: number | null): number;
}

/** Where the counter goes when it advances. */
export interface CounterStore {
  /** Persist `counter` durably; the signature that uses it is released only afterwards. */
  saveCounter(counter: number): Promise<void>;
}

/** Counter storage in memory only (unit tests, benchmarks). */
export class MemoryCounterStore implements CounterStore {
  saved: number[] = [];
  async saveCounter(counter: number): Promise<void> {
    this.saved.push(counter);
  }
}

/** Options of {@link CardFileCounterStore}. */
export interface CardFileCounterStoreOptions {
  /** fsync (default true). */
  durable?: boolean;
  /** Test hook: throwing from it simulates a crash at that step of the file write. */
  onStep?: AtomicWriteOptions['onStep'];
}

/** Counter storage in the card file: the whole file rewritten atomically (temp, fsync, rename). */
export class CardFileCounterStore implements CounterStore {
  constructor(
    private readonly path: string,
    private data: CardFileData,
    private readonly options: CardFileCounterStoreOptions = {},
  ) {}
  async saveCounter(counter: number): Promise<void> {
    const next = { ...this.data, counter };
    await saveCardFile(this.path, next, this.options);
    this.data = next;
  }
}

export interface SimulatedCardOptions {
  /** Signing implementation (default node:crypto; tweetnacl gives identical signatures). */
  ed?: Ed25519;
  /** Where the counter is persisted (default: memory only). */
  store?: CounterStore;
  /** Match attempts per member per card session (default 3). */
  attemptLimit?: number;
  /** Hamming-distance threshold for a match (bits, default {@link DEFAULT_MATCH_THRESHOLD}). */
  matchThreshold?: number;
}

/** A simulated unified card. The slot powers it on at insertion and off at removal. */
export class SimulatedCard implements SecureElement {
  readonly info: CardInfo;
  readonly #seed: Uint8Array;
  readonly #templates: ReadonlyMap<number, Uint8Array>;
  readonly #ed: Ed25519;
  readonly #store: CounterStore;
  readonly #queue = new SerialQueue();
  readonly #attemptLimit: number;
  readonly #threshold: number;
  #counter: number;
  #used = new Map<number, number>();
  #powered = false;

  constructor(data: CardFileData, options: SimulatedCardOptions = {}) {
    this.#ed = options.ed ?? new NodeEd25519();
    this.#seed = Uint8Array.from(data.seed);
    this.#templates = new Map(data.members.map((m) => [m.index, Uint8Array.from(m.template)]));
    this.#store = options.store ?? new MemoryCounterStore();
    this.#attemptLimit = options.attemptLimit ?? DEFAULT_ATTEMPT_LIMIT;
    this.#threshold = options.matchThreshold ?? DEFAULT_MATCH_THRESHOLD;
    this.#counter = data.counter;
    this.info = Object.freeze({
      cardId: data.cardId,
      householdId: data.householdId,
      governorate: data.governorate,
      cardSerial: data.cardSerial,
      validFrom: data.validFrom,
      validUntil: data.validUntil,
      members: Object.freeze(data.members.map((m) => Object.freeze({ index: m.index, role: roleCode(m.role) }))),
      publicKey: this.#ed.publicKeyFromSeed(this.#seed),
      certificate: Uint8Array.from(data.certificate),
    });
  }

  get counter(): number {
    return this.#counter;
  }

  /** True between insertion and removal. */
  get powered(): boolean {
    return this.#powered;
  }

  /** Called by the slot at insertion: a new card session with fresh attempt counts. */
  powerOn(): void {
    this.#powered = true;
    this.#used = new Map();
  }

  /** Called by the slot at removal: the session ends, attempt counts reset. */
  powerOff(): void {
    this.#powered = false;
    this.#used = new Map();
  }

  authenticate(request: CardAuthRequest): Promise<SignedResult<CardAuthFields>> {
    return this.#queue.run(async () => {
      this.#requirePower();
      if (this.#counter >= MAX_CARD_COUNTER) {
        throw new HardwareError('CARD_COUNTER_EXHAUSTED', 'the card transaction counter is exhausted');
      }
      const fields: CardAuthFields = { ...request, cardId: this.info.cardId, counter: this.#counter + 1 };
      // Sign first (bad fields fail here without burning a counter value), release after storing.
      const signed = signCardAuth(this.#ed, this.#seed, fields);
      await this.#store.saveCounter(fields.counter);
      this.#counter = fields.counter;
      this.#requirePower(); // removed while storing: the terminal never saw the signature
      return { signed, fields };
    });
  }

  attemptsLeft(member: number | null): number {
    return Math.max(0, this.#attemptLimit - (this.#used.get(member ?? ANY) ?? 0));
  }

  startHolderVerification(nonce: Uint8Array, member: number | null): HolderVerification {
    this.#requirePower();
    if (member !== null && !this.#templates.has(member)) {
      throw new HardwareError('NO_SUCH_MEMBER', `member ${member} is not on this card`, { member });
    }
    const nonceCopy = Uint8Array.from(nonce);
    const budget = member ?? ANY;
    let attempts = 0;
    let ended = false;
    const sign = (result: HolderVerifyFields['result'], memberIndex: number): SignedResult<HolderVerifyFields> => {
      const fields: HolderVerifyFields = { nonce: nonceCopy, cardId: this.info.cardId, memberIndex, result, attempts };
      const signed = signHolderVerify(this.#ed, this.#seed, fields);
      ended = true;
      return { signed, fields };
    };
    const checkOpen = (): void => {
      this.#requirePower();
      if (ended) throw new HardwareError('ATTEMPTS_EXHAUSTED', 'this holder verification has already ended');
    };
    return {
      requestedMember: member,
      get attempts() {
        return attempts;
      },
      get ended() {
        return ended;
      },
      attempt: (sample: Uint8Array): HolderAttempt => {
        checkOpen();
        if (this.attemptsLeft(member) === 0) {
          throw new HardwareError('ATTEMPTS_EXHAUSTED', 'no match attempts left in this card session', { member });
        }
        attempts++;
        const candidates = member === null ? [...this.#templates.keys()].filter((m) => this.attemptsLeft(m) > 0) : [member];
        const matched = candidates.find((m) => templateMatches(this.#templates.get(m)!, sample, this.#threshold));
        if (matched !== undefined) {
          // Like a PIN try counter: a success clears the failures it was counted under.
          this.#used.delete(budget);
          this.#used.delete(matched);
          return { outcome: 'match', memberIndex: matched, result: sign('match', matched) };
        }
        this.#used.set(budget, (this.#used.get(budget) ?? 0) + 1);
        return { outcome: 'no_match', attemptsLeft: this.attemptsLeft(member) };
      },
      end: (result: 'no_match' | 'timeout' | 'cancelled'): SignedResult<HolderVerifyFields> => {
        checkOpen();
        return sign(result, member ?? ANY_MEMBER_INDEX);
      },
    };
  }

  #requirePower(): void {
    if (!this.#powered) throw new HardwareError('NO_CARD', 'the card is not in the slot');
  }
}
