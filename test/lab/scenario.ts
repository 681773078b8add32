import { readFileSync } from 'node:fs';
import { loadProfile, planChecks, type AgentNode } from '@preflight/controller';
import type { Chain, Lab, LabHost } from './netlab.js';
import { compareWithRules, expectAdHoc, type Blocked, type Expected, type SeenCheck } from './expected.js';
import { countRun } from './tally.js';

/** Everything a lab scenario needs: the lab, its token, and two nodes named a and b. */
export const TOKEN = 'lab-token';
/** The ports most scenarios check between nodes a and b, both ways. */
export const PORT_SPECS = ['tcp:29001-29004', 'udp:29001-29004', 'icmp'];
/** The `--ports` arguments that give a run these port specs. */
export const portArgs = (specs: readonly string[]): string[] => specs.flatMap((spec) => ['--ports', spec]);
export const PORTS = portArgs(PORT_SPECS);

export type JsonCheck = SeenCheck & { key: string; from: string; to: string; evidence?: string; detail: string; network?: string; verdict?: string };
export type Rule = { chain: Chain; host?: LabHost; text: string };

/** `ip saddr A ip daddr B MATCH ACTION` for a rule between two hosts. */
export const between = (from: LabHost, to: LabHost, match: string, action: string) =>
  `ip saddr ${from.address} ip daddr ${to.address} ${match} ${action}`;

/** A lab host as a node of a run, under a role's name; with `interconnect`, its address there too. */
export const agentNode = (name: string, host: LabHost, { interconnect = false } = {}): AgentNode => ({
  name,
  role: name,
  host: host.address,
  port: 7890,
  ...(interconnect && host.interconnect ? { addresses: { interconnect: host.interconnect.address } } : {}),
});

/** The `--node` arguments that give a run these nodes. */
export const nodeArgs = (nodes: readonly AgentNode[]): string[] =>
  nodes.flatMap((node) => [
    '--node', `${node.name}=${node.host}`,
    ...Object.entries(node.addresses ?? {}).flatMap(([network, host]) => ['--node', `${node.name}@${network}=${host}`]),
  ]);

/** Every check the controller plans for a profile (a name or a file) over these nodes. */
export const planOf = (profile: string, nodes: readonly AgentNode[]) => planChecks(loadProfile(profile), nodes).checks;

let runs = 0;

/** Runs `preflight ARGS --json FILE` in the lab; the JSON report (and its file), its checks by key. */
export async function runReport<Extra extends object = object>(lab: Lab, args: string[]) {
  const json = lab.file(`run-${++runs}.json`);
  const result = await lab.runController([...args, '--json', json]);
  const report = JSON.parse(readFileSync(json, 'utf8')) as { checks: JsonCheck[] } & Extra;
  return { ...result, json, report, checks: new Map(report.checks.map((check) => [check.key, check])) };
}

/** Runs preflight between nodes a and b of the lab; every check of the JSON report by key. */
export async function runPreflight(lab: Lab, args: string[], timeout?: number) {
  const [a, b] = lab.nodes as [LabHost, LabHost];
  return runReport(lab, [
    'run', ...args, ...nodeArgs([agentNode('a', a), agentNode('b', b)]), '--token', TOKEN,
    ...(timeout ? ['--timeout', String(timeout)] : []),
  ]);
}

/**
 * Compares a run's checks with what the rules call for (exactly the expected keys, each with its
 * status and reason), and counts the verdicts the rules decide for the closing note.
 */
export function expectRules(checks: ReadonlyMap<string, SeenCheck>, expected: ReadonlyMap<string, Expected>, { lossPercent }: { lossPercent?: number } = {}): void {
  countRun(compareWithRules(checks, expected), { lossPercent });
}

/**
 * Places the rules, runs `--ports` between nodes a and b, and compares every check of the report
 * with what the rules call for: `blocked` lists the checks the rules block and how; every other
 * check of the ports must be there and open.
 */
export async function expectVerdicts(
  lab: Lab,
  rules: Rule[],
  blocked: Blocked,
  { timeout = 1500, specs = PORT_SPECS, lossPercent }: { timeout?: number; specs?: string[]; lossPercent?: number } = {},
) {
  for (const rule of rules) await lab.addRules(rule.chain, rule.text, rule.host);
  const { checks, code } = await runPreflight(lab, portArgs(specs), timeout);
  expectRules(checks, expectAdHoc(specs, ['a', 'b'], blocked), { lossPercent });
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
