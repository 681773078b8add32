import { randomBytes } from 'node:crypto';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { ProbeObservation, ProbeOrder, ProbeResult } from '@preflight/protocol';
import { observeError } from './errno.js';
import { closeWithReset } from './probe-tcp.js';
import { exchangeUdp } from './udp-exchange.js';

/** Requests a UDP query sends, spread over its timeout, so that one lost datagram is not a verdict. */
const UDP_QUERY_ATTEMPTS = 3;

/**
 * Checks a target that runs no agent (a DNS or time server, a SQL server, a vCenter) the way its
 * own clients would: a TCP connection, or a real DNS or NTP query and answer. Never rejects.
 */
export async function probeTarget(order: ProbeOrder, signal: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  const attempts = { count: 0 };
  let observation: ProbeObservation;
  try {
    observation =
      order.method === 'ntp'
        ? await queryUdp(order, signal, attempts, ntpRequest())
        : order.method === 'dns' && order.protocol === 'udp'
          ? await queryUdp(order, signal, attempts, dnsRequest())
          : await queryTcp(order, signal, attempts, order.method === 'dns' ? dnsRequest() : undefined);
  } catch (error) {
    observation = observeError(error);
  }
  return { key: order.key, protocol: order.protocol, observation, attempts: attempts.count, elapsedMs: Math.round(performance.now() - started) };
}

async function queryUdp(order: ProbeOrder, signal: AbortSignal, attempts: { count: number }, exchange: Exchange): Promise<ProbeObservation> {
  const { observation, sent } = await exchangeUdp(order, signal, {
    request: exchange.request,
    attempts: UDP_QUERY_ATTEMPTS,
    read: (answer) => {
      const what = exchange.read(answer);
      return what ? { kind: 'answered', what } : null;
    },
  });
  attempts.count = sent;
  return observation;
}

/** A request and how to read its answer: a description of a valid answer, or null for noise. */
type Exchange = { request: Buffer; read: (answer: Buffer) => string | null };

function dnsRequest(): Exchange {
  const id = randomBytes(2).readUInt16BE();
  const query = { type: 'query' as const, id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'NS' as const, name: '.' }] };
  return {
    request: dnsPacket.encode(query),
    read: (answer) => {
      try {
        const packet = dnsPacket.decode(answer);
        const { rcode } = packet as { rcode?: string }; // decoded, though @types/dns-packet omits it
        return packet.type === 'response' && packet.id === id ? `DNS answered (${rcode ?? 'NOERROR'})` : null;
      } catch {
        return null;
      }
    },
  };
}

function ntpRequest(): Exchange {
  const request = Buffer.alloc(48);
  request[0] = 0x23; // leap 0, version 4, mode 3 (client)
  const transmit = randomBytes(8); // echoed back as the origin timestamp: our nonce
  transmit.copy(request, 40);
  return {
    request,
    read: (answer) => {
      if (answer.length < 48 || (answer[0]! & 0x07) !== 4 || !answer.subarray(24, 32).equals(transmit)) return null;
      return `NTP answered (stratum ${answer[1]})`;
    },
  };
}

/** A TCP connection, and with a request, a length-prefixed DNS exchange over it. */
function queryTcp(order: ProbeOrder, signal: AbortSignal, attempts: { count: number }, exchange?: Exchange): Promise<ProbeObservation> {
  attempts.count += 1;
  const socket = net.connect({ host: order.host, port: order.port, ...(order.source ? { localAddress: order.source } : {}) });
  return new Promise<ProbeObservation>((resolve) => {
    let received = Buffer.alloc(0);
    const finish = (observation: ProbeObservation) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      closeWithReset(socket);
      resolve(observation);
    };
    const onAbort = () => finish({ kind: 'error', code: 'ABORTED', message: 'the run ended first' });
    signal.addEventListener('abort', onAbort);
    const timer = setTimeout(
      () => finish(socket.connecting ? { kind: 'no-answer' } : { kind: 'mismatch', received: '' }),
      order.timeoutMs,
    );
    socket.on('error', (error) => finish(observeError(error)));
    socket.on('connect', () => {
      if (!exchange) return finish({ kind: 'answered', what: 'connection accepted' });
      const length = Buffer.alloc(2);
      length.writeUInt16BE(exchange.request.length);
      socket.write(Buffer.concat([length, exchange.request]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      const what = exchange?.read(received.subarray(2, 2 + received.readUInt16BE(0)));
      finish(what ? { kind: 'answered', what } : { kind: 'mismatch', received: 'not a DNS answer' });
    });
    socket.on('end', () => finish({ kind: 'mismatch', received: 'closed without an answer' }));
  });
}
