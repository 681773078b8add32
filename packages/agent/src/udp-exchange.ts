import dgram from 'node:dgram';
import net from 'node:net';
import type { ProbeObservation, ProbeOrder } from '@preflight/protocol';
import { observeError } from './errno.js';

/** A UDP request, and how to read an answer: an observation, or null for a datagram to ignore. */
export type UdpExchange = {
  request: Buffer;
  /** Sends of the request, spread evenly over the order's timeout, so loss does not read as silence. */
  attempts: number;
  read: (answer: Buffer) => ProbeObservation | null;
};

/**
 * Sends a request from a connected UDP socket (so ICMP errors surface as ECONNREFUSED and the
 * like) until an answer is read, ICMP says no, or the timeout passes. The socket's own events
 * drive it, so every datagram that arrives is seen, whenever it arrives. Never rejects.
 */
export function exchangeUdp(
  order: ProbeOrder,
  signal: AbortSignal,
  exchange: UdpExchange,
): Promise<{ observation: ProbeObservation; sent: number }> {
  const socket = dgram.createSocket(net.isIPv6(order.host) ? 'udp6' : 'udp4');
  const timers: NodeJS.Timeout[] = [];
  let sent = 0;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (observation: ProbeObservation) => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      signal.removeEventListener('abort', onAbort);
      socket.close();
      resolve({ observation, sent });
    };
    const onAbort = () => finish({ kind: 'error', code: 'ABORTED', message: 'the run ended first' });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort);
    socket.on('error', (error) => finish(observeError(error)));
    socket.on('message', (answer) => {
      const observation = exchange.read(answer);
      if (observation) finish(observation);
    });
    const connect = (then: () => void) => socket.connect(order.port, order.host, then);
    const start = (then: () => void) => (order.source ? socket.bind({ address: order.source, port: 0 }, () => connect(then)) : connect(then));
    start(() => {
      const send = () => {
        if (settled) return;
        sent += 1;
        socket.send(exchange.request, (error) => error && finish(observeError(error)));
      };
      const spacing = order.timeoutMs / exchange.attempts;
      for (let i = 0; i < exchange.attempts; i++) timers.push(setTimeout(send, spacing * i));
      timers.push(setTimeout(() => finish({ kind: 'no-answer' }), order.timeoutMs));
    });
  });
}
