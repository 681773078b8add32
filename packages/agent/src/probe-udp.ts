import {
  udpProbeDatagram,
  verifyUdpAnswer,
  type ProbeOrder,
  type ProbeResult,
} from '@preflight/protocol';
import { exchangeUdp } from './udp-exchange.js';

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
  const { observation, sent } = await exchangeUdp(order, signal, {
    request: udpProbeDatagram(runKey, order.port, order.nonce),
    attempts: UDP_ATTEMPTS,
    read: (answer) => (verifyUdpAnswer(runKey, order.port, order.nonce, answer) ? { kind: 'verified' } : null),
  });
  return { key: order.key, protocol: 'udp', observation, attempts: sent, elapsedMs: Math.round(performance.now() - started) };
}
