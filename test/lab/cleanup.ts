import { execFileSync } from 'node:child_process';
import { run } from './process.js';

/** Something that can tear itself down synchronously, as a process exits. */
export interface SyncDestroyable {
  destroySync(): void;
}

/** Every lab's namespaces are named `pfl<pid>i<n>-<host>`: the PID of the process that made it. */
export const NETNS_PREFIX = 'pfl';
const OURS = /^pfl(\d+)i\d+-[a-z0-9]+$/;

const live = new Set<SyncDestroyable>();
let installed = false;

function destroyAllSync(): void {
  for (const lab of [...live]) {
    try {
      lab.destroySync();
    } catch {
      // keep going: the others must still go
    }
  }
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  destroyAllSync();
  // With no other handler, end the way the signal would have ended us; else leave it to them.
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

/** Registers a lab for teardown on exit, SIGINT and SIGTERM (handlers installed once). */
export function register(lab: SyncDestroyable): void {
  live.add(lab);
  if (installed) return;
  installed = true;
  process.on('exit', destroyAllSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
}

export function unregister(lab: SyncDestroyable): void {
  live.delete(lab);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes the namespaces of labs whose process no longer exists (one killed with SIGKILL, where
 * no handler could run). Only names of the form `pfl<pid>i<n>-*` are touched, never another's.
 */
export async function sweepStaleLabs(): Promise<string[]> {
  const listing = await run(['ip', 'netns', 'list']);
  const stale = listing.stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => {
      const match = OURS.exec(name);
      return match !== null && Number(match[1]) !== process.pid && !alive(Number(match[1]));
    });
  for (const netns of stale) await run(['ip', 'netns', 'del', netns]);
  return stale;
}

/** `ip netns del`, synchronously, ignoring a namespace that is already gone. */
export function deleteNetnsSync(netns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
  } catch {
    // already gone, or never made
  }
}
