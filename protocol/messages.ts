/**
 * The message layer: catalog (types, numbers, fields), validation, encoding and decoding.
 * See PROTOCOL.d/50-messages.md.
 */
export * from './messages/schema.js';
export * from './messages/catalog.js';
export * from './messages/message-codec.js';
