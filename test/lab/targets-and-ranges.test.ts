import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, describeLab, type LabHost } from './netlab.js';
import { TOKEN, between, notAsked, tally, type JsonCheck } from './scenario.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-targets-'));

/** Reads the JSON report of a run: its checks by key. */
const checksOf = (json: string) =>
  new Map((JSON.parse(readFileSync(json, 'utf8')) as { checks: JsonCheck[] }).checks.map((check) => [check.key, check]));

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
      '--bind-interfaces', '--user=root', `--pid-file=${path.join(scratch, 'dnsmasq.pid')}`, '--log-facility=-',
    ]);
    const chronyConf = path.join(scratch, 'chrony.conf');
    // Serves its own clock and never touches the system's (-x).
    writeFileSync(chronyConf, [`bindaddress ${services.address}`, 'allow all', 'local stratum 8', 'cmdport 0', `pidfile ${path.join(scratch, 'chronyd.pid')}`, ''].join('\n'));
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

  const nec = (json: string, extra: string[] = []) => [
    'run', '--profile', 'nec-symmetry', '--node', `primary=${primary.address}`, '--node', `secondary=${secondary.address}`,
    '--target', `dns-server=${services.address}`, '--target', `time-server=${services.address}`,
    '--token', TOKEN, '--timeout', '2000', '--json', json, ...extra,
  ];

  it('checks DNS (UDP and TCP) and NTP with real queries to dnsmasq and chronyd, from both servers', async () => {
    const json = path.join(scratch, 'targets-open.json');
    const result = await lab.runController(nec(json));
    const checks = checksOf(json);
    for (const from of ['primary', 'secondary']) {
      expect(checks.get(`${from}->dns-server/udp/53`)).toMatchObject({ status: 'open', reason: 'answered', detail: expect.stringContaining('DNS answered') });
      expect(checks.get(`${from}->dns-server/tcp/53`)).toMatchObject({ status: 'open', reason: 'answered', detail: expect.stringContaining('DNS answered') });
      expect(checks.get(`${from}->time-server/udp/123`)).toMatchObject({ status: 'open', reason: 'answered', detail: expect.stringContaining('NTP answered (stratum 8)') });
    }
    // The optional roles, the interconnect and the field panel were not given: not tested, and said so.
    for (const check of checks.values()) expect(`${check.key} ${check.status}`).toBe(`${check.key} ${notAsked(check) ? 'not-tested' : 'open'}`);
    expect([...checks.values()].filter((check) => check.status === 'open')).toHaveLength(46);
    tally.verdicts += checks.size;
    expect(result.code).toBe(0);
  });

  it('sees the rules on the way to the targets', async () => {
    await lab.addRules('forward', between(secondary, services, 'udp dport 123', 'drop'));
    await lab.addRules('forward', between(primary, services, 'tcp dport 53', 'reject with tcp reset'));
    await lab.addRules('forward', between(primary, services, 'udp dport 53', 'reject with icmpx type port-unreachable'));
    const json = path.join(scratch, 'targets-blocked.json');
    const result = await lab.runController(nec(json));
    const checks = checksOf(json);
    const blocked: Record<string, string> = {
      'secondary->time-server/udp/123': 'blocked/filtered',
      'primary->dns-server/tcp/53': 'blocked/rejected',
      'primary->dns-server/udp/53': 'blocked/rejected',
    };
    for (const check of checks.values()) {
      const expected = notAsked(check)
        ? `not-tested/${check.reason}`
        : (blocked[check.key] ?? (check.to.endsWith('-server') ? 'open/answered' : 'open/verified'));
      expect(`${check.key} ${check.status}/${check.reason}`).toBe(`${check.key} ${expected}`);
    }
    tally.verdicts += checks.size;
    expect(result.code).toBe(1);
  });

  describe('a path that must stay closed (a DMZ standby that must not open connections back)', () => {
    const profile = path.join(scratch, 'dmz.yaml');
    beforeAll(() =>
      writeFileSync(
        profile,
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
    const run = (name: string) => {
      const json = path.join(scratch, `${name}.json`);
      return lab
        .runController(['run', '--profile', profile, '--node', `main=${primary.address}`, '--node', `dmz=${secondary.address}`, '--token', TOKEN, '--timeout', '1500', '--json', json])
        .then((result) => ({ result, report: JSON.parse(readFileSync(json, 'utf8')) as { checks: (JsonCheck & { verdict: string })[] } }));
    };

    it('passes when the reverse path is closed', async () => {
      await lab.addRules('forward', between(secondary, primary, 'tcp dport 5481', 'drop'));
      const { result, report } = await run('dmz-closed');
      expect(report.checks.map((check) => `${check.key} ${check.status} ${check.verdict}`)).toEqual([
        'main->dmz/tcp/5481 open pass',
        'dmz->main/tcp/5481 blocked pass',
      ]);
      expect(result.code).toBe(0);
    });

    it('fails when the reverse path is open', async () => {
      const { result, report } = await run('dmz-open');
      expect(report.checks.map((check) => `${check.key} ${check.status} ${check.verdict}`)).toEqual([
        'main->dmz/tcp/5481 open pass',
        'dmz->main/tcp/5481 open fail',
      ]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('must be closed, but is open');
    });
  });

  it('checks the whole dynamic RPC range, 49152-65535, TCP and UDP in both directions, in rounds within the file limit', async () => {
    await lab.addRules('forward', between(primary, secondary, 'tcp dport 60000', 'drop'));
    await lab.addRules('forward', between(secondary, primary, 'udp dport 50000', 'drop'));
    const json = path.join(scratch, 'dynamic-range.json');
    const result = await lab.runController([
      'run', '--ports', 'tcp:49152-65535', '--ports', 'udp:49152-65535', '--node', `a=${primary.address}`, '--node', `b=${secondary.address}`,
      '--token', TOKEN, '--timeout', '2000', '--json', json,
    ]);
    const checks = checksOf(json);
    expect(checks.size).toBe(4 * 16384);
    const notOpen = [...checks.values()].filter((check) => check.status !== 'open');
    expect(notOpen.map((check) => `${check.key} ${check.status}/${check.reason}`)).toEqual(['a->b/tcp/60000 blocked/filtered', 'b->a/udp/50000 blocked/filtered']);
    // 32768 listeners per agent fit at once only under a file limit well above that (here: 20000).
    const { timings } = JSON.parse(readFileSync(json, 'utf8')) as { timings: { rounds?: number } };
    const limit = Number(readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\d+\s+(\d+)/)?.[1]);
    if (limit < 34_000) expect(timings.rounds).toBeGreaterThanOrEqual(2);
    tally.verdicts += checks.size;
    expect(result.code).toBe(1);
  }, 180_000);
});
