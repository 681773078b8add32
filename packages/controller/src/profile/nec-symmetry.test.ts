import { fileURLToPath } from 'node:url';
import { planChecks } from '../plan.js';
import { loadProfile } from './load.js';
import type { Profile } from './schema.js';

/**
 * Pins the nec-symmetry profile to Appendix D of 000_f072ccf0c52f8061.txt ("Network Port
 * requirements for NEC redundancy"): a port added, dropped, or turned one-way fails here.
 */
const load = (): Profile => loadProfile(fileURLToPath(new URL('../../../../profiles/nec-symmetry.yaml', import.meta.url)));

const nodes = ['primary', 'secondary'].map((name) => ({ name, role: name, host: name, port: 7890 }));

/** `protocol/port from->to` for every check the planner makes of the profile on two servers. */
const expand = (profile: Profile): string[] =>
  planChecks(profile, nodes)
    .checks.map((check) => `${check.protocol}/${check.port} ${check.from}->${check.to}`)
    .sort();

/** Both ways between the two cluster servers: every "IN and OUT" row of Appendix D that is kept. */
const BETWEEN_SERVERS = [
  'tcp/135', // RPC
  'tcp/139', // file/printer sharing (if used)
  'tcp/445', // file/printer sharing (if used); Symmetry remote registry
  'udp/137', // file/printer sharing (if used); NETBIOS name resolution
  'tcp/1801', // MSMQ
  'udp/1801', // MSMQ
  'udp/3527', // MSMQ ping
  'tcp/12090', // Symmetry client messaging
  'tcp/29001',
  'tcp/29002',
  'tcp/29003',
  'udp/29003',
  'tcp/29004',
  'tcp/29005',
  'tcp/29007',
  'udp/29007',
  'udp/29106', // NEC Windows heartbeat: not in Appendix D, recommended
  'tcp/49107', // G4S Flashnet / device discovery: optional
  'udp/49107',
];

/** Appendix D "OUT" rows: from each server to a target that runs no agent. */
const OUTBOUND = [
  'tcp/53 primary->dns-server',
  'tcp/53 secondary->dns-server',
  'udp/53 primary->dns-server',
  'udp/53 secondary->dns-server',
  'udp/123 primary->time-server',
  'udp/123 secondary->time-server',
];

const EXPECTED = [
  ...BETWEEN_SERVERS.flatMap((port) => [`${port} primary->secondary`, `${port} secondary->primary`]),
  ...OUTBOUND,
].sort();

describe('profiles/nec-symmetry.yaml', () => {
  const profile = load();

  it('is a valid profile with the two cluster servers as agents and DNS/time as external', () => {
    expect(profile).toMatchObject({ format: 'preflight-profile/1', name: 'nec-symmetry', version: '1.0.0' });
    const kinds = Object.fromEntries(Object.entries(profile.roles).map(([name, role]) => [name, role.kind]));
    expect(kinds).toEqual({ primary: 'agent', secondary: 'agent', 'dns-server': 'external', 'time-server': 'external' });
  });

  it('yields exactly the ports and directions of Appendix D (plus the 29106 heartbeat)', () => {
    expect(expand(profile)).toEqual(EXPECTED);
  });

  it('leaves out what is not between the cluster servers, 29006, and ICMP (not probed yet)', () => {
    const ports = expand(profile).map((entry) => entry.split(' ')[0]);
    for (const absent of ['tcp/3001', 'tcp/3002', 'tcp/29006', 'udp/29006']) {
      expect(ports).not.toContain(absent);
    }
    expect(profile.requirements.some((req) => req.protocol === 'icmp')).toBe(false);
    expect(profile.description).toMatch(/ICMP/);
  });

  it('marks as optional only the conditional rows, MSMQ ping and the heartbeat', () => {
    const optional = profile.requirements
      .filter((req) => !req.required)
      .map((req) => `${req.id} ${req.protocol}/${(req.ports ?? []).join(',')}`);
    expect(optional).toEqual([
      'file-sharing-tcp tcp/139,445',
      'file-sharing-udp udp/137',
      'msmq-ping udp/3527',
      'nec-heartbeat udp/29106',
      'flashnet-discovery-tcp tcp/49107',
      'flashnet-discovery-udp udp/49107',
    ]);
    for (const req of profile.requirements.filter((r) => !r.required)) expect(req.note).toBeTruthy();
  });

  it('keeps 445/tcp and 137/udp required where another row requires them, as the planner sees it', () => {
    const checks = planChecks(profile, nodes).checks;
    const optional = [...new Set(checks.filter((check) => !check.required).map((check) => `${check.protocol}/${check.port}`))];
    expect(optional.sort()).toEqual(['tcp/139', 'tcp/49107', 'udp/29106', 'udp/3527', 'udp/49107']);
    expect(checks.find((check) => check.key === 'primary->secondary/tcp/445')).toMatchObject({ requirement: 'symmetry-registry', required: true });
    expect(checks.find((check) => check.key === 'secondary->primary/udp/137')).toMatchObject({ requirement: 'netbios-ns', required: true });
  });

  it('gives every requirement a unique id and a source in document 000 (or the NEC note for 29106)', () => {
    const ids = profile.requirements.map((req) => req.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const req of profile.requirements) {
      expect(req.source).toMatch(req.id === 'nec-heartbeat' ? /NEC/ : /^000_f072ccf0c52f8061\.txt, Appendix D, /);
    }
  });
});
