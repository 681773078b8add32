import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { MAX_MESSAGE_BYTES } from './constants.js';

/** A listening control channel: the agent's control port, or a controller's --serve port. */
export type ControlServer = {
  wss: WebSocketServer;
  port: number;
  /**
   * Stops taking connections. Those already open stay until their owners close them, unless
   * `drop` (the agent stopping): then they are cut, and it resolves once the port is free.
   */
  close(options?: { drop?: boolean }): Promise<void>;
};

/**
 * Listens for the control channel: wss with the given certificate, or plain ws without one
 * (--insecure). Compressed: a run's bulk messages (listen replies, results) shrink tenfold, and on
 * a lossy link every segment not sent is one TCP cannot lose. Rejects if it cannot listen.
 */
export async function listenControl(options: { host: string; port: number; tls?: { cert: string; key: string } }): Promise<ControlServer> {
  const wsOptions = { maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: true };
  const https: Server | undefined = options.tls ? createServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }) : undefined;
  const wss = https ? new WebSocketServer({ server: https, ...wsOptions }) : new WebSocketServer({ host: options.host, port: options.port, ...wsOptions });
  await new Promise<void>((resolve, reject) => {
    const emitter = https ?? wss;
    emitter.once('listening', resolve);
    emitter.once('error', reject);
    https?.listen(options.port, options.host);
  });
  // A client that fails the TLS handshake (a scanner, a plain ws:// peer) is dropped quietly.
  https?.on('tlsClientError', () => {});
  const { port } = (https ?? wss).address() as AddressInfo;
  return {
    wss,
    port,
    async close({ drop = false } = {}) {
      if (drop) for (const client of wss.clients) client.terminate();
      const closed = https ? new Promise<void>((resolve) => https.close(() => resolve())) : Promise.resolve();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (drop) await closed;
    },
  };
}
