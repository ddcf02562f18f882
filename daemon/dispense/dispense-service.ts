/**
 * Dispensing: authorize → commit → receipt, on a terminal session, the ledger and the
 * policy. One instance per daemon. The API methods (dispense-methods.ts) are thin wrappers.
 *
 * authorize, in order (DESIGN.md §5–§6):
 *   1. a retry under a known idempotency key returns the stored authorization (the card is
 *      not touched again); a retry while the first is still running joins it;
 *   2. Display "insert card", CardWait (progress waiting_card);
 *   3. CardAuthenticate with a fresh 32-byte nonce bound to service, quantity, shop,
 *      terminal and time;
 *   4. the card certificate under a configured issuer root (unknown issuer, forged, expired),
 *      the roster (not listed, suspended, replaced, not activated, cancelled), the
 *      revocation list, the card-auth signature with our nonce, the counter strictly above
 *      the ledger's (else CARD_CLONED);
 *   5. VerifyHolder (progress waiting_finger and the retry statuses), or the supervisor
 *      exception (capped per day, flagged);
 *   6. the policy on the household's usage (the ledger's index) → approved quantity with
 *      the reasons, or a refusal naming the rule;
 *   7. the authorization, durably in the ledger (it checks replayed signatures and the
 *      counter again, atomically). Nothing is recorded before this step.
 * A caller that goes away (the API aborts `signal`) cancels the terminal request in flight.
 */
import { randomBytes } from 'node:crypto';
import { MAX_QUANTITY, buildCardAuthBody, buildHolderVerifyBody, verifyCardAuth, verifyHolderVerify, ANY_MEMBER } from '../../protocol/crypto/card-structures.js';
import { verifyCardCertificate, type CardCertificate } from '../../protocol/crypto/certificates.js';
import { VerifiedSignatureCache, type Ed25519 } from '../../protocol/crypto/ed25519.js';
import type { TrustedKeys } from '../../protocol/crypto/signed-structure.js';
import { UnicardError } from '../../protocol/errors.js';
import { Service } from '../../protocol/messages/catalog.js';
import type { RevocationList, Roster, RosterEntry } from '../../firmware-sim/issuer/signed-lists.js';
import type { TerminalSession } from '../session/terminal-session.js';
import type { Ledger } from '../ledger/ledger.js';
import { LedgerError } from '../ledger/ledger-error.js';
import { allocationsOf, BREAD_ITEM, householdUsage } from '../ledger/policy-usage.js';
import type { Allocation, Authorization, Receipt, RequestedLine } from '../ledger/ledger-types.js';
import {
  balance as policyBalance,
  selectPolicy,
  type BreadBalance,
  type RationBalance,
  evaluate,
  usageQuery,
  type Balance,
  type Decision,
  type HouseholdInput,
  type HouseholdUsage,
  type Policy,
  type Reason,
} from '../policy/index.js';
import { invalidParams } from '../api/api-errors.js';
import { DispenseError, isDispenseErrorCode, type DispenseErrorCode } from './dispense-errors.js';

export { BREAD_ITEM };

/** Settings of one shop's dispensing. */
export interface DispenseSettings {
  /** The shop's id, signed by the card in every card-auth. */
  readonly shopId: string;
  /** The shop's governorate (two-digit code). */
  readonly shopGovernorate: number;
  /** How long an authorization stays open for its commit (default 120 s). */
  readonly authorizationTtlMs: number;
  /** How long to wait for a card (default 60 s). */
  readonly cardTimeoutMs: number;
  /** How long to wait for a finger (default 30 s). */
  readonly fingerTimeoutMs: number;
  /** Finger captures per VerifyHolder (the card enforces its own limit too; default 3). */
  readonly fingerAttempts: number;
  /** Supervisor ids allowed to approve the fingerprint exception. */
  readonly supervisors: readonly string[];
  /** Most supervisor exceptions per Egypt day (default 5). */
  readonly supervisorDailyCap: number;
  /** Price of a loaf in piastres, as written on the receipt (default 20). */
  readonly breadPricePiastres: number;
}

/** Defaults of {@link DispenseSettings}. */
export const DISPENSE_DEFAULTS = Object.freeze({
  authorizationTtlMs: 120_000,
  cardTimeoutMs: 60_000,
  fingerTimeoutMs: 30_000,
  fingerAttempts: 3,
  supervisorDailyCap: 5,
  breadPricePiastres: 20,
});

