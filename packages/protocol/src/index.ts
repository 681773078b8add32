export * from './auth.js';
export * from './constants.js';
export * from './decode.js';
export * from './errors.js';
export * from './handshake.js';
export * from './messages.js';
export * from './observations.js';
export * from './host-facts.js';
