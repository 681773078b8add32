import type { ListenResult, ProbeObservation, ProbeResult } from '@preflight/protocol';
import type { CheckOutcome, NotTestedReason, PathEvidence } from './outcome.js';
import type { PlannedCheck } from './plan.js';

/** How an agent fared in the run, as the classifier needs to know it. */
export type AgentStanding =
  | { state: 'ok' }
  | { state: 'unreachable' | 'lost' | 'auth-failed' | 'untrusted'; detail: string };

/** Everything the run gathered about one check. */
export type CheckEvidence = {
  sender: AgentStanding;
  receiver: AgentStanding;
  /** The receiver's listener; absent when it was never opened. */
  listen?: ListenResult;
  /** The sender's observation; absent when the probe never reported. */
  probe?: ProbeResult;
  /** UDP: the receiving agent reported the datagram over its control channel. */
  udpReceived: boolean;
  /** A target that runs no agent: the address given with --target, if any. */
  targetAddress?: string;
};

const STANDING_REASON = { unreachable: 'agent-unreachable', lost: 'agent-lost', 'auth-failed': 'auth-failed', untrusted: 'agent-untrusted' } as const;

const notTested = (reason: NotTestedReason, detail: string): CheckOutcome => ({ status: 'not-tested', reason, detail });

/**
 * Maps what the wire showed to an outcome. Pure, so every row of the truth table has a test.
 * An agent that could not take part never makes a port look blocked.
 */
export function classify(check: PlannedCheck, evidence: CheckEvidence): CheckOutcome {
  if (check.absentRole) {
    return notTested('no-node', `no node has the optional role ${check.absentRole}: add --node ${check.absentRole}=HOST to check it`);
  }
  if (check.address === null) {
    return notTested('no-address', `${check.to} has no address on network ${check.network}: add --node ${check.to}@${check.network}=HOST to check it`);
  }
  if (check.target === 'external') {
    if (!evidence.targetAddress) return notTested('no-target', `${check.to} runs no agent: name it with --target ${check.to}=HOST to check it`);
    if (!check.method) {
      return notTested('no-query', `no query is known for ${check.protocol}/${check.port}: a silent target proves nothing, so check it by hand`);
    }
  }

  for (const [side, standing] of [['sender', evidence.sender], ['receiver', evidence.receiver]] as const) {
    if (standing.state === 'ok' || (standing.state === 'lost' && survivesLoss(check, evidence, side))) continue;
    const name = side === 'sender' ? check.from : check.to;
    return notTested(STANDING_REASON[standing.state], `${name}: ${standing.detail}`);
  }
  const { listen, probe } = evidence;
  if (check.protocol === 'icmp' || check.target === 'external') {
    return probe ? classifyObservation(check, probe) : notTested('agent-lost', `${check.from} never reported its probe`);
  }
  if (!listen) return notTested('agent-lost', `${check.to} never reported its listener`);
  if (check.protocol === 'udp' && evidence.udpReceived && listen.state === 'bound') {
    return { status: 'open', reason: 'verified', detail: `${check.to} received the datagram` };
  }
  if (!probe) return notTested('agent-lost', `${check.from} never reported its probe`);

  if (listen.state !== 'bound') {
    const reason = listen.state === 'in-use' ? 'port-in-use' : listen.state === 'denied' ? 'permission-denied' : 'listen-failed';
    const who = listen.holder ? ` by ${listen.holder}` : '';
    const why =
      listen.state === 'in-use'
        ? `${check.to} could not listen: the port is in use${who}`
        : `${check.to} could not listen (${listen.code ?? listen.state})`;
    return { status: 'unverified', reason, detail: `${why}; ${describe(probe.observation)}`, evidence: evidenceOf(probe.observation, check.protocol) };
  }
  return classifyObservation(check, probe);
}

