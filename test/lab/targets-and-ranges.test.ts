import { readFileSync, writeFileSync } from 'node:fs';
import { Lab, describeLab, type LabHost } from './netlab.js';
import { expectAdHoc, expectFromPlan } from './expected.js';
import { TOKEN, agentNode, between, expectRules, nodeArgs, planOf, portArgs, runReport } from './scenario.js';

describeLab('targets that run no agent, paths that must stay closed, and the whole dynamic range', () => {
  let lab: Lab;
  let primary: LabHost;
  let secondary: LabHost;
  let services: LabHost;

  beforeAll(async () => {
    lab = await Lab.create({ nodes: 3 });
    [primary, secondary, services] = lab.nodes as [LabHost, LabHost, LabHost];
    await lab.startAgent(primary, TOKEN);
    await lab.startAgent(secondary, TOKEN);
    // The site's DNS and time server: real dnsmasq and chronyd, on a host that runs no agent.
    lab.spawn(services, [
      'dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--port=53', `--listen-address=${services.address}`,
      '--bind-interfaces', '--user=root', `--pid-file=${lab.file('dnsmasq.pid')}`, '--log-facility=-',
    ]);
    const chronyConf = lab.file('chrony.conf');
    // Serves its own clock and never touches the system's (-x).
    writeFileSync(chronyConf, [`bindaddress ${services.address}`, 'allow all', 'local stratum 8', 'cmdport 0', `pidfile ${lab.file('chronyd.pid')}`, ''].join('\n'));
    lab.spawn(services, ['chronyd', '-d', '-x', '-f', chronyConf]);
    for (const [proto, port] of [['u', 53], ['t', 53], ['u', 123]] as const) {
      for (let i = 0; ; i++) {
        const { stdout } = await lab.exec(services, ['ss', `-Hln${proto}`, `sport = :${port}`]);
        if (stdout.trim()) break;
        if (i > 100) throw new Error(`nothing listens on ${proto === 't' ? 'tcp' : 'udp'} ${port} of the services host`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
  afterEach(() => lab.clearRules());
  afterAll(() => lab?.destroy());

  const nodes = () => [agentNode('primary', primary), agentNode('secondary', secondary)];
  const targets = ['dns-server', 'time-server'];
  const nec = () =>
    runReport(lab, [
      'run', '--profile', 'nec-symmetry', ...nodeArgs(nodes()), ...targets.flatMap((role) => ['--target', `${role}=${services.address}`]),
      '--token', TOKEN, '--timeout', '2000',
    ]);

  it('checks DNS (UDP and TCP) and NTP with real queries to dnsmasq and chronyd, from both servers', async () => {
    const { checks, code } = await nec();
    // The optional roles, the interconnect and the field panel were not given: not tested, and said so.
    expectRules(checks, expectFromPlan(planOf('nec-symmetry', nodes()), { targets }));
    for (const from of ['primary', 'secondary']) {
      expect(checks.get(`${from}->dns-server/udp/53`)).toMatchObject({ status: 'open', reason: 'answered', detail: expect.stringContaining('DNS answered') });
      expect(checks.get(`${from}->dns-server/tcp/53`)).toMatchObject({ status: 'open', reason: 'answered', detail: expect.stringContaining('DNS answered') });
      expect(checks.get(`${from}->time-server/udp/123`)).toMatchObject({ status: 'open', reason: 'answered', detail: expect.stringContaining('NTP answered (stratum 8)') });
    }
    expect([...checks.values()].filter((check) => check.status === 'open')).toHaveLength(46);
    expect(code).toBe(0);
  });

  it('sees the rules on the way to the targets', async () => {
    await lab.addRules('forward', between(secondary, services, 'udp dport 123', 'drop'));
    await lab.addRules('forward', between(primary, services, 'tcp dport 53', 'reject with tcp reset'));
    await lab.addRules('forward', between(primary, services, 'udp dport 53', 'reject with icmpx type port-unreachable'));
    const { checks, code } = await nec();
    const blocked = {
      'secondary->time-server/udp/123': 'blocked/filtered',
      'primary->dns-server/tcp/53': 'blocked/rejected',
      'primary->dns-server/udp/53': 'blocked/rejected',
    };
    expectRules(checks, expectFromPlan(planOf('nec-symmetry', nodes()), { targets, blocked }));
    expect(code).toBe(1);
  });

  describe('a path that must stay closed (a DMZ standby that must not open connections back)', () => {
    let profile: string;
    beforeAll(() =>
      writeFileSync(
        (profile = lab.file('dmz.yaml')),
        [
          'format: preflight-profile/1', 'name: dmz-demo', 'title: DMZ standby', 'version: "1"',
          'roles:', '  main: { description: Main server }', '  dmz: { description: DMZ permanent standby }',
          'requirements:',
          '  - { id: sync, protocol: tcp, ports: [5481], from: main, to: dmz, direction: one-way, purpose: database sync, source: test }',
          '  - { id: no-way-back, protocol: tcp, ports: [5481], from: dmz, to: main, direction: one-way, expect: closed, purpose: the DMZ must not connect back, source: test }',
          '',
        ].join('\n'),
      ),
    );
    const dmzNodes = () => [agentNode('main', primary), agentNode('dmz', secondary)];
    const run = () => runReport(lab, ['run', '--profile', profile, ...nodeArgs(dmzNodes()), '--token', TOKEN, '--timeout', '1500']);

    it('passes when the reverse path is closed', async () => {
      await lab.addRules('forward', between(secondary, primary, 'tcp dport 5481', 'drop'));
      const { checks, report, code } = await run();
      expectRules(checks, expectFromPlan(planOf(profile, dmzNodes()), { blocked: { 'dmz->main/tcp/5481': 'blocked/filtered' } }));
      expect(report.checks.map((check) => `${check.key} ${check.status} ${check.verdict}`)).toEqual([
        'main->dmz/tcp/5481 open pass',
        'dmz->main/tcp/5481 blocked pass',
      ]);
      expect(code).toBe(0);
    });

    it('fails when the reverse path is open', async () => {
      const { checks, report, code, stdout } = await run();
      expectRules(checks, expectFromPlan(planOf(profile, dmzNodes())));
      expect(report.checks.map((check) => `${check.key} ${check.status} ${check.verdict}`)).toEqual([
        'main->dmz/tcp/5481 open pass',
        'dmz->main/tcp/5481 open fail',
      ]);
      expect(code).toBe(1);
      expect(stdout).toContain('must be closed, but is open');
    });
  });

  it('checks the whole dynamic RPC range, 49152-65535, TCP and UDP in both directions, in rounds within the file limit', async () => {
    await lab.addRules('forward', between(primary, secondary, 'tcp dport 60000', 'drop'));
    await lab.addRules('forward', between(secondary, primary, 'udp dport 50000', 'drop'));
    const specs = ['tcp:49152-65535', 'udp:49152-65535'];
    const { checks, report, code } = await runReport<{ timings: { rounds?: number } }>(lab, [
      'run', ...portArgs(specs), ...nodeArgs([agentNode('a', primary), agentNode('b', secondary)]),
      '--token', TOKEN, '--timeout', '2000',
    ]);
    expect(checks.size).toBe(4 * 16384);
    expectRules(checks, expectAdHoc(specs, ['a', 'b'], { 'a->b/tcp/60000': 'blocked/filtered', 'b->a/udp/50000': 'blocked/filtered' }));
    // 32768 listeners per agent fit at once only under a file limit well above that (here: 20000).
    const limit = Number(readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\d+\s+(\d+)/)?.[1]);
    if (limit < 34_000) expect(report.timings.rounds).toBeGreaterThanOrEqual(2);
    expect(code).toBe(1);
  }, 180_000);
}, { needs: ['dnsmasq', 'chronyd'] });
