import type { ListenSpec, ProbeMethod, Transport } from '@preflight/protocol';
import { UsageError } from './errors.js';
import type { AgentNode } from './nodes.js';
import { expandPorts, legsOf, rolesOf } from './profile/paths.js';
import { networksOf, primaryNetwork, type Profile, type Requirement } from './profile/schema.js';

export { expandPorts } from './profile/paths.js';

export type Protocol = Requirement['protocol'];

/**
 * One thing to find out: can `from` reach `to` on this protocol and port. `to` is a node's name,
 * or an external role's name where the target is not an agent.
 */
export type PlannedCheck = {
  /** `from->to/protocol/port` (`from->to/icmp` for ICMP): stable across runs. */
  key: string;
  requirement: string;
  protocol: Protocol;
  /** null for ICMP. */
  port: number | null;
  from: string;
  to: string;
  fromRole: string;
  toRole: string;
  purpose: string;
  required: boolean;
  expect: 'open' | 'closed';
  /** `agent`: a listener on `to` and a probe from `from`; `external`: `to` runs no agent. */
  target: 'agent' | 'external';
  /** How the probe checks the path; null where no query is known for a target's UDP port. */
  method: ProbeMethod | null;
  /** The profile's network the path is checked on; null where the profile declares none. */
  network: string | null;
  /**
   * The receiving agent's address on that network: absent where it is the node's own address or
   * `to` runs no agent; null where the node was given none there (the check is then not tested).
   */
  address?: string | null;
  /** An optional role given no node: the check stands in for its paths and is not tested. */
  absentRole?: string;
};

/**
 * How to check a path. To an agent: its listener's handshake (ICMP: echo). To a target that runs
 * no agent, the way the service's own clients would: DNS and NTP with a real query; any other TCP
 * port with a connection. Other UDP ports have no query we could expect an answer to: null.
 */
export function probeMethod(external: boolean, protocol: Protocol, port: number | null): ProbeMethod | null {
  if (protocol === 'icmp') return 'echo';
  if (!external) return 'handshake';
  if (port === 53) return 'dns';
  if (protocol === 'udp') return port === 123 ? 'ntp' : null;
  return 'connect';
}

/** Every check, and the listeners each node must open for them (one per port, for both directions). */
export type Plan = {
  checks: PlannedCheck[];
  listeners: Map<string, ListenSpec[]>;
};

/**
 * `from->to/protocol/port`, with `@network` for a path on any network but the profile's first, so
 * the keys of a profile without networks never change.
 */
export const checkKey = (from: string, to: string, protocol: Protocol, port: number | null, network?: string): string =>
  (protocol === 'icmp' ? `${from}->${to}/icmp` : `${from}->${to}/${protocol}/${port}`) + (network ? `@${network}` : '');

/** The roles any requirement names, at either end. */
export const rolesUsed = (profile: Profile): Set<string> =>
  new Set(profile.requirements.flatMap((req) => [...rolesOf(req.from), ...rolesOf(req.to)]));

/**
 * Every node a profile role needs must be given, and no node may claim a role the profile lacks.
 * Throws a UsageError that says which --node to add or fix.
 */
export function checkNodesAgainstProfile(profile: Profile, nodes: readonly AgentNode[]): void {
  const names = new Set<string>();
  for (const node of nodes) {
    if (names.has(node.name)) throw new UsageError(`--node ${node.name} is given twice: each node needs its own name`);
    names.add(node.name);
    const role = profile.roles[node.role];
    if (!role || role.kind !== 'agent') {
      const agentRoles = Object.entries(profile.roles).filter(([, r]) => r.kind === 'agent').map(([name]) => name);
      throw new UsageError(`--node ${node.name}: profile ${profile.name} has no agent role "${node.role}" (its roles: ${agentRoles.join(', ')})`);
    }
  }
  const others = Object.keys(profile.networks ?? {}).slice(1);
  for (const node of nodes) {
    for (const network of Object.keys(node.addresses ?? {})) {
      if (others.includes(network)) continue;
      const why =
        network === primaryNetwork(profile)
          ? `${network} is the network --node ${node.name}=HOST already names`
          : others.length > 0
            ? `profile ${profile.name} has no network "${network}" (its other networks: ${others.join(', ')})`
            : `profile ${profile.name} declares no other networks`;
      throw new UsageError(`--node ${node.name}@${network}: ${why}`);
    }
  }
  const used = rolesUsed(profile);
  const missing = Object.entries(profile.roles)
    .filter(([name, role]) => role.kind === 'agent' && !role.optional && used.has(name) && !nodes.some((node) => node.role === name))
    .map(([name]) => name);
  if (missing.length > 0) {
    throw new UsageError(
      `profile ${profile.name} needs a node for ${missing.map((role) => `${role} (--node ${role}=HOST)`).join(' and ')}`,
    );
  }
}

