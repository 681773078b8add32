import { readFileSync, readdirSync } from 'node:fs';
import { MAX_LISTENERS_PER_REQUEST, type ProbeOrder } from '@preflight/protocol';
import { TCP_ATTEMPT_SPACING_MS } from './probe-tcp.js';

/** Files kept free for the control connection, logs, ping's pipes and the OS's own needs. */
const RESERVED_FILES = 256;

/** Where the OS sets no per-process file limit we can read (Windows), probes under way at most. */
const UNBOUNDED_CONCURRENCY = 4096;

/** The process's soft limit on open files (Linux: /proc/self/limits), or null where unknown. */
export function fileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((each) => each.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft && /^\d+$/.test(soft) ? Number(soft) : null;
  } catch {
    return null;
  }
}

/** Files this process has open now (Linux), or 0 where it cannot tell. */
export function openFiles(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/** File descriptors free for sockets, after the reserve; null where the OS sets no limit we can read. */
export function fileHeadroom(limit = fileLimit(), open = openFiles()): number | null {
  return limit === null ? null : Math.max(0, limit - open - RESERVED_FILES);
}

/**
 * File descriptors kept back from listeners for the run's probes and the connections they bring:
 * half the headroom, at most 2048. 2048 holds 290 TCP probes under way at the default 3 s timeout
 * (7 sockets each), and `probeConcurrency` lowers the concurrency to what is left anyway; the cap
 * lets the whole dynamic RPC range (16384 ports) fit in one round under a limit of 20000.
 */
const PROBE_RESERVE_MAX = 2048;

/**
 * Listeners at once where the OS sets no per-process file limit we can read (Windows): memory is
 * the bound there, about 11 kB a listener, so the dynamic RPC range in TCP and UDP (32768, the
 * most a built-in profile needs, some 370 MB) and no more; a run that needs more takes rounds.
 */
const UNBOUNDED_LISTENERS = 32_768;

/**
 * How many temporary listeners this agent can hold at once: the file headroom (limit less open
 * files less RESERVED_FILES) less the probe reserve, at most `max` (--max-listeners) and what one
 * listen request may carry; never below 1, so a starved agent still goes round by round.
 */
export function listenCapacity(max = Infinity, headroom = fileHeadroom()): number {
  const fits = headroom === null ? UNBOUNDED_LISTENERS : headroom - Math.min(PROBE_RESERVE_MAX, Math.floor(headroom / 2));
  return Math.max(1, Math.min(max, fits, MAX_LISTENERS_PER_REQUEST));
}

/** The most sockets one probe can hold at once: TCP keeps a fresh attempt every half second. */
export function socketsPerProbe(order: ProbeOrder): number {
  if (order.protocol === 'tcp' && order.method === 'handshake') return Math.ceil(order.timeoutMs / TCP_ATTEMPT_SPACING_MS) + 1;
  if (order.method === 'echo') return 3; // ping's stdout and stderr pipes, and its process
  return 1;
}

/**
 * How many probes may be under way at once: what the controller allows, lowered to what the
 * free file descriptors can hold, so that a large run never fails with EMFILE halfway.
 */
export function probeConcurrency(requested: number, orders: readonly ProbeOrder[], limit = fileLimit(), open = openFiles()): number {
  if (orders.length === 0) return 1;
  const perProbe = Math.max(...orders.map(socketsPerProbe));
  const fits = limit === null ? UNBOUNDED_CONCURRENCY : Math.floor((limit - open - RESERVED_FILES) / perProbe);
  return Math.max(1, Math.min(requested, fits, orders.length));
}
