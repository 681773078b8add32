import type { IncomingMessage } from 'node:http';
import { listenControl, type TlsIdentity } from '@preflight/protocol';
import type { WebSocket } from 'ws';
import { AgentConnectError, AgentConnection, firstMessage } from './agent-client.js';
import type { AgentNode } from './nodes.js';

/** Close code for an agent the controller has no node for, or whose node is already connected. */
const CLOSE_UNKNOWN_AGENT = 4404;

export type ServeOptions = {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The controller's certificate; absent only with --insecure. */
  tls?: TlsIdentity;
  token: string;
  /** How long to wait for every node's agent to dial in. */
  waitMs: number;
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
 * still proves the token; TLS here is the controller's own certificate, which agents pin.
 */
export async function listenForAgents(nodes: readonly AgentNode[], options: ServeOptions): Promise<AgentListener> {
  const waiting = new Map(nodes.map((node) => [node.name, deferred<AgentConnection>()]));
  const control = await listenControl({ host: options.host, port: options.port, ...(options.tls ? { tls: options.tls } : {}) });
  const server = control.wss;
  const claimed = new Set<string>();

  server.on('connection', (ws: WebSocket, request: IncomingMessage) => {
    const source = (request.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    void (async () => {
      try {
        const hello = await firstMessage(ws);
        const name = hello.type === 'hello' ? hello.name : undefined;
        const node = nodes.find((each) => (name ? each.name === name : each.host === source));
        if (!node || claimed.has(node.name)) {
          const why = !node ? `no node ${name ? `named ${name}` : `at ${source}`}` : `node ${node.name} is already connected`;
          return ws.close(CLOSE_UNKNOWN_AGENT, why);
        }
        claimed.add(node.name);
        const address = `${source} (dialled in${name ? ` as ${name}` : ''})`;
        AgentConnection.authenticate(node, ws, options.token, hello, address).then(
          (connection) => waiting.get(node.name)!.resolve(connection),
          (error: Error) => {
            // A connection that failed to authenticate must not keep the controller alive.
            ws.terminate();
            waiting.get(node.name)!.reject(
              error instanceof AgentConnectError ? error : new AgentConnectError('agent-unreachable', `node ${node.name}: the agent at ${address} failed to authenticate: ${error.message}`),
            );
          },
        );
      } catch {
        ws.terminate();
      }
    })();
  });

  const { port } = control;
  const scheme = options.tls ? 'wss' : 'ws';
  const deadline = setTimeout(() => {
    for (const node of nodes) {
      const message = `node ${node.name}: its agent did not dial in within ${Math.round(options.waitMs / 1000)} s: start it with preflight-agent --connect ${scheme}://THIS-MACHINE:${port} --as ${node.name}`;
      waiting.get(node.name)!.reject(new AgentConnectError('agent-unreachable', message));
    }
  }, options.waitMs);

  return {
    host: options.host,
    port,
    connect: (node) => waiting.get(node.name)!.promise,
    async close() {
      clearTimeout(deadline);
      // Stop taking connections; those of the run end when the run closes them.
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
