import { CLOSE_CODES, fingerprintOf, listenControl } from '@preflight/protocol';
import { AuthLimiter } from './auth-limiter.js';
import type { Lookup } from './declared-targets.js';
import { DEFAULT_HEARTBEAT_MS, Session, dropOnError } from './session.js';

/**
 * Control connections open at once, authenticated or not. One controller needs one; a few spare
 * let an engineer retry while a stale connection times out (10 s without authentication).
 */
export const MAX_CONNECTIONS = 8;

export type AgentOptions = {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  token: string;
  maxRunMs: number;
  /** How often to ping the controller (default DEFAULT_HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** The certificate and key the control port presents (wss); absent only with --insecure (ws). */
  tls?: { cert: string; key: string };
  /** Slows down and refuses sources that fail the token (tests give their own clock). */
  authLimiter?: AuthLimiter;
  /** Control connections open at once (default MAX_CONNECTIONS). */
  maxConnections?: number;
  /** Temporary listeners at once (--max-listeners); a run with more opens them in rounds. */
  maxListeners?: number;
  log?: (line: string) => void;
  /** How long a connection has to prove the token (default 10 s; tests shorten it). */
  authTimeoutMs?: number;
  /** Resolves a run's declared host names (default: the system's resolver; tests give their own). */
  lookup?: Lookup;
};

/** A running agent: where its control port is, and how to stop it with everything it opened. */
export type RunningAgent = {
  host: string;
  port: number;
  close(): Promise<void>;
};

/** Starts the control server; resolves once it listens, rejects if it cannot (port in use). */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const log = options.log ?? (() => {});
  const sessions = new Set<Session>();
  const control = await listenControl({ host: options.host, port: options.port, ...(options.tls ? { tls: options.tls } : {}) });
  const server = control.wss;
  const limiter = options.authLimiter ?? new AuthLimiter();
  // The controller dialled us: we are the TLS server, and proofs name our own certificate.
  const binding = { mode: 'forward', serverFingerprint: options.tls ? fingerprintOf(options.tls.cert) : null } as const;
  server.on('connection', (ws, request) => {
    const source = request.socket.remoteAddress ?? 'unknown';
    const peer = `${source}:${request.socket.remotePort}`;
    // Until a session owns it (refused, or slowed down), a broken or oversized frame still drops it.
    const early = dropOnError(ws, peer, log);
    ws.on('error', early);
    if (server.clients.size > (options.maxConnections ?? MAX_CONNECTIONS)) {
      log(`refused ${peer}: already ${server.clients.size - 1} control connections open`);
      return ws.close(CLOSE_CODES.tooManyConnections, 'too many control connections; retry when a run ends');
    }
    const admission = limiter.admit(source);
    if (admission.action === 'refuse') {
      log(`refused ${peer}: too many failed authentications`);
      return ws.close(CLOSE_CODES.tooManyFailures, `too many failed authentications; retry in ${Math.ceil(admission.retryAfterMs / 1000)} s`);
    }
    // A source that has failed before waits before it may try again: its hello comes late.
    const open = () => {
      if (ws.readyState !== ws.OPEN) return;
      ws.off('error', early);
      const session = new Session(ws, peer, {
        token: options.token,
        listenHost: options.host,
        maxRunMs: options.maxRunMs,
        heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        log,
        onAuth: (ok) => (ok ? limiter.succeeded(source) : limiter.failed(source)),
        ...(options.maxListeners ? { maxListeners: options.maxListeners } : {}),
        binding,
        ...(options.authTimeoutMs ? { authTimeoutMs: options.authTimeoutMs } : {}),
        ...(options.lookup ? { lookup: options.lookup } : {}),
      });
      sessions.add(session);
      ws.on('close', () => sessions.delete(session));
    };
    if (admission.delayMs > 0) {
      const timer = setTimeout(open, admission.delayMs);
      ws.on('close', () => clearTimeout(timer));
    } else open();
  });
  return {
    host: options.host,
    port: control.port,
    async close() {
      for (const client of server.clients) client.terminate();
      await Promise.all([...sessions].map((session) => session.dispose()));
      await control.close({ drop: true });
    },
  };
}
