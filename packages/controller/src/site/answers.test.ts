import type { HostFacts } from '@preflight/protocol';
import { profileSchema, type Profile } from '../profile/schema.js';
import type { CheckResult, NodeOutcome, RunResult } from '../run.js';
import { answerSiteQuestions, sameSubnet } from './answers.js';

const GIB = 1024 ** 3;

const makeFacts = (overrides: Partial<HostFacts> = {}): HostFacts => ({
  hostname: 'SYM1',
  os: { platform: 'win32', name: 'Windows Server 2019 Standard 10.0.17763', release: '10.0.17763', arch: 'x64' },
  cpu: { model: 'Intel(R) Xeon(R) Silver 4110 CPU @ 2.10GHz', cores: 16 },
  memoryBytes: 32 * GIB,
  disks: [{ mount: 'C:', sizeBytes: 1000 * GIB, freeBytes: 600 * GIB }],
  interfaces: [{ name: 'Ethernet', family: 'IPv4', address: '10.1.1.11', prefix: 24, mac: '00:11:22:33:44:55' }],
  membership: { kind: 'domain', name: 'corp.example' },
  admin: true,
  localTime: '2026-11-24T10:00:00.000+00:00',
  timeZone: 'UTC',
  unknown: {},
  ...overrides,
});

const makeNode = (name: string, host: string, facts?: HostFacts, extra: Partial<NodeOutcome> = {}): NodeOutcome => ({
  name,
  role: name,
  host,
  port: 7890,
  state: 'connected',
  ...(facts ? { facts } : {}),
  ...extra,
});

const nic = (address: string, prefix = 24) => [{ name: 'Ethernet', family: 'IPv4' as const, address, prefix, mac: '00:00:00:00:00:01' }];

const profile: Profile = profileSchema.parse({
  format: 'preflight-profile/1',
  name: 'nec',
  title: 'NEC',
  version: '1',
  questions: ['nec-appendix-a', 'nec-appendix-b'],
  roles: { primary: { description: 'a' }, secondary: { description: 'b' }, 'comm-server': { description: 'c', optional: true } },
  requirements: [{ id: 'x', protocol: 'tcp', ports: [1801], from: 'primary', to: 'secondary', purpose: 'p', source: 's' }],
});

const check = (from: string, to: string, protocol: 'tcp' | 'icmp', rttMs: number): CheckResult => ({
  key: `${from}->${to}/${protocol}`,
  requirement: 'x',
  protocol,
  port: protocol === 'icmp' ? null : 1801,
  from,
  to,
  fromRole: from,
  toRole: to,
  purpose: 'p',
  required: true,
  expect: 'open',
  target: 'agent',
  method: protocol === 'icmp' ? 'echo' : 'handshake',
  network: null,
  outcome: { status: 'open', reason: 'verified', detail: '' },
  verdict: 'pass',
  rttMs,
});

const runOf = (nodes: NodeOutcome[], checks: CheckResult[] = []): RunResult => ({
  runId: 'r',
  startedAt: new Date(0),
  finishedAt: new Date(0),
  timings: { connectMs: 0, listenMs: 0, probeMs: 0, totalMs: 0 },
  nodes,
  checks,
});

describe('sameSubnet', () => {
  it.each([
    ['both in 10.1.1.0/24', '10.1.1.11', nic('10.1.1.11'), '10.1.1.12', nic('10.1.1.12'), 'yes', '10.1.1.11 and 10.1.1.12 are both in 10.1.1.0/24'],
    ['behind a router', '10.1.1.11', nic('10.1.1.11'), '10.2.1.12', nic('10.2.1.12'), 'no', 'primary (10.1.1.11) is on 10.1.1.0/24; secondary (10.2.1.12) is on 10.2.1.0/24'],
    ['a /16 on one side covers the other', '10.1.1.11', nic('10.1.1.11', 16), '10.1.9.12', nic('10.1.9.12', 24), 'yes', '10.1.1.11 and 10.1.9.12 are both in 10.1.0.0/16'],
  ])('%s', (_label, hostA, nicsA, hostB, nicsB, answer, basis) => {
    const a = makeNode('primary', hostA, makeFacts({ interfaces: nicsA }));
    const b = makeNode('secondary', hostB, makeFacts({ interfaces: nicsB }));
    expect(sameSubnet(a, b)).toEqual({ answer, basis });
  });

  it('puts agents on loopback addresses on one machine', () => {
    const a = makeNode('primary', '127.0.0.1', makeFacts({ interfaces: nic('192.0.2.2') }));
    const b = makeNode('secondary', '127.0.0.2', makeFacts({ interfaces: nic('192.0.2.2') }));
    expect(sameSubnet(a, b)).toEqual({ answer: 'yes', basis: '127.0.0.1 and 127.0.0.2 are both loopback addresses of one machine' });
  });

  it('is unknown without an agent\'s facts', () => {
    expect(sameSubnet(makeNode('primary', '10.1.1.11'), makeNode('secondary', '10.1.1.12', makeFacts())).answer).toBe('unknown');
  });
});

