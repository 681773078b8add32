import { execFile } from 'node:child_process';
import type { Transport } from '@preflight/protocol';

/** Longest the agent waits for the OS to say who holds a port: it is a courtesy, not a need. */
const HOLDER_LOOKUP_TIMEOUT_MS = 3000;

/** A listening socket as the OS lists it. */
export type SocketEntry = { protocol: Transport; address: string; port: number; holder: string; pid?: number };

const WILDCARDS = new Set(['0.0.0.0', '::', '*', '[::]', '']);

/** Whether a socket bound to `theirs` keeps us from binding `ours` on the same port. */
const overlaps = (ours: string, theirs: string) => ours === theirs || WILDCARDS.has(ours) || WILDCARDS.has(theirs);

/**
 * Who holds each of these ports on `host`, keyed `tcp/1801`, as far as the OS will say (`ss` on
 * Linux, `netstat` on Windows). This process's own sockets are left out; ports the OS says
 * nothing about are absent.
 */
export async function findPortHolders(
  host: string,
  ports: readonly { protocol: Transport; port: number }[],
): Promise<Map<string, string>> {
  const wanted = new Set(ports.map(({ protocol, port }) => `${protocol}/${port}`));
  const entries = process.platform === 'win32' ? parseNetstat(await run('netstat', ['-ano'])) : parseSs(await run('ss', ['-H', '-lntup']));
  const holders = new Map<string, string>();
  for (const entry of entries) {
    const id = `${entry.protocol}/${entry.port}`;
    if (wanted.has(id) && entry.pid !== process.pid && overlaps(host, entry.address)) holders.set(id, entry.holder);
  }
  return holders;
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: HOLDER_LOOKUP_TIMEOUT_MS, windowsHide: true }, (error, stdout) =>
      resolve(error ? '' : stdout),
    );
  });
}

/** Splits `addr:port`, `[v6]:port` or `*:port`, dropping a `%iface` scope. */
function splitEndpoint(endpoint: string): { address: string; port: number } | null {
  const colon = endpoint.lastIndexOf(':');
  const port = Number(endpoint.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port)) return null;
  const address = endpoint.slice(0, colon).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  return { address, port };
}

/** Reads `ss -H -lntup`: `tcp LISTEN 0 4096 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))`. */
export function parseSs(output: string): SocketEntry[] {
  return output.split('\n').flatMap((line): SocketEntry[] => {
    const [netid, , , , local] = line.trim().split(/\s+/);
    const endpoint = local ? splitEndpoint(local) : null;
    if ((netid !== 'tcp' && netid !== 'udp') || !endpoint) return [];
    const users = line.match(/users:\(\("([^"]+)",pid=(\d+)/);
    return [
      users
        ? { protocol: netid, ...endpoint, holder: `${users[1]} (pid ${users[2]})`, pid: Number(users[2]) }
        : { protocol: netid, ...endpoint, holder: 'another program' },
    ];
  });
}

/** Reads `netstat -ano`: `  TCP    0.0.0.0:135    0.0.0.0:0    LISTENING    1044`. */
export function parseNetstat(output: string): SocketEntry[] {
  return output.split('\n').flatMap((line): SocketEntry[] => {
    const fields = line.trim().split(/\s+/);
    const protocol = fields[0]?.toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') return [];
    if (protocol === 'tcp' && fields[3] !== 'LISTENING') return [];
    const endpoint = splitEndpoint(fields[1] ?? '');
    const pid = Number(fields[fields.length - 1]);
    if (!endpoint || !Number.isInteger(pid)) return [];
    return [{ protocol, ...endpoint, holder: `pid ${pid}`, pid }];
  });
}
