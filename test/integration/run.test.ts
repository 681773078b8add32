import dgram from 'node:dgram';
import net from 'node:net';
import type { RunningAgent } from '@preflight/agent';
import dnsPacket from 'dns-packet';
import type { ListenSpec } from '@preflight/protocol';
import { AgentConnection, planChecks, profileFromPortSpecs, profileSchema, runPlan, summarize, type AgentNode, type CheckResult } from '@preflight/controller';
import { TEST_TOKEN, canBind, freePort, startLoopbackAgents } from '../support/agents.js';

const options = { token: TEST_TOKEN, timeoutMs: 1000, concurrency: 50, ttlMs: 60_000 };
const byKey = (checks: CheckResult[]) => Object.fromEntries(checks.map((check) => [check.key, check.outcome]));

describe('a run between real agents on loopback', () => {
  let agents: RunningAgent[];
  let nodes: AgentNode[];
  beforeEach(async () => {
    ({ agents, nodes } = await startLoopbackAgents(2));
  });
  afterEach(async () => {
    await Promise.all(agents.map((agent) => agent.close()));
  });

  const run = (specs: string[], on = nodes) => runPlan(planChecks(profileFromPortSpecs(specs), on), on, options);

  it('verifies TCP and UDP in both directions', async () => {
    const [tcp, udp] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')];
    const result = await run([`tcp:${tcp}`, `udp:${udp}`]);
    expect(byKey(result.checks)).toEqual({
      [`n1->n2/tcp/${tcp}`]: expect.objectContaining({ status: 'open', reason: 'verified' }),
      [`n2->n1/tcp/${tcp}`]: expect.objectContaining({ status: 'open', reason: 'verified' }),
      [`n1->n2/udp/${udp}`]: expect.objectContaining({ status: 'open', reason: 'verified' }),
      [`n2->n1/udp/${udp}`]: expect.objectContaining({ status: 'open', reason: 'verified' }),
    });
  });

  it('gathers each agent\'s host facts and clock offset for the report, and the round trip of each TCP probe', async () => {
    const result = await run([`tcp:${await freePort('127.0.0.1')}`]);
    for (const node of result.nodes) {
      expect(node.facts).toMatchObject({ hostname: expect.any(String), cpu: { cores: expect.any(Number) } });
      // One machine, one clock: the offset is within the round trip it was measured over.
      expect(Math.abs(node.clock!.offsetMs)).toBeLessThanOrEqual(node.clock!.rttMs + 2);
    }
    for (const check of result.checks) expect(check.rttMs).toBeGreaterThanOrEqual(0);
  });

  it('tells a port held by another program (unverified, with what the probe saw) from an open one', async () => {
    const port = await freePort('127.0.0.2');
    const silent = net.createServer((socket) => socket.on('error', () => {})); // probes close with a reset
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.2', resolve));
    const udpHolder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udpHolder.bind(port, '127.0.0.2', resolve));
    try {
      const result = await run([`tcp:${port}`, `udp:${port}`]);
      expect(byKey(result.checks)).toMatchObject({
        [`n1->n2/tcp/${port}`]: { status: 'unverified', reason: 'port-in-use', evidence: 'reachable' },
        [`n1->n2/udp/${port}`]: { status: 'unverified', reason: 'port-in-use', evidence: 'none' },
        [`n2->n1/tcp/${port}`]: { status: 'open' },
        [`n2->n1/udp/${port}`]: { status: 'open' },
      });
    } finally {
      silent.close();
      udpHolder.close();
    }
  });

  it('marks the checks of an agent that is not running not-tested, never blocked', async () => {
    const absent = { name: 'n3', role: 'peer', host: '127.0.0.3', port: await freePort('127.0.0.3') };
    const result = await run(['tcp:29001'], [...nodes, absent]);
    const withAbsent = result.checks.filter((check) => check.from === 'n3' || check.to === 'n3');
    expect(withAbsent).toHaveLength(4);
    for (const check of withAbsent) expect(check.outcome).toMatchObject({ status: 'not-tested', reason: 'agent-unreachable' });
    expect(result.checks.filter((check) => check.outcome.status === 'open')).toHaveLength(2);
    expect(result.nodes.find((node) => node.name === 'n3')).toMatchObject({
      state: 'unreachable',
      detail: expect.stringContaining(`127.0.0.3:${absent.port}`),
    });
  });

  it('checks targets that run no agent with a real query, from every agent the profile assigns', async () => {
    const dns = dgram.createSocket('udp4');
    dns.on('message', (query, peer) => {
      const { id, questions } = dnsPacket.decode(query);
      dns.send(dnsPacket.encode({ type: 'response', id, questions, answers: [] }), peer.port, peer.address);
    });
    await new Promise<void>((resolve) => dns.bind(0, '127.0.0.9', resolve));
    const profile = profileSchema.parse({
      format: 'preflight-profile/1',
      name: 'targets',
      title: 'Targets',
      version: '1',
      roles: { peer: { description: 'server' }, 'dns-server': { description: 'DNS', kind: 'external' }, sql: { description: 'SQL', kind: 'external' } },
      requirements: [
        { id: 'dns', protocol: 'udp', ports: [53], from: 'peer', to: 'dns-server', direction: 'one-way', purpose: 'DNS', source: 's' },
        { id: 'sql', protocol: 'tcp', ports: [1433], from: 'peer', to: 'sql', direction: 'one-way', purpose: 'SQL', source: 's' },
      ],
    });
    try {
      const targets = [{ role: 'dns-server', host: '127.0.0.9', port: dns.address().port }];
      const result = await runPlan(planChecks(profile, nodes), nodes, { ...options, targets });
      expect(byKey(result.checks)).toMatchObject({
        'n1->dns-server/udp/53': { status: 'open', reason: 'answered', detail: expect.stringContaining('DNS answered (NOERROR)') },
        'n2->dns-server/udp/53': { status: 'open', reason: 'answered' },
        'n1->sql/tcp/1433': { status: 'not-tested', reason: 'no-target' },
      });
      expect(summarize(result.checks).exitCode).toBe(0);
    } finally {
      dns.close();
    }
  });

  it('marks every check not-tested when the token is wrong', async () => {
    const result = await runPlan(planChecks(profileFromPortSpecs(['tcp:29001']), nodes), nodes, { ...options, token: 'wrong' });
    for (const check of result.checks) expect(check.outcome).toMatchObject({ status: 'not-tested', reason: 'auth-failed' });
  });
});

