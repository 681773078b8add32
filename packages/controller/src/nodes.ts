import { DEFAULT_CONTROL_PORT } from '@preflight/protocol';
import { UsageError } from './errors.js';

/** A server that runs an agent: its name in the report, its profile role, its control address. */
export type AgentNode = { name: string; role: string; host: string; port: number };

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

/** Reads `--node ROLE=HOST[:PORT]`; the port is the agent's control port. */
export function parseNode(text: string): AgentNode {
  const { role, host, port } = parseEndpoint('--node', text, 'primary=10.1.1.11');
  return { name: role, role, host, port: port ?? DEFAULT_CONTROL_PORT };
}

/** Reads `--target ROLE=HOST[:PORT]`; a port replaces the requirement's (a SQL server on 1533). */
export const parseTarget = (text: string): Target => parseEndpoint('--target', text, 'dns-server=10.1.1.2');

/** The address to show an engineer for a node's agent. */
export const agentAddress = (node: Pick<AgentNode, 'host' | 'port'>): string =>
  node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
