import type { Answer } from '../site/types.js';
import type { Report, ReportCheck } from './model.js';
import { remediate } from './remediation.js';
import { NOT_ASKED, multiNetworkRequirements, notAskedLines, portsText, resultWord, rowsOf, serverRows, statusText, whatText } from './rows.js';

/** Markdown's table cells: pipes and line breaks would break the row. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');


const answerText = (answer: Answer) => `**${answer.answer}**: ${answer.basis}`;

/**
 * The report as Markdown, for a ticket or a wiki: failures first with the rule that would fix
 * each, then every check, the servers side by side, the site answers and how the run was made.
 * Pure: the same report always gives the same text.
 */
export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  const { summary } = report;
  out.push(`# preflight: ${report.profile.title}`, '');
  out.push(`- **Site:** ${report.context.site ?? 'not given (--site)'}`);
  out.push(`- **Engineer:** ${report.context.engineer ?? 'not given (--engineer)'}`);
  out.push(`- **Run:** ${report.startedAt} (${(report.timings.totalMs / 1000).toFixed(1)} s)`);
  out.push(`- **Result:** ${resultWord(report)} (exit ${summary.exitCode})`);
  out.push(`- **Checks:** ${summary.checks}: ${summary.open} open, ${summary.blocked} blocked, ${summary.unverified} unverified, ${summary.notTested} not tested`, '');

  out.push(...failuresSection(report), ...doubtsSection(report), ...matrixSection(report), ...serversSection(report), ...siteSection(report), ...runSection(report));
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trim()}\n`;
}

function failuresSection(report: Report): string[] {
  const fixes = new Map(remediate(report).map((fix) => [fix.key, fix]));
  const failing = report.checks.filter((check) => check.verdict === 'fail');
  if (failing.length === 0) return ['## What fails', '', 'Nothing: every check that was tested meets its requirement.', ''];
  const out = ['## What fails', ''];
  for (const check of failing) {
    const fix = fixes.get(check.key)!;
    const must = check.expect === 'closed' ? ' (must be closed, but is open)' : '';
    out.push(`### ${check.from} → ${check.to}: ${whatText(check)}${check.network ? ` on ${check.network}` : ''}, ${statusText(check)}${must}${check.required ? '' : ' (optional)'}`, '');
    out.push(`${check.purpose} (requirement \`${check.requirement}\`). Seen: ${check.detail}.`, '');
    out.push(`For the network team: ${fix.rule}.`, '');
    out.push(`On ${check.to}, in an elevated PowerShell:`, '', '```powershell', fix.powershell, '```', '');
  }
  return out;
}

function doubtsSection(report: Report): string[] {
  const doubtful = report.checks.filter((check) => check.status === 'unverified' || (check.status === 'not-tested' && !NOT_ASKED.has(check.reason)));
  const notAsked = notAskedLines(report.checks);
  if (doubtful.length === 0 && notAsked.length === 0) return [];
  const out = ['## Not verified', ''];
  for (const check of doubtful) out.push(`- ${check.from} → ${check.to} ${whatText(check)}: ${statusText(check)}: ${check.detail}`);
  for (const line of notAsked) out.push(`- ${line}`);
  out.push('');
  return out;
}

function matrixSection(report: Report): string[] {
  const multi = multiNetworkRequirements(report.checks);
  const out = ['## Every check', '', '| Protocol | Port | Purpose | Path | → | ← |', '|---|---|---|---|---|---|'];
  for (const row of rowsOf(report.checks)) {
    const purpose = `${row.purpose}${multi.has(row.requirement) && row.network ? ` [${row.network}]` : ''}${row.required ? '' : ' (optional)'}`;
    const path = row.back ? `${row.a} ⇄ ${row.b}` : `${row.a} → ${row.b}`;
    out.push(`| ${row.protocol} | ${portsText(row.ports)} | ${cell(purpose)} | ${path} | ${cell(cellText(row.there))} | ${row.back ? cell(cellText(row.back)) : '—'} |`);
  }
  out.push('');
  return out;
}

/** One direction: a single status, or a count per status naming the ports that are not open. */
function cellText(checks: readonly ReportCheck[]): string {
  const groups = new Map<string, ReportCheck[]>();
  for (const check of checks) groups.set(statusText(check), [...(groups.get(statusText(check)) ?? []), check]);
  if (groups.size === 1) return [...groups.keys()][0]!;
  return [...groups]
    .map(([label, members]) => (label === 'open' ? `${members.length} open` : `${label}: ${members.map((check) => check.port ?? 'echo').join(', ')}`))
    .join('; ');
}

