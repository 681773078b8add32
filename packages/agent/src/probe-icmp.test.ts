import { makeNonce } from '@preflight/protocol';
import { pingCommand, probeIcmp, readPingLine, readPingTime } from './probe-icmp.js';

describe('reading ping', () => {
  it.each([
    ['64 bytes from 10.1.1.12: icmp_seq=1 ttl=64 time=0.31 ms', { kind: 'verified' }],
    ['Reply from 10.1.1.12: bytes=32 time<1ms TTL=128', { kind: 'verified' }],
    ['Antwort von 10.1.1.12: Bytes=32 Zeit<1ms TTL=128', { kind: 'verified' }],
    ['Reply from 10.1.1.1: Destination host unreachable.', { kind: 'unreachable', code: 'ICMP-UNREACHABLE' }],
    ['From 10.1.1.1 icmp_seq=1 Destination Host Unreachable', { kind: 'unreachable', code: 'ICMP-UNREACHABLE' }],
    ['From 10.1.1.1 icmp_seq=1 Packet filtered', { kind: 'unreachable', code: 'ICMP-PROHIBITED' }],
    ['From 10.1.1.12 icmp_seq=1 Destination Host Prohibited', { kind: 'unreachable', code: 'ICMP-PROHIBITED' }],
    ['ping: sendmsg: Operation not permitted', { kind: 'local-denied', code: 'EPERM' }],
    ['Request timed out.', null],
    ['PING 10.1.1.12 (10.1.1.12) 56(84) bytes of data.', null],
  ])('%s', (line, observation) => {
    expect(readPingLine(line)).toEqual(observation);
  });

  it.each([
    ['64 bytes from 10.1.1.12: icmp_seq=1 ttl=64 time=0.31 ms', 0.31],
    ['Reply from 10.1.1.12: bytes=32 time<1ms TTL=128', 1],
    ['Antwort von 10.1.1.12: Bytes=32 Zeit=3ms TTL=128', 3],
    ['Réponse de 10.1.1.12 : octets=32 temps=12 ms TTL=128', 12],
    ['Request timed out.', null],
  ])('reads the round trip of %s', (line, ms) => {
    expect(readPingTime(line)).toBe(ms);
  });

  it('asks each platform\'s ping to keep going for the whole timeout', () => {
    expect(pingCommand('linux', 'h', 3000)).toEqual(['ping', '-n', '-i', '0.2', '-w', '3', 'h']);
    expect(pingCommand('win32', 'h', 2500)).toEqual(['ping', '-n', '3', '-w', '1000', 'h']);
    expect(pingCommand('linux', 'h', 3000, '192.168.10.11')).toEqual(['ping', '-n', '-i', '0.2', '-w', '3', '-I', '192.168.10.11', 'h']);
    expect(pingCommand('win32', 'h', 2500, '192.168.10.11')).toEqual(['ping', '-n', '3', '-w', '1000', '-S', '192.168.10.11', 'h']);
  });
});

describe('probeIcmp', () => {
  it('hears the echo reply of a loopback address', async () => {
    const order = { key: 'a->b/icmp', protocol: 'icmp' as const, method: 'echo' as const, host: '127.0.0.2', port: 0, nonce: makeNonce(), timeoutMs: 2000 };
    const result = await probeIcmp(order, new AbortController().signal);
    expect(result.observation).toEqual({ kind: 'verified' });
    expect(result.elapsedMs).toBeLessThan(1500);
    expect(result.rttMs).toBeGreaterThan(0);
    expect(result.rttMs).toBeLessThan(50);
  });
});
