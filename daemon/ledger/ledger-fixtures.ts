/**
 * A small deterministic world for ledger tests and benchmarks: issuer, vendor and daemon
 * keys, one terminal, cards per household, and evidence (card-auth, holder-verify) signed
 * exactly as a card would. Keys are derived from labels, so runs are reproducible.
 */
import { sha512 } from '../../protocol/crypto/bytes.js';
import { signCardAuth, signHolderVerify, type HolderResultName } from '../../protocol/crypto/card-structures.js';
import { issueCardCertificate, issueDeviceCertificate, MemberRole } from '../../protocol/crypto/certificates.js';
import { NodeEd25519, type Ed25519 } from '../../protocol/crypto/ed25519.js';
import type { SignedStructure } from '../../protocol/crypto/signed-structure.js';
import { utf8 } from '../../protocol/crypto/bytes.js';
import { serviceCode, type AuthorizationEvidence, type ServiceName, type SupervisorEvidence } from './ledger-types.js';
import type { LedgerRoots } from './verify-ledger.js';

/** A 32-byte seed derived from a label (test and benchmark keys only). */
export function seedFrom(label: string): Uint8Array {
  return sha512(utf8(`unicard ledger fixture: ${label}`)).slice(0, 32);
}

/** A card of the fixture world. */
export interface FixtureCard {
  readonly cardId: string;
  readonly householdId: string;
  readonly seed: Uint8Array;
  readonly certificate: Uint8Array;
  readonly members: number;
  /** Next counter this card will sign (the secure element's monotonic counter). */
  counter: number;
}

/** Options of {@link FixtureWorld.evidence}. */
export interface EvidenceOptions {
  readonly service: ServiceName;
  /** Quantity the card approves (loaves, piastres, …). */
  readonly quantity: number;
  /** Unix ms of the transaction. */
  readonly timeMs: number;
  /** Counter to sign (default: the card's next). */
  readonly counter?: number;
  /** Holder verification result (default match); null: none (supervisor exception only). */
  readonly holder?: HolderResultName | null;
  /** A supervisor exception; `withCard` has the supervisor card sign the same nonce. */
  readonly supervisor?: { readonly supervisorId: string; readonly reason: string; readonly withCard?: boolean };
  /** 32-byte nonce (default: derived from a running number). */
  readonly nonce?: Uint8Array;
  /** Shop and terminal the card signs for (default the world's). */
  readonly shopId?: string;
  readonly terminalId?: string;
}

const VALID_FROM = 1_577_836_800; // 2020-01-01
const VALID_UNTIL = 2_208_988_800; // 2040-01-01

/** Keys, a terminal and cards, all derived from `name`. */
export class FixtureWorld {
  readonly ed: Ed25519;
  readonly issuerSeed: Uint8Array;
  readonly vendorSeed: Uint8Array;
  readonly daemonSeed: Uint8Array;
  readonly issuerPublicKey: Uint8Array;
  readonly vendorPublicKey: Uint8Array;
  readonly daemonPublicKey: Uint8Array;
  readonly shopId = 'PS-BAKERY-0042';
  readonly terminalId = 'SIM0001';
  readonly terminalCertificate: Uint8Array;
  private readonly cards = new Map<string, FixtureCard>();
  private nonceCounter = 0;
  private supervisorCard: FixtureCard | undefined;

  constructor(
    readonly name = 'world',
    ed: Ed25519 = new NodeEd25519(),
  ) {
    this.ed = ed;
    this.issuerSeed = seedFrom(`${name}/issuer`);
    this.vendorSeed = seedFrom(`${name}/vendor`);
    this.daemonSeed = seedFrom(`${name}/daemon`);
    this.issuerPublicKey = ed.publicKeyFromSeed(this.issuerSeed);
    this.vendorPublicKey = ed.publicKeyFromSeed(this.vendorSeed);
    this.daemonPublicKey = ed.publicKeyFromSeed(this.daemonSeed);
    this.terminalCertificate = this.deviceCertificate(this.terminalId);
  }

