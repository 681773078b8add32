import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { CLOSE_CODES, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, checkProof, makeChallenge, makeRunKey } from '@preflight/protocol';
import { AuthLimiter, startAgent, type RunningAgent } from '@preflight/agent';
import { startAgentProcess } from '../support/cli.js';
import { RawClient, TEST_TOKEN, authenticate, canBind, freePort } from '../support/agents.js';

/** Authenticates and begins a run that may probe `targets`. */
async function beginRun(client: RawClient, targets = ['127.0.0.1']) {
  await authenticate(client);
  client.send({ type: 'begin', id: 2, runId: 'r', runKey: makeRunKey(), ttlMs: 60_000, targets });
  return client.next((message) => message.id === 2);
}

const tcp = (port: number) => ({ protocol: 'tcp', port });

describe('authentication', () => {
  let agent: RunningAgent;
  let clock = 0;
  const clients: RawClient[] = [];
  const connect = (localAddress?: string) => {
    const client = new RawClient(agent, localAddress ? { localAddress } : {});
    clients.push(client);
    return client;
  };
  beforeEach(async () => {
    clock = 0;
    const limiter = new AuthLimiter({ freeFailures: 2, maxFailures: 3, baseDelayMs: 400, maxDelayMs: 400, windowMs: 60_000 }, () => clock);
    agent = await startAgent({ host: '127.0.0.1', port: 0, token: TEST_TOKEN, maxRunMs: 60_000, authLimiter: limiter });
  });
  afterEach(async () => {
    clients.splice(0).forEach((client) => client.ws.terminate());
    await agent.close();
  });

  it('refuses a recorded authentication replayed on a new connection: each connection has its own challenge', async () => {
    const { auth, reply } = await authenticate(connect());
    expect(reply).toMatchObject({ type: 'reply' });
    const replay = connect();
    await replay.next((message) => message.type === 'hello');
    replay.send(auth);
    expect(await replay.next((message) => message.id === 1)).toMatchObject({ type: 'error', code: 'auth-failed' });
    expect(await replay.closed()).toBe(CLOSE_CODES.authFailed);
  });

  it('refuses a proof made for a connection of the other mode: a --serve controller\'s proof of this agent\'s challenge is useless here', async () => {
    const client = connect();
    const { reply } = await authenticate(client, TEST_TOKEN, 1, 'reverse');
    expect(reply).toMatchObject({ type: 'error', code: 'auth-failed' });
    expect(await client.closed()).toBe(CLOSE_CODES.authFailed);
  });

  it('proves the token back over this connection\'s context, not a reflection of the controller\'s', async () => {
    const { context, reply } = await authenticate(connect());
    const { proof } = reply.result as { proof: string };
    expect(checkProof(TEST_TOKEN, 'agent', context, proof)).toBe(true);
    expect(checkProof(TEST_TOKEN, 'controller', context, proof)).toBe(false);
    expect(checkProof(TEST_TOKEN, 'agent', { ...context, mode: 'reverse' }, proof)).toBe(false);
  });

  it('refuses a forged proof', async () => {
    const client = connect();
    await client.next((message) => message.type === 'hello');
    client.send({ type: 'auth', id: 1, protocol: PROTOCOL_VERSION, proof: randomBytes(32).toString('hex'), challenge: makeChallenge() });
    expect(await client.next((message) => message.id === 1)).toMatchObject({ code: 'auth-failed' });
  });

  it('slows down a source that keeps failing, then refuses it, and leaves other sources alone', async () => {
    await authenticate(connect(), 'wrong');
    // Two failures are free: the second attempt's hello comes at once.
    let started = Date.now();
    await authenticate(connect(), 'wrong');
    expect(Date.now() - started).toBeLessThan(300);
    // From now on this source waits before its hello.
    started = Date.now();
    await authenticate(connect(), 'wrong');
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    const refused = connect();
    expect(await refused.closed()).toBe(CLOSE_CODES.tooManyFailures);
    // Another address is not punished for it, and the right token still works from there.
    expect((await authenticate(connect('127.0.0.9'))).reply).toMatchObject({ type: 'reply' });
    // The refusal ends with its window.
    clock += 60_001;
    expect((await authenticate(connect())).reply).toMatchObject({ type: 'reply' });
  });
});

