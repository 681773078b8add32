import { isIP, isIPv6 } from 'node:net';
import { SENDER_REFUSED } from '../classify.js';
import type { Report, ReportCheck } from './model.js';

/** One end of a path to open or close: a node's or a target's name, and the address it was checked on. */
export type Endpoint = { name: string; address: string };

/**
 * What would make a failed check pass, for the people who own the firewalls, as data: a path
 * that must be open gets an Allow rule, one that must be closed, a Block rule. The rule goes
 * inbound on the receiver, except where the sender's own firewall refused to send: then it goes
 * outbound on the sender, since nothing left it. `powershellCommand` and `networkRule` put it in
 * words.
 */
export type Remediation = {
  key: string;
  requirement: string;
  action: 'allow' | 'block';
  /** The sender: where connections, datagrams or echo requests start. */
  source: Endpoint;
  /** The receiver. */
  destination: Endpoint;
  /** `inbound` on the receiver's firewall, or `outbound` on the sender's, which refused to send. */
  direction: 'inbound' | 'outbound';
  /** The server whose own firewall takes the PowerShell rule: the receiver inbound, the sender outbound. */
  server: Endpoint;
  protocol: ReportCheck['protocol'];
  port: number | null;
  /** The profile's network the path failed on; absent where the profile declares none. */
  network?: string;
};

/** The remediation for every failed check, in the report's order. Pure. */
export function remediate(report: Report): Remediation[] {
  return report.checks.filter((check) => check.verdict === 'fail').map((check) => remediationFor(report, check));
}

export function remediationFor(report: Report, check: ReportCheck): Remediation {
  const source = { name: check.from, address: addressOf(report, check.from, check) };
  const destination = { name: check.to, address: addressOf(report, check.to, check) };
  const direction = refusedBySender(check) ? 'outbound' : 'inbound';
  return {
    key: check.key,
    requirement: check.requirement,
    action: check.expect === 'closed' ? 'block' : 'allow',
    source,
    destination,
    direction,
    server: direction === 'outbound' ? source : destination,
    protocol: check.protocol,
    port: check.port,
    ...(check.network ? { network: check.network } : {}),
  };
}

/**
 * Whether the sender's own firewall refused to send (EPERM or EACCES on the send): the report
 * keeps classify's words for it in the check's detail, also in a saved JSON result.
 */
const refusedBySender = (check: ReportCheck): boolean =>
  check.status === 'blocked' && check.reason === 'rejected' && check.detail.startsWith(SENDER_REFUSED);

/**
 * The address `name` was checked on: a node's `host` on the profile's first network (whose checks
 * carry no `@network` in their key), its `addresses[network]` on any other; a target's host.
 */
function addressOf(report: Report, name: string, check: ReportCheck): string {
  const node = report.nodes.find((each) => each.name === name);
  const onOther = check.network !== undefined && check.key.endsWith(`@${check.network}`);
  if (node) return (onOther && node.addresses?.[check.network!]) || node.host;
  return report.targets.find((target) => target.role === name)?.host ?? name;
}

/** The other end of the path, as the server that takes the rule sees it: `-RemoteAddress`. */
const remoteOf = (fix: Remediation): Endpoint => (fix.direction === 'outbound' ? fix.destination : fix.source);

/**
 * The Windows Defender Firewall rule for `fix.server`, in PowerShell: inbound on the receiver from
 * the sender, or outbound on the sender to the receiver. Strings are single quoted, so nothing a
 * name or an address holds is expanded by PowerShell.
 */
export function powershellCommand(fix: Remediation): string {
  const outbound = fix.direction === 'outbound';
  const remote = remoteOf(fix);
  const what = `${fix.protocol}${fix.port === null ? '' : `/${fix.port}`}`;
  const name = `preflight ${fix.requirement} ${what} ${outbound ? 'to' : 'from'} ${remote.name}`;
  // An echo request is ICMPv4 type 8, ICMPv6 type 128: the family is the path's addresses'.
  const protocol =
    fix.protocol === 'icmp'
      ? isIPv6(remote.address) ? '-Protocol ICMPv6 -IcmpType 128' : '-Protocol ICMPv4 -IcmpType 8'
      : `-Protocol ${fix.protocol.toUpperCase()} -${outbound ? 'RemotePort' : 'LocalPort'} ${fix.port}`;
  return (
    `New-NetFirewallRule -DisplayName ${quotePowerShell(name)} -Direction ${outbound ? 'Outbound' : 'Inbound'} ${protocol} ` +
    `-RemoteAddress ${quotePowerShell(remote.address)} -Action ${fix.action === 'allow' ? 'Allow' : 'Block'}`
  );
}

/** One line for the network team: action, protocol and port, source and destination with their addresses, direction. */
export function networkRule(fix: Remediation): string {
  const what = fix.protocol === 'icmp' ? 'ICMP echo' : `${fix.protocol.toUpperCase()} ${fix.port}`;
  const where = `${fix.direction} on ${fix.server.name}${fix.network ? `, on the ${fix.network} network` : ''}`;
  return (
    `${fix.action.toUpperCase()} ${what} from ${fix.source.name} (${fix.source.address}) to ${fix.destination.name} (${fix.destination.address}), ` +
    `one way: ${fix.source.name} → ${fix.destination.name}, ${where}` +
    (fix.direction === 'outbound' ? `: it is ${fix.source.name}'s own host firewall that refused to send (nothing reached the network)` : '')
  );
}

/**
 * Why the PowerShell rule cannot be run as it stands, or null: `-RemoteAddress` takes addresses,
 * not names, and a node given by its name was checked on whatever that name resolved to.
 */
export function addressCaveat(fix: Remediation): string | null {
  const remote = remoteOf(fix);
  return isIP(remote.address) ? null : `-RemoteAddress takes an address, not a name: put ${remote.name}'s address in place of ${remote.address}`;
}

/**
 * A PowerShell single-quoted string: nothing inside is expanded, and a quote is doubled, the
 * typographic ones too, which PowerShell also takes for single quotes.
 */
const quotePowerShell = (text: string) => `'${text.replace(/['\u2018\u2019\u201a\u201b]/g, '$&$&')}'`;
