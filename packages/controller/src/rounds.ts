import type { ListenSpec } from '@preflight/protocol';
import type { PlannedCheck } from './plan.js';

/** One round of a run: the listeners each node opens for it. */
export type Round = Map<string, ListenSpec[]>;

/**
 * Splits each node's listeners into rounds that fit what the node can hold at once: round i is
 * every node's i-th share. Most runs fit in one round; the whole dynamic range in TCP and UDP on
 * a machine with 20000 files does not. Pure.
 */
export function splitIntoRounds(listeners: ReadonlyMap<string, readonly ListenSpec[]>, capacity: ReadonlyMap<string, number>): Round[] {
  const rounds: Round[] = [];
  for (const [node, specs] of listeners) {
    const size = Math.max(1, capacity.get(node) ?? specs.length);
    for (let start = 0, index = 0; start < specs.length; start += size, index++) {
      (rounds[index] ??= new Map()).set(node, specs.slice(start, start + size));
    }
  }
  return rounds.length > 0 ? rounds : [new Map()];
}

/** The round each listener is open in, by `node|protocol/port`. */
export function roundOfListener(rounds: readonly Round[]): Map<string, number> {
  const index = new Map<string, number>();
  rounds.forEach((round, number) => {
    for (const [node, specs] of round) for (const spec of specs) index.set(`${node}|${spec.protocol}/${spec.port}`, number);
  });
  return index;
}

/**
 * The checks each round probes: a check goes with its receiver's listener; ICMP and targets that
 * run no agent need none and go in the first round, as does a check whose listener no round
 * holds (it is not probed, and classified as it would be in a single round). Pure.
 */
export function checksByRound(checks: readonly PlannedCheck[], rounds: readonly Round[]): PlannedCheck[][] {
  const listenerRound = roundOfListener(rounds);
  const byRound = rounds.map((): PlannedCheck[] => []);
  for (const check of checks) {
    const listened = check.target === 'agent' && check.protocol !== 'icmp';
    const number = listened ? (listenerRound.get(`${check.to}|${check.protocol}/${check.port}`) ?? 0) : 0;
    byRound[number]!.push(check);
  }
  return byRound;
}
