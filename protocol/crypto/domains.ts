/**
 * Domain strings: the one place that names what a signature is for. Signed bytes are
 * UTF-8(domain) ‖ 0x00 ‖ canonical CBOR body, so a signature made for one purpose never
 * verifies as another. ASCII only, no 0x00; add new purposes here and nowhere else.
 */
export const Domain = {
  cardCert: 'unicard/v1/card-cert',
  deviceCert: 'unicard/v1/device-cert',
  cardAuth: 'unicard/v1/card-auth',
  holderVerify: 'unicard/v1/holder-verify',
  handshake: 'unicard/v1/handshake',
  firmware: 'unicard/v1/firmware',
  roster: 'unicard/v1/roster',
  policy: 'unicard/v1/policy',
  revocation: 'unicard/v1/revocation',
  receipt: 'unicard/v1/receipt',
} as const;

/** One of the registered domain strings. */
export type DomainString = (typeof Domain)[keyof typeof Domain];

/** All registered domain strings. */
export const ALL_DOMAINS: readonly DomainString[] = Object.values(Domain);

/**
 * Label for the session-key derivation (not a signature domain: nothing is signed with it,
 * but it follows the same "label ‖ 0x00 ‖ data" shape).
 */
export const SESSION_KEY_LABEL = 'unicard/v1/session-key';

/** True when `s` is a registered domain string. */
export function isDomain(s: unknown): s is DomainString {
  return typeof s === 'string' && (ALL_DOMAINS as readonly string[]).includes(s);
}
