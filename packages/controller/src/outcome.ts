/**
 * What a check found, as the engineer reads it. The status says what to act on; the reason says
 * why; the detail says what was seen on the wire, for a human.
 * - open: our listener answered the nonce (`verified`), or a target that runs no agent answered
 *   as its service should (`answered`).
 * - blocked: `filtered` (no answer) or `rejected` (reset, ICMP unreachable, or the sender's own
 *   firewall) while our listener was up.
 * - unverified: we could not listen (port in use, permission), or something other than our
 *   listener answered; `evidence` keeps what the probe still showed of the path.
 * - not-tested: nothing was learnt about the path (agent unreachable or lost, no target).
 * For ICMP, open means an echo reply came back; there is no listener of ours to prove.
 */
export type CheckOutcome =
  | { status: 'open'; reason: 'verified' | 'answered'; detail: string }
  | { status: 'blocked'; reason: 'filtered' | 'rejected'; detail: string }
  | {
      status: 'unverified';
      reason: 'port-in-use' | 'permission-denied' | 'listen-failed' | 'intercepted';
      detail: string;
      evidence: PathEvidence;
    }
  | {
      status: 'not-tested';
      reason: NotTestedReason;
      detail: string;
    };

export type CheckStatus = CheckOutcome['status'];

/** What a probe showed of the path when its verdict could not be verified. */
export type PathEvidence = 'reachable' | 'filtered' | 'rejected' | 'none';

/**
 * Why nothing was learnt. `no-target` (a target that runs no agent was not named with --target),
 * `no-node` (an optional role was given no node), `no-address` (a node was given no address on
 * one of the profile's networks) and `no-query` (no query is known for that UDP port) are limits
 * of what was asked, not of the run: they never fail it, and the report says what to add. The
 * others mean the run did not complete.
 */
export type NotTestedReason =
  | 'agent-unreachable'
  | 'agent-lost'
  | 'auth-failed'
  | 'agent-untrusted'
  | 'probe-error'
  | 'no-target'
  | 'no-query'
  | 'no-node'
  | 'no-address';

/** Reasons that mean the run did not complete (exit code 3). */
export const INCOMPLETE_REASONS: ReadonlySet<NotTestedReason> = new Set([
  'agent-unreachable',
  'agent-lost',
  'auth-failed',
  'agent-untrusted',
  'probe-error',
]);

/**
 * Does the outcome meet the requirement: an `open` requirement passes when open, a `closed` one
 * when blocked. Unverified and not-tested checks are neither.
 */
export type Verdict = 'pass' | 'fail' | 'inconclusive';

export function judge(expect: 'open' | 'closed', outcome: CheckOutcome): Verdict {
  if (outcome.status === 'open') return expect === 'open' ? 'pass' : 'fail';
  if (outcome.status === 'blocked') return expect === 'closed' ? 'pass' : 'fail';
  return 'inconclusive';
}
