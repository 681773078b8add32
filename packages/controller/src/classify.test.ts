import type { ListenResult, ProbeObservation } from '@preflight/protocol';
import { classify, type CheckEvidence } from './classify.js';
import { judge } from './outcome.js';
import type { PlannedCheck } from './plan.js';

const makeCheck = (overrides: Partial<PlannedCheck> = {}): PlannedCheck => ({
  key: 'a->b/tcp/1801',
  requirement: 'msmq',
  protocol: 'tcp',
  port: 1801,
  from: 'a',
  to: 'b',
  fromRole: 'primary',
  toRole: 'secondary',
  purpose: 'MSMQ',
  required: true,
  expect: 'open',
  target: 'agent',
  method: 'handshake',
  network: null,
  ...overrides,
});

const bound: ListenResult = { protocol: 'tcp', port: 1801, state: 'bound' };
const makeEvidence = (observation?: ProbeObservation, overrides: Partial<CheckEvidence> = {}): CheckEvidence => ({
  sender: { state: 'ok' },
  receiver: { state: 'ok' },
  listen: bound,
  probe: observation && { key: 'a->b/tcp/1801', protocol: 'tcp', observation, attempts: 1, elapsedMs: 12 },
  udpReceived: false,
  ...overrides,
});

const udp = makeCheck({ protocol: 'udp', key: 'a->b/udp/1801' });
const udpBound: ListenResult = { ...bound, protocol: 'udp' };
const icmp = makeCheck({ protocol: 'icmp', port: null, key: 'a->b/icmp', method: 'echo' });
const dns = makeCheck({ protocol: 'udp', port: 53, key: 'a->dns/udp/53', to: 'dns', target: 'external', method: 'dns' });
const external = (observation?: ProbeObservation, overrides: Partial<CheckEvidence> = {}) =>
  makeEvidence(observation, { listen: undefined, targetAddress: '10.1.1.2', ...overrides });

