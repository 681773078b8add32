import { sampleReport } from './fixture.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import type { Report, ReportCheck } from './model.js';

/** The fixture's two servers with one failed UDP check, its detail as classify words it. */
function reportFailing(detail: string): Report {
  const check: ReportCheck = {
    key: 'primary->secondary/udp/3527',
    requirement: 'msmq-ping',
    protocol: 'udp',
    port: 3527,
    from: 'primary',
    to: 'secondary',
    network: 'public',
    purpose: 'MSMQ ping',
    required: true,
    expect: 'open',
    status: 'blocked',
    reason: 'rejected',
    detail,
    verdict: 'fail',
  };
  return { ...sampleReport(), checks: [check] };
}

describe('the server each report tells to run the rule', () => {
  it.each([
    ["the sender's own firewall refused to send (EPERM)", 'primary', 'Outbound'],
    ['refused (TCP reset or ICMP port unreachable)', 'secondary', 'Inbound'],
  ])('seen "%s": on %s, %s', (detail, server, direction) => {
    const markdown = renderMarkdown(reportFailing(detail));
    expect(markdown).toMatch(new RegExp(`On ${server}, in an elevated PowerShell:\\n\\n\`\`\`powershell\\nNew-NetFirewallRule .* -Direction ${direction} `));
    const html = renderHtml(reportFailing(detail));
    expect(html).toMatch(new RegExp(`<p><b>On ${server}</b>, in an elevated PowerShell:</p>\\n<pre>New-NetFirewallRule .* -Direction ${direction} `));
  });
});
