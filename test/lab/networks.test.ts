import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, describeLab, type LabHost } from './netlab.js';
import { TOKEN, notAsked, tally, type JsonCheck } from './scenario.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-lab-'));

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

  const run = async (name: string, interconnect = true) => {
    const json = path.join(scratch, `${name}.json`);
    const result = await lab.runController([
      'run', '--profile', 'nec-symmetry', '--node', `primary=${primary.address}`, '--node', `secondary=${secondary.address}`,
      ...(interconnect ? ['--node', `primary@interconnect=${primary.interconnect!.address}`, '--node', `secondary@interconnect=${secondary.interconnect!.address}`] : []),
      '--token', TOKEN, '--timeout', '1500', '--json', json,
    ]);
    const report = JSON.parse(readFileSync(json, 'utf8')) as { checks: (JsonCheck & { network: string })[] };
    tally.runs += 1;
    return { result, checks: report.checks };
  };

  it('sees a mirror port and ICMP blocked on the interconnect only, each in its direction', async () => {
    await lab.addRules('forward', [
      `ip daddr ${secondary.interconnect!.address} tcp dport 29005 drop`,
      `ip daddr ${primary.interconnect!.address} icmp type echo-request reject with icmp type admin-prohibited`,
      `ip daddr ${primary.interconnect!.address} udp dport 29106 drop`,
    ].join('\n'));
    const { result, checks } = await run('interconnect-blocked');
    const blocked: Record<string, string> = {
      'primary->secondary/tcp/29005@interconnect': 'blocked/filtered',
      'secondary->primary/icmp@interconnect': 'blocked/rejected',
      'secondary->primary/udp/29106@interconnect': 'blocked/filtered',
    };
    const tested = checks.filter((check) => !notAsked(check));
    for (const check of tested) expect(`${check.key} ${check.status}/${check.reason}`).toBe(`${check.key} ${blocked[check.key] ?? 'open/verified'}`);
    // Both ways on both networks: 29004, 29005, 29106 and ICMP.
    expect(tested.filter((check) => check.network === 'interconnect')).toHaveLength(8);
    expect(tested).toHaveLength(48);
    tally.verdicts += tested.length;
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('[interconnect]');
  });

  it('without the interconnect addresses, reports those paths not tested and says which flag to add', async () => {
    const { result, checks } = await run('no-interconnect', false);
    const missing = checks.filter((check) => check.reason === 'no-address');
    expect(missing.map((check) => check.key).sort()).toEqual(
      ['primary->secondary', 'secondary->primary'].flatMap((pair) => ['tcp/29004', 'tcp/29005', 'udp/29106', 'icmp'].map((what) => `${pair}/${what}@interconnect`)).sort(),
    );
    expect(result.stdout).toContain('4 checks not tested, needing --node secondary@interconnect=HOST.');
    expect(result.code).toBe(0);
  });
});
