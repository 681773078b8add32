import type { Answer } from '../site/types.js';
import type { Report, ReportCheck } from './model.js';
import { addressCaveat, networkRule, powershellCommand, remediate } from './remediation.js';
import { NOT_ASKED, multiNetworkRequirements, notAskedLines, portsText, resultWord, rowsOf, runRows, serverRows, statusText, whatText } from './rows.js';

/** Escapes text for HTML: a hostname or a detail from the wire can never become markup. */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

/** Builds markup from a template whose every interpolated value is escaped, unless it is already markup. */
class Html {
  constructor(readonly markup: string) {}
}
function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  const text = strings.reduce((out, part, index) => {
    if (index === 0) return part;
    const value = values[index - 1];
    const rendered = Array.isArray(value) ? value.map(render).join('') : render(value);
    return out + rendered + part;
  }, '');
  return new Html(text);
}
const render = (value: unknown): string => (value instanceof Html ? value.markup : value === undefined || value === null || value === false ? '' : escapeHtml(String(value)));

const TONE: Record<ReportCheck['status'], string> = { open: 'ok', blocked: 'bad', unverified: 'warn', 'not-tested': 'grey' };


/**
 * Inline, so the file needs nothing else: readable on screen, and in print (PDF from a browser),
 * where colours are kept (a highlighted difference must survive printing), headings stay with
 * what follows them, table headers repeat on each page and no row or failure is cut in two. No
 * check is folded away (no <details>): the customer prints this page, and every check must be on
 * the paper, by its port and verdict, not only counted.
 */
const STYLE = `
:root { --ok: #17663a; --bad: #b3261e; --warn: #8a5a00; --grey: #5f6368; --line: #d0d4d9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1f2328; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; } h2 { margin-top: 2rem; border-bottom: 2px solid var(--line); padding-bottom: .2rem; } h3 { margin-bottom: .3rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; } th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; } tr { break-inside: avoid; }
.banner { padding: .6rem 1rem; border-radius: 6px; font-weight: 600; margin: 1rem 0; }
.banner.pass { background: #e6f4ea; color: var(--ok); } .banner.fail, .banner.incomplete { background: #fce8e6; color: var(--bad); } .banner.unverified { background: #fef7e0; color: var(--warn); }
.ok { color: var(--ok); } .bad { color: var(--bad); font-weight: 600; } .warn { color: var(--warn); } .grey { color: var(--grey); }
.failure { border-left: 4px solid var(--bad); padding: .2rem 1rem; margin: 1rem 0; break-inside: avoid; background: #fffafa; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: .6rem; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; }
.differs td, .differs th { background: #fff4e5; } .meta td:first-child { width: 14rem; color: var(--grey); }
span.check { display: inline-block; margin-right: .35rem; font-variant-numeric: tabular-nums; }
@page { margin: 14mm 12mm; }
@media print {
  html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { margin: 0; max-width: none; font-size: 10.5px; }
  h2, h3 { break-after: avoid; } thead { display: table-header-group; } tr, .failure, pre { break-inside: avoid; }
}
`;

const answerCell = (answer: Answer) => html`<td><b class="${answer.answer === 'yes' ? 'ok' : answer.answer === 'no' ? 'bad' : 'grey'}">${answer.answer}</b>: ${answer.basis}</td>`;

/**
 * The report as one self-contained HTML file (no scripts, no fonts, no links out), for the
 * customer's requirements verification: failures first with the rule that fixes each, then every
 * check, the servers side by side, the site answers and the run. Pure.
 */
export function renderHtml(report: Report): string {
  const { summary } = report;
  const title = `preflight: ${report.profile.title}`;
  const body = html`
<h1>${title}</h1>
<p>${report.context.site ?? 'Site not given'} · ${report.context.engineer ?? 'engineer not given'} · ${report.startedAt} · ${report.profile.name} ${report.profile.version}</p>
<div class="banner ${summary.result}">${resultWord(report)} (exit ${summary.exitCode}) · ${summary.checks} checks: ${summary.open} open, ${summary.blocked} blocked, ${summary.unverified} unverified, ${summary.notTested} not tested</div>
${failures(report)}
${doubts(report)}
${matrix(report)}
${servers(report)}
${siteAnswers(report)}
${runTable(report)}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>${body.markup}
</body>
</html>
`;
}

function failures(report: Report): Html {
  const fixes = new Map(remediate(report).map((fix) => [fix.key, fix]));
  const failing = report.checks.filter((check) => check.verdict === 'fail');
  if (failing.length === 0) return html`<h2 id="failures">What fails</h2><p class="ok">Nothing: every check that was tested meets its requirement.</p>`;
  return html`<h2 id="failures">What fails</h2>${failing.map((check) => {
    const fix = fixes.get(check.key)!;
    const caveat = addressCaveat(fix);
    return html`<div class="failure" data-failure="${check.key}">
<h3>${check.from} → ${check.to}: ${whatText(check)}${check.network ? ` on ${check.network}` : ''}, <span class="bad">${statusText(check)}</span>${check.expect === 'closed' ? ' (must be closed, but is open)' : ''}${check.required ? '' : ' (optional)'}</h3>
<p>${check.purpose} (requirement <code>${check.requirement}</code>). Seen: ${check.detail}.</p>
<p><b>For the network team:</b> ${networkRule(fix)}.</p>
<p><b>On ${fix.server.name}</b>, in an elevated PowerShell:</p>
<pre>${powershellCommand(fix)}</pre>${caveat ? html`\n<p class="warn">${caveat}.</p>` : ''}
</div>`;
  })}`;
}

