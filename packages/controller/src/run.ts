import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import {
  type HostFacts,
  makeNonce,
  makeRunKey,
  MAX_LISTENERS_PER_REQUEST,
  type ListenResult,
  type ProbeOrder,
  type ProbeResult,
} from '@preflight/protocol';
import { AgentConnectError, AgentConnection, CONNECT_TIMEOUT_MS, INSECURE, type AgentTrust } from './agent-client.js';
import { withDeadline } from './deadline.js';
import { classify, type AgentStanding } from './classify.js';
import type { AgentNode, Target } from './nodes.js';
import { judge, type CheckOutcome, type Verdict } from './outcome.js';
import type { Plan, PlannedCheck } from './plan.js';
import { checksByRound, splitIntoRounds } from './rounds.js';

/**
 * After the last probe reports, how long to wait for UDP receipts still on their way over the
 * receivers' control channels: one loopback or LAN hop, far less than a probe spacing.
 */
const RECEIPT_GRACE_MS = 300;

/**
 * Silence, after the probes' own timeouts, before an agent that has not finished is given up.
 * Generous, because on a lossy link TCP's retransmission backoff can stall the control channel:
 * at 20% loss each way the lab saw one run in six go silent for over 15 s (backoff doubles from
 * 200 ms with each lost retransmission). Counted from the agent's last message or heartbeat, so
 * an agent still talking is waited for. It is there for an agent that hangs.
 */
const PROBE_DEADLINE_SLACK_MS = 30_000;

/** Clock readings per agent; the one with the shortest round trip gives the offset. */
const CLOCK_SAMPLES = 3;

/** How long an agent may take to tell its host facts (its OS commands time out at 5 s each). */
const FACTS_DEADLINE_MS = 10_000;

/** Agents connected to at once: enough for any site, few enough to stay within file limits. */
const CONNECT_CONCURRENCY = 32;

export type RunOptions = {
  token: string;
  timeoutMs: number;
  /** Probes each agent has under way at once. */
  concurrency: number;
  /** How long agents keep their listeners if this controller vanishes without a word. */
  ttlMs: number;
  /** Targets that run no agent, by the profile's external role. */
  targets?: readonly Target[];
  /** How agents are trusted (TLS and pinning); plain ws when absent (tests). */
  trust?: AgentTrust;
  /** How to reach a node's agent: dial it (the default), or wait for it to dial in (--serve). */
  connect?: (node: AgentNode) => Promise<AgentConnection>;
  /** Told of each probe's result as it arrives, for a progress display; `total` comes first. */
  onStart?: (total: number) => void;
  onProbeResult?: (result: ProbeResult) => void;
};

/** How a node took part in the run. */
export type NodeOutcome = AgentNode & {
  state: 'connected' | 'unreachable' | 'auth-failed' | 'untrusted' | 'lost';
  detail?: string;
  hostname?: string;
  platform?: string;
  agentVersion?: string;
  /** What the agent told of its server; absent when it could not be asked. */
  facts?: HostFacts;
  /** The agent's clock minus the controller's, and the round trip it was measured over. */
  clock?: { offsetMs: number; rttMs: number };
};

export type CheckResult = PlannedCheck & { outcome: CheckOutcome; verdict: Verdict; elapsedMs?: number; rttMs?: number };

export type RunResult = {
  runId: string;
  startedAt: Date;
  finishedAt: Date;
  /** `rounds`: present when the listeners did not all fit at once. */
  timings: { connectMs: number; listenMs: number; probeMs: number; totalMs: number; rounds?: number };
  nodes: NodeOutcome[];
  checks: CheckResult[];
};

/**
 * Runs a plan against the agents: connect, open listeners, probe, gather UDP receipts, end.
 * Never throws for what happens on the network: an agent that cannot be reached or is lost
 * turns its checks into `not-tested`, and every other check keeps its verdict.
 */
