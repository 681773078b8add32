import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { listenControl, loadTlsIdentity, type ControlServer } from '@preflight/protocol';
import { PREFLIGHT, runNode, startAgentProcess } from '../support/cli.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-tls-'));
const TOKEN = 'tls-test-token';

type Agent = { child: ChildProcess; address: string; fingerprint: string };

/** Starts a real agent process; resolves with its address and the fingerprint it printed. */
async function startAgent(host: string, extra: string[]): Promise<Agent> {
  const { child, port, output } = await startAgentProcess(['--listen', `${host}:0`, '--token', TOKEN, '--quiet', ...extra]);
  return { child, address: `${host}:${port}`, fingerprint: output.match(/fingerprint: (SHA256:[0-9A-F:]+)/)?.[1] ?? '' };
}

const stop = (agent?: Agent) => agent?.child.kill('SIGTERM');

describe('the control channel over TLS', () => {
  let a: Agent;
  let b: Agent;
  beforeAll(async () => {
    [a, b] = await Promise.all([
      startAgent('127.0.0.1', ['--state-dir', path.join(scratch, 'a')]),
      startAgent('127.0.0.2', ['--state-dir', path.join(scratch, 'b')]),
    ]);
  });
  afterAll(() => [a, b].forEach(stop));

  const run = (extra: string[]) =>
    runNode(PREFLIGHT, ['run', '--ports', 'tcp:29011', '--node', `a=${a.address}`, '--node', `b=${b.address}`, '--token', TOKEN, ...extra]);

  it('trusts agents on first use, records their fingerprints, and trusts them again', async () => {
    const knownAgents = path.join(scratch, 'known-first-use.json');
    const first = await run(['--known-agents', knownAgents]);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain(`first contact with the agent at ${a.address}: trusting its certificate ${a.fingerprint}`);
    const store = JSON.parse(readFileSync(knownAgents, 'utf8'));
    expect(store.agents[a.address].fingerprint).toBe(a.fingerprint);
    expect(store.agents[b.address].fingerprint).toBe(b.fingerprint);
    const second = await run(['--known-agents', knownAgents]);
    expect(second.code).toBe(0);
    expect(second.stderr).not.toContain('first contact');
  });

  it('connects when the pinned fingerprints match', async () => {
    const result = await run(['--known-agents', path.join(scratch, 'pinned.json'), '--fingerprint', `a=${a.fingerprint}`, '--fingerprint', `b=${b.fingerprint}`]);
    expect(result.code).toBe(0);
  });

  it('refuses an agent whose certificate is not the pinned one: nothing is sent to it, exit 3', async () => {
    const json = path.join(scratch, 'mismatch.json');
    const result = await run(['--known-agents', path.join(scratch, 'mismatch-known.json'), '--fingerprint', `a=${b.fingerprint}`, '--json', json]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`node a: the agent at ${a.address} presents certificate ${a.fingerprint}, not ${b.fingerprint}`);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.nodes[0]).toMatchObject({ name: 'a', state: 'untrusted' });
    expect(report.checks.every((check: { reason: string }) => check.reason === 'agent-untrusted')).toBe(true);
  });

  it('refuses loudly an agent whose certificate changed since it was first trusted', async () => {
    // The known-agents file remembers another certificate at b's address: as if something took b's place.
    const knownAgents = path.join(scratch, 'known-changed.json');
    writeFileSync(knownAgents, JSON.stringify({ format: 'preflight-known-agents/1', agents: { [b.address]: { fingerprint: a.fingerprint, firstSeen: '2026-11-01T00:00:00Z' } } }));
    const result = await run(['--known-agents', knownAgents]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`node b: THE AGENT'S CERTIFICATE HAS CHANGED. The agent at ${b.address} presented ${a.fingerprint} before and presents ${b.fingerprint} now.`);
    expect(JSON.parse(readFileSync(knownAgents, 'utf8')).agents[b.address].fingerprint).toBe(a.fingerprint); // not overwritten
  });

  it('says to leave out --insecure when the agent speaks TLS', async () => {
    const result = await run(['--insecure']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('If the agent runs without --insecure (the default), leave out --insecure here.');
  });
});

