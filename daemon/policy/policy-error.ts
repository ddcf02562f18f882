/**
 * Errors of the quota policy layer. These are for inputs the evaluator cannot work with
 * (a malformed or untrusted policy, a malformed request, usage or household record, a time
 * outside the calendar). A household that may not have what it asked for is NOT an error:
 * that is a {@link Reason} inside a decision.
 */
import { UnicardError } from '../../protocol/errors.js';

/** Why a policy, a request or an input was refused. */
export type PolicyErrorCode =
  /** Policy bytes or JSON do not fit the format (the message names the field). */
  | 'POLICY_MALFORMED'
  /** The signed structure is another kind of document (roster, revocation, ...). */
  | 'POLICY_WRONG_DOMAIN'
  /** Signed by a key that is not a trusted issuer root. */
  | 'POLICY_UNKNOWN_ISSUER'
  /** The issuer signature does not verify (tampered, or S ≥ L). */
  | 'POLICY_BAD_SIGNATURE'
  /** The policy's effective-from day is after the day being evaluated. */
  | 'POLICY_NOT_EFFECTIVE'
  /** None of the policies offered is in effect on that day. */
  | 'POLICY_NONE_EFFECTIVE'
  /** The request is malformed (service, quantity, item list). */
  | 'REQUEST_INVALID'
  /** The household record is malformed (size, governorate, state, since). */
  | 'HOUSEHOLD_INVALID'
  /** The usage figures from the ledger are malformed (negative, fractional, bad day key). */
  | 'USAGE_INVALID'
  /** `now` is not a Unix time in seconds between 1970 and 9999. */
  | 'TIME_INVALID';

/** A policy-layer failure (never a refusal of a household: those are decision reasons). */
export class PolicyError extends UnicardError {
  declare readonly code: PolicyErrorCode;
  constructor(code: PolicyErrorCode, message: string, detail?: Record<string, unknown>) {
    super(code, message, detail);
  }
}