function doubts(report: Report): Html {
  const doubtful = report.checks.filter((check) => check.status === 'unverified' || (check.status === 'not-tested' && !NOT_ASKED.has(check.reason)));
  const notAsked = notAskedLines(report.checks);
  if (doubtful.length === 0 && notAsked.length === 0) return html``;
  return html`<h2>Not verified</h2><ul>${doubtful.map((check) => html`<li class="${TONE[check.status]}">${check.from} → ${check.to} ${whatText(check)}: ${statusText(check)}: ${check.detail}</li>`)}${notAsked.map((line) => html`<li class="grey">${line}</li>`)}</ul>`;
}

function matrix(report: Report): Html {
  const multi = multiNetworkRequirements(report.checks);
  return html`<h2 id="matrix">Every check</h2>
<table><thead><tr><th>Protocol</th><th>Port</th><th>Purpose</th><th>Path</th><th>→</th><th>←</th></tr></thead><tbody>
${rowsOf(report.checks).map(
  (row) => html`<tr><td>${row.protocol}</td><td>${portsText(row.ports)}</td><td>${row.purpose}${multi.has(row.requirement) && row.network ? ` [${row.network}]` : ''}${row.required ? '' : ' (optional)'}</td><td>${row.back ? `${row.a} ⇄ ${row.b}` : `${row.a} → ${row.b}`}</td><td>${directionCell(row.there)}</td><td>${row.back ? directionCell(row.back) : html`<span class="grey">—</span>`}</td></tr>\n`,
)}</tbody></table>`;
}

/**
 * One direction: its verdicts at a glance, then every check by its key, those not open first;
 * all of them shown, on screen and in print.
 */
function directionCell(checks: readonly ReportCheck[]): Html {
  const span = (check: ReportCheck) => html`<span class="check ${TONE[check.status]}" data-key="${check.key}" title="${check.detail}">${checks.length === 1 ? statusText(check) : `${check.port ?? 'echo'} ${statusText(check)}`}</span>`;
  if (checks.length === 1) return span(checks[0]!);
  const counts = new Map<string, number>();
  for (const check of checks) counts.set(statusText(check), (counts.get(statusText(check)) ?? 0) + 1);
  const notOpen = checks.filter((check) => check.status !== 'open');
  const open = checks.filter((check) => check.status === 'open');
  return html`${[...counts].map(([label, count]) => html`<div class="${label === 'open' ? 'ok' : label.startsWith('BLOCKED') ? 'bad' : 'warn'}">${count} ${label}</div>`)}${notOpen.map(span)}${open.map(span)}`;
}

function servers(report: Report): Html {
  const nodes = report.nodes.filter((node) => node.facts);
  if (nodes.length === 0) return html`<h2 id="servers">Servers</h2><p class="grey">No agent told its host facts.</p>`;
  const names = nodes.map((node) => node.name);
  return html`<h2 id="servers">Servers, side by side</h2>
<table><thead><tr><th>Fact</th>${names.map((name) => html`<th>${name}</th>`)}</tr></thead><tbody>
${serverRows(nodes).map((row) => html`<tr class="${row.differs ? 'differs' : ''}"><th>${row.differs ? `≠ ${row.fact}` : row.fact}</th>${row.values.map((value) => html`<td>${value}</td>`)}</tr>
`)}</tbody></table>
${nodes.flatMap((node) => Object.entries(node.facts!.unknown).map(([field, why]) => html`<p class="grey">${node.name}: ${field} unknown: ${why}</p>`))}`;
}

function siteAnswers(report: Report): Html {
  const { site } = report;
  const pairs =
    site.pairs.length === 0
      ? html``
      : html`<table><thead><tr><th>Servers</th><th>Same subnet</th><th>Round trip</th><th>Clock offset</th></tr></thead><tbody>${site.pairs.map(
          (pair) => html`<tr><td>${pair.a} ⇄ ${pair.b}</td>${answerCell(pair.sameSubnet)}<td>${pair.rttMs === null ? 'not measured' : `${pair.rttMs} ms (${pair.rttSource})`}</td><td>${pair.clockOffsetMs === null ? 'unknown' : `${pair.clockOffsetMs} ms (${pair.b} ahead of ${pair.a} when positive)`}</td></tr>`,
        )}</tbody></table>`;
  const a = site.appendixA;
  const appendixA = a
    ? html`<h3>Appendix A: LAN or WAN edition</h3><table><tbody>${a.questions.map((q) => html`<tr><th>${q.question}</th>${answerCell(q.answer)}</tr>`)}</tbody></table>
<p><b>Edition: ${a.edition === 'WAN' ? 'NEC-EXP-CLST-WAN' : a.edition === 'LAN' ? 'LAN edition' : 'unknown'}</b></p><ul>${a.reasons.map((reason) => html`<li>${reason}</li>`)}</ul>`
    : html``;
  const b = site.appendixB;
  const appendixB = b
    ? html`<h3>Appendix B: requirements verified</h3><table><tbody>
<tr><th>Both servers must be identical</th>${answerCell(b.identical.answer)}</tr>
<tr><th>Both servers must be on the same domain</th>${answerCell(b.sameDomain)}</tr>
<tr><th>Full administrative rights on the application and database servers</th>${answerCell(b.adminRights)}</tr>
<tr><th>The communication server is not on the application or database server</th>${answerCell(b.commServerSeparate)}</tr>
</tbody></table>`
    : html``;
  return html`<h2 id="site">Site answers</h2>${pairs}${appendixA}${appendixB}`;
}

function runTable(report: Report): Html {
  return html`<h2 id="run">The run</h2><table class="meta"><tbody>${runRows(report).map(([name, value]) => html`<tr><td>${name}</td><td>${value}</td></tr>`)}</tbody></table>`;
}