describe('plain ws, only when both sides say --insecure', () => {
  let a: Agent;
  let b: Agent;
  beforeAll(async () => {
    [a, b] = await Promise.all([startAgent('127.0.0.1', ['--insecure']), startAgent('127.0.0.2', ['--insecure'])]);
  });
  afterAll(() => [a, b].forEach(stop));

  it('works with --insecure on both sides, and tells a TLS controller what to do', async () => {
    const args = ['run', '--ports', 'tcp:29013', '--node', `a=${a.address}`, '--node', `b=${b.address}`, '--token', TOKEN];
    expect((await runNode(PREFLIGHT, [...args, '--insecure'])).code).toBe(0);
    const tls = await runNode(PREFLIGHT, [...args, '--known-agents', path.join(scratch, 'plain.json')]);
    expect(tls.code).toBe(3);
    expect(tls.stderr).toContain('If the agent runs with --insecure, pass --insecure here too.');
  });
});

describe('a machine in the middle, with a certificate of its own', () => {
  let a: Agent;
  let b: Agent;
  let proxy: ControlServer;
  const upstreams: WebSocket[] = [];
  beforeAll(async () => {
    [a, b] = await Promise.all([
      startAgent('127.0.0.1', ['--state-dir', path.join(scratch, 'mitm-a')]),
      startAgent('127.0.0.2', ['--state-dir', path.join(scratch, 'mitm-b')]),
    ]);
    // Terminates TLS with its own certificate and relays every message to agent a, and back.
    const identity = await loadTlsIdentity({ stateDir: path.join(scratch, 'mitm-proxy') });
    proxy = await listenControl({ host: '127.0.0.5', port: 0, tls: identity });
    proxy.wss.on('connection', (downstream) => {
      const upstream = new WebSocket(`wss://${a.address}/`, { rejectUnauthorized: false });
      upstreams.push(upstream);
      const early: string[] = [];
      downstream.on('message', (data) => (upstream.readyState === upstream.OPEN ? upstream.send(data.toString()) : early.push(data.toString())));
      upstream.on('open', () => early.splice(0).forEach((message) => upstream.send(message)));
      upstream.on('message', (data) => downstream.send(data.toString()));
      // Closed, not terminated: the agent's last word (its refusal) must reach the controller first.
      upstream.on('close', (code, reason) => downstream.close(code >= 3000 && code <= 4999 ? code : 1000, reason));
      downstream.on('close', () => upstream.terminate());
      upstream.on('error', () => {});
    });
  });
  afterAll(async () => {
    upstreams.forEach((upstream) => upstream.terminate());
    await proxy.close({ drop: true });
    [a, b].forEach(stop);
  });

  it('cannot relay the proofs on first use: the agent refuses, and the certificate it showed is not remembered', async () => {
    const knownAgents = path.join(scratch, 'mitm-known.json');
    const json = path.join(scratch, 'mitm.json');
    const result = await runNode(PREFLIGHT, ['run', '--ports', 'tcp:29015', '--node', `a=127.0.0.5:${proxy.port}`, '--node', `b=${b.address}`, '--token', TOKEN, '--known-agents', knownAgents, '--json', json]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`node a: the agent at 127.0.0.5:${proxy.port} refused the token`);
    expect(result.stderr).toContain('something between may be intercepting');
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.nodes.map((node: { name: string; state: string }) => `${node.name} ${node.state}`)).toEqual(['a auth-failed', 'b connected']);
    // b, met and proven, is remembered; the machine in the middle is not.
    const store = JSON.parse(readFileSync(knownAgents, 'utf8'));
    expect(Object.keys(store.agents)).toEqual([b.address]);
  });
});
