/**
 * Machine-readable codes an agent puts in an `error` message. Tests assert the code, never the text.
 * - `bad-message`: not JSON, or not a message this protocol knows. After authentication the
 *   connection stays usable; before it, the connection is closed (4401).
 * - `auth-required`: a command came before authentication; the connection is closed (4401).
 * - `auth-failed`: the proof did not match the token; the connection is closed (4401).
 * - `protocol-mismatch`: the controller speaks another protocol version; the connection is closed (4401).
 * - `no-run`: listen, probe or release before `begin`.
 * - `run-exists`: a second `begin` on one connection: a connection has one run, whose limits
 *   (targets, probes, listens) cannot be renewed by beginning again.
 * - `run-expired`: the run's lifetime ran out; its listeners are closed.
 * - `undeclared-target`: a probe of a host the run did not declare when it began.
 * - `limit-exceeded`: a request would take the run past one of its limits (listeners at once,
 *   listens or probes in all); nothing of it was done.
 * - `internal`: a fault in the agent itself; the message says what.
 */
export const ERROR_CODES = [
  'bad-message',
  'auth-required',
  'auth-failed',
  'protocol-mismatch',
  'no-run',
  'run-exists',
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