/** A node at one end of a path; `absent` for an optional role's stand-in. */
type Endpoint = { name: string; role: string; addresses?: AgentNode['addresses']; absent?: boolean };

/**
 * Plans every check of a profile over the given nodes: for each requirement, each ordered pair of
 * distinct nodes its roles and direction call for. Pure: no sockets, no clocks.
 */
export function planChecks(profile: Profile, nodes: readonly AgentNode[]): Plan {
  const checks = new Map<string, PlannedCheck>();
  const listeners = new Map<string, Map<string, ListenSpec>>();
  const first = primaryNetwork(profile);
  // An optional role with no node still gets its checks, as stand-ins reported not tested.
  const nodesOf = (role: string): Endpoint[] => {
    const given = nodes.filter((node) => node.role === role);
    return given.length === 0 && profile.roles[role]?.optional ? [{ name: role, role, absent: true }] : given;
  };

  for (const req of profile.requirements) {
    const ports: (number | null)[] = req.protocol === 'icmp' ? [null] : expandPorts(req.ports);
    const legs = legsOf(req);

    for (const [[fromRole, toRole], network] of legs.flatMap((leg) => networksOf(profile, req).map((net) => [leg, net] as const))) {
      const external = profile.roles[toRole]?.kind === 'external';
      const senders = nodesOf(fromRole);
      const receivers: Endpoint[] = external ? [{ name: toRole, role: toRole }] : nodesOf(toRole);
      for (const sender of senders) {
        for (const receiver of receivers) {
          if (sender.name === receiver.name) continue;
          const absentRole = sender.absent ? sender.role : receiver.absent ? receiver.role : undefined;
          const address = external || receiver.absent || network === first ? undefined : (receiver.addresses?.[network!] ?? null);
          for (const port of ports) {
            const key = checkKey(sender.name, receiver.name, req.protocol, port, network === first ? undefined : network!);
            const earlier = checks.get(key);
            if (earlier) {
              // A port two requirements share is probed once, under the first, and is required
              // if either requires it. They agree on `expect`: the schema refuses a profile whose
              // requirements disagree on a path they share (checkSharedPaths).
              earlier.required ||= req.required;
              if (!earlier.purpose.includes(req.purpose)) earlier.purpose += `; ${req.purpose}`;
              continue;
            }
            checks.set(key, {
              key,
              requirement: req.id,
              protocol: req.protocol,
              port,
              from: sender.name,
              to: receiver.name,
              fromRole,
              toRole,
              purpose: req.purpose,
              required: req.required,
              expect: req.expect,
              target: external ? 'external' : 'agent',
              method: probeMethod(external, req.protocol, port),
              network,
              ...(address === undefined ? {} : { address }),
              ...(absentRole ? { absentRole } : {}),
            });
            if (!external && !absentRole && address !== null && port !== null && req.protocol !== 'icmp') {
              const specs = listeners.get(receiver.name) ?? new Map<string, ListenSpec>();
              specs.set(`${req.protocol}/${port}`, { protocol: req.protocol as Transport, port });
              listeners.set(receiver.name, specs);
            }
          }
        }
      }
    }
  }
  return { checks: [...checks.values()], listeners: new Map([...listeners].map(([node, specs]) => [node, [...specs.values()]])) };
}
