/** Dispensing: authorize → commit → receipt (service, API methods, settings, errors). */
export * from './dispense-errors.js';
export * from './dispense-service.js';
export * from './dispense-config.js';
export * from './dispense-methods.js';