/** What the service needs. */
export interface DispenseDeps {
  readonly ledger: Ledger;
  readonly policies: readonly Policy[];
  readonly roster: Roster;
  readonly revocation: RevocationList | undefined;
  readonly issuerKeys: TrustedKeys;
  readonly ed: Ed25519;
  readonly settings: DispenseSettings;
  /** Unix ms (default Date.now). */
  readonly clock?: () => number;
  /** 32 fresh random bytes (default node:crypto). */
  readonly nonce?: () => Uint8Array;
}

/** One ration line asked for or approved. */
export interface ItemLine {
  readonly item: string;
  readonly quantity: number;
}

/** Parameters of authorize. */
export interface AuthorizeRequest {
  readonly terminalId: string;
  readonly service: 'bread' | 'ration';
  /** Loaves (bread). */
  readonly quantity?: number;
  /** Items (ration). */
  readonly items?: readonly ItemLine[];
  readonly idempotencyKey: string;
  /** Member index to verify (default 0, the head of household). */
  readonly member?: number;
  /** 'any': any household member may verify. */
  readonly holder?: 'any';
  /** The supervisor exception instead of the fingerprint. */
  readonly supervisorId?: string;
}

/** Who calls, on which session. */
export interface AuthorizeContext {
  /** The API client (token name). */
  readonly clientId: string;
  readonly session: TerminalSession;
  readonly signal?: AbortSignal;
  /** Progress for subscribers (stage: waiting_card, card_read, waiting_finger, lift_and_retry, ...). */
  readonly progress?: (stage: string, detail?: Record<string, unknown>) => void;
}

/** What is left after an authorization or a commit. */
export interface RemainingView {
  /** Bread: loaves left of today's share; ration: piastres left this month. */
  readonly today?: number;
  readonly collectableNow?: number;
  readonly nextShareDay?: string;
  readonly piastres?: number;
  readonly en: string;
  readonly ar: string;
}

/** The answer of authorize. */
export interface AuthorizationView {
  readonly authorizationId: string;
  readonly state: Authorization['state'];
  readonly terminalId: string;
  readonly cardId: string;
  readonly householdId: string;
  readonly service: 'bread' | 'ration';
  readonly requested: readonly ItemLine[];
  /** Bread: loaves approved; ration: units approved over all items. */
  readonly approvedQuantity: number;
  readonly approved: readonly ItemLine[];
  /** True when less than asked was approved. */
  readonly partial: boolean;
  /** Why less than asked, each with code, en, ar. */
  readonly reasons: readonly Reason[];
  readonly remaining: RemainingView | undefined;
  readonly expiresAt: number;
  readonly supervisorException: boolean;
  /** The member whose finger matched (null: a supervisor exception). */
  readonly verifiedMember: number | null;
  /** True when this answer is a stored one (a retry under the same key). */
  readonly replayed: boolean;
}

/** A receipt as the API shows it. */
export interface ReceiptView {
  readonly receiptId: string;
  readonly seq: number;
  readonly authorizationId: string;
  readonly time: number;
  readonly shopId: string;
  readonly terminalId: string;
  readonly householdId: string;
  readonly service: string;
  readonly quantity: number;
  readonly lines: readonly { item: string; quantity: number; piastres: number }[];
  readonly supervisorException: boolean;
  readonly remaining?: RemainingView;
  /** One sentence for the customer's slip. */
  readonly en: string;
  readonly ar: string;
  readonly replayed?: boolean;
}

function refuse(code: DispenseErrorCode, detail?: Record<string, unknown>, text?: { en: string; ar: string }): never {
  throw new DispenseError(code, { ...(detail === undefined ? {} : { detail }), ...(text ?? {}) });
}

/** Maps a ledger refusal to the API's name. */
function fromLedger(e: unknown): never {
  if (e instanceof LedgerError) {
    const d = (e.detail ?? {}) as Record<string, unknown>;
    switch (e.code) {
      case 'CARD_COUNTER_REGRESSION':
        refuse('CARD_CLONED', { cardId: d.cardId, counter: d.counter, highest: d.highest });
      // eslint-disable-next-line no-fallthrough
      case 'LEDGER_INVALID_INPUT':
      case 'EVIDENCE_MISMATCH':
      case 'LEDGER_CORRUPT':
      case 'LEDGER_VERSION_UNSUPPORTED':
      case 'LEDGER_BUSY':
      case 'LEDGER_IO':
      case 'LEDGER_CLOSED':
      case 'RECEIPT_MALFORMED':
        refuse('LEDGER_FAILED', { cause: e.code });
      // eslint-disable-next-line no-fallthrough
      default:
        if (isDispenseErrorCode(e.code)) refuse(e.code, d);
        refuse('LEDGER_FAILED', { cause: e.code });
    }
  }
  throw e;
}

