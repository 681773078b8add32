import { BlockList, isIP } from 'node:net';
import type { HostFacts } from '@preflight/protocol';
import type { Profile } from '../profile/schema.js';
import type { CheckResult, NodeOutcome, RunResult } from '../run.js';
import type { Answer, AppendixA, AppendixB, FactRow, PairFacts, SiteAnswers } from './types.js';

/**
 * Below this round trip two servers cannot be 8 miles (12.87 km) apart: light in a vacuum needs
 * 0.0858 ms to go there and back. Above it, a round trip proves nothing about distance (switches
 * and hosts add more than that on any LAN), so Appendix A's distance question stays unknown.
 */
const EIGHT_MILES_AT_LIGHT_SPEED_RTT_MS = (2 * 12_874.752) / 299_792_458 * 1000;

/** The role of a separate Symmetry communication server (Appendix B), where a profile has one. */
const COMM_SERVER_ROLE = 'comm-server';

const yes = (basis: string): Answer => ({ answer: 'yes', basis });
const no = (basis: string): Answer => ({ answer: 'no', basis });
const unknown = (basis: string): Answer => ({ answer: 'unknown', basis });

/**
 * The site answers a run supports: for every pair of agents, whether they share a subnet, their
 * round trip and their clocks' offset; and, for a profile that asks them, the answers to AMAG's
 * Appendix A and B questions. Pure: everything comes from the run.
 */
export function answerSiteQuestions(profile: Profile, run: RunResult): SiteAnswers {
  const agents = run.nodes.filter((node) => node.state === 'connected');
  const pairs: PairFacts[] = [];
  for (const [index, a] of agents.entries()) {
    for (const b of agents.slice(index + 1)) pairs.push(pairFacts(a, b, run.checks));
  }
  const answers: SiteAnswers = { pairs };
  const asks = new Set(profile.questions ?? []);
  if (asks.size === 0) return answers;

  // The cluster's servers: the nodes of the profile's required agent roles (primary, secondary).
  const servers = run.nodes.filter((node) => {
    const role = profile.roles[node.role];
    return role?.kind === 'agent' && !role.optional;
  });
  const serverPair = pairs.find((pair) => servers.some((s) => s.name === pair.a) && servers.some((s) => s.name === pair.b));
  if (asks.has('nec-appendix-a')) answers.appendixA = appendixA(serverPair, servers);
  if (asks.has('nec-appendix-b')) answers.appendixB = appendixB(servers, run.nodes.filter((node) => node.role === COMM_SERVER_ROLE));
  return answers;
}

function pairFacts(a: NodeOutcome, b: NodeOutcome, checks: readonly CheckResult[]): PairFacts {
  const between = checks.filter(
    (check) => ((check.from === a.name && check.to === b.name) || (check.from === b.name && check.to === a.name)) && check.rttMs !== undefined && !check.key.includes('@'),
  );
  const fastest = (protocol: 'icmp' | 'tcp') => {
    const times = between.filter((check) => check.protocol === protocol && check.outcome.status === 'open').map((check) => check.rttMs!);
    return times.length > 0 ? Math.min(...times) : null;
  };
  const icmp = fastest('icmp');
  const tcp = icmp === null ? fastest('tcp') : null;
  const clockOffsetMs = a.clock && b.clock ? Math.round(b.clock.offsetMs - a.clock.offsetMs) : null;
  return {
    a: a.name,
    b: b.name,
    sameSubnet: sameSubnet(a, b),
    rttMs: icmp ?? tcp,
    rttSource: icmp !== null ? 'icmp' : tcp !== null ? 'tcp' : null,
    clockOffsetMs,
  };
}

/**
 * Two servers share a subnet when the address each was reached at lies inside one of the other's
 * own interface subnets, as its agent reported them: no router stands between them.
 */