  /** A device certificate for `terminalId` under the world's vendor root (or another vendor seed). */
  deviceCertificate(terminalId: string, vendorSeed: Uint8Array = this.vendorSeed): Uint8Array {
    return issueDeviceCertificate(this.ed, vendorSeed, {
      subjectPublicKey: this.ed.publicKeyFromSeed(seedFrom(`${this.name}/terminal/${terminalId}`)),
      validFrom: VALID_FROM,
      validUntil: VALID_UNTIL,
      terminalId,
      vendor: 'SimVendor',
      model: 'SIM-1',
    });
  }

  /** The public keys an auditor holds for this world. */
  roots(): LedgerRoots {
    return { issuerRoots: [this.issuerPublicKey], vendorRoots: [this.vendorPublicKey], daemonPublicKeys: [this.daemonPublicKey] };
  }

  /** The card of a household (created on first use; `members` only counts then). */
  card(householdId: string, members = 3): FixtureCard {
    let c = this.cards.get(householdId);
    if (c === undefined) {
      const cardId = `C-${householdId}`;
      const seed = seedFrom(`${this.name}/card/${cardId}`);
      const certificate = issueCardCertificate(this.ed, this.issuerSeed, {
        subjectPublicKey: this.ed.publicKeyFromSeed(seed),
        validFrom: VALID_FROM,
        validUntil: VALID_UNTIL,
        cardId,
        householdId,
        governorate: 3,
        members: Array.from({ length: members }, (_, i) => ({ index: i, role: i === 0 ? MemberRole.head : MemberRole.dependant })),
        cardSerial: this.cards.size + 1,
      });
      c = { cardId, householdId, seed, certificate, members, counter: 1 };
      this.cards.set(householdId, c);
    }
    return c;
  }

  /** A fresh 32-byte nonce (deterministic). */
  nextNonce(): Uint8Array {
    return sha512(utf8(`${this.name}/nonce/${this.nonceCounter++}`)).slice(0, 32);
  }

  /** Evidence for one transaction of `card`, signed by its key (and the supervisor card's). */
  evidence(card: FixtureCard, o: EvidenceOptions): AuthorizationEvidence {
    const nonce = o.nonce ?? this.nextNonce();
    const counter = o.counter ?? card.counter++;
    const cardAuth = signCardAuth(this.ed, card.seed, {
      nonce,
      cardId: card.cardId,
      service: serviceCode(o.service),
      quantity: o.quantity,
      shopId: o.shopId ?? this.shopId,
      terminalId: o.terminalId ?? this.terminalId,
      time: Math.floor(o.timeMs / 1000),
      counter,
    });
    const holder = o.holder === undefined ? 'match' : o.holder;
    let holderVerify: SignedStructure | undefined;
    if (holder !== null) {
      holderVerify = signHolderVerify(this.ed, card.seed, {
        nonce,
        cardId: card.cardId,
        memberIndex: holder === 'match' ? 0 : 255,
        result: holder,
        attempts: holder === 'match' ? 1 : 3,
      });
    }
    let supervisor: SupervisorEvidence | undefined;
    if (o.supervisor !== undefined) {
      if (o.supervisor.withCard === true) {
        this.supervisorCard ??= this.card('SUPERVISORS', 1);
        const s = this.supervisorCard;
        supervisor = {
          supervisorId: o.supervisor.supervisorId,
          reason: o.supervisor.reason,
          card: {
            certificate: s.certificate,
            cardAuth: signCardAuth(this.ed, s.seed, {
              nonce,
              cardId: s.cardId,
              service: serviceCode(o.service),
              quantity: o.quantity,
              shopId: o.shopId ?? this.shopId,
              terminalId: o.terminalId ?? this.terminalId,
              time: Math.floor(o.timeMs / 1000),
              counter: s.counter++,
            }),
          },
        };
      } else {
        supervisor = { supervisorId: o.supervisor.supervisorId, reason: o.supervisor.reason };
      }
    }
    return {
      cardCertificate: card.certificate,
      cardAuth,
      terminalCertificate: this.terminalCertificate,
      ...(holderVerify !== undefined ? { holderVerify } : {}),
      ...(supervisor !== undefined ? { supervisor } : {}),
    };
  }
}
