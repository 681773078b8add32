import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Control-channel authentication: the agent sends a fresh challenge, the controller answers
 * with an HMAC of it under the token. The token never crosses the wire, and a recorded proof
 * is useless against the next connection's challenge.
 */
export const makeChallenge = (): string => randomBytes(32).toString('hex');

/**
 * Who proves: the controller answers the agent's challenge, and the agent the controller's. The
 * side is part of what is signed, so a proof cannot be reflected back to its sender.
 */
export type Prover = 'controller' | 'agent';

export const proveToken = (token: string, challenge: string, prover: Prover = 'controller'): string =>
  createHmac('sha256', token).update(`${prover === 'controller' ? 'preflight-auth' : 'preflight-agent-auth'}|${challenge}`).digest('hex');

export function checkProof(token: string, challenge: string, proof: string, prover: Prover = 'controller'): boolean {
  const expected = Buffer.from(proveToken(token, challenge, prover), 'hex');
  const given = Buffer.from(proof, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
