import { Progress, progressText } from './progress.js';

const result = (kind: 'verified' | 'no-answer') => ({ key: 'k', protocol: 'tcp' as const, observation: { kind }, attempts: 1, elapsedMs: 1 });

/** A stand-in for a terminal (or not) that keeps what was written. */
const fakeStream = (isTTY: boolean) => {
  const written: string[] = [];
  return { stream: { isTTY, write: (text: string) => written.push(text) > 0 } as unknown as NodeJS.WriteStream, written };
};

describe('progress', () => {
  it('says what is done, open, not open so far and remaining', () => {
    expect(progressText({ done: 30, open: 28, notOpen: 2, total: 40 })).toBe('checks: 30/40 done, 28 open, 2 not open so far, 10 remaining');
  });

  it('draws on a terminal and erases itself at the end', async () => {
    const { stream, written } = fakeStream(true);
    const progress = new Progress(stream);
    progress.start(3);
    progress.probed(result('verified'));
    progress.probed(result('no-answer'));
    await new Promise((resolve) => setTimeout(resolve, 250));
    progress.stop();
    expect(written.some((text) => text.includes('checks: 2/3 done, 1 open, 1 not open so far, 1 remaining'))).toBe(true);
    expect(written.at(-1)).toBe('\r\u001b[2K');
  });

  it('writes nothing off a terminal', async () => {
    const { stream, written } = fakeStream(false);
    const progress = new Progress(stream);
    progress.start(3);
    progress.probed(result('verified'));
    await new Promise((resolve) => setTimeout(resolve, 150));
    progress.stop();
    expect(written).toEqual([]);
  });
});
