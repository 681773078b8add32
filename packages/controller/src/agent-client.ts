import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import {
  AUTH_TIMEOUT_MS,
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  decodeAgentMessage,
  proveToken,
  checkProof,
  makeChallenge,
  replyResultSchemas,
  type AgentInfo,
  type AuthContext,
  type AgentMessage,
  type ProbeResult,
  type ReplyResult,
  type Request,
  type RequestType,
  type UdpReceivedMessage,
} from '@preflight/protocol';
import { decidePin, formatFingerprint, type KnownAgents } from '@preflight/protocol';
import { withDeadline } from './deadline.js';
import { hedge } from './hedge.js';
import { agentAddress, type AgentNode } from './nodes.js';

/**
 * How the controller trusts agents: over TLS (wss) pinned to each agent's certificate, by a
 * fingerprint given on the command line, else by the known-agents file, else learned on first
 * use (recorded in `learned`, for the caller to save). `insecure`: plain ws, no TLS at all.
 */
export type AgentTrust = {
  insecure: boolean;
  /** `--fingerprint NODE=SHA256:...`, by node name. */
  pinned: ReadonlyMap<string, string>;
  known: KnownAgents;
  file: string;
  /** Agents first met in this run, by `host:port`: their fingerprints, to be remembered. */
  learned: Record<string, string>;
};

/** For tests and --insecure: plain ws. */
export const INSECURE: AgentTrust = { insecure: true, pinned: new Map(), known: { format: 'preflight-known-agents/1', agents: {} }, file: '', learned: {} };

/** How long one attempt waits for an agent to accept the connection and say hello. */
export const CONNECT_TIMEOUT_MS = 4000;

/**
 * Attempts before an agent is called unreachable. On a lossy site link a lost SYN costs 1 s and
 * a second one 3 s more; three attempts ride that out. A refusal is final at once.
 */
export const CONNECT_ATTEMPTS = 3;

/**
 * Within an attempt, while no connection has reached the agent's hello, a second starts this long
 * after the first: on a lossy link a lost SYN or TLS packet holds a connection up for a second or
 * more of retransmission, and a fresh one is often through first (at 20% loss on each of two
 * links the connect phase ranged 0.45 to 4.7 s with one at a time). Both race to the hello only,
 * and the loser is closed before it sends anything, so the agent counts no failure for it.
 */
export const DIAL_HEDGE_MS = 500;
export const DIALS_AT_ONCE = 2;

/** Why an agent could not be used: the message names the node and the address tried. */
export class AgentConnectError extends Error {
  constructor(
    readonly code: 'agent-unreachable' | 'auth-failed' | 'agent-untrusted',
    message: string,
    /** No retry can change it: a refusal, a wrong token, another protocol. */
    readonly final = true,
  ) {
    super(message);
  }
}

/** An agent's refusal of one request, with the protocol's error code. */
export class AgentRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Pending = { type: RequestType; resolve: (result: never) => void; reject: (error: Error) => void };

/** Distributes a request's type over the union so each request keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/**
 * An authenticated control connection to one agent. Requests resolve with their validated reply;
 * when the connection drops, every pending request rejects and `onLost` fires once.
 */
