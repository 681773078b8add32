import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PREFLIGHT_AGENT } from '../support/cli.js';
import { Lab, describeLab, type LabHost } from './netlab.js';
import { TOKEN, between, tally, type JsonCheck } from './scenario.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-lab-'));

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
      lab.spawn(host, [process.execPath, PREFLIGHT_AGENT, '--connect', `wss://${serve}`, '--as', name, '--listen', host.address, '--token', TOKEN, '--state-dir', path.join(scratch, name)]);
    }
    const json = path.join(scratch, 'reverse.json');
    const result = await lab.runController([
      'run', '--ports', 'tcp:29041-29042', '--ports', 'udp:29041', '--node', `a=${a.address}`, '--node', `b=${b.address}`,
      '--token', TOKEN, '--serve', serve, '--wait', '30', '--timeout', '1500', '--json', json,
    ]);
    const report = JSON.parse(readFileSync(json, 'utf8')) as { checks: JsonCheck[] };
    expect(report.checks.map((check) => `${check.key} ${check.status}/${check.reason}`)).toEqual([
      'a->b/tcp/29041 open/verified',
      'a->b/tcp/29042 blocked/filtered',
      'b->a/tcp/29041 open/verified',
      'b->a/tcp/29042 open/verified',
      'a->b/udp/29041 open/verified',
      'b->a/udp/29041 open/verified',
    ]);
    tally.verdicts += report.checks.length;
    tally.runs += 1;
    expect(result.code).toBe(1);

    // The same run dialling the agents instead cannot reach them: a clear message, exit 3.
    const forward = await lab.runController(['run', '--ports', 'tcp:29041', '--node', `a=${a.address}`, '--node', `b=${b.address}`, '--token', TOKEN, '--timeout', '1500']);
    expect(forward.code).toBe(3);
    expect(forward.stderr).toContain(`node a: no agent answered at ${a.address}:7890`);
  }, 90_000);
});
