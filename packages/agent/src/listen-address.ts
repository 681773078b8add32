import { DEFAULT_CONTROL_PORT } from '@preflight/protocol';

/** Where the agent's control server listens; its temporary listeners bind to the same host. */
export type ListenAddress = { host: string; port: number };

/**
 * Reads `HOST:PORT`, `HOST`, `:PORT`, `PORT` or `[IPv6]:PORT`. Returns an error sentence rather
 * than throwing, so the command line can say what to type instead.
 */
export function parseListenAddress(text: string): ListenAddress | { error: string } {
  const bracketed = text.match(/^\[([^\]]+)\](?::(\d+))?$/);
  const [host, portText] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : /^\d+$/.test(text)
      ? ['', text]
      : text.split(':').length === 2
        ? (text.split(':') as [string, string])
        : [text, undefined];
  const port = portText === undefined ? DEFAULT_CONTROL_PORT : Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return { error: `"${text}" has no valid port: write HOST:PORT, e.g. 0.0.0.0:${DEFAULT_CONTROL_PORT}` };
  }
  return { host: host || '0.0.0.0', port };
}
