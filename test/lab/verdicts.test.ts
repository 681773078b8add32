import type { ChildProcess } from 'node:child_process';
import { Lab, describeLab, type LabHost } from './netlab.js';
import { expectAdHoc, expectFromPlan, type Blocked } from './expected.js';
import {
  PORTS, PORT_SPECS, TOKEN, agentNode, between, expectRules, expectVerdicts as expectVerdictsIn, mixedRules, nodeArgs, planOf,
  runPreflight as runPreflightIn, runReport, type Rule,
} from './scenario.js';

/**
 * Every verdict against the rules that cause it. Each scenario places nftables rules and says
 * which checks they block and how; every other check of the run must come out open. The whole
 * report is compared, every (protocol, port, direction), not just the rows a rule touches.
 */

describeLab('verdicts against real firewall rules', () => {
  let lab: Lab;
  let n1: LabHost;
  let n2: LabHost;
  /** `a->b` for n1 to n2, `b->a` back: the check keys use the --node names. */
  const key = (direction: 'a->b' | 'b->a', what: string) => `${direction}/${what}`;

  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    [n1, n2] = lab.nodes as [LabHost, LabHost];
    await Promise.all(lab.nodes.map((node) => lab.startAgent(node, TOKEN)));
  });
  afterEach(async () => {
    await lab.clearRules();
    await lab.clearLoss();
  });
  afterAll(() => lab?.destroy());

  const runPreflight = (args: string[], timeout?: number) => runPreflightIn(lab, args, timeout);
  const expectVerdicts = (rules: Rule[], blocked: Blocked, options?: { timeout?: number; lossPercent?: number }) =>
    expectVerdictsIn(lab, rules, blocked, options);

  it('drop: filtered, for TCP, UDP and ICMP, in the direction the rule names only', async () => {
    await expectVerdicts(
      [
        { chain: 'forward', text: between(n1, n2, 'tcp dport 29001', 'drop') },
        { chain: 'forward', text: between(n1, n2, 'udp dport 29002', 'drop') },
        { chain: 'forward', text: between(n2, n1, 'icmp type echo-request', 'drop') },
      ],
      {
        [key('a->b', 'tcp/29001')]: 'blocked/filtered',
        [key('a->b', 'udp/29002')]: 'blocked/filtered',
        [key('b->a', 'icmp')]: 'blocked/filtered',
      },
    );
  });

  it.each([
    ['TCP reset', 'reject with tcp reset', ['tcp']],
    ['ICMP port unreachable', 'reject with icmpx type port-unreachable', ['tcp', 'udp']],
    ['ICMP administratively prohibited', 'reject with icmpx type admin-prohibited', ['tcp', 'udp', 'icmp']],
    ['ICMP host unreachable', 'reject with icmpx type host-unreachable', ['tcp', 'udp', 'icmp']],
  ] as const)('reject with %s: rejected', async (_label, action, protocols) => {
    const rules: Rule[] = [];
    const blocked: Record<string, string> = {};
    if (protocols.includes('tcp' as never)) {
      rules.push({ chain: 'forward', text: between(n1, n2, 'tcp dport 29003', action) });
      blocked[key('a->b', 'tcp/29003')] = 'blocked/rejected';
    }
    if (protocols.includes('udp' as never)) {
      rules.push({ chain: 'forward', text: between(n2, n1, 'udp dport 29004', action) });
      // Linux tells a UDP socket of host-unreachable only with IP_RECVERR, which Node cannot set
      // (it is a "soft" error): the datagram is still blocked, but reads as unanswered.
      blocked[key('b->a', 'udp/29004')] = action.includes('host-unreachable') ? 'blocked/filtered' : 'blocked/rejected';
    }
    if (protocols.includes('icmp' as never)) {
      rules.push({ chain: 'forward', text: between(n1, n2, 'icmp type echo-request', action) });
      blocked[key('a->b', 'icmp')] = 'blocked/rejected';
    }
    await expectVerdicts(rules, blocked);
  });

  it.each([
    ['in the router', (): Rule[] => [
      { chain: 'forward', text: between(n1, n2, 'tcp dport 29002', 'drop') },
      { chain: 'forward', text: between(n1, n2, 'udp dport 29002', 'drop') },
    ], 'blocked/filtered', 'blocked/filtered'],
    ["in the receiver's input chain", (): Rule[] => [
      { chain: 'input', host: n2, text: `ip saddr ${n1.address} tcp dport 29002 drop` },
      { chain: 'input', host: n2, text: `ip saddr ${n1.address} udp dport 29002 drop` },
    ], 'blocked/filtered', 'blocked/filtered'],
    // The sender's own firewall: a dropped SYN is silent (the kernel retransmits it), while a
    // datagram's send() fails with EPERM, so the sender knows it never left.
    ["in the sender's output chain", (): Rule[] => [
      { chain: 'output', host: n1, text: `ip daddr ${n2.address} tcp dport 29002 drop` },
      { chain: 'output', host: n1, text: `ip daddr ${n2.address} udp dport 29002 drop` },
    ], 'blocked/filtered', 'blocked/rejected'],
  ] as const)('one direction blocked %s, the other open', async (_where, rules, tcp, udp) => {
    const checks = await expectVerdicts(rules(), { [key('a->b', 'tcp/29002')]: tcp, [key('a->b', 'udp/29002')]: udp });
    expect(checks.get(key('b->a', 'tcp/29002'))?.status).toBe('open');
  });

  it('over the nec-symmetry profile, rules in the input chains of both servers; what the run was not given is not tested, for that reason', async () => {
    const rules: Rule[] = [
      { chain: 'input', host: n2, text: `ip saddr ${n1.address} tcp dport 1801 reject with tcp reset` },
      { chain: 'input', host: n1, text: `ip saddr ${n2.address} udp dport 29003 drop` },
      { chain: 'input', host: n1, text: `ip saddr ${n2.address} tcp dport 29005 drop` },
    ];
    for (const rule of rules) await lab.addRules(rule.chain, rule.text, rule.host);
    const nodes = [agentNode('primary', n1), agentNode('secondary', n2)];
    const { checks, code } = await runReport(lab, ['run', '--profile', 'nec-symmetry', ...nodeArgs(nodes), '--token', TOKEN, '--timeout', '1500']);
    const blocked = {
      'primary->secondary/tcp/1801': 'blocked/rejected',
      'secondary->primary/udp/29003': 'blocked/filtered',
      'secondary->primary/tcp/29005': 'blocked/filtered',
    };
    expectRules(checks, expectFromPlan(planOf('nec-symmetry', nodes), { blocked }));

    // Apart from the planner: the not-tested checks are exactly those to the targets, from or to
    // the optional roles, and on the interconnect, each for that reason.
    const notAskedReason = (id: string): string | null => {
      const [from, to] = id.split('/')[0]!.split('->') as [string, string];
      if (['comm-server', 'client'].includes(from) || ['comm-server', 'client'].includes(to)) return 'no-node';
      if (id.endsWith('@interconnect')) return 'no-address';
      if (['dns-server', 'time-server', 'field-panel'].includes(to)) return 'no-target';
      return null;
    };
    const notTested = [...checks.values()].filter((check) => check.status === 'not-tested').map((check) => `${check.key} ${check.reason}`);
    const shouldBe = [...checks.keys()].filter((id) => notAskedReason(id)).map((id) => `${id} ${notAskedReason(id)}`);
    expect(notTested.sort()).toEqual(shouldBe.sort());
    for (const reason of ['no-node', 'no-address', 'no-target']) expect(notTested.some((line) => line.endsWith(` ${reason}`))).toBe(true);
    // 38 TCP and UDP ports and ICMP, both ways, between the servers on the public LAN.
    expect(checks.size - notTested.length).toBe(40);
    expect(code).toBe(1);
  });

  it('a port held by another real program: unverified, with what the probe could still see', async () => {
    const holders: ChildProcess[] = [
      lab.spawn(n2, ['python3', '-m', 'http.server', '29001', '--bind', n2.address]),
      lab.spawn(n2, ['python3', '-c', `import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('${n2.address}',29002)); time.sleep(600)`]),
      lab.spawn(n2, ['python3', '-m', 'http.server', '29003', '--bind', n2.address]),
    ];
    try {
      for (const port of [29001, 29002, 29003]) await waitForSocket(n2, port);
      await lab.addRules('forward', between(n1, n2, 'tcp dport 29003', 'drop'));
      const { checks } = await runPreflight(PORTS, 1500);
      const held = { 'a->b/tcp/29001': 'unverified/port-in-use', 'a->b/udp/29002': 'unverified/port-in-use', 'a->b/tcp/29003': 'unverified/port-in-use' };
      expectRules(checks, expectAdHoc(PORT_SPECS, ['a', 'b'], held));
      expect(checks.get(key('a->b', 'tcp/29001'))).toMatchObject({ evidence: 'reachable', detail: expect.stringMatching(/in use by python3 \(pid \d+\); connected, but the answer was not ours/) });
      expect(checks.get(key('a->b', 'udp/29002'))).toMatchObject({ evidence: 'none' });
      expect(checks.get(key('a->b', 'tcp/29003'))).toMatchObject({ evidence: 'filtered' });
    } finally {
      for (const holder of holders) holder.kill('SIGKILL');
    }
  });

  const LOSS_RUNS = 8;
  const LOSS_PERCENT = 20;
  it(`${LOSS_PERCENT}% loss on every link, the router's own resets and ICMP errors included: no check misclassified over ${LOSS_RUNS} runs`, async () => {
    await lab.loss(lab.hosts, LOSS_PERCENT);
    const [mixed, mixedBlocked] = mixedRules(n1, n2);
    // Besides the mix (a TCP reset, a UDP port-unreachable): an ICMP error for TCP and for ICMP.
    const rules: Rule[] = [
      ...mixed,
      { chain: 'forward', text: between(n2, n1, 'tcp dport 29004', 'reject with icmpx type admin-prohibited') },
      { chain: 'forward', text: between(n1, n2, 'icmp type echo-request', 'reject with icmpx type admin-prohibited') },
    ];
    const blocked = { ...mixedBlocked, [key('b->a', 'tcp/29004')]: 'blocked/rejected', [key('a->b', 'icmp')]: 'blocked/rejected' };
    for (const rule of rules) await lab.addRules(rule.chain, rule.text, rule.host);
    for (let i = 0; i < LOSS_RUNS; i++) await expectVerdicts([], blocked, { timeout: 3000, lossPercent: LOSS_PERCENT });
    // The loss really met the rejects: some of the router's own answers were dropped.
    const dropped = await lab.lossDropped();
    expect(dropped.forwarded).toBeGreaterThan(0);
    expect(dropped.own).toBeGreaterThan(0);
  }, 300_000);

  /** Waits until a program in the host's namespace listens on the port (TCP or UDP). */
  async function waitForSocket(host: LabHost, port: number): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const { stdout } = await lab.exec(host, ['ss', '-Hlntu', `sport = :${port}`]);
      if (stdout.trim()) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`nothing listens on ${host.name}:${port}`);
  }
});