function isCode(e: unknown, ...codes: string[]): boolean {
  return e instanceof UnicardError && codes.includes(e.code);
}

function breadRemaining(r: BreadBalance): RemainingView {
  return {
      today: r.today,
      collectableNow: r.collectableNow,
      nextShareDay: r.nextShareDay,
      en: `${r.today} loaves left of today's share (${r.collectableNow} collectable now)`,
    ar: `المتبقي من حصة اليوم ${r.today} رغيف (المتاح صرفه الآن ${r.collectableNow})`,
  };
}

function rationRemaining(r: RationBalance): RemainingView {
  const p = r.piastres;
  const egp = (p / 100).toFixed(2);
  return { piastres: p, en: `EGP ${egp} left of this month's ration balance`, ar: `المتبقي من رصيد التموين هذا الشهر ${egp} جنيه` };
}

function remainingOf(b: Balance, service: 'bread' | 'ration'): RemainingView {
  return service === 'bread' ? breadRemaining(b.bread) : rationRemaining(b.ration);
}

/** Refusal of a card by its roster state, named like the policy's reason codes. */
const STATE_REFUSALS: Readonly<Record<string, DispenseErrorCode>> = {
  CARD_SUSPENDED: 'CARD_SUSPENDED',
  CARD_REPLACED: 'CARD_REPLACED',
  CARD_CANCELLED: 'CARD_CANCELLED',
  CARD_NOT_ACTIVATED: 'CARD_NOT_ACTIVATED',
  WRONG_GOVERNORATE: 'WRONG_GOVERNORATE',
};

/** Authorize answers of pending authorizations kept in memory for retries, at most. */
const MAX_KEPT_VIEWS = 10_000;

interface Remembered {
  view: AuthorizationView;
  household: HouseholdInput;
}