export class AgentConnection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedByUs = false;
  probeResult: (result: ProbeResult) => void = () => {};
  udpReceived: (message: UdpReceivedMessage) => void = () => {};
  onLost: (why: string) => void = () => {};
  /** When the agent last sent anything (performance.now()): a run waits on an agent that is still talking. */
  lastHeard = performance.now();

  private constructor(
    readonly node: AgentNode,
    private readonly ws: WebSocket,
    readonly info: AgentInfo,
  ) {}

  /** Connects and proves the token, retrying what loss can explain; rejects with AgentConnectError. */
  static async connect(node: AgentNode, token: string, trust: AgentTrust = INSECURE): Promise<AgentConnection> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await AgentConnection.connectOnce(node, token, trust);
      } catch (error) {
        const final = error instanceof AgentConnectError && (error.final || attempt >= CONNECT_ATTEMPTS);
        if (final || !(error instanceof AgentConnectError)) throw error;
      }
    }
  }

  private static async connectOnce(node: AgentNode, token: string, trust: AgentTrust): Promise<AgentConnection> {
    const address = agentAddress(node);
    let dialled: Dialled;
    try {
      dialled = await hedge({
        start: () => dialAgent(node, trust),
        spacingMs: DIAL_HEDGE_MS,
        most: DIALS_AT_ONCE,
        // A refusal (a certificate refused, the port refused) is final: no second dial can change it.
        isFinal: (error) => unreachable(node, trust, error).final,
        drop: ({ ws }) => ws.terminate(),
      });
    } catch (error) {
      throw unreachable(node, trust, error);
    }
    const { ws, hello, serverFingerprint, firstSeen } = dialled;
    try {
      const connection = await AgentConnection.authenticate(node, ws, token, hello, address, { mode: 'forward', serverFingerprint });
      if (firstSeen) trust.learned[address] = firstSeen;
      return connection;
    } catch (error) {
      ws.terminate();
      if (error instanceof AgentConnectError && error.code === 'auth-failed' && firstSeen) {
        throw new AgentConnectError(
          'auth-failed',
          `${error.message}. If the token is right, something between may be intercepting: compare the certificate seen, ` +
            `${formatFingerprint(firstSeen)}, with the fingerprint the agent printed at start (it was not trusted)`,
        );
      }
      throw unreachable(node, trust, error);
    }
  }

  /**
   * Proves the token on an open connection whose hello has arrived: one the controller opened
   * (`forward`), or one an agent dialled in (`reverse`, --serve). Both proofs are bound to the
   * binding given, so neither is any use on another connection. Rejects with AgentConnectError
   * when the agent refuses, or cannot prove the token itself within AUTH_TIMEOUT_MS.
   */
  static async authenticate(
    node: AgentNode,
    ws: WebSocket,
    token: string,
    hello: AgentMessage,
    address: string,
    binding: Pick<AuthContext, 'mode' | 'serverFingerprint'>,
  ): Promise<AgentConnection> {
    if (hello.type !== 'hello') throw new Error(`it sent "${hello.type}" before hello`);
    if (hello.protocol !== PROTOCOL_VERSION) {
      throw new AgentConnectError('agent-unreachable', `node ${node.name}: the agent at ${address} speaks protocol ${hello.protocol}, this controller ${PROTOCOL_VERSION}: use the same preflight version on both`);
    }
    const connection = new AgentConnection(node, ws, { hostname: '', platform: '', agentVersion: hello.agentVersion, proof: '', listenCapacity: 1 });
    ws.on('message', (data) => connection.receive(data.toString()));
    ws.on('ping', () => (connection.lastHeard = performance.now())); // the agent's heartbeat
    ws.on('close', (code, reason) => connection.closed(code, reason.toString()));
    ws.on('error', () => {});
    const context: AuthContext = { ...binding, agentChallenge: hello.challenge, controllerChallenge: makeChallenge() };
    const info = await withDeadline(
      connection.request({ type: 'auth', protocol: PROTOCOL_VERSION, proof: proveToken(token, 'controller', context), challenge: context.controllerChallenge }),
      AUTH_TIMEOUT_MS,
      `no answer to the token's proof within ${AUTH_TIMEOUT_MS / 1000} s`,
    ).catch((error: Error) => {
      throw error instanceof AgentRequestError && error.code === 'auth-failed'
        ? new AgentConnectError('auth-failed', `node ${node.name}: the agent at ${address} refused the token: give the token it printed at start with --token or PREFLIGHT_TOKEN`)
        : error;
    });
    // The agent proves the token too: an impostor that dialled in (or answered) gets no further.
    if (!checkProof(token, 'agent', context, info.proof)) {
      ws.terminate();
      throw new AgentConnectError('auth-failed', `node ${node.name}: the agent at ${address} could not prove the token: it is not the agent you started, or has another token`);
    }
    Object.assign(connection.info, info);
    return connection;
  }

  /** Sends one request; resolves with its reply's result, validated against the protocol. */
  request<R extends WithoutId<Request>>(request: R): Promise<ReplyResult<R['type']>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) return reject(new AgentRequestError('agent-lost', `the connection to ${this.node.name} is closed`));
      this.pending.set(id, { type: request.type, resolve: resolve as (result: never) => void, reject });
      this.ws.send(JSON.stringify({ ...request, id }));
    });
  }

  /**
   * Drops the connection at once. The run has ended (or been given up) by now, and a closing
   * handshake on a lossy link can keep the controller from exiting for seconds; the agent ends
   * the session either way.
   */
  close(): void {
    this.closedByUs = true;
    this.ws.terminate();
  }

  private receive(raw: string): void {
    this.lastHeard = performance.now();
    const decoded = decodeAgentMessage(raw);
    if (!decoded.ok) return; // an agent of this version never sends one; nothing to act on
    const message = decoded.value;
    switch (message.type) {
      case 'reply':
        return this.settle(message.id, (pending) => {
          const parsed = replyResultSchemas[pending.type].safeParse(message.result);
          if (parsed.success) pending.resolve(parsed.data as never);
          else pending.reject(new AgentRequestError('bad-message', `malformed ${pending.type} reply`));
        });
      case 'error':
        if (message.id === null) return this.onLost(`${message.code}: ${message.message}`);
        return this.settle(message.id, (pending) => pending.reject(new AgentRequestError(message.code, message.message)));
      case 'probe-results':
        return message.results.forEach((result) => this.probeResult(result));
      case 'udp-received':
        return this.udpReceived(message);
      case 'hello':
        return;
    }
  }

  private settle(id: number, action: (pending: Pending) => void): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    action(pending);
  }

  private closed(code: number, reason: string): void {
    const why = `the connection to the agent closed (${code}${reason ? ` ${reason}` : ''})`;
    for (const pending of this.pending.values()) pending.reject(new AgentRequestError('agent-lost', why));
    this.pending.clear();
    if (!this.closedByUs) this.onLost(why);
  }
}

