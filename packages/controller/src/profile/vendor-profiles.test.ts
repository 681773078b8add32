import { checkNodesAgainstProfile, planChecks } from '../plan.js';
import { loadProfile } from './load.js';
import { rolesOf } from './schema.js';

/**
 * Pins the ClearSCADA, PlateSpin, Double-Take and Symantec ITMS profiles to their source documents: every
 * (protocol, direction) with its ports, as the planner expands them over one node per agent role,
 * and which are optional or must be closed. A port added, dropped or turned around fails here.
 */
function planned(name: string): string[] {
  const profile = loadProfile(name);
  const nodes = Object.entries(profile.roles)
    .filter(([, role]) => role.kind === 'agent')
    .map(([role]) => ({ name: role, role, host: role, port: 7890 }));
  const groups = new Map<string, (number | null)[]>();
  for (const check of planChecks(profile, nodes).checks) {
    const flags = `${check.required ? '' : ' optional'}${check.expect === 'closed' ? ' must-be-closed' : ''}`;
    const label = `${check.protocol} ${check.from}->${check.to}${flags}`;
    groups.set(label, [...(groups.get(label) ?? []), check.port]);
  }
  return [...groups].map(([label, ports]) => {
    const numbers = ports.filter((port): port is number => port !== null);
    const list = numbers.length > 6 ? `${numbers[0]}..${numbers.at(-1)} (${numbers.length})` : numbers.join(',');
    return `${label} ${list}`.trim();
  });
}

