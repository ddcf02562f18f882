/**
 * The ledger's data shapes: what the daemon core hands in (authorizations with their
 * evidence and approved allocations) and what comes back (authorizations, receipts, usage).
 * Times are unix milliseconds throughout the ledger (the card's own fields keep the unix
 * seconds of the wire protocol).
 */
import type { SignedStructure } from '../../protocol/crypto/signed-structure.js';
import { Service, type ServiceName } from '../../protocol/messages/catalog.js';

export type { ServiceName };

/** Service code (as in CardAuthenticate and the card-auth structure) of a service name. */
export function serviceCode(name: ServiceName): number {
  return Service.values[name];
}

/** Service name of a code; undefined for a code the catalog does not know. */
export function serviceName(code: number): ServiceName | undefined {
  for (const [name, c] of Object.entries(Service.values)) if (c === code) return name as ServiceName;
  return undefined;
}

/** Every service name. */
export const SERVICE_NAMES = Object.keys(Service.values) as ServiceName[];

/** State of an authorization. */
export type AuthorizationState = 'pending' | 'committed' | 'voided' | 'expired';

/** What the shop asked for, per item (bread: one line, e.g. item "loaf"). */
export interface RequestedLine {
  readonly item: string;
  readonly quantity: number;
}

/**
 * One approved slice of a quota, chosen by the policy: `quantity` units of `item` counted
 * against `period` (a bread entitlement day 'YYYY-MM-DD', a ration month 'YYYY-MM'), each
 * unit costing `unitPiastres`. A commit fills the approved allocations of an item in the
 * order given, so a partial commit uses the first ones (today before tomorrow).
 */
export interface Allocation {
  readonly period: string;
  readonly item: string;
  readonly quantity: number;
  readonly unitPiastres: number;
}

/** What was handed over, per item, as written on the receipt. */
export interface DispensedLine {
  readonly item: string;
  readonly quantity: number;
  /** quantity × unit price, in piastres (1/100 EGP). */
  readonly piastres: number;
}

/** One usage-index contribution of a receipt: what it counted against which period. */
export interface UsageEntry {
  readonly period: string;
  readonly item: string;
  readonly quantity: number;
  readonly piastres: number;
}

/**
 * The supervisor exception (fingerprints failed): who authorized it and why. When the
 * supervisor presented a card, its certificate and its card-auth over the same nonce as the
 * holder's card are kept, so an auditor can check that the supervisor's card was present.
 */
export interface SupervisorEvidence {
  readonly supervisorId: string;
  /** Short reason code or text, e.g. "fingerprint_failed". */
  readonly reason: string;
  readonly card?: {
    readonly certificate: Uint8Array;
    readonly cardAuth: SignedStructure;
  };
}

/** What proves the card and the holder were present (verified by the core before it calls the ledger). */
export interface AuthorizationEvidence {
  /** The card's certificate (issuer-signed). */
  readonly cardCertificate: Uint8Array;
  /** The card-auth structure (body + card signature): nonce, card id, service, quantity, shop, terminal, time, counter. */
  readonly cardAuth: SignedStructure;
  /** The holder-verify structure; required unless a supervisor exception is given. */
  readonly holderVerify?: SignedStructure;
  /** The supervisor exception, flagged on the receipt. */
  readonly supervisor?: SupervisorEvidence;
  /** The terminal's device certificate (stored once; receipts carry its SHA-512). */
  readonly terminalCertificate: Uint8Array;
}

/** Input of `Ledger.createAuthorization`. */
export interface NewAuthorization {
  /** The API client (token name): idempotency keys are unique per client. */
  readonly clientId: string;
  readonly idempotencyKey: string;
  readonly shopId: string;
  readonly terminalId: string;
  readonly service: ServiceName;
  readonly requested: readonly RequestedLine[];
  /** Approved allocations (may be empty: nothing approved, nothing to commit). */
  readonly approved: readonly Allocation[];
  /** Unix ms after which the daemon voids the authorization. */
  readonly expiresAt: number;
  readonly evidence: AuthorizationEvidence;
  /** With a supervisor exception: the most exceptions allowed on that (Egypt) day. */
  readonly supervisorDailyCap?: number;
}

/** An authorization as stored. */
export interface Authorization {
  readonly id: string;
  readonly clientId: string;
  readonly idempotencyKey: string;
  readonly shopId: string;
  readonly terminalId: string;
  readonly cardId: string;
  readonly householdId: string;
  readonly service: ServiceName;
  readonly requested: readonly RequestedLine[];
  readonly approved: readonly Allocation[];
  readonly state: AuthorizationState;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** When it was committed, voided or expired. */
  readonly endedAt: number | undefined;
  /** The receipt's seq once committed. */
  readonly receiptSeq: number | undefined;
  readonly supervisorException: boolean;
}

/** The decoded fields of a receipt body (what the daemon signs). */
export interface ReceiptFields {
  readonly authorizationId: string;
  readonly seq: number;
  /** Id of the previous receipt; 64 zero bytes for seq 1. */
  readonly prev: Uint8Array;
  /** Unix ms of the commit. */
  readonly time: number;
  readonly shopId: string;
  readonly terminalId: string;
  /** SHA-512 of the terminal's device certificate. */
  readonly terminalCertificateHash: Uint8Array;
  readonly householdId: string;
  readonly cardCertificate: Uint8Array;
  readonly cardAuth: SignedStructure;
  readonly holderVerify: SignedStructure | undefined;
  readonly supervisor: SupervisorEvidence | undefined;
  readonly service: ServiceName;
  readonly lines: readonly DispensedLine[];
  readonly usage: readonly UsageEntry[];
  /** Key id (8 bytes) of the daemon key that signed. */
  readonly daemonKeyId: Uint8Array;
}

/** A signed receipt. */
export interface Receipt extends ReceiptFields {
  /** SHA-512 of the signed bytes (domain ‖ 0x00 ‖ body): the receipt's identity. */
  readonly id: Uint8Array;
  readonly idHex: string;
  /** Canonical CBOR body. */
  readonly body: Uint8Array;
  /** The daemon's Ed25519 signature over domain ‖ 0x00 ‖ body. */
  readonly signature: Uint8Array;
  /** Sum of the line quantities. */
  readonly quantity: number;
  /** True when a supervisor exception replaced the holder's fingerprint. */
  readonly supervisorException: boolean;
}

/** One row of a household's usage. */
export interface UsageRow {
  readonly service: ServiceName;
  readonly period: string;
  readonly item: string;
  readonly quantity: number;
  readonly piastres: number;
}

/**
 * A household's recorded usage from the first day of the previous month (Egypt time) on,
 * including days collected in advance: what the policy evaluator needs for quotas, the
 * multi-day bread rule and bread points.
 */
export interface LedgerUsage {
  readonly householdId: string;
  /** Month key of `now` (Egypt). */
  readonly month: string;
  /** Day key of `now` (Egypt). */
  readonly day: string;
  /** Earliest period included: the previous month's key. */
  readonly fromPeriod: string;
  /** Rows sorted by period, then service, then item. */
  readonly rows: readonly UsageRow[];
}