/** A connection that has reached an agent's hello, with what its TLS server showed. */
type Dialled = {
  ws: WebSocket;
  hello: AgentMessage;
  /** The agent is this connection's TLS server: the proofs name the certificate it presented. */
  serverFingerprint: string | null;
  /** A certificate seen for the first time, to trust once the agent behind it has proved the token. */
  firstSeen?: string;
};

/**
 * Opens a control connection and waits for the agent's hello; rejects with an AgentConnectError
 * when the certificate is refused, or with the plain reason the connection failed.
 */
async function dialAgent(node: AgentNode, trust: AgentTrust): Promise<Dialled> {
  const address = agentAddress(node);
  const scheme = trust.insecure ? 'ws' : 'wss';
  // The certificate is self-signed: no CA vouches for it, its pinned fingerprint does (below).
  const ws = new WebSocket(`${scheme}://${address}/`, {
    handshakeTimeout: CONNECT_TIMEOUT_MS,
    maxPayload: MAX_MESSAGE_BYTES,
    perMessageDeflate: true,
    rejectUnauthorized: false,
  });
  let untrusted: AgentConnectError | undefined;
  let serverFingerprint: string | null = null;
  // Trusted on first use only once the agent behind it has proved the token: a machine in the
  // middle presents its own certificate, fails (the proofs name it), and is not remembered.
  let firstSeen: string | undefined;
  if (!trust.insecure) {
    // Checked on the upgrade, before the agent's hello is read or anything is sent to it.
    ws.once('upgrade', (response: IncomingMessage) => {
      const seen = (response.socket as TLSSocket).getPeerCertificate().fingerprint256;
      serverFingerprint = seen;
      const verdict = decidePin({ node: `node ${node.name}`, pinFlag: `--fingerprint ${node.name}=`, address, seen, pinned: trust.pinned.get(node.name), known: trust.known.agents[address]?.fingerprint, file: trust.file });
      if (!verdict.ok) {
        untrusted = new AgentConnectError('agent-untrusted', verdict.message);
        ws.terminate();
      } else if (verdict.learned) firstSeen = seen;
    });
  }
  try {
    const hello = await firstMessage(ws);
    return { ws, hello, serverFingerprint, ...(firstSeen ? { firstSeen } : {}) };
  } catch (error) {
    ws.terminate();
    throw untrusted ?? error;
  }
}

/** What a connection's failure tells the engineer: an AgentConnectError as it is, else the agent unreachable, and why. */
function unreachable(node: AgentNode, trust: AgentTrust, error: unknown): AgentConnectError {
  if (error instanceof AgentConnectError) return error;
  const why = (error as Error).message;
  // A plain-ws agent answers TLS with garbage (EPROTO); a TLS agent drops a plain request.
  const tlsHint = /EPROTO|wrong version|hang up|ECONNRESET|closed the connection/i.test(why)
    ? trust.insecure
      ? ' If the agent runs without --insecure (the default), leave out --insecure here.'
      : ' If the agent runs with --insecure, pass --insecure here too.'
    : '';
  return new AgentConnectError(
    'agent-unreachable',
    `node ${node.name}: no agent answered at ${agentAddress(node)} (${why}). Start preflight-agent on ${node.host}, and check that TCP ${node.port} is open from this machine to it.${tlsHint}`,
    why === 'ECONNREFUSED',
  );
}

/** The first message on a new connection: an agent's hello, within CONNECT_TIMEOUT_MS. */
export function firstMessage(ws: WebSocket): Promise<AgentMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no hello within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
    ws.once('message', (data) => {
      clearTimeout(timer);
      const decoded = decodeAgentMessage(data.toString());
      if (decoded.ok) resolve(decoded.value);
      else reject(new Error(`it is not a preflight agent (${decoded.error})`));
    });
    ws.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(error.code ?? error.message));
    });
    ws.once('close', () => {
      clearTimeout(timer);
      reject(new Error('it closed the connection'));
    });
  });
}
