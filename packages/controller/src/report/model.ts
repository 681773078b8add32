import { INCOMPLETE_REASONS } from '../outcome.js';
import type { Profile } from '../profile/schema.js';
import type { CheckResult, RunResult } from '../run.js';
import { TOOL_VERSION } from '../version.js';

/** Identifier of the JSON report's shape; bumped on any change a reader could notice. */
export const REPORT_FORMAT = 'preflight-report/1';

/**
 * Exit codes, the contract scripts rely on.
 * 0: every required check passed. 1: a required check failed (blocked, or open where it must be
 * closed). 2: usage or profile error. 3: the run did not complete (an agent unreachable or lost):
 * it takes precedence, as the answer is partial. 4: nothing failed, but a required check could not
 * be verified (port in use, permission).
 */
export const EXIT = { pass: 0, fail: 1, usage: 2, incomplete: 3, unverified: 4 } as const;

export type Summary = {
  checks: number;
  open: number;
  blocked: number;
  unverified: number;
  notTested: number;
  /** Required checks whose verdict is fail. */
  failing: number;
  result: 'pass' | 'fail' | 'incomplete' | 'unverified';
  exitCode: number;
};

/** The JSON report: a public contract, pinned by golden tests. */
export type Report = {
  format: typeof REPORT_FORMAT;
  tool: { name: 'preflight'; version: string };
  runId: string;
  profile: { name: string; title: string; version: string };
  nodes: RunResult['nodes'];
  options: { timeoutMs: number; concurrency: number };
  startedAt: string;
  finishedAt: string;
  timings: RunResult['timings'];
  summary: Summary;
  checks: ReportCheck[];
};

export type ReportCheck = {
  key: string;
  requirement: string;
  protocol: CheckResult['protocol'];
  port: number | null;
  from: string;
  to: string;
  /** The profile's network the path was checked on; absent where the profile declares none. */
  network?: string;
  purpose: string;
  required: boolean;
  expect: 'open' | 'closed';
  status: CheckResult['outcome']['status'];
  reason: CheckResult['outcome']['reason'];
  detail: string;
  evidence?: string;
  verdict: CheckResult['verdict'];
  elapsedMs?: number;
};

/** Sums up the checks and decides the exit code. Pure. */
export function summarize(checks: readonly CheckResult[]): Summary {
  const count = (status: string) => checks.filter((check) => check.outcome.status === status).length;
  const incomplete = checks.some(
    (check) => check.outcome.status === 'not-tested' && INCOMPLETE_REASONS.has(check.outcome.reason),
  );
  const failing = checks.filter((check) => check.required && check.verdict === 'fail').length;
  const unverified = checks.some((check) => check.required && check.outcome.status === 'unverified');
  const result = incomplete ? 'incomplete' : failing > 0 ? 'fail' : unverified ? 'unverified' : 'pass';
  return {
    checks: checks.length,
    open: count('open'),
    blocked: count('blocked'),
    unverified: count('unverified'),
    notTested: count('not-tested'),
    failing,
    result,
    exitCode: EXIT[result],
  };
}

export function buildReport(profile: Profile, run: RunResult, options: Report['options']): Report {
  const round = (ms: number) => Math.round(ms);
  return {
    format: REPORT_FORMAT,
    tool: { name: 'preflight', version: TOOL_VERSION },
    runId: run.runId,
    profile: { name: profile.name, title: profile.title, version: profile.version },
    nodes: run.nodes,
    options,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    timings: {
      connectMs: round(run.timings.connectMs),
      listenMs: round(run.timings.listenMs),
      probeMs: round(run.timings.probeMs),
      totalMs: round(run.timings.totalMs),
    },
    summary: summarize(run.checks),
    checks: run.checks.map((check) => ({
      key: check.key,
      requirement: check.requirement,
      protocol: check.protocol,
      port: check.port,
      from: check.from,
      to: check.to,
      ...(check.network === null ? {} : { network: check.network }),
      purpose: check.purpose,
      required: check.required,
      expect: check.expect,
      status: check.outcome.status,
      reason: check.outcome.reason,
      detail: check.outcome.detail,
      ...(check.outcome.status === 'unverified' ? { evidence: check.outcome.evidence } : {}),
      verdict: check.verdict,
      ...(check.elapsedMs === undefined ? {} : { elapsedMs: check.elapsedMs }),
    })),
  };
}