export async function runPlan(plan: Plan, nodes: readonly AgentNode[], options: RunOptions): Promise<RunResult> {
  const startedAt = new Date();
  const clock = performance.now();
  const runId = randomUUID();
  const runKey = makeRunKey();
  const standings = new Map<string, AgentStanding>();
  const nodeInfo = new Map<string, Partial<NodeOutcome>>();
  const lose = (name: string, detail: string) => {
    if (standings.get(name)?.state === 'ok') standings.set(name, { state: 'lost', detail });
  };

  const connect = options.connect ?? ((node: AgentNode) => AgentConnection.connect(node, options.token, options.trust ?? INSECURE));
  const connections = await connectAll(nodes, connect, standings);
  const connectMs = performance.now() - clock;
  try {
    for (const connection of connections) {
      const { name } = connection.node;
      const { hostname, platform, agentVersion } = connection.info;
      nodeInfo.set(name, { hostname, platform, agentVersion });
      connection.onLost = (why) => lose(name, why);
    }
    const live = () => connections.filter((connection) => standings.get(connection.node.name)?.state === 'ok');

    // Every address this run may probe, declared up front: agents refuse any other.
    const declared = [...new Set([...nodes.flatMap((node) => [node.host, ...Object.values(node.addresses ?? {})]), ...(options.targets ?? []).map((target) => target.host)])];
    await eachAgent(live(), lose, (connection) => connection.request({ type: 'begin', runId, runKey, ttlMs: options.ttlMs, targets: declared }));

    // Clocks and host facts are read in the background while the agents listen and probe: on a
    // lossy link a few sequential round trips would otherwise hold the run up by seconds. The
    // clock keeps the reading with the shortest round trip, so probing load costs it little.
    const factsRead = Promise.all(
      live().flatMap((connection) => [
        measureClock(connection).then(
          (clock) => void Object.assign(nodeInfo.get(connection.node.name)!, { clock }),
          () => undefined,
        ),
        withDeadline(connection.request({ type: 'facts' }), FACTS_DEADLINE_MS, 'no facts in time').then(
          ({ facts }) => void Object.assign(nodeInfo.get(connection.node.name)!, { facts }),
          () => undefined, // facts are for the report; a run never fails for want of them
        ),
      ]),
    );

    // Listeners in rounds, each within what every agent can hold at once; most runs take one.
    // A round must fit in one listen request, whatever an agent says it can hold.
    const capacity = (connection: AgentConnection) => Math.min(connection.info.listenCapacity, MAX_LISTENERS_PER_REQUEST);
    const capacities = new Map(live().map((connection) => [connection.node.name, capacity(connection)]));
    const rounds = splitIntoRounds(plan.listeners, capacities);
    const checksOfRound = checksByRound(plan.checks, rounds);

    const listens = new Map<string, ListenResult>();
    const probes = new Map<string, ProbeResult>();
    const received = new Set<string>();
    const checkByNonce = new Map<string, string>();
    const targets = new Map((options.targets ?? []).map((target) => [target.role, target]));
    options.onStart?.(plan.checks.length);
    for (const connection of connections) {
      connection.probeResult = (result) => {
        probes.set(result.key, result);
        options.onProbeResult?.(result);
      };
      connection.udpReceived = ({ port, nonce }) => {
        const key = checkByNonce.get(`${port}/${nonce}`);
        if (key) received.add(key);
      };
    }
    let listenMs = 0;
    let probeMs = 0;
    for (const [number, round] of rounds.entries()) {
      const listenClock = performance.now();
      const headrooms = new Map<string, number>();
      await eachAgent(live(), lose, async (connection) => {
        const specs = round.get(connection.node.name) ?? [];
        if (specs.length === 0) return;
        const { listeners, headroom } = await connection.request({ type: 'listen', listeners: specs });
        for (const result of listeners) listens.set(`${connection.node.name}|${result.protocol}/${result.port}`, result);
        if (headroom !== undefined) headrooms.set(connection.node.name, headroom);
      });
      listenMs += performance.now() - listenClock;

      const probeClock = performance.now();
      const checks = checksOfRound[number]!;
      const ordersBySender = orderProbes(checks, nodes, targets, standings, listens, options.timeoutMs);
      const orders = [...ordersBySender.values()].flat();
      for (const order of orders) checkByNonce.set(`${order.port}/${order.nonce}`, order.key);
      const receiverShare = shareReceivers(ordersBySender, checks, headrooms);
      await eachAgent(live(), lose, async (connection) => {
        const mine = ordersBySender.get(connection.node.name) ?? [];
        if (mine.length === 0) return;
        const concurrency = Math.min(options.concurrency, receiverShare.get(connection.node.name) ?? options.concurrency);
        const waves = Math.ceil(mine.length / concurrency);
        const earliest = performance.now() + waves * options.timeoutMs;
        await withSilenceLimit(
          connection.request({ type: 'probe', probes: mine, concurrency }),
          () => Math.max(earliest, connection.lastHeard) + PROBE_DEADLINE_SLACK_MS,
          () => `${connection.node.name} did not finish its probes: nothing heard from it for ${PROBE_DEADLINE_SLACK_MS / 1000} s after they were due`,
        );
      });
      // Only agents report receipts; a DNS or NTP target's answer came back to the sender already.
      const udpPending = orders.some((order) => order.protocol === 'udp' && order.method === 'handshake' && !received.has(order.key));
      if (udpPending) await sleep(RECEIPT_GRACE_MS);
      probeMs += performance.now() - probeClock;
      // The next round's listeners need this round's files; the last round ends with the run.
      if (number < rounds.length - 1) {
        const releaseClock = performance.now();
        await eachAgent(live(), lose, async (connection) => {
          const specs = round.get(connection.node.name) ?? [];
          if (specs.length > 0) await connection.request({ type: 'release', listeners: specs });
        });
        listenMs += performance.now() - releaseClock;
      }
    }

    await factsRead;
    await eachAgent(live(), lose, (connection) => withDeadline(connection.request({ type: 'end' }), PROBE_DEADLINE_SLACK_MS, 'no answer to end'));

    const checks = plan.checks.map((check): CheckResult => {
      const outcome = classify(check, {
        sender: standings.get(check.from) ?? { state: 'ok' },
        receiver: standings.get(check.to) ?? { state: 'ok' },
        listen: listens.get(`${check.to}|${check.protocol}/${check.port}`),
        probe: probes.get(check.key),
        udpReceived: received.has(check.key),
        targetAddress: targets.get(check.to)?.host,
      });
      const probe = probes.get(check.key);
      return {
        ...check,
        outcome,
        verdict: judge(check.expect, outcome),
        elapsedMs: probe?.elapsedMs,
        ...(probe?.rttMs === undefined ? {} : { rttMs: probe.rttMs }),
      };
    });
    return {
      runId,
      startedAt,
      finishedAt: new Date(),
      timings: { connectMs, listenMs, probeMs, totalMs: performance.now() - clock, ...(rounds.length > 1 ? { rounds: rounds.length } : {}) },
      nodes: nodes.map((node) => describeNode(node, standings.get(node.name), nodeInfo.get(node.name))),
      checks,
    };
  } finally {
    for (const connection of connections) connection.close();
  }
}

