import { readFileSync } from 'node:fs';
import { loadProfile } from '@preflight/controller';
import { pathToFileURL } from 'node:url';
import { PREFLIGHT, runNode } from '../support/cli.js';
import { Browser, chromiumMissing } from '../support/chromium.js';
import { Lab, describeLab, type LabHost } from './netlab.js';
import { expectFromPlan } from './expected.js';
import { TOKEN, agentNode, between, expectRules, nodeArgs, planOf, runReport } from './scenario.js';

/**
 * The report an engineer attaches, from a real run through the lab's firewall: one port blocked,
 * opened in Chromium. The lab's nodes are two hosts of one machine, so their facts match.
 */
describeLab('the verification report of a lab run', () => {
  let lab: Lab;
  let browser: Browser | undefined;
  beforeAll(async () => {
    if (chromiumMissing) throw new Error(`this test needs Chromium: ${chromiumMissing}`);
    lab = await Lab.create({ nodes: 2 });
    await Promise.all(lab.nodes.map((node) => lab.startAgent(node, TOKEN)));
    browser = await Browser.launch();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await lab?.destroy();
  });

  it('shows the blocked port first with its fix, both servers side by side, Appendix A and B and the run; and renders again from its JSON', async () => {
    const [primary, secondary] = lab.nodes as [LabHost, LabHost];
    await lab.addRules('forward', between(primary, secondary, 'tcp dport 29002', 'drop'));
    const html = lab.file('lab-report.html');
    const nodes = [agentNode('primary', primary), agentNode('secondary', secondary)];
    const result = await runReport(lab, [
      'run', '--profile', 'nec-symmetry', ...nodeArgs(nodes),
      '--token', TOKEN, '--timeout', '1500', '--report', html, '--engineer', 'Lab Engineer', '--site', 'Firewall lab',
    ]);
    expect(result.code).toBe(1);
    expectRules(result.checks, expectFromPlan(planOf('nec-symmetry', nodes), { blocked: { 'primary->secondary/tcp/29002': 'blocked/filtered' } }));

    const url = pathToFileURL(html).href;
    const page = await browser!.open(url);
    expect(page.requests()).toEqual([url]);
    const seen = await page.evaluate<{ failures: string[]; fix: string; firstBeforeMatrix: boolean; servers: string; site: string; run: string }>(`(() => {
      const failures = [...document.querySelectorAll('[data-failure]')];
      const after = (id) => document.getElementById(id).parentElement.innerText;
      return {
        failures: failures.map((element) => element.dataset.failure),
        fix: failures[0]?.querySelector('pre')?.textContent ?? '',
        firstBeforeMatrix: !!(failures[0].compareDocumentPosition(document.getElementById('matrix')) & Node.DOCUMENT_POSITION_FOLLOWING),
        servers: document.getElementById('servers').nextElementSibling.innerText,
        site: after('site'),
        run: document.getElementById('run').nextElementSibling.innerText,
      };
    })()`);
    expect(seen.failures).toEqual(['primary->secondary/tcp/29002']);
    expect(seen.fix).toBe(`New-NetFirewallRule -DisplayName 'preflight nec-data-transfer tcp/29002 from primary' -Direction Inbound -Protocol TCP -LocalPort 29002 -RemoteAddress '${primary.address}' -Action Allow`);
    expect(seen.firstBeforeMatrix).toBe(true);
    expect(seen.servers).toMatch(/Fact\s+primary\s+secondary/);
    expect(seen.servers).toContain(`${primary.address}/24`);
    expect(seen.servers).toContain(`${secondary.address}/24`);
    expect(seen.site).toContain('Appendix A: LAN or WAN edition');
    // The lab routes between the nodes' subnets: the WAN edition, for that reason.
    expect(seen.site).toContain('Edition: NEC-EXP-CLST-WAN');
    expect(seen.site).toContain('Appendix B: requirements verified');
    const { version } = loadProfile('nec-symmetry');
    expect(seen.run).toMatch(new RegExp(`Profile\\s+nec-symmetry ${version.replaceAll('.', '\\.')}, sha256 [0-9a-f]{64}`));

    const again = await runNode(PREFLIGHT, ['report', result.json, '--format', 'html']);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(readFileSync(html, 'utf8'));
  }, 90_000);
});
