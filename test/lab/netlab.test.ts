import { execFileSync } from 'node:child_process';
import { Lab, describeLab, sweepStaleLabs, type LabHost } from './netlab.js';

const namespaces = () => execFileSync('ip', ['netns', 'list']).toString();

describeLab('the lab itself', () => {
  it('routes between the nodes through the router, and leaves nothing behind', async () => {
    const lab = await Lab.create({ nodes: 2 });
    const [a, b] = lab.nodes as [LabHost, LabHost];
    try {
      const ping = await lab.exec(a, ['ping', '-c', '1', '-W', '2', b.address]);
      expect(ping.stdout).toContain('ttl=63'); // one hop: the router
      await lab.addRules('forward', `ip saddr ${a.address} icmp type echo-request drop`);
      expect((await lab.exec(a, ['ping', '-c', '1', '-W', '1', b.address])).code).not.toBe(0);
    } finally {
      await lab.destroy();
    }
    for (const host of lab.hosts) expect(namespaces()).not.toContain(host.netns);
    expect(namespaces()).not.toContain(lab.routerNetns);
  });

  it('sweeps the namespaces of a lab whose test process was killed', async () => {
    const dead = 'pf999999x1-ctl'; // PID 999999 runs nothing here
    execFileSync('ip', ['netns', 'add', dead]);
    expect(await sweepStaleLabs()).toContain(dead);
    expect(namespaces()).not.toContain(dead);
  });
});