async function connectAll(
  nodes: readonly AgentNode[],
  connect: (node: AgentNode) => Promise<AgentConnection>,
  standings: Map<string, AgentStanding>,
): Promise<AgentConnection[]> {
  const limit = pLimit(CONNECT_CONCURRENCY);
  const attempts = await Promise.allSettled(nodes.map((node) => limit(() => connect(node))));
  const connections: AgentConnection[] = [];
  attempts.forEach((attempt, index) => {
    const node = nodes[index]!;
    if (attempt.status === 'fulfilled') {
      standings.set(node.name, { state: 'ok' });
      connections.push(attempt.value);
    } else {
      const error = attempt.reason as Error;
      const code = error instanceof AgentConnectError ? error.code : 'agent-unreachable';
      const state = code === 'auth-failed' ? 'auth-failed' : code === 'agent-untrusted' ? 'untrusted' : 'unreachable';
      standings.set(node.name, { state, detail: error.message });
    }
  });
  return connections;
}

/** Runs one step on every agent at once; an agent whose step fails is marked lost, the rest go on. */
async function eachAgent(
  connections: readonly AgentConnection[],
  lose: (name: string, detail: string) => void,
  step: (connection: AgentConnection) => Promise<unknown>,
): Promise<void> {
  await Promise.all(
    connections.map((connection) =>
      step(connection).catch((error: Error) => lose(connection.node.name, error.message)),
    ),
  );
}

