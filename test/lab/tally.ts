import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The lab's count for the closing note: how many (protocol, port, direction) verdicts a test file
 * compared with what its rules call for, over how many runs, and how many of those runs were
 * under loss. Jest gives every test file its own module registry, so each file keeps its own
 * tally and writes it to the directory the summary reporter (test/support/summary-reporter.cjs)
 * names in this variable; the reporter adds them up, prints one line and removes the files.
 */
export const TALLY_DIR_VARIABLE = 'PREFLIGHT_LAB_TALLY_DIR';

/** One file's tally; `lossRuns` by percent lost on every link. */
export type Tally = { verdicts: number; runs: number; lossRuns: Record<string, number> };

const tally: Tally = { verdicts: 0, runs: 0, lossRuns: {} };
/** One name per test file, so writing again replaces this file's tally instead of adding to it. */
const file = `${process.pid}-${randomUUID()}.json`;

/** Counts one run whose `verdicts` checks were each compared with the status the rules call for. */
export function countRun(verdicts: number, { lossPercent }: { lossPercent?: number } = {}): void {
  tally.verdicts += verdicts;
  tally.runs += 1;
  if (lossPercent) tally.lossRuns[String(lossPercent)] = (tally.lossRuns[String(lossPercent)] ?? 0) + 1;
}

/** Writes this file's tally where the reporter reads it; without the reporter, nothing to do. */
export function writeTally(): void {
  const dir = process.env[TALLY_DIR_VARIABLE];
  if (dir) writeFileSync(path.join(dir, file), JSON.stringify(tally));
}
