import dgram from 'node:dgram';
import net from 'node:net';
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION, makeChallenge, proveToken, type AuthContext, type AuthMode } from '@preflight/protocol';
import { startAgent, type RunningAgent } from '@preflight/agent';
import type { AgentNode } from '@preflight/controller';

export const TEST_TOKEN = 'test-token-not-secret';

/** Agents started in this process on loopback addresses, each on a free control port. */
export async function startLoopbackAgents(
  count: number,
  { maxRunMs = 60_000, heartbeatMs, maxListeners }: { maxRunMs?: number; heartbeatMs?: number; maxListeners?: number } = {},
): Promise<{ agents: RunningAgent[]; nodes: AgentNode[] }> {
  const agents = await Promise.all(
    Array.from({ length: count }, (_, index) =>
      startAgent({ host: `127.0.0.${index + 1}`, port: 0, token: TEST_TOKEN, maxRunMs, ...(heartbeatMs ? { heartbeatMs } : {}), ...(maxListeners ? { maxListeners } : {}) }),
    ),
  );
  const nodes = agents.map((agent, index) => ({ name: `n${index + 1}`, role: 'peer', host: agent.host, port: agent.port }));
  return { agents, nodes };
}

/** A port no one listens on right now (closed again at once). */
export async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether a port can be bound on host right now: the proof that nothing was left listening. */
export async function canBind(host: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): Promise<boolean> {
  if (protocol === 'udp') {
    const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    return new Promise((resolve) => {
      socket.once('error', () => {
        socket.close();
        resolve(false);
      });
      socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(true)));
    });
  }
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A raw control connection that records every message, for talking to an agent by hand. */
export class RawClient {
  readonly messages: Record<string, unknown>[] = [];
  readonly ws: WebSocket;
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];

  /**
   * `answerPings: false` plays a controller whose network has vanished without a word;
   * `localAddress` connects from another loopback address, as another source would.
   */
  constructor(agent: RunningAgent, { answerPings = true, localAddress }: { answerPings?: boolean; localAddress?: string } = {}) {
    this.ws = new WebSocket(`ws://${agent.host}:${agent.port}/`, { autoPong: answerPings, ...(localAddress ? { localAddress } : {}) });
    this.ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
      this.waiters.splice(0).forEach((wake) => wake());
    });
    this.ws.on('close', (code) => {
      this.closeCode = code;
      this.waiters.splice(0).forEach((wake) => wake());
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message matching `predicate`, waiting up to `ms` for it. */
  async next(predicate: (message: Record<string, unknown>) => boolean, ms = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching message; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  async closed(ms = 5000): Promise<number> {
    const deadline = Date.now() + ms;
    while (this.closeCode === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    if (this.closeCode === undefined) throw new Error('still open');
    return this.closeCode;
  }
}

/**
 * Authenticates a raw client the way the controller does (over plain ws, so no certificate is
 * named); returns the auth message it sent, the context it proved over, and the reply.
 */
export async function authenticate(client: RawClient, token = TEST_TOKEN, id = 1, mode: AuthMode = 'forward') {
  const hello = await client.next((message) => message.type === 'hello');
  const context: AuthContext = { mode, agentChallenge: hello.challenge as string, controllerChallenge: makeChallenge(), serverFingerprint: null };
  const auth = { type: 'auth', id, protocol: PROTOCOL_VERSION, proof: proveToken(token, 'controller', context), challenge: context.controllerChallenge };
  client.send(auth);
  return { auth, context, reply: await client.next((message) => message.id === id) };
}
