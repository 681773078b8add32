import { isIPv6 } from 'node:net';
import DgramAsPromised, { TimeoutError, type SocketAsPromised } from 'dgram-as-promised';
import {
  udpProbeDatagram,
  verifyUdpAnswer,
  type ProbeObservation,
  type ProbeOrder,
  type ProbeResult,
} from '@preflight/protocol';
import { observeError } from './errno.js';

/**
 * Datagrams a UDP probe sends, spread over its timeout, so that loss does not read as blocked:
 * at 20% loss all five are lost once in 3125 probes, and the receiver reports any one of them.
 */
const UDP_ATTEMPTS = 5;

/**
 * Sends the nonce to a peer's UDP listener until the listener answers, ICMP says no, or time runs
 * out. The answer only lets the sender stop early: whether UDP passes is decided by the receiving
 * agent's report to the controller, so a reply path that is closed does not hide an open port.
 * Never rejects: every failure is an observation.
 */
export async function probeUdp(order: ProbeOrder, runKey: string, signal: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  const socket = DgramAsPromised.createSocket(isIPv6(order.host) ? 'udp6' : 'udp4');
  const datagram = udpProbeDatagram(runKey, order.port, order.nonce);
  const spacing = Math.max(1, Math.floor(order.timeoutMs / UDP_ATTEMPTS));
  let attempts = 0;
  const result = (observation: ProbeObservation): ProbeResult => ({
    key: order.key,
    protocol: 'udp',
    observation,
    attempts,
    elapsedMs: Math.round(performance.now() - started),
  });
  const onAbort = () => void socket.close();
  signal.addEventListener('abort', onAbort);
  try {
    await socket.bind();
    // A connected socket is told of ICMP errors (ECONNREFUSED for port unreachable).
    await connect(socket, order.port, order.host);
    socket.setTimeout(spacing);
    while (attempts < UDP_ATTEMPTS && !signal.aborted) {
      attempts += 1;
      await send(socket, datagram);
      const observation = await awaitAnswer(socket, runKey, order);
      if (observation) return result(observation);
    }
    return result(
      signal.aborted ? { kind: 'error', code: 'ABORTED', message: 'the run ended first' } : { kind: 'no-answer' },
    );
  } catch (error) {
    return result(observeError(error));
  } finally {
    signal.removeEventListener('abort', onAbort);
    await socket.close();
  }
}

/** Waits one spacing for the listener's answer: an observation, or null to send again. */
async function awaitAnswer(
  socket: SocketAsPromised,
  runKey: string,
  order: ProbeOrder,
): Promise<ProbeObservation | null> {
  for (;;) {
    try {
      const packet = await socket.recv();
      if (!packet) return null;
      if (verifyUdpAnswer(runKey, order.port, order.nonce, packet.msg)) return { kind: 'verified' };
    } catch (error) {
      if (error instanceof TimeoutError) return null;
      throw error;
    }
  }
}

function connect(socket: SocketAsPromised, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.socket.connect(port, host, (error?: Error) => (error ? reject(error) : resolve()));
  });
}

function send(socket: SocketAsPromised, datagram: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.socket.send(datagram, (error) => (error ? reject(error) : resolve()));
  });
}
