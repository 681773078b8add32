import { Lab, describeLab, type LabHost } from './netlab.js';
import { expectFromPlan } from './expected.js';
import { TOKEN, agentNode, expectRules, nodeArgs, planOf, runReport } from './scenario.js';

/**
 * A cluster with two networks between its servers: the public LAN (198.18) and the interconnect
 * (198.19), both through the lab's router. nec-symmetry checks the heartbeat, the mirror ports and
 * ICMP on both; a rule on one network must show on that network only.
 */
describeLab('a cluster with a public LAN and an interconnect', () => {
  let lab: Lab;
  let primary: LabHost;
  let secondary: LabHost;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2, networks: 2 });
    [primary, secondary] = lab.nodes as [LabHost, LabHost];
    await Promise.all(lab.nodes.map((node) => lab.startAgent(node, TOKEN)));
  });
  afterEach(() => lab.clearRules());
  afterAll(() => lab?.destroy());

  const nodes = (interconnect: boolean) => [agentNode('primary', primary, { interconnect }), agentNode('secondary', secondary, { interconnect })];
  const run = (interconnect = true) =>
    runReport(lab, ['run', '--profile', 'nec-symmetry', ...nodeArgs(nodes(interconnect)), '--token', TOKEN, '--timeout', '1500']);

  it('sees a mirror port and ICMP blocked on the interconnect only, each in its direction', async () => {
    await lab.addRules('forward', [
      `ip daddr ${secondary.interconnect!.address} tcp dport 29005 drop`,
      `ip daddr ${primary.interconnect!.address} icmp type echo-request reject with icmp type admin-prohibited`,
      `ip daddr ${primary.interconnect!.address} udp dport 29106 drop`,
    ].join('\n'));
    const { checks, code, stdout } = await run();
    const expected = expectFromPlan(planOf('nec-symmetry', nodes(true)), {
      blocked: {
        'primary->secondary/tcp/29005@interconnect': 'blocked/filtered',
        'secondary->primary/icmp@interconnect': 'blocked/rejected',
        'secondary->primary/udp/29106@interconnect': 'blocked/filtered',
      },
    });
    expectRules(checks, expected);
    // Both ways on both networks: 29004, 29005, 29106 and ICMP.
    const tested = [...expected].filter(([, each]) => each.fromRules).map(([key]) => key);
    expect(tested.filter((key) => key.endsWith('@interconnect'))).toHaveLength(8);
    expect(tested).toHaveLength(48);
    expect(code).toBe(1);
    expect(stdout).toContain('[interconnect]');
  });

  it('without the interconnect addresses, reports those paths not tested and says which flag to add', async () => {
    const { checks, code, stdout } = await run(false);
    expectRules(checks, expectFromPlan(planOf('nec-symmetry', nodes(false))));
    const missing = [...checks.values()].filter((check) => check.reason === 'no-address');
    expect(missing.map((check) => check.key).sort()).toEqual(
      ['primary->secondary', 'secondary->primary'].flatMap((pair) => ['tcp/29004', 'tcp/29005', 'udp/29106', 'icmp'].map((what) => `${pair}/${what}@interconnect`)).sort(),
    );
    expect(stdout).toContain('4 checks not tested, needing --node secondary@interconnect=HOST.');
    expect(code).toBe(0);
  });
});
