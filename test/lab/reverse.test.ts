import { PREFLIGHT_AGENT } from '../support/cli.js';
import { Lab, describeLab, type LabHost } from './netlab.js';
import { expectAdHoc } from './expected.js';
import { TOKEN, agentNode, between, expectRules, nodeArgs, portArgs, runReport } from './scenario.js';

/**
 * A site whose firewall blocks the agents' control port from the controller: the agents dial the
 * controller instead (--connect), and the run goes on as usual over those connections.
 */
describeLab('reverse connection through the lab\'s firewall', () => {
  let lab: Lab;
  let a: LabHost;
  let b: LabHost;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    [a, b] = lab.nodes as [LabHost, LabHost];
  });
  afterAll(() => lab?.destroy());

  it('checks both directions when the controller cannot reach the agents, and sees a rule between them', async () => {
    // Nothing reaches an agent's control port from the controller's subnet...
    await lab.addRules('forward', `ip saddr ${lab.controller.address} tcp dport 7890 drop`);
    // ...and one port is blocked between the nodes, to show the verdicts are real.
    await lab.addRules('forward', between(a, b, 'tcp dport 29042', 'drop'));
    const serve = `${lab.controller.address}:7891`;
    // The agents start first and keep dialling until the controller listens.
    for (const [host, name] of [[a, 'a'], [b, 'b']] as const) {
      lab.spawn(host, [process.execPath, PREFLIGHT_AGENT, '--connect', `wss://${serve}`, '--as', name, '--listen', host.address, '--token', TOKEN, '--state-dir', lab.file(name)]);
    }
    const specs = ['tcp:29041-29042', 'udp:29041'];
    const result = await runReport(lab, [
      'run', ...portArgs(specs), ...nodeArgs([agentNode('a', a), agentNode('b', b)]),
      '--token', TOKEN, '--serve', serve, '--wait', '30', '--timeout', '1500',
    ]);
    expectRules(result.checks, expectAdHoc(specs, ['a', 'b'], { 'a->b/tcp/29042': 'blocked/filtered' }));
    expect(result.code).toBe(1);

    // The same run dialling the agents instead cannot reach them: a clear message, exit 3.
    const forward = await lab.runController(['run', '--ports', 'tcp:29041', '--node', `a=${a.address}`, '--node', `b=${b.address}`, '--token', TOKEN, '--timeout', '1500']);
    expect(forward.code).toBe(3);
    expect(forward.stderr).toContain(`node a: no agent answered at ${a.address}:7890`);
  }, 90_000);
});
