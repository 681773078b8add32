import { makeNonce } from '@preflight/protocol';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pingCommand, pingFailedToRun, probeIcmp, readPingLine, readPingTime } from './probe-icmp.js';

const notTested = (code: string) => ({ kind: 'error', code, message: expect.any(String) });

describe('reading ping', () => {
  it.each([
    // Replies: a TTL or one round-trip time, and no error word.
    ['64 bytes from 10.1.1.12: icmp_seq=1 ttl=64 time=0.31 ms', { kind: 'verified' }],
    ['64 bytes from fd00::12: icmp_seq=1 ttl=64 time=0.05 ms', { kind: 'verified' }],
    ['Reply from 10.1.1.12: bytes=32 time<1ms TTL=128', { kind: 'verified' }],
    ['Reply from 10.1.1.12: bytes=32 time=14ms TTL=118', { kind: 'verified' }],
    // Windows prints no TTL on an IPv6 reply.
    ['Reply from fd00::12: time<1ms', { kind: 'verified' }],
    ['Reply from fd00::12: time=3ms ', { kind: 'verified' }],
    ['Antwort von 10.1.1.12: Bytes=32 Zeit<1ms TTL=128', { kind: 'verified' }],
    ['Antwort von fd00::12: Zeit=2ms', { kind: 'verified' }],
    // ICMP errors on the path.
    ['Reply from 10.1.1.1: Destination host unreachable.', { kind: 'unreachable', code: 'ICMP-UNREACHABLE' }],
    ['Reply from 10.1.1.1: Destination net unreachable.', { kind: 'unreachable', code: 'ICMP-UNREACHABLE' }],
    ['Reply from fd00::1: Destination host unreachable.', { kind: 'unreachable', code: 'ICMP-UNREACHABLE' }],
    ['Reply from 10.1.1.1: TTL expired in transit.', { kind: 'unreachable', code: 'ICMP-TIME-EXCEEDED' }],
    ['From 10.1.1.1 icmp_seq=1 Time to live exceeded', { kind: 'unreachable', code: 'ICMP-TIME-EXCEEDED' }],
    ['From 10.1.1.1 icmp_seq=1 Destination Host Unreachable', { kind: 'unreachable', code: 'ICMP-UNREACHABLE' }],
    ['From 10.1.1.1 icmp_seq=1 Packet filtered', { kind: 'unreachable', code: 'ICMP-PROHIBITED' }],
    ['From 10.1.1.12 icmp_seq=1 Destination Host Prohibited', { kind: 'unreachable', code: 'ICMP-PROHIBITED' }],
    // The sender's own firewall refused the echo request as it left.
    ['ping: sendmsg: Operation not permitted', { kind: 'local-denied', code: 'EPERM' }],
    ['ping: sendto: Operation not permitted', { kind: 'local-denied', code: 'EPERM' }],
    ['ping: sendmsg: Permission denied', { kind: 'local-denied', code: 'EACCES' }],
    // ping could not start: nothing was sent, so nothing is known of the path; never blocked.
    ['ping: socket: Operation not permitted', notTested('PING-NOT-PERMITTED')],
    ['/usr/bin/ping: socket: Permission denied', notTested('PING-NOT-PERMITTED')],
    ['ping: => missing cap_net_raw+p capability or setuid?', notTested('PING-NOT-PERMITTED')],
    ['ping: socket: Address family not supported by protocol', notTested('PING-NO-SOCKET')],
    ['ping: bind: Cannot assign requested address', notTested('PING-BAD-SOURCE')],
    ['ping: bind icmp socket: Cannot assign requested address', notTested('PING-BAD-SOURCE')],
    ['ping: symapp2: Name or service not known', notTested('PING-UNKNOWN-HOST')],
    ['Ping request could not find host symapp2. Please check the name and try again.', notTested('PING-UNKNOWN-HOST')],
    ['General failure.', notTested('PING-SEND-FAILED')],
    ['PING: transmit failed. General failure. ', notTested('PING-SEND-FAILED')],
    // Nothing yet: silence, headers, statistics.
    ['Request timed out.', null],
    ['ping: socktype: SOCK_RAW', null],
    ['PING 10.1.1.12 (10.1.1.12) 56(84) bytes of data.', null],
    ['Pinging fd00::12 with 32 bytes of data:', null],
    ['5 packets transmitted, 5 received, 0% packet loss, time 814ms', null],
    ['rtt min/avg/max/mdev = 0.192/0.216/0.279/0.031 ms', null],
    ['    Minimum = 0ms, Maximum = 1ms, Average = 0ms', null],
  ])('%s', (line, observation) => {
    expect(readPingLine(line)).toEqual(observation);
  });

  it('says what to fix when ping may not open its socket', () => {
    expect(readPingLine('ping: socket: Operation not permitted')).toMatchObject({ message: expect.stringMatching(/ping_group_range.*cap_net_raw.*root/) });
  });

  it.each([
    ['linux', 1, false], // no reply
    ['linux', 2, true], // any other error
    ['linux', null, false], // killed when it had answered
    ['darwin', 2, false], // no reply
    ['darwin', 68, true], // unknown host
    ['win32', 1, false], // Windows says no reply and failure alike: only its lines tell
    ['linux', 0, false],
  ] as const)('on %s, exit code %s means ping failed to run: %s', (platform, code, failed) => {
    expect(pingFailedToRun(platform, code)).toBe(failed);
  });

  it.each([
    ['64 bytes from 10.1.1.12: icmp_seq=1 ttl=64 time=0.31 ms', 0.31],
    ['Reply from 10.1.1.12: bytes=32 time<1ms TTL=128', 1],
    ['Antwort von 10.1.1.12: Bytes=32 Zeit=3ms TTL=128', 3],
    ['Réponse de 10.1.1.12 : octets=32 temps=12 ms TTL=128', 12],
    ['Reply from fd00::12: time<1ms', 1],
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

  const echoOrder = () => ({ key: 'a->b/icmp', protocol: 'icmp' as const, method: 'echo' as const, host: '127.0.0.2', port: 0, nonce: makeNonce(), timeoutMs: 2000 });

  /** Runs a probe with PATH holding only a `ping` of the test's own, or no ping at all. */
  async function withPing(script: string | null, run: () => Promise<void>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'preflight-ping-'));
    const path = process.env.PATH;
    if (script !== null) {
      writeFileSync(join(dir, 'ping'), `#!/bin/sh\n${script}\n`);
      chmodSync(join(dir, 'ping'), 0o755);
    }
    process.env.PATH = dir;
    try {
      await run();
    } finally {
      process.env.PATH = path;
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('reads a ping that may not open its socket as a probe error, not as blocked', async () => {
    const script = "echo 'ping: socktype: SOCK_RAW' >&2; echo 'ping: socket: Operation not permitted' >&2; echo 'ping: => missing cap_net_raw+p capability or setuid?' >&2; exit 2";
    await withPing(script, async () => {
      const result = await probeIcmp(echoOrder(), new AbortController().signal);
      expect(result.observation).toMatchObject({ kind: 'error', code: 'PING-NOT-PERMITTED' });
    });
  });

  it('reads the egress firewall refusing the echo request as local-denied', async () => {
    const script = "echo 'PING 127.0.0.2 (127.0.0.2) 56(84) bytes of data.'; echo 'ping: sendmsg: Operation not permitted' >&2; exec sleep 5";
    await withPing(script, async () => {
      const result = await probeIcmp(echoOrder(), new AbortController().signal);
      expect(result.observation).toEqual({ kind: 'local-denied', code: 'EPERM' });
      expect(result.elapsedMs).toBeLessThan(1000);
    });
  });

  it('reads a ping missing from PATH as a probe error that says what to install', async () => {
    await withPing(null, async () => {
      const result = await probeIcmp(echoOrder(), new AbortController().signal);
      expect(result.observation).toMatchObject({ kind: 'error', code: 'ENOENT', message: expect.stringContaining('install ping') });
    });
  });

  it.each([
    ['fails in a way no line names', "echo 'ping: something new went wrong' >&2; exit 2", { kind: 'error', code: 'PING-FAILED', message: 'ping failed to run (exit code 2: "ping: something new went wrong")' }],
    ['hears nothing back', "echo 'PING 127.0.0.2 (127.0.0.2) 56(84) bytes of data.'; exit 1", { kind: 'no-answer' }],
  ])('reads a ping that %s by its exit code', async (_label, script, observation) => {
    if (process.platform !== 'linux') return;
    await withPing(script, async () => {
      expect((await probeIcmp(echoOrder(), new AbortController().signal)).observation).toEqual(observation);
    });
  });
});
