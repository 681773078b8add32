import { sampleReport } from './fixture.js';
import type { Report, ReportCheck } from './model.js';
import { addressCaveat, networkRule, powershellCommand, remediate } from './remediation.js';

/** A failed check between the fixture's two servers, on the first network unless told. */
function makeCheck(fields: Partial<ReportCheck>): ReportCheck {
  const base: ReportCheck = {
    key: 'primary->secondary/tcp/1801',
    requirement: 'msmq',
    protocol: 'tcp',
    port: 1801,
    from: 'primary',
    to: 'secondary',
    network: 'public',
    purpose: 'MSMQ',
    required: true,
    expect: 'open',
    status: 'blocked',
    reason: 'filtered',
    detail: 'no answer',
    verdict: 'fail',
  };
  return { ...base, ...fields };
}

/** The fixture's nodes (10.1.1.11/12, interconnect 192.168.10.11/12) and a DNS target, with only `checks`. */
function reportWith(checks: ReportCheck[], change: (report: Report) => void = () => {}): Report {
  const report = { ...sampleReport(), checks, targets: [{ role: 'dns-server', host: '10.1.1.53' }] };
  change(report);
  return report;
}

describe('remediate', () => {
  it.each<[string, Partial<ReportCheck>, string, string]>([
    [
      'a blocked TCP port on the first network: the nodes\' own hosts',
      {},
      "New-NetFirewallRule -DisplayName 'preflight msmq tcp/1801 from primary' -Direction Inbound -Protocol TCP -LocalPort 1801 -RemoteAddress '10.1.1.11' -Action Allow",
      'ALLOW TCP 1801 from primary (10.1.1.11) to secondary (10.1.1.12), one way: primary → secondary, inbound on secondary, on the public network',
    ],
    [
      'a blocked UDP port the other way',
      { key: 'secondary->primary/udp/3527', protocol: 'udp', port: 3527, from: 'secondary', to: 'primary', requirement: 'msmq-ping' },
      "New-NetFirewallRule -DisplayName 'preflight msmq-ping udp/3527 from secondary' -Direction Inbound -Protocol UDP -LocalPort 3527 -RemoteAddress '10.1.1.12' -Action Allow",
      'ALLOW UDP 3527 from secondary (10.1.1.12) to primary (10.1.1.11), one way: secondary → primary, inbound on primary, on the public network',
    ],
    [
      'a port on the interconnect: both ends by their interconnect addresses',
      { key: 'primary->secondary/tcp/29005@interconnect', port: 29005, network: 'interconnect', requirement: 'nec-mirror-driver' },
      "New-NetFirewallRule -DisplayName 'preflight nec-mirror-driver tcp/29005 from primary' -Direction Inbound -Protocol TCP -LocalPort 29005 -RemoteAddress '192.168.10.11' -Action Allow",
      'ALLOW TCP 29005 from primary (192.168.10.11) to secondary (192.168.10.12), one way: primary → secondary, inbound on secondary, on the interconnect network',
    ],
    [
      'ICMP echo: type 8, no port',
      { key: 'primary->secondary/icmp', protocol: 'icmp', port: null, requirement: 'icmp-echo' },
      "New-NetFirewallRule -DisplayName 'preflight icmp-echo icmp from primary' -Direction Inbound -Protocol ICMPv4 -IcmpType 8 -RemoteAddress '10.1.1.11' -Action Allow",
      'ALLOW ICMP echo from primary (10.1.1.11) to secondary (10.1.1.12), one way: primary → secondary, inbound on secondary, on the public network',
    ],
    [
      'a path that must be closed but is open: a Block rule',
      { key: 'primary->secondary/tcp/3389', port: 3389, requirement: 'no-rdp', expect: 'closed', status: 'open', reason: 'verified' },
      "New-NetFirewallRule -DisplayName 'preflight no-rdp tcp/3389 from primary' -Direction Inbound -Protocol TCP -LocalPort 3389 -RemoteAddress '10.1.1.11' -Action Block",
      'BLOCK TCP 3389 from primary (10.1.1.11) to secondary (10.1.1.12), one way: primary → secondary, inbound on secondary, on the public network',
    ],
    [
      'a target that runs no agent: its host from --target',
      { key: 'primary->dns-server/udp/53', protocol: 'udp', port: 53, to: 'dns-server', requirement: 'dns', network: undefined },
      "New-NetFirewallRule -DisplayName 'preflight dns udp/53 from primary' -Direction Inbound -Protocol UDP -LocalPort 53 -RemoteAddress '10.1.1.11' -Action Allow",
      'ALLOW UDP 53 from primary (10.1.1.11) to dns-server (10.1.1.53), one way: primary → dns-server, inbound on dns-server',
    ],
    // The sender's own firewall refused to send (EPERM on the send): nothing left it, so the rule
    // is outbound on the sender, and the network team is told it is that host's firewall.
    [
      "a datagram the sender's own firewall refused: outbound on the sender",
      { key: 'primary->secondary/udp/3527', protocol: 'udp', port: 3527, requirement: 'msmq-ping', reason: 'rejected', detail: "the sender's own firewall refused to send (EPERM)" },
      "New-NetFirewallRule -DisplayName 'preflight msmq-ping udp/3527 to secondary' -Direction Outbound -Protocol UDP -RemotePort 3527 -RemoteAddress '10.1.1.12' -Action Allow",
      "ALLOW UDP 3527 from primary (10.1.1.11) to secondary (10.1.1.12), one way: primary → secondary, outbound on primary, on the public network: it is primary's own host firewall that refused to send (nothing reached the network)",
    ],
    [
      "an echo request the pinger's own firewall refused, on the interconnect",
      { key: 'secondary->primary/icmp@interconnect', protocol: 'icmp', port: null, from: 'secondary', to: 'primary', network: 'interconnect', requirement: 'icmp-echo', reason: 'rejected', detail: "the sender's own firewall refused to send (EACCES)" },
      "New-NetFirewallRule -DisplayName 'preflight icmp-echo icmp to primary' -Direction Outbound -Protocol ICMPv4 -IcmpType 8 -RemoteAddress '192.168.10.11' -Action Allow",
      "ALLOW ICMP echo from secondary (192.168.10.12) to primary (192.168.10.11), one way: secondary → primary, outbound on secondary, on the interconnect network: it is secondary's own host firewall that refused to send (nothing reached the network)",
    ],
    [
      "a TCP connection the sender's own firewall refused",
      { reason: 'rejected', detail: "the sender's own firewall refused to send (EPERM)" },
      "New-NetFirewallRule -DisplayName 'preflight msmq tcp/1801 to secondary' -Direction Outbound -Protocol TCP -RemotePort 1801 -RemoteAddress '10.1.1.12' -Action Allow",
      "ALLOW TCP 1801 from primary (10.1.1.11) to secondary (10.1.1.12), one way: primary → secondary, outbound on primary, on the public network: it is primary's own host firewall that refused to send (nothing reached the network)",
    ],
    [
      'a reset from the path: still inbound on the receiver',
      { reason: 'rejected', detail: 'refused (TCP reset or ICMP port unreachable)' },
      "New-NetFirewallRule -DisplayName 'preflight msmq tcp/1801 from primary' -Direction Inbound -Protocol TCP -LocalPort 1801 -RemoteAddress '10.1.1.11' -Action Allow",
      'ALLOW TCP 1801 from primary (10.1.1.11) to secondary (10.1.1.12), one way: primary → secondary, inbound on secondary, on the public network',
    ],
  ])('%s', (_label, fields, powershell, rule) => {
    const [fix] = remediate(reportWith([makeCheck(fields)]));
    expect(fix && [powershellCommand(fix), networkRule(fix), addressCaveat(fix)]).toEqual([powershell, rule, null]);
  });

  it('leaves out every check that did not fail', () => {
    const report = reportWith([
      makeCheck({ key: 'a', status: 'open', reason: 'verified', verdict: 'pass' }),
      makeCheck({ key: 'b', status: 'unverified', reason: 'port-in-use', verdict: 'inconclusive' }),
      makeCheck({ key: 'c', status: 'not-tested', reason: 'no-target', verdict: 'inconclusive' }),
      makeCheck({ key: 'd', expect: 'closed', status: 'blocked', verdict: 'pass' }),
      makeCheck({ key: 'e' }),
    ]);
    expect(remediate(report).map((fix) => fix.key)).toEqual(['e']);
  });

  it('says which server takes the rule: the receiver inbound, the sender outbound where its own firewall refused', () => {
    const refused = { reason: 'rejected', detail: "the sender's own firewall refused to send (EPERM)" } as const;
    const fixes = remediate(reportWith([makeCheck({ key: 'in' }), makeCheck({ key: 'out', ...refused })]));
    expect(fixes.map((fix) => [fix.key, fix.direction, fix.server])).toEqual([
      ['in', 'inbound', { name: 'secondary', address: '10.1.1.12' }],
      ['out', 'outbound', { name: 'primary', address: '10.1.1.11' }],
    ]);
  });

  it('names the receiver, not the sender, when the outbound rule\'s remote address is a name', () => {
    const refused = { reason: 'rejected', detail: "the sender's own firewall refused to send (EPERM)" } as const;
    const report = reportWith([makeCheck(refused)], (each) => {
      each.nodes = each.nodes.map((node) => (node.name === 'secondary' ? { ...node, host: 'symapp2.corp.example.com' } : node));
    });
    expect(addressCaveat(remediate(report)[0]!)).toBe("-RemoteAddress takes an address, not a name: put secondary's address in place of symapp2.corp.example.com");
  });

  it('pings over IPv6 as ICMPv6 type 128', () => {
    const report = reportWith([makeCheck({ key: 'primary->secondary/icmp', protocol: 'icmp', port: null })], (each) => {
      each.nodes = each.nodes.map((node) => ({ ...node, host: node.name === 'primary' ? 'fd00::11' : 'fd00::12' }));
    });
    expect(powershellCommand(remediate(report)[0]!)).toContain("-Protocol ICMPv6 -IcmpType 128 -RemoteAddress 'fd00::11'");
  });

  it('quotes names so that PowerShell expands nothing, and says when a name stands where an address must', () => {
    const report = reportWith([makeCheck({ from: "o'brien$(calc)" })], (each) => {
      each.nodes = [...each.nodes, { ...each.nodes[0]!, name: "o'brien$(calc)", host: 'symapp1.corp.example.com' }];
    });
    const fix = remediate(report)[0]!;
    expect(powershellCommand(fix)).toBe(
      "New-NetFirewallRule -DisplayName 'preflight msmq tcp/1801 from o''brien$(calc)' -Direction Inbound -Protocol TCP -LocalPort 1801 -RemoteAddress 'symapp1.corp.example.com' -Action Allow",
    );
    expect(addressCaveat(fix)).toBe("-RemoteAddress takes an address, not a name: put o'brien$(calc)'s address in place of symapp1.corp.example.com");
    expect(powershellCommand({ ...fix, source: { name: 'x\u2019y', address: '10.0.0.1' } })).toContain("from x\u2019\u2019y'");
  });
});
