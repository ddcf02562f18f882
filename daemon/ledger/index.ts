/** The ledger: authorizations, signed hash-chained receipts, usage index, offline verification and export. */
export * from './ledger-error.js';
export * from './ledger-types.js';
export * from './periods.js';
export * from './receipt.js';
export * from './ledger.js';
export * from './verify-ledger.js';
export * from './export.js';
export { cardAuthHash, CARD_AUTH_HASH_LENGTH } from './evidence.js';
export * from './policy-usage.js';