export function sameSubnet(a: Pick<NodeOutcome, 'name' | 'host' | 'facts'>, b: Pick<NodeOutcome, 'name' | 'host' | 'facts'>): Answer {
  if (!a.facts || !b.facts) return unknown(`no host facts from ${!a.facts ? a.name : b.name}`);
  const reached = (node: typeof a) => (isIP(node.host) ? node.host : node.facts!.interfaces.find((nic) => nic.family === 'IPv4')?.address);
  const [addressA, addressB] = [reached(a), reached(b)];
  if (!addressA || !addressB) return unknown('no address to compare');
  // Agents on loopback addresses (--local) share one machine, so no router can stand between them.
  const loopback = (address: string) => address.startsWith('127.') || address === '::1';
  if (loopback(addressA) && loopback(addressB)) return yes(`${addressA} and ${addressB} are both loopback addresses of one machine`);
  const subnetOf = (node: typeof a, address: string) =>
    node.facts!.interfaces.find((nic) => {
      const list = new BlockList();
      const family = nic.family === 'IPv4' ? 'ipv4' : 'ipv6';
      if (isIP(address) !== (family === 'ipv4' ? 4 : 6)) return false;
      list.addSubnet(nic.address, nic.prefix, family);
      return list.check(address, family);
    });
  const shared = subnetOf(a, addressB) ?? subnetOf(b, addressA);
  if (shared) return yes(`${addressA} and ${addressB} are both in ${networkText(shared.address, shared.prefix)}`);
  const describe = (node: typeof a) =>
    node.facts!.interfaces.filter((nic) => nic.family === 'IPv4').map((nic) => networkText(nic.address, nic.prefix)).join(', ') || 'no IPv4 subnet';
  return no(`${a.name} (${addressA}) is on ${describe(a)}; ${b.name} (${addressB}) is on ${describe(b)}`);
}

/** `10.1.1.0/24` for an IPv4 address and prefix; `ADDR/PREFIX` otherwise. */
function networkText(address: string, prefix: number): string {
  if (isIP(address) !== 4) return `${address}/${prefix}`;
  const value = address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const network = (value & mask) >>> 0;
  return `${[24, 16, 8, 0].map((shift) => (network >>> shift) & 255).join('.')}/${prefix}`;
}

function appendixA(pair: PairFacts | undefined, servers: readonly NodeOutcome[]): AppendixA {
  const names = servers.map((server) => server.name).join(' and ') || 'the servers';
  if (!pair) {
    const none = unknown(`${names} did not both take part in the run`);
    return {
      questions: QUESTIONS_A.map((question) => ({ question, answer: none })),
      edition: 'unknown',
      reasons: ['the servers could not both be measured'],
    };
  }
  const subnet = pair.sameSubnet;
  const routed: Answer =
    subnet.answer === 'unknown'
      ? unknown(subnet.basis)
      : subnet.answer === 'no'
        ? yes(`different subnets, so a layer-3 hop (router or routed VLAN) joins them: ${subnet.basis}`)
        : no(`same subnet, so no router stands between them: ${subnet.basis}`);
  const rtt = pair.rttMs === null ? 'no round trip was measured' : `round trip ${formatMs(pair.rttMs)} (${pair.rttSource})`;
  const far: Answer =
    pair.rttMs !== null && pair.rttMs < EIGHT_MILES_AT_LIGHT_SPEED_RTT_MS
      ? no(`${rtt}: less than light needs to cover 8 miles and back`)
      : unknown(`${rtt}; a round trip cannot tell distance on a LAN: ask the customer`);

  const reasons: string[] = [];
  if (routed.answer === 'yes') reasons.push('the servers are on different subnets, joined at layer 3');
  if (far.answer === 'yes') reasons.push('the servers are more than 8 miles apart');
  let edition: AppendixA['edition'];
  if (reasons.length > 0) edition = 'WAN';
  else if (routed.answer === 'no') {
    edition = 'LAN';
    reasons.push('the servers share a subnet with no router between them');
    if (far.answer === 'unknown') reasons.push('unless they are more than 8 miles apart, which preflight cannot measure: confirm with the customer');
  } else {
    edition = 'unknown';
    reasons.push('the servers\' subnets are not known (no host facts)');
  }
  reasons.push(
    'the guide counts a yes to any of its questions toward NEC-EXP-CLST-WAN; read literally its "same subnet" question would too, which contradicts the rest of the guide, so preflight takes different subnets as the WAN case',
  );
  return {
    questions: [
      { question: QUESTIONS_A[0]!, answer: routed },
      { question: QUESTIONS_A[1]!, answer: subnet },
      { question: QUESTIONS_A[2]!, answer: far },
    ],
    edition,
    reasons,
  };
}

/** Appendix A of 000_f072ccf0c52f8061.txt, in its order and words. */
const QUESTIONS_A = [
  'Is the connection between the two servers supported via layer 2 or layer 3 switches / routers, or VLANs supported on Layer 3 routers?',
  'Will the two servers reside on the same subnet?',
  'Is the physical distance between the two servers greater than 8 miles?',
];

