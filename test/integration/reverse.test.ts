import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { existsSync } from 'node:fs';
import { CLOSE_CODES, PROTOCOL_VERSION, checkProof, listenControl, loadTlsIdentity, makeChallenge } from '@preflight/protocol';
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

/** A WebSocket client that records every message it gets, for playing a party by hand. */
function rawSocket(url: string, localAddress?: string) {
  const ws = new WebSocket(url, { rejectUnauthorized: false, ...(localAddress ? { localAddress } : {}) });
  const messages: Record<string, unknown>[] = [];
  let closeCode: number | undefined;
  ws.on('message', (data) => messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
  ws.on('close', (code) => (closeCode = code));
  ws.on('error', () => {});
  const next = async (predicate: (message: Record<string, unknown>) => boolean, ms = 10_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = messages.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching message; got ${JSON.stringify(messages)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const closed = async (ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (closeCode === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return closeCode;
  };
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  return { ws, messages, next, closed, opened, send: (message: unknown) => ws.send(JSON.stringify(message)) };
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

  const agent = (port: string, node: string, host: string, extra: string[], stateDir = path.join(scratch, `${node}-${port}`)) => {
    const started = start(PREFLIGHT_AGENT, ['--connect', `wss://127.0.0.1:${port}`, '--as', node, '--listen', host, '--state-dir', stateDir, ...extra]);
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

  it('turns away an impostor that accepts any proof but cannot prove the token itself; what it was given is good for nothing else', async () => {
    const { controller, port, fingerprint, json } = await serve('fake-agent', ['--wait', '5']);
    agent(port, 'a', '127.0.0.1', ['--token', TOKEN, '--controller-fingerprint', fingerprint]);
    // Plays agent b without the token: says hello, then "accepts" the controller's proof.
    const challenge = makeChallenge();
    const fake = rawSocket(`wss://127.0.0.1:${port}/`, '127.0.0.2');
    await fake.opened;
    fake.send({ type: 'hello', protocol: PROTOCOL_VERSION, agentVersion: '0.1.0', challenge, name: 'b' });
    try {
      const auth = (await fake.next((message) => message.type === 'auth')) as { id: number; proof: string; challenge: string };
      fake.send({ type: 'reply', id: auth.id, result: { hostname: 'b', platform: 'linux-x64', agentVersion: '0.1.0', proof: makeChallenge(), listenCapacity: 100 } });
      // The controller did sign the impostor's challenge, but only as a --serve controller behind
      // its own certificate: no agent that listens (forward), nor one behind another TLS server, takes it.
      const signed = { mode: 'reverse', agentChallenge: challenge, controllerChallenge: auth.challenge, serverFingerprint: fingerprint } as const;
      expect(checkProof(TOKEN, 'controller', signed, auth.proof)).toBe(true);
      expect(checkProof(TOKEN, 'controller', { ...signed, mode: 'forward' }, auth.proof)).toBe(false);
      expect(checkProof(TOKEN, 'controller', { ...signed, serverFingerprint: `SHA256:${'AB:'.repeat(31)}AB` }, auth.proof)).toBe(false);
      const result = await controller.finished;
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('node b: the agent at 127.0.0.2 (dialled in as b) could not prove the token');
      const report = JSON.parse(readFileSync(json, 'utf8'));
      expect(report.checks.every((check: { status: string }) => check.status === 'not-tested')).toBe(true);
    } finally {
      fake.ws.terminate();
    }
  });

  it('refuses a relay: a listening agent\'s challenge, taken to a --serve controller, earns no proof that agent accepts', async () => {
    // A listening agent (forward mode) with the same token as the --serve controller.
    const stateDir = path.join(scratch, 'relay-target');
    const target = start(PREFLIGHT_AGENT, ['--listen', '127.0.0.3:0', '--token', TOKEN, '--state-dir', stateDir]);
    running.push(target);
    const [, targetPort] = await waitFor(target, /listening on 127\.0\.0\.3:(\d+)/);
    const { port } = await serve('relay', ['--wait', '5']);
    // The attacker opens a connection to the agent and takes its challenge ...
    const victim = rawSocket(`wss://127.0.0.3:${targetPort}/`);
    const relay = rawSocket(`wss://127.0.0.1:${port}/`);
    try {
      const hello = await victim.next((message) => message.type === 'hello');
      // ... dials the controller as node a with it, and gets the controller's proof of it ...
      await relay.opened;
      relay.send({ type: 'hello', protocol: PROTOCOL_VERSION, agentVersion: '0.1.0', challenge: hello.challenge, name: 'a' });
      const auth = await relay.next((message) => message.type === 'auth');
      // ... and hands that proof to the agent as its own.
      victim.send({ ...auth, id: 1 });
      expect(await victim.next((message) => message.id === 1)).toMatchObject({ type: 'error', code: 'auth-failed' });
      expect(await victim.closed()).toBe(CLOSE_CODES.authFailed);
      expect(victim.messages.some((message) => message.type === 'reply')).toBe(false);
      await waitFor(target, /refused [\d.]+:\d+: wrong token/);
    } finally {
      victim.ws.terminate();
      relay.ws.terminate();
    }
  });

  it('gives a node to the agent that proves the token, though an impostor dialled in first under its name', async () => {
    const { controller, port, fingerprint, json } = await serve('first-come', ['--wait', '20']);
    // Says hello as node a, then never answers the controller's proof.
    const squatter = rawSocket(`wss://127.0.0.1:${port}/`);
    try {
      await squatter.opened;
      squatter.send({ type: 'hello', protocol: PROTOCOL_VERSION, agentVersion: '0.1.0', challenge: makeChallenge(), name: 'a' });
      await squatter.next((message) => message.type === 'auth');
      agent(port, 'a', '127.0.0.1', ['--token', TOKEN, '--controller-fingerprint', fingerprint]);
      agent(port, 'b', '127.0.0.2', ['--token', TOKEN, '--controller-fingerprint', fingerprint]);
      const result = await controller.finished;
      expect(result.stderr).not.toContain('already connected');
      expect(result.code).toBe(0);
      const report = JSON.parse(readFileSync(json, 'utf8'));
      expect(report.checks.map((check: { key: string; status: string }) => `${check.key} ${check.status}`)).toEqual(['a->b/tcp/29031 open', 'b->a/tcp/29031 open']);
      expect(result.ms).toBeLessThan(15_000); // not held up by the squatter's 10 s to prove the token
    } finally {
      squatter.ws.terminate();
    }
  });

  it('refuses connections beyond its cap while none of them has proved the token', async () => {
    const { port } = await serve('flood', ['--wait', '10']);
    // Two nodes, and eight spare: the eleventh connection that proves nothing is refused.
    const sockets = Array.from({ length: 11 }, () => rawSocket(`wss://127.0.0.1:${port}/`));
    try {
      await Promise.all(sockets.map((each) => each.opened));
      expect(await sockets[10]!.closed(5000)).toBe(CLOSE_CODES.tooManyConnections);
      expect(sockets.slice(0, 10).every((each) => each.ws.readyState === each.ws.OPEN)).toBe(true);
    } finally {
      sockets.forEach((each) => each.ws.terminate());
    }
  });

  it('trusts a controller on first use only once it has proved the token', async () => {
    // A controller of someone else's, with a certificate of its own and no token.
    const identity = await loadTlsIdentity({ role: 'controller', stateDir: path.join(scratch, 'fake-controller') });
    const fake = await listenControl({ host: '127.0.0.1', port: 0, tls: identity });
    const refused = new Promise<Record<string, unknown>>((resolve) => {
      fake.wss.on('connection', (ws) => {
        ws.on('message', (data) => {
          const message = JSON.parse(data.toString()) as Record<string, unknown>;
          if (message.type === 'hello') ws.send(JSON.stringify({ type: 'auth', id: 1, protocol: PROTOCOL_VERSION, proof: makeChallenge(), challenge: makeChallenge() }));
          else resolve(message);
        });
      });
    });
    const stateDir = path.join(scratch, 'tofu-state');
    const known = path.join(stateDir, 'known-controllers.json');
    try {
      const a = agent(String(fake.port), 'a', '127.0.0.1', ['--token', TOKEN], stateDir);
      expect(await refused).toMatchObject({ type: 'error', code: 'auth-failed' });
      await waitFor(a, /refused 127\.0\.0\.1:\d+: wrong token/);
      expect(a.output()).not.toContain('first contact');
      expect(existsSync(known) ? Object.keys(JSON.parse(readFileSync(known, 'utf8')).agents) : []).toEqual([]);
    } finally {
      await fake.close({ drop: true });
    }
    // The real one proves it, and is remembered.
    const { controller, port, fingerprint } = await serve('tofu');
    const a = agent(port, 'a', '127.0.0.1', ['--token', TOKEN], stateDir);
    agent(port, 'b', '127.0.0.2', ['--token', TOKEN, '--controller-fingerprint', fingerprint]);
    expect((await controller.finished).code).toBe(0);
    await waitFor(a, /first contact with the controller at 127\.0\.0\.1:\d+: trusting its certificate/);
    expect(JSON.parse(readFileSync(known, 'utf8')).agents[`127.0.0.1:${port}`].fingerprint).toBe(fingerprint);
  });

  it('says plainly that a known-controllers file it cannot read must be fixed, and exits 2 instead of crashing', async () => {
    const { port } = await serve('corrupt-known', ['--wait', '5']);
    const stateDir = path.join(scratch, 'corrupt-known-state');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, 'known-controllers.json'), '{ "format": "preflight-known');
    const a = agent(port, 'a', '127.0.0.1', ['--token', TOKEN], stateDir);
    const result = await a.finished;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${path.join(stateDir, 'known-controllers.json')}: `);
    expect(result.stderr).toContain('fix or remove it');
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('warns that --connect ws:// --insecure is not encrypted, as listen mode does', async () => {
    const a = start(PREFLIGHT_AGENT, ['--connect', 'ws://127.0.0.1:9', '--insecure', '--as', 'a', '--token', TOKEN, '--state-dir', path.join(scratch, 'insecure-dial')]);
    running.push(a);
    await waitFor(a, /WARNING: --insecure: the control channel is not encrypted/);
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
