/**
 * Machine-readable codes an agent puts in an `error` message. Tests assert the code, never the text.
 * - `bad-message`: not JSON, or not a message this protocol knows; the connection stays usable.
 * - `auth-required`: a command came before authentication; the connection is closed.
 * - `auth-failed`: the proof did not match the token; the connection is closed.
 * - `protocol-mismatch`: the controller speaks another protocol version.
 * - `no-run`: listen or probe before `begin`.
 * - `run-expired`: the run's lifetime ran out; its listeners are closed.
 * - `internal`: a fault in the agent itself; the message says what.
 */
export const ERROR_CODES = [
  'bad-message',
  'auth-required',
  'auth-failed',
  'protocol-mismatch',
  'no-run',
  'run-expired',
  'undeclared-target',
  'limit-exceeded',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** WebSocket close codes the agent uses, so a controller can tell why it was dropped. */
export const CLOSE_CODES = {
  authFailed: 4401,
  authTimeout: 4408,
  tooManyFailures: 4429,
  tooManyConnections: 4430,
  runExpired: 4410,
  shuttingDown: 4503,
} as const;