function classifyObservation(check: PlannedCheck, probe: ProbeResult): CheckOutcome {
  const seen = probe.observation;
  switch (seen.kind) {
    case 'answered':
      return { status: 'open', reason: 'answered', detail: `${seen.what} in ${probe.elapsedMs} ms` };
    case 'verified':
      return check.protocol === 'udp'
        ? // The answer came back, yet the receiver's report did not: it was lost with the agent.
          notTested('agent-lost', `${check.to} answered but never reported the datagram`)
        : check.protocol === 'icmp'
          ? { status: 'open', reason: 'verified', detail: `echo reply in ${probe.elapsedMs} ms` }
          : { status: 'open', reason: 'verified', detail: `handshake verified in ${probe.elapsedMs} ms` };
    case 'mismatch':
      return {
        status: 'unverified',
        reason: 'intercepted',
        detail: `${describe(seen)}: a firewall proxy or another program holds the path`,
        evidence: 'reachable',
      };
    case 'refused':
    case 'unreachable':
    case 'local-denied':
      return { status: 'blocked', reason: 'rejected', detail: describe(seen) };
    case 'no-answer':
      return {
        status: 'blocked',
        reason: 'filtered',
        detail:
          check.protocol === 'udp'
            ? `${probe.attempts} datagrams sent, none reached ${check.to} in ${probe.elapsedMs} ms`
            : check.protocol === 'icmp'
              ? `no echo reply in ${probe.elapsedMs} ms`
              : `no answer in ${probe.elapsedMs} ms (${probe.attempts} attempts)`,
      };
    case 'error':
      return notTested('probe-error', `${check.from} could not probe: ${seen.code} ${seen.message}`);
  }
}

/**
 * Whether a check's evidence still stands though an agent was lost during the run. What a lost
 * sender reported, it saw while it was alive. A lost receiver is different: silence or a reset
 * toward it may only mean it had died, so only positive evidence stands (our listener answered,
 * it reported the datagram, the echo came back).
 */
function survivesLoss(check: PlannedCheck, evidence: CheckEvidence, side: 'sender' | 'receiver'): boolean {
  const seen = evidence.probe?.observation.kind;
  if (side === 'sender') {
    if (check.protocol === 'udp' && check.target === 'agent') return evidence.udpReceived || (seen !== undefined && seen !== 'verified');
    return seen !== undefined;
  }
  if (check.protocol === 'udp' && check.target === 'agent') return evidence.udpReceived && evidence.listen?.state === 'bound';
  return seen === 'verified';
}

function evidenceOf(seen: ProbeObservation, protocol: PlannedCheck['protocol']): PathEvidence {
  switch (seen.kind) {
    case 'verified':
    case 'answered':
    case 'mismatch':
      return 'reachable';
    case 'refused':
    case 'unreachable':
    case 'local-denied':
      return 'rejected';
    case 'no-answer':
      // Another program on a UDP port owes our datagram no answer: silence proves nothing.
      return protocol === 'udp' ? 'none' : 'filtered';
    case 'error':
      return 'none';
  }
}

/**
 * How a check's detail begins when the sender's own firewall refused to send: the report keeps
 * no observation, so remediation reads this to put the rule on the sender, outbound.
 */
export const SENDER_REFUSED = "the sender's own firewall refused to send";

/** What the sender saw, in words. */
export function describe(seen: ProbeObservation): string {
  switch (seen.kind) {
    case 'verified':
      return 'our listener answered';
    case 'answered':
      return seen.what;
    case 'mismatch':
      if (seen.code) {
        const ended = seen.code === 'ECONNRESET' || seen.code === 'EPIPE' ? 'reset' : 'failed';
        return `connected, then ${ended} (${seen.code}) before any answer of ours${seen.received ? ` (it had sent "${seen.received}")` : ''}`;
      }
      return seen.received ? `connected, but the answer was not ours ("${seen.received}")` : 'connected, but nothing answered the handshake';
    case 'refused':
      return 'refused (TCP reset or ICMP port unreachable)';
    case 'unreachable':
      return seen.code === 'ICMP-TIME-EXCEEDED'
        ? 'ICMP time exceeded in transit (a routing loop, or more hops than the TTL allows)'
        : `ICMP destination unreachable (${seen.code})`;
    case 'local-denied':
      return `${SENDER_REFUSED} (${seen.code})`;
    case 'no-answer':
      return 'no answer';
    case 'error':
      return `probe failed: ${seen.code}`;
  }
}
