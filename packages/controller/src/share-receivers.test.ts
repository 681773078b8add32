import type { ProbeOrder } from '@preflight/protocol';
import type { PlannedCheck } from './plan.js';
import { shareReceivers } from './run.js';

const order = (key: string): ProbeOrder => ({ key, protocol: 'tcp', method: 'handshake', host: 'h', port: 1, nonce: '0'.repeat(32), timeoutMs: 1000 });
const check = (key: string, to: string) => ({ key, to }) as PlannedCheck;

describe('shareReceivers', () => {
  it('splits a receiver\'s free file descriptors between the senders that probe it and its own probing', () => {
    const orders = new Map([
      ['a', [order('a->c/1'), order('a->b/1')]],
      ['b', [order('b->c/1')]],
    ]);
    const checks = [check('a->c/1', 'c'), check('a->b/1', 'b'), check('b->c/1', 'c')];
    // c: 3000 free, probed by a and b: 3000 / (2 sockets x 3 shares) = 500. b: 400 free, probed by a: 400 / 4 = 100.
    expect(shareReceivers(orders, checks, new Map([['c', 3000], ['b', 400]]))).toEqual(new Map([['a', 100], ['b', 500]]));
  });

  it('leaves a sender alone when no receiver said what it has free (Windows)', () => {
    expect(shareReceivers(new Map([['a', [order('a->b/1')]]]), [check('a->b/1', 'b')], new Map())).toEqual(new Map());
  });
});
