/** The quota policy: signed data (policy-format), the default rules, and the pure evaluator. */
export * from './cairo-calendar.js';
export * from './default-policy.js';
export * from './evaluator.js';
export * from './policy-error.js';
export * from './policy-format.js';
export * from './policy-types.js';
export * from './reasons.js';
