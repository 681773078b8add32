import os from 'node:os';
import { hostFactsSchema } from '@preflight/protocol';
import { gatherHostFacts, localTimeOf, parseMounts, parseOsRelease, parseWindowsDisks, parseWindowsMembership } from './host-facts.js';

describe('reading what the OS says', () => {
  it('takes the pretty name of /etc/os-release', () => {
    expect(parseOsRelease('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')).toBe('Debian GNU/Linux 12 (bookworm)');
    expect(parseOsRelease('ID=alpine\n')).toBeNull();
  });

  it('keeps the real filesystems of /proc/mounts, each device once', () => {
    const mounts = [
      '/dev/vda1 / ext4 rw,relatime 0 0',
      'proc /proc proc rw 0 0',
      'tmpfs /run tmpfs rw 0 0',
      '/dev/vda2 /srv/my\\040data xfs rw 0 0',
      'overlay /var/lib/docker/overlay2/x/merged overlay rw 0 0',
      '/dev/vda1 / ext4 rw,relatime 0 0',
      '//nas/share /mnt/share cifs rw 0 0',
      '/dev/vda1 /run/netns ext4 rw 0 0',
    ].join('\n');
    expect(parseMounts(mounts)).toEqual(['/', '/srv/my data']);
  });

  it('reads Windows disks and membership as PowerShell prints them', () => {
    expect(parseWindowsDisks('{"DeviceID":"C:","Size":511101218816,"FreeSpace":201101218816}')).toEqual([{ mount: 'C:', sizeBytes: 511101218816, freeBytes: 201101218816 }]);
    expect(parseWindowsDisks('[{"DeviceID":"C:","Size":100,"FreeSpace":50},{"DeviceID":"D:","Size":null,"FreeSpace":null}]')).toEqual([
      { mount: 'C:', sizeBytes: 100, freeBytes: 50 },
      { mount: 'D:', sizeBytes: 0, freeBytes: 0 },
    ]);
    expect(parseWindowsMembership('{"PartOfDomain":true,"Domain":"corp.example","Workgroup":null}')).toEqual({ kind: 'domain', name: 'corp.example' });
    expect(parseWindowsMembership('{"PartOfDomain":false,"Domain":"WORKGROUP","Workgroup":"WORKGROUP"}')).toEqual({ kind: 'workgroup', name: 'WORKGROUP' });
  });

  it('writes local time with its offset from UTC', () => {
    expect(localTimeOf(new Date('2026-11-24T16:02:11.123Z'))).toMatch(/^2026-11-2\dT\d\d:\d\d:11\.123[+-]\d\d:\d\d$/);
  });
});

describe('gatherHostFacts on this machine', () => {
  it('tells its hostname, OS, CPU, memory, disks, addresses, rights and clock, valid by the protocol', async () => {
    const started = Date.now();
    const facts = await gatherHostFacts();
    expect(Date.now() - started).toBeLessThan(6000);
    expect(hostFactsSchema.parse(facts)).toEqual(facts);
    expect(facts.hostname).toBe(os.hostname());
    expect(facts.cpu.cores).toBeGreaterThan(0);
    expect(facts.memoryBytes).toBeGreaterThan(0);
    expect(facts.disks?.some((disk) => disk.sizeBytes > 0)).toBe(true);
    expect(facts.interfaces.some((nic) => nic.family === 'IPv4' && nic.prefix > 0 && nic.prefix <= 32)).toBe(true);
    expect(facts.admin).toBe(process.getuid?.() === 0);
    if (process.platform === 'linux') expect(facts.os.name).toBeTruthy();
    for (const [field, why] of Object.entries(facts.unknown)) expect(`${field}: ${why}`).toMatch(/: \S/);
  });
});
