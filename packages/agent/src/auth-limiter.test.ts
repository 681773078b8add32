import { AuthLimiter, DEFAULT_AUTH_POLICY } from './auth-limiter.js';

describe('AuthLimiter', () => {
  let clock = 0;
  const limiter = () => new AuthLimiter(DEFAULT_AUTH_POLICY, () => clock);

  it('lets a source fail three times freely, then doubles its wait, then refuses it for the window', () => {
    clock = 0;
    const auth = limiter();
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      const admission = auth.admit('10.0.0.9');
      delays.push(admission.action === 'accept' ? admission.delayMs : -1);
      auth.failed('10.0.0.9');
    }
    expect(delays).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(auth.admit('10.0.0.9')).toEqual({ action: 'refuse', retryAfterMs: DEFAULT_AUTH_POLICY.windowMs });
    expect(auth.admit('10.0.0.10')).toEqual({ action: 'accept', delayMs: 0 }); // others are not punished
    clock += DEFAULT_AUTH_POLICY.windowMs + 1;
    expect(auth.admit('10.0.0.9')).toEqual({ action: 'accept', delayMs: 0 });
  });

  it('forgets a source\'s failures once it proves the token', () => {
    clock = 0;
    const auth = limiter();
    for (let i = 0; i < 5; i++) auth.failed('10.0.0.9');
    auth.succeeded('10.0.0.9');
    expect(auth.admit('10.0.0.9')).toEqual({ action: 'accept', delayMs: 0 });
  });
});
