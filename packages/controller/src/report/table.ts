import Table from 'cli-table3';
import type { Report, ReportCheck } from './model.js';
import { NOT_ASKED, notAskedLines, portsText, rowsOf } from './rows.js';

export type TableOptions = { color: boolean };

const ANSI = { red: 31, green: 32, yellow: 33, grey: 90, bold: 1 } as const;
type Paint = (tone: keyof typeof ANSI, text: string) => string;

const STATUS_WORD: Record<ReportCheck['status'], string> = {
  open: 'open',
  blocked: 'BLOCKED',
  unverified: 'unverified',
  'not-tested': 'not tested',
};

/**
 * The terminal report: one row per requirement and pair of nodes, a column per direction, then
 * what failed and the result. Pure: the same report always gives the same text.
 */
export function renderTable(report: Report, options: TableOptions): string {
  const paint: Paint = (tone, text) => (options.color ? `\u001b[${ANSI[tone]}m${text}\u001b[0m` : text);
  const lines: string[] = [];
  lines.push(paint('bold', `preflight ${report.profile.title} (${report.profile.name} ${report.profile.version})`));
  for (const node of report.nodes) {
    const where = `${node.host}:${node.port}`;
    lines.push(
      node.state === 'connected'
        ? `  ${node.name} (${node.role}) ${where}  ${node.hostname ?? ''} ${node.platform ?? ''}`.trimEnd()
        : paint('red', `  ${node.name} ${where}: ${node.state}: ${node.detail ?? ''}`),
    );
  }

  const table = new Table({
    head: ['Proto', 'Port', 'Purpose', 'Path', '→', '←'],
    style: { head: options.color ? ['bold'] : [], border: options.color ? ['grey'] : [] },
    colWidths: [7, 13, 36, 28, 24, 24],
    wordWrap: true,
  });
  // A network is named only on the rows of a requirement checked on more than one.
  const networksOf = new Map<string, Set<string | undefined>>();
  for (const check of report.checks) networksOf.set(check.requirement, (networksOf.get(check.requirement) ?? new Set()).add(check.network));
  for (const row of rowsOf(report.checks)) {
    const multi = (networksOf.get(row.requirement)?.size ?? 0) > 1;
    table.push([
      row.protocol,
      portsText(row.ports),
      row.purpose + (multi && row.network ? ` [${row.network}]` : '') + (row.required ? '' : ' (optional)'),
      row.back ? `${row.a} ⇄ ${row.b}` : `${row.a} → ${row.b}`,
      cellText(row.there, paint),
      row.back ? cellText(row.back, paint) : paint('grey', '—'),
    ]);
  }
  lines.push(table.toString());
  lines.push(...summaryLines(report, paint));
  return `${lines.join('\n')}\n`;
}

/** One direction's cell: a single status, or a count per status naming the ports that fail. */
function cellText(checks: readonly ReportCheck[], paint: Paint): string {
  const groups = new Map<string, ReportCheck[]>();
  for (const check of checks) {
    const label = check.status === 'open' ? 'open' : `${STATUS_WORD[check.status]} (${check.reason})`;
    const members = groups.get(label);
    if (members) members.push(check);
    else groups.set(label, [check]);
  }
  const parts = [...groups].map(([label, members]) => {
    const tone = toneOf(members[0]!);
    if (groups.size === 1) return paint(tone, label);
    const ports = members.length <= 4 ? `: ${members.map((check) => check.port).join(', ')}` : '';
    return paint(tone, `${members.length} ${label}${label === 'open' ? '' : ports}`);
  });
  return parts.join('\n');
}

function toneOf(check: ReportCheck): 'green' | 'red' | 'yellow' | 'grey' {
  if (check.verdict === 'pass') return 'green';
  if (check.verdict === 'fail') return check.required ? 'red' : 'yellow';
  return check.status === 'not-tested' ? 'grey' : 'yellow';
}

function summaryLines(report: Report, paint: Paint): string[] {
  const { summary } = report;
  const lines = [
    `${summary.checks} checks: ${summary.open} open, ${summary.blocked} blocked, ${summary.unverified} unverified, ${summary.notTested} not tested  (${(report.timings.totalMs / 1000).toFixed(1)} s)`,
  ];
  const failing = report.checks.filter((check) => check.verdict === 'fail');
  const doubtful = report.checks.filter(
    (check) => check.status === 'unverified' || (check.status === 'not-tested' && !NOT_ASKED.has(check.reason)),
  );
  const line = (check: ReportCheck) =>
    `  ${check.from} → ${check.to}  ${check.protocol}${check.port === null ? '' : `/${check.port}`}  ${check.reason}: ${check.detail}`;
  if (failing.length > 0) {
    lines.push(paint('red', 'Failing:'));
    for (const check of failing) {
      const optional = check.required ? '' : ' (optional)';
      const expectation = check.expect === 'closed' ? ' (must be closed, but is open)' : '';
      lines.push(paint(check.required ? 'red' : 'yellow', line(check) + optional + expectation));
    }
  }
  if (doubtful.length > 0) {
    lines.push(paint('yellow', 'Not verified:'));
    for (const check of doubtful.slice(0, 20)) lines.push(paint('yellow', line(check)));
    if (doubtful.length > 20) lines.push(paint('yellow', `  … and ${doubtful.length - 20} more (see --json)`));
  }
  lines.push(...notAskedLines(report.checks).map((text) => paint('grey', text)));
  const verdict = {
    pass: paint('green', summary.notTested > 0 ? 'PASS: every required check that was tested is open' : 'PASS: every required check is open'),
    fail: paint('red', `FAIL: ${summary.failing} required check${summary.failing === 1 ? '' : 's'} failed`),
    incomplete: paint('red', 'INCOMPLETE: the run could not test every path (see above)'),
    unverified: paint('yellow', 'UNVERIFIED: nothing is blocked, but some required ports could not be verified'),
  }[summary.result];
  lines.push(`${verdict}  (exit ${summary.exitCode})`);
  return lines;
}
