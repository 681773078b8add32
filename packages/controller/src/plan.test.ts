import { checkNodesAgainstProfile, expandPorts, planChecks } from './plan.js';
import { profileFromPortSpecs } from './ports-spec.js';
import { profileSchema, type Profile } from './profile/schema.js';

const node = (name: string, role = name) => ({ name, role, host: `h-${name}`, port: 7890 });

const profile: Profile = profileSchema.parse({
  format: 'preflight-profile/1',
  name: 'demo',
  title: 'Demo',
  version: '1',
  roles: {
    primary: { description: 'a' },
    secondary: { description: 'b' },
    dmz: { description: 'c' },
    dns: { description: 'd', kind: 'external' },
  },
  requirements: [
    { id: 'mirror', protocol: 'tcp', ports: ['29001-29003'], from: 'primary', to: 'secondary', purpose: 'mirror', source: 's' },
    { id: 'hb', protocol: 'udp', ports: [29106], from: 'primary', to: 'secondary', required: false, purpose: 'heartbeat', source: 's' },
    { id: 'to-dmz', protocol: 'tcp', ports: [5481], from: 'primary', to: 'dmz', direction: 'one-way', purpose: 'sync', source: 's' },
    { id: 'from-dmz', protocol: 'tcp', ports: [5481], from: 'dmz', to: 'primary', direction: 'one-way', expect: 'closed', purpose: 'none back', source: 's' },
    { id: 'dns', protocol: 'udp', ports: [53], from: 'primary', to: 'dns', direction: 'one-way', purpose: 'DNS', source: 's' },
    { id: 'smb-again', protocol: 'tcp', ports: [29002], from: 'secondary', to: 'primary', required: false, purpose: 'again', source: 's' },
  ],
});

describe('planChecks', () => {
  const nodes = [node('primary'), node('secondary'), node('dmz')];
  const plan = planChecks(profile, nodes);
  const keys = plan.checks.map((check) => check.key);

  it('plans both directions, ranges expanded, one-way where the profile says', () => {
    expect(keys).toEqual([
      'primary->secondary/tcp/29001',
      'primary->secondary/tcp/29002',
      'primary->secondary/tcp/29003',
      'secondary->primary/tcp/29001',
      'secondary->primary/tcp/29002',
      'secondary->primary/tcp/29003',
      'primary->secondary/udp/29106',
      'secondary->primary/udp/29106',
      'primary->dmz/tcp/5481',
      'dmz->primary/tcp/5481',
      'primary->dns/udp/53',
    ]);
  });

  it('carries what the requirement says: required, expected state, target kind', () => {
    const get = (key: string) => plan.checks.find((check) => check.key === key);
    expect(get('secondary->primary/udp/29106')).toMatchObject({ required: false, requirement: 'hb' });
    expect(get('dmz->primary/tcp/5481')).toMatchObject({ expect: 'closed', fromRole: 'dmz', toRole: 'primary' });
    expect(get('primary->dns/udp/53')).toMatchObject({ target: 'external', to: 'dns' });
    // 29002 back again under an optional requirement: probed once, still required.
    expect(get('secondary->primary/tcp/29002')).toMatchObject({ requirement: 'mirror', required: true, purpose: 'mirror; again' });
  });

  it('opens each listener once per node, for both directions, and none for external targets', () => {
    expect(plan.listeners.get('secondary')).toEqual([
      { protocol: 'tcp', port: 29001 },
      { protocol: 'tcp', port: 29002 },
      { protocol: 'tcp', port: 29003 },
      { protocol: 'udp', port: 29106 },
    ]);
    expect(plan.listeners.get('primary')).toHaveLength(5);
    expect(plan.listeners.get('dmz')).toEqual([{ protocol: 'tcp', port: 5481 }]);
    expect(plan.listeners.has('dns')).toBe(false);
  });

  it('pairs every ordered pair of nodes for --ports', () => {
    const peers = ['a', 'b', 'c'].map((name) => node(name, 'peer'));
    const adHoc = planChecks(profileFromPortSpecs(['udp:3527']), peers);
    expect(adHoc.checks.map((check) => `${check.from}>${check.to}`)).toEqual(['a>b', 'a>c', 'b>a', 'b>c', 'c>a', 'c>b']);
  });
});

describe('expandPorts', () => {
  it('expands ranges in order without repeats', () => {
    expect(expandPorts([135, '49152-49154', 49153])).toEqual([135, 49152, 49153, 49154]);
    expect(expandPorts(['49152-65535'])).toHaveLength(16384);
  });
});