function appendixB(servers: readonly NodeOutcome[], commServers: readonly NodeOutcome[]): AppendixB {
  const rows = factRows(servers);
  const missing = servers.filter((server) => !server.facts).map((server) => server.name);
  const differing = rows.filter((row) => row.differs).map((row) => row.fact);
  const identical =
    missing.length > 0
      ? unknown(`no host facts from ${missing.join(', ')}`)
      : differing.length > 0
        ? no(`they differ in: ${differing.join(', ')}`)
        : yes(`same ${rows.map((row) => row.fact.toLowerCase()).join(', ')}`);
  return {
    identical: { rows, answer: identical },
    sameDomain: sameDomain(servers),
    adminRights: adminRights(servers),
    commServerSeparate: commServerSeparate(servers, commServers),
  };
}

const GIB = 1024 ** 3;

/** The facts that make two servers "identical", side by side. */
export function factRows(servers: readonly NodeOutcome[]): FactRow[] {
  const facts: [string, (facts: HostFacts) => string][] = [
    ['Operating system', (f) => f.os.name ?? `${f.os.platform} (name unknown)`],
    ['OS release', (f) => f.os.release],
    ['Architecture', (f) => f.os.arch],
    ['CPU', (f) => f.cpu.model ?? 'unknown'],
    // os.cpus() counts logical processors (hardware threads), not physical cores.
    ['Logical processors', (f) => String(f.cpu.cores)],
    ['Memory', (f) => `${(f.memoryBytes / GIB).toFixed(1)} GiB`],
    ['Disks', (f) => (f.disks ? f.disks.map((disk) => `${disk.mount} ${(disk.sizeBytes / GIB).toFixed(0)} GiB`).join(', ') || 'none' : 'unknown')],
    ['Network addresses (IPv4)', (f) => String(f.interfaces.filter((nic) => nic.family === 'IPv4').length)],
  ];
  return facts.map(([fact, read]) => {
    const values = Object.fromEntries(servers.map((server) => [server.name, server.facts ? read(server.facts) : 'unknown']));
    const known = Object.values(values).filter((value) => value !== 'unknown');
    return { fact, values, differs: new Set(known).size > 1 };
  });
}

function sameDomain(servers: readonly NodeOutcome[]): Answer {
  const missing = servers.find((server) => !server.facts?.membership);
  if (missing) return unknown(`${missing.name}'s domain is unknown${missing.facts?.unknown['membership'] ? `: ${missing.facts.unknown['membership']}` : ''}`);
  const seen = servers.map((server) => `${server.name}: ${server.facts!.membership!.kind} ${server.facts!.membership!.name ?? ''}`.trim()).join('; ');
  const inDomain = servers.every((server) => server.facts!.membership!.kind === 'domain');
  const names = new Set(servers.map((server) => server.facts!.membership!.name?.toLowerCase()));
  return inDomain && names.size === 1 ? yes(seen) : no(seen);
}

function adminRights(servers: readonly NodeOutcome[]): Answer {
  const seen = servers.map((server) => `${server.name}: ${server.facts?.admin === true ? 'administrator' : server.facts?.admin === false ? 'not administrator' : 'unknown'}`).join('; ');
  const basis = `the agents ran as: ${seen} (an agent started by the engineer's account shows that account's rights)`;
  if (servers.some((server) => server.facts?.admin === false)) return no(basis);
  if (servers.every((server) => server.facts?.admin === true)) return yes(basis);
  return unknown(basis);
}

function commServerSeparate(servers: readonly NodeOutcome[], commServers: readonly NodeOutcome[]): Answer {
  if (commServers.length === 0) return unknown(`no ${COMM_SERVER_ROLE} node was given (--node ${COMM_SERVER_ROLE}=HOST)`);
  const addressesOf = (node: NodeOutcome) =>
    new Set([node.host, ...Object.values(node.addresses ?? {}), ...(node.facts?.interfaces.map((nic) => nic.address) ?? [])]);
  for (const comm of commServers) {
    for (const server of servers) {
      const sameName = comm.facts && server.facts && comm.facts.hostname.toLowerCase() === server.facts.hostname.toLowerCase();
      const shared = [...addressesOf(comm)].find((address) => addressesOf(server).has(address));
      if (sameName || shared) return no(`${comm.name} is the same machine as ${server.name} (${sameName ? `hostname ${comm.facts!.hostname}` : `address ${shared}`})`);
    }
  }
  const names = commServers.map((comm) => `${comm.name} (${comm.facts?.hostname ?? comm.host})`).join(', ');
  return yes(`${names} shares no hostname or address with ${servers.map((server) => server.name).join(' or ')}`);
}

const formatMs = (ms: number) => (ms < 1 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`);
