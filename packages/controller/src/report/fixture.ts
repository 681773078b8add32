import type { HostFacts } from '@preflight/protocol';
import { judge, type CheckOutcome } from '../outcome.js';
import { planChecks } from '../plan.js';
import { loadProfile } from '../profile/load.js';
import type { Profile, Requirement } from '../profile/schema.js';
import type { CheckResult, NodeOutcome, RunResult } from '../run.js';
import { buildReport, type Report } from './model.js';

const GIB = 1024 ** 3;

/** A Windows Server cluster node's facts, as an agent would report them. */
export function windowsFacts(hostname: string, address: string, interconnect: string, overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    hostname,
    os: { platform: 'win32', name: 'Microsoft Windows Server 2019 Standard 10.0.17763', release: '10.0.17763', arch: 'x64' },
    cpu: { model: 'Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz', cores: 16 },
    memoryBytes: 32 * GIB,
    disks: [
      { mount: 'C:', sizeBytes: 1000 * GIB, freeBytes: 612 * GIB },
      { mount: 'D:', sizeBytes: 2000 * GIB, freeBytes: 1500 * GIB },
    ],
    interfaces: [
      { name: 'Public', family: 'IPv4', address, prefix: 24, mac: '00:50:56:00:00:01' },
      { name: 'Interconnect', family: 'IPv4', address: interconnect, prefix: 24, mac: '00:50:56:00:00:02' },
    ],
    membership: { kind: 'domain', name: 'corp.example.com' },
    admin: true,
    localTime: '2026-11-24T11:00:00.000-05:00',
    timeZone: 'America/New_York',
    unknown: {},
    ...overrides,
  };
}

/**
 * A small range between the two servers. nec-symmetry lists single ports only, and a range is
 * what gives a row of the matrix more than one check a direction: the fixture adds one, so the
 * renderers' multi-port cells are pinned and shown in the browser too.
 */
const RANGE: Requirement = {
  id: 'site-range',
  protocol: 'tcp',
  ports: ['50100-50103'],
  from: 'primary',
  to: 'secondary',
  direction: 'both',
  purpose: 'Site application ports (a range the fixture adds)',
  required: true,
  expect: 'open',
  source: 'the report fixture',
};

const withRange = (profile: Profile): Profile => ({ ...profile, requirements: [...profile.requirements, RANGE] });

/** What the fixture's run saw, by check key; every other check is open. */
const OUTCOMES: Record<string, CheckOutcome> = {
  'primary->secondary/tcp/29002': { status: 'blocked', reason: 'filtered', detail: 'no answer in 3001 ms (7 attempts)' },
  'secondary->primary/tcp/29005@interconnect': { status: 'blocked', reason: 'rejected', detail: 'refused (TCP reset or ICMP port unreachable)' },
  'secondary->primary/udp/3527': {
    status: 'unverified',
    reason: 'port-in-use',
    detail: 'primary could not listen: the port is in use by mqsvc.exe (pid 2216); no answer',
    evidence: 'none',
  },
  'secondary->primary/tcp/50102': {
    status: 'unverified',
    reason: 'port-in-use',
    detail: 'primary could not listen: the port is in use by svchost.exe (pid 1040); something answered',
    evidence: 'reachable',
  },
};

/**
 * A nec-symmetry run on two Windows servers with an interconnect, as the report renderers see it:
 * one port dropped, one rejected on the interconnect, one held by MSMQ, a range of four ports
 * (one of them held by another program), targets not given, the optional roles not given, and the
 * second server with less memory. Deterministic.
 */
export function sampleRun(): { report: Report; run: RunResult } {
  const profile = withRange(loadProfile('nec-symmetry'));
  const nodes = [
    { name: 'primary', role: 'primary', host: '10.1.1.11', port: 7890, addresses: { interconnect: '192.168.10.11' } },
    { name: 'secondary', role: 'secondary', host: '10.1.1.12', port: 7890, addresses: { interconnect: '192.168.10.12' } },
  ];
  const plan = planChecks(profile, nodes);
  const checks: CheckResult[] = plan.checks.map((check) => {
    const notTested: CheckOutcome | undefined = check.absentRole
      ? { status: 'not-tested', reason: 'no-node', detail: `no node has the optional role ${check.absentRole}: add --node ${check.absentRole}=HOST to check it` }
      : check.target === 'external'
        ? { status: 'not-tested', reason: 'no-target', detail: `${check.to} runs no agent: name it with --target ${check.to}=HOST to check it` }
        : undefined;
    const verified: CheckOutcome = { status: 'open', reason: 'verified', detail: check.protocol === 'udp' ? `${check.to} received the datagram` : 'handshake verified in 1 ms' };
    const outcome = notTested ?? OUTCOMES[check.key] ?? verified;
    return { ...check, outcome, verdict: judge(check.expect, outcome), ...(outcome.status === 'open' ? { elapsedMs: 1, rttMs: check.protocol === 'icmp' ? 0.42 : 0.61 } : {}) };
  });
  const outcomes: NodeOutcome[] = [
    {
      ...nodes[0]!,
      state: 'connected',
      hostname: 'SYMAPP1',
      platform: 'win32-x64',
      agentVersion: '0.1.0',
      facts: windowsFacts('SYMAPP1', '10.1.1.11', '192.168.10.11'),
      clock: { offsetMs: 12, rttMs: 0.8 },
    },
    {
      ...nodes[1]!,
      state: 'connected',
      hostname: 'SYMAPP2',
      platform: 'win32-x64',
      agentVersion: '0.1.0',
      facts: windowsFacts('SYMAPP2', '10.1.1.12', '192.168.10.12', { memoryBytes: 16 * GIB, localTime: '2026-11-24T11:00:00.450-05:00' }),
      clock: { offsetMs: 462, rttMs: 0.9 },
    },
  ];
  const run: RunResult = {
    runId: '7f0c2a8e-5b1d-4c3e-9a6f-2d8b1e4c7a90',
    startedAt: new Date('2026-11-24T16:00:00.000Z'),
    finishedAt: new Date('2026-11-24T16:00:03.412Z'),
    timings: { connectMs: 41, listenMs: 12, probeMs: 3302, totalMs: 3412 },
    nodes: outcomes,
    checks,
  };
  const report = buildReport(profile, run, {
    options: { timeoutMs: 3000, concurrency: 4096 },
    context: { engineer: 'A. Engineer', site: 'Example Corp, Building 4' },
    targets: [],
  });
  return { report, run };
}

export const sampleReport = (): Report => sampleRun().report;
