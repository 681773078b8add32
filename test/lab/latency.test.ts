import { Lab, describeLab, type LabHost } from './netlab.js';
import { TOKEN, expectVerdicts, mixedRules } from './scenario.js';

describeLab('a 150 ms round trip between the nodes', () => {
  let lab: Lab;
  beforeAll(async () => {
    // Each host's link delays 37.5 ms each way; node to node crosses two links: 150 ms round trip.
    lab = await Lab.create({ nodes: 2, delayMs: 37.5 });
    await Promise.all(lab.nodes.map((node) => lab.startAgent(node, TOKEN)));
  });
  afterAll(() => lab?.destroy());

  it('really is 150 ms', async () => {
    const [a, b] = lab.nodes as [LabHost, LabHost];
    const ping = await lab.exec(a, ['ping', '-c', '3', '-i', '0.2', b.address]);
    const average = Number(ping.stdout.match(/= [\d.]+\/([\d.]+)\//)?.[1]);
    expect(average).toBeGreaterThanOrEqual(150);
    expect(average).toBeLessThan(250);
  });

  it('gives every verdict right at the default timeout', async () => {
    const [a, b] = lab.nodes as [LabHost, LabHost];
    const [rules, blocked] = mixedRules(a, b);
    await expectVerdicts(lab, rules, blocked, { timeout: 0 });
  });
});
