import { readFileSync, writeFileSync } from 'node:fs';
import type { CheckOutcome } from '../outcome.js';
import { judge } from '../outcome.js';
import { planChecks } from '../plan.js';
import { profileFromPortSpecs } from '../ports-spec.js';
import type { CheckResult, RunResult } from '../run.js';
import { renderJson } from './json.js';
import { buildReport, summarize } from './model.js';
import { renderTable } from './table.js';

const golden = (name: string) => new URL(`./golden/${name}`, import.meta.url);

/** Compares with the golden file; UPDATE_GOLDEN=1 rewrites it after a deliberate change. */
function expectGolden(name: string, text: string): void {
  if (process.env.UPDATE_GOLDEN) writeFileSync(golden(name), text);
  expect(text).toBe(readFileSync(golden(name), 'utf8'));
}

const nodes = [
  { name: 'primary', role: 'peer', host: '10.1.1.11', port: 7890 },
  { name: 'secondary', role: 'peer', host: '10.1.1.12', port: 7890 },
];
const profile = profileFromPortSpecs(['tcp:1801,29001-29003', 'udp:3527']);
const plan = planChecks(profile, nodes);

const outcomes: Record<string, CheckOutcome> = {
  'primary->secondary/tcp/29002': { status: 'blocked', reason: 'filtered', detail: 'no answer in 3001 ms (3 attempts)' },
  'secondary->primary/tcp/29003': { status: 'blocked', reason: 'rejected', detail: 'refused (TCP reset or ICMP port unreachable)' },
  'primary->secondary/udp/3527': {
    status: 'unverified',
    reason: 'port-in-use',
    detail: 'secondary could not listen: the port is in use by mqsvc.exe (pid 4); no answer',
    evidence: 'none',
  },
};
const checks: CheckResult[] = plan.checks.map((check) => {
  const outcome = outcomes[check.key] ?? { status: 'open', reason: 'verified', detail: 'handshake verified in 2 ms' };
  return { ...check, outcome, verdict: judge(check.expect, outcome), elapsedMs: 2 };
});
const run: RunResult = {
  runId: '00000000-0000-4000-8000-000000000000',
  startedAt: new Date('2026-11-22T10:00:00.000Z'),
  finishedAt: new Date('2026-11-22T10:00:03.250Z'),
  timings: { connectMs: 12.4, listenMs: 3.2, probeMs: 3201.9, totalMs: 3250.2 },
  nodes: nodes.map((node) => ({ ...node, state: 'connected' as const, hostname: node.name.toUpperCase(), platform: 'win32-x64', agentVersion: '0.1.0' })),
  checks,
};
const report = buildReport(profile, run, { options: { timeoutMs: 3000, concurrency: 200 }, context: { engineer: 'A. Engineer', site: 'Example site' } });

describe('reports', () => {
  it('pins the JSON report, a public contract', () => expectGolden('report.json', renderJson(report)));
  it('pins the terminal table', () => expectGolden('table.txt', renderTable(report, { color: false })));
  it('colours only when asked', () => {
    expect(renderTable(report, { color: false })).not.toContain('\u001b[');
    expect(renderTable(report, { color: true })).toContain('\u001b[31m');
  });
});

describe('summarize', () => {
  const make = (status: CheckOutcome['status'], reason: string, required = true, expect: 'open' | 'closed' = 'open'): CheckResult => {
    const outcome = { status, reason, detail: '' } as CheckOutcome;
    return { ...plan.checks[0]!, required, expect, outcome, verdict: judge(expect, outcome) };
  };
  it.each([
    ['all open', [make('open', 'verified')], 0],
    ['a required port blocked', [make('open', 'verified'), make('blocked', 'filtered')], 1],
    ['an optional port blocked', [make('open', 'verified'), make('blocked', 'filtered', false)], 0],
    ['a path that must be closed is open', [make('open', 'verified', true, 'closed')], 1],
    ['a path that must be closed is closed', [make('blocked', 'filtered', true, 'closed')], 0],
    ['an agent unreachable, even with a port blocked', [make('blocked', 'filtered'), make('not-tested', 'agent-unreachable')], 3],
    ['an agent lost mid-run', [make('open', 'verified'), make('not-tested', 'agent-lost', false)], 3],
    ['a required port in use', [make('open', 'verified'), make('unverified', 'port-in-use')], 4],
    ['targets without agents only', [make('open', 'verified'), make('not-tested', 'no-target')], 0],
  ])('%s: exit %i', (_label, list, exitCode) => {
    expect(summarize(list).exitCode).toBe(exitCode);
  });
});
