import { execFile } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import type { HostFacts } from '@preflight/protocol';

/** Longest any one OS command may take; facts that need longer are reported unknown. */
const COMMAND_TIMEOUT_MS = 5000;

/** Filesystems that are not disks: kernel views, memory, containers' layers, network shares. */
const NOT_DISKS = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs', 'ramfs', 'securityfs', 'cgroup', 'cgroup2', 'pstore', 'bpf', 'debugfs',
  'tracefs', 'configfs', 'fusectl', 'mqueue', 'hugetlbfs', 'autofs', 'binfmt_misc', 'overlay', 'squashfs', 'nsfs', 'rpc_pipefs',
  'efivarfs', 'fuse.lxcfs', 'nfs', 'nfs4', 'cifs', 'smbfs', 'sshfs', 'fuse.sshfs', '9p', 'virtiofs', 'iso9660', 'udf',
]);

type Outcome<T> = { value: T } | { unknown: string };

/** Runs a command (never through a shell) and gives its standard output, or why it could not. */
function run(command: string, args: string[]): Promise<Outcome<string>> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: COMMAND_TIMEOUT_MS, windowsHide: true, maxBuffer: 1024 * 1024 }, (error, stdout) => {
      if (!error) return resolve({ value: stdout });
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? `${command} not found` : error.killed ? `${command} timed out after ${COMMAND_TIMEOUT_MS / 1000} s` : `${command} failed: ${error.message.split('\n')[0]}`;
      resolve({ unknown: why });
    });
  });
}

/** PowerShell, asked for JSON. */
const powershell = (script: string) => run('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', `${script} | ConvertTo-Json -Compress`]);

/** `PRETTY_NAME` of /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)". */
export function parseOsRelease(text: string): string | null {
  const line = text.split('\n').find((each) => each.startsWith('PRETTY_NAME='));
  return line ? line.slice('PRETTY_NAME='.length).replace(/^"|"$/g, '') : null;
}

/** Mount points of real filesystems in /proc/mounts: each device once, at its first mount (bind mounts repeat it). */
export function parseMounts(text: string): string[] {
  const devices = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [device, mount, type] = line.split(' ');
    if (!device || !mount || !type || NOT_DISKS.has(type) || !device.startsWith('/') || devices.has(device)) continue;
    devices.set(device, mount.replace(/\\040/g, ' '));
  }
  return [...devices.values()];
}

/** Win32_LogicalDisk (DriveType 3, fixed) as PowerShell prints it in JSON: one object or a list. */
export function parseWindowsDisks(json: string): HostFacts['disks'] {
  const parsed = JSON.parse(json) as { DeviceID: string; Size: number | null; FreeSpace: number | null } | { DeviceID: string; Size: number | null; FreeSpace: number | null }[];
  return (Array.isArray(parsed) ? parsed : [parsed]).map((disk) => ({ mount: disk.DeviceID, sizeBytes: disk.Size ?? 0, freeBytes: disk.FreeSpace ?? 0 }));
}

/** Win32_ComputerSystem's membership: a domain, or a workgroup. */
export function parseWindowsMembership(json: string): NonNullable<HostFacts['membership']> {
  const system = JSON.parse(json) as { PartOfDomain: boolean; Domain: string | null; Workgroup: string | null };
  return system.PartOfDomain ? { kind: 'domain', name: system.Domain } : { kind: 'workgroup', name: system.Workgroup ?? system.Domain };
}

/** `2026-11-24T16:02:11.123+01:00`: the server's own clock, with its offset from UTC. */
export function localTimeOf(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, -1);
  const sign = offset >= 0 ? '+' : '-';
  const hours = String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0');
  const minutes = String(Math.abs(offset) % 60).padStart(2, '0');
  return `${local}${sign}${hours}:${minutes}`;
}

function interfacesOf(): HostFacts['interfaces'] {
  return Object.entries(os.networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? [])
      .filter((address) => !address.internal)
      .map((address) => ({
        name,
        family: address.family === 'IPv4' ? ('IPv4' as const) : ('IPv6' as const),
        address: address.address,
        prefix: Number(address.cidr?.split('/')[1] ?? (address.family === 'IPv4' ? 32 : 128)),
        mac: address.mac,
      })),
  );
}

