import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { PREFLIGHT } from '../support/cli.js';
import { Lab, describeLab, type LabHost } from './netlab.js';
import { adHocKeys, expectAdHoc } from './expected.js';
import { TOKEN, between, expectRules, portArgs } from './scenario.js';

const TEST_PORTS = [29001, 29002, 29003];
const SPECS = ['tcp:29001-29002', 'udp:29003'];

type JsonCheck = { key: string; from: string; to: string; status: string; reason: string };

describeLab('faults in the middle of a run', () => {
  let lab: Lab;
  let agents: ChildProcess[];
  let a: LabHost;
  let b: LabHost;
  let c: LabHost;

  beforeEach(async () => {
    lab = await Lab.create({ nodes: 3 });
    [a, b, c] = lab.nodes as [LabHost, LabHost, LabHost];
    agents = await Promise.all(lab.nodes.map((node) => lab.startAgent(node, TOKEN)));
  });
  afterEach(() => lab.destroy());

  /** The test ports some program listens on in a node, from its own socket table. */
  async function listening(host: LabHost): Promise<number[]> {
    const { stdout } = await lab.exec(host, ['ss', '-Hlntu']);
    const ports = [...stdout.matchAll(/:(\d+)\s/g)].map((match) => Number(match[1]));
    return [...new Set(ports.filter((port) => TEST_PORTS.includes(port)))];
  }

  async function until(condition: () => Promise<boolean>, ms: number, what: string): Promise<number> {
    const started = performance.now();
    while (!(await condition())) {
      if (performance.now() - started > ms) throw new Error(`${what} did not happen within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return performance.now() - started;
  }

  const controllerArgs = (json: string, timeout: number) => [
    process.execPath, PREFLIGHT, 'run', ...portArgs(SPECS),
    '--node', `a=${a.address}`, '--node', `b=${b.address}`, '--node', `c=${c.address}`,
    '--token', TOKEN, '--timeout', String(timeout), '--json', json,
  ];

  it('the controller killed mid-run: every agent closes all of its listeners within seconds', async () => {
    // Every path between the nodes drops, so the probes would run for the whole long timeout.
    for (const [from, to] of [[a, b], [b, a], [a, c], [c, a], [b, c], [c, b]] as const) {
      await lab.addRules('forward', between(from, to, 'meta l4proto { tcp, udp }', 'drop'));
    }
    const controller = lab.spawn(lab.controller, controllerArgs(lab.file('killed.json'), 60_000));
    for (const node of lab.nodes) await until(async () => (await listening(node)).length === TEST_PORTS.length, 10_000, `listeners on ${node.name}`);
    controller.kill('SIGKILL');
    for (const node of lab.nodes) {
      const ms = await until(async () => (await listening(node)).length === 0, 5000, `${node.name} closing its listeners`);
      expect(ms).toBeLessThan(5000);
    }
    for (const agent of agents) expect(agent.exitCode).toBeNull(); // the agents stay up for the next run
  });

  it('an agent killed mid-run: its checks are not-tested, the others keep their verdicts, the report is written, exit 3', async () => {
    // Everything to and from c drops, so c's checks are still under way when c dies.
    for (const [from, to] of [[a, c], [c, a], [b, c], [c, b]] as const) {
      await lab.addRules('forward', between(from, to, 'meta l4proto { tcp, udp }', 'drop'));
    }
    const json = lab.file('agent-killed.json');
    const controller = lab.spawn(lab.controller, controllerArgs(json, 4000));
    const exited = new Promise<number | null>((resolve) => controller.once('exit', resolve));
    await until(async () => (await listening(c)).length === TEST_PORTS.length, 10_000, 'listeners on c');
    agents[2]!.kill('SIGKILL');
    expect(await exited).toBe(3);

    const report = JSON.parse(readFileSync(json, 'utf8')) as { checks: JsonCheck[]; nodes: { name: string; state: string }[] };
    expect(report.nodes.find((node) => node.name === 'c')?.state).toBe('lost');
    const checks = new Map(report.checks.map((check) => [check.key, check]));
    expect([...checks.keys()].sort()).toEqual(adHocKeys(SPECS, ['a', 'b', 'c']).sort());
    // c's checks: what the fault calls for, not the rules; the others: what the rules call for.
    const withC = report.checks.filter((check) => check.from === 'c' || check.to === 'c');
    expect(withC).toHaveLength(12);
    for (const check of withC) expect(`${check.key} ${check.status}/${check.reason}`).toBe(`${check.key} not-tested/agent-lost`);
    const others = new Map([...checks].filter(([, check]) => check.from !== 'c' && check.to !== 'c'));
    expectRules(others, expectAdHoc(SPECS, ['a', 'b']));
  });

  it("an agent's control port unreachable from the start: a message naming the node and the address, never a table of blocked ports", async () => {
    await lab.addRules('forward', between(lab.controller, b, 'tcp dport 7890', 'drop'));
    const result = await lab.runController([
      'run', '--ports', 'tcp:29001', '--node', `a=${a.address}`, '--node', `b=${b.address}`, '--token', TOKEN,
    ]);
    expect(result.stderr).toContain(`node b: no agent answered at ${b.address}:7890`);
    expect(result.stderr).toContain(`check that TCP 7890 is open from this machine to it`);
    expect(result.stdout).not.toMatch(/┌|BLOCKED/); // no table at all: nothing could be tested
    expect(result.code).toBe(3);
  }, 30_000);
});
