import { setMaxListeners } from 'node:events';
import os from 'node:os';
import type { WebSocket } from 'ws';
import pLimit from 'p-limit';
import {
  CLOSE_CODES,
  MAX_RUN_PROBES,
  PROTOCOL_VERSION,
  checkProof,
  proveToken,
  decodeRequest,
  makeChallenge,
  type AgentMessage,
  type BeginRequest,
  type ErrorCode,
  type ListenRequest,
  type ProbeOrder,
  type ProbeRequest,
  type ProbeResult,
  type ReplyResult,
  type Request,
  type RequestType,
} from '@preflight/protocol';
import { fileHeadroom, listenCapacity, probeConcurrency } from './file-budget.js';
import { gatherHostFacts } from './host-facts.js';
import { ListenerSet } from './listeners.js';
import { probeIcmp } from './probe-icmp.js';
import { probeTarget } from './probe-target.js';
import { probeTcp } from './probe-tcp.js';
import { probeUdp } from './probe-udp.js';
import { AGENT_VERSION } from './version.js';

/** How long a new connection has to prove the token before it is dropped. */
const AUTH_TIMEOUT_MS = 10_000;

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
};

type Run = {
  runId: string;
  runKey: string;
  /** The hosts the controller declared at the start: the only ones this run may probe. */
  targets: ReadonlySet<string>;
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
 * One controller's connection. Nothing runs before the controller proves the token; every
 * listener and probe belongs to the session's run and ends with it, with the connection, or
 * when the run's lifetime is up.
 */
export class Session {
  private readonly challenge = makeChallenge();
  private authenticated = false;
  private authTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private lastHeard = Date.now();
  private run: Run | undefined;

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
    ws.on('error', () => ws.terminate());
    ws.on('pong', () => (this.lastHeard = Date.now()));
    this.heartbeat = setInterval(() => {
      if (Date.now() - this.lastHeard > MISSED_HEARTBEATS * options.heartbeatMs) return ws.terminate();
      ws.ping();
    }, options.heartbeatMs);
    this.authTimer = setTimeout(() => this.drop(CLOSE_CODES.authTimeout, 'no authentication in time'), AUTH_TIMEOUT_MS);
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
    const decoded = decodeRequest(raw);
    if (!decoded.ok) return this.sendError(decoded.id, 'bad-message', decoded.error);
    const request = decoded.value;
    if (!this.authenticated && request.type !== 'auth') {
      this.sendError(request.id, 'auth-required', 'authenticate first');
      return this.drop(CLOSE_CODES.authFailed, 'command before authentication');
    }
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
        return this.authenticate(request.protocol, request.proof, request.challenge);
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

  private authenticate(protocol: number, proof: string, challenge: string): ReplyResult<'auth'> {
    if (protocol !== PROTOCOL_VERSION) {
      throw new RequestError('protocol-mismatch', `this agent speaks protocol ${PROTOCOL_VERSION}, not ${protocol}`);
    }
    if (!checkProof(this.options.token, this.challenge, proof)) {
      this.options.log(`refused ${this.peer}: wrong token`);
      this.options.onAuth?.(false);
      setImmediate(() => this.drop(CLOSE_CODES.authFailed, 'wrong token'));
      throw new RequestError('auth-failed', 'the token does not match this agent');
    }
    clearTimeout(this.authTimer);
    this.authenticated = true;
    this.options.onAuth?.(true);
    return {
      hostname: os.hostname(),
      platform: `${process.platform}-${process.arch}`,
      agentVersion: AGENT_VERSION,
      proof: proveToken(this.options.token, challenge, 'agent'),
      listenCapacity: listenCapacity(this.options.maxListeners),
    };
  }

  private async begin(request: BeginRequest): Promise<ReplyResult<'begin'>> {
    await this.endRun('a new run began');
    const ttlMs = Math.min(request.ttlMs, this.options.maxRunMs);
    const listeners = new ListenerSet(this.options.listenHost, request.runKey, (message) => this.send(message));
    const expiry = setTimeout(() => void this.expire(), ttlMs);
    const probes = new AbortController();
    setMaxListeners(0, probes.signal); // every probe under way listens for the run's end
    this.run = { runId: request.runId, runKey: request.runKey, targets: new Set(request.targets), probesOrdered: 0, listeners, expiry, probes };
    this.options.log(`run ${request.runId} began for ${this.peer} (at most ${Math.round(ttlMs / 1000)} s)`);
    return { ttlMs };
  }

  private async listen(request: ListenRequest): Promise<ReplyResult<'listen'>> {
    const run = this.requireRun();
    const listeners = await run.listeners.open(request.listeners);
    const headroom = fileHeadroom();
    return { listeners, ...(headroom === null ? {} : { headroom }) };
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
    const probeOne = (order: ProbeOrder): Promise<ProbeResult> => {
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