describe('before authentication, one message only', () => {
  let agent: RunningAgent;
  let limiter: AuthLimiter;
  const log: string[] = [];
  const clients: RawClient[] = [];
  const connect = () => {
    const client = new RawClient(agent);
    clients.push(client);
    return client;
  };
  /** The wait the limiter now puts on this source: 100 ms after one failure, doubling with each. */
  const penalty = () => {
    const admission = limiter.admit('127.0.0.1');
    return admission.action === 'accept' ? admission.delayMs : -1;
  };
  beforeEach(async () => {
    log.length = 0;
    limiter = new AuthLimiter({ freeFailures: 1, maxFailures: 10, baseDelayMs: 100, maxDelayMs: 10_000, windowMs: 60_000 });
    agent = await startAgent({ host: '127.0.0.1', port: 0, token: TEST_TOKEN, maxRunMs: 60_000, authLimiter: limiter, authTimeoutMs: 300, log: (line) => log.push(line) });
  });
  afterEach(async () => {
    clients.splice(0).forEach((client) => client.ws.terminate());
    await agent.close();
  });

  it('closes on a malformed message, a command, or silence before the proof, and counts each as a failed authentication', async () => {
    expect(penalty()).toBe(0);
    const malformed = connect();
    await malformed.next((message) => message.type === 'hello');
    malformed.send('{not json');
    expect(await malformed.next((message) => message.type === 'error')).toMatchObject({ code: 'bad-message' });
    expect(await malformed.closed()).toBe(CLOSE_CODES.authFailed);
    expect(malformed.ws.readyState).toBe(malformed.ws.CLOSED);
    expect(penalty()).toBe(100);

    const command = connect();
    await command.next((message) => message.type === 'hello');
    command.send({ type: 'begin', id: 1, runId: 'r', runKey: makeRunKey(), ttlMs: 60_000, targets: ['127.0.0.1'] });
    expect(await command.next((message) => message.id === 1)).toMatchObject({ code: 'auth-required' });
    expect(await command.closed()).toBe(CLOSE_CODES.authFailed);
    expect(penalty()).toBe(200);

    const silent = connect();
    await silent.next((message) => message.type === 'hello');
    expect(await silent.closed()).toBe(CLOSE_CODES.authTimeout);
    expect(penalty()).toBe(400);
    expect(log.filter((line) => line.startsWith('refused 127.0.0.1:'))).toEqual([
      expect.stringContaining('malformed message before authentication'),
      expect.stringContaining('begin before authentication'),
      expect.stringContaining('no authentication in time'),
    ]);
  });

  it('logs, with the peer\'s address, a connection it drops for a message over its size limit, and stays up', async () => {
    const client = connect();
    await authenticate(client);
    client.send(`"${'x'.repeat(MAX_MESSAGE_BYTES)}"`);
    expect([1009, 1006]).toContain(await client.closed()); // message too big, or cut before the close frame went out
    const port = (client.ws as unknown as { _socket?: { localPort?: number } })._socket?.localPort;
    expect(log.find((line) => line.startsWith('dropped 127.0.0.1:'))).toMatch(new RegExp(`^dropped 127\\.0\\.0\\.1:${port ?? '\\d+'}: WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`));
    expect((await authenticate(connect())).reply).toMatchObject({ type: 'reply' });
  });

  it('logs and drops a broken frame from a source it is slowing down, before that source\'s hello, and stays up', async () => {
    for (let i = 0; i < 3; i++) limiter.failed('127.0.0.1'); // this source now waits 400 ms for its hello
    const client = connect();
    await new Promise<void>((resolve) => client.ws.once('open', () => resolve()));
    client.send(`"${'x'.repeat(MAX_MESSAGE_BYTES)}"`);
    expect([1009, 1006]).toContain(await client.closed());
    expect(client.messages).toEqual([]);
    expect(log.some((line) => line.startsWith('dropped 127.0.0.1:') && line.includes('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'))).toBe(true);
    limiter.succeeded('127.0.0.1');
    expect((await authenticate(connect())).reply).toMatchObject({ type: 'reply' });
  });
});

