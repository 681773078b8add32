import { fileURLToPath } from 'node:url';
import { planChecks } from '../plan.js';
import { loadProfile } from './load.js';
import type { Profile } from './schema.js';

/**
 * Pins the nec-symmetry profile to Appendix D of 000_f072ccf0c52f8061.txt ("Network Port
 * requirements for NEC redundancy"): a port added, dropped, or turned one-way fails here.
 */
const load = (): Profile => loadProfile(fileURLToPath(new URL('../../../../profiles/nec-symmetry.yaml', import.meta.url)));

const server = (name: string) => ({ name, role: name, host: name, port: 7890, addresses: { interconnect: `${name}-ic` } });
const nodes = [server('primary'), server('secondary')];

/** `protocol/port from->to` (with `@network` off the public LAN) for every check the planner makes. */
const expand = (profile: Profile, given = nodes): string[] =>
  planChecks(profile, given)
    .checks.map((check) => `${check.protocol}/${check.port} ${check.from}->${check.to}${check.network === 'public' ? '' : `@${check.network}`}`)
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
  'icmp/null', // NEC: ICMP between the servers must be open
];

/** Heartbeat, mirror and ICMP: also on the interconnect / mirror-disk-connect LAN. */
const ON_INTERCONNECT = ['tcp/29004', 'tcp/29005', 'udp/29106', 'icmp/null'];

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
  ...ON_INTERCONNECT.flatMap((port) => [`${port} primary->secondary@interconnect`, `${port} secondary->primary@interconnect`]),
  ...OUTBOUND,
].sort();

describe('profiles/nec-symmetry.yaml', () => {
  const profile = load();

  it('is a valid profile: the two cluster servers, the optional comm server and client, and the targets that run no agent', () => {
    expect(profile).toMatchObject({ format: 'preflight-profile/1', name: 'nec-symmetry', version: '1.1.0' });
    const kinds = Object.fromEntries(Object.entries(profile.roles).map(([name, role]) => [name, `${role.kind}${role.optional ? '?' : ''}`]));
    expect(kinds).toEqual({
      primary: 'agent',
      secondary: 'agent',
      'comm-server': 'agent?',
      client: 'agent?',
      'dns-server': 'external',
      'time-server': 'external',
      'field-panel': 'external',
    });
    expect(Object.keys(profile.networks ?? {})).toEqual(['public', 'interconnect']);
  });

  it('yields exactly the ports and directions of Appendix D between the servers (plus NEC\'s heartbeat and ICMP), on both networks where NEC needs them', () => {
    const withStandIns = expand(profile).filter((entry) => !/client|comm-server/.test(entry));
    expect(withStandIns).toEqual(EXPECTED);
  });

  it('checks client messaging and MSMQ between the servers and a client or comm server, and the comm server to the panels', () => {
    const all = [...nodes, server('comm-server'), server('client')];
    const extra = expand(profile, all).filter((entry) => !EXPECTED.includes(entry));
    expect(extra).toEqual(
      [
        ...['client', 'comm-server'].flatMap((end) =>
          ['primary', 'secondary'].flatMap((srv) =>
            ['tcp/12090', 'tcp/1801', 'udp/1801'].flatMap((port) => [`${port} ${end}->${srv}`, `${port} ${srv}->${end}`]),
          ),
        ),
        'tcp/3001 comm-server->field-panel',
        'tcp/49107 comm-server->field-panel',
      ].sort(),
    );
  });

  it('leaves out what is not between the cluster servers and 29006', () => {
    const between = expand(profile).filter((entry) => /primary->secondary|secondary->primary/.test(entry)).map((entry) => entry.split(' ')[0]);
    for (const absent of ['tcp/3001', 'tcp/3002', 'tcp/29006', 'udp/29006']) {
      expect(between).not.toContain(absent);
    }
  });

  it('marks as optional only the conditional rows, MSMQ ping, the heartbeat and MSMQ to clients', () => {
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
      'msmq-tcp-clients tcp/1801',
      'msmq-udp-clients udp/1801',
      'panel-discovery tcp/49107',
    ]);
    for (const req of profile.requirements.filter((r) => !r.required)) expect(req.note).toBeTruthy();
  });

  it('says the heartbeat is recommended where the report shows it (its purpose), and requires ICMP, which NEC says must be open', () => {
    const byId = (id: string) => profile.requirements.find((req) => req.id === id);
    expect(byId('nec-heartbeat')).toMatchObject({ required: false, purpose: expect.stringMatching(/, recommended by NEC$/) });
    expect(byId('nec-icmp')).toMatchObject({ required: true, networks: ['public', 'interconnect'] });
    // Only the heartbeat is called recommended: the "(if used)" rows are plain optional.
    expect(profile.requirements.filter((req) => /recommended/.test(req.purpose)).map((req) => req.id)).toEqual(['nec-heartbeat']);
  });

  it('keeps 445/tcp and 137/udp required where another row requires them, as the planner sees it', () => {
    const checks = planChecks(profile, nodes).checks.filter((check) => !check.absentRole);
    const optional = [...new Set(checks.filter((check) => !check.required).map((check) => `${check.protocol}/${check.port}`))];
    expect(optional.sort()).toEqual(['tcp/139', 'tcp/49107', 'udp/29106', 'udp/3527', 'udp/49107']);
    expect(checks.find((check) => check.key === 'primary->secondary/tcp/445')).toMatchObject({ requirement: 'symmetry-registry', required: true });
    expect(checks.find((check) => check.key === 'secondary->primary/udp/137')).toMatchObject({ requirement: 'netbios-ns', required: true });
  });

  it('gives every requirement a unique id and a source in document 000 (or NEC\'s material for the heartbeat and ICMP)', () => {
    const ids = profile.requirements.map((req) => req.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const req of profile.requirements) {
      expect(req.source).toMatch(['nec-heartbeat', 'nec-icmp'].includes(req.id) ? /^NEC ExpressCluster/ : /^000_f072ccf0c52f8061\.txt, Appendix D, /);
    }
  });
});