/**
 * Runs with every request the controller sends recorded, by node, so a test can tell how many
 * listeners each agent held at once. Before each listen request it also tries to bind, on the
 * agent's host, every port the agent was told to release: the agent really let them go.
 */
async function recordedRun(specs: string[], nodes: AgentNode[]) {
  type Sent = { type: string; listeners?: ListenSpec[] };
  const sent: { node: string; request: Sent }[] = [];
  const released = { checked: 0, stillHeld: [] as string[] };
  const connect = async (node: AgentNode) => {
    const connection = await AgentConnection.connect(node, TEST_TOKEN);
    const request = connection.request.bind(connection);
    let toCheck: ListenSpec[] = [];
    connection.request = (async (each: Sent) => {
      if (each.type === 'listen') {
        for (const spec of toCheck.splice(0)) {
          released.checked++;
          if (!(await canBind(node.host, spec.port, spec.protocol))) released.stillHeld.push(`${node.name}|${spec.protocol}/${spec.port}`);
        }
      }
      sent.push({ node: node.name, request: each });
      const reply = await request(each as Parameters<typeof request>[0]);
      if (each.type === 'release') toCheck.push(...(each.listeners ?? []));
      return reply;
    }) as typeof request;
    return connection;
  };
  const result = await runPlan(planChecks(profileFromPortSpecs(specs), nodes), nodes, { ...options, connect });
  const typesTo = (node: string) => sent.filter((each) => each.node === node).map((each) => each.request.type);
  /** The most listeners the node held at once, by what it was asked to open, release and end. */
  const mostHeld = (node: string) => {
    const held = new Set<string>();
    let most = 0;
    for (const { request } of sent.filter((each) => each.node === node)) {
      const ids = (request.listeners ?? []).map((spec) => `${spec.protocol}/${spec.port}`);
      if (request.type === 'listen') ids.forEach((id) => held.add(id));
      if (request.type === 'release') ids.forEach((id) => held.delete(id));
      if (request.type === 'end') held.clear();
      most = Math.max(most, held.size);
    }
    return most;
  };
  const count = (node: string, type: string) => typesTo(node).filter((each) => each === type).length;
  return { result, count, mostHeld, released };
}

describe('a run with more listeners than an agent can hold at once', () => {
  it('opens them in rounds, releases each round, and still checks every port both ways', async () => {
    // 41200: away from the command-line test of rounds (41000-41049), which may run alongside.
    const { agents, nodes } = await startLoopbackAgents(2, { maxListeners: 20 });
    try {
      const { result, count, mostHeld, released } = await recordedRun(['tcp:41200-41249', 'udp:41200-41249'], nodes);
      expect(result.checks).toHaveLength(200);
      expect(result.checks.filter((check) => check.outcome.status !== 'open' || check.outcome.reason !== 'verified')).toEqual([]);
      expect(result.timings.rounds).toBe(5); // 100 listeners per agent, 20 at a time
      for (const node of ['n1', 'n2']) {
        expect(mostHeld(node)).toBe(20);
        // Each round listens and probes; every round but the last releases; end closes the last.
        expect([count(node, 'listen'), count(node, 'probe'), count(node, 'release'), count(node, 'end')]).toEqual([5, 5, 4, 1]);
      }
      expect(released).toEqual({ checked: 2 * 4 * 20, stillHeld: [] }); // free before the next round listened
      // The agents still run: nothing of the run is left listening on either.
      for (const host of ['127.0.0.1', '127.0.0.2']) {
        for (let port = 41200; port <= 41249; port++) {
          expect([port, await canBind(host, port, 'tcp'), await canBind(host, port, 'udp')]).toEqual([port, true, true]);
        }
      }
    } finally {
      await Promise.all(agents.map((agent) => agent.close()));
    }
  });

  it('takes one round, and sends what it always did, when everything fits', async () => {
    const { agents, nodes } = await startLoopbackAgents(2);
    try {
      const port = await freePort('127.0.0.1');
      const { result, count, mostHeld } = await recordedRun([`tcp:${port}`, `udp:${port}`, 'icmp'], nodes);
      expect(result.timings.rounds).toBeUndefined();
      for (const node of ['n1', 'n2']) {
        expect(mostHeld(node)).toBe(2);
        expect([count(node, 'begin'), count(node, 'listen'), count(node, 'probe'), count(node, 'release'), count(node, 'end')]).toEqual([1, 1, 1, 0, 1]);
      }
    } finally {
      await Promise.all(agents.map((agent) => agent.close()));
    }
  });
});
