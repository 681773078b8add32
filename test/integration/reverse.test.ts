import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { makeChallenge } from '@preflight/protocol';
import { PREFLIGHT, PREFLIGHT_AGENT, REPO, type Finished } from '../support/cli.js';

const TOKEN = 'reverse-test-token';

/** A process of ours, with its output so far. */
type Running = { child: ChildProcess; output: () => string; finished: Promise<Finished> };

function start(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const started = performance.now();
  const child = spawn(process.execPath, [script, ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const finished = new Promise<Finished>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started })));
  return { child, output: () => stdout + stderr, finished };
}

async function waitFor(running: Running, pattern: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const match = running.output().match(pattern);
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`no ${pattern} in: ${running.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('reverse connection: agents dial the controller (--connect, --serve)', () => {
  const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-reverse-'));
  const running: Running[] = [];
  afterEach(() => running.splice(0).forEach((each) => each.child.kill('SIGTERM')));

  /** Starts `preflight run --serve` on a free port; resolves with it, its port and its certificate. */
  async function serve(name: string, extra: string[] = []) {
    const json = path.join(scratch, `${name}.json`);
    const env = { PREFLIGHT_KNOWN_AGENTS: path.join(scratch, name, 'known-agents.json') };
    const controller = start(PREFLIGHT, ['run', '--ports', 'tcp:29031', '--node', 'a=127.0.0.1', '--node', 'b=127.0.0.2', '--token', TOKEN, '--serve', '127.0.0.1:0', '--json', json, ...extra], env);
    running.push(controller);
    const [, port, fingerprint] = await waitFor(controller, /on wss:\/\/127\.0\.0\.1:(\d+) \(certificate (SHA256:[0-9A-F:]+)\)/);
    return { controller, port: port!, fingerprint: fingerprint!, json };
  }

  const agent = (port: string, node: string, host: string, extra: string[]) => {
    const started = start(PREFLIGHT_AGENT, ['--connect', `wss://127.0.0.1:${port}`, '--as', node, '--listen', host, '--state-dir', path.join(scratch, `${node}-${port}`), ...extra]);
    running.push(started);
    return started;
  };

  it('runs the checks over connections the agents opened, with the controller\'s certificate pinned', async () => {
    const { controller, port, fingerprint, json } = await serve('pinned');
    agent(port, 'a', '127.0.0.1', ['--token', TOKEN, '--controller-fingerprint', fingerprint]);
    agent(port, 'b', '127.0.0.2', ['--token', TOKEN, '--controller-fingerprint', fingerprint]);
    const result = await controller.finished;
    expect(result.code).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.checks.map((check: { key: string; status: string }) => `${check.key} ${check.status}`)).toEqual(['a->b/tcp/29031 open', 'b->a/tcp/29031 open']);
  });

  it('turns away an agent that cannot prove the token: its checks are not tested, exit 3', async () => {
    const { controller, port, fingerprint, json } = await serve('impostor', ['--wait', '5']);
    agent(port, 'a', '127.0.0.1', ['--token', TOKEN, '--controller-fingerprint', fingerprint]);
    agent(port, 'b', '127.0.0.2', ['--token', 'not-the-token', '--controller-fingerprint', fingerprint]);
    const result = await controller.finished;
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/node b: the agent at 127\.0\.0\.1 \(dialled in as b\) refused the token/);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.nodes.map((node: { name: string; state: string }) => `${node.name} ${node.state}`)).toEqual(['a connected', 'b auth-failed']);
  });

  it('turns away an impostor that accepts any proof but cannot prove the token itself', async () => {
    const { controller, port, fingerprint, json } = await serve('fake-agent', ['--wait', '5']);
    agent(port, 'a', '127.0.0.1', ['--token', TOKEN, '--controller-fingerprint', fingerprint]);
    // Plays agent b without the token: says hello, then "accepts" the controller's proof.
    const fake = new WebSocket(`wss://127.0.0.1:${port}/`, { rejectUnauthorized: false, localAddress: '127.0.0.2' });
    fake.on('open', () => fake.send(JSON.stringify({ type: 'hello', protocol: 1, agentVersion: '0.1.0', challenge: makeChallenge(), name: 'b' })));
    fake.on('message', (data) => {
      const request = JSON.parse(data.toString()) as { type: string; id: number };
      if (request.type === 'auth') fake.send(JSON.stringify({ type: 'reply', id: request.id, result: { hostname: 'b', platform: 'linux-x64', agentVersion: '0.1.0', proof: makeChallenge(), listenCapacity: 100 } }));
    });
    fake.on('error', () => {});
    try {
      const result = await controller.finished;
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('node b: the agent at 127.0.0.2 (dialled in as b) could not prove the token');
      const report = JSON.parse(readFileSync(json, 'utf8'));
      expect(report.checks.every((check: { status: string }) => check.status === 'not-tested')).toBe(true);
    } finally {
      fake.terminate();
    }
  });

  it('an agent refuses a controller whose certificate is not the pinned one, and the controller says whom it waited for', async () => {
    const { controller, port } = await serve('wrong-pin', ['--wait', '3']);
    const wrong = `SHA256:${'AB:'.repeat(31)}AB`;
    const a = agent(port, 'a', '127.0.0.1', ['--token', TOKEN, '--controller-fingerprint', wrong]);
    agent(port, 'b', '127.0.0.2', ['--token', TOKEN, '--controller-fingerprint', wrong]);
    await waitFor(a, /the controller at 127\.0\.0\.1:\d+ presents certificate SHA256:[0-9A-F:]+, not SHA256:AB:AB/);
    const result = await controller.finished;
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('node a: its agent did not dial in within 3 s: start it with preflight-agent --connect wss://THIS-MACHINE:');
  });
});
