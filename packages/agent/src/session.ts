import { setMaxListeners } from 'node:events';
import os from 'node:os';
import type { WebSocket } from 'ws';
import pLimit from 'p-limit';
import {
  AUTH_TIMEOUT_MS,
  CLOSE_CODES,
  MAX_RUN_PROBES,
  PROTOCOL_VERSION,
  checkProof,
  proveToken,
  decodeRequest,
  makeChallenge,
  type AgentMessage,
  type AuthContext,
  type AuthRequest,
  type BeginRequest,
  type Decoded,
  type ErrorCode,
  type ListenRequest,
  type ProbeOrder,
  type ProbeRequest,
  type ProbeResult,
  type ReplyResult,
  type Request,
  type RequestType,
} from '@preflight/protocol';
import { destinationOf, resolveDeclared, type DeclaredTargets, type Lookup } from './declared-targets.js';
import { fileHeadroom, listenCapacity, probeConcurrency } from './file-budget.js';
import { gatherHostFacts } from './host-facts.js';
import { ListenerLimitError, ListenerSet } from './listeners.js';
import { probeIcmp } from './probe-icmp.js';
import { probeTarget } from './probe-target.js';
import { probeTcp } from './probe-tcp.js';
import { probeUdp } from './probe-udp.js';
import { AGENT_VERSION } from './version.js';

/**
 * How often the agent pings its controller. A controller that is killed closes its socket and
 * the agent knows at once; one whose network vanishes sends nothing, so silence for three
 * intervals ends the run and releases its ports. Three, because on a lossy link TCP's
 * retransmissions can hold a pong back for seconds.
 */
export const DEFAULT_HEARTBEAT_MS = 5000;
const MISSED_HEARTBEATS = 3;

export type SessionOptions = {
  token: string;
  /** The address temporary listeners bind to: the one the agent's control port is on. */
  listenHost: string;
  /** Upper bound on a run's lifetime, whatever the controller asks for. */
  maxRunMs: number;
  heartbeatMs: number;
  log: (line: string) => void;
  /** Told whether the controller proved the token, to slow down a source that keeps guessing. */
  onAuth?: (ok: boolean) => void;
  /** The node this agent says it is, when it dialled the controller (--connect --as NAME). */
  name?: string;
  /** At most this many temporary listeners at once (--max-listeners), within the file limit. */
  maxListeners?: number;
  /**
   * What this connection's proofs are bound to, besides the challenges: which way it was made,
   * and the certificate its TLS server presented (the agent's own when the controller dialled
   * it, the controller's when the agent dialled out); null over plain ws.
   */
  binding: Pick<AuthContext, 'mode' | 'serverFingerprint'>;
  /** How long to wait for the proof (default AUTH_TIMEOUT_MS; tests shorten it). */
  authTimeoutMs?: number;
  /** Resolves the run's declared host names at begin (default: the system's resolver; tests give their own). */
  lookup?: Lookup;
};

type Run = {
  runId: string;
  runKey: string;
  /** The hosts the controller declared at the start, pinned to their addresses: the only ones this run may probe. */
  targets: DeclaredTargets;
  /** Probes ordered so far, against MAX_RUN_PROBES. */
  probesOrdered: number;
  listeners: ListenerSet;
  expiry: NodeJS.Timeout;
  probes: AbortController;
};

/** A failure of one request, answered with an error message; the session stays usable. */
class RequestError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One controller's connection. Nothing runs before the controller proves the token, and anything
 * else that comes first closes the connection; every listener and probe belongs to the session's
 * one run and ends with it, with the connection, or when the run's lifetime is up.
 */
/**
 * The 'error' handler of a control connection: a frame over MAX_MESSAGE_BYTES, or one that breaks
 * the protocol, on which ws has given up. It is logged with the peer and the connection dropped,
 * never left to crash the agent as an 'error' nobody listens for.
 */
export function dropOnError(ws: WebSocket, peer: string, log: (line: string) => void): (error: Error & { code?: string }) => void {
  return (error) => {
    log(`dropped ${peer}: ${error.code ?? 'error'}: ${error.message}`);
    ws.terminate();
  };
}

