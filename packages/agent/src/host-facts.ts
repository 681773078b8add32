import { execFile, type ExecFileException } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HostFacts } from '@preflight/protocol';

/**
 * Longest any one OS command may take. PowerShell's cold start and three CIM queries take 1 to 3 s
 * on a busy server; longer means something hangs (WMI, a DNS lookup), and the facts are not worth
 * holding the run for.
 */
const COMMAND_TIMEOUT_MS = 5000;
/** Each fact's own deadline: a command's timeout and the time to kill it; it also bounds file reads and statfs, which have none. */
const FACT_DEADLINE_MS = COMMAND_TIMEOUT_MS + 500;

type Disk = NonNullable<HostFacts['disks']>[number];
type Membership = NonNullable<HostFacts['membership']>;

/** A fact as one source gave it, or why it could not. */
export type Fact<T> = { ok: true; value: T } | { ok: false; why: string };
const known = <T>(value: T): Fact<T> => ({ ok: true, value });
const unknownBecause = <T>(why: string): Fact<T> => ({ ok: false, why });
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();

/** Why a command gave no output, in the words an engineer on site needs. */
function failureOf(command: string, error: ExecFileException, stderr: string): string {
  const name = path.win32.basename(command);
  if (error.code === 'ENOENT') return `${name} not found`;
  if (error.killed) return `${name} timed out after ${COMMAND_TIMEOUT_MS / 1000} s`;
  const said = stderr.trim().split('\n')[0]?.trim();
  if (typeof error.code === 'number') return `${name} exited with code ${error.code}${said ? `: ${said}` : ''}`;
  return `${name} could not run: ${messageOf(error)}`;
}

/** Runs a command without a shell and gives its standard output, or why there is none. */
function run(command: string, args: string[]): Promise<Fact<string>> {
  return new Promise((resolve) => {
    const options = { timeout: COMMAND_TIMEOUT_MS, killSignal: 'SIGKILL' as const, windowsHide: true, maxBuffer: 1024 * 1024 };
    execFile(command, args, options, (error, stdout, stderr) => resolve(error ? unknownBecause(failureOf(command, error, stderr)) : known(stdout)));
  });
}

