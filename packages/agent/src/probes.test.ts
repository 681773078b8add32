import dgram from 'node:dgram';
import net from 'node:net';
import { makeNonce, makeRunKey, parseTcpProbeLine, tcpAnswerLine, type ProbeOrder } from '@preflight/protocol';
import { ListenerSet } from './listeners.js';
import { probeTcp, TCP_ANSWER_GRACE_MS } from './probe-tcp.js';
import { probeUdp } from './probe-udp.js';

const HOST = '127.0.0.1';
const runKey = makeRunKey();

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const order = (protocol: 'tcp' | 'udp', port: number, timeoutMs = 600): ProbeOrder => ({
  key: `a->b/${protocol}/${port}`,
  protocol,
  method: 'handshake',
  host: HOST,
  port,
  nonce: makeNonce(),
  timeoutMs,
});

/** TIME_WAIT sockets on HOST, by the port they were connected to, from the socket table. */
async function timeWaitCount(): Promise<{ remote: number }[]> {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync('ss', ['-Htan', 'state', 'time-wait', 'src', HOST]).toString();
  return out.split('\n').filter(Boolean).map((line) => ({ remote: Number(line.trim().split(/\s+/)[3]?.split(':').pop()) }));
}

/**
 * Runs `use` against a server of ours on a free port; `handler` gets each connection and how many
 * came before it. Every connection it accepted is destroyed at the end, whatever `use` did.
 */
