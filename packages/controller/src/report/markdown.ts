import type { Answer } from '../site/types.js';
import type { Report, ReportCheck } from './model.js';
import { addressCaveat, networkRule, powershellCommand, remediate } from './remediation.js';
import { NOT_ASKED, multiNetworkRequirements, notAskedLines, portsText, resultWord, rowsOf, runRows, serverRows, statusText, whatText } from './rows.js';

/**
 * Text as Markdown shows it, not as markup, so that a value from the wire or the command line can
 * neither inject HTML or a link into a wiki nor break a table row: escaped are what opens raw
 * HTML, autolinks and code (`<`, backtick), emphasis and strikethrough (`*`, `~`, and `_` at a
 * word's edge: within a word it is no markup, and `New_York` stays readable), a link's `](`,
 * an entity's `&`, table pipes and the backslash; line breaks become spaces. Block markup needs
 * a line's start, which no value is given.
 */
const md = (text: string) =>
  text.replace(/[\\`*<|~]|\](?=[([])|&(?=#?\w+;)|(?<![\p{L}\p{N}])_|_(?![\p{L}\p{N}])/gu, '\\$&').replace(/\s*[\r\n]+\s*/g, ' ');

/** A code span whose fence is longer than any run of backticks inside it. */
function code(text: string): string {
  const fence = '`'.repeat(Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length)) + 1);
  return `${fence}${text.startsWith('`') || text.endsWith('`') ? ` ${text} ` : text}${fence}`;
}

/** A fenced code block, its fence longer than any run of backticks inside it. */
function codeBlock(language: string, text: string): string[] {
  const fence = '`'.repeat(Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length)) + 1);
  return [`${fence}${language}`, text, fence];
}

const answerText = (answer: Answer) => `**${md(answer.answer)}**: ${md(answer.basis)}`;

/**
 * The report as Markdown, for a ticket or a wiki: failures first with the rule that would fix
 * each, then every check, the servers side by side, the site answers and how the run was made.
 * Pure: the same report always gives the same text.
 */
export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  const { summary, profile } = report;
  out.push(`# preflight: ${md(profile.title)} (${md(profile.name)} ${md(profile.version)})`, '');
  out.push(`- **Site:** ${report.context.site === null ? 'not given (--site)' : md(report.context.site)}`);
  out.push(`- **Engineer:** ${report.context.engineer === null ? 'not given (--engineer)' : md(report.context.engineer)}`);
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
    const caveat = addressCaveat(fix);
    out.push(`### ${md(check.from)} → ${md(check.to)}: ${whatText(check)}${check.network ? ` on ${md(check.network)}` : ''}, ${md(statusText(check))}${must}${check.required ? '' : ' (optional)'}`, '');
    out.push(`${md(check.purpose)} (requirement ${code(check.requirement)}). Seen: ${md(check.detail)}.`, '');
    out.push(`For the network team: ${md(networkRule(fix))}.`, '');
    out.push(`On ${md(fix.server.name)}, in an elevated PowerShell:`, '', ...codeBlock('powershell', powershellCommand(fix)), '');
    if (caveat) out.push(`${md(caveat)}.`, '');
  }
  return out;
}

function doubtsSection(report: Report): string[] {
  const doubtful = report.checks.filter((check) => check.status === 'unverified' || (check.status === 'not-tested' && !NOT_ASKED.has(check.reason)));
  const notAsked = notAskedLines(report.checks);
  if (doubtful.length === 0 && notAsked.length === 0) return [];
  const out = ['## Not verified', ''];
  for (const check of doubtful) out.push(`- ${md(check.from)} → ${md(check.to)} ${whatText(check)}: ${md(statusText(check))}: ${md(check.detail)}`);
  for (const line of notAsked) out.push(`- ${md(line)}`);
  out.push('');
  return out;
}

function matrixSection(report: Report): string[] {
  const multi = multiNetworkRequirements(report.checks);
  const out = ['## Every check', '', '| Protocol | Port | Purpose | Path | → | ← |', '|---|---|---|---|---|---|'];
  for (const row of rowsOf(report.checks)) {
    const purpose = `${row.purpose}${multi.has(row.requirement) && row.network ? ` [${row.network}]` : ''}${row.required ? '' : ' (optional)'}`;
    const path = row.back ? `${row.a} ⇄ ${row.b}` : `${row.a} → ${row.b}`;
    out.push(`| ${row.protocol} | ${portsText(row.ports)} | ${md(purpose)} | ${md(path)} | ${md(cellText(row.there))} | ${row.back ? md(cellText(row.back)) : '—'} |`);
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
  const names = servers.map((node) => md(node.name));
  const out = ['## Servers', '', `| Fact | ${names.join(' | ')} |`, `|---|${names.map(() => '---|').join('')}`];
  for (const row of serverRows(servers)) out.push(`| ${row.differs ? `**≠ ${md(row.fact)}**` : md(row.fact)} | ${row.values.map(md).join(' | ')} |`);
  const unknown = servers.flatMap((node) => Object.entries(node.facts!.unknown).map(([field, why]) => `- ${md(node.name)}: ${md(field)} unknown: ${md(why)}`));
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
      out.push(`| ${md(pair.a)} ⇄ ${md(pair.b)} | ${answerText(pair.sameSubnet)} | ${md(rtt)} | ${md(offset)} |`);
    }
    out.push('');
  }
  if (site.appendixA) {
    out.push('### Appendix A: LAN or WAN edition', '', '| Question | Answer |', '|---|---|');
    for (const { question, answer } of site.appendixA.questions) out.push(`| ${md(question)} | ${answerText(answer)} |`);
    out.push('', `**Edition:** ${site.appendixA.edition === 'WAN' ? 'NEC-EXP-CLST-WAN' : site.appendixA.edition === 'LAN' ? 'LAN edition' : 'unknown'}`, '');
    for (const reason of site.appendixA.reasons) out.push(`- ${md(reason)}`);
    out.push('');
  }
  if (site.appendixB) {
    const b = site.appendixB;
    out.push('### Appendix B: requirements verified', '', '| Requirement | Answer |', '|---|---|');
    out.push(`| Both servers must be identical | ${answerText(b.identical.answer)} |`);
    out.push(`| Both servers must be on the same domain | ${answerText(b.sameDomain)} |`);
    out.push(`| Full administrative rights on the application and database servers | ${answerText(b.adminRights)} |`);
    out.push(`| The communication server is not on the application or database server | ${answerText(b.commServerSeparate)} |`, '');
  }
  return out.length > 2 ? out : [];
}

function runSection(report: Report): string[] {
  return ['## The run', '', '| | |', '|---|---|', ...runRows(report).map(([name, value]) => `| ${name} | ${md(value)} |`), ''];
}
