import type { ListenSpec } from '@preflight/protocol';
import { roundOfListener, splitIntoRounds } from './rounds.js';

const tcp = (...ports: number[]): ListenSpec[] => ports.map((port) => ({ protocol: 'tcp', port }));

describe('splitIntoRounds', () => {
  it.each([
    ['everything fits: one round', { a: tcp(1, 2, 3), b: tcp(1) }, { a: 10, b: 10 }, [{ a: [1, 2, 3], b: [1] }]],
    ['a node that holds 2 at once takes three rounds; the other is done in the first', { a: tcp(1, 2, 3, 4, 5), b: tcp(7) }, { a: 2, b: 10 }, [{ a: [1, 2], b: [7] }, { a: [3, 4] }, { a: [5] }]],
    ['a node that said nothing takes all at once', { a: tcp(1, 2, 3) }, {}, [{ a: [1, 2, 3] }]],
    ['no listeners at all: one empty round (ICMP, targets)', {}, {}, [{}]],
  ])('%s', (_label, listeners, capacity, expected) => {
    const rounds = splitIntoRounds(new Map(Object.entries(listeners)), new Map(Object.entries(capacity)));
    expect(rounds.map((round) => Object.fromEntries([...round].map(([node, specs]) => [node, specs.map((spec) => spec.port)])))).toEqual(expected);
  });

  it('knows the round of each listener', () => {
    const rounds = splitIntoRounds(new Map([['a', tcp(1, 2, 3)]]), new Map([['a', 2]]));
    expect(roundOfListener(rounds)).toEqual(new Map([['a|tcp/1', 0], ['a|tcp/2', 0], ['a|tcp/3', 1]]));
  });
});
