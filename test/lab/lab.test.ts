import { existsSync } from 'node:fs';
import { run } from './process.js';
import {
  AGENT_BIN, createLab, describeLab, labSupport, ping, startTcpServer, tcpConnect,
  type Lab, type LinkedHost,
} from './lab.js';

/** The lab's namespaces that `ip netns list` shows. */
async function namespacesOf(lab: Lab): Promise<string[]> {
  const listing = await run(['ip', 'netns', 'list']);
  return listing.stdout.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name.startsWith(`${lab.id}-`));
}

describeLab('the firewall lab harness, over real packets', () => {
  let lab: Lab;
  let node1: LinkedHost;
  let node2: LinkedHost;

  beforeAll(async () => {
    expect(await labSupport()).toEqual({ ok: true });
    lab = await createLab({ nodes: 2 });
    [node1, node2] = lab.nodes as [LinkedHost, LinkedHost];
    await startTcpServer(lab, node2, [29001, 29002, 29003, 29004, 29005]);
  });
  afterAll(() => lab?.destroy());
  afterEach(async () => {
    await lab.clearRules();
    await lab.clearNetem();
  });

  it('lays out the controller, the router and the nodes on their own /24s of 198.18.0.0/15', async () => {
    expect(lab.controller).toMatchObject({ name: 'controller', address: '198.18.0.2', gateway: '198.18.0.1' });
    expect(lab.nodes.map((node) => node.address)).toEqual(['198.18.1.2', '198.18.2.2']);
    expect(lab.router.addresses).toEqual(['198.18.0.1', '198.18.1.1', '198.18.2.1']);
    expect(await namespacesOf(lab)).toHaveLength(4);
    const routes = await lab.exec(node1, ['ip', 'route', 'show', 'default']);
    expect(routes.stdout).toContain('default via 198.18.1.1 dev eth0');
    const forwarding = await lab.exec(lab.router, ['cat', '/proc/sys/net/ipv4/ip_forward']);
    expect(forwarding.stdout.trim()).toBe('1');
    const loopback = await lab.exec(node2, ['ping', '-c', '1', '-W', '1', '127.0.0.1']);
    expect(loopback.code).toBe(0);
  });

  it('lets the nodes and the controller ping each other through the router (TTL 63: one hop)', async () => {
    for (const [from, to] of [[node1, node2], [node2, node1], [lab.controller, node1], [node2, lab.controller]] as const) {
      const result = await ping(lab, from, to, { count: 2 });
      expect(result).toMatchObject({ received: 2, ttl: 63 });
    }
  });

  it('sees a router drop rule on one TCP port from node1 to node2, and on nothing else', async () => {
    expect(await tcpConnect(lab, node1, node2, 29002)).toBe('connected');
    await lab.routerRules(`ip saddr ${node1.address} ip daddr ${node2.address} tcp dport 29002 drop`);
    expect(await tcpConnect(lab, node1, node2, 29002, 800)).toBe('timeout');
    expect(await tcpConnect(lab, node1, node2, 29001)).toBe('connected');
    expect(await tcpConnect(lab, lab.controller, node2, 29002)).toBe('connected');
    expect(await lab.ruleset(lab.router)).toContain('tcp dport 29002 drop');
    await lab.clearRules(lab.router);
    expect(await tcpConnect(lab, node1, node2, 29002)).toBe('connected');
  });

  it.each([
    ['reject with tcp reset', 'ECONNREFUSED'],
    ['reject with icmp type port-unreachable', 'ECONNREFUSED'],
    ['reject with icmp type admin-prohibited', 'EHOSTUNREACH'],
    ['reject with icmp type host-unreachable', 'EHOSTUNREACH'],
  ])('sees a router rule "%s" as %s, at once', async (action, code) => {
    await lab.routerRules(`ip saddr ${node1.address} ip daddr ${node2.address} tcp dport 29003 ${action}`);
    const started = performance.now();
    expect(await tcpConnect(lab, node1, node2, 29003, 3000)).toBe(code);
    expect(performance.now() - started).toBeLessThan(2500);
    expect(await tcpConnect(lab, node1, node2, 29004)).toBe('connected');
  });

  it('filters in a node\'s own input and output chains', async () => {
    await lab.inputRules(node2, `ip saddr ${node1.address} tcp dport 29004 drop`);
    await lab.outputRules(node1, `ip daddr ${node2.address} tcp dport 29005 reject with tcp reset`);
    expect(await tcpConnect(lab, node1, node2, 29004, 800)).toBe('timeout');
    expect(await tcpConnect(lab, node1, node2, 29005)).toBe('ECONNREFUSED');
    expect(await tcpConnect(lab, lab.controller, node2, 29004)).toBe('connected');
    await lab.clearRules(node2);
    expect(await tcpConnect(lab, node1, node2, 29004)).toBe('connected');
    expect(await tcpConnect(lab, node1, node2, 29005)).toBe('ECONNREFUSED');
  });

  it('refuses a rule nft cannot parse, naming the chain and the text, and applies none of a bad batch', async () => {
    await expect(lab.routerRules('tcp dport 29001 drop\nthis is not a rule')).rejects.toThrow(/forward chain of router[\s\S]*this is not a rule/);
    expect(await lab.ruleset(lab.router)).not.toContain('29001');
  });

  it('shows netem delay on a host\'s link in the ping round trip, and removes it again', async () => {
    const before = await ping(lab, node1, node2, { count: 3 });
    expect(before.avgMs).toBeLessThan(50);
    await lab.netem(node2, { delayMs: 120 });
    const delayed = await ping(lab, node1, node2, { count: 5 });
    console.log(`netem is ${lab.netemMode} here; node1→node2 RTT ${before.avgMs} ms plain, ${delayed.avgMs} ms with 120 ms delay`);
    expect(delayed.received).toBe(5);
    expect(delayed.minMs).toBeGreaterThanOrEqual(120);
    expect(delayed.avgMs).toBeLessThan(220);
    // A TCP connection crosses the delayed link too.
    expect(await tcpConnect(lab, node1, node2, 29001, 3000)).toBe('connected');
    await lab.clearNetem(node2);
    expect((await ping(lab, node1, node2, { count: 3 })).avgMs).toBeLessThan(50);
  });

  it('drops packets with netem loss', async () => {
    await lab.netem(node2, { lossPercent: 100 });
    expect((await ping(lab, node1, node2, { count: 3, waitS: 1 })).received).toBe(0);
    await lab.netem(node2, { lossPercent: 50, delayMs: 5 });
    const lossy = await ping(lab, node1, node2, { count: 60, intervalS: 0.01, waitS: 1 });
    expect(lossy.lossPercent).toBeGreaterThan(20);
    expect(lossy.lossPercent).toBeLessThan(80);
    await lab.clearNetem();
    expect((await ping(lab, node1, node2, { count: 2 })).received).toBe(2);
  });

  it('runs commands to their end with code, stdout and stderr, killing one that outlives its timeout', async () => {
    expect(await lab.exec(node1, ['sh', '-c', 'echo out; echo err >&2; exit 3'])).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    expect(await lab.exec(node1, ['cat'], { input: 'piped' })).toMatchObject({ code: 0, stdout: 'piped' });
    const slow = await lab.exec(node1, ['sleep', '30'], { timeoutMs: 200 });
    expect(slow).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: true });
    const names = await lab.exec(node1, ['ip', '-o', 'link', 'show']);
    expect(names.stdout).toMatch(/\blo\b/);
    expect(names.stdout).toMatch(/\beth0@/);
  });

  (existsSync(AGENT_BIN) ? it : it.skip)('starts agents that the controller\'s namespace reaches, and reports one that cannot start', async () => {
    const agents = await Promise.all(lab.nodes.map((node) => lab.startAgent(node, 'lab-harness-token')));
    expect(agents.map((agent) => agent.address)).toEqual(['198.18.1.2:7890', '198.18.2.2:7890']);
    for (const node of lab.nodes) expect(await tcpConnect(lab, lab.controller, node, 7890)).toBe('connected');
    // A second agent on the same port cannot bind: the error carries what it said.
    await expect(lab.startAgent(node1, 't', { timeoutMs: 5000 })).rejects.toThrow(/the agent on node1 \(198\.18\.1\.2:7890\) exited[\s\S]*stderr: \S/);
    const version = await lab.runController(['--version']);
    expect(version).toMatchObject({ code: 0 });
    expect(version.stdout).toMatch(/\d+\.\d+\.\d+/);
    await Promise.all(agents.map((agent) => agent.stop()));
    expect(agents.every((agent) => agent.process.exitCode !== null || agent.process.signalCode !== null)).toBe(true);
  });
});

describeLab('the firewall lab, torn down', () => {
  it('ends what it spawned and deletes its namespaces on destroy(), twice over', async () => {
    const lab = await createLab({ nodes: 1 });
    const sleeper = lab.spawn(lab.nodes[0]!, ['sleep', '300']);
    await lab.netem(lab.nodes[0]!, { delayMs: 10 });
    expect(await namespacesOf(lab)).toHaveLength(3);
    await lab.destroy();
    expect(sleeper.exitCode !== null || sleeper.signalCode !== null).toBe(true);
    expect(await namespacesOf(lab)).toEqual([]);
    await lab.destroy();
    expect(() => lab.spawn(lab.controller, ['true'])).toThrow(/after destroy/);
  });

  it('refuses a lab of no nodes, and destroys a lab that is already partly gone', async () => {
    await expect(createLab({ nodes: 0 })).rejects.toThrow(/1 to 200 nodes/);
    const lab = await createLab({ nodes: 2 });
    await run(['ip', 'netns', 'del', lab.nodes[1]!.netns]);
    await lab.destroy();
    expect(await namespacesOf(lab)).toEqual([]);
  });
});