export class Session {
  private readonly challenge = makeChallenge();
  private authenticated = false;
  /** Set once the connection was refused before authentication, so it counts as one failure. */
  private refused = false;
  private authTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private lastHeard = Date.now();
  /** Listeners this agent can hold at once, as it told the controller: the run's limit. */
  private capacity = 1;
  private run: Run | undefined;
  /** The run this connection began, if any: a connection has one run, never a second. */
  private runBegun: string | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly peer: string,
    private readonly options: SessionOptions,
  ) {
    ws.on('message', (data, isBinary) => {
      this.lastHeard = Date.now();
      void this.receive(isBinary ? '' : data.toString());
    });
    ws.on('close', () => void this.dispose());
    ws.on('error', dropOnError(ws, peer, options.log));
    ws.on('pong', () => (this.lastHeard = Date.now()));
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastHeard > MISSED_HEARTBEATS * options.heartbeatMs) return ws.terminate();
      ws.ping();
    }, options.heartbeatMs);
    this.authTimer = setTimeout(() => this.refuse(CLOSE_CODES.authTimeout, 'no authentication in time'), options.authTimeoutMs ?? AUTH_TIMEOUT_MS);
    this.send({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      agentVersion: AGENT_VERSION,
      challenge: this.challenge,
      ...(options.name ? { name: options.name } : {}),
    });
  }

  /** Ends the run and releases every port; safe to call more than once. */
  async dispose(): Promise<void> {
    clearTimeout(this.authTimer);
    clearInterval(this.heartbeat);
    await this.endRun('connection closed');
  }

  private async receive(raw: string): Promise<void> {
    if (this.refused) return;
    const decoded = decodeRequest(raw);
    if (!this.authenticated) return this.receiveBeforeAuth(decoded);
    if (!decoded.ok) return this.sendError(decoded.id, 'bad-message', decoded.error);
    const request = decoded.value;
    try {
      this.reply(request.id, await this.dispatch(request));
    } catch (error) {
      if (error instanceof RequestError) return this.sendError(request.id, error.code, error.message);
      this.sendError(request.id, 'internal', error instanceof Error ? error.message : String(error));
    }
  }

  private dispatch(request: Request): Promise<ReplyResult<RequestType>> | ReplyResult<RequestType> {
    switch (request.type) {
      case 'auth':
        throw new RequestError('bad-message', 'this connection is authenticated already');
      case 'begin':
        return this.begin(request);
      case 'listen':
        return this.listen(request);
      case 'probe':
        return this.probe(request);
      case 'end':
        return this.endRun('the controller ended the run').then((closed) => ({ closed }));
      case 'release':
        return this.requireRun().listeners.close(request.listeners).then((closed) => ({ closed }));
      case 'facts':
        return gatherHostFacts().then((facts) => ({ facts }));
      case 'clock':
        return { now: Date.now() };
    }
  }

  /**
   * Before authentication only a well-formed `auth` of this protocol is taken. Anything else, or a
   * proof that does not match, is answered with a code and closes the connection (4401).
   */
  private receiveBeforeAuth(decoded: Decoded<Request>): void {
    if (!decoded.ok) {
      this.sendError(decoded.id, 'bad-message', decoded.error);
      return this.refuse(CLOSE_CODES.authFailed, 'malformed message before authentication');
    }
    const request = decoded.value;
    if (request.type !== 'auth') {
      this.sendError(request.id, 'auth-required', 'authenticate first');
      return this.refuse(CLOSE_CODES.authFailed, `${request.type} before authentication`);
    }
    if (request.protocol !== PROTOCOL_VERSION) {
      this.sendError(request.id, 'protocol-mismatch', `this agent speaks protocol ${PROTOCOL_VERSION}, not ${request.protocol}: use the same preflight version on both`);
      return this.refuse(CLOSE_CODES.authFailed, `protocol ${request.protocol}, not ${PROTOCOL_VERSION}`);
    }
    const context = this.authContext(request);
    if (!checkProof(this.options.token, 'controller', context, request.proof)) {
      this.sendError(request.id, 'auth-failed', 'the token does not match this agent');
      return this.refuse(CLOSE_CODES.authFailed, 'wrong token');
    }
    clearTimeout(this.authTimer);
    this.authenticated = true;
    this.options.onAuth?.(true);
    // Fixed now: the run is held to what the controller was told it can plan its rounds with.
    this.capacity = listenCapacity(this.options.maxListeners);
    this.reply(request.id, {
      hostname: os.hostname(),
      platform: `${process.platform}-${process.arch}`,
      agentVersion: AGENT_VERSION,
      proof: proveToken(this.options.token, 'agent', context),
      listenCapacity: this.capacity,
    } satisfies ReplyResult<'auth'>);
  }

  private authContext(request: AuthRequest): AuthContext {
    return { ...this.options.binding, agentChallenge: this.challenge, controllerChallenge: request.challenge };
  }

  /** Ends a connection that has not proved the token; it counts once against its source. */
  private refuse(code: number, reason: string): void {
    if (this.refused || this.authenticated) return;
    this.refused = true;
    clearTimeout(this.authTimer);
    this.options.log(`refused ${this.peer}: ${reason}`);
    this.options.onAuth?.(false);
    this.drop(code, reason);
  }

  private async begin(request: BeginRequest): Promise<ReplyResult<'begin'>> {
    // One run a connection: its limits (targets, probes, listens) are not renewed by beginning again.
    if (this.runBegun !== undefined) {
      throw new RequestError('run-exists', `this connection already began run ${this.runBegun}; a connection has one run: connect again for another`);
    }
    this.runBegun = request.runId;
    const ttlMs = Math.min(request.ttlMs, this.options.maxRunMs);
    const targets = await resolveDeclared(request.targets, this.options.lookup);
    const unresolved = [...targets].filter(([, addresses]) => addresses.length === 0).map(([host]) => host);
    if (unresolved.length > 0) this.options.log(`run ${request.runId}: ${unresolved.join(', ')} did not resolve; probes of them will report it`);
    if (this.ws.readyState !== this.ws.OPEN) return { ttlMs }; // the controller went away while names resolved
    const listeners = new ListenerSet(this.options.listenHost, request.runKey, (message) => this.send(message), { capacity: this.capacity });
    const expiry = setTimeout(() => void this.expire(), ttlMs);
    const probes = new AbortController();
    setMaxListeners(0, probes.signal); // every probe under way listens for the run's end
    this.run = { runId: request.runId, runKey: request.runKey, targets, probesOrdered: 0, listeners, expiry, probes };
    this.options.log(`run ${request.runId} began for ${this.peer} (at most ${Math.round(ttlMs / 1000)} s)`);
    return { ttlMs };
  }

  private async listen(request: ListenRequest): Promise<ReplyResult<'listen'>> {
    const run = this.requireRun();
    try {
      const listeners = await run.listeners.open(request.listeners);
      const headroom = fileHeadroom();
      return { listeners, ...(headroom === null ? {} : { headroom }) };
    } catch (error) {
      if (!(error instanceof ListenerLimitError)) throw error;
      this.options.log(`refused a listen request of ${request.listeners.length} listeners from ${this.peer}: ${error.message}`);
      throw new RequestError(error.code, error.message);
    }
  }

  private async probe(request: ProbeRequest): Promise<ReplyResult<'probe'>> {
    const run = this.requireRun();
    // Not a scanner: only the hosts declared when the run began, and only so many probes in all.
    const undeclared = request.probes.find((order) => !run.targets.has(order.host));
    if (undeclared) {
      this.options.log(`refused a probe of ${undeclared.host} from ${this.peer}: not declared when run ${run.runId} began`);
      throw new RequestError('undeclared-target', `${undeclared.host} was not declared when the run began; this agent probes only the run's declared peers and targets`);
    }
    if (run.probesOrdered + request.probes.length > MAX_RUN_PROBES) {
      throw new RequestError('limit-exceeded', `a run may order at most ${MAX_RUN_PROBES} probes`);
    }
    run.probesOrdered += request.probes.length;
    const limit = pLimit(probeConcurrency(request.concurrency, request.probes));
    // Results go out together, once per turn of the event loop: thousands of probes finishing
    // at once make a few messages, not thousands.
    let batch: ProbeResult[] = [];
    const flush = () => {
      if (batch.length === 0) return;
      this.send({ type: 'probe-results', id: request.id, results: batch });
      batch = [];
    };
    const { runKey, probes } = run;
    const probeOne = async (given: ProbeOrder): Promise<ProbeResult> => {
      // To the address the host had when the run began, not what its name resolves to now.
      const destination = destinationOf(run.targets, given.host, given.source);
      if (!destination.ok) return unresolvedResult(given);
      const order = { ...given, host: destination.address };
      switch (order.method) {
        case 'handshake':
          return order.protocol === 'udp' ? probeUdp(order, runKey, probes.signal) : probeTcp(order, runKey, probes.signal);
        case 'echo':
          return probeIcmp(order, probes.signal);
        default:
          return probeTarget(order, probes.signal);
      }
    };
    await Promise.all(
      request.probes.map((order) =>
        limit(async () => {
          const result = await probeOne(order);
          if (batch.length === 0) setImmediate(flush);
          batch.push(result);
        }),
      ),
    );
    flush();
    return { count: request.probes.length };
  }

  private requireRun(): Run {
    if (!this.run) throw new RequestError('no-run', 'begin a run first');
    return this.run;
  }

  private async expire(): Promise<void> {
    this.sendError(null, 'run-expired', 'the run reached its maximum lifetime; its listeners are closed');
    await this.endRun('its lifetime ran out');
    this.drop(CLOSE_CODES.runExpired, 'run expired');
  }

  private async endRun(why: string): Promise<number> {
    const run = this.run;
    if (!run) return 0;
    this.run = undefined;
    clearTimeout(run.expiry);
    run.probes.abort();
    const closed = await run.listeners.closeAll();
    this.options.log(`run ${run.runId} ended (${why}): ${closed} listeners closed`);
    return closed;
  }

  private reply(id: number, result: unknown): void {
    this.send({ type: 'reply', id, result });
  }

  private sendError(id: number | null, code: ErrorCode, message: string): void {
    this.send({ type: 'error', id, code, message });
  }

  private send(message: AgentMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  private drop(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
}

/** A probe of a declared name that had no address when the run began: nothing was sent. */
const unresolvedResult = (order: ProbeOrder): ProbeResult => ({
  key: order.key,
  protocol: order.protocol,
  observation: { kind: 'error', code: 'ENOTFOUND', message: `${order.host} did not resolve when the run began; nothing was sent` },
  attempts: 0,
  elapsedMs: 0,
});
