import { parseNetstat, parseSs } from './port-holders.js';

describe('port holder tables', () => {
  it('reads ss, with and without process names', () => {
    const output = [
      'tcp   LISTEN 0      4096         0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=612,fd=3))',
      'tcp   LISTEN 0      511    [::ffff:127.0.0.2]:1801         *:*',
      'udp   UNCONN 0      0          127.0.0.53%lo:53        0.0.0.0:*    users:(("systemd-resolve",pid=400,fd=13))',
      '',
    ].join('\n');
    expect(parseSs(output)).toEqual([
      { protocol: 'tcp', address: '0.0.0.0', port: 22, holder: 'sshd (pid 612)', pid: 612 },
      { protocol: 'tcp', address: '::ffff:127.0.0.2', port: 1801, holder: 'another program' },
      { protocol: 'udp', address: '127.0.0.53', port: 53, holder: 'systemd-resolve (pid 400)', pid: 400 },
    ]);
  });

  it('reads netstat, keeping TCP listeners and UDP sockets only', () => {
    const output = [
      '  Proto  Local Address          Foreign Address        State           PID',
      '  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1044',
      '  TCP    10.0.0.5:49702         10.0.0.9:443           ESTABLISHED     3120',
      '  UDP    [::]:3527              *:*                                    2212',
    ].join('\r\n');
    expect(parseNetstat(output)).toEqual([
      { protocol: 'tcp', address: '0.0.0.0', port: 135, holder: 'pid 1044', pid: 1044 },
      { protocol: 'udp', address: '::', port: 3527, holder: 'pid 2212', pid: 2212 },
    ]);
  });
});
