import { factRows } from '../site/answers.js';
import type { Report, ReportCheck } from './model.js';

/** One line of the matrix: a requirement between two nodes, each direction's checks. */
export type Row = {
  requirement: string;
  protocol: string;
  network?: string;
  purpose: string;
  required: boolean;
  a: string;
  b: string;
  ports: (number | null)[];
  there: ReportCheck[];
  back?: ReportCheck[];
};

/** Groups checks by requirement and unordered pair of nodes, in the order they were planned. */
export function rowsOf(checks: readonly ReportCheck[]): Row[] {
  const rows = new Map<string, Row>();
  for (const check of checks) {
    const [a, b] = [check.from, check.to].sort() as [string, string];
    const id = `${check.requirement}|${check.network ?? ''}|${a}|${b}`;
    let row = rows.get(id);
    if (!row) {
      row = { requirement: check.requirement, protocol: check.protocol, network: check.network, purpose: check.purpose, required: check.required, a: check.from, b: check.to, ports: [], there: [] };
      rows.set(id, row);
    }
    if (check.from === row.a) {
      row.there.push(check);
      row.ports.push(check.port);
    } else (row.back ??= []).push(check);
  }
  return [...rows.values()];
}

/** `1801`, `29001-29005`, or `135, 445` for what a row covers. */
export function portsText(ports: (number | null)[]): string {
  const numbers = ports.filter((port): port is number => port !== null);
  if (numbers.length === 0) return '';
  const runs: string[] = [];
  let start = numbers[0]!;
  let previous = start;
  for (const port of [...numbers.slice(1), Number.NaN]) {
    if (port === previous + 1) {
      previous = port;
      continue;
    }
    runs.push(start === previous ? `${start}` : `${start}-${previous}`);
    start = previous = port;
  }
  return runs.join(', ');
}

/** Not-tested reasons that come from what the engineer left out, not from the run. */
export const NOT_ASKED: ReadonlySet<string> = new Set(['no-target', 'no-node', 'no-address']);

/** One line per thing left out (a target, an optional role, a node's address on a network), saying what to add. */
export function notAskedLines(checks: readonly ReportCheck[]): string[] {
  const counts = new Map<string, number>();
  for (const check of checks) {
    const what =
      check.reason === 'no-target'
        ? `to ${check.to}, which runs no agent (--target ${check.to}=HOST)`
        : check.reason === 'no-node' || check.reason === 'no-address'
          ? check.detail.replace(/^.*: add (.*) to check it$/, 'needing $1')
          : undefined;
    if (what) counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts].map(([what, count]) => `${count} check${count === 1 ? '' : 's'} not tested, ${what}.`);
}


/** Requirements checked on more than one network: their rows name the network. */
export function multiNetworkRequirements(checks: readonly ReportCheck[]): Set<string> {
  const networks = new Map<string, Set<string | undefined>>();
  for (const check of checks) networks.set(check.requirement, (networks.get(check.requirement) ?? new Set()).add(check.network));
  return new Set([...networks].filter(([, seen]) => seen.size > 1).map(([requirement]) => requirement));
}

/** How a check's status reads for a person: `open`, `BLOCKED (filtered)`, `not tested (no-target)`. */
export function statusText(check: Pick<ReportCheck, 'status' | 'reason'>): string {
  const word = { open: 'open', blocked: 'BLOCKED', unverified: 'unverified', 'not-tested': 'not tested' }[check.status];
  return check.status === 'open' ? word : `${word} (${check.reason})`;
}

/** `TCP 29002`, `UDP 3527`, `ICMP echo`. */
export const whatText = (check: Pick<ReportCheck, 'protocol' | 'port'>): string =>
  check.protocol === 'icmp' ? 'ICMP echo' : `${check.protocol.toUpperCase()} ${check.port}`;

const RESULT_WORD = {
  pass: 'PASS: every required check is open',
  fail: 'FAIL: a required check failed',
  incomplete: 'INCOMPLETE: the run could not test every path',
  unverified: 'UNVERIFIED: nothing is blocked, but some required ports could not be verified',
} as const;

/** The result in words, for the Markdown and HTML reports; a pass says so only of what was tested. */
export const resultWord = (report: Report): string =>
  report.summary.result === 'pass' && report.summary.notTested > 0 ? 'PASS: every required check that was tested is open' : RESULT_WORD[report.summary.result];

/** The servers side by side, as both reports show them: one row per fact, a value per node. */
export function serverRows(nodes: Report['nodes']): { fact: string; values: string[]; differs: boolean }[] {
  const row = (fact: string, read: (node: Report['nodes'][number]) => string) => ({ fact, values: nodes.map(read), differs: false });
  const facts = (node: Report['nodes'][number]) => node.facts!;
  return [
    row('Host name', (node) => facts(node).hostname),
    row('Role', (node) => node.role),
    row('Agent version', (node) => node.agentVersion ?? 'unknown'),
    ...factRows(nodes).map((fact) => ({ fact: fact.fact, values: nodes.map((node) => fact.values[node.name] ?? 'unknown'), differs: fact.differs })),
    row('Addresses', (node) => facts(node).interfaces.map((nic) => `${nic.address}/${nic.prefix}`).join(', ')),
    row('Domain or workgroup', (node) => (facts(node).membership ? `${facts(node).membership!.kind} ${facts(node).membership!.name ?? ''}`.trim() : 'unknown')),
    row('Administrative rights', (node) => (facts(node).admin === null ? 'unknown' : facts(node).admin ? 'yes' : 'no')),
    row('Local time', (node) => `${facts(node).localTime} (${facts(node).timeZone ?? 'zone unknown'})`),
    row('Clock offset from the controller', (node) => (node.clock ? `${node.clock.offsetMs} ms (±${Math.ceil(node.clock.rttMs / 2)} ms)` : 'unknown')),
  ];
}

/** How the run was made, as both reports show it: a name and a value a line. */
export function runRows(report: Report): [string, string][] {
  const { timings, options } = report;
  const rounds = timings.rounds ? `, listeners in ${timings.rounds} rounds` : '';
  return [
    ['Tool', `preflight ${report.tool.version}`],
    ['Agents', report.nodes.map((node) => `${node.name} ${node.agentVersion ?? '(no agent)'}: ${node.state}`).join('; ')],
    ['Profile', `${report.profile.name} ${report.profile.version}, sha256 ${report.profile.sha256}`],
    ['Nodes', report.nodes.map((node) => `${node.name}=${node.host}${Object.entries(node.addresses ?? {}).map(([network, host]) => `, ${network} ${host}`).join('')}`).join('; ')],
    ['Targets', report.targets.map((target) => `${target.role}=${target.host}`).join('; ') || 'none'],
    ['Run id', report.runId],
    ['Started, finished', `${report.startedAt}, ${report.finishedAt}`],
    ['Timings', `connect ${timings.connectMs} ms, listen ${timings.listenMs} ms, probe ${timings.probeMs} ms, total ${timings.totalMs} ms${rounds}`],
    ['Options', `timeout ${options.timeoutMs} ms, concurrency ${options.concurrency}`],
    ['Digest', `${report.digest.algorithm} ${report.digest.value} (of the JSON report: preflight report checks it)`],
  ];
}