describe('classify', () => {
  it('reports what was not asked for as not tested, saying what to add, whatever the wire showed', () => {
    const absent = classify(makeCheck({ absentRole: 'client', from: 'client' }), makeEvidence());
    expect(absent).toEqual({ status: 'not-tested', reason: 'no-node', detail: 'no node has the optional role client: add --node client=HOST to check it' });
    const noAddress = classify(makeCheck({ network: 'interconnect', address: null }), makeEvidence({ kind: 'verified' }));
    expect(noAddress).toEqual({ status: 'not-tested', reason: 'no-address', detail: 'b has no address on network interconnect: add --node b@interconnect=HOST to check it' });
  });

  it.each<[string, PlannedCheck, CheckEvidence, string, string]>([
    ['handshake verified', makeCheck(), makeEvidence({ kind: 'verified' }), 'open', 'verified'],
    ['TCP reset', makeCheck(), makeEvidence({ kind: 'refused', code: 'ECONNREFUSED' }), 'blocked', 'rejected'],
    ['ICMP admin prohibited', makeCheck(), makeEvidence({ kind: 'unreachable', code: 'EHOSTUNREACH' }), 'blocked', 'rejected'],
    ['sender egress filter', makeCheck(), makeEvidence({ kind: 'local-denied', code: 'EPERM' }), 'blocked', 'rejected'],
    ['no answer', makeCheck(), makeEvidence({ kind: 'no-answer' }), 'blocked', 'filtered'],
    ['a proxy answered', makeCheck(), makeEvidence({ kind: 'mismatch', received: 'HTTP/1.1 400' }), 'unverified', 'intercepted'],
    ['accepted, then reset', makeCheck(), makeEvidence({ kind: 'mismatch', received: '', code: 'ECONNRESET' }), 'unverified', 'intercepted'],
    ['a local probe fault', makeCheck(), makeEvidence({ kind: 'error', code: 'EMFILE', message: 'too many files' }), 'not-tested', 'probe-error'],
    ['port in use', makeCheck(), makeEvidence({ kind: 'mismatch', received: '' }, { listen: { ...bound, state: 'in-use' } }), 'unverified', 'port-in-use'],
    ['privileged port', makeCheck(), makeEvidence({ kind: 'refused', code: 'ECONNREFUSED' }, { listen: { ...bound, state: 'denied' } }), 'unverified', 'permission-denied'],
    ['sender unreachable', makeCheck(), makeEvidence(undefined, { sender: { state: 'unreachable', detail: 'ECONNREFUSED' } }), 'not-tested', 'agent-unreachable'],
    ['receiver unreachable, probe timed out', makeCheck(), makeEvidence({ kind: 'no-answer' }, { receiver: { state: 'unreachable', detail: 'x' } }), 'not-tested', 'agent-unreachable'],
    ['receiver lost before the probe ended', makeCheck(), makeEvidence(undefined, { receiver: { state: 'lost', detail: 'closed' } }), 'not-tested', 'agent-lost'],
    ['receiver lost after a verified probe', makeCheck(), makeEvidence({ kind: 'verified' }, { receiver: { state: 'lost', detail: 'closed' } }), 'open', 'verified'],
    // Silence or a reset toward a receiver that died says nothing about the firewall.
    ['receiver lost, no answer', makeCheck(), makeEvidence({ kind: 'no-answer' }, { receiver: { state: 'lost', detail: 'closed' } }), 'not-tested', 'agent-lost'],
    ['receiver lost, refused', makeCheck(), makeEvidence({ kind: 'refused', code: 'ECONNREFUSED' }, { receiver: { state: 'lost', detail: 'closed' } }), 'not-tested', 'agent-lost'],
    ['sender lost after reporting no answer', makeCheck(), makeEvidence({ kind: 'no-answer' }, { sender: { state: 'lost', detail: 'closed' } }), 'blocked', 'filtered'],
    ['UDP receiver lost, datagram unreported', udp, makeEvidence({ kind: 'no-answer' }, { listen: udpBound, receiver: { state: 'lost', detail: 'x' } }), 'not-tested', 'agent-lost'],
    ['UDP receiver lost after reporting it', udp, makeEvidence({ kind: 'no-answer' }, { listen: udpBound, udpReceived: true, receiver: { state: 'lost', detail: 'x' } }), 'open', 'verified'],
    ['wrong token', makeCheck(), makeEvidence(undefined, { sender: { state: 'auth-failed', detail: 'refused' } }), 'not-tested', 'auth-failed'],
    ['UDP reported by the receiver', udp, makeEvidence({ kind: 'no-answer' }, { listen: udpBound, udpReceived: true }), 'open', 'verified'],
    ['UDP reported, sender lost', udp, makeEvidence(undefined, { listen: udpBound, udpReceived: true, sender: { state: 'lost', detail: 'x' } }), 'open', 'verified'],
    ['UDP never reported', udp, makeEvidence({ kind: 'no-answer' }, { listen: udpBound }), 'blocked', 'filtered'],
    ['UDP ICMP port unreachable', udp, makeEvidence({ kind: 'refused', code: 'ECONNREFUSED' }, { listen: udpBound }), 'blocked', 'rejected'],
    ['UDP answered but unreported', udp, makeEvidence({ kind: 'verified' }, { listen: udpBound }), 'not-tested', 'agent-lost'],
    ['a target not named with --target', dns, makeEvidence(undefined, { listen: undefined }), 'not-tested', 'no-target'],
    ['a UDP target with no known query', { ...dns, port: 1434, method: null }, external(), 'not-tested', 'no-query'],
    ['a DNS answer', dns, external({ kind: 'answered', what: 'DNS answered (REFUSED)' }), 'open', 'answered'],
    ['DNS silent', dns, external({ kind: 'no-answer' }), 'blocked', 'filtered'],
    ['DNS port unreachable', dns, external({ kind: 'refused', code: 'ECONNREFUSED' }), 'blocked', 'rejected'],
    ['a target, sender unreachable', dns, external(undefined, { sender: { state: 'unreachable', detail: 'x' } }), 'not-tested', 'agent-unreachable'],
    ['ICMP echo reply', icmp, makeEvidence({ kind: 'verified' }, { listen: undefined }), 'open', 'verified'],
    ['ICMP no reply', icmp, makeEvidence({ kind: 'no-answer' }, { listen: undefined }), 'blocked', 'filtered'],
    ['ICMP prohibited', icmp, makeEvidence({ kind: 'unreachable', code: 'ICMP-PROHIBITED' }, { listen: undefined }), 'blocked', 'rejected'],
    ['ICMP time exceeded', icmp, makeEvidence({ kind: 'unreachable', code: 'ICMP-TIME-EXCEEDED' }, { listen: undefined }), 'blocked', 'rejected'],
    ["ICMP refused by the pinger's own firewall", icmp, makeEvidence({ kind: 'local-denied', code: 'EPERM' }, { listen: undefined }), 'blocked', 'rejected'],
    // ping that could not start (no permission, not installed) says nothing of the path.
    ['ping may not open its socket', icmp, makeEvidence({ kind: 'error', code: 'PING-NOT-PERMITTED', message: 'x' }, { listen: undefined }), 'not-tested', 'probe-error'],
    ['ping not installed', icmp, makeEvidence({ kind: 'error', code: 'ENOENT', message: 'x' }, { listen: undefined }), 'not-tested', 'probe-error'],
    ['ICMP, pinger lost after the reply', icmp, makeEvidence({ kind: 'verified' }, { listen: undefined, sender: { state: 'lost', detail: 'x' } }), 'open', 'verified'],
    ['ICMP, pinger lost before', icmp, makeEvidence(undefined, { listen: undefined, sender: { state: 'lost', detail: 'x' } }), 'not-tested', 'agent-lost'],
  ])('%s', (_label, check, evidence, status, reason) => {
    expect(classify(check, evidence)).toMatchObject({ status, reason });
  });

  it.each<[string, ProbeObservation, string]>([
    ['a reset after connect', { kind: 'mismatch', received: '', code: 'ECONNRESET' }, 'connected, then reset (ECONNRESET) before any answer of ours: a firewall proxy or another program holds the path'],
    ['a reset after a partial banner', { kind: 'mismatch', received: 'HTTP/1.', code: 'ECONNRESET' }, 'connected, then reset (ECONNRESET) before any answer of ours (it had sent "HTTP/1."): a firewall proxy or another program holds the path'],
    ['the sender\'s own firewall', { kind: 'local-denied', code: 'EPERM' }, "the sender's own firewall refused to send (EPERM)"],
    ['ICMP time exceeded', { kind: 'unreachable', code: 'ICMP-TIME-EXCEEDED' }, 'ICMP time exceeded in transit (a routing loop, or more hops than the TTL allows)'],
  ])('says what it saw: %s', (_label, observation, detail) => {
    expect(classify(makeCheck(), makeEvidence(observation)).detail).toBe(detail);
  });

  it('says what to fix when ping could not run', () => {
    const seen: ProbeObservation = { kind: 'error', code: 'PING-NOT-PERMITTED', message: 'ping may not open its ICMP socket: run the agent as root' };
    expect(classify(icmp, makeEvidence(seen, { listen: undefined }))).toEqual({
      status: 'not-tested',
      reason: 'probe-error',
      detail: 'a could not probe: PING-NOT-PERMITTED ping may not open its ICMP socket: run the agent as root',
    });
  });

  it('keeps what a probe saw of a port it could not verify', () => {
    const inUse = makeEvidence({ kind: 'no-answer' }, { listen: { ...bound, state: 'in-use', holder: 'mqsvc.exe (pid 4)' } });
    expect(classify(makeCheck(), inUse)).toEqual({
      status: 'unverified',
      reason: 'port-in-use',
      evidence: 'filtered',
      detail: 'b could not listen: the port is in use by mqsvc.exe (pid 4); no answer',
    });
  });
});

describe('judge', () => {
  it.each([
    ['open', 'open', 'pass'],
    ['open', 'blocked', 'fail'],
    ['closed', 'blocked', 'pass'],
    ['closed', 'open', 'fail'],
    ['open', 'unverified', 'inconclusive'],
    ['closed', 'not-tested', 'inconclusive'],
  ] as const)('expect %s, found %s: %s', (expect_, status, verdict) => {
    const outcome = { status, reason: 'x', detail: '' } as never;
    expect(judge(expect_, outcome)).toBe(verdict);
  });
});
