import type { IncomingMessage } from 'node:http';
import { CLOSE_CODES, listenControl, type TlsIdentity } from '@preflight/protocol';
import type { WebSocket } from 'ws';
import { AgentConnectError, AgentConnection, firstMessage } from './agent-client.js';
import type { AgentNode } from './nodes.js';

/** Close code for an agent the controller has no node for, or whose node is already connected. */
const CLOSE_UNKNOWN_AGENT = 4404;

/**
 * Connections that have not proved the token yet, held at once beyond one for each node: room
 * for agents redialling and a few strays, while a flood of connections that prove nothing is
 * refused (4430). Each has AUTH_TIMEOUT_MS to prove the token, and is dropped then.
 */
const SPARE_UNAUTHENTICATED = 8;

export type ServeOptions = {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The controller's certificate; absent only with --insecure. */
  tls?: TlsIdentity;
  token: string;
  /** How long to wait for every node's agent to dial in. */
  waitMs: number;
  /** Told, once per node and reason, of an agent turned away while the controller waits on. */
  log?: (line: string) => void;
};

/** Agents that dial in, as they arrive: `connect(node)` resolves once that node's agent is in. */
export type AgentListener = {
  host: string;
  port: number;
  connect(node: AgentNode): Promise<AgentConnection>;
  /** Stops taking connections; the agents already in stay connected. */
  close(): Promise<void>;
};

/**
 * Reverse connection: listens for agents started with `--connect` and hands each to the run as if
 * the controller had dialled it. An agent is matched to its node by the name it gives (`--as`),
 * else by the address it connects from. The agent still sends the challenge and the controller
 * still proves the token; TLS here is the controller's own certificate, which agents pin, and
 * both proofs name it and the reverse mode, so neither can be relayed to an agent that listens.
 * A node is taken only by a connection that proved the token: one that fails does not keep the
 * node's agent out, and the node waits on until `waitMs`, when the last failure is its answer.
 */
export async function listenForAgents(nodes: readonly AgentNode[], options: ServeOptions): Promise<AgentListener> {
  const waiting = new Map(nodes.map((node) => [node.name, deferred<AgentConnection>()]));
  const control = await listenControl({ host: options.host, port: options.port, ...(options.tls ? { tls: options.tls } : {}) });
  const server = control.wss;
  const claimed = new Set<string>();
  /** Why each node's last connection was turned away: its answer if no agent proves the token in time. */
  const failures = new Map<string, AgentConnectError>();
  const binding = { mode: 'reverse', serverFingerprint: options.tls?.fingerprint ?? null } as const;
  /** Connections that have not proved the token yet: at most one per node and a few spare. */
  const unauthenticated = new Set<WebSocket>();
  let closed = false;

  server.on('connection', (ws: WebSocket, request: IncomingMessage) => {
    const source = (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (unauthenticated.size >= nodes.length + SPARE_UNAUTHENTICATED) {
      return ws.close(CLOSE_CODES.tooManyConnections, 'too many connections waiting to authenticate');
    }
    unauthenticated.add(ws);
    const settle = () => unauthenticated.delete(ws);
    ws.once('close', settle);
    void (async () => {
      let node: AgentNode | undefined;
      let address = source;
      try {
        const hello = await firstMessage(ws);
        const name = hello.type === 'hello' ? hello.name : undefined;
        node = nodes.find((each) => (name ? each.name === name : each.host === source));
        if (!node || claimed.has(node.name)) {
          const why = !node ? `no node ${name ? `named ${name}` : `at ${source}`}` : `node ${node.name} is already connected`;
          return ws.close(CLOSE_UNKNOWN_AGENT, why);
        }
        address = `${source} (dialled in${name ? ` as ${name}` : ''})`;
        const connection = await AgentConnection.authenticate(node, ws, options.token, hello, address, binding);
        settle();
        // Taken only now, by a connection that proved the token; a second one that did is spare.
        if (claimed.has(node.name)) return ws.close(CLOSE_UNKNOWN_AGENT, `node ${node.name} is already connected`);
        claimed.add(node.name);
        waiting.get(node.name)!.resolve(connection);
      } catch (error) {
        // A connection that failed to authenticate must not keep the controller alive.
        ws.terminate();
        if (!node || claimed.has(node.name) || closed) return;
        const failure =
          error instanceof AgentConnectError
            ? error
            : new AgentConnectError('agent-unreachable', `node ${node.name}: the agent at ${address} failed to authenticate: ${(error as Error).message}`);
        if (failures.get(node.name)?.message !== failure.message) options.log?.(`${failure.message} (still waiting for node ${node.name})`);
        failures.set(node.name, failure);
      }
    })();
  });

  const { port } = control;
  const scheme = options.tls ? 'wss' : 'ws';
  const deadline = setTimeout(() => {
    for (const node of nodes) {
      if (claimed.has(node.name)) continue;
      const message = `node ${node.name}: its agent did not dial in within ${Math.round(options.waitMs / 1000)} s: start it with preflight-agent --connect ${scheme}://THIS-MACHINE:${port} --as ${node.name}`;
      waiting.get(node.name)!.reject(failures.get(node.name) ?? new AgentConnectError('agent-unreachable', message));
    }
  }, options.waitMs);

  return {
    host: options.host,
    port,
    connect: (node) => waiting.get(node.name)!.promise,
    async close() {
      clearTimeout(deadline);
      closed = true;
      // Stop taking connections; those of the run end when the run closes them, and those that
      // never proved the token end now, so that none keeps the controller from exiting.
      for (const ws of unauthenticated) ws.terminate();
      await control.close();
    },
  };
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a node nobody asks for must not crash the process
  return { promise, resolve, reject };
}
