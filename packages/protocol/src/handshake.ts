import { createHmac, randomBytes, randomFillSync, timingSafeEqual } from 'node:crypto';

/**
 * The probe handshake. A listener proves it is this run's agent by answering the prober's nonce
 * with an HMAC under the run key, which only the run's agents hold: a middlebox, a proxy or
 * another program on the port cannot answer, so it is never taken for open.
 *
 * TCP: the prober sends `PREFLIGHT/1 PROBE <nonce>\n`, the listener answers
 * `PREFLIGHT/1 ANSWER <mac>\n`. UDP: the datagram carries the nonce and a MAC of its own, so a
 * listener reports only probes of its run; the answer datagram lets the sender stop early.
 */
const MAGIC = 'PREFLIGHT/1';

/** Longest handshake line either side reads before giving up on the peer. */
export const MAX_HANDSHAKE_BYTES = 256;

const NONCE_BYTES = 16;
/**
 * Nonces are cut from a pool refilled 256 at a time, as `randomUUID` does: a call to the random
 * source for each one cost a run of 32768 probes about 150 ms of the controller's time. A nonce
 * is not secret (the probe sends it in the clear); it must only be unpredictable and not repeat.
 */
const noncePool = Buffer.alloc(NONCE_BYTES * 256);
let noncePoolOffset = noncePool.length;

export function makeNonce(): string {
  if (noncePoolOffset === noncePool.length) {
    randomFillSync(noncePool);
    noncePoolOffset = 0;
  }
  noncePoolOffset += NONCE_BYTES;
  return noncePool.toString('hex', noncePoolOffset - NONCE_BYTES, noncePoolOffset);
}

export const makeRunKey = (): string => randomBytes(32).toString('hex');

function mac(runKey: string, ...parts: (string | number)[]): string {
  return createHmac('sha256', Buffer.from(runKey, 'hex')).update(parts.join('|')).digest('hex');
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

const HEX_NONCE = /^[0-9a-f]{32}$/;
const HEX_MAC = /^[0-9a-f]{64}$/;

export const tcpProbeLine = (nonce: string): string => `${MAGIC} PROBE ${nonce}\n`;

/** The nonce in a prober's line, or null when the line is not a probe. */
export function parseTcpProbeLine(line: string): string | null {
  const [magic, verb, nonce, extra] = line.trim().split(' ');
  if (magic !== MAGIC || verb !== 'PROBE' || extra !== undefined) return null;
  return nonce !== undefined && HEX_NONCE.test(nonce) ? nonce : null;
}

export const tcpAnswerLine = (runKey: string, port: number, nonce: string): string =>
  `${MAGIC} ANSWER ${mac(runKey, 'tcp', port, nonce)}\n`;

export const verifyTcpAnswer = (runKey: string, port: number, nonce: string, line: string): boolean =>
  isAnswer(line.trim(), mac(runKey, 'tcp', port, nonce));

export const udpProbeDatagram = (runKey: string, port: number, nonce: string): Buffer =>
  Buffer.from(`${MAGIC} PROBE ${nonce} ${mac(runKey, 'udp', port, nonce)}`);

/** The nonce of a genuine probe datagram of this run, or null for anything else. */
export function parseUdpProbeDatagram(runKey: string, port: number, datagram: Buffer): string | null {
  if (datagram.length > MAX_HANDSHAKE_BYTES) return null;
  const [magic, verb, nonce, tag, extra] = datagram.toString('latin1').split(' ');
  if (magic !== MAGIC || verb !== 'PROBE' || extra !== undefined) return null;
  if (nonce === undefined || tag === undefined || !HEX_NONCE.test(nonce) || !HEX_MAC.test(tag)) return null;
  return sameHex(tag, mac(runKey, 'udp', port, nonce)) ? nonce : null;
}

export const udpAnswerDatagram = (runKey: string, port: number, nonce: string): Buffer =>
  Buffer.from(`${MAGIC} ANSWER ${mac(runKey, 'udp-answer', port, nonce)}`);

export function verifyUdpAnswer(runKey: string, port: number, nonce: string, datagram: Buffer): boolean {
  if (datagram.length > MAX_HANDSHAKE_BYTES) return false;
  return isAnswer(datagram.toString('latin1'), mac(runKey, 'udp-answer', port, nonce));
}

function isAnswer(text: string, expected: string): boolean {
  const [magic, verb, answer, extra] = text.split(' ');
  if (magic !== MAGIC || verb !== 'ANSWER' || extra !== undefined || answer === undefined) return false;
  return HEX_MAC.test(answer) && sameHex(answer, expected);
}
