import type { ProbeResult } from '@preflight/protocol';

/** How often the progress line is redrawn: often enough to move, rarely enough to cost nothing. */
const REDRAW_MS = 100;

/** Counts so far, as the progress line shows them. */
export type ProgressCounts = { done: number; open: number; notOpen: number; total: number };

/**
 * The line a terminal shows while a run goes on: checks done, open, not open (yet), remaining.
 * Pure, so it is tested without a terminal. "Not open" is not a verdict: a UDP datagram's
 * receipt, or a port in use, is only settled when the run ends and the table replaces this line.
 */
export function progressText({ done, open, notOpen, total }: ProgressCounts): string {
  return `checks: ${done}/${total} done, ${open} open, ${notOpen} not open so far, ${total - done} remaining`;
}

/**
 * Draws the progress line on a terminal (standard error, so standard output stays the table or
 * the JSON), and erases it when the run ends. Off a terminal it writes nothing: scripts and logs
 * get only the result.
 */
export class Progress {
  private readonly counts: ProgressCounts = { done: 0, open: 0, notOpen: 0, total: 0 };
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  start(total: number): void {
    this.counts.total = total;
    if (!this.enabled) return;
    this.timer = setInterval(() => this.draw(), REDRAW_MS);
  }

  /** A probe reported: open when our listener or the target answered. */
  probed(result: ProbeResult): void {
    this.counts.done += 1;
    if (result.observation.kind === 'verified' || result.observation.kind === 'answered') this.counts.open += 1;
    else this.counts.notOpen += 1;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.drawn) this.stream.write('\r\u001b[2K');
    this.drawn = false;
  }

  private draw(): void {
    this.stream.write(`\r\u001b[2K${progressText(this.counts)}`);
    this.drawn = true;
  }
}
