import { makeRunKey, CLOSE_CODES, MAX_LISTENERS_PER_REQUEST } from '@preflight/protocol';
import type { RunningAgent } from '@preflight/agent';

/** A short heartbeat, so that losing a silent controller takes a test seconds, not fifteen. */
const HEARTBEAT_MS = 500;
import { RawClient, authenticate, canBind, freePort, startLoopbackAgents } from '../support/agents.js';

describe('agent control protocol, over a real socket', () => {
  let agent: RunningAgent;
  const clients: RawClient[] = [];
  const connect = (options?: { answerPings: boolean }) => {
    const client = new RawClient(agent, options);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    agent = (await startLoopbackAgents(1, { heartbeatMs: HEARTBEAT_MS })).agents[0]!;
  });
  afterEach(async () => {
    clients.splice(0).forEach((client) => client.ws.terminate());
    await agent.close();
  });

  it('closes a connection whose proof does not match the token, before any command runs', async () => {
    const client = connect();
    const { reply } = await authenticate(client, 'wrong-token');
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
    expect((await authenticate(client)).reply).toMatchObject({ type: 'reply', result: { agentVersion: expect.any(String) } });
    client.send('{not json');
    client.send({ type: 'listen', id: 2, listeners: [{ protocol: 'tcp', port: 70000 }] });
    client.send({ type: 'launch-missiles', id: 3 });
    expect(await client.next((message) => message.id === null)).toMatchObject({ code: 'bad-message' });
    expect(await client.next((message) => message.id === 2)).toMatchObject({ code: 'bad-message', message: expect.stringContaining('listeners.0.port') });
    expect(await client.next((message) => message.id === 3)).toMatchObject({ code: 'bad-message' });
    client.send({ type: 'listen', id: 4, listeners: [] });
    expect(await client.next((message) => message.id === 4)).toMatchObject({ code: 'no-run' });
    client.send({ type: 'begin', id: 5, runId: 'r1', runKey: makeRunKey(), ttlMs: 60_000, targets: ['127.0.0.2'] });
    expect(await client.next((message) => message.id === 5)).toMatchObject({ type: 'reply' });
  });

  async function beginAndListen(client: RawClient, port: number, ttlMs = 60_000) {
    await authenticate(client);
    client.send({ type: 'begin', id: 2, runId: 'r1', runKey: makeRunKey(), ttlMs, targets: ['127.0.0.2'] });
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

  it('releases a round\'s listeners on request while the run goes on', async () => {
    const port = await freePort(agent.host);
    const client = connect();
    await beginAndListen(client, port);
    expect(await canBind(agent.host, port, 'tcp')).toBe(false);
    expect(await canBind(agent.host, port, 'udp')).toBe(false);
    client.send({ type: 'release', id: 4, listeners: [{ protocol: 'udp', port }] });
    expect(await client.next((message) => message.id === 4)).toMatchObject({ type: 'reply', result: { closed: 1 } });
    expect(await canBind(agent.host, port, 'udp')).toBe(true);
    expect(await canBind(agent.host, port, 'tcp')).toBe(false); // only what was named
    // Released twice, or never opened: nothing to close, and no error.
    client.send({ type: 'release', id: 5, listeners: [{ protocol: 'udp', port }, { protocol: 'tcp', port: port === 65535 ? 1 : port + 1 }] });
    expect(await client.next((message) => message.id === 5)).toMatchObject({ type: 'reply', result: { closed: 0 } });
    client.send({ type: 'release', id: 6, listeners: [{ protocol: 'tcp', port }] });
    expect(await client.next((message) => message.id === 6)).toMatchObject({ type: 'reply', result: { closed: 1 } });
    expect(await canBind(agent.host, port, 'tcp')).toBe(true);
    // The run goes on: the next round listens on the same port again.
    client.send({ type: 'listen', id: 7, listeners: [{ protocol: 'tcp', port }] });
    expect(await client.next((message) => message.id === 7)).toMatchObject({ type: 'reply', result: { listeners: [{ state: 'bound' }] } });
    expect(await canBind(agent.host, port, 'tcp')).toBe(false);
  });

  it('refuses a release outside a run, or a malformed one, with a code, and stays usable', async () => {
    const client = connect();
    await authenticate(client);
    client.send({ type: 'release', id: 2, listeners: [{ protocol: 'tcp', port: 1801 }] });
    expect(await client.next((message) => message.id === 2)).toMatchObject({ type: 'error', code: 'no-run' });
    client.send({ type: 'release', id: 3, listeners: [{ protocol: 'sctp', port: 1801 }] });
    expect(await client.next((message) => message.id === 3)).toMatchObject({ type: 'error', code: 'bad-message', message: expect.stringContaining('listeners.0.protocol') });
    client.send({ type: 'clock', id: 4 });
    expect(await client.next((message) => message.id === 4)).toMatchObject({ type: 'reply' });
  });

  it('says how many listeners it can hold at once when a controller authenticates', async () => {
    const { reply } = await authenticate(connect());
    expect(reply).toMatchObject({ type: 'reply', result: { listenCapacity: expect.any(Number) } });
    const capacity = (reply.result as { listenCapacity: number }).listenCapacity;
    expect(Number.isInteger(capacity) && capacity >= 1 && capacity <= MAX_LISTENERS_PER_REQUEST).toBe(true);
  });

  it('says no more than --max-listeners allows', async () => {
    const { agents } = await startLoopbackAgents(1, { maxListeners: 20 });
    const client = new RawClient(agents[0]!);
    clients.push(client);
    try {
      expect((await authenticate(client)).reply).toMatchObject({ type: 'reply', result: { listenCapacity: 20 } });
    } finally {
      client.ws.terminate();
      await agents[0]!.close();
    }
  });

  it('closes every listener when the controller stops answering pings', async () => {
    const port = await freePort(agent.host);
    const client = connect({ answerPings: false });
    const started = Date.now();
    expect(await beginAndListen(client, port)).toMatchObject({ result: { listeners: [{ state: 'bound' }, { state: 'bound' }] } });
    while (!(await canBind(agent.host, port)) && Date.now() - started < 6 * HEARTBEAT_MS) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await canBind(agent.host, port)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * HEARTBEAT_MS);
  });

  it.each([
    ['the controller ends the run', 60_000, async (client: RawClient) => {
      client.send({ type: 'end', id: 9 });
      expect(await client.next((message) => message.id === 9)).toMatchObject({ result: { closed: 2 } });
    }],
    ['the controller goes away', 60_000, async (client: RawClient) => client.ws.terminate()],
    ['the run outlives its maximum lifetime', 1500, async (client: RawClient) => {
      expect(await client.next((message) => message.code === 'run-expired', 4000)).toMatchObject({ id: null });
      expect(await client.closed()).toBe(CLOSE_CODES.runExpired);
    }],
  ] as const)('closes every listener when %s', async (_when, ttlMs, end) => {
    const port = await freePort(agent.host);
    const client = connect();
    expect(await beginAndListen(client, port, ttlMs)).toMatchObject({ result: { listeners: [{ state: 'bound' }, { state: 'bound' }] } });
    expect(await canBind(agent.host, port)).toBe(false);
    await end(client);
    const deadline = Date.now() + 1000; // well inside the 60 s lifetime of the other cases
    while (!(await canBind(agent.host, port)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await canBind(agent.host, port)).toBe(true);
  });
});
