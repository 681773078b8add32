import net from 'node:net';
import { makeNonce, makeRunKey, tcpProbeLine, verifyTcpAnswer, type ListenSpec } from '@preflight/protocol';
import { ListenerLimitError, ListenerSet, type ListenerLimits } from './listeners.js';

const HOST = '127.0.0.1';

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve) => {
      const server = net.createServer();
      server.listen(0, HOST, () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function canBind(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

const tcp = (port: number): ListenSpec => ({ protocol: 'tcp', port });

/** A client connection, with when (ms after it connected) the listener closed it, if it did. */
function connect(port: number): Promise<{ socket: net.Socket; closedAfter: () => number | undefined }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, HOST);
    let connectedAt = 0;
    let closedAt: number | undefined;
    socket.on('error', () => {});
    socket.on('close', () => (closedAt = performance.now()));
    socket.once('connect', () => {
      connectedAt = performance.now();
      resolve({ socket, closedAfter: () => (closedAt === undefined ? undefined : closedAt - connectedAt) });
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('temporary listeners', () => {
  const sets: ListenerSet[] = [];
  const sockets: net.Socket[] = [];
  const makeSet = (limits: Partial<ListenerLimits> = {}, runKey = makeRunKey()) => {
    const set = new ListenerSet(HOST, runKey, () => {}, limits);
    sets.push(set);
    return set;
  };
  afterEach(async () => {
    sockets.splice(0).forEach((socket) => socket.destroy());
    await Promise.all(sets.splice(0).map((set) => set.closeAll()));
  });

  it('cuts a connection at its deadline from accept, though it trickles a byte now and then', async () => {
    const [port] = await freePorts(1);
    await makeSet({ handshakeDeadlineMs: 400 }).open([tcp(port!)]);
    const trickle = await connect(port!);
    sockets.push(trickle.socket);
    const drip = setInterval(() => trickle.socket.writable && trickle.socket.write('P'), 100);
    try {
      const until = performance.now() + 2000;
      while (trickle.closedAfter() === undefined && performance.now() < until) await sleep(50);
      await sleep(20);
      // An idle timeout would never fire: a byte comes every 100 ms, and no line ever ends.
      expect(trickle.closedAfter()).toBeGreaterThanOrEqual(350);
      expect(trickle.closedAfter()).toBeLessThan(1500);
    } finally {
      clearInterval(drip);
    }
  });

  it('drops connections beyond its cap as they arrive, keeps those it holds, and answers a probe once they are gone', async () => {
    const [port] = await freePorts(1);
    const runKey = makeRunKey();
    await makeSet({ maxSocketsPerListener: 3, handshakeDeadlineMs: 600 }, runKey).open([tcp(port!)]);
    const held = await Promise.all([connect(port!), connect(port!), connect(port!)]);
    sockets.push(...held.map((each) => each.socket));
    await sleep(50); // the listener has accepted them
    const extra = await connect(port!);
    sockets.push(extra.socket);
    await sleep(150);
    expect(extra.closedAfter()).toBeLessThan(150);
    expect(held.map((each) => each.closedAfter())).toEqual([undefined, undefined, undefined]);
    // Their deadline passes, and the listener is free for a real probe again.
    await sleep(900);
    expect(held.every((each) => each.closedAfter() !== undefined)).toBe(true);
    const probe = await connect(port!);
    sockets.push(probe.socket);
    const nonce = makeNonce();
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      probe.socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      probe.socket.on('end', () => resolve(text));
      probe.socket.write(tcpProbeLine(nonce));
    });
    expect(verifyTcpAnswer(runKey, port!, nonce, answer)).toBe(true);
  });

  it('refuses a request that would pass its capacity, binding none of it; one already open costs nothing', async () => {
    const ports = await freePorts(3);
    const set = makeSet({ capacity: 2 });
    await expect(set.open(ports.map(tcp))).rejects.toMatchObject({ code: 'limit-exceeded' });
    for (const port of ports) expect(await canBind(port)).toBe(true);
    expect(await set.open([tcp(ports[0]!), tcp(ports[0]!)])).toEqual([{ ...tcp(ports[0]!), state: 'bound' }, { ...tcp(ports[0]!), state: 'bound' }]);
    expect(await set.open([tcp(ports[0]!), tcp(ports[1]!)])).toMatchObject([{ state: 'bound' }, { state: 'bound' }]);
    await expect(set.open([tcp(ports[2]!)])).rejects.toBeInstanceOf(ListenerLimitError);
    expect(await canBind(ports[2]!)).toBe(true);
    expect(set.size).toBe(2);
  });

  it('counts binds under way against the capacity: of two requests at once, only one that fits goes through', async () => {
    const ports = await freePorts(4);
    const set = makeSet({ capacity: 3 });
    const outcomes = await Promise.allSettled([set.open(ports.slice(0, 2).map(tcp)), set.open(ports.slice(2).map(tcp))]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected']);
    expect(set.size).toBe(2);
    expect(await canBind(ports[2]!)).toBe(true);
    expect(await canBind(ports[3]!)).toBe(true);
  });

  it('limits the listens of a run in all, rounds released or not', async () => {
    const ports = await freePorts(2);
    const set = makeSet({ maxListens: 3 });
    await set.open(ports.map(tcp));
    await set.close(ports.map(tcp));
    await expect(set.open(ports.map(tcp))).rejects.toMatchObject({ code: 'limit-exceeded', message: expect.stringContaining('at most 3 listeners in all') });
    expect(await set.open([tcp(ports[0]!)])).toMatchObject([{ state: 'bound' }]);
  });
});
