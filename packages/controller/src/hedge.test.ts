import { hedge } from './hedge.js';

/** An attempt that settles after `ms`: with its label, or failing with it. */
const after = (ms: number, label: string, fails = false) => () =>
  new Promise<string>((resolve, reject) => setTimeout(() => (fails ? reject(new Error(label)) : resolve(label)), ms));

/** Runs a hedge over scripted attempts, recording which started when, and which were dropped. */
async function race(attempts: (() => Promise<string>)[], { spacingMs = 50, finalOn = '' } = {}) {
  const began = performance.now();
  const starts: number[] = [];
  const dropped: string[] = [];
  const outcome = await hedge({
    start: () => {
      starts.push(Math.round(performance.now() - began));
      return attempts[starts.length - 1]!();
    },
    spacingMs,
    most: attempts.length,
    isFinal: (error) => (error as Error).message === finalOn,
    drop: (value) => dropped.push(value),
  }).then((value) => ({ value }), (error: Error) => ({ error: error.message }));
  await new Promise((resolve) => setTimeout(resolve, 400)); // every attempt has settled by now
  return { outcome, started: starts.length, starts, dropped };
}

describe('hedge: the first attempt to succeed wins, another starting while none has', () => {
  it('starts nothing more when the first attempt succeeds in time', async () => {
    const { outcome, started } = await race([after(10, 'first'), after(10, 'second')]);
    expect(outcome).toEqual({ value: 'first' });
    expect(started).toBe(1);
  });

  it('starts a second attempt beside a slow first, takes whichever answers first and drops the other', async () => {
    const { outcome, starts, dropped } = await race([after(300, 'slow'), after(20, 'quick')]);
    expect(outcome).toEqual({ value: 'quick' });
    expect(starts[1]).toBeGreaterThanOrEqual(45);
    expect(dropped).toEqual(['slow']);
  });

  it('starts the next at once when an attempt fails with none other under way', async () => {
    const { outcome, starts } = await race([after(5, 'lost', true), after(5, 'through')], { spacingMs: 1000 });
    expect(outcome).toEqual({ value: 'through' });
    expect(starts[1]).toBeLessThan(100);
  });

  it('rejects with the last failure once every attempt has failed', async () => {
    const { outcome, started } = await race([after(5, 'one', true), after(5, 'two', true), after(5, 'three', true)]);
    expect(outcome).toEqual({ error: 'three' });
    expect(started).toBe(3);
  });

  it('ends at once on a final failure, and drops an attempt that succeeds after it', async () => {
    const { outcome, dropped } = await race([after(200, 'late'), after(5, 'refused', true)], { finalOn: 'refused' });
    expect(outcome).toEqual({ error: 'refused' });
    expect(dropped).toEqual(['late']);
  });
});
