/**
 * The paths a requirement names, by role: which (from, to) pairs, which ports. Shared by the
 * schema (which refuses two requirements that disagree on one path) and the planner (which turns
 * the roles into nodes), so both read a requirement the same way.
 */

type Ends = { from: string | string[]; to: string | string[]; direction: 'both' | 'one-way' };
type Ports = (number | string)[] | undefined;

/** The roles a requirement's `from` or `to` names, as a list. */
export const rolesOf = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]);

/**
 * Every ordered (from, to) pair of roles a requirement checks: each `from` to each `to`, and back
 * where `direction: both` (a role to itself once: its nodes pair with each other either way).
 */
export function legsOf(req: Ends): [string, string][] {
  const legs: [string, string][] = [];
  for (const from of rolesOf(req.from)) {
    for (const to of rolesOf(req.to)) {
      legs.push([from, to]);
      if (req.direction === 'both' && from !== to) legs.push([to, from]);
    }
  }
  return legs;
}

/** Expands `[1801, "29001-29003"]` to every port, in order, without repeats. */
export function expandPorts(ports: Ports): number[] {
  const all = new Set<number>();
  for (const item of ports ?? []) {
    if (typeof item === 'number') all.add(item);
    else {
      const [low, high] = item.split('-').map(Number) as [number, number];
      for (let port = low; port <= high; port++) all.add(port);
    }
  }
  return [...all];
}

/** A requirement as far as its paths go. */
type Paths = Ends & { protocol: string; ports?: Ports };

/** One path two requirements both check: the planner probes it once, under the first. */
export type SharedPath = { from: string; to: string; port: number | null; network: string | null };

/**
 * The first path two requirements both check (same protocol, leg, port and network), or null.
 * `networks` are each requirement's networks as the profile resolves them (null: none declared).
 */
export function sharedPath(a: Paths, aNetworks: (string | null)[], b: Paths, bNetworks: (string | null)[]): SharedPath | null {
  if (a.protocol !== b.protocol) return null;
  const network = aNetworks.find((each) => bNetworks.includes(each));
  if (network === undefined) return null;
  const theirLegs = new Set(legsOf(b).map(([from, to]) => `${from} ${to}`));
  const leg = legsOf(a).find(([from, to]) => theirLegs.has(`${from} ${to}`));
  if (!leg) return null;
  if (a.protocol === 'icmp') return { from: leg[0], to: leg[1], port: null, network };
  const theirPorts = new Set(expandPorts(b.ports));
  const port = expandPorts(a.ports).find((each) => theirPorts.has(each));
  return port === undefined ? null : { from: leg[0], to: leg[1], port, network };
}
