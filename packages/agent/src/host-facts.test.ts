import os from 'node:os';
import { hostFactsSchema } from '@preflight/protocol';
import {
  chooseLinuxMembership,
  formatLocalTime,
  gatherHostFacts,
  parseDnsDomain,
  parseKrb5DefaultRealm,
  parseMounts,
  parseOsRelease,
  parseRealmList,
  parseWindowsFacts,
  WINDOWS_SCRIPT,
  type Fact,
} from './host-facts.js';

const DEBIAN = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`;
const RHEL = `NAME="Red Hat Enterprise Linux"
VERSION="9.3 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.3"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"
ANSI_COLOR="0;31"
`;
const ALPINE = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nHOME_URL="https://alpinelinux.org/"\n';

describe('parseOsRelease', () => {
  it.each([
    ['Debian', DEBIAN, 'Debian GNU/Linux 12 (bookworm)'],
    ['RHEL, PRETTY_NAME last', RHEL, 'Red Hat Enterprise Linux 9.3 (Plow)'],
    ['SLES, CRLF', 'NAME="SLES"\r\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\r\n', 'SUSE Linux Enterprise Server 15 SP5'],
    ['single quotes', "PRETTY_NAME='Arch Linux'\n", 'Arch Linux'],
    ['unquoted', 'PRETTY_NAME=Gentoo\n', 'Gentoo'],
    ['escaped quotes', 'PRETTY_NAME="Acme \\"Hardened\\" 2"\n', 'Acme "Hardened" 2'],
    ['no PRETTY_NAME: NAME and VERSION_ID', ALPINE, 'Alpine Linux 3.19.1'],
    ['nothing', 'ID=mystery\n', null],
    ['empty', '', null],
  ])('%s', (_, text, name) => expect(parseOsRelease(text)).toBe(name));
});

const RHEL_LVM_HOST = [
  'sysfs /sys sysfs rw,seclabel,nosuid,nodev,noexec,relatime 0 0',
  'proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0',
  'devtmpfs /dev devtmpfs rw,seclabel,nosuid,size=4096k,nr_inodes=1048576,mode=755,inode64 0 0',
  'tmpfs /dev/shm tmpfs rw,seclabel,nosuid,nodev,inode64 0 0',
  'devpts /dev/pts devpts rw,seclabel,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0',
  'tmpfs /run tmpfs rw,seclabel,nosuid,nodev,size=1566716k,nr_inodes=819200,mode=755,inode64 0 0',
  'cgroup2 /sys/fs/cgroup cgroup2 rw,seclabel,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0',
  'bpf /sys/fs/bpf bpf rw,nosuid,nodev,noexec,relatime,mode=700 0 0',
  '/dev/mapper/rhel-root / xfs rw,seclabel,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota 0 0',
  'systemd-1 /proc/sys/fs/binfmt_misc autofs rw,relatime,fd=32,pgrp=1,timeout=0,minproto=5,maxproto=5,direct 0 0',
  'mqueue /dev/mqueue mqueue rw,seclabel,nosuid,nodev,noexec,relatime 0 0',
  'hugetlbfs /dev/hugepages hugetlbfs rw,seclabel,relatime,pagesize=2M 0 0',
  '/dev/sda2 /boot xfs rw,seclabel,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota 0 0',
  '/dev/sda1 /boot/efi vfat rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=winnt,errors=remount-ro 0 0',
  '/dev/mapper/rhel-home /home xfs rw,seclabel,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota 0 0',
  '/dev/sdb1 /srv/app\\040data ext4 rw,relatime 0 0',
  '/dev/mapper/rhel-root /var/lib/containers/storage/overlay xfs rw,seclabel,relatime 0 0',
  'overlay /var/lib/containers/storage/overlay/abc/merged overlay rw,context="system_u:object_r:container_file_t:s0",lowerdir=/x,upperdir=/y,workdir=/z 0 0',
  '/dev/loop3 /snap/core22/1122 squashfs ro,nodev,relatime,errors=continue,threads=single 0 0',
  '/dev/loop4 /mnt/image ext4 rw,relatime 0 0',
  '/dev/sr0 /media/cdrom iso9660 ro,relatime,nojoliet,check=relaxed,map=normal,blocksize=2048 0 0',
  'nas01:/export/backup /mnt/backup nfs4 rw,relatime,vers=4.2,rsize=1048576,wsize=1048576,hard,proto=tcp 0 0',
  '//fs01/share /mnt/share cifs rw,relatime,vers=3.1.1,cache=strict,username=svc 0 0',
  'tmpfs /run/user/1000 tmpfs rw,seclabel,nosuid,nodev,relatime,size=783356k,nr_inodes=195839,mode=700,uid=1000,gid=1000,inode64 0 0',
].join('\n');

const PROXMOX_ZFS_HOST = [
  'rpool/ROOT/pve-1 / zfs rw,relatime,xattr,noacl,casesensitive 0 0',
  'udev /dev devtmpfs rw,nosuid,relatime,size=32826504k,nr_inodes=8206626,mode=755,inode64 0 0',
  'rpool /rpool zfs rw,relatime,xattr,noacl,casesensitive 0 0',
  'rpool/data /rpool/data zfs rw,relatime,xattr,noacl,casesensitive 0 0',
  'tank/vm /tank/vm zfs rw,relatime,xattr,noacl 0 0',
  '/dev/fuse /etc/pve fuse rw,nosuid,nodev,relatime,user_id=0,group_id=0,default_permissions,allow_other 0 0',
].join('\n');

const CONTAINER = [
  'overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B,upperdir=/u,workdir=/w 0 0',
  'proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0',
  'tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755,inode64 0 0',
  '/dev/nvme0n1p1 /etc/resolv.conf ext4 rw,relatime,discard 0 0',
  '/dev/nvme0n1p1 /etc/hostname ext4 rw,relatime,discard 0 0',
  '/dev/nvme0n1p1 /etc/hosts ext4 rw,relatime,discard 0 0',
].join('\n');

describe('parseMounts', () => {
  it.each([
    ['a RHEL host: LVM, /boot, EFI; no kernel views, tmpfs, overlay, snaps, loop images, CD, NFS or CIFS', RHEL_LVM_HOST, ['/', '/boot', '/boot/efi', '/home', '/srv/app data']],
    ['root on ZFS: each pool once, at its shortest mount; not the FUSE cluster filesystem', PROXMOX_ZFS_HOST, ['/', '/tank/vm']],
    ['NTFS through ntfs-3g (fuseblk) is a disk; sshfs is not', '/dev/sdc1 /mnt/win fuseblk rw 0 0\nuser@host:/ /mnt/remote fuse.sshfs rw 0 0\n', ['/mnt/win']],
    ['a container: the host disk behind the bind mounts, once', CONTAINER, ['/etc/hosts']],
    ['a bind mount of / is not a second disk', '/dev/vda / ext4 rw 0 0\n/dev/vda /run/netns ext4 rw 0 0\n', ['/']],
    ['nothing', '', []],
  ])('%s', (_, text, mounts) => expect(parseMounts(text)).toEqual(mounts));
});

const KRB5_RHEL_DEFAULT = `# To opt out of the system crypto-policies configuration of krb5, remove the
# symlink at /etc/krb5.conf.d/crypto-policies which will not be recreated.
includedir /etc/krb5.conf.d/

