const { mkdtempSync, readdirSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const path = require('node:path');

// Where each firewall-lab test file writes its tally (test/lab/tally.ts names the same variable).
// Jest runs every test file in its own module registry, often in another process, so the counts
// meet in files: this reporter makes the directory before any test starts, and removes it.
const TALLY_DIR_VARIABLE = 'PREFLIGHT_LAB_TALLY_DIR';
const TALLY_DIR_PREFIX = 'preflight-lab-tally-';

/** Removes the tally directories of earlier runs that were killed before they could (named by PID). */
function removeStaleTallies() {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(name.startsWith(TALLY_DIR_PREFIX) && name.slice(TALLY_DIR_PREFIX.length).split('-')[0]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if (error.code === 'ESRCH') rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** The closing note's line for the lab, or null when no lab file ran. */
function labLine(dir) {
  const tallies = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')));
  if (tallies.length === 0) return null;
  let verdicts = 0;
  let runs = 0;
  const lossRuns = {};
  for (const tally of tallies) {
    verdicts += tally.verdicts;
    runs += tally.runs;
    for (const [percent, count] of Object.entries(tally.lossRuns)) lossRuns[percent] = (lossRuns[percent] ?? 0) + count;
  }
  const loss = Object.entries(lossRuns)
    .sort(([a], [b]) => Number(b) - Number(a))
    .map(([percent, count]) => `${count} run${count === 1 ? '' : 's'} under ${percent}% loss`);
  return `firewall lab: ${verdicts} (protocol, port, direction) verdicts compared with their rules, over ${runs} run${runs === 1 ? '' : 's'}; ${loss.join(', ') || 'no run under loss'}`;
}

// Ends the run with the plain line CI reads: "N passed, N failed, N skipped", on stderr after
// jest's own summary (which jest writes there too); the firewall lab's totals just before it.
class SummaryReporter {
  onRunStart() {
    removeStaleTallies();
    this.tallyDir = mkdtempSync(path.join(tmpdir(), `${TALLY_DIR_PREFIX}${process.pid}-`));
    // Set before jest starts its workers and test environments, which copy the environment.
    process.env[TALLY_DIR_VARIABLE] = this.tallyDir;
  }

  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    let lab = null;
    if (this.tallyDir) {
      try {
        lab = labLine(this.tallyDir);
      } catch (error) {
        lab = `firewall lab: the tallies could not be read (${error.message})`;
      } finally {
        rmSync(this.tallyDir, { recursive: true, force: true });
        delete process.env[TALLY_DIR_VARIABLE];
        this.tallyDir = undefined;
      }
    }
    process.stderr.write(`\n${lab ? `${lab}\n` : ''}jest: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped\n`);
  }
}
module.exports = SummaryReporter;
