/**
 * The card slot. Insertion powers the card on (a new card session), removal powers it off;
 * listeners hear both, and the terminal's handlers turn them into CardInserted/CardRemoved
 * events. The simulated slot also stands in for the citizen at the counter: it lends the
 * fingerprint sensor the enrolled templates of the card's household ({@link FingerSource}),
 * which is how "member 2 puts a finger down" becomes a capture.
 */
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import { loadCardFile, type CardFileData } from './card-file.js';
import type { FingerSource } from './fingerprint-sensor.js';
import { HardwareError } from './hardware-error.js';
import {
  CardFileCounterStore,
  SimulatedCard,
  type CardFileCounterStoreOptions,
  type SecureElement,
  type SimulatedCardOptions,
} from './secure-element.js';

/** The slot as the handlers see it. */
export interface CardSlot {
  /** The card in the slot, if any. */
  readonly card: SecureElement | undefined;
  /** Subscribe to insertions; returns the unsubscribe function. */
  onInserted(listener: (card: SecureElement) => void): () => void;
  /** Subscribe to removals; returns the unsubscribe function. */
  onRemoved(listener: (card: SecureElement) => void): () => void;
}

/** A card ready to be inserted: the secure element and the household it belongs to. */
export interface LoadedCard {
  readonly card: SimulatedCard;
  readonly data: CardFileData;
  /** Card file it came from, if any. */
  readonly path?: string;
}

/**
 * Load a card file as a card whose counter is persisted back to that file.
 * The file is the counter store; `durable` and `onStep` are passed to its atomic writes.
 */
export async function loadCard(
  path: string,
  ed: Ed25519,
  options: Omit<SimulatedCardOptions, 'store' | 'ed'> & CardFileCounterStoreOptions = {},
): Promise<LoadedCard> {
  const data = await loadCardFile(path, ed);
  const { durable, onStep, ...cardOptions } = options;
  const store = new CardFileCounterStore(path, data, { ...(durable !== undefined ? { durable } : {}), ...(onStep ? { onStep } : {}) });
  const card = new SimulatedCard(data, { ...cardOptions, ed, store });
  return { card, data, path };
}

/** The simulated slot (driven by the control interface and tests). */
export class SimulatedCardSlot implements CardSlot, FingerSource {
  private inserted: LoadedCard | undefined;
  private readonly insertedListeners = new Set<(card: SecureElement) => void>();
  private readonly removedListeners = new Set<(card: SecureElement) => void>();

  get card(): SecureElement | undefined {
    return this.inserted?.card;
  }

  /** The loaded card in the slot (simulation side: includes the household data). */
  get loaded(): LoadedCard | undefined {
    return this.inserted;
  }

  /** Insert a card. Throws CARD_ALREADY_PRESENT if the slot is occupied. */
  insert(loaded: LoadedCard): SecureElement {
    if (this.inserted) throw new HardwareError('CARD_ALREADY_PRESENT', 'a card is already in the slot');
    this.inserted = loaded;
    loaded.card.powerOn();
    for (const l of [...this.insertedListeners]) l(loaded.card);
    return loaded.card;
  }

  /** Remove the card. Throws NO_CARD if the slot is empty. */
  remove(): SecureElement {
    const loaded = this.inserted;
    if (!loaded) throw new HardwareError('NO_CARD', 'no card in the slot');
    this.inserted = undefined;
    loaded.card.powerOff();
    for (const l of [...this.removedListeners]) l(loaded.card);
    return loaded.card;
  }

  onInserted(listener: (card: SecureElement) => void): () => void {
    this.insertedListeners.add(listener);
    return () => this.insertedListeners.delete(listener);
  }

  onRemoved(listener: (card: SecureElement) => void): () => void {
    this.removedListeners.add(listener);
    return () => this.removedListeners.delete(listener);
  }

  /** The enrolled template of a member of the household whose card is in the slot. */
  templateFor(member: number): Uint8Array | undefined {
    return this.inserted?.data.members.find((m) => m.index === member)?.template;
  }
}
