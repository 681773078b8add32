import type { ListenSpec } from '@preflight/protocol';
import type { PlannedCheck } from './plan.js';
import { checksByRound, roundOfListener, splitIntoRounds } from './rounds.js';

const tcp = (...ports: number[]): ListenSpec[] => ports.map((port) => ({ protocol: 'tcp', port }));
const udp = (...ports: number[]): ListenSpec[] => ports.map((port) => ({ protocol: 'udp', port }));
const show = (specs: ListenSpec[]) => specs.map((spec) => `${spec.protocol}/${spec.port}`);

describe('splitIntoRounds', () => {
  it.each([
    ['everything fits: one round', { a: tcp(1, 2, 3), b: tcp(1) }, { a: 10, b: 10 }, [{ a: ['tcp/1', 'tcp/2', 'tcp/3'], b: ['tcp/1'] }]],
    ['exactly the capacity: still one round', { a: tcp(1, 2) }, { a: 2 }, [{ a: ['tcp/1', 'tcp/2'] }]],
    [
      'a node that holds 2 at once takes three rounds; the other is done in the first',
      { a: tcp(1, 2, 3, 4, 5), b: tcp(7) },
      { a: 2, b: 10 },
      [{ a: ['tcp/1', 'tcp/2'], b: ['tcp/7'] }, { a: ['tcp/3', 'tcp/4'] }, { a: ['tcp/5'] }],
    ],
    [
      'round i is every node\'s i-th share, each node at its own size',
      { a: tcp(1, 2, 3, 4), b: tcp(5, 6, 7, 8, 9, 10) },
      { a: 2, b: 3 },
      [{ a: ['tcp/1', 'tcp/2'], b: ['tcp/5', 'tcp/6', 'tcp/7'] }, { a: ['tcp/3', 'tcp/4'], b: ['tcp/8', 'tcp/9', 'tcp/10'] }],
    ],
    [
      'TCP and UDP of one port are listeners of their own, in the order given',
      { a: [...tcp(1, 2), ...udp(1, 2)] },
      { a: 3 },
      [{ a: ['tcp/1', 'tcp/2', 'udp/1'] }, { a: ['udp/2'] }],
    ],
    ['a capacity below 1 still goes one at a time', { a: tcp(1, 2) }, { a: 0 }, [{ a: ['tcp/1'] }, { a: ['tcp/2'] }]],
    ['a node that said nothing (not connected) takes all at once', { a: tcp(1, 2, 3) }, {}, [{ a: ['tcp/1', 'tcp/2', 'tcp/3'] }]],
    ['no listeners at all: one empty round (ICMP, targets)', {}, {}, [{}]],
  ])('%s', (_label, listeners, capacity, expected) => {
    const rounds = splitIntoRounds(new Map(Object.entries(listeners)), new Map(Object.entries(capacity)));
    expect(rounds.map((round) => Object.fromEntries([...round].map(([node, specs]) => [node, show(specs)])))).toEqual(expected);
  });

  it('knows the round of each listener', () => {
    const rounds = splitIntoRounds(new Map([['a', tcp(1, 2, 3)]]), new Map([['a', 2]]));
    expect(roundOfListener(rounds)).toEqual(new Map([['a|tcp/1', 0], ['a|tcp/2', 0], ['a|tcp/3', 1]]));
  });
});

const makeCheck = (overrides: Partial<PlannedCheck> = {}): PlannedCheck => {
  const check: PlannedCheck = {
    key: '',
    requirement: 'r',
    protocol: 'tcp',
    port: 1,
    from: 'b',
    to: 'a',
    fromRole: 'peer',
    toRole: 'peer',
    purpose: '',
    required: true,
    expect: 'open',
    target: 'agent',
    method: 'handshake',
    network: null,
    ...overrides,
  };
  return { ...check, key: check.key || `${check.from}->${check.to}/${check.protocol}${check.port === null ? '' : `/${check.port}`}` };
};

describe('checksByRound', () => {
  // a holds 2 at once: tcp/1, tcp/2 in round 0; udp/1 in round 1. b's one listener is in round 0.
  const rounds = splitIntoRounds(new Map([['a', [...tcp(1, 2), ...udp(1)]], ['b', tcp(1)]]), new Map([['a', 2]]));

  it.each([
    ['to a listener of the first round', makeCheck({ port: 2 }), 0],
    ['to a listener of a later round', makeCheck({ protocol: 'udp' }), 1],
    ['the same port the other way: the receiver\'s listener decides', makeCheck({ protocol: 'udp', from: 'a', to: 'b' }), 0],
    ['ICMP needs no listener: first round', makeCheck({ protocol: 'icmp', port: null, method: 'echo' }), 0],
    ['a target that runs no agent: first round', makeCheck({ protocol: 'udp', to: 'a', target: 'external', method: 'dns' }), 0],
    ['a listener no round holds: first round, where it is found unprobed', makeCheck({ port: 9 }), 0],
  ])('%s', (_label, check, expected) => {
    const byRound = checksByRound([check], rounds);
    expect(byRound).toHaveLength(rounds.length);
    expect(byRound.findIndex((checks) => checks.includes(check))).toBe(expected);
  });

  it('gives every check to exactly one round, in plan order', () => {
    const checks = [makeCheck({ protocol: 'udp' }), makeCheck(), makeCheck({ port: 2 }), makeCheck({ protocol: 'icmp', port: null })];
    const byRound = checksByRound(checks, rounds);
    expect(byRound.map((each) => each.map((check) => check.key))).toEqual([['b->a/tcp/1', 'b->a/tcp/2', 'b->a/icmp'], ['b->a/udp/1']]);
  });
});
