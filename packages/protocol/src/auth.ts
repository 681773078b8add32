import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Control-channel authentication: the agent sends a fresh challenge, the controller answers
 * with an HMAC of it under the token. The token never crosses the wire, and a recorded proof
 * is useless against the next connection's challenge.
 */
export const makeChallenge = (): string => randomBytes(32).toString('hex');

export const proveToken = (token: string, challenge: string): string =>
  createHmac('sha256', token).update(`preflight-auth|${challenge}`).digest('hex');

export function checkProof(token: string, challenge: string, proof: string): boolean {
  const expected = Buffer.from(proveToken(token, challenge), 'hex');
  const given = Buffer.from(proof, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
