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