/** Gives the work's fact, or its failure as a reason, and never waits past the deadline. */
async function settle<T>(work: () => Promise<Fact<T>>): Promise<Fact<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Fact<T>>((resolve) => {
    timer = setTimeout(() => resolve(unknownBecause(`no answer within ${FACT_DEADLINE_MS / 1000} s`)), FACT_DEADLINE_MS);
  });
  try {
    const attempt = Promise.resolve().then(work).catch((error: unknown) => unknownBecause<T>(messageOf(error)));
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- Linux: /etc/os-release, /proc/mounts, the DNS domain and Kerberos realm ----

/** The OS's name in an os-release file: PRETTY_NAME, else NAME and VERSION; e.g. "Debian GNU/Linux 12 (bookworm)". */
export function parseOsRelease(text: string): string | null {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    const raw = match[2]!.trim();
    const quoted = /^"(.*)"$/.exec(raw) ?? /^'(.*)'$/.exec(raw);
    fields.set(match[1]!, quoted ? quoted[1]!.replace(/\\(["'$`\\])/g, '$1') : raw);
  }
  const pretty = fields.get('PRETTY_NAME');
  if (pretty) return pretty;
  const name = [fields.get('NAME'), fields.get('VERSION') ?? fields.get('VERSION_ID')].filter(Boolean).join(' ');
  return name || null;
}

/** Read-only images on a block device, not disks: snaps (squashfs), erofs, optical discs. */
const IMAGE_TYPES = new Set(['squashfs', 'erofs', 'iso9660', 'udf']);

/**
 * The mount points of the disks in /proc/mounts. A disk is a filesystem on a block device
 * (`/dev/...`, loop devices excepted: their image is a file on another disk) or a ZFS dataset,
 * which leaves out every kernel view (proc, sysfs, cgroup, devpts...), memory (tmpfs, ramfs),
 * container layers (overlay) and network shares (nfs, cifs), whose source is no device, and FUSE
 * filesystems other than fuseblk (ntfs-3g).
 * Each device (each ZFS pool) is told once, at its shortest mount point: bind mounts repeat it.
 */
export function parseMounts(text: string): string[] {
  const byDevice = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [source, escapedMount, type] = line.split(' ');
    // FUSE over /dev/fuse is a program's view (sshfs, Proxmox's pmxcfs); fuseblk, over a real device, stays.
    if (!source || !escapedMount || !type || IMAGE_TYPES.has(type) || type === 'fuse' || type.startsWith('fuse.')) continue;
    const isDevice = source.startsWith('/dev/') && !source.startsWith('/dev/loop');
    if (!isDevice && type !== 'zfs') continue;
    const key = type === 'zfs' ? `zfs:${source.split('/')[0]}` : source;
    const mount = escapedMount.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    const seen = byDevice.get(key);
    if (seen === undefined || mount.length < seen.length) byDevice.set(key, mount);
  }
  return [...byDevice.values()];
}

/** Sample realms that distributions ship in krb5.conf, which say nothing of this server. */
const SAMPLE_REALMS = new Set(['EXAMPLE.COM', 'ATHENA.MIT.EDU']);

/** `default_realm` of krb5.conf's [libdefaults], unless a sample. */
export function parseKrb5DefaultRealm(text: string): string | null {
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*([^\]]+?)\s*\]/.exec(line);
    if (header) section = header[1]!;
    const realm = section === 'libdefaults' ? /^default_realm\s*=\s*([^\s#;]+)/.exec(line)?.[1] : undefined;
    if (realm) return SAMPLE_REALMS.has(realm.toUpperCase()) ? null : realm;
  }
  return null;
}

/** The domain of the first realm `realm list` shows as joined (`configured:` other than `no`). */
export function parseRealmList(text: string): string | null {
  const realms: { name: string; fields: Map<string, string> }[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (!/^\s/.test(line)) realms.push({ name: line.trim(), fields: new Map() });
    const field = /^\s+([\w-]+):\s*(.*)$/.exec(line);
    if (field && realms.length > 0) realms.at(-1)!.fields.set(field[1]!, field[2]!.trim());
  }
  const joined = realms.find((realm) => realm.fields.get('configured') !== 'no');
  return joined ? (joined.fields.get('domain-name') ?? joined.name) : null;
}

/** The DNS domain `hostname -d` printed; "localdomain" (from /etc/hosts' localhost line) is none. */
export function parseDnsDomain(output: string): string | null {
  const domain = output.trim();
  return domain && domain !== 'localdomain' && domain !== '(none)' ? domain : null;
}

/**
 * Linux's nearest thing to domain membership, strongest evidence first: a realm joined with
 * realmd, Kerberos' default realm, the DNS domain. "none" when the sources that answered found
 * nothing; unknown only when none could answer.
 */
export function chooseLinuxMembership(sources: { realm: Fact<string | null>; kerberos: Fact<string | null>; dns: Fact<string | null> }): Fact<Membership> {
  const inOrder = [sources.realm, sources.kerberos, sources.dns];
  const answers = inOrder.flatMap((source) => (source.ok ? [source.value] : []));
  const found = answers.find((name) => name !== null);
  if (found) return known({ kind: 'domain', name: found });
  if (answers.length > 0) return known({ kind: 'none', name: null });
  return unknownBecause(inOrder.map((source) => (source.ok ? '' : source.why)).join('; '));
}

async function linuxMembership(): Promise<Fact<Membership>> {
  const realm = run('realm', ['list']).then((out): Fact<string | null> => {
    if (out.ok) return known(parseRealmList(out.value));
    return out.why === 'realm not found' ? known(null) : out;
  });
  const kerberos = readFile('/etc/krb5.conf', 'utf8').then(
    (text) => known(parseKrb5DefaultRealm(text)),
    (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? known(null) : unknownBecause<string | null>(`cannot read /etc/krb5.conf: ${error.code ?? messageOf(error)}`)),
  );
  const dns = run('hostname', ['-d'])
    .then((out) => (!out.ok && out.why === 'hostname not found' ? run('dnsdomainname', []) : out))
    .then((out): Fact<string | null> => {
      if (out.ok) return known(parseDnsDomain(out.value));
      const dot = os.hostname().indexOf('.');
      return dot > 0 ? known(os.hostname().slice(dot + 1)) : out;
    });
  const [realmFact, kerberosFact, dnsFact] = await Promise.all([realm, kerberos, dns]);
  return chooseLinuxMembership({ realm: realmFact, kerberos: kerberosFact, dns: dnsFact });
}

async function linuxOsName(): Promise<Fact<string>> {
  // os-release(5): /etc/os-release, else /usr/lib/os-release.
  const text = await readFile('/etc/os-release', 'utf8').catch(() => readFile('/usr/lib/os-release', 'utf8'));
  const name = parseOsRelease(text);
  return name ? known(name) : unknownBecause('no PRETTY_NAME or NAME in os-release');
}

async function linuxDisks(): Promise<Fact<Disk[]>> {
  const mounts = parseMounts(await readFile('/proc/mounts', 'utf8'));
  const disks = await Promise.all(
    mounts.map(async (mount) => {
      // Linux counts f_blocks in fragments, which equal the block size on every disk filesystem.
      const stats = await statfs(mount).catch(() => null);
      return stats ? { mount, sizeBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize } : null;
    }),
  );
  return known(disks.filter((disk): disk is Disk => disk !== null && disk.sizeBytes > 0));
}

// ---- Windows: one PowerShell for all CIM facts and the token ----

/**
 * Asks Windows for its name, fixed disks, membership and elevation in one PowerShell (one cold
 * start, not four), each part in its own try so one failing does not lose the others. No double
 * quotes, so Windows' command-line quoting cannot mangle it; -Command, not -EncodedCommand, which
 * endpoint protection flags. UTF-8 out, so a localized caption survives.
 */
export const WINDOWS_SCRIPT = [
  `$ErrorActionPreference = 'Stop'`,
  `try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch {}`,
  `$f = @{}`,
  `try { $o = Get-CimInstance Win32_OperatingSystem; $f.os = @{ Caption = $o.Caption; Version = $o.Version } } catch { $f.osError = $_.Exception.Message }`,
  `try { $f.disks = @(Get-CimInstance Win32_LogicalDisk -Filter 'DriveType=3' | ForEach-Object { @{ DeviceID = $_.DeviceID; Size = $_.Size; FreeSpace = $_.FreeSpace } }) } catch { $f.disksError = $_.Exception.Message }`,
  `try { $c = Get-CimInstance Win32_ComputerSystem; $f.system = @{ PartOfDomain = $c.PartOfDomain; Domain = $c.Domain; Workgroup = $c.Workgroup } } catch { $f.systemError = $_.Exception.Message }`,
  `try { $f.admin = ([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator) } catch { $f.adminError = $_.Exception.Message }`,
  `ConvertTo-Json -InputObject $f -Compress -Depth 4`,
].join('; ');

interface WindowsAnswer {
  os?: { Caption?: string | null; Version?: string | null };
  osError?: string;
  disks?: WindowsDisk[] | WindowsDisk | { value: WindowsDisk[] };
  disksError?: string;
  system?: { PartOfDomain?: boolean; Domain?: string | null; Workgroup?: string | null };
  systemError?: string;
  admin?: boolean;
  adminError?: string;
}
interface WindowsDisk {
  DeviceID: string;
  Size: number | null;
  FreeSpace: number | null;
}

/** What Windows told, fact by fact, from the JSON {@link WINDOWS_SCRIPT} prints. */
export interface WindowsFacts {
  osName: Fact<string>;
  disks: Fact<Disk[]>;
  membership: Fact<Membership>;
  admin: Fact<boolean>;
}

/**
 * Reads {@link WINDOWS_SCRIPT}'s JSON. Disks without a size (a volume Windows cannot read, such as
 * a locked BitLocker drive) are left out, since a size of 0 would be false.
 */
export function parseWindowsFacts(json: string): WindowsFacts {
  let answer: WindowsAnswer;
  try {
    answer = JSON.parse(json.replace(/^\uFEFF/, '')) as WindowsAnswer;
  } catch {
    const all = unknownBecause<never>(`PowerShell printed no JSON: ${json.trim().slice(0, 80) || '(nothing)'}`);
    return { osName: all, disks: all, membership: all, admin: all };
  }
  const missing = (part: string, error: string | undefined) => unknownBecause<never>(error ? `PowerShell: ${error.trim()}` : `PowerShell did not tell ${part}`);
  const caption = answer.os?.Caption?.trim();
  const osName = caption ? known([caption, answer.os?.Version].filter(Boolean).join(' ')) : missing('the OS name', answer.osError);

  // A list of one may come as the object itself, or wrapped as {value: [...]} by Windows PowerShell 5.1.
  const listed = answer.disks && 'value' in answer.disks ? answer.disks.value : answer.disks;
  const disks = listed
    ? known((Array.isArray(listed) ? listed : [listed]).filter((disk) => typeof disk.Size === 'number').map((disk) => ({ mount: disk.DeviceID, sizeBytes: disk.Size!, freeBytes: disk.FreeSpace ?? 0 })))
    : missing('the disks', answer.disksError);

  const system = answer.system;
  const membership =
    system && typeof system.PartOfDomain === 'boolean'
      ? known<Membership>(system.PartOfDomain ? { kind: 'domain', name: system.Domain ?? null } : { kind: 'workgroup', name: system.Workgroup ?? system.Domain ?? null })
      : missing('the domain or workgroup', answer.systemError);

  const admin = typeof answer.admin === 'boolean' ? known(answer.admin) : missing('the rights', answer.adminError);
  return { osName, disks, membership, admin };
}

async function windowsFacts(): Promise<WindowsFacts> {
  // By full path: a search would look in the agent's working directory first, and the agent may run elevated.
  const powershell = path.win32.join(process.env['SystemRoot'] ?? 'C:\\Windows', 'System32', 'WindowsPowerShell', 'v1.0', 'powershell.exe');
  const out = await settle(() => run(powershell, ['-NoProfile', '-NonInteractive', '-Command', WINDOWS_SCRIPT]));
  if (out.ok) return parseWindowsFacts(out.value);
  return { osName: out, disks: out, membership: out, admin: out };
}

// ---- Node's own facts ----

/** `2026-11-24T16:02:11.123+01:00`: the time as a clock `offsetMinutes` east of UTC shows it. */
export function formatLocalTime(date: Date, offsetMinutes: number): string {
  const wall = new Date(date.getTime() + offsetMinutes * 60_000).toISOString().slice(0, -1);
  const sign = offsetMinutes >= 0 ? '+' : '-';
  const hours = String(Math.floor(Math.abs(offsetMinutes) / 60)).padStart(2, '0');
  const minutes = String(Math.abs(offsetMinutes) % 60).padStart(2, '0');
  return `${wall}${sign}${hours}:${minutes}`;
}

/** The prefix length of a netmask: its one bits. */
function prefixOf(netmask: string): number {
  const bits = netmask.includes(':')
    ? netmask.split(':').map((group) => parseInt(group || '0', 16).toString(2))
    : netmask.split('.').map((octet) => Number(octet).toString(2));
  return bits.join('').split('').filter((bit) => bit === '1').length;
}

function interfacesOf(): HostFacts['interfaces'] {
  return Object.entries(os.networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? [])
      .filter((address) => !address.internal)
      .map((address) => ({
        name,
        family: address.family === 'IPv4' ? ('IPv4' as const) : ('IPv6' as const),
        address: address.address,
        prefix: address.cidr ? Number(address.cidr.split('/')[1]) : prefixOf(address.netmask),
        mac: address.mac,
      })),
  );
}

/** Whether the process runs as root; on Windows, see {@link WINDOWS_SCRIPT}. */
const isRoot = (): Fact<boolean> => (process.getuid ? known(process.getuid() === 0) : unknownBecause('no user id on this platform'));

/**
 * What the agent can tell of its server: Node's own facts and, where Node cannot say, the OS's:
 * /etc and /proc, `hostname -d`, krb5.conf and `realm list` on Linux; one PowerShell of CIM
 * queries on Windows. Never throws and never takes much over 5 s: a fact it cannot have is null,
 * with the reason in `unknown`.
 */
export async function gatherHostFacts(now = new Date()): Promise<HostFacts> {
  const platform = process.platform;
  const posixUnread = <T>() => Promise.resolve(unknownBecause<T>(`not read on ${platform}`));
  const { osName, disks, membership, admin }: WindowsFacts =
    platform === 'win32'
      ? await windowsFacts()
      : await Promise.all([
          platform === 'linux' ? settle(linuxOsName) : Promise.resolve(known(`${os.type()} ${os.release()}`)),
          platform === 'linux' ? settle(linuxDisks) : posixUnread<Disk[]>(),
          settle(linuxMembership),
          isRoot(),
        ]).then(([osName, disks, membership, admin]) => ({ osName, disks, membership, admin }));

  const unknown: Record<string, string> = {};
  const take = <T>(field: string, fact: Fact<T>): T | null => {
    if (fact.ok) return fact.value;
    unknown[field] = fact.why;
    return null;
  };
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim();
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return {
    hostname: os.hostname(),
    os: { platform, name: take('os.name', osName), release: os.release(), arch: process.arch },
    cpu: {
      // Node says "unknown" where /proc/cpuinfo names no model (some ARM servers).
      model: take('cpu.model', model && model !== 'unknown' ? known(model) : unknownBecause('the OS does not name the processor')),
      cores: cpus.length || os.availableParallelism(),
    },
    memoryBytes: os.totalmem(),
    disks: take('disks', disks),
    interfaces: interfacesOf(),
    membership: take('membership', membership),
    admin: take('admin', admin),
    localTime: formatLocalTime(now, -now.getTimezoneOffset()),
    timeZone: take('timeZone', timeZone ? known(timeZone) : unknownBecause('Node has no time-zone data (built without ICU)')),
    unknown,
  };
}