[logging]
    default = FILE:/var/log/krb5libs.log

[libdefaults]
    dns_lookup_realm = false
    ticket_lifetime = 24h
    rdns = false
    pkinit_anchors = FILE:/etc/pki/tls/certs/ca-bundle.crt
#    default_realm = EXAMPLE.COM
    default_ccache_name = KEYRING:persistent:%{uid}

[realms]
# EXAMPLE.COM = {
#     kdc = kerberos.example.com
# }
`;
const KRB5_JOINED = KRB5_RHEL_DEFAULT.replace('#    default_realm = EXAMPLE.COM', '    default_realm = CORP.EXAMPLE.COM  # set by realm join');

const REALM_JOINED = `corp.example.com
  type: kerberos
  realm-name: CORP.EXAMPLE.COM
  domain-name: corp.example.com
  configured: kerberos-member
  server-software: active-directory
  client-software: sssd
  required-package: sssd
  required-package: adcli
  login-formats: %U@corp.example.com
  login-policy: allow-realm-logins
`;
const REALM_DISCOVERED = REALM_JOINED.replace('configured: kerberos-member', 'configured: no');

describe('Linux domain sources', () => {
  it.each([
    ['the RHEL default (commented sample)', KRB5_RHEL_DEFAULT, null],
    ['a joined server', KRB5_JOINED, 'CORP.EXAMPLE.COM'],
    ["Debian's sample realm", '[libdefaults]\n\tdefault_realm = ATHENA.MIT.EDU\n', null],
    ['default_realm outside [libdefaults]', '[realms]\n default_realm = X.EXAMPLE\n', null],
    ['empty', '', null],
  ])('krb5.conf: %s', (_, text, realm) => expect(parseKrb5DefaultRealm(text)).toBe(realm));

  it.each([
    ['joined to AD with sssd', REALM_JOINED, 'corp.example.com'],
    ['discovered, not joined', REALM_DISCOVERED, null],
    ['no realm', '', null],
  ])('realm list: %s', (_, text, domain) => expect(parseRealmList(text)).toBe(domain));

  it.each([
    ['corp.example.com\n', 'corp.example.com'],
    ['\n', null],
    ['localdomain\n', null],
  ])('hostname -d printing %j', (output, domain) => expect(parseDnsDomain(output)).toBe(domain));

  const found = (name: string | null): Fact<string | null> => ({ ok: true, value: name });
  const failed = (why: string): Fact<string | null> => ({ ok: false, why });
  it.each([
    ['a joined realm first', { realm: found('corp.example.com'), kerberos: found('OTHER.EXAMPLE'), dns: found('dmz.example.com') }, { ok: true, value: { kind: 'domain', name: 'corp.example.com' } }],
    ['then Kerberos', { realm: found(null), kerberos: found('CORP.EXAMPLE.COM'), dns: found('dmz.example.com') }, { ok: true, value: { kind: 'domain', name: 'CORP.EXAMPLE.COM' } }],
    ['then DNS, though realm failed', { realm: failed('realm timed out after 5 s'), kerberos: found(null), dns: found('corp.example.com') }, { ok: true, value: { kind: 'domain', name: 'corp.example.com' } }],
    ['none when the sources that answered found nothing', { realm: found(null), kerberos: found(null), dns: failed('hostname timed out after 5 s') }, { ok: true, value: { kind: 'none', name: null } }],
    [
      'unknown only when no source answered',
      { realm: failed('realm exited with code 1'), kerberos: failed('cannot read /etc/krb5.conf: EACCES'), dns: failed('hostname timed out after 5 s') },
      { ok: false, why: 'realm exited with code 1; cannot read /etc/krb5.conf: EACCES; hostname timed out after 5 s' },
    ],
  ])('membership: %s', (_, sources, membership) => expect(chooseLinuxMembership(sources)).toEqual(membership));
});

/** What WINDOWS_SCRIPT prints on a domain member, Windows Server 2019, run elevated (one line in reality). */
const WINDOWS_MEMBER = JSON.stringify({
  os: { Version: '10.0.17763', Caption: 'Microsoft Windows Server 2019 Standard ' },
  disks: [
    { FreeSpace: 201101213696, Size: 536215252992, DeviceID: 'C:' },
    { FreeSpace: 1610612736000, Size: 2147483643904, DeviceID: 'D:' },
  ],
  system: { Workgroup: null, Domain: 'corp.example.com', PartOfDomain: true },
  admin: true,
});

describe('parseWindowsFacts', () => {
  it('reads a domain member', () => {
    expect(parseWindowsFacts(WINDOWS_MEMBER)).toEqual({
      osName: { ok: true, value: 'Microsoft Windows Server 2019 Standard 10.0.17763' },
      disks: {
        ok: true,
        value: [
          { mount: 'C:', sizeBytes: 536215252992, freeBytes: 201101213696 },
          { mount: 'D:', sizeBytes: 2147483643904, freeBytes: 1610612736000 },
        ],
      },
      membership: { ok: true, value: { kind: 'domain', name: 'corp.example.com' } },
      admin: { ok: true, value: true },
    });
  });

  const parts = (answer: object) => parseWindowsFacts(JSON.stringify(answer));
  it.each([
    ['a workgroup server', parts({ system: { Workgroup: 'WORKGROUP', Domain: 'WORKGROUP', PartOfDomain: false } }).membership, { ok: true, value: { kind: 'workgroup', name: 'WORKGROUP' } }],
    ['not elevated', parts({ admin: false }).admin, { ok: true, value: false }],
    ['one disk as an object', parts({ disks: { DeviceID: 'C:', Size: 100, FreeSpace: 40 } }).disks, { ok: true, value: [{ mount: 'C:', sizeBytes: 100, freeBytes: 40 }] }],
    ['disks wrapped by PowerShell 5.1', parts({ disks: { value: [{ DeviceID: 'C:', Size: 100, FreeSpace: 40 }], Count: 1 } }).disks, { ok: true, value: [{ mount: 'C:', sizeBytes: 100, freeBytes: 40 }] }],
    ['a locked BitLocker drive is left out', parts({ disks: [{ DeviceID: 'C:', Size: 100, FreeSpace: 40 }, { DeviceID: 'E:', Size: null, FreeSpace: null }] }).disks, { ok: true, value: [{ mount: 'C:', sizeBytes: 100, freeBytes: 40 }] }],
    ['no fixed disk', parts({ disks: [] }).disks, { ok: true, value: [] }],
    ['a CIM query that failed', parts({ systemError: 'Access denied. ' }).membership, { ok: false, why: 'PowerShell: Access denied.' }],
    ['a part left out', parts({}).osName, { ok: false, why: 'PowerShell did not tell the OS name' }],
  ])('%s', (_, fact, expected) => expect(fact).toEqual(expected));

  it('reads JSON after a byte-order mark, and says so when there is no JSON', () => {
    expect(parseWindowsFacts(`\uFEFF${WINDOWS_MEMBER}`).admin).toEqual({ ok: true, value: true });
    const garbage = parseWindowsFacts('Get-CimInstance : The term is not recognized');
    expect(garbage.disks).toEqual({ ok: false, why: 'PowerShell printed no JSON: Get-CimInstance : The term is not recognized' });
    expect(garbage.admin).toEqual(garbage.disks);
    expect(parseWindowsFacts('').osName).toEqual({ ok: false, why: 'PowerShell printed no JSON: (nothing)' });
  });

  it('the script has no double quote, which Windows command-line quoting could mangle', () => {
    expect(WINDOWS_SCRIPT).not.toContain('"');
    expect(WINDOWS_SCRIPT).toContain('ConvertTo-Json');
  });
});

describe('formatLocalTime', () => {
  const instant = new Date('2026-11-24T16:02:11.123Z');
  it.each([
    ['UTC', instant, 0, '2026-11-24T16:02:11.123+00:00'],
    ['Paris in winter', instant, 60, '2026-11-24T17:02:11.123+01:00'],
    ['New York', instant, -300, '2026-11-24T11:02:11.123-05:00'],
    ['India', instant, 330, '2026-11-24T21:32:11.123+05:30'],
    ['Nepal', instant, 345, '2026-11-24T21:47:11.123+05:45'],
    ['Marquesas', instant, -570, '2026-11-24T06:32:11.123-09:30'],
    ['past midnight into a new year', new Date('2026-12-31T23:30:00.000Z'), 60, '2027-01-01T00:30:00.000+01:00'],
  ])('%s', (_, date, offset, text) => {
    expect(formatLocalTime(date, offset)).toBe(text);
    expect(Date.parse(text)).toBe(date.getTime());
  });
});

describe('gatherHostFacts on this machine', () => {
  it('tells its hostname, OS, CPU, memory, disks, addresses, rights and clock, valid by the protocol', async () => {
    const now = new Date();
    const started = Date.now();
    const facts = await gatherHostFacts(now);
    expect(Date.now() - started).toBeLessThan(6000);
    expect(hostFactsSchema.parse(facts)).toEqual(facts);
    expect(facts.hostname).toBe(os.hostname());
    expect(facts.os.platform).toBe(process.platform);
    expect(facts.cpu.cores).toBeGreaterThan(0);
    expect(facts.memoryBytes).toBeGreaterThan(0);
    expect(facts.disks?.some((disk) => disk.sizeBytes > 0)).toBe(true);
    expect(facts.interfaces.some((nic) => nic.family === 'IPv4' && nic.prefix > 0 && nic.prefix <= 32)).toBe(true);
    expect(facts.interfaces.every((nic) => nic.address !== '127.0.0.1' && nic.address !== '::1')).toBe(true);
    expect(facts.admin).toBe(process.getuid?.() === 0);
    expect(Date.parse(facts.localTime)).toBe(now.getTime());
    expect(facts.localTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/);
    if (process.platform === 'linux') {
      expect(facts.os.name).toBeTruthy();
      expect(facts.membership).not.toBeNull();
    }
    // Each null fact says why; each reason belongs to a null fact.
    for (const [field, why] of Object.entries(facts.unknown)) expect(`${field}: ${why}`).toMatch(/^[\w.]+: \S/);
    expect(facts.os.name === null).toBe('os.name' in facts.unknown);
    expect(facts.disks === null).toBe('disks' in facts.unknown);
    expect(facts.membership === null).toBe('membership' in facts.unknown);
  });
});
