// The firewall lab's last resort, run outside jest. A test process killed outright (SIGKILL, or
// Ctrl-C: jest's sandbox gives each test file a copy of `process` whose exit and signal handlers
// never fire) cleans nothing up, and leaves its namespaces with agents, relays and servers still
// running inside them. A lab's namespaces carry its owner's PID: pf<pid>x<n>-<host>.
//
//   node lab-reaper.mjs sweep              removes the labs of every owner that is gone, and
//                                          prints their namespaces, one a line
//   node lab-reaper.mjs watch PID PREFIX SCRATCH
//                                          waits for PID to end, then removes the namespaces
//                                          PREFIX-* and the lab's scratch directory; exits
//                                          quietly on SIGTERM (the lab was destroyed the
//                                          ordinary way)
//
// Removing a namespace first kills every process inside it (`ip netns pids`): they are processes
// the dead lab started, and `ip netns del` alone would leave them running, listening, unseen.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** How often a watcher looks for its owner: a killed lab is gone within about this long. */
const WATCH_INTERVAL_MS = 250;

/** Alive, and not a zombie waiting for its parent to collect it. */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const namespaces = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter(Boolean);

function removeNamespace(name) {
  let pids = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').map(Number).filter(Boolean);
  } catch {
    // already gone
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ended meanwhile
    }
  }
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

const [mode, pidText, prefix, scratch] = process.argv.slice(2);
/** Only a lab's own scratch directory (Lab's mkdtemp) is ever removed. */
const isScratch = (dir) => path.dirname(dir ?? '') === tmpdir() && path.basename(dir).startsWith('preflight-netlab-');
if (mode === 'sweep') {
  for (const name of namespaces()) {
    const owner = Number(name.match(/^pf(\d+)x\d+-/)?.[1]);
    if (!owner || alive(owner)) continue;
    removeNamespace(name);
    console.log(name);
  }
} else if (mode === 'watch' && Number(pidText) > 0 && /^pf\d+x\d+$/.test(prefix ?? '') && isScratch(scratch)) {
  process.once('SIGTERM', () => process.exit(0));
  const timer = setInterval(() => {
    if (alive(Number(pidText))) return;
    clearInterval(timer);
    for (const name of namespaces()) if (name.startsWith(`${prefix}-`)) removeNamespace(name);
    rmSync(scratch, { recursive: true, force: true });
  }, WATCH_INTERVAL_MS);
} else {
  console.error(`usage: lab-reaper.mjs sweep | lab-reaper.mjs watch PID pf<pid>x<n> ${path.join(tmpdir(), 'preflight-netlab-...')}`);
  process.exit(2);
}
