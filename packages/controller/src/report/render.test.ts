import { readFileSync, writeFileSync } from 'node:fs';
import { sampleReport } from './fixture.js';
import { escapeHtml, renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import { digestMatches } from './model.js';
import { networkRule, powershellCommand, remediate } from './remediation.js';

const golden = (name: string) => new URL(`./golden/${name}`, import.meta.url);

/** Compares with the golden file; UPDATE_GOLDEN=1 rewrites it after a deliberate change. */
function expectGolden(name: string, text: string): void {
  if (process.env.UPDATE_GOLDEN) writeFileSync(golden(name), text);
  expect(text).toBe(readFileSync(golden(name), 'utf8'));
}

const report = sampleReport();

describe('remediation', () => {
  it('gives each failed check an inbound rule on its receiver and a line for the network team, on the network it failed on', () => {
    expect(remediate(report).map((fix) => [fix.key, powershellCommand(fix), networkRule(fix)])).toEqual([
      [
        'primary->secondary/tcp/29002',
        "New-NetFirewallRule -DisplayName 'preflight nec-data-transfer tcp/29002 from primary' -Direction Inbound -Protocol TCP -LocalPort 29002 -RemoteAddress '10.1.1.11' -Action Allow",
        'ALLOW TCP 29002 from primary (10.1.1.11) to secondary (10.1.1.12), one way: primary → secondary, inbound on secondary, on the public network',
      ],
      [
        'secondary->primary/tcp/29005@interconnect',
        "New-NetFirewallRule -DisplayName 'preflight nec-mirror-driver tcp/29005 from secondary' -Direction Inbound -Protocol TCP -LocalPort 29005 -RemoteAddress '192.168.10.12' -Action Allow",
        'ALLOW TCP 29005 from secondary (192.168.10.12) to primary (192.168.10.11), one way: secondary → primary, inbound on primary, on the interconnect network',
      ],
    ]);
  });
});

describe('the Markdown and HTML reports', () => {
  it('pins the Markdown report', () => expectGolden('report.md', renderMarkdown(report)));
  it('pins the HTML report', () => expectGolden('report.html', renderHtml(report)));

  it('puts what fails first, with its fix, before the full matrix', () => {
    for (const text of [renderMarkdown(report), renderHtml(report)]) {
      const failure = text.indexOf('primary → secondary: TCP 29002');
      expect(failure).toBeGreaterThan(0);
      expect(failure).toBeLessThan(text.indexOf('Every check'));
      expect(text.indexOf('New-NetFirewallRule')).toBeLessThan(text.indexOf('Every check'));
    }
  });

  it('shows every check of the report in the HTML, by its key', () => {
    const page = renderHtml(report);
    for (const check of report.checks) expect(page).toContain(`data-key="${escapeHtml(check.key)}"`);
    expect(page.match(/data-key="/g)).toHaveLength(report.checks.length);
  });

  it('folds no check away: a range lists every port, open or not, in its cell', () => {
    const page = renderHtml(report);
    expect(page).not.toMatch(/<details|<summary/);
    const row = page.split('\n').find((line) => line.includes('50100-50103'))!;
    expect(row.match(/data-key="/g)).toHaveLength(8);
    expect(row).toContain('<div class="ok">3 open</div><div class="warn">1 unverified (port-in-use)</div>');
  });

  it('needs nothing from outside the file', () => {
    const page = renderHtml(report);
    expect(page).not.toMatch(/https?:\/\//);
    expect(page).not.toMatch(/<link|<script|<img|<iframe|@import|url\(/i);
  });

  it('marks the servers\' differences and answers Appendix A and B', () => {
    const text = renderMarkdown(report);
    expect(text).toContain('| **≠ Memory** | 32.0 GiB | 16.0 GiB |');
    expect(text).toContain('**Edition:** LAN edition');
    expect(text).toContain('| Both servers must be identical | **no**: they differ in: Memory |');
  });

  it('escapes what came from the wire: a hostile hostname stays text', () => {
    const hostile = sampleReport();
    hostile.nodes[0]!.facts!.hostname = '<script>alert(1)</script>';
    hostile.checks[0]!.detail = '"><img src=x onerror=alert(1)>';
    const page = renderHtml(hostile);
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('<img');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('escapes Markdown too: a value cannot inject HTML, a link or a column', () => {
    const hostile = sampleReport();
    hostile.context.site = 'Site <img src=x onerror=alert(1)> | [click](http://evil)';
    hostile.checks.find((check) => check.key === 'primary->secondary/tcp/29002')!.detail = 'line one\nline | two `code` *bold*';
    hostile.nodes[0]!.facts!.hostname = 'SYM_APP|1 _x_ &lt;';
    const text = renderMarkdown(hostile);
    expect(text).toContain('- **Site:** Site \\<img src=x onerror=alert(1)> \\| [click\\](http://evil)');
    expect(text).toContain('Seen: line one line \\| two \\`code\\` \\*bold\\*.');
    expect(text).toContain('| Host name | SYM_APP\\|1 \\_x\\_ \\&lt; | SYMAPP2 |');
    expect(text).not.toMatch(/(^|[^\\])<img/);
  });

  it('carries a digest of its content, which a changed copy no longer matches', () => {
    expect(digestMatches(report)).toBe(true);
    const changed = { ...report, checks: report.checks.map((check) => ({ ...check, status: 'open' as const })) };
    expect(digestMatches(changed)).toBe(false);
  });
});
