import {
  udpProbeDatagram,
  verifyUdpAnswer,
  type ProbeOrder,
  type ProbeResult,
} from '@preflight/protocol';
import { exchangeUdp } from './udp-exchange.js';

/**
 * A UDP probe sends a datagram this often over its timeout, so that loss does not read as
 * blocked: the receiver reports any one of them. Five datagrams at 20% loss were all lost once in
 * 3125 probes, which a 1024-port run in both directions met every other run; twelve (a 3 s
 * timeout) are all lost once in 250 million.
 */
const UDP_SPACING_MS = 250;

/**
 * Sends the nonce to a peer's UDP listener until the listener answers, ICMP says no, or time runs
 * out. The answer only lets the sender stop early: whether UDP passes is decided by the receiving
 * agent's report to the controller, so a reply path that is closed does not hide an open port.
 * Never rejects: every failure is an observation.
 */
export async function probeUdp(order: ProbeOrder, runKey: string, signal: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  const { observation, sent } = await exchangeUdp(order, signal, {
    request: udpProbeDatagram(runKey, order.port, order.nonce),
    attempts: Math.max(1, Math.floor(order.timeoutMs / UDP_SPACING_MS)),
    read: (answer) => (verifyUdpAnswer(runKey, order.port, order.nonce, answer) ? { kind: 'verified' } : null),
  });
  return { key: order.key, protocol: 'udp', observation, attempts: sent, elapsedMs: Math.round(performance.now() - started) };
}