describe('checkNodesAgainstProfile', () => {
  it.each([
    [[node('primary')], 'needs a node for secondary (--node secondary=HOST) and dmz (--node dmz=HOST)'],
    [[node('primary'), node('secondary'), node('dmz'), node('backup')], 'has no agent role "backup"'],
    [[node('primary'), node('secondary'), node('dmz'), node('dns')], 'has no agent role "dns"'],
    [[node('primary'), node('primary')], 'given twice'],
  ])('refuses %j', (nodes, message) => {
    expect(() => checkNodesAgainstProfile(profile, nodes)).toThrow(message);
  });
});

describe('planChecks over several networks, with an optional role', () => {
  const clustered: Profile = profileSchema.parse({
    format: 'preflight-profile/1',
    name: 'cluster',
    title: 'Cluster',
    version: '1',
    roles: {
      primary: { description: 'a' },
      secondary: { description: 'b' },
      client: { description: 'c', optional: true },
    },
    networks: { public: { description: 'LAN' }, interconnect: { description: 'mirror LAN' } },
    requirements: [
      { id: 'mirror', protocol: 'tcp', ports: [29004], from: 'primary', to: 'secondary', networks: ['public', 'interconnect'], purpose: 'mirror', source: 's' },
      { id: 'ping', protocol: 'icmp', from: 'primary', to: 'secondary', networks: ['interconnect'], purpose: 'np', source: 's' },
      { id: 'client', protocol: 'tcp', ports: [12090], from: 'client', to: 'primary', purpose: 'messaging', source: 's' },
    ],
  });
  const primary = { ...node('primary'), addresses: { interconnect: '192.168.0.1' } };

  it('checks a path on each of its networks, probing the address on that network; keys name any network but the first', () => {
    const plan = planChecks(clustered, [primary, { ...node('secondary'), addresses: { interconnect: '192.168.0.2' } }]);
    expect(plan.checks.map((check) => [check.key, check.network, check.address ?? 'control address'])).toEqual([
      ['primary->secondary/tcp/29004', 'public', 'control address'],
      ['primary->secondary/tcp/29004@interconnect', 'interconnect', '192.168.0.2'],
      ['secondary->primary/tcp/29004', 'public', 'control address'],
      ['secondary->primary/tcp/29004@interconnect', 'interconnect', '192.168.0.1'],
      ['primary->secondary/icmp@interconnect', 'interconnect', '192.168.0.2'],
      ['secondary->primary/icmp@interconnect', 'interconnect', '192.168.0.1'],
      ['client->primary/tcp/12090', 'public', 'control address'],
      ['primary->client/tcp/12090', 'public', 'control address'],
    ]);
    // One listener serves a port on every network: agents listen on all their addresses.
    expect(plan.listeners.get('secondary')).toEqual([{ protocol: 'tcp', port: 29004 }]);
  });

  it('marks a path to a node with no address on its network (null), and an optional role with no node', () => {
    const plan = planChecks(clustered, [primary, node('secondary')]);
    const byKey = new Map(plan.checks.map((check) => [check.key, check]));
    expect(byKey.get('primary->secondary/tcp/29004@interconnect')?.address).toBeNull();
    expect(byKey.get('secondary->primary/tcp/29004@interconnect')?.address).toBe('192.168.0.1');
    expect(byKey.get('client->primary/tcp/12090')?.absentRole).toBe('client');
    expect(byKey.get('primary->client/tcp/12090')?.absentRole).toBe('client');
    expect(plan.listeners.get('client')).toBeUndefined();
    // Nobody would probe 12090 on primary: the client is absent, so no listener is opened for it.
    expect(plan.listeners.get('primary')).toEqual([{ protocol: 'tcp', port: 29004 }]);
  });

  it('needs no node for an optional role, and refuses an address on a network the profile lacks', () => {
    expect(() => checkNodesAgainstProfile(clustered, [primary, node('secondary')])).not.toThrow();
    expect(() => checkNodesAgainstProfile(clustered, [{ ...node('primary'), addresses: { backup: '10.9.9.9' } }, node('secondary')])).toThrow(
      '--node primary@backup: profile cluster has no network "backup" (its other networks: interconnect)',
    );
    expect(() => checkNodesAgainstProfile(clustered, [{ ...node('primary'), addresses: { public: '10.9.9.9' } }, node('secondary')])).toThrow(
      'public is the network --node primary=HOST already names',
    );
  });

  it('refuses a requirement on a network the profile does not declare', () => {
    const result = profileSchema.safeParse({ ...clustered, requirements: [{ ...clustered.requirements[0], networks: ['backup'] }] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('network "backup" is not declared (networks: public, interconnect)');
  });
});