describe('not a general-purpose scanner', () => {
  let agent: RunningAgent;
  beforeAll(async () => {
    agent = await startAgent({ host: '127.0.0.1', port: 0, token: TEST_TOKEN, maxRunMs: 60_000 });
  });
  afterAll(() => agent.close());

  it('probes only the hosts the run declared when it began; any other is refused with a code, and nothing is sent', async () => {
    const client = new RawClient(agent);
    try {
      await authenticate(client);
      client.send({ type: 'begin', id: 2, runId: 'r', runKey: makeRunKey(), ttlMs: 60_000, targets: ['127.0.0.2'] });
      await client.next((message) => message.id === 2);
      const order = (host: string, key: string) => ({ key, protocol: 'tcp', host, port: 9, method: 'handshake', nonce: randomBytes(16).toString('hex'), timeoutMs: 200 });
      client.send({ type: 'probe', id: 3, concurrency: 4, probes: [order('127.0.0.2', 'ok'), order('10.20.30.40', 'elsewhere')] });
      expect(await client.next((message) => message.id === 3)).toMatchObject({
        type: 'error',
        code: 'undeclared-target',
        message: expect.stringContaining('10.20.30.40 was not declared'),
      });
      expect(client.messages.some((message) => message.type === 'probe-results')).toBe(false);
      client.send({ type: 'probe', id: 4, concurrency: 4, probes: [order('127.0.0.2', 'ok')] });
      expect(await client.next((message) => message.id === 4 && message.type === 'reply')).toMatchObject({ result: { count: 1 } });
    } finally {
      client.ws.terminate();
    }
  });

  it('refuses a control connection beyond its limit, saying why, and takes new ones once others close', async () => {
    const small = await startAgent({ host: '127.0.0.1', port: 0, token: TEST_TOKEN, maxRunMs: 60_000, maxConnections: 2 });
    const open = [new RawClient(small), new RawClient(small)];
    try {
      await Promise.all(open.map((client) => client.next((message) => message.type === 'hello')));
      const third = new RawClient(small);
      expect(await third.closed()).toBe(CLOSE_CODES.tooManyConnections);
      open[0]!.ws.terminate();
      await open[0]!.closed();
      const fourth = new RawClient(small);
      open.push(fourth);
      expect((await authenticate(fourth)).reply).toMatchObject({ type: 'reply' });
    } finally {
      open.forEach((client) => client.ws.terminate());
      await small.close();
    }
  });

  it('refuses a second run on one connection, even after the first ended: the first run\'s targets stay the only ones', async () => {
    const client = new RawClient(agent);
    try {
      await beginRun(client, ['127.0.0.2']);
      client.send({ type: 'begin', id: 3, runId: 'r2', runKey: makeRunKey(), ttlMs: 60_000, targets: ['10.20.30.40'] });
      expect(await client.next((message) => message.id === 3)).toMatchObject({ type: 'error', code: 'run-exists' });
      const order = { key: 'k', protocol: 'tcp', host: '10.20.30.40', port: 9, method: 'handshake', nonce: randomBytes(16).toString('hex'), timeoutMs: 200 };
      client.send({ type: 'probe', id: 4, concurrency: 1, probes: [order] });
      expect(await client.next((message) => message.id === 4)).toMatchObject({ type: 'error', code: 'undeclared-target' });
      client.send({ type: 'end', id: 5 });
      await client.next((message) => message.id === 5);
      client.send({ type: 'begin', id: 6, runId: 'r3', runKey: makeRunKey(), ttlMs: 60_000, targets: ['10.20.30.40'] });
      expect(await client.next((message) => message.id === 6)).toMatchObject({ type: 'error', code: 'run-exists' });
      client.send({ type: 'probe', id: 7, concurrency: 1, probes: [order] });
      expect(await client.next((message) => message.id === 7)).toMatchObject({ type: 'error', code: 'no-run' });
    } finally {
      client.ws.terminate();
    }
  });

  it('probes a declared name at the address it had when the run began, not what it resolves to later', async () => {
    // The name points at this agent when the run begins, and elsewhere from then on.
    const answers = ['127.0.0.1', '127.0.0.3'];
    const lookup = async () => [{ address: answers.shift() ?? '127.0.0.3' }];
    const named = await startAgent({ host: '127.0.0.1', port: 0, token: TEST_TOKEN, maxRunMs: 60_000, lookup });
    const client = new RawClient(named);
    try {
      await beginRun(client, ['moving.example']);
      const port = await freePort('127.0.0.1');
      client.send({ type: 'listen', id: 3, listeners: [tcp(port)] });
      expect(await client.next((message) => message.id === 3)).toMatchObject({ type: 'reply', result: { listeners: [{ state: 'bound' }] } });
      const order = { key: 'k', protocol: 'tcp', host: 'moving.example', port, method: 'handshake', nonce: randomBytes(16).toString('hex'), timeoutMs: 1000 };
      client.send({ type: 'probe', id: 4, concurrency: 1, probes: [order] });
      expect(await client.next((message) => message.type === 'probe-results')).toMatchObject({ results: [{ key: 'k', observation: { kind: 'verified' } }] });
      // What the name resolved to is not declared by it.
      client.send({ type: 'probe', id: 5, concurrency: 1, probes: [{ ...order, host: '127.0.0.1' }] });
      expect(await client.next((message) => message.id === 5)).toMatchObject({ type: 'error', code: 'undeclared-target' });
    } finally {
      client.ws.terminate();
      await named.close();
    }
  });

  it('refuses a listen request that would hold more listeners than it said it can, binding none of it', async () => {
    const small = await startAgent({ host: '127.0.0.1', port: 0, token: TEST_TOKEN, maxRunMs: 60_000, maxListeners: 2 });
    const client = new RawClient(small);
    try {
      const { reply } = await authenticate(client);
      expect(reply).toMatchObject({ result: { listenCapacity: 2 } });
      client.send({ type: 'begin', id: 2, runId: 'r', runKey: makeRunKey(), ttlMs: 60_000, targets: ['127.0.0.1'] });
      await client.next((message) => message.id === 2);
      const ports = [await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort('127.0.0.1')];
      client.send({ type: 'listen', id: 3, listeners: ports.map(tcp) });
      expect(await client.next((message) => message.id === 3)).toMatchObject({ type: 'error', code: 'limit-exceeded', message: expect.stringContaining('at most 2') });
      for (const port of ports) expect(await canBind('127.0.0.1', port)).toBe(true);
      client.send({ type: 'listen', id: 4, listeners: [tcp(ports[0]!), tcp(ports[1]!), tcp(ports[0]!)] });
      expect(await client.next((message) => message.id === 4)).toMatchObject({ type: 'reply' });
      client.send({ type: 'listen', id: 5, listeners: [tcp(ports[1]!), tcp(ports[2]!)] }); // one of them is open already
      expect(await client.next((message) => message.id === 5)).toMatchObject({ type: 'error', code: 'limit-exceeded' });
      expect(await canBind('127.0.0.1', ports[2]!)).toBe(true);
      // A round released makes room for the next.
      client.send({ type: 'release', id: 6, listeners: [tcp(ports[0]!)] });
      await client.next((message) => message.id === 6);
      client.send({ type: 'listen', id: 7, listeners: [tcp(ports[1]!), tcp(ports[2]!)] });
      expect(await client.next((message) => message.id === 7)).toMatchObject({ type: 'reply', result: { listeners: [{ state: 'bound' }, { state: 'bound' }] } });
    } finally {
      client.ws.terminate();
      await small.close();
    }
  });

  it('refuses a run that declares no targets', async () => {
    const client = new RawClient(agent);
    try {
      await authenticate(client);
      client.send({ type: 'begin', id: 2, runId: 'r', runKey: makeRunKey(), ttlMs: 60_000 });
      expect(await client.next((message) => message.id === 2)).toMatchObject({ type: 'error', code: 'bad-message', message: expect.stringContaining('targets') });
    } finally {
      client.ws.terminate();
    }
  });
});

