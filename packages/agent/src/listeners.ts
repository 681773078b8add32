import dgram from 'node:dgram';
import net from 'node:net';
import {
  MAX_HANDSHAKE_BYTES,
  MAX_RUN_LISTENS,
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

/**
 * How long a connection to a TCP listener may stay open in all, counted from its accept: a prober
 * sends its line at once and closes once answered, so this is loss's retransmissions with room to
 * spare. Absolute, not an idle timeout, so a peer that trickles a byte now and then is still cut.
 */
const HANDSHAKE_DEADLINE_MS = 5000;

/**
 * Connections one TCP listener holds open at once; beyond it new ones are dropped as they arrive.
 * A prober holds one or two (the next attempt before the answered one closes), so a dozen senders
 * on one port stay far below it, while a flood of one port cannot take the agent's files.
 */
const MAX_SOCKETS_PER_LISTENER = 128;

/** The sweep of expired connections waits this much past the first deadline, to take a burst at once. */
const SWEEP_SLACK_MS = 250;

/** Binds under way at once: enough to open thousands of ports in well under a second. */
const BIND_CONCURRENCY = 256;

/**
 * Distinct UDP probes the run remembers having reported, so a retried one is reported once: more
 * than the probes of one round under way at once (each is reported once, within its timeout).
 */
const MAX_REMEMBERED_NONCES = 65536;

/** A temporary listener is its socket: no wrapper, closure or timer of its own (see `ListenerSet`). */
type Listener = net.Server | dgram.Socket;

/** Errors on a bound listener (an accept that failed, ICMP from a vanished prober) are the peer's problem. */
const ignore = (): void => {};

/** What a run's listeners may hold; the defaults are the agent's, tests shorten them. */
export type ListenerLimits = {
  /** Listeners open at once: the capacity the agent stated when the controller authenticated. */
  capacity: number;
  /** Listeners the run may open in all, each round's counted again. */
  maxListens: number;
  handshakeDeadlineMs: number;
  maxSocketsPerListener: number;
};

const DEFAULT_LIMITS: ListenerLimits = {
  capacity: Infinity,
  maxListens: MAX_RUN_LISTENS,
  handshakeDeadlineMs: HANDSHAKE_DEADLINE_MS,
  maxSocketsPerListener: MAX_SOCKETS_PER_LISTENER,
};

/** A listen request refused whole, before any of it was bound: it would pass one of the run's limits. */
export class ListenerLimitError extends Error {
  readonly code = 'limit-exceeded';
}

const idOf = (spec: ListenSpec) => `${spec.protocol}/${spec.port}`;

/**
 * The temporary listeners of one run. Each answers the probe handshake under the run key; UDP
 * listeners also report every genuine probe to `onUdpReceived`. `closeAll` releases every port.
 *
 * A run may hold tens of thousands of listeners, so a listener is only its socket and a closure
 * that knows its port: the connections accepted and the UDP nonces seen are kept once for the
 * run, not once a listener.
 */
export class ListenerSet {
  private readonly listeners = new Map<string, Listener>();
  /** Binds under way, by id: they count against the capacity before they finish. */
  private readonly opening = new Map<string, Promise<Map<string, ListenResult>>>();
  /** Listens granted so far, against `maxListens`. */
  private listens = 0;
  /**
   * Every open connection to a TCP listener, with its deadline and its listener's port, oldest
   * first: one sweep timer for the whole run cuts them, so a listener costs no timer of its own.
   */
  private readonly accepted = new Map<net.Socket, { deadline: number; port: number }>();
  /** UDP probes already reported, by port and nonce, so a retried datagram is reported once. */
  private readonly seen = new Set<string>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly limits: ListenerLimits;
  /** Set once the run has ended: a bind that finishes later is closed at once. */
  private closed = false;

  constructor(
    private readonly host: string,
    private readonly runKey: string,
    private readonly onUdpReceived: (message: UdpReceivedMessage) => void,
    limits: Partial<ListenerLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  get size(): number {
    return this.listeners.size;
  }

  /**
   * Opens each listener not already open; never throws for a port it cannot have. Rejects with
   * ListenerLimitError, binding none of them, when the request would hold more listeners at once
   * than the capacity, or open more in all than the run may.
   */
  async open(specs: readonly ListenSpec[]): Promise<ListenResult[]> {
    const fresh = [...new Map(specs.map((spec) => [idOf(spec), spec])).entries()].filter(([id]) => !this.listeners.has(id) && !this.opening.has(id));
    // Checked and reserved before the first await, so two requests at once cannot both pass.
    const held = this.listeners.size + this.opening.size;
    const { capacity, maxListens } = this.limits;
    if (held + fresh.length > capacity) {
      throw new ListenerLimitError(
        `refused: ${fresh.length} more listeners would make ${held + fresh.length} at once, and this agent holds at most ${capacity} ` +
          `(its --max-listeners or file limit, as it said when the controller authenticated); release a round's listeners first`,
      );
    }
    if (this.listens + fresh.length > maxListens) {
      throw new ListenerLimitError(`refused: a run may open at most ${maxListens} listeners in all, and this one has opened ${this.listens}`);
    }
    this.listens += fresh.length;
    const binding = this.bindAll(fresh.map(([, spec]) => spec));
    for (const [id] of fresh) this.opening.set(id, binding);
    void binding.then(() => fresh.forEach(([id]) => this.opening.delete(id)));
    // A spec named twice, or one another request is binding, shares that bind; one already open is bound.
    const waits = specs.map((spec) => this.opening.get(idOf(spec)));
    const bound = new Map<Promise<Map<string, ListenResult>>, Map<string, ListenResult>>();
    for (const wait of new Set(waits)) if (wait) bound.set(wait, await wait);
    const results = specs.map((spec, k): ListenResult => {
      const wait = waits[k];
      return wait ? bound.get(wait)!.get(idOf(spec))! : { ...spec, state: 'bound' };
    });
    const taken = results.filter((result) => result.state === 'in-use');
    if (taken.length === 0) return results;
    const holders = await findPortHolders(this.host, taken);
    return results.map((result) => {
      const holder = result.state === 'in-use' ? holders.get(`${result.protocol}/${result.port}`) : undefined;
      return holder ? { ...result, holder } : result;
    });
  }

  /**
   * Binds these listeners BIND_CONCURRENCY at a time, slice after slice. Not a queue of a promise
   * for each port: for a request of 16384 ports that left about 1.7 kB of garbage a port (28 MB of
   * resident memory, measured) that the agent then kept while it held them.
   */
  private async bindAll(specs: readonly ListenSpec[]): Promise<Map<string, ListenResult>> {
    const results = new Map<string, ListenResult>();
    for (let first = 0; first < specs.length; first += BIND_CONCURRENCY) {
      const slice = specs.slice(first, first + BIND_CONCURRENCY);
      for (const result of await Promise.all(slice.map((spec) => this.openOne(spec)))) results.set(idOf(result), result);
    }
    return results;
  }

  /** Closes the listeners of these specs (a round of the run is done); returns how many it closed. */
  async close(specs: readonly ListenSpec[]): Promise<number> {
    const closing: Listener[] = [];
    const tcpPorts = new Set<number>();
    for (const spec of specs) {
      const listener = this.listeners.get(idOf(spec));
      if (!listener) continue;
      this.listeners.delete(idOf(spec));
      closing.push(listener);
      if (spec.protocol === 'tcp') tcpPorts.add(spec.port);
    }
    // A server's close waits for its connections: a prober's, still open, goes with its listener.
    for (const [socket, { port }] of this.accepted) if (tcpPorts.has(port)) socket.destroy();
    await Promise.all(closing.map(closeListener));
    return closing.length;
  }

  async closeAll(): Promise<number> {
    this.closed = true;
    clearTimeout(this.sweeper);
    this.sweeper = undefined;
    const all = [...this.listeners.values()];
    this.listeners.clear();
    for (const socket of this.accepted.keys()) socket.destroy();
    this.accepted.clear();
    this.seen.clear();
    await Promise.all(all.map(closeListener));
    return all.length;
  }

  private async openOne(spec: ListenSpec): Promise<ListenResult> {
    const id = idOf(spec);
    try {
      const listener =
        spec.protocol === 'tcp' ? await this.listenTcp(spec.port) : await this.listenUdp(spec.port);
      if (this.closed) {
        // The run ended while this port was being bound (the controller went away mid-listen).
        await closeListener(listener);
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
    // The port rides in a closure: asking the socket (getsockname) cost a system call a connection.
    const server = net.createServer((socket) => this.answerTcp(socket, port));
    // Beyond this, Node closes each new connection as it is accepted.
    server.maxConnections = this.limits.maxSocketsPerListener;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port, exclusive: true }, () => {
        server.off('error', reject);
        server.on('error', ignore);
        resolve(server);
      });
    });
  }

  /** Reads a prober's line on a connection to the listener on `port`, and answers it. */
  private answerTcp(socket: net.Socket, port: number): void {
    this.watch(socket, port);
    let received = '';
    socket.on('error', () => socket.destroy());
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const newline = received.indexOf('\n');
      if (newline < 0 && received.length < MAX_HANDSHAKE_BYTES) return;
      socket.off('data', onData); // one line is all a listener reads
      const nonce = parseTcpProbeLine(received.slice(0, newline < 0 ? undefined : newline));
      if (nonce) socket.end(tcpAnswerLine(this.runKey, port, nonce));
      else socket.destroy();
    };
    socket.on('data', onData);
  }

  /** Gives an accepted connection its deadline; the run's one sweep timer cuts it then. */
  private watch(socket: net.Socket, port: number): void {
    this.accepted.set(socket, { deadline: performance.now() + this.limits.handshakeDeadlineMs, port });
    socket.once('close', () => this.accepted.delete(socket));
    if (!this.sweeper) this.armSweeper();
  }

  private armSweeper(): void {
    const first = this.accepted.values().next();
    this.sweeper = first.done ? undefined : setTimeout(() => this.sweep(), Math.max(0, first.value.deadline - performance.now()) + SWEEP_SLACK_MS);
    this.sweeper?.unref();
  }

  /** Cuts every connection past its deadline: they were accepted in deadline order, so the oldest come first. */
  private sweep(): void {
    const now = performance.now();
    for (const [socket, { deadline }] of this.accepted) {
      if (deadline > now) break;
      this.accepted.delete(socket);
      socket.destroy();
    }
    this.armSweeper();
  }

  private listenUdp(port: number): Promise<Listener> {
    const socket = dgram.createSocket({ type: net.isIPv6(this.host) ? 'udp6' : 'udp4' });
    // Every datagram must be counted, so this listens on 'message' rather than awaiting recv().
    socket.on('message', (datagram, rinfo) => this.answerUdp(socket, port, datagram, rinfo));
    return new Promise((resolve, reject) => {
      socket.once('error', (error) => {
        socket.close();
        reject(error);
      });
      socket.bind({ port, address: this.host, exclusive: true }, () => {
        socket.removeAllListeners('error');
        socket.on('error', ignore);
        resolve(socket);
      });
    });
  }

  /** Answers a probe datagram to the listener on `port`, and reports it the first time it is seen. */
  private answerUdp(socket: dgram.Socket, port: number, datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    const nonce = parseUdpProbeDatagram(this.runKey, port, datagram);
    if (!nonce) return;
    socket.send(udpAnswerDatagram(this.runKey, port, nonce), rinfo.port, rinfo.address, ignore);
    const id = `${port}/${nonce}`;
    if (this.seen.has(id)) return;
    if (this.seen.size >= MAX_REMEMBERED_NONCES) this.seen.clear();
    this.seen.add(id);
    this.onUdpReceived({ type: 'udp-received', port, nonce, from: `${rinfo.address}:${rinfo.port}` });
  }
}

/** Closes a listener; resolves once its port is free. */
function closeListener(listener: Listener): Promise<void> {
  return new Promise<void>((done) => (listener instanceof net.Server ? listener.close(() => done()) : listener.close(() => done())));
}
