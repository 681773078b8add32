import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, describeLab } from './netlab.js';
import { notAsked } from './scenario.js';

const TOKEN = 'lab-token';
const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-lab-'));

type JsonCheck = { key: string; status: string; reason: string; detail: string };

describeLab('two agents with a firewall between them', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    await Promise.all(lab.nodes.map((node) => lab.startAgent(node, TOKEN)));
  });
  afterAll(() => lab?.destroy());

  it('reports exactly the port dropped in one direction as blocked (filtered), every other check open, exit 1', async () => {
    const [n1, n2] = lab.nodes as [typeof lab.nodes[0], typeof lab.nodes[0]];
    await lab.addRules('forward', `ip saddr ${n1.address} ip daddr ${n2.address} tcp dport 29002 drop`);
    try {
      const json = path.join(scratch, 'drop.json');
      const result = await lab.runController([
        'run', '--profile', 'nec-symmetry', '--node', `primary=${n1.address}`, '--node', `secondary=${n2.address}`,
        '--token', TOKEN, '--timeout', '1500', '--json', json,
      ]);
      const report = JSON.parse(readFileSync(json, 'utf8')) as { checks: JsonCheck[] };
      const betweenAgents = report.checks.filter((check) => !notAsked(check));
      const notOpen = betweenAgents.filter((check) => check.status !== 'open');
      expect(notOpen).toEqual([expect.objectContaining({ key: 'primary->secondary/tcp/29002', status: 'blocked', reason: 'filtered' })]);
      expect(betweenAgents.length).toBe(40); // 38 TCP/UDP ports and ICMP, both ways, on the public LAN
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('primary → secondary  tcp/29002  filtered');
    } finally {
      await lab.clearRules();
    }
  });

  it('finishes a profile whose every port is dropped in under twice the probe timeout', async () => {
    const [n1, n2] = lab.nodes as [typeof lab.nodes[0], typeof lab.nodes[0]];
    // Between the nodes everything drops; the controller's own link stays open.
    await lab.addRules('forward', `ip saddr ${n1.address} ip daddr ${n2.address} drop\nip saddr ${n2.address} ip daddr ${n1.address} drop`);
    try {
      const timeout = 2000;
      const json = path.join(scratch, 'all-dropped.json');
      const result = await lab.runController([
        'run', '--profile', 'nec-symmetry', '--node', `primary=${n1.address}`, '--node', `secondary=${n2.address}`,
        '--token', TOKEN, '--timeout', String(timeout), '--json', json,
      ]);
      const report = JSON.parse(readFileSync(json, 'utf8')) as { checks: JsonCheck[]; timings: { totalMs: number } };
      const betweenAgents = report.checks.filter((check) => !notAsked(check));
      expect(betweenAgents).toHaveLength(40);
      for (const check of betweenAgents) expect(check).toMatchObject({ status: 'blocked', reason: 'filtered' });
      expect(result.code).toBe(1);
      expect(report.timings.totalMs).toBeLessThan(2 * timeout);
      expect(result.ms).toBeLessThan(2 * timeout + 1000); // the whole command, Node's start included
    } finally {
      await lab.clearRules();
    }
  });
});
