import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { canBind } from '../support/agents.js';
import { PREFLIGHT, runNode, startAgentProcess } from '../support/cli.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-rounds-'));
const TOKEN = 'rounds-test-token';
const [FIRST, LAST] = [41000, 41049];
/**
 * The agents' own loopback addresses. The run's ports lie in the kernel's ephemeral range, and every
 * other connection on this machine takes its source port on 127.0.0.1: on addresses of their own,
 * no other socket can hold a port the agents must listen on, so "in use" cannot come from outside.
 */
const HOSTS = ['127.0.0.61', '127.0.0.62'];

type Agent = { child: ChildProcess; address: string };

/** Starts a real agent process, as an engineer would, holding at most 20 listeners at once. */
async function startAgent(host: string): Promise<Agent> {
  const { child, port } = await startAgentProcess(['--listen', `${host}:0`, '--token', TOKEN, '--insecure', '--quiet', '--max-listeners', '20']);
  return { child, address: `${host}:${port}` };
}

/** The agent's sockets on the run's ports, as `ss` shows them (bound UDP and listening TCP). */
async function socketsOnRunPorts(agent: Agent): Promise<string[]> {
  const { stdout } = await promisify(execFile)('ss', ['-H', '-ltunp']);
  return stdout.split('\n').filter((line) => {
    const port = Number(line.match(/:(\d+)\s/)?.[1]);
    return line.includes(`pid=${agent.child.pid},`) && port >= FIRST && port <= LAST;
  });
}

describe('preflight-agent --max-listeners: a run with more listeners than that goes in rounds', () => {
  let agents: Agent[] = [];
  /** Whether `ss` is here to ask (iproute2); binding every port below proves it anyway. */
  let ss = false;
  beforeAll(async () => {
    agents = await Promise.all(HOSTS.map(startAgent));
    ss = await promisify(execFile)('ss', ['-V']).then(() => true, () => false);
  });
  afterAll(() => agents.forEach((agent) => agent.child.kill('SIGTERM')));

  it('checks 50 TCP and 50 UDP ports both ways, 20 listeners at a time, and leaves nothing listening', async () => {
    const json = path.join(scratch, 'rounds.json');
    const result = await runNode(PREFLIGHT, [
      'run', '--ports', `tcp:${FIRST}-${LAST}`, '--ports', `udp:${FIRST}-${LAST}`,
      '--node', `a=${agents[0]!.address}`, '--node', `b=${agents[1]!.address}`,
      '--token', TOKEN, '--insecure', '--json', json,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.summary).toMatchObject({ checks: 200, open: 200, exitCode: 0 });
    const notVerified = report.checks.filter((check: { status: string; reason: string }) => check.status !== 'open' || check.reason !== 'verified');
    expect(notVerified).toEqual([]);
    expect(report.timings.rounds).toBe(5); // 100 listeners an agent, 20 at a time

    // The agents run on; the run's listeners are all gone.
    for (const agent of agents) expect(agent.child.exitCode).toBeNull();
    if (ss) for (const agent of agents) expect(await socketsOnRunPorts(agent)).toEqual([]);
    for (const host of HOSTS) {
      for (let port = FIRST; port <= LAST; port++) {
        expect([port, await canBind(host, port, 'tcp'), await canBind(host, port, 'udp')]).toEqual([port, true, true]);
      }
    }
  });
});
