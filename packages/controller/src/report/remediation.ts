import type { Report, ReportCheck } from './model.js';

/**
 * What would make a failed check pass, for the people who own the firewalls: a Windows Defender
 * Firewall rule to run on the receiving server, and a line for the network team. A path that must
 * be open gets an Allow rule; one that must be closed, a Block rule.
 */
export type Remediation = {
  key: string;
  action: 'allow' | 'block';
  source: { name: string; address: string };
  destination: { name: string; address: string };
  protocol: ReportCheck['protocol'];
  port: number | null;
  /** PowerShell, for the receiving server's own firewall. */
  powershell: string;
  /** One line for the network team: source, destination, protocol, port, direction. */
  rule: string;
};

/** The address a node or target was checked on: its address on the check's network, else its main one. */
function addressOf(report: Report, name: string, network: string | undefined): string {
  const node = report.nodes.find((each) => each.name === name);
  if (node) return (network && node.addresses?.[network]) || node.host;
  return report.targets.find((target) => target.role === name)?.host ?? name;
}

/** The remediation for every failed check, in the report's order. Pure. */
export function remediate(report: Report): Remediation[] {
  return report.checks.filter((check) => check.verdict === 'fail').map((check) => remediationFor(report, check));
}

export function remediationFor(report: Report, check: ReportCheck): Remediation {
  const action = check.expect === 'closed' ? 'block' : 'allow';
  const source = { name: check.from, address: addressOf(report, check.from, check.network) };
  const destination = { name: check.to, address: addressOf(report, check.to, check.network) };
  const what = check.protocol === 'icmp' ? 'ICMP echo' : `${check.protocol.toUpperCase()} ${check.port}`;
  const name = `preflight ${check.requirement} ${check.protocol}${check.port === null ? '' : `/${check.port}`} from ${check.from}`;
  const protocolArgs =
    check.protocol === 'icmp' ? '-Protocol ICMPv4 -IcmpType 8' : `-Protocol ${check.protocol.toUpperCase()} -LocalPort ${check.port}`;
  const powershell =
    `New-NetFirewallRule -DisplayName ${quotePowerShell(name)} -Direction Inbound ${protocolArgs} ` +
    `-RemoteAddress ${quotePowerShell(source.address)} -Action ${action === 'allow' ? 'Allow' : 'Block'}`;
  const rule =
    `${action.toUpperCase()} ${what} from ${source.name} (${source.address}) to ${destination.name} (${destination.address}), ` +
    `${source.name} → ${destination.name}${check.network ? `, on the ${check.network} network` : ''}`;
  return { key: check.key, action, source, destination, protocol: check.protocol, port: check.port, powershell, rule };
}

/** A PowerShell single-quoted string: nothing inside is expanded, and a quote is doubled. */
const quotePowerShell = (text: string) => `'${text.replace(/'/g, "''")}'`;
