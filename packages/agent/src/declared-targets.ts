import { lookup as dnsLookup } from 'node:dns/promises';
import net from 'node:net';

/**
 * How long `begin` waits for the run's host names to resolve. The names are few (a DNS or time
 * server, a SQL server given by name); one that has not resolved by then is left unresolved.
 */
const RESOLVE_DEADLINE_MS = 5000;

/** Addresses kept for one name: enough for a dual-stack host with a few of each. */
const MAX_ADDRESSES_PER_NAME = 8;

/**
 * The hosts a run declared when it began, each pinned to the addresses it had then: an IP
 * literal to itself, a name to what it resolved to (empty when it did not). A probe goes to a
 * pinned address, never to what the name resolves to later, so a name whose DNS answers change
 * during the run cannot lead the agent to hosts the run did not declare.
 */
export type DeclaredTargets = ReadonlyMap<string, readonly string[]>;

export type Lookup = (name: string) => Promise<readonly { address: string }[]>;

const systemLookup: Lookup = (name) => dnsLookup(name, { all: true });

/** Resolves each declared name once; never rejects (a name that fails resolves to nothing). */
export async function resolveDeclared(hosts: readonly string[], lookup: Lookup = systemLookup, deadlineMs = RESOLVE_DEADLINE_MS): Promise<DeclaredTargets> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<readonly { address: string }[]>((resolve) => {
    timer = setTimeout(() => resolve([]), deadlineMs);
  });
  try {
    const entries = await Promise.all(
      [...new Set(hosts)].map(async (host): Promise<[string, string[]]> => {
        if (net.isIP(host) !== 0) return [host, [host]];
        const found = await Promise.race([lookup(host).catch(() => []), deadline]);
        const addresses = [...new Set(found.map((each) => each.address))].filter((address) => net.isIP(address) !== 0);
        return [host, addresses.slice(0, MAX_ADDRESSES_PER_NAME)];
      }),
    );
    return new Map(entries);
  } finally {
    clearTimeout(timer);
  }
}

/** Where a probe of `host` goes, or why it may not go at all. */
export type Destination = { ok: true; address: string } | { ok: false; why: 'undeclared' | 'unresolved' };

/**
 * The pinned address a probe of `host` goes to: an IP literal itself; for a name, the first of
 * its addresses, or, when the probe leaves from a given source address, the first of the
 * source's family. Pure.
 */
export function destinationOf(targets: DeclaredTargets, host: string, source?: string): Destination {
  const addresses = targets.get(host);
  if (!addresses) return { ok: false, why: 'undeclared' };
  if (net.isIP(host) !== 0) return { ok: true, address: host }; // a literal goes where it says, whatever the source
  const family = source ? net.isIP(source) : 0;
  const address = addresses.find((each) => family === 0 || net.isIP(each) === family);
  return address ? { ok: true, address } : { ok: false, why: 'unresolved' };
}
