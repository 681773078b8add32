import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { formatFingerprint } from './known-peers.js';

/**
 * Control-channel authentication: both sides prove the token with an HMAC over this connection's
 * context. The token never crosses the wire, and a proof made on one connection is useless on any
 * other: what is signed names who proves, which way the connection was made, both sides'
 * challenges and (under TLS) the certificate the TLS server of this connection presented.
 */
export const makeChallenge = (): string => randomBytes(32).toString('hex');

/**
 * Who proves: the controller answers the agent's challenge, and the agent the controller's. The
 * side is part of what is signed, so a proof cannot be reflected back to its sender.
 */
export type Prover = 'controller' | 'agent';

/**
 * Which way the connection was made. `forward`: the controller dialled the agent's control port
 * (the agent is the TLS server). `reverse`: the agent dialled the controller (`--connect`,
 * `--serve`; the controller is the TLS server). Signed, so a controller's proof in one mode
 * cannot be relayed to an agent that listens in the other.
 */
export type AuthMode = 'forward' | 'reverse';

/** What a proof is bound to: the same on both ends of one connection, different on any other. */
export type AuthContext = {
  mode: AuthMode;
  /** The agent's challenge, from its hello. */
  agentChallenge: string;
  /** The controller's challenge, from its auth request. */
  controllerChallenge: string;
  /**
   * The SHA-256 fingerprint of the certificate the TLS server of this connection presented, in
   * any usual spelling (`SHA256:AB:CD...`, `AB:CD...`); null over plain ws (--insecure). A
   * machine in the middle presents its own certificate, so a proof it relays does not match.
   */
  serverFingerprint: string | null;
};

const LABEL = 'preflight-auth/2';

/** The text both sides sign: every field of the context, in a fixed order. Exported for tests. */
export function authLabel(prover: Prover, context: AuthContext): string {
  const fingerprint = context.serverFingerprint === null ? 'no-tls' : formatFingerprint(context.serverFingerprint);
  return [LABEL, prover, context.mode, context.agentChallenge, context.controllerChallenge, fingerprint].join('|');
}

/** The proof `prover` sends: HMAC-SHA256 under the token over the connection's context. */
export const proveToken = (token: string, prover: Prover, context: AuthContext): string =>
  createHmac('sha256', token).update(authLabel(prover, context)).digest('hex');

/** Whether `proof` is `prover`'s proof of the token over this context; compared in constant time. */
export function checkProof(token: string, prover: Prover, context: AuthContext, proof: string): boolean {
  const expected = Buffer.from(proveToken(token, prover, context), 'hex');
  const given = Buffer.from(proof, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