async function withServer(handler: (socket: net.Socket, earlier: number) => void, use: (port: number) => Promise<void>) {
  const accepted: net.Socket[] = [];
  const server = net.createServer((socket) => {
    socket.on('error', () => {}); // probes close with a reset: a server of ours must expect ECONNRESET
    accepted.push(socket);
    handler(socket, accepted.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  try {
    await use((server.address() as net.AddressInfo).port);
  } finally {
    accepted.forEach((socket) => socket.destroy());
    server.close();
  }
}

/** Answers the probe line that arrives on `socket` as our listener would, after `delayMs`, closing or not. */
function answerLine(socket: net.Socket, runKey: string, { delayMs = 0, close = true } = {}): void {
  socket.once('data', (line: Buffer) => {
    const answer = tcpAnswerLine(runKey, socket.localPort!, parseTcpProbeLine(line.toString())!);
    setTimeout(() => (close ? socket.end(answer) : socket.write(answer)), delayMs);
  });
}

describe('probes over real sockets', () => {
  const signal = new AbortController().signal;
  let listeners: ListenerSet;
  const received: string[] = [];
  const receivedFrom: string[] = [];
  beforeEach(() => {
    received.length = 0;
    receivedFrom.length = 0;
    listeners = new ListenerSet(HOST, runKey, (message) => {
      received.push(message.nonce);
      receivedFrom.push(message.from);
    });
  });
  afterEach(() => listeners.closeAll());

  it('sends from the address it is given (a cluster\'s interconnect), over TCP and UDP', async () => {
    const port = await freePort();
    await listeners.open([{ protocol: 'tcp', port }, { protocol: 'udp', port }]);
    const seen: string[] = [];
    const server = net.createServer((socket) => {
      seen.push(socket.remoteAddress ?? '');
      socket.destroy();
    });
    const probePort = await freePort();
    await new Promise<void>((resolve) => server.listen(probePort, HOST, resolve));
    try {
      await probeTcp({ ...order('tcp', probePort), source: '127.0.0.9', timeoutMs: 300 }, runKey, signal);
      expect(seen[0]).toBe('127.0.0.9');
    } finally {
      server.close();
    }
    expect((await probeUdp({ ...order('udp', port), source: '127.0.0.9' }, runKey, signal)).observation).toEqual({ kind: 'verified' });
    expect(receivedFrom[0]).toMatch(/^127\.0\.0\.9:/);
  });

  it('verifies our own TCP listener', async () => {
    const port = await freePort();
    await listeners.open([{ protocol: 'tcp', port }]);
    const result = await probeTcp(order('tcp', port), runKey, signal);
    expect(result).toMatchObject({ observation: { kind: 'verified' }, attempts: 1 });
    expect(result.rttMs).toBeGreaterThanOrEqual(0); // the connection's handshake, on loopback
    expect(result.rttMs).toBeLessThan(result.elapsedMs + 1);
  });

  it('does not take a listener of another run for ours', async () => {
    const port = await freePort();
    await listeners.open([{ protocol: 'tcp', port }]);
    expect((await probeTcp(order('tcp', port), makeRunKey(), signal)).observation.kind).toBe('mismatch');
  });

  it('sees a closed TCP port as refused', async () => {
    expect((await probeTcp(order('tcp', await freePort()), runKey, signal)).observation).toEqual({ kind: 'refused', code: 'ECONNREFUSED' });
  });

  it('sees a program that answers with its own banner as a mismatch, saying what it sent', async () => {
    await withServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'), async (port) => {
      expect((await probeTcp(order('tcp', port), runKey, signal)).observation).toEqual({ kind: 'mismatch', received: 'SSH-2.0-OpenSSH_9.2\\r\\n' });
    });
  });

  it('sees a program that accepts and stays silent as a mismatch, not as no answer', async () => {
    await withServer(() => {}, async (port) => {
      const result = await probeTcp(order('tcp', port), runKey, signal);
      expect(result.observation).toEqual({ kind: 'mismatch', received: '' });
      expect(result.elapsedMs).toBeGreaterThanOrEqual(550);
      // The last attempt connected at 500 ms; its grace ends a second later, and no later.
      expect(result.elapsedMs).toBeLessThan(500 + TCP_ANSWER_GRACE_MS + 300);
    });
  });

  it.each([
    ['as soon as it accepts', (socket: net.Socket) => socket.resetAndDestroy()],
    ['once it has read our line', (socket: net.Socket) => socket.once('data', () => socket.resetAndDestroy())],
  ])('sees a program that resets the connection %s as a mismatch (intercepted), not a probe error', async (_label, handler) => {
    await withServer(handler, async (port) => {
      const result = await probeTcp(order('tcp', port, 3000), runKey, signal);
      expect(result.observation).toEqual({ kind: 'mismatch', received: '', code: expect.stringMatching(/^(ECONNRESET|EPIPE)$/) });
      expect(result.elapsedMs).toBeLessThan(500); // a reset after connect ends the probe at once
    });
  });

  it('waits for the answer to an attempt that connected just before the deadline', async () => {
    // The first connection is held in silence; the second, made at 500 ms, is answered 250 ms
    // later, after the 600 ms deadline: the answer was on its way, so the path is open.
    await withServer(
      (socket, earlier) => earlier > 0 && answerLine(socket, runKey, { delayMs: 250 }),
      async (port) => {
        const result = await probeTcp(order('tcp', port, 600), runKey, signal);
        expect(result).toMatchObject({ observation: { kind: 'verified' }, attempts: 2 });
        expect(result.elapsedMs).toBeGreaterThanOrEqual(600);
      },
    );
  });

  it('verifies our UDP listener, which reports the datagram once', async () => {
    const port = await freePort();
    await listeners.open([{ protocol: 'udp', port }]);
    const probe = order('udp', port);
    expect((await probeUdp(probe, runKey, signal)).observation).toEqual({ kind: 'verified' });
    expect(received).toEqual([probe.nonce]);
  });

  it('spreads its datagrams over the whole timeout, so a burst of loss cannot take them all', async () => {
    const silent = dgram.createSocket('udp4');
    const arrivals: number[] = [];
    silent.on('message', () => arrivals.push(performance.now()));
    await new Promise<void>((resolve) => silent.bind(0, HOST, resolve));
    const started = performance.now();
    const result = await probeUdp(order('udp', silent.address().port, 1000), runKey, signal);
    silent.close();
    expect(result).toMatchObject({ observation: { kind: 'no-answer' }, attempts: 4 }); // one per 250 ms
    expect(result.elapsedMs).toBeGreaterThanOrEqual(990);
    const gaps = arrivals.slice(1).map((at, index) => at - arrivals[index]!);
    expect(arrivals[0]! - started).toBeLessThan(100);
    for (const gap of gaps) expect(gap).toBeGreaterThan(150);
  });

  it('sees ICMP port unreachable on a closed UDP port as refused', async () => {
    expect((await probeUdp(order('udp', await freePort()), runKey, signal)).observation).toEqual({ kind: 'refused', code: 'ECONNREFUSED' });
  });

  it('closes first with a reset, leaving no TIME_WAIT on its own ephemeral ports', async () => {
    // A listener that answers and keeps the connection open, so the prober is the one to close
    // (as happens whenever the answer arrives before the listener's FIN).
    await withServer(
      (socket) => answerLine(socket, runKey, { close: false }),
      async (port) => {
        const before = (await timeWaitCount()).filter((entry) => entry.remote === port).length;
        for (let i = 0; i < 5; i++) expect((await probeTcp(order('tcp', port), runKey, signal)).observation.kind).toBe('verified');
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect((await timeWaitCount()).filter((entry) => entry.remote === port).length).toBe(before);
      },
    );
  });

  it('stops when the run ends', async () => {
    const controller = new AbortController();
    await withServer(() => {}, async (port) => {
      const pending = probeTcp(order('tcp', port, 10_000), runKey, controller.signal);
      setTimeout(() => controller.abort(), 50);
      expect((await pending).observation).toMatchObject({ kind: 'error', code: 'ABORTED' });
    });
  });
});

describe('a run that ends while its listeners are being bound', () => {
  it('closes every listener that finishes binding afterwards', async () => {
    const set = new ListenerSet(HOST, runKey, () => {});
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    const opening = set.open(ports.map((port) => ({ protocol: 'tcp' as const, port })));
    await set.closeAll(); // the controller went away mid-listen
    const results = await opening;
    expect(set.size).toBe(0);
    for (const result of results) expect(result.state).not.toBe('bound');
    for (const port of ports) {
      const free = await new Promise<boolean>((resolve) => {
        const probe = net.createServer();
        probe.once('error', () => resolve(false));
        probe.listen(port, HOST, () => probe.close(() => resolve(true)));
      });
      expect(free).toBe(true);
    }
  });
});