/** The agent's resident memory, from the OS (Linux). */
const rssKb = (pid: number) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1]);

/** Random JSON shaped like, and unlike, the protocol's requests. */
function randomMessage(): string {
  const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
  const value = (): unknown =>
    pick<() => unknown>([
      () => Math.random() * 1e12 - 5e11,
      () => randomBytes(Math.floor(Math.random() * 40)).toString('base64'),
      () => null,
      () => [value(), value()],
      () => ({ [pick(['type', 'id', 'port', 'listeners', 'probes'])]: value() }),
      () => pick(['auth', 'begin', 'listen', 'probe', 'end', 'release', '__proto__', 'constructor']),
      () => Number.MAX_SAFE_INTEGER,
      () => -1,
    ])();
  const shapes: (() => string)[] = [
    () => randomBytes(Math.floor(Math.random() * 200)).toString('latin1'),
    () => JSON.stringify(value()),
    () => JSON.stringify({ type: pick(['listen', 'probe', 'begin', 'end', 'auth', 'nope']), id: value(), listeners: value(), probes: value(), runKey: value(), ttlMs: value() }),
    () => JSON.stringify({ type: 'listen', id: 1, listeners: Array.from({ length: 3 }, () => ({ protocol: pick(['tcp', 'udp', 'sctp']), port: value() })) }),
    () => `{"type":"probe","id":2,"probes":[${'{'.repeat(Math.floor(Math.random() * 50))}`,
    () => '{"__proto__":{"polluted":true},"type":"end","id":3}',
  ];
  return pick(shapes)();
}

