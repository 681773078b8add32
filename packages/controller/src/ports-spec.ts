import { UsageError } from './errors.js';
import { PROFILE_FORMAT, type Profile } from './profile/schema.js';

/** The one role of an ad-hoc check: every node is a peer of every other. */
export const PEER_ROLE = 'peer';

/**
 * Turns `--ports tcp:1801,3725,29001-29007 --ports udp:1801,3527 --ports icmp` into a profile that checks
 * those ports in both directions between every pair of nodes.
 */
export function profileFromPortSpecs(specs: readonly string[]): Profile {
  const requirements = specs.map((spec, index): Profile['requirements'][number] => {
    if (spec.toLowerCase() === 'icmp') {
      return { id: `icmp-${index + 1}`, protocol: 'icmp', from: PEER_ROLE, to: PEER_ROLE, direction: 'both', purpose: 'ICMP echo', required: true, expect: 'open', source: 'command line (--ports)' };
    }
    const match = spec.match(/^(tcp|udp):(\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)$/i);
    if (!match) {
      throw new UsageError(`--ports "${spec}": write PROTOCOL:PORTS, e.g. tcp:1801,3725,29001-29007 or udp:3527, or icmp`);
    }
    const protocol = match[1]!.toLowerCase() as 'tcp' | 'udp';
    const ports = match[2]!.split(',').map((item) => (item.includes('-') ? item : Number(item)));
    for (const item of ports) {
      const [low, high] = String(item).split('-').map(Number) as [number, number?];
      if (low < 1 || (high ?? low) > 65535 || (high !== undefined && high < low)) {
        throw new UsageError(`--ports "${spec}": "${item}" is not a port or range within 1-65535`);
      }
    }
    return {
      id: `${protocol}-${index + 1}`,
      protocol,
      ports,
      from: PEER_ROLE,
      to: PEER_ROLE,
      direction: 'both',
      purpose: `${protocol.toUpperCase()} ${match[2]}`,
      required: true,
      expect: 'open',
      source: 'command line (--ports)',
    };
  });
  return {
    format: PROFILE_FORMAT,
    name: 'ad-hoc',
    title: 'Ports given on the command line',
    version: '0',
    roles: { [PEER_ROLE]: { description: 'every node given with --node', kind: 'agent', optional: false } },
    requirements,
  };
}
