import { Lab, describeLab, type LabHost } from './netlab.js';
import { expectFromPlan } from './expected.js';
import { TOKEN, agentNode, expectRules, nodeArgs, planOf, runReport } from './scenario.js';

describeLab('two agents with a firewall between them', () => {
  let lab: Lab;
  let n1: LabHost;
  let n2: LabHost;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    [n1, n2] = lab.nodes as [LabHost, LabHost];
    await Promise.all(lab.nodes.map((node) => lab.startAgent(node, TOKEN)));
  });
  afterEach(() => lab.clearRules());
  afterAll(() => lab?.destroy());

  const nodes = () => [agentNode('primary', n1), agentNode('secondary', n2)];
  const necRun = (timeout: number) =>
    runReport<{ timings: { totalMs: number } }>(lab, ['run', '--profile', 'nec-symmetry', ...nodeArgs(nodes()), '--token', TOKEN, '--timeout', String(timeout)]);
  /** The checks between the two agents: the ones a rule between them can decide. */
  const betweenAgents = () => [...expectFromPlan(planOf('nec-symmetry', nodes()))].filter(([, expected]) => expected.fromRules).map(([key]) => key);

  it('reports exactly the port dropped in one direction as blocked (filtered), every other check open, exit 1', async () => {
    await lab.addRules('forward', `ip saddr ${n1.address} ip daddr ${n2.address} tcp dport 29002 drop`);
    const result = await necRun(1500);
    expectRules(result.checks, expectFromPlan(planOf('nec-symmetry', nodes()), { blocked: { 'primary->secondary/tcp/29002': 'blocked/filtered' } }));
    expect(betweenAgents()).toHaveLength(40); // 38 TCP/UDP ports and ICMP, both ways, on the public LAN
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('primary → secondary  tcp/29002  filtered');
  });

  it('finishes a profile whose every port is dropped in under twice the probe timeout', async () => {
    // Between the nodes everything drops; the controller's own link stays open.
    await lab.addRules('forward', `ip saddr ${n1.address} ip daddr ${n2.address} drop\nip saddr ${n2.address} ip daddr ${n1.address} drop`);
    const timeout = 2000;
    const result = await necRun(timeout);
    const blocked = Object.fromEntries(betweenAgents().map((key) => [key, 'blocked/filtered']));
    expectRules(result.checks, expectFromPlan(planOf('nec-symmetry', nodes()), { blocked }));
    expect(result.code).toBe(1);
    expect(result.report.timings.totalMs).toBeLessThan(2 * timeout);
    expect(result.ms).toBeLessThan(2 * timeout + 1000); // the whole command, Node's start included
  });
});
