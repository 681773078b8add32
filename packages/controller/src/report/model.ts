import { createHash } from 'node:crypto';
import type { Target } from '../nodes.js';
import { INCOMPLETE_REASONS } from '../outcome.js';
import { answerSiteQuestions } from '../site/answers.js';
import type { SiteAnswers } from '../site/types.js';
import type { Profile } from '../profile/schema.js';
import type { CheckResult, RunResult } from '../run.js';
import { TOOL_VERSION } from '../version.js';

/** Identifier of the JSON report's shape; bumped on any change a reader could notice. */
export const REPORT_FORMAT = 'preflight-report/2';

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

/** Who ran the check, and for which site: given by the engineer (`--engineer`, `--site`). */
export type ReportContext = { engineer: string | null; site: string | null };

/**
 * The JSON report: a public contract, pinned by golden tests. Every other format (table,
 * Markdown, HTML) is rendered from it, and `preflight report RESULT.json` renders it again.
 */
export type Report = {
  format: typeof REPORT_FORMAT;
  tool: { name: 'preflight'; version: string };
  runId: string;
  /** `sha256`: of the profile as loaded (canonical JSON), so a changed profile can be told apart. */
  profile: { name: string; title: string; version: string; sha256: string };
  context: ReportContext;
  /** Each node, how it took part, its agent's version and, where it answered, its host facts and clock. */
  nodes: RunResult['nodes'];
  /** Servers that run no agent, as given with --target. */
  targets: Target[];
  options: { timeoutMs: number; concurrency: number };
  startedAt: string;
  finishedAt: string;
  timings: RunResult['timings'];
  summary: Summary;
  site: SiteAnswers;
  checks: ReportCheck[];
  /**
   * SHA-256 over the canonical JSON of every other field: a copy whose content was changed no
   * longer matches (`preflight report` checks it). It proves integrity, not authorship.
   */
  digest: { algorithm: 'sha256'; value: string };
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

/** Canonical JSON: object keys sorted at every depth, so equal content always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The digest a report should carry: over everything but the digest itself. */
export function digestOf(report: Omit<Report, 'digest'> | Report): Report['digest'] {
  const { digest: _ignored, ...rest } = report as Report;
  return { algorithm: 'sha256', value: sha256(canonicalJson(rest)) };
}

/** Does a report still carry the digest of its content. */
export const digestMatches = (report: Report): boolean => report.digest?.value === digestOf(report).value;

export type ReportInputs = {
  options: Report['options'];
  context?: Partial<ReportContext>;
  targets?: readonly Target[];
};

export function buildReport(profile: Profile, run: RunResult, inputs: ReportInputs): Report {
  const round = (ms: number) => Math.round(ms);
  const body: Omit<Report, 'digest'> = {
    format: REPORT_FORMAT,
    tool: { name: 'preflight', version: TOOL_VERSION },
    runId: run.runId,
    profile: { name: profile.name, title: profile.title, version: profile.version, sha256: sha256(canonicalJson(profile)) },
    context: { engineer: inputs.context?.engineer ?? null, site: inputs.context?.site ?? null },
    nodes: run.nodes,
    targets: [...(inputs.targets ?? [])],
    options: inputs.options,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    timings: {
      connectMs: round(run.timings.connectMs),
      listenMs: round(run.timings.listenMs),
      probeMs: round(run.timings.probeMs),
      totalMs: round(run.timings.totalMs),
      ...(run.timings.rounds ? { rounds: run.timings.rounds } : {}),
    },
    summary: summarize(run.checks),
    site: answerSiteQuestions(profile, run),
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
  return { ...body, digest: digestOf(body) };
}