function serversSection(report: Report): string[] {
  const servers = report.nodes.filter((node) => node.facts);
  if (servers.length === 0) return ['## Servers', '', 'No agent told its host facts.', ''];
  const names = servers.map((node) => node.name);
  const out = ['## Servers', '', `| Fact | ${names.join(' | ')} |`, `|---|${names.map(() => '---|').join('')}`];
  for (const row of serverRows(servers)) out.push(`| ${row.differs ? `**≠ ${row.fact}**` : row.fact} | ${row.values.map(cell).join(' | ')} |`);
  const unknown = servers.flatMap((node) => Object.entries(node.facts!.unknown).map(([field, why]) => `- ${node.name}: ${field} unknown: ${why}`));
  out.push('', ...unknown, '');
  return out;
}

function siteSection(report: Report): string[] {
  const { site } = report;
  const out = ['## Site answers', ''];
  if (site.pairs.length > 0) {
    out.push('| Servers | Same subnet | Round trip | Clock offset |', '|---|---|---|---|');
    for (const pair of site.pairs) {
      const rtt = pair.rttMs === null ? 'not measured' : `${pair.rttMs} ms (${pair.rttSource})`;
      const offset = pair.clockOffsetMs === null ? 'unknown' : `${pair.clockOffsetMs} ms (${pair.b} ahead of ${pair.a} when positive)`;
      out.push(`| ${pair.a} ⇄ ${pair.b} | ${cell(answerText(pair.sameSubnet))} | ${rtt} | ${offset} |`);
    }
    out.push('');
  }
  if (site.appendixA) {
    out.push('### Appendix A: LAN or WAN edition', '', '| Question | Answer |', '|---|---|');
    for (const { question, answer } of site.appendixA.questions) out.push(`| ${cell(question)} | ${cell(answerText(answer))} |`);
    out.push('', `**Edition:** ${site.appendixA.edition === 'WAN' ? 'NEC-EXP-CLST-WAN' : site.appendixA.edition === 'LAN' ? 'LAN edition' : 'unknown'}`, '');
    for (const reason of site.appendixA.reasons) out.push(`- ${reason}`);
    out.push('');
  }
  if (site.appendixB) {
    const b = site.appendixB;
    out.push('### Appendix B: requirements verified', '', '| Requirement | Answer |', '|---|---|');
    out.push(`| Both servers must be identical | ${cell(answerText(b.identical.answer))} |`);
    out.push(`| Both servers must be on the same domain | ${cell(answerText(b.sameDomain))} |`);
    out.push(`| Full administrative rights on the application and database servers | ${cell(answerText(b.adminRights))} |`);
    out.push(`| The communication server is not on the application or database server | ${cell(answerText(b.commServerSeparate))} |`, '');
  }
  return out.length > 2 ? out : [];
}

function runSection(report: Report): string[] {
  const agents = report.nodes.map((node) => `${node.name} ${node.agentVersion ?? '(no agent)'}: ${node.state}`).join('; ');
  return [
    '## The run',
    '',
    '| | |',
    '|---|---|',
    `| Tool | preflight ${report.tool.version} |`,
    `| Agents | ${cell(agents)} |`,
    `| Profile | ${report.profile.name} ${report.profile.version}, sha256 ${report.profile.sha256} |`,
    `| Nodes | ${cell(report.nodes.map((node) => `${node.name}=${node.host}${Object.entries(node.addresses ?? {}).map(([network, host]) => `, ${network} ${host}`).join('')}`).join('; '))} |`,
    `| Targets | ${cell(report.targets.map((target) => `${target.role}=${target.host}`).join('; ') || 'none')} |`,
    `| Run id | ${report.runId} |`,
    `| Started, finished | ${report.startedAt}, ${report.finishedAt} |`,
    `| Timings | connect ${report.timings.connectMs} ms, listen ${report.timings.listenMs} ms, probe ${report.timings.probeMs} ms, total ${report.timings.totalMs} ms |`,
    `| Options | timeout ${report.options.timeoutMs} ms, concurrency ${report.options.concurrency} |`,
    `| Digest | ${report.digest.algorithm} ${report.digest.value} (of the JSON report: \`preflight report\` checks it) |`,
    '',
  ];
}
