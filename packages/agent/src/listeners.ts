import dgram from 'node:dgram';
import net from 'node:net';
import pLimit from 'p-limit';
import {
  MAX_HANDSHAKE_BYTES,
  parseTcpProbeLine,
  parseUdpProbeDatagram,
  tcpAnswerLine,
  udpAnswerDatagram,
  type ListenResult,
  type ListenSpec,
  type UdpReceivedMessage,
} from '@preflight/protocol';
import { errorCode } from './errno.js';
import { findPortHolders } from './port-holders.js';

/** How long a TCP listener waits for a prober's line before dropping the connection. */
const HANDSHAKE_TIMEOUT_MS = 5000;

/** Binds under way at once: enough to open thousands of ports in well under a second. */
const BIND_CONCURRENCY = 256;

/** Distinct UDP nonces a listener remembers, so a retried probe is reported once. */
const MAX_REMEMBERED_NONCES = 4096;

type Listener = { close(): Promise<void> };

/**
 * The temporary listeners of one run. Each answers the probe handshake under the run key; UDP
 * listeners also report every genuine probe to `onUdpReceived`. `closeAll` releases every port.
 */
export class ListenerSet {
  private readonly listeners = new Map<string, Listener>();
  /** Set once the run has ended: a bind that finishes later is closed at once. */
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly runKey: string,
    private readonly onUdpReceived: (message: UdpReceivedMessage) => void,
  ) {}

  get size(): number {
    return this.listeners.size;
  }

  /** Opens each listener not already open; never throws for a port it cannot have. */
  async open(specs: readonly ListenSpec[]): Promise<ListenResult[]> {
    const limit = pLimit(BIND_CONCURRENCY);
    const results = await Promise.all(specs.map((spec) => limit(() => this.openOne(spec))));
    const taken = results.filter((result) => result.state === 'in-use');
    if (taken.length === 0) return results;
    const holders = await findPortHolders(this.host, taken);
    return results.map((result) => {
      const holder = result.state === 'in-use' ? holders.get(`${result.protocol}/${result.port}`) : undefined;
      return holder ? { ...result, holder } : result;
    });
  }

  /** Closes the listeners of these specs (a round of the run is done); returns how many it closed. */
  async close(specs: readonly ListenSpec[]): Promise<number> {
    const closing = specs.flatMap((spec) => {
      const id = `${spec.protocol}/${spec.port}`;
      const listener = this.listeners.get(id);
      this.listeners.delete(id);
      return listener ? [listener] : [];
    });
    await Promise.all(closing.map((listener) => listener.close()));
    return closing.length;
  }

  async closeAll(): Promise<number> {
    this.closed = true;
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((listener) => listener.close()));
    return all.length;
  }

  private async openOne(spec: ListenSpec): Promise<ListenResult> {
    const id = `${spec.protocol}/${spec.port}`;
    if (this.listeners.has(id)) return { ...spec, state: 'bound' };
    try {
      const listener =
        spec.protocol === 'tcp' ? await this.listenTcp(spec.port) : await this.listenUdp(spec.port);
      if (this.closed) {
        // The run ended while this port was being bound (the controller went away mid-listen).
        await listener.close();
        return { ...spec, state: 'failed', code: 'RUN-ENDED' };
      }
      this.listeners.set(id, listener);
      return { ...spec, state: 'bound' };
    } catch (error) {
      const code = errorCode(error);
      const state = code === 'EADDRINUSE' ? 'in-use' : code === 'EACCES' || code === 'EPERM' ? 'denied' : 'failed';
      return { ...spec, state, code };
    }
  }

  private listenTcp(port: number): Promise<Listener> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      this.answerTcp(socket, port);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', () => {}); // accept errors after bind are the peer's problem
        resolve({
          close: () =>
            new Promise<void>((done) => {
              for (const socket of sockets) socket.destroy();
              server.close(() => done());
            }),
        });
      });
    });
  }

  private answerTcp(socket: net.Socket, port: number): void {
    let received = '';
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const newline = received.indexOf('\n');
      if (newline < 0 && received.length < MAX_HANDSHAKE_BYTES) return;
      const nonce = parseTcpProbeLine(received.slice(0, newline < 0 ? undefined : newline));
      if (nonce) socket.end(tcpAnswerLine(this.runKey, port, nonce));
      else socket.destroy();
    });
  }

  private listenUdp(port: number): Promise<Listener> {
    const socket = dgram.createSocket({ type: net.isIPv6(this.host) ? 'udp6' : 'udp4' });
    const seen = new Set<string>();
    // Every datagram must be counted, so this listens on 'message' rather than awaiting recv().
    socket.on('message', (datagram, rinfo) => {
      const nonce = parseUdpProbeDatagram(this.runKey, port, datagram);
      if (!nonce) return;
      socket.send(udpAnswerDatagram(this.runKey, port, nonce), rinfo.port, rinfo.address, () => {});
      if (seen.has(nonce)) return;
      if (seen.size >= MAX_REMEMBERED_NONCES) seen.clear();
      seen.add(nonce);
      this.onUdpReceived({ type: 'udp-received', port, nonce, from: `${rinfo.address}:${rinfo.port}` });
    });
    return new Promise((resolve, reject) => {
      socket.once('error', (error) => {
        socket.close();
        reject(error);
      });
      socket.bind({ port, address: this.host, exclusive: true }, () => {
        socket.removeAllListeners('error');
        socket.on('error', () => {}); // ICMP errors from answering a vanished prober
        resolve({ close: () => new Promise<void>((done) => socket.close(() => done())) });
      });
    });
  }
}
