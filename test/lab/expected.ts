import type { PlannedCheck } from '@preflight/controller';

/**
 * What the lab expects of one check of a report: its `status/reason`, and whether the lab's rules
 * decide it (`fromRules`), as opposed to what the run was not given (a target, an optional role's
 * node, a node's address on another network), which the rules cannot change.
 */
export type Expected = { verdict: string; fromRules: boolean };

/** What a rule does to a check, by key: `blocked/filtered`, `blocked/rejected`, `unverified/port-in-use`. */
export type Blocked = Readonly<Record<string, string>>;

/** The part of a report's check the lab compares. */
export type SeenCheck = { status: string; reason: string };

/**
 * Every key an ad-hoc run (`--ports SPEC ...` between the named nodes) must report: each port of
 * each spec (`tcp:29001-29004`, `udp:53`, `icmp`), between every ordered pair of distinct nodes.
 * A plain enumeration, apart from the controller's planner, so a check the planner or the report
 * loses is missed.
 */
export function adHocKeys(specs: readonly string[], names: readonly string[]): string[] {
  const keys: string[] = [];
  for (const spec of specs) {
    const [protocol, list] = spec.split(':') as [string, string | undefined];
    const ports = (list ?? '').split(',').filter(Boolean).flatMap((item) => {
      const [low, high = low] = item.split('-').map(Number) as [number, number?];
      return Array.from({ length: high - low + 1 }, (_, i) => low + i);
    });
    for (const from of names) {
      for (const to of names) {
        if (from === to) continue;
        if (protocol === 'icmp') keys.push(`${from}->${to}/icmp`);
        else for (const port of ports) keys.push(`${from}->${to}/${protocol}/${port}`);
      }
    }
  }
  return keys;
}

/** An ad-hoc run between agents: `blocked[key]` where a rule blocks it, open and verified elsewhere. */
export function expectAdHoc(specs: readonly string[], names: readonly string[], blocked: Blocked = {}): Map<string, Expected> {
  const expected = new Map(adHocKeys(specs, names).map((key) => [key, { verdict: blocked[key] ?? 'open/verified', fromRules: true }]));
  refuseUnknown(blocked, expected);
  return expected;
}

/** UDP ports a target that runs no agent can be asked about: DNS and NTP. */
const QUERIED_UDP_PORTS = [53, 123];

/**
 * What every planned check of a profile run (the controller's `planChecks` of the profile and the
 * nodes the run was given) must read as: not tested where the run was not given what it needs,
 * for that reason, whatever the rules (an optional role with no node, a network a node has no
 * address on, a target not named with `--target`, a UDP port of a target no query is known for);
 * otherwise `blocked[key]` where a rule blocks it, else open: verified by an agent's listener,
 * answered by a target.
 */
export function expectFromPlan(checks: readonly PlannedCheck[], { targets = [], blocked = {} }: { targets?: readonly string[]; blocked?: Blocked } = {}): Map<string, Expected> {
  const expected = new Map<string, Expected>();
  for (const check of checks) {
    const external = check.target === 'external';
    const notAsked = check.absentRole
      ? 'no-node'
      : check.address === null
        ? 'no-address'
        : external && !targets.includes(check.to)
          ? 'no-target'
          : external && check.protocol === 'udp' && !QUERIED_UDP_PORTS.includes(check.port!)
            ? 'no-query'
            : null;
    expected.set(
      check.key,
      notAsked
        ? { verdict: `not-tested/${notAsked}`, fromRules: false }
        : { verdict: blocked[check.key] ?? (external ? 'open/answered' : 'open/verified'), fromRules: true },
    );
  }
  refuseUnknown(blocked, expected);
  for (const key of Object.keys(blocked)) {
    if (!expected.get(key)!.fromRules) throw new Error(`lab: ${key} is not tested in this run, so no rule can block it`);
  }
  return expected;
}

/** A rule for a check the run does not have is a mistake in the test, not a verdict. */
function refuseUnknown(blocked: Blocked, expected: Map<string, Expected>): void {
  const unknown = Object.keys(blocked).filter((key) => !expected.has(key));
  if (unknown.length > 0) throw new Error(`lab: the run has no check ${unknown.join(', ')}`);
}

/**
 * Compares a report's checks with what the rules call for: the report must have exactly the
 * expected keys (none missing, none extra), each with the expected `status/reason`. Returns how
 * many of them the rules decide, for the lab's tally.
 */
export function compareWithRules(seen: ReadonlyMap<string, SeenCheck>, expected: ReadonlyMap<string, Expected>): number {
  const missing = [...expected.keys()].filter((key) => !seen.has(key));
  const extra = [...seen.keys()].filter((key) => !expected.has(key));
  expect({ missing, extra }).toEqual({ missing: [], extra: [] });
  const wrong = [...expected]
    .map(([key, { verdict }]) => ({ key, verdict, got: `${seen.get(key)!.status}/${seen.get(key)!.reason}` }))
    .filter(({ verdict, got }) => verdict !== got)
    .map(({ key, verdict, got }) => `${key}: ${got}, where the rules call for ${verdict}`);
  expect(wrong).toEqual([]);
  return [...expected.values()].filter((each) => each.fromRules).length;
}