async function linuxDisks(): Promise<Outcome<NonNullable<HostFacts['disks']>>> {
  try {
    const mounts = parseMounts(await readFile('/proc/mounts', 'utf8'));
    const disks = await Promise.all(
      mounts.map(async (mount) => {
        const stats = await statfs(mount).catch(() => null);
        return stats ? { mount, sizeBytes: stats.blocks * stats.bsize, freeBytes: stats.bavail * stats.bsize } : null;
      }),
    );
    return { value: disks.filter((disk): disk is NonNullable<typeof disk> => disk !== null && disk.sizeBytes > 0) };
  } catch (error) {
    return { unknown: `cannot read /proc/mounts: ${(error as Error).message}` };
  }
}

/** A Linux server's DNS domain (`hostname -d`), as near as Linux comes to domain membership. */
async function linuxMembership(): Promise<Outcome<NonNullable<HostFacts['membership']>>> {
  const domain = await run('hostname', ['-d']);
  if ('unknown' in domain) return domain;
  const name = domain.value.trim();
  return { value: name ? { kind: 'domain', name } : { kind: 'none', name: null } };
}

/** Whether this process runs elevated: root, or a Windows administrator's elevated token. */
async function isAdmin(): Promise<Outcome<boolean>> {
  if (process.platform !== 'win32') return { value: process.getuid?.() === 0 };
  const result = await powershell('([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()).IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)');
  return 'unknown' in result ? result : { value: JSON.parse(result.value) === true };
}

async function osName(): Promise<Outcome<string>> {
  if (process.platform === 'win32') {
    const result = await powershell('Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version');
    if ('unknown' in result) return result;
    const system = JSON.parse(result.value) as { Caption: string; Version: string };
    return { value: `${system.Caption.trim()} ${system.Version}` };
  }
  if (process.platform === 'linux') {
    const name = parseOsRelease(await readFile('/etc/os-release', 'utf8').catch(() => ''));
    return name ? { value: name } : { unknown: 'no PRETTY_NAME in /etc/os-release' };
  }
  return { value: `${os.type()} ${os.release()}` };
}

async function disks(): Promise<Outcome<NonNullable<HostFacts['disks']>>> {
  if (process.platform === 'linux') return linuxDisks();
  if (process.platform === 'win32') {
    const result = await powershell('Get-CimInstance Win32_LogicalDisk -Filter "DriveType=3" | Select-Object DeviceID,Size,FreeSpace');
    return 'unknown' in result ? result : { value: parseWindowsDisks(result.value) ?? [] };
  }
  return { unknown: `not read on ${process.platform}` };
}

async function membership(): Promise<Outcome<NonNullable<HostFacts['membership']>>> {
  if (process.platform === 'win32') {
    const result = await powershell('Get-CimInstance Win32_ComputerSystem | Select-Object PartOfDomain,Domain,Workgroup');
    return 'unknown' in result ? result : { value: parseWindowsMembership(result.value) };
  }
  return linuxMembership();
}

/**
 * What the agent can tell of its server, from Node and, where Node cannot say, the OS's own
 * commands (PowerShell's CIM classes on Windows, /proc and /etc on Linux). Never throws: a fact it
 * cannot have is null, with the reason in `unknown`.
 */
export async function gatherHostFacts(now = new Date()): Promise<HostFacts> {
  const [name, diskList, member, admin] = await Promise.all([osName(), disks(), membership(), isAdmin()]);
  const unknown: Record<string, string> = {};
  const take = <T>(field: string, outcome: Outcome<T>): T | null => {
    if ('value' in outcome) return outcome.value;
    unknown[field] = outcome.unknown;
    return null;
  };
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() || null;
  if (!model) unknown['cpu.model'] = 'the OS does not name the processor';
  return {
    hostname: os.hostname(),
    os: { platform: process.platform, name: take('os.name', name), release: os.release(), arch: process.arch },
    cpu: { model, cores: cpus.length },
    memoryBytes: os.totalmem(),
    disks: take('disks', diskList),
    interfaces: interfacesOf(),
    membership: take('membership', member),
    admin: take('admin', admin),
    localTime: localTimeOf(now),
    timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone ?? null,
    unknown,
  };
}