/** The probe orders for every check that can be probed, grouped by the node that sends them. */
function orderProbes(
  checks: readonly PlannedCheck[],
  nodes: readonly AgentNode[],
  targets: ReadonlyMap<string, Target>,
  standings: Map<string, AgentStanding>,
  listens: Map<string, ListenResult>,
  timeoutMs: number,
): Map<string, ProbeOrder[]> {
  const hostOf = new Map(nodes.map((node) => [node.name, node.host]));
  const nodeOf = new Map(nodes.map((node) => [node.name, node]));
  const orders = new Map<string, ProbeOrder[]>();
  for (const check of checks) {
    if (!check.method || check.absentRole || check.address === null || standings.get(check.from)?.state !== 'ok') continue;
    const target = targets.get(check.to);
    if (check.target === 'external' && !target) continue;
    if (check.target === 'agent') {
      if (standings.get(check.to)?.state !== 'ok') continue;
      // ICMP echo needs no listener: the peer's own stack answers.
      if (check.protocol !== 'icmp' && !listens.has(`${check.to}|${check.protocol}/${check.port}`)) continue;
    }
    const list = orders.get(check.from) ?? [];
    list.push({
      key: check.key,
      protocol: check.protocol,
      method: check.method,
      host: target?.host ?? check.address ?? hostOf.get(check.to)!,
      port: target?.port ?? check.port ?? 0,
      nonce: makeNonce(),
      timeoutMs,
      // On another network than the control one, send from the sender's address on it.
      ...(check.address && check.network ? sourceOn(nodeOf.get(check.from), check.network) : {}),
    });
    orders.set(check.from, list);
  }
  return orders;
}

const sourceOn = (node: AgentNode | undefined, network: string): { source?: string } => {
  const source = node?.addresses?.[network];
  return source ? { source } : {};
};

function describeNode(node: AgentNode, standing: AgentStanding | undefined, info: Partial<NodeOutcome> | undefined): NodeOutcome {
  const state = standing?.state === 'ok' || standing === undefined ? 'connected' : standing.state;
  const detail = standing && standing.state !== 'ok' ? standing.detail : undefined;
  return { ...node, state, ...(detail ? { detail } : {}), ...info };
}

/**
 * How many probes each sender may have under way so that no receiver runs out of file
 * descriptors: every connection that reaches a receiver's listener costs it one, while its own
 * probes need some too. So a receiver's headroom is split between the senders that probe it and
 * its own probing, and each sender takes the smallest share any of its receivers offers.
 */
export function shareReceivers(
  ordersBySender: ReadonlyMap<string, readonly ProbeOrder[]>,
  checks: readonly PlannedCheck[],
  headrooms: ReadonlyMap<string, number>,
): Map<string, number> {
  const receiverOf = new Map(checks.map((check) => [check.key, check.to]));
  const sendersTo = new Map<string, Set<string>>();
  for (const [sender, orders] of ordersBySender) {
    for (const order of orders) {
      const receiver = receiverOf.get(order.key);
      if (receiver && headrooms.has(receiver)) sendersTo.set(receiver, (sendersTo.get(receiver) ?? new Set()).add(sender));
    }
  }
  const shares = new Map<string, number>();
  for (const [receiver, senders] of sendersTo) {
    // Two sockets per probe: a retry may arrive before the first connection is closed.
    const share = Math.max(1, Math.floor(headrooms.get(receiver)! / (SOCKETS_PER_INCOMING_PROBE * (senders.size + 1))));
    for (const sender of senders) shares.set(sender, Math.min(shares.get(sender) ?? Infinity, share));
  }
  return shares;
}

/** Sockets one incoming probe may hold on its receiver at once (a retry before the first has closed). */
const SOCKETS_PER_INCOMING_PROBE = 2;

/**
 * The agent's clock minus the controller's: the agent reads its clock as it answers, assumed
 * halfway through the round trip, so the error is at most half the round trip kept.
 */
async function measureClock(connection: AgentConnection): Promise<{ offsetMs: number; rttMs: number }> {
  let best: { offsetMs: number; rttMs: number } | undefined;
  for (let sample = 0; sample < CLOCK_SAMPLES; sample++) {
    const sent = Date.now();
    const started = performance.now();
    const { now } = await withDeadline(connection.request({ type: 'clock' }), CONNECT_TIMEOUT_MS, 'no clock reading');
    const rttMs = performance.now() - started;
    const offsetMs = now - (sent + rttMs / 2);
    if (!best || rttMs < best.rttMs) best = { offsetMs: Math.round(offsetMs), rttMs: Math.round(rttMs * 100) / 100 };
  }
  return best!;
}

/** Like withDeadline, but the deadline moves: it is asked again every half second. */
function withSilenceLimit<T>(promise: Promise<T>, deadlineAt: () => number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (performance.now() > deadlineAt()) reject(new Error(message()));
    }, 500);
  });
  return Promise.race([promise, watchdog]).finally(() => clearInterval(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
