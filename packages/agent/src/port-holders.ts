import { execFile } from 'node:child_process';
import type { Transport } from '@preflight/protocol';

/** Longest the agent waits for the OS to say who holds a port: it is a courtesy, not a need. */
const HOLDER_LOOKUP_TIMEOUT_MS = 3000;

/**
 * Who holds each of these ports, keyed `tcp/1801`, as far as the OS will say (`ss` on Linux,
 * `netstat` on Windows). Ports it cannot tell about are simply absent.
 */
export async function findPortHolders(
  ports: readonly { protocol: Transport; port: number }[],
): Promise<Map<string, string>> {
  const wanted = new Set(ports.map(({ protocol, port }) => `${protocol}/${port}`));
  const table = process.platform === 'win32' ? await netstatTable() : await ssTable();
  return new Map([...table].filter(([id]) => wanted.has(id)));
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: HOLDER_LOOKUP_TIMEOUT_MS, windowsHide: true }, (error, stdout) =>
      resolve(error ? '' : stdout),
    );
  });
}

/** Parses `ss -H -lntup`: `tcp LISTEN 0 4096 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))`. */
export function parseSs(output: string): Map<string, string> {
  const holders = new Map<string, string>();
  for (const line of output.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const [netid, , , , local] = fields;
    const port = local?.slice(local.lastIndexOf(':') + 1);
    if ((netid !== 'tcp' && netid !== 'udp') || !port || !/^\d+$/.test(port)) continue;
    const users = line.match(/users:\(\("([^"]+)",pid=(\d+)/);
    holders.set(`${netid}/${port}`, users ? `${users[1]} (pid ${users[2]})` : 'another program');
  }
  return holders;
}

const ssTable = async () => parseSs(await run('ss', ['-H', '-lntup']));

/** Parses `netstat -ano`: `  TCP    0.0.0.0:135    0.0.0.0:0    LISTENING    1044`. */
export function parseNetstat(output: string): Map<string, string> {
  const holders = new Map<string, string>();
  for (const line of output.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const proto = fields[0]?.toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp') continue;
    if (proto === 'tcp' && fields[3] !== 'LISTENING') continue;
    const local = fields[1] ?? '';
    const port = local.slice(local.lastIndexOf(':') + 1);
    const pid = fields[fields.length - 1];
    if (/^\d+$/.test(port)) holders.set(`${proto}/${port}`, `pid ${pid}`);
  }
  return holders;
}

const netstatTable = async () => parseNetstat(await run('netstat', ['-ano']));
