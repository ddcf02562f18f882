/** The crypto layer: Ed25519, signed structures, certificates, handshake and sealing. */
export * from './bytes.js';
export * from './domains.js';
export * from './ed25519.js';
export * from './signed-structure.js';
export * from './certificates.js';
export * from './card-structures.js';
export * from './firmware-header.js';
export * from './session-keys.js';
export * from './sealed-channel.js';
export * from './handshake.js';