describe('fuzzing the control port', () => {
  let child: ChildProcess;
  let port: number;
  beforeAll(async () => {
    // A small heap: memory that grew with every message would end the agent, which the test sees.
    ({ child, port } = await startAgentProcess(['--listen', '127.0.0.1:0', '--token', TEST_TOKEN, '--insecure', '--quiet'], ['--max-old-space-size=48']));
  });
  afterAll(() => child?.kill('SIGTERM'));
  const agent = () => ({ host: '127.0.0.1', port }) as RunningAgent;

  /** Sends `count` random messages over authenticated connections; every reply must be a well-formed error or reply. */
  async function fuzzMessages(count: number): Promise<Set<string>> {
    const codes = new Set<string>();
    for (let batch = 0; batch < count / 500; batch++) {
      const client = new RawClient(agent());
      await authenticate(client);
      // A run, so that listen and probe orders reach their validation and not only "no run".
      client.send({ type: 'begin', id: 2, runId: `fuzz-${batch}`, runKey: makeRunKey(), ttlMs: 60_000, targets: ['127.0.0.1'] });
      await client.next((message) => message.id === 2);
      for (let i = 0; i < 500; i++) client.send(randomMessage());
      client.send({ type: 'end', id: 999_999 });
      await client.next((message) => message.id === 999_999, 15_000);
      for (const message of client.messages) {
        expect(['hello', 'reply', 'error', 'probe-results', 'udp-received']).toContain(message.type);
        if (message.type === 'error') codes.add(String(message.code));
      }
      client.ws.terminate();
    }
    return codes;
  }

  /** Raw bytes after a valid upgrade: broken frames, bad opcodes, lengths that lie. */
  async function fuzzFrames(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.write(
            `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
          );
          socket.write(randomBytes(1 + Math.floor(Math.random() * 64)));
          setTimeout(() => socket.destroy(), 20);
        });
        socket.on('error', () => {});
        socket.on('close', () => resolve());
      });
    }
  }

  it('stays up under thousands of malformed frames and messages, answers with error codes, and its memory stays flat', async () => {
    await fuzzMessages(1000); // warm up: code paths loaded, buffers grown
    await fuzzFrames(100);
    const before = rssKb(child.pid!);
    const codes = await fuzzMessages(10_000);
    await fuzzFrames(400);
    const after = rssKb(child.pid!);
    console.log(`agent RSS around 10000 fuzzed messages and 400 broken connections (heap capped at 48 MB): ${before} kB before, ${after} kB after`);
    expect(codes.has('bad-message')).toBe(true);
    expect([...codes].every((code) => /^[a-z-]+$/.test(code))).toBe(true);
    // Still answering, and still sound: a fresh controller authenticates and runs.
    const client = new RawClient(agent());
    expect((await authenticate(client)).reply).toMatchObject({ type: 'reply' });
    client.ws.terminate();
    expect(child.exitCode).toBeNull();
    // The garbage collector lets RSS swing by 10-20 MB (seen: it rises for a few thousand
    // messages, then falls back); a leak would grow past that, or hit the heap cap above.
    expect(after - before).toBeLessThan(32 * 1024);
  }, 120_000);
});