/** The dispensing service. */
export class DispenseService {
  private readonly clock: () => number;
  private readonly nonce: () => Uint8Array;
  private readonly rosterByCard = new Map<string, RosterEntry>();
  private readonly revoked = new Map<string, string>();
  /** Authorizations answered since start (views with reasons and remaining). */
  private readonly views = new Map<string, Remembered>();
  /** authorize calls in flight, by client + key. */
  private readonly running = new Map<string, Promise<AuthorizationView>>();
  /** Terminals with an authorize in flight. */
  private readonly busyTerminals = new Set<string>();
  /** Card certificates come back (a household, the same bakery, every day): verify each once. */
  private readonly certificateEd: VerifiedSignatureCache;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly deps: DispenseDeps) {
    this.clock = deps.clock ?? Date.now;
    this.certificateEd = new VerifiedSignatureCache(deps.ed);
    this.nonce = deps.nonce ?? ((): Uint8Array => new Uint8Array(randomBytes(32)));
    for (const e of deps.roster.entries) {
      const prev = this.rosterByCard.get(e.cardId);
      if (prev === undefined || e.cardSerial > prev.cardSerial) this.rosterByCard.set(e.cardId, e);
    }
    for (const c of deps.revocation?.cards ?? []) this.revoked.set(`${c.cardId}\u0000${c.cardSerial}`, c.reason);
  }

  /** The settings in force. */
  get settings(): DispenseSettings {
    return this.deps.settings;
  }

  /** The ledger. */
  get ledger(): Ledger {
    return this.deps.ledger;
  }

  /** Starts the expiry sweeper: pending authorizations past their expiry are voided (state expired). */
  startSweeper(everyMs = 1000, onExpired?: (ids: string[]) => void): void {
    if (this.sweeper !== undefined) return;
    this.sweeper = setInterval(() => {
      this.deps.ledger.expire(this.clock()).then(
        (ids) => {
          for (const id of ids) this.views.delete(id);
          if (ids.length > 0) onExpired?.(ids);
        },
        () => undefined,
      );
    }, everyMs);
    this.sweeper.unref();
  }

  /** Stops the sweeper. */
  stop(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private policyAt(nowMs: number): Policy {
    try {
      return selectPolicy(this.deps.policies, Math.floor(nowMs / 1000));
    } catch {
      refuse('POLICY_FAILED', { reason: 'no policy in effect' });
    }
  }

  private householdOf(cert: CardCertificate): HouseholdInput {
    const entry = this.rosterByCard.get(cert.cardId);
    if (entry === undefined || entry.cardSerial !== cert.cardSerial) {
      if (entry !== undefined && entry.cardSerial > cert.cardSerial) refuse('CARD_REPLACED', { cardId: cert.cardId });
      refuse('CARD_NOT_IN_ROSTER', { cardId: cert.cardId });
    }
    if (entry.householdId !== cert.householdId) refuse('CARD_NOT_IN_ROSTER', { cardId: cert.cardId });
    return { householdId: entry.householdId, householdSize: entry.householdSize, governorate: entry.governorate, state: entry.state, since: entry.since };
  }

  /** Verifies a card certificate and its standing (roster, revocation, state). */
  private checkCard(certificate: Uint8Array, nowMs: number): { cert: CardCertificate; household: HouseholdInput } {
    let cert: CardCertificate;
    try {
      cert = verifyCardCertificate(certificate, this.deps.issuerKeys, Math.floor(nowMs / 1000), this.certificateEd);
    } catch (e) {
      if (isCode(e, 'CERT_UNKNOWN_ISSUER', 'KEY_UNKNOWN')) refuse('CARD_UNKNOWN_ISSUER');
      if (isCode(e, 'CERT_EXPIRED', 'CERT_NOT_YET_VALID')) refuse('CARD_EXPIRED', { cause: (e as UnicardError).code });
      refuse('CARD_CERT_INVALID', { cause: e instanceof UnicardError ? e.code : 'unknown' });
    }
    // The issuer's explicit withdrawal first: it stands whatever the roster says.
    const revoked = this.revoked.get(`${cert.cardId}\u0000${cert.cardSerial}`);
    if (revoked !== undefined) refuse(revoked === 'replaced' ? 'CARD_REPLACED' : 'CARD_REVOKED', { cardId: cert.cardId, reason: revoked });
    return { cert, household: this.householdOf(cert) };
  }

  private usage(household: HouseholdInput, policy: Policy, nowMs: number): HouseholdUsage {
    // One indexed range read of the usage index (the ledger's adapter), never a receipt scan.
    return householdUsage(this.deps.ledger, household.householdId, usageQuery(policy, Math.floor(nowMs / 1000)));
  }

  /** Refuses a card whose state or governorate stops it (before the citizen gives a finger). */
  private checkStanding(household: HouseholdInput, service: 'bread' | 'ration', policy: Policy, nowMs: number): void {
    const b = policyBalance(policy, household, this.usage(household, policy, nowMs), Math.floor(nowMs / 1000), this.deps.settings.shopGovernorate);
    const reason = b.card.reasons[0];
    if (!b.card.usable && reason !== undefined) this.refuseFor(reason, { cardState: household.state, ...(b.card.usableFrom === undefined ? {} : { usableFrom: b.card.usableFrom }) });
    if (b.servedHere !== undefined && !b.servedHere[service]) {
      refuse('WRONG_GOVERNORATE', { cardGovernorate: household.governorate, shopGovernorate: this.deps.settings.shopGovernorate });
    }
  }

  private refuseFor(reason: Reason, detail: Record<string, unknown> = {}): never {
    const code = STATE_REFUSALS[reason.code] ?? (isDispenseErrorCode(reason.code) ? reason.code : 'NOTHING_APPROVED');
    refuse(code, { ...detail, reason: { code: reason.code, params: reason.params } }, { en: reason.en, ar: reason.ar });
  }

  /**
   * Authorizes a dispense (see the file's comment). Idempotent under (client, key).
   * Throws DispenseError (or the session's error, which the API maps to TERMINAL_*).
   */
  authorize(req: AuthorizeRequest, ctx: AuthorizeContext): Promise<AuthorizationView> {
    const key = `${ctx.clientId}\u0000${req.idempotencyKey}`;
    const stored = this.deps.ledger.authorizationByKey(ctx.clientId, req.idempotencyKey);
    if (stored !== undefined) return Promise.resolve(this.replay(stored, req));
    const running = this.running.get(key);
    if (running !== undefined) return running;
    if (this.busyTerminals.has(req.terminalId)) refuse('AUTHORIZE_IN_PROGRESS', { terminalId: req.terminalId });
    this.busyTerminals.add(req.terminalId);
    const p = this.runAuthorize(req, ctx).finally(() => {
      this.running.delete(key);
      this.busyTerminals.delete(req.terminalId);
    });
    this.running.set(key, p);
    return p;
  }

  private replay(a: Authorization, req: AuthorizeRequest): AuthorizationView {
    const asked = this.requestedLines(req);
    const same = a.service === req.service && a.terminalId === req.terminalId && asked.length === a.requested.length && asked.every((l, i) => a.requested[i]?.item === l.item && a.requested[i]?.quantity === l.quantity);
    if (!same) refuse('IDEMPOTENCY_CONFLICT', { authorizationId: a.id });
    const known = this.views.get(a.id);
    const base = known?.view ?? this.viewOf(a, [], undefined, null);
    return { ...base, state: a.state, replayed: true };
  }

  private requestedLines(req: AuthorizeRequest): RequestedLine[] {
    if (req.service === 'bread') return [{ item: BREAD_ITEM, quantity: req.quantity ?? 0 }];
    return (req.items ?? []).map((l) => ({ item: l.item, quantity: l.quantity }));
  }

  private viewOf(a: Authorization, reasons: readonly Reason[], remaining: RemainingView | undefined, member: number | null): AuthorizationView {
    const perItem = new Map<string, number>();
    for (const x of a.approved) perItem.set(x.item, (perItem.get(x.item) ?? 0) + x.quantity);
    const approved = [...perItem].map(([item, quantity]) => ({ item, quantity }));
    const approvedQuantity = approved.reduce((s, l) => s + l.quantity, 0);
    const requestedQuantity = a.requested.reduce((s, l) => s + l.quantity, 0);
    return {
      authorizationId: a.id,
      state: a.state,
      terminalId: a.terminalId,
      cardId: a.cardId,
      householdId: a.householdId,
      service: a.service as 'bread' | 'ration',
      requested: a.requested.map((l) => ({ item: l.item, quantity: l.quantity })),
      approvedQuantity,
      approved,
      partial: approvedQuantity < requestedQuantity,
      reasons,
      remaining,
      expiresAt: a.expiresAt,
      supervisorException: a.supervisorException,
      verifiedMember: member,
      replayed: false,
    };
  }

  private async runAuthorize(req: AuthorizeRequest, ctx: AuthorizeContext): Promise<AuthorizationView> {
    const { session, signal } = ctx;
    const s = this.deps.settings;
    const progress = ctx.progress ?? ((): void => undefined);
    const aborted = (): void => {
      if (signal?.aborted === true) refuse('AUTHORIZE_CANCELLED');
    };
    const ask = async <T>(p: () => Promise<T>): Promise<T> => {
      aborted();
      try {
        return await p();
      } catch (e) {
        aborted();
        if (isCode(e, 'CANCELLED')) refuse('AUTHORIZE_CANCELLED');
        throw e;
      }
    };
    const opts = signal === undefined ? {} : { signal };
    // Prompts are sent without waiting for their answer: the next request goes out right
    // behind them (no extra round trip on a 115,200-baud line), and a terminal that fails to
    // draw a screen does not fail the dispense.
    const show = (prompt: 'insert_card' | 'approved' | 'declined'): void => {
      session.request({ type: 'Display', prompt }, opts).catch(() => undefined);
    };

    // The policy request first: a malformed one fails before anyone touches the card.
    const nowStart = this.clock();
    const policy = this.policyAt(nowStart);
    const requested = this.requestedLines(req);
    const quantity =
      req.service === 'bread'
        ? (req.quantity ?? 0)
        : requested.reduce((sum, l) => sum + l.quantity * (policy.ration.items.find((it) => it.id === l.item)?.price ?? 0), 0);
    // The card signs the quantity as an unsigned 32-bit number (piastres for ration goods;
    // 0 when no item is on the price list: the policy then refuses with the item's name).
    if (!Number.isSafeInteger(quantity) || quantity < (req.service === 'bread' ? 1 : 0) || quantity > MAX_QUANTITY) {
      throw invalidParams(req.service === 'bread' ? 'quantity' : 'items', { kind: 'type', en: 'an order worth less than 2^32 units', ar: 'طلبًا أقل من 2^32 وحدة' });
    }
    if (req.supervisorId !== undefined && !s.supervisors.includes(req.supervisorId)) refuse('SUPERVISOR_NOT_ALLOWED', { supervisorId: req.supervisorId });

    try {
      // 2. The card.
      progress('waiting_card');
      show('insert_card');
      const waited = await ask(() =>
        session.request(
          { type: 'CardWait', timeoutMs: s.cardTimeoutMs },
          { ...opts, onKeepalive: (k) => progress(k.status) },
        ),
      ).catch((e: unknown) => {
        if (isCode(e, 'TIMEOUT', 'NO_CARD')) refuse('NO_CARD');
        throw e;
      });
      progress('card_read', { cardId: waited.cardId });

      // 3. CDA: the card signs our nonce with the transaction.
      const nonce = this.nonce();
      const time = Math.floor(this.clock() / 1000);
      const tx = { nonce, service: req.service, quantity, shopId: s.shopId, terminalId: req.terminalId, time };
      const auth = await ask(() => session.request({ type: 'CardAuthenticate', ...tx }, opts)).catch((e: unknown) => {
        if (isCode(e, 'NO_CARD', 'CARD_REMOVED', 'CARD_ERROR')) refuse('CARD_ERROR', { cause: (e as UnicardError).code });
        throw e;
      });

      // 4. Certificate, standing, signature, counter.
      const now = this.clock();
      const { cert, household } = this.checkCard(auth.cardCertificate, now);
      const body = buildCardAuthBody({ ...tx, service: Service.values[req.service], cardId: cert.cardId, counter: auth.counter });
      try {
        verifyCardAuth(this.deps.ed, cert.subjectPublicKey, { body, signature: auth.signature }, nonce);
      } catch {
        refuse('CARD_SIGNATURE_INVALID', { cardId: cert.cardId });
      }
      // A counter below the highest seen is a clone: refused before the citizen gives a
      // finger. An equal one is left to the ledger, which tells a replayed signature (the
      // same card-auth bytes) from a clone (other bytes) when it records the authorization.
      const highest = this.deps.ledger.cardCounter(cert.cardId);
      if (highest !== undefined && auth.counter < highest) refuse('CARD_CLONED', { cardId: cert.cardId, counter: auth.counter, highest });
      this.checkStanding(household, req.service, policy, now);

      // 5. The holder, or the supervisor exception.
      let holderVerify: { body: Uint8Array; signature: Uint8Array } | undefined;
      let verifiedMember: number | null = null;
      if (req.supervisorId === undefined) {
        const member = req.holder === 'any' ? null : (req.member ?? 0);
        if (member !== null && !cert.members.some((m) => m.index === member)) refuse('MEMBER_UNKNOWN', { member, members: cert.members.map((m) => m.index) });
        progress('waiting_finger', { member });
        const r = await ask(() =>
          session.request(
            { type: 'VerifyHolder', nonce, member, timeoutMs: s.fingerTimeoutMs, maxAttempts: s.fingerAttempts },
            { ...opts, onKeepalive: (k) => progress(k.status, k.attempt === undefined ? {} : { attempt: k.attempt }) },
          ),
        ).catch((e: unknown) => {
          if (isCode(e, 'ATTEMPTS_EXHAUSTED')) this.fingerRefusal(cert, member, s.fingerAttempts);
          throw e;
        });
        const hvBody = buildHolderVerifyBody({
          nonce,
          cardId: cert.cardId,
          memberIndex: r.member ?? (member ?? ANY_MEMBER),
          result: r.result,
          attempts: r.attemptsUsed,
        });
        try {
          verifyHolderVerify(this.deps.ed, cert.subjectPublicKey, { body: hvBody, signature: r.signature }, nonce);
        } catch {
          refuse('HOLDER_SIGNATURE_INVALID', { cardId: cert.cardId });
        }
        if (r.result === 'timeout') refuse('FINGERPRINT_TIMEOUT');
        if (r.result === 'cancelled') refuse('AUTHORIZE_CANCELLED', { at: 'terminal' });
        if (r.result !== 'match') this.fingerRefusal(cert, member, r.attemptsUsed);
        holderVerify = { body: hvBody, signature: r.signature };
        verifiedMember = r.member;
        progress('finger_matched', { member: r.member });
      }

      // 6. The policy, on fresh usage.
      const decidedAt = this.clock();
      const usage = this.usage(household, policy, decidedAt);
      const policyRequest = req.service === 'bread' ? { service: 'bread' as const, loaves: req.quantity ?? 0 } : { service: 'ration' as const, items: requested };
      let decision: Decision;
      try {
        decision = evaluate(policy, policyRequest, household, usage, Math.floor(decidedAt / 1000), s.shopGovernorate);
      } catch (e) {
        refuse('POLICY_FAILED', { cause: e instanceof UnicardError ? e.code : 'unknown' });
      }
      if (!decision.approved) {
        const first = decision.reasons[0];
        const remaining = remainingOf(policyBalance(policy, household, usage, Math.floor(decidedAt / 1000)), req.service);
        const detail = { reasons: decision.reasons, remaining };
        if (first === undefined) refuse('NOTHING_APPROVED', detail);
        this.refuseFor(first, detail);
      }
      const approved: Allocation[] = allocationsOf(decision, { loafPiastres: s.breadPricePiastres });

      // 7. Record it (nothing before this point). A caller gone by now gets nothing recorded.
      aborted();
      const terminalCertificate = session.device?.bytes;
      if (terminalCertificate === undefined) refuse('LEDGER_FAILED', { cause: 'no terminal certificate' });
      const created = await this.deps.ledger
        .createAuthorization({
          clientId: ctx.clientId,
          idempotencyKey: req.idempotencyKey,
          shopId: s.shopId,
          terminalId: req.terminalId,
          service: req.service,
          requested,
          approved,
          expiresAt: decidedAt + s.authorizationTtlMs,
          evidence: {
            cardCertificate: auth.cardCertificate,
            cardAuth: { body, signature: auth.signature },
            ...(holderVerify === undefined ? {} : { holderVerify }),
            ...(req.supervisorId === undefined ? {} : { supervisor: { supervisorId: req.supervisorId, reason: 'fingerprint_failed' } }),
            terminalCertificate,
          },
          ...(req.supervisorId === undefined ? {} : { supervisorDailyCap: s.supervisorDailyCap }),
        })
        .catch(fromLedger);
      const remaining = decision.service === 'bread' ? breadRemaining(decision.remaining) : rationRemaining(decision.remaining);
      const view = this.viewOf(created.authorization, decision.reasons, remaining, verifiedMember);
      this.views.set(view.authorizationId, { view, household });
      // Answers kept for retries (reasons and remaining are not in the ledger) while the
      // authorization is pending: commit, void and expiry drop them, so memory follows the
      // open authorizations, not the day's total. The bound is for a flood of abandoned ones;
      // a retry whose answer is gone gets the stored authorization without them.
      if (this.views.size > MAX_KEPT_VIEWS) this.views.delete(this.views.keys().next().value as string);
      progress('authorized', { authorizationId: view.authorizationId });
      show('approved');
      return view;
    } catch (e) {
      if (e instanceof DispenseError && (e as UnicardError).code !== 'AUTHORIZE_CANCELLED' && signal?.aborted !== true) show('declined');
      if (signal?.aborted === true && !(e instanceof DispenseError && (e as UnicardError).code === 'AUTHORIZE_CANCELLED')) refuse('AUTHORIZE_CANCELLED');
      throw e;
    }
  }

  private fingerRefusal(cert: CardCertificate, member: number | null, attempts: number): never {
    const others = cert.members.map((m) => m.index).filter((i) => i !== member);
    refuse('FINGERPRINT_MISMATCH', {
      cardId: cert.cardId,
      member,
      attemptsUsed: attempts,
      otherMembers: others,
      hint: 'retry authorize with a new idempotencyKey and "member": <index> or "holder": "any", or with "supervisorId"',
    });
  }

  private ownAuthorization(clientId: string, authorizationId: string): Authorization {
    const a = this.deps.ledger.authorization(authorizationId);
    if (a === undefined || a.clientId !== clientId) refuse('AUTHORIZATION_NOT_FOUND', { authorizationId });
    return a;
  }

  /** Commits what was handed over; a retry returns the same receipt. */
  async commit(clientId: string, authorizationId: string, dispensed: number | readonly ItemLine[]): Promise<ReceiptView> {
    const a = this.ownAuthorization(clientId, authorizationId);
    if (typeof dispensed === 'number' && a.service !== 'bread' && new Set(a.approved.map((x) => x.item)).size !== 1) {
      refuse('COMMIT_EXCEEDS_APPROVED', { authorizationId, hint: 'give items for a ration commit' });
    }
    if (typeof dispensed === 'number' && dispensed === 0) refuse('COMMIT_EXCEEDS_APPROVED', { authorizationId, hint: 'nothing dispensed: void the authorization instead' });
    const r = await this.deps.ledger.commit(authorizationId, dispensed).catch((e: unknown) => {
      // A commit refused because the authorization expired closed it too.
      if (this.deps.ledger.authorization(authorizationId)?.state !== 'pending') this.views.delete(authorizationId);
      return fromLedger(e);
    });
    const view = { ...this.receiptView(r.receipt, a), replayed: r.replayed };
    this.views.delete(authorizationId);
    return view;
  }

  /** Voids a pending authorization (idempotent). */
  async void(clientId: string, authorizationId: string): Promise<{ authorizationId: string; state: string }> {
    this.ownAuthorization(clientId, authorizationId);
    const a = await this.deps.ledger.void(authorizationId).catch(fromLedger);
    this.views.delete(a.id);
    return { authorizationId: a.id, state: a.state };
  }

  /** The receipt as the API shows it, with what is left after it. */
  receiptView(r: Receipt, a?: Authorization, withRemaining = true): ReceiptView {
    const service = r.service as 'bread' | 'ration';
    let remaining: RemainingView | undefined;
    const entry = withRemaining ? (this.views.get(r.authorizationId)?.household ?? this.householdById(r.householdId)) : undefined;
    if (entry !== undefined) {
      try {
        const now = this.clock();
        const policy = this.policyAt(now);
        remaining = remainingOf(policyBalance(policy, entry, this.usage(entry, policy, now), Math.floor(now / 1000)), service);
      } catch {
        remaining = undefined;
      }
    }
    // Ration lines in the policy's words ("5 kg Sugar", "5 كجم سكر"); the id when unknown.
    const items = this.deps.policies.flatMap((p) => p.ration.items);
    const named = (l: { item: string; quantity: number }, ar: boolean): string => {
      const it = items.find((x) => x.id === l.item);
      if (it === undefined) return `${l.quantity} ${l.item}`;
      return ar ? `${l.quantity} ${it.unitAr} ${it.nameAr}` : `${l.quantity} ${it.unitEn} ${it.nameEn}`;
    };
    const what = service === 'bread' ? `${r.quantity} loaves of bread` : r.lines.map((l) => named(l, false)).join(', ');
    const whatAr = service === 'bread' ? `${r.quantity} رغيف خبز` : r.lines.map((l) => named(l, true)).join('، ');
    const supervisorException = r.supervisorException || (a?.supervisorException ?? false);
    return {
      receiptId: r.idHex,
      seq: r.seq,
      authorizationId: r.authorizationId,
      time: r.time,
      shopId: r.shopId,
      terminalId: r.terminalId,
      householdId: r.householdId,
      service,
      quantity: r.quantity,
      lines: r.lines.map((l) => ({ item: l.item, quantity: l.quantity, piastres: l.piastres })),
      supervisorException,
      ...(remaining === undefined ? {} : { remaining }),
      en: `Receipt ${r.seq}: ${what} for household ${r.householdId}.${remaining === undefined ? '' : ` ${remaining.en}.`}`,
      ar: `إيصال رقم ${r.seq}: ${whatAr} للأسرة ${r.householdId}.${remaining === undefined ? '' : ` ${remaining.ar}.`}`,
    };
  }

  private householdById(householdId: string): HouseholdInput | undefined {
    let best: RosterEntry | undefined;
    for (const e of this.rosterByCard.values()) if (e.householdId === householdId && e.state === 'active') best = e;
    return best === undefined ? undefined : { householdId: best.householdId, householdSize: best.householdSize, governorate: best.governorate, state: best.state, since: best.since };
  }

  /** What the card in the slot has left (no card authentication, nothing recorded). */
  async balance(session: TerminalSession, waitMs: number, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const waited = await session
      .request({ type: 'CardWait', timeoutMs: waitMs }, signal === undefined ? {} : { signal })
      .catch((e: unknown) => {
        if (isCode(e, 'TIMEOUT', 'NO_CARD')) refuse('NO_CARD');
        throw e;
      });
    const now = this.clock();
    const { cert, household } = this.checkCard(waited.cardCertificate, now);
    const policy = this.policyAt(now);
    const b = policyBalance(policy, household, this.usage(household, policy, now), Math.floor(now / 1000), this.deps.settings.shopGovernorate);
    return {
      cardId: cert.cardId,
      householdId: household.householdId,
      householdSize: household.householdSize,
      cardState: household.state,
      card: b.card,
      servedHere: b.servedHere,
      today: b.today,
      bread: { ...b.bread, remaining: remainingOf(b, 'bread') },
      ration: { ...b.ration, remaining: remainingOf(b, 'ration') },
    };
  }

  /** Receipts after `sinceSeq` (or from `sinceTime`). */
  receipts(q: { sinceSeq?: number; sinceTime?: number; limit?: number }): ReceiptView[] {
    // Without `remaining`: a list is history, and what is left now is one balance call away.
    return this.deps.ledger.receipts(q).map((r) => this.receiptView(r, undefined, false));
  }
}
