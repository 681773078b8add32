import { makeRunKey, proveToken, CLOSE_CODES } from '@preflight/protocol';
import type { RunningAgent } from '@preflight/agent';
import { RawClient, TEST_TOKEN, canBind, freePort, startLoopbackAgents } from '../support/agents.js';

/** Authenticates a raw client the way the controller does. */
async function authenticate(client: RawClient, token = TEST_TOKEN): Promise<Record<string, unknown>> {
  const hello = await client.next((message) => message.type === 'hello');
  client.send({ type: 'auth', id: 1, protocol: 1, proof: proveToken(token, hello.challenge as string) });
  return client.next((message) => message.id === 1);
}

describe('agent control protocol, over a real socket', () => {
  let agent: RunningAgent;
  const clients: RawClient[] = [];
  const connect = () => {
    const client = new RawClient(agent);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    ({ agents: [agent!] } = (await startLoopbackAgents(1, 1500)) as { agents: [RunningAgent] });
  });
  afterEach(async () => {
    clients.splice(0).forEach((client) => client.ws.terminate());
    await agent.close();
  });

  it('closes a connection whose proof does not match the token, before any command runs', async () => {
    const client = connect();
    const reply = await authenticate(client, 'wrong-token');
    expect(reply).toMatchObject({ type: 'error', code: 'auth-failed' });
    expect(await client.closed()).toBe(CLOSE_CODES.authFailed);
  });

  it('refuses a command sent before authentication and drops the connection', async () => {
    const client = connect();
    await client.next((message) => message.type === 'hello');
    client.send({ type: 'listen', id: 7, listeners: [{ protocol: 'tcp', port: 1801 }] });
    expect(await client.next((message) => message.id === 7)).toMatchObject({ type: 'error', code: 'auth-required' });
    expect(await client.closed()).toBe(CLOSE_CODES.authFailed);
  });

  it('answers a malformed message with a code and stays usable', async () => {
    const client = connect();
    expect(await authenticate(client)).toMatchObject({ type: 'reply', result: { agentVersion: expect.any(String) } });
    client.send('{not json');
    client.send({ type: 'listen', id: 2, listeners: [{ protocol: 'tcp', port: 70000 }] });
    client.send({ type: 'launch-missiles', id: 3 });
    expect(await client.next((message) => message.id === null)).toMatchObject({ code: 'bad-message' });
    expect(await client.next((message) => message.id === 2)).toMatchObject({ code: 'bad-message', message: expect.stringContaining('listeners.0.port') });
    expect(await client.next((message) => message.id === 3)).toMatchObject({ code: 'bad-message' });
    client.send({ type: 'listen', id: 4, listeners: [] });
    expect(await client.next((message) => message.id === 4)).toMatchObject({ code: 'no-run' });
    client.send({ type: 'begin', id: 5, runId: 'r1', runKey: makeRunKey(), ttlMs: 60_000 });
    expect(await client.next((message) => message.id === 5)).toMatchObject({ type: 'reply' });
  });

  async function beginAndListen(client: RawClient, port: number) {
    await authenticate(client);
    client.send({ type: 'begin', id: 2, runId: 'r1', runKey: makeRunKey(), ttlMs: 60_000 });
    await client.next((message) => message.id === 2);
    client.send({ type: 'listen', id: 3, listeners: [{ protocol: 'tcp', port }, { protocol: 'udp', port }] });
    return client.next((message) => message.id === 3);
  }

  it('reports a port held by another program as in use, and binds the rest', async () => {
    const port = await freePort(agent.host);
    const other = await import('node:net').then(({ createServer }) => createServer());
    await new Promise<void>((resolve) => other.listen(port, agent.host, resolve));
    try {
      const reply = await beginAndListen(connect(), port);
      expect(reply).toMatchObject({
        type: 'reply',
        result: { listeners: [{ protocol: 'tcp', port, state: 'in-use', code: 'EADDRINUSE' }, { protocol: 'udp', port, state: 'bound' }] },
      });
    } finally {
      other.close();
    }
  });

  it.each([
    ['the controller ends the run', async (client: RawClient) => {
      client.send({ type: 'end', id: 9 });
      expect(await client.next((message) => message.id === 9)).toMatchObject({ result: { closed: 2 } });
    }],
    ['the controller goes away', async (client: RawClient) => client.ws.terminate()],
    ['the run outlives its maximum lifetime', async (client: RawClient) => {
      expect(await client.next((message) => message.code === 'run-expired', 4000)).toMatchObject({ id: null });
      expect(await client.closed()).toBe(CLOSE_CODES.runExpired);
    }],
  ])('closes every listener when %s', async (_when, end) => {
    const port = await freePort(agent.host);
    const client = connect();
    expect(await beginAndListen(client, port)).toMatchObject({ result: { listeners: [{ state: 'bound' }, { state: 'bound' }] } });
    expect(await canBind(agent.host, port)).toBe(false);
    await end(client);
    const deadline = Date.now() + 3000;
    while (!(await canBind(agent.host, port)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await canBind(agent.host, port)).toBe(true);
  });
});
