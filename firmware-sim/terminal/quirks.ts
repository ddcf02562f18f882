/**
 * Quirks: protocol rules the simulator breaks on purpose, one switch each, so the
 * conformance suite (and the daemon's own tests) can prove that their checks fail when a
 * terminal misbehaves. A terminal with no quirk set follows every rule.
 */
import { cobsDecode, cobsEncode } from '../../protocol/cobs.js';

/** Every quirk, with the rule it breaks. */
export const QUIRK_RULES = {
  non_canonical_cbor: 'messages are sent with a non-shortest integer encoding (key 0 written as 18 00)',
  bad_crc: 'every frame is sent with a wrong CRC-32C',
  no_replay_cache: 'a repeated request id is executed again instead of answered from the cache',
  no_keepalive: 'no Keepalive is sent during long requests',
  accept_clear: 'clear requests are executed after a handshake instead of being dropped',
  no_banner: 'no identification line at boot',
  replay_card_auth: 'CardAuthenticate is answered with the card signature of the previous transaction (a replayed card signature)',
  no_segment_nak: 'segments are advertised and reassembled, but a transfer with a segment missing is never NAKed (it waits for ever)',
} as const;

/** Name of a quirk. */
export type QuirkName = keyof typeof QUIRK_RULES;

/** All quirk names. */
export const QUIRK_NAMES = Object.keys(QUIRK_RULES) as QuirkName[];

/** True when `name` is a quirk. */
export function isQuirkName(name: unknown): name is QuirkName {
  return typeof name === 'string' && Object.hasOwn(QUIRK_RULES, name);
}

/** The quirks in force; shared by reference between the simulator and its connections. */
export class QuirkSet {
  private readonly on = new Set<QuirkName>();
  /** The last genuine CardAuthenticateResult body, which `replay_card_auth` sends again. */
  lastCardAuth: { counter: number; signature: Uint8Array; cardCertificate: Uint8Array } | undefined;

  has(name: QuirkName): boolean {
    return this.on.has(name);
  }

  set(name: QuirkName, enabled = true): void {
    if (enabled) this.on.add(name);
    else this.on.delete(name);
  }

  clear(): void {
    this.on.clear();
  }

  /** Names switched on, in table order. */
  list(): QuirkName[] {
    return QUIRK_NAMES.filter((n) => this.on.has(n));
  }
}

/**
 * The same message in non-canonical CBOR: a canonical message always starts
 * `a<n> 00 <type>`, and key 0 is rewritten as the two-byte `18 00`. The value is unchanged,
 * so only a decoder that enforces shortest encodings notices.
 */
export function nonCanonicalMessage(canonical: Uint8Array): Uint8Array {
  if (canonical.length < 2 || canonical[1] !== 0x00) return canonical;
  const out = new Uint8Array(canonical.length + 1);
  out[0] = canonical[0] ?? 0;
  out[1] = 0x18;
  out[2] = 0x00;
  out.set(canonical.subarray(2), 3);
  return out;
}

/**
 * The same frame with its CRC-32C damaged (COBS re-encoded, so the frame still decodes as
 * COBS and fails exactly at the CRC check). Keeps a leading delimiter if there was one.
 */
export function withBadCrc(frame: Uint8Array): Uint8Array {
  const lead = frame[0] === 0x00 ? 1 : 0;
  const end = frame.length - 1; // the trailing delimiter
  const body = cobsDecode(frame.subarray(lead, end));
  body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0xff;
  const encoded = cobsEncode(body);
  const out = new Uint8Array(lead + encoded.length + 1);
  out.set(encoded, lead);
  return out;
}
