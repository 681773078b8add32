/**
 * Slows down, then refuses, a source that keeps failing to prove the token: a guess costs more
 * each time, and a source that keeps guessing is shut out for a while. The token is long and
 * random, so this is about noise and log spam as much as about guessing.
 */
export type AuthPolicy = {
  /** Failures a source may have before it is slowed down. */
  freeFailures: number;
  /** Failures after which it is refused outright. */
  maxFailures: number;
  /** The delay before the first slowed attempt; it doubles with each further failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** How long failures are remembered, and how long a refused source stays refused. */
  windowMs: number;
};

export const DEFAULT_AUTH_POLICY: AuthPolicy = { freeFailures: 3, maxFailures: 10, baseDelayMs: 1000, maxDelayMs: 30_000, windowMs: 15 * 60_000 };

/** Sources remembered at most, so a flood of addresses cannot grow the table without bound. */
const MAX_SOURCES = 10_000;

export type Admission = { action: 'accept'; delayMs: number } | { action: 'refuse'; retryAfterMs: number };

type Record = { failures: number; last: number };

export class AuthLimiter {
  private readonly sources = new Map<string, Record>();

  constructor(
    private readonly policy: AuthPolicy = DEFAULT_AUTH_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  /** What to do with a new connection from `source`: go ahead after `delayMs`, or refuse it. */
  admit(source: string): Admission {
    const record = this.current(source);
    if (!record) return { action: 'accept', delayMs: 0 };
    if (record.failures >= this.policy.maxFailures) return { action: 'refuse', retryAfterMs: record.last + this.policy.windowMs - this.now() };
    const over = record.failures - this.policy.freeFailures;
    const delayMs = over < 0 ? 0 : Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** over);
    return { action: 'accept', delayMs };
  }

  failed(source: string): void {
    const record = this.current(source) ?? { failures: 0, last: 0 };
    record.failures += 1;
    record.last = this.now();
    this.sources.delete(source); // re-inserted last: the map stays ordered oldest first
    this.sources.set(source, record);
    if (this.sources.size > MAX_SOURCES) this.sources.delete(this.sources.keys().next().value!);
  }

  succeeded(source: string): void {
    this.sources.delete(source);
  }

  private current(source: string): Record | undefined {
    const record = this.sources.get(source);
    if (record && this.now() - record.last > this.policy.windowMs) {
      this.sources.delete(source);
      return undefined;
    }
    return record;
  }
}
