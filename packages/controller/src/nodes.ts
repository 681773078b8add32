import { DEFAULT_CONTROL_PORT } from '@preflight/protocol';
import { UsageError } from './errors.js';

/** A server that runs an agent: its name in the report, its profile role, its control address. */
export type AgentNode = { name: string; role: string; host: string; port: number };

/** Reads `--node NAME=HOST[:PORT]` (IPv6 as `[ADDR]:PORT`). */
export function parseNode(text: string): AgentNode {
  const match = text.match(/^([A-Za-z][\w-]*)=(?:\[([^\]]+)\]|([^:\s]+))(?::(\d+))?$/);
  if (!match) {
    throw new UsageError(`--node "${text}": write ROLE=HOST or ROLE=HOST:PORT, e.g. --node primary=10.1.1.11`);
  }
  const [, name, ipv6, host, portText] = match;
  const port = portText === undefined ? DEFAULT_CONTROL_PORT : Number(portText);
  if (port < 1 || port > 65535) throw new UsageError(`--node "${text}": the port must be 1-65535`);
  return { name: name!, role: name!, host: (ipv6 ?? host)!, port };
}

/** The address to show an engineer for a node's agent. */
export const agentAddress = (node: Pick<AgentNode, 'host' | 'port'>): string =>
  node.host.includes(':') ? `[${node.host}]:${node.port}` : `${node.host}:${node.port}`;
