import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Chain, Lab, LabHost } from './netlab.js';

/** Everything a lab scenario needs: the lab, its token, and two nodes named a and b. */
export const TOKEN = 'lab-token';
export const PORTS = ['--ports', 'tcp:29001-29004', '--ports', 'udp:29001-29004', '--ports', 'icmp'];

export type JsonCheck = { key: string; from: string; to: string; status: string; reason: string; evidence?: string; detail: string };
export type Rule = { chain: Chain; host?: LabHost; text: string };

const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-lab-'));

/** How many verdicts the lab compared with their rules, over how many runs: for the closing note. */
export const tally = { verdicts: 0, runs: 0 };

/**
 * A check not tested because of what the run was not given (a target, an optional role's node, a
 * node's address on another network): it says nothing of the rules, so verdict tests set it apart.
 */
export const notAsked = (check: { status: string; reason: string }): boolean =>
  check.status === 'not-tested' && ['no-target', 'no-node', 'no-address'].includes(check.reason);

/** `ip saddr A ip daddr B MATCH ACTION` for a rule between two hosts. */
export const between = (from: LabHost, to: LabHost, match: string, action: string) =>
  `ip saddr ${from.address} ip daddr ${to.address} ${match} ${action}`;

/** Runs preflight between nodes a and b of the lab; every check of the JSON report by key. */
export async function runPreflight(lab: Lab, args: string[], timeout?: number) {
  const [a, b] = lab.nodes as [LabHost, LabHost];
  const json = path.join(scratch, `run-${++tally.runs}.json`);
  const result = await lab.runController([
    'run', ...args, '--node', `a=${a.address}`, '--node', `b=${b.address}`, '--token', TOKEN, '--json', json,
    ...(timeout ? ['--timeout', String(timeout)] : []),
  ]);
  const report = JSON.parse(readFileSync(json, 'utf8')) as { checks: JsonCheck[] };
  return { checks: new Map(report.checks.map((check) => [check.key, check])), code: result.code, ms: result.ms };
}

/**
 * Places the rules, runs, and compares every check of the report with what the rules call for:
 * `blocked` lists the checks the rules block and how; every other check must be open.
 */
export async function expectVerdicts(
  lab: Lab,
  rules: Rule[],
  blocked: Record<string, string>,
  { timeout = 1500, args = PORTS }: { timeout?: number; args?: string[] } = {},
) {
  for (const rule of rules) await lab.addRules(rule.chain, rule.text, rule.host);
  const { checks, code } = await runPreflight(lab, args, timeout);
  const seen = Object.fromEntries([...checks].map(([id, check]) => [id, `${check.status}/${check.reason}`]));
  const expected = Object.fromEntries([...checks.keys()].map((id) => [id, blocked[id] ?? 'open/verified']));
  expect(seen).toEqual(expected);
  for (const id of Object.keys(blocked)) expect(checks.has(id)).toBe(true);
  tally.verdicts += checks.size;
  expect(code).toBe(Object.values(blocked).some((verdict) => verdict.startsWith('blocked')) ? 1 : 0);
  return checks;
}

/** A mix of drops and rejects, both protocols, both directions, and what each must read as. */
export function mixedRules(a: LabHost, b: LabHost): [Rule[], Record<string, string>] {
  return [
    [
      { chain: 'forward', text: between(a, b, 'tcp dport 29001', 'drop') },
      { chain: 'forward', text: between(b, a, 'udp dport 29002', 'drop') },
      { chain: 'forward', text: between(a, b, 'tcp dport 29003', 'reject with tcp reset') },
      { chain: 'forward', text: between(b, a, 'udp dport 29004', 'reject with icmpx type port-unreachable') },
      { chain: 'forward', text: between(b, a, 'icmp type echo-request', 'drop') },
    ],
    {
      'a->b/tcp/29001': 'blocked/filtered',
      'b->a/udp/29002': 'blocked/filtered',
      'a->b/tcp/29003': 'blocked/rejected',
      'b->a/udp/29004': 'blocked/rejected',
      'b->a/icmp': 'blocked/filtered',
    },
  ];
}
