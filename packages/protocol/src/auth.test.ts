import { authLabel, checkProof, makeChallenge, proveToken, type AuthContext } from './auth.js';

const TOKEN = 'auth-unit-token';
const FINGERPRINT = `SHA256:${'AB:'.repeat(31)}AB`;
const context: AuthContext = { mode: 'forward', agentChallenge: makeChallenge(), controllerChallenge: makeChallenge(), serverFingerprint: FINGERPRINT };

describe('token proofs are bound to their connection', () => {
  it('accepts the proof made over the same context, in either spelling of the fingerprint', () => {
    const proof = proveToken(TOKEN, 'controller', context);
    expect(checkProof(TOKEN, 'controller', context, proof)).toBe(true);
    const bare = { ...context, serverFingerprint: FINGERPRINT.replace('SHA256:', '').replace(/:/g, '').toLowerCase() };
    expect(checkProof(TOKEN, 'controller', bare, proof)).toBe(true);
  });

  it.each<[string, Partial<AuthContext>]>([
    ['the other mode (a forward agent\'s challenge relayed to a --serve controller)', { mode: 'reverse' }],
    ['another agent challenge', { agentChallenge: makeChallenge() }],
    ['another controller challenge', { controllerChallenge: makeChallenge() }],
    ['another TLS server certificate (a machine in the middle)', { serverFingerprint: `SHA256:${'CD:'.repeat(31)}CD` }],
    ['no TLS where there was TLS', { serverFingerprint: null }],
  ])('refuses a proof made over %s', (_what, change) => {
    const proof = proveToken(TOKEN, 'controller', context);
    expect(checkProof(TOKEN, 'controller', { ...context, ...change }, proof)).toBe(false);
  });

  it('refuses a proof reflected to the other side, a wrong token, and a proof of another length', () => {
    const proof = proveToken(TOKEN, 'controller', context);
    expect(checkProof(TOKEN, 'agent', context, proof)).toBe(false);
    expect(checkProof('another-token', 'controller', context, proof)).toBe(false);
    expect(checkProof(TOKEN, 'controller', context, proof.slice(0, 62))).toBe(false);
    expect(checkProof(TOKEN, 'controller', context, '')).toBe(false);
  });

  it('signs every field of the context, never the token', () => {
    const label = authLabel('agent', { ...context, serverFingerprint: null });
    expect(label).toBe(`preflight-auth/2|agent|forward|${context.agentChallenge}|${context.controllerChallenge}|no-tls`);
    expect(authLabel('controller', context)).toContain(FINGERPRINT);
    expect(proveToken(TOKEN, 'controller', context)).not.toContain(TOKEN);
  });
});
