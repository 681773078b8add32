import { planChecks } from '../plan.js';
import { loadProfile } from './load.js';

/**
 * Pins the ClearSCADA, PlateSpin and Double-Take profiles to their source documents: every
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

  it('platespin (003): discovery, conversion, 3725 both ways, legacy block-based optional', () => {
    expect(planned('platespin')).toEqual([
      'tcp platespin-server->source optional 22',
      'tcp platespin-server->target optional 22',
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

  it('symantec-itms (001): agents to the NS, Task and Package Servers; NS to SQL, DNS, AD; tickles, push install and plug-ins optional', () => {
    expect(planned('symantec-itms')).toEqual([
      'tcp windows-agent->notification-server 80,443',
      'tcp unix-agent->notification-server 80,443',
      'tcp console->notification-server 80,443',
      'tcp internet-gateway->notification-server 4726',
      'tcp notification-server->sql-server 1433',
      'udp notification-server->sql-server optional 1434',
      'tcp notification-server->domain-controller 389',
      'udp notification-server->dns-server 53',
      'tcp notification-server->dns-server 53',
      'tcp notification-server->mail-server optional 25',
      // push install 445, NetBIOS 139, RPC/WMI 135 and 49152-65535, tickle 52028/52029, Wake on LAN 50200
      'tcp notification-server->windows-agent optional 445..65535 (16387)',
      'udp notification-server->windows-agent optional 138,137,52028,52029',
      'tcp console->notification-server optional 9086,9988,8500,8501,8502,8503',
      'tcp task-server->notification-server 80,443',
      'tcp notification-server->task-server optional 50123',
      'tcp windows-agent->task-server 80,443',
      'tcp unix-agent->task-server 80,443',
      'tcp task-server->windows-agent optional 50124,16992,16993,16994,16995,135',
      'tcp windows-agent->package-server 80,443',
      'tcp unix-agent->package-server 80,443',
      'icmp windows-agent->package-server optional',
      'tcp windows-agent->package-server optional 445,135,139',
      'udp windows-agent->package-server optional 135,137,139',
      'tcp package-server->notification-server 445',
      'tcp package-server->windows-agent optional 52030',
      'udp package-server->windows-agent optional 52030',
      'udp notification-server->unix-agent optional 52029,52028',
      'tcp notification-server->unix-agent optional 22,52028',
      'tcp windows-agent->internet-gateway optional 443',
      'tcp unix-agent->internet-gateway optional 443',
      'udp windows-agent->pxe-server optional 4011,69',
      'tcp windows-agent->pxe-server optional 4433',
      'udp task-server->windows-agent optional 161',
    ]);
  });

  it('symantec-itms: 50123 and 50124 (tickles) are optional, as agents poll when they are blocked', () => {
    const profile = loadProfile('symantec-itms');
    const tickles = profile.requirements.filter((req) => req.ports?.some((port) => port === 50123 || port === 50124));
    expect(tickles.map((req) => `${req.id} ${req.required}`)).toEqual(['ns-tickle-task-server false', 'task-server-tickle-agent false']);
    for (const req of profile.requirements) expect(req.source).toMatch(/^001_06cf43f5e72b391f\.txt, /);
  });
});
