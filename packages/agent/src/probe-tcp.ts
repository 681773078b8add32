import net from 'node:net';
import {
  MAX_HANDSHAKE_BYTES,
  tcpProbeLine,
  verifyTcpAnswer,
  type ProbeObservation,
  type ProbeOrder,
  type ProbeResult,
} from '@preflight/protocol';
import { errorCode, observeError } from './errno.js';

/**
 * A TCP probe starts a fresh connection this often until one is answered. A lost SYN costs the
 * kernel a 1 s retransmit; a fresh attempt every half second gives about ten independent SYNs in
 * a 3 s timeout, so at 20% loss each way an open port reads as filtered about once in 25,000
 * probes instead of once in 170 with three attempts.
 */
export const TCP_ATTEMPT_SPACING_MS = 500;

/**
 * A connection that has connected but is not yet answered at the deadline gets this long from its
 * connect before it counts as intercepted. Our listener answers one round trip after the connect
 * (our line out, its answer back) plus its turn on the receiving agent's event loop, which
 * thousands of listeners and probes can make longer than the round trip itself; a second covers
 * both on any path the timeout suits, and bounds a probe at its timeout plus a second. Without
 * it, a late attempt whose answer is on its way makes an open path read unverified.
 */
export const TCP_ANSWER_GRACE_MS = 1000;

/** Outcomes that end a probe at once; `no-answer` waits for the other attempts or the deadline. */
const isFinal = (observation: ProbeObservation): boolean => observation.kind !== 'no-answer';

/**
 * Connects to a peer's temporary listener and checks that it answers the nonce under the run
 * key. Never rejects: every failure is an observation.
 */
export function probeTcp(order: ProbeOrder, runKey: string, signal: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  const sockets = new Set<net.Socket>();
  /**
   * Connections that connected and await our listener's answer, with when they connected. One
   * leaves only by ending the probe, so while the probe runs, none here means none connected.
   */
  const awaiting = new Map<net.Socket, number>();
  const timers: NodeJS.Timeout[] = [];
  let attempts = 0;
  let rttMs: number | undefined;

  return new Promise<ProbeResult>((resolve) => {
    let settled = false;
    const finish = (observation: ProbeObservation) => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      for (const socket of sockets) closeWithReset(socket);
      signal.removeEventListener('abort', onAbort);
      const elapsedMs = Math.round(performance.now() - started);
      resolve({ key: order.key, protocol: 'tcp', observation, attempts, elapsedMs, ...(rttMs === undefined ? {} : { rttMs }) });
    };
    const onAbort = () => finish({ kind: 'error', code: 'ABORTED', message: 'the run ended first' });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);

    const attempt = () => {
      if (settled) return;
      attempts += 1;
      const attemptStarted = performance.now();
      const socket = net.connect({ host: order.host, port: order.port, ...(order.source ? { localAddress: order.source } : {}) });
      sockets.add(socket);
      let received = '';
      socket.setNoDelay(true);
      socket.on('connect', () => {
        awaiting.set(socket, performance.now());
        rttMs ??= Math.round((performance.now() - attemptStarted) * 100) / 100;
        socket.write(tcpProbeLine(order.nonce));
      });
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        const newline = received.indexOf('\n');
        if (newline < 0 && received.length < MAX_HANDSHAKE_BYTES) return;
        const line = newline < 0 ? received : received.slice(0, newline + 1);
        finish(
          verifyTcpAnswer(runKey, order.port, order.nonce, line)
            ? { kind: 'verified' }
            : { kind: 'mismatch', received: printable(line) },
        );
      });
      socket.on('end', () => finish({ kind: 'mismatch', received: printable(received) }));
      socket.on('error', (error) => {
        sockets.delete(socket);
        // Once connected, something accepted the connection: a reset (or any failure) before a
        // valid answer is that something ending it, as with a close without an answer. A reset
        // that arrives before Node has reported the connect fails the connect with ECONNRESET, yet
        // only an accepted connection can be reset (a refused SYN is ECONNREFUSED).
        const code = errorCode(error);
        if (awaiting.delete(socket) || code === 'ECONNRESET') return finish({ kind: 'mismatch', received: printable(received), code });
        const observation = observeError(error);
        if (isFinal(observation)) finish(observation);
      });
    };

    // One timer for the next attempt at a time: most probes are answered before it fires.
    const attemptAgain = () => {
      attempt();
      const next = attempts * TCP_ATTEMPT_SPACING_MS;
      if (!settled && next < order.timeoutMs) timers.push(setTimeout(attemptAgain, TCP_ATTEMPT_SPACING_MS));
    };
    attemptAgain();
    // A peer that accepted the connection but never answered is not our listener, or a proxy
    // holding the connection: that is different from no answer at all. The latest connection
    // still waiting is given its grace first, since its answer may be on its way.
    const silent: ProbeObservation = { kind: 'mismatch', received: '' };
    const onDeadline = () => {
      if (awaiting.size === 0) return finish({ kind: 'no-answer' });
      const graceLeft = Math.max(...awaiting.values()) + TCP_ANSWER_GRACE_MS - performance.now();
      if (graceLeft <= 0) return finish(silent);
      timers.push(setTimeout(() => finish(silent), graceLeft));
    };
    timers.push(setTimeout(onDeadline, order.timeoutMs));
  });
}

/**
 * Closes a probe socket with a reset, not a FIN: a probe that closed first would leave TIME_WAIT
 * on its ephemeral port for a minute, and the next run's listener could not bind that port. A
 * socket still connecting has no TIME_WAIT to leave and must go now (resetAndDestroy would wait
 * for a connection that a dropped port never gives).
 */
export function closeWithReset(socket: net.Socket): void {
  if (socket.destroyed) return;
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

/** What a foreign peer sent, safe to print: at most 64 characters, control bytes escaped. */
function printable(text: string): string {
  return JSON.stringify(text.slice(0, 64)).slice(1, -1);
}