describe('vendor profiles, as their documents give them', () => {
  it('clearscada-redundancy (002): 5481 and ICMP among partners both ways; the DMZ standby from Main only, and closed back', () => {
    expect(planned('clearscada-redundancy')).toEqual([
      'tcp main->standby 5481',
      'tcp standby->main 5481',
      'tcp main->permanent-standby 5481',
      'tcp permanent-standby->main 5481',
      'tcp standby->permanent-standby 5481',
      'tcp permanent-standby->standby 5481',
      'icmp main->standby',
      'icmp standby->main',
      'icmp main->permanent-standby',
      'icmp permanent-standby->main',
      'icmp standby->permanent-standby',
      'icmp permanent-standby->standby',
      'tcp main->dmz-standby 5481',
      'icmp main->dmz-standby',
      'tcp standby->dmz-standby optional 5481',
      'tcp dmz-standby->main must-be-closed 5481',
      'icmp dmz-standby->main must-be-closed',
    ]);
  });

  it('clearscada-redundancy: a Main and Standby pair alone is a whole site (002: "with or without Permanent Standby servers")', () => {
    const profile = loadProfile('clearscada-redundancy');
    const pair = ['main', 'standby'].map((role) => ({ name: role, role, host: role, port: 7890 }));
    expect(() => checkNodesAgainstProfile(profile, pair)).not.toThrow();
    const plan = planChecks(profile, pair);
    const tested = plan.checks.filter((check) => !check.absentRole).map((check) => check.key);
    expect(tested).toEqual(['main->standby/tcp/5481', 'standby->main/tcp/5481', 'main->standby/icmp', 'standby->main/icmp']);
    // Every path of the standbys the site may not have stays in the plan, to be reported not tested.
    const absent = plan.checks.filter((check) => check.absentRole);
    expect(new Set(absent.map((check) => check.absentRole))).toEqual(new Set(['permanent-standby', 'dmz-standby']));
    expect(absent).toHaveLength(13);
    expect(plan.listeners).toEqual(new Map([['standby', [{ protocol: 'tcp', port: 5481 }]], ['main', [{ protocol: 'tcp', port: 5481 }]]]));
    // The Main and Standby are not optional.
    expect(() => checkNodesAgainstProfile(profile, pair.slice(0, 1))).toThrow('needs a node for standby (--node standby=HOST)');
  });

  // 002 is ClearSCADA's redundancy note, 003 PlateSpin's port note 7920341, 004 Double-Take's
  // "Firewalls" topic, 001 Symantec's ITMS 8.x article (sources/README.md, and each file's text).
  it.each([
    ['clearscada-redundancy', '002_1feb808112be8f5f.txt'],
    ['platespin', '003_a7e0e83404719d03.txt'],
    ['double-take', '004_de62bea16143af6c.txt'],
    ['symantec-itms', '001_06cf43f5e72b391f.txt'],
  ])('%s: every requirement cites its document, %s, and the table or section', (name, file) => {
    const profile = loadProfile(name);
    for (const req of profile.requirements) expect(`${req.id}: ${req.source}`).toMatch(new RegExp(`^${req.id}: ${file.replace('.', '\\.')}, \\S`));
  });

  it('platespin (003): discovery, conversion, 3725 both ways, legacy block-based optional', () => {
    expect(planned('platespin')).toEqual([
      'tcp platespin-server->source optional 22..65535 (16385)', // SSH 22, WMI's RPC dynamic 49152-65535
      'tcp platespin-server->target optional 22..65535 (16385)',
      'tcp platespin-server->vmware optional 443',
      'tcp platespin-server->source 135,445,80,443,139',
      'tcp platespin-server->target 135,445,80,443',
      'tcp source->platespin-server 80,443',
      'tcp target->platespin-server 80,443',
      'tcp source->target 3725',
      'tcp target->source 3725',
      'udp platespin-server->source 137,138',
      'tcp source->target optional 9999..10023 (29)',
      'tcp target->source optional 137,138,139,445',
      'icmp source->target optional',
      'icmp target->source optional',
    ]);
  });

  it('platespin: WMI\'s dynamic RPC ports ("above 1024") are checked as optional, 49152-65535, to source and target', () => {
    const profile = loadProfile('platespin');
    const nodes = ['platespin-server', 'source', 'target'].map((role) => ({ name: role, role, host: role, port: 7890 }));
    const checks = planChecks(profile, nodes).checks.filter((check) => check.requirement === 'wmi-dynamic');
    for (const to of ['source', 'target']) {
      const ports = checks.filter((check) => check.to === to).map((check) => check.port);
      expect(ports).toEqual(Array.from({ length: 16384 }, (_, index) => 49152 + index));
    }
    expect(checks.every((check) => check.from === 'platespin-server' && !check.required)).toBe(true);
  });

  it('double-take (004): 6320/6325/6326 on TCP and UDP and ICMP both ways; WMI, file share and ESX optional', () => {
    expect(planned('double-take')).toEqual([
      'tcp source->target 6320,6325,6326',
      'tcp target->source 6320,6325,6326',
      'udp source->target 6320,6325,6326',
      'udp target->source 6320,6325,6326',
      'icmp source->target',
      'icmp target->source',
      'tcp source->target optional 135..445 (16390)', // 135, 49152-65535, 136-139, 445,
      'tcp target->source optional 135..445 (16390)',
      'udp source->target optional 135,136,137,138,139,445',
      'udp target->source optional 135,136,137,138,139,445',
      'tcp source->vmware optional 443',
      'tcp target->vmware optional 443',
    ]);
  });

  it('symantec-itms (001): agents and site servers to the NS, Task and Package Servers; NS to SQL, DNS, AD and its hierarchy; tickles, push install, Deployment, Event Console and plug-ins optional', () => {
    expect(planned('symantec-itms')).toEqual([
      // Agents, site servers and consoles to the NS; the Package Server's UNC copy (445)
      'tcp windows-agent->notification-server 80,443',
      'tcp unix-agent->notification-server 80,443',
      'tcp package-server->notification-server 80,443,445',
      'tcp pxe-server->notification-server 80,443',
      'tcp console->notification-server 80,443',
      'tcp internet-gateway->notification-server 4726',
      'tcp notification-server->hierarchy-ns 80,443',
      'tcp hierarchy-ns->notification-server 80,443',
      // Service Framework (NSDiag) 9086/9988, then Event Console 8500-8503, from a console computer
      'tcp console->notification-server optional 9086,9988,8500,8501,8502,8503',
      // NS (and SIM on it) to SQL, AD, DNS, mail
      'tcp notification-server->sql-server 1433',
      'udp notification-server->sql-server optional 1434',
      'tcp notification-server->domain-controller 389',
      'udp notification-server->domain-controller optional 389',
      'udp notification-server->dns-server 53',
      'tcp notification-server->dns-server 53',
      'tcp notification-server->mail-server optional 25',
      // Task Management: 80/443 required, tickles 50123/50124 optional and both ways ("Inbound/Outbound")
      'tcp task-server->notification-server 80,443',
      'tcp windows-agent->task-server 80,443',
      'tcp unix-agent->task-server 80,443',
      'tcp notification-server->task-server optional 50123',
      'tcp task-server->notification-server optional 50123',
      // tickle 50124, Wake on LAN 50200, AMT 16992-16995, IPMI/WS-MAN 623/664, WMI 135, 1025-5000, 49152-65535
      'tcp task-server->windows-agent optional 50124..65535 (20367)',
      'tcp windows-agent->task-server optional 50124',
      'tcp task-server->unix-agent optional 50124,50200,623,664,22',
      'tcp unix-agent->task-server optional 50124',
      // Package Server
      'tcp windows-agent->package-server 80,443',
      'tcp unix-agent->package-server 80,443',
      'icmp windows-agent->package-server optional',
      'tcp windows-agent->package-server optional 445,135,139',
      'udp windows-agent->package-server optional 135,137,139',
      'tcp package-server->windows-agent optional 52030',
      'udp package-server->windows-agent optional 52030',
      // push install 445, NetBIOS 139, tickle 52028/52029, Wake on LAN 50200, RPC/WMI 135 and
      // 49152-65535, Metric Provider 1011, AMT 16992-16995, IPMI/WS-MAN 623/664, WMI 1025-5000
      'tcp notification-server->windows-agent optional 445..5000 (20370)',
      // NETLOGON 138, NetBIOS 137, tickle 52028/52029, AMT 16992-16995, ASF 623/664, SNMP 161
      'udp notification-server->windows-agent optional 138..161 (11)',
      'tcp notification-server->unix-agent optional 22,52028,50200,1011,623,664',
      'udp notification-server->unix-agent optional 52028,52029,22,161',
      // Internet Gateway, PXE/TFTP, Event Console and SNMP traps
      'tcp windows-agent->internet-gateway optional 443',
      'tcp unix-agent->internet-gateway optional 443',
      'udp windows-agent->pxe-server optional 67,4011,69',
      'tcp windows-agent->pxe-server optional 4433',
      'udp windows-agent->notification-server optional 162',
      'udp unix-agent->notification-server optional 162',
      // PPA from the Task Server (AtrsHost): AMT 16992-16995, ASF 623/664, SNMP 161; SSH 22; Virtual Machine Management
      'udp task-server->windows-agent optional 16992..161 (7)',
      'udp task-server->unix-agent optional 22,161',
      'tcp notification-server->vmware-host optional 443,80',
      'tcp task-server->vmware-host optional 443,80',
      'tcp notification-server->hyperv-host optional 135',
      'tcp task-server->hyperv-host optional 135',
    ]);
  });

  it('symantec-itms: the wide groups hold exactly the ports the document gives, each single port under its own requirement', () => {
    const profile = loadProfile('symantec-itms');
    const nodes = Object.entries(profile.roles)
      .filter(([, role]) => role.kind === 'agent')
      .map(([role]) => ({ name: role, role, host: role, port: 7890 }));
    const checks = planChecks(profile, nodes).checks;
    const ports = (from: string, to: string, protocol: string) =>
      checks.filter((check) => check.from === from && check.to === to && check.protocol === protocol).map((check) => check.port as number);
    const range = (low: number, high: number) => Array.from({ length: high - low + 1 }, (_, index) => low + index);
    const sorted = (list: number[]) => [...new Set(list)].sort((a, b) => a - b);
    const rpc = [135, ...range(1025, 5000), ...range(49152, 65535)];
    expect(sorted(ports('notification-server', 'windows-agent', 'tcp'))).toEqual(sorted([445, 139, 1011, 623, 664, ...range(16992, 16995), ...rpc]));
    expect(sorted(ports('task-server', 'windows-agent', 'tcp'))).toEqual(sorted([50124, 50200, 623, 664, ...range(16992, 16995), ...rpc]));
    expect(sorted(ports('notification-server', 'windows-agent', 'udp'))).toEqual(sorted([137, 138, 52028, 52029, 623, 664, 161, ...range(16992, 16995)]));
    const under = (from: string, to: string, protocol: string, port: number) =>
      checks.find((check) => check.key === `${from}->${to}/${protocol}/${port}`)?.requirement;
    expect(under('notification-server', 'windows-agent', 'tcp', 52028)).toBe('tickle-power-tcp');
    expect(under('notification-server', 'windows-agent', 'tcp', 52029)).toBe('tickle-multicast-tcp');
    expect(under('notification-server', 'windows-agent', 'tcp', 50200)).toBe('wake-on-lan');
    expect(under('task-server', 'windows-agent', 'tcp', 50124)).toBe('task-server-tickle-agent');
    expect(under('notification-server', 'windows-agent', 'tcp', 445)).toBe('agent-push-install');
  });

  it('symantec-itms: 50123 and 50124 (tickles) are optional, as agents poll when they are blocked; 52029 over TCP is checked as the document says, optional', () => {
    const profile = loadProfile('symantec-itms');
    const tickles = profile.requirements.filter((req) => req.ports?.some((port) => port === 50123 || port === 50124));
    expect(tickles.map((req) => `${req.id} ${req.required} ${req.direction}`)).toEqual([
      'ns-tickle-task-server false both',
      'task-server-tickle-agent false both',
    ]);
    const multicast = profile.requirements.filter((req) => req.ports?.includes(52029));
    expect(multicast.map((req) => `${req.id} ${req.protocol} ${req.required}`)).toEqual(['tickle-multicast-udp udp false', 'tickle-multicast-tcp tcp false']);
    for (const req of profile.requirements) expect(req.source).toMatch(/^001_06cf43f5e72b391f\.txt, /);
    // An external role runs no agent, so it can only be a target.
    for (const [name, role] of Object.entries(profile.roles)) {
      if (role.kind !== 'external') continue;
      expect(profile.requirements.filter((req) => rolesOf(req.from).includes(name)).map((req) => req.id)).toEqual([]);
    }
  });
});