describe('answerSiteQuestions', () => {
  const primary = makeNode('primary', '10.1.1.11', makeFacts({ interfaces: nic('10.1.1.11') }), { clock: { offsetMs: 120, rttMs: 1 } });
  const secondary = makeNode('secondary', '10.1.1.12', makeFacts({ hostname: 'SYM2', interfaces: nic('10.1.1.12') }), { clock: { offsetMs: -30, rttMs: 1 } });

  it('measures each pair: subnet, the fastest ICMP round trip, the clock offset', () => {
    const run = runOf([primary, secondary], [check('primary', 'secondary', 'icmp', 0.42), check('secondary', 'primary', 'icmp', 0.31), check('primary', 'secondary', 'tcp', 0.2)]);
    expect(answerSiteQuestions(profile, run).pairs).toEqual([
      { a: 'primary', b: 'secondary', sameSubnet: expect.objectContaining({ answer: 'yes' }), rttMs: 0.31, rttSource: 'icmp', clockOffsetMs: -150 },
    ]);
  });

  it('Appendix A: same subnet points to the LAN edition, with the distance left to the customer', () => {
    const { appendixA } = answerSiteQuestions(profile, runOf([primary, secondary], [check('primary', 'secondary', 'tcp', 0.4)]));
    expect(appendixA?.questions.map((q) => q.answer.answer)).toEqual(['no', 'yes', 'unknown']);
    expect(appendixA?.edition).toBe('LAN');
    expect(appendixA?.reasons.join(' ')).toMatch(/more than 8 miles apart, which preflight cannot measure/);
  });

  it('Appendix A: a round trip faster than light over 16 miles proves the servers are close', () => {
    const { appendixA } = answerSiteQuestions(profile, runOf([primary, secondary], [check('primary', 'secondary', 'icmp', 0.05)]));
    expect(appendixA?.questions[2]?.answer.answer).toBe('no');
  });

  it('Appendix A: different subnets point to the WAN edition', () => {
    const far = makeNode('secondary', '10.2.1.12', makeFacts({ interfaces: nic('10.2.1.12') }));
    const { appendixA } = answerSiteQuestions(profile, runOf([primary, far]));
    expect(appendixA?.questions.map((q) => q.answer.answer)).toEqual(['yes', 'no', 'unknown']);
    expect(appendixA).toMatchObject({ edition: 'WAN', reasons: expect.arrayContaining(['the servers are on different subnets, joined at layer 3']) });
  });

  it('Appendix B: the servers side by side, differences marked, and each requirement answered', () => {
    const smaller = makeNode('secondary', '10.1.1.12', makeFacts({ hostname: 'SYM2', memoryBytes: 16 * GIB, membership: { kind: 'workgroup', name: 'WORKGROUP' }, admin: false }));
    const { appendixB } = answerSiteQuestions(profile, runOf([primary, smaller]));
    expect(appendixB?.identical.rows.find((row) => row.fact === 'Memory')).toEqual({ fact: 'Memory', values: { primary: '32.0 GiB', secondary: '16.0 GiB' }, differs: true });
    expect(appendixB?.identical.rows.filter((row) => row.differs).map((row) => row.fact)).toEqual(['Memory']);
    expect(appendixB?.identical.answer).toEqual({ answer: 'no', basis: 'they differ in: Memory' });
    expect(appendixB?.sameDomain).toEqual({ answer: 'no', basis: 'primary: domain corp.example; secondary: workgroup WORKGROUP' });
    expect(appendixB?.adminRights.answer).toBe('no');
    expect(appendixB?.commServerSeparate.answer).toBe('unknown');
  });

  it('Appendix B: a comm server on one of the cluster servers is refused; on its own machine, accepted', () => {
    const onPrimary = makeNode('comm-server', '10.1.1.11', makeFacts(), { role: 'comm-server' });
    expect(answerSiteQuestions(profile, runOf([primary, secondary, onPrimary])).appendixB?.commServerSeparate).toEqual({
      answer: 'no',
      basis: 'comm-server is the same machine as primary (hostname SYM1)',
    });
    const apart = makeNode('comm-server', '10.1.1.20', makeFacts({ hostname: 'COMM', interfaces: nic('10.1.1.20') }), { role: 'comm-server' });
    expect(answerSiteQuestions(profile, runOf([primary, secondary, apart])).appendixB?.commServerSeparate.answer).toBe('yes');
  });

  it('asks nothing of a profile without questions', () => {
    const plain = profileSchema.parse({ ...profile, questions: undefined });
    expect(answerSiteQuestions(plain, runOf([primary, secondary]))).toEqual({ pairs: [expect.any(Object)] });
  });
});
