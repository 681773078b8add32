import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { MAX_MESSAGE_BYTES, decidePin, formatFingerprint, readKnownAgents, rememberAgents } from '@preflight/protocol';
import { DEFAULT_HEARTBEAT_MS, Session } from './session.js';

/** How long to wait before dialling the controller again after a connection ends or fails. */
const REDIAL_MS = 3000;

export type DialOptions = {
  /** `wss://CONTROLLER:PORT` (or `ws://` with --insecure). */
  url: string;
  /** The node this agent is, as the controller names it (--as); else the controller matches its address. */
  name?: string;
  token: string;
  /** Where temporary listeners bind. */
  listenHost: string;
  maxRunMs: number;
  heartbeatMs?: number;
  log: (line: string) => void;
  /** The controller's certificate: pinned (--controller-fingerprint), else trusted on first use in `knownFile`. */
  pinned?: string;
  knownFile: string;
  maxListeners?: number;
  /**
   * Told of a fault that dialling again cannot mend (the known-controllers file cannot be read or
   * written); dialling has stopped. Without it the fault is only logged.
   */
  onFatal?: (message: string) => void;
};

/**
 * Reverse connection: for a site where the controller cannot reach the agents' control port, the
 * agent dials the controller (`preflight run --serve`) and serves the same protocol over that
 * connection: it sends the challenge, the controller proves the token, and the controller's TLS
 * certificate is pinned as an agent's would be. It dials again after every connection ends, until
 * closed. Throws, before dialling, when the known-controllers file cannot be read.
 */
export function dialController(options: DialOptions): { close(): Promise<void> } {
  // Read once now, so that a file that cannot be used is said at start, not at the first connection.
  readKnownAgents(options.knownFile);
  let stopped = false;
  let current: { ws: WebSocket; session?: Session } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let refusedFor: string | undefined;

  const again = () => {
    if (!stopped) timer = setTimeout(dial, REDIAL_MS);
  };

  function dial(): void {
    const ws = new WebSocket(options.url, { maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: true, rejectUnauthorized: false, handshakeTimeout: 10_000 });
    current = { ws };
    const address = new URL(options.url).host;
    // The controller is this connection's TLS server: proofs name its certificate (none over ws).
    let serverFingerprint: string | null = null;
    // Trusted on first use only once the controller behind it has proved the token.
    let firstSeen: string | undefined;
    const fail = (error: unknown) => {
      // The known-controllers file went bad (or cannot be written): no controller can be trusted.
      stopped = true;
      ws.terminate();
      const message = `cannot check the controller's certificate: ${(error as Error).message}`;
      if (options.onFatal) options.onFatal(message);
      else options.log(message);
    };
    ws.once('upgrade', (response: IncomingMessage) => {
      if (!options.url.startsWith('wss:')) return;
      const seen = (response.socket as TLSSocket).getPeerCertificate().fingerprint256;
      serverFingerprint = seen;
      try {
        const verdict = decidePin({
          node: 'agent',
          peer: 'controller',
          pinFlag: '--controller-fingerprint ',
          address,
          seen,
          pinned: options.pinned,
          known: readKnownAgents(options.knownFile).agents[address]?.fingerprint,
          file: options.knownFile,
        });
        if (!verdict.ok) {
          if (refusedFor !== seen) options.log(verdict.message);
          refusedFor = seen;
          return ws.terminate();
        }
        if (verdict.learned) firstSeen = seen;
      } catch (error) {
        fail(error);
      }
    });
    const remember = (ok: boolean) => {
      if (!ok || !firstSeen) return;
      try {
        rememberAgents(options.knownFile, { [address]: firstSeen });
        options.log(`first contact with the controller at ${address}: trusting its certificate ${formatFingerprint(firstSeen)} from now on (${options.knownFile})`);
      } catch (error) {
        fail(error);
      }
    };
    ws.once('open', () => {
      refusedFor = undefined;
      options.log(`connected to the controller at ${address}`);
      current!.session = new Session(ws, address, {
        token: options.token,
        listenHost: options.listenHost,
        maxRunMs: options.maxRunMs,
        heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
        log: options.log,
        ...(options.name ? { name: options.name } : {}),
        ...(options.maxListeners ? { maxListeners: options.maxListeners } : {}),
        binding: { mode: 'reverse', serverFingerprint },
        onAuth: remember,
      });
    });
    ws.on('error', () => {});
    ws.once('close', () => {
      void current?.session?.dispose();
      current = undefined;
      again();
    });
  }

  dial();
  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      const open = current;
      current = undefined;
      open?.ws.terminate();
      await open?.session?.dispose();
    },
  };
}
