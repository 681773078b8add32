import { DEFAULT_CONTROL_PORT } from '@preflight/protocol';
import { UsageError } from './errors.js';

/**
 * A server that runs an agent: its name in the report, its profile role, its control address
 * (also its address on the profile's first network), and its addresses on the profile's other
 * networks (a cluster's interconnect), by network.
 */
export type AgentNode = { name: string; role: string; host: string; port: number; addresses?: Readonly<Record<string, string>> };

/** A server that runs no agent (DNS, NTP, SQL), named for a profile's external role. */
export type Target = { role: string; host: string; port?: number };

/** Reads `ROLE=HOST[:PORT]` (IPv6 as `[ADDR]:PORT`) for the option `flag`. */
function parseEndpoint(flag: string, text: string, example: string): { role: string; host: string; port?: number } {
  const match = text.match(/^([A-Za-z][\w-]*)=(?:\[([^\]]+)\]|([^:\s]+))(?::(\d+))?$/);
  if (!match) throw new UsageError(`${flag} "${text}": write ROLE=HOST or ROLE=HOST:PORT, e.g. ${flag} ${example}`);
  const [, role, ipv6, host, portText] = match;
  const port = portText === undefined ? undefined : Number(portText);
  if (port !== undefined && (port < 1 || port > 65535)) throw new UsageError(`${flag} "${text}": the port must be 1-65535`);
  return { role: role!, host: (ipv6 ?? host)!, ...(port === undefined ? {} : { port }) };
}

/** One `--node`: an agent (`ROLE=HOST[:PORT]`), or another address of one (`ROLE@NETWORK=HOST`). */
export type NodeArgument =
  | { kind: 'node'; node: AgentNode }
  | { kind: 'address'; name: string; network: string; host: string };

/** Reads `--node ROLE=HOST[:PORT]` (the port is the agent's control port) or `--node ROLE@NETWORK=HOST`. */
export function parseNode(text: string): NodeArgument {
  const extra = text.match(/^([A-Za-z][\w-]*)@([a-z][a-z0-9-]*)=(.*)$/);
  if (extra) {
    const [, name, network, rest] = extra as unknown as [string, string, string, string];
    const { host, port } = parseEndpoint('--node', `${name}=${rest}`, `${name}@${network}=192.168.10.11`);
    if (port !== undefined) throw new UsageError(`--node "${text}": an address on another network takes no port (the agent is reached on --node ${name}=HOST:PORT)`);
    return { kind: 'address', name, network, host };
  }
  const { role, host, port } = parseEndpoint('--node', text, 'primary=10.1.1.11');
  return { kind: 'node', node: { name: role, role, host, port: port ?? DEFAULT_CONTROL_PORT } };
}

/** Joins each `--node ROLE@NETWORK=HOST` to its node; throws a UsageError for a node not given. */
export function assembleNodes(args: readonly NodeArgument[]): AgentNode[] {
  const nodes = args.flatMap((arg) => (arg.kind === 'node' ? [{ ...arg.node }] : []));
  for (const arg of args) {
    if (arg.kind !== 'address') continue;
    const node = nodes.find((each) => each.name === arg.name);
    if (!node) throw new UsageError(`--node ${arg.name}@${arg.network}=${arg.host}: give the node itself too, with --node ${arg.name}=HOST`);
    if (node.addresses?.[arg.network]) throw new UsageError(`--node ${arg.name}@${arg.network} is given twice`);
    node.addresses = { ...node.addresses, [arg.network]: arg.host };
  }
  return nodes;
}

/** Reads `--target ROLE=HOST[:PORT]`; a port replaces the requirement's (a SQL server on 1533). */
export const parseTarget = (text: string): Target => parseEndpoint('--target', text, 'dns-server=10.1.1.2');

/** The address to show an engineer for a node's agent. */
export const agentAddress = (node: Pick<AgentNode, 'host' | 'port'>): string =>
  node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
