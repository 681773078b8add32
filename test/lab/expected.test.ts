import { loadProfile, planChecks, type AgentNode } from '@preflight/controller';
import { adHocKeys, compareWithRules, expectAdHoc, expectFromPlan, type SeenCheck } from './expected.js';

/** The lab's comparison itself, without a lab: it must fail on every way a report can be wrong. */

const seenOf = (entries: Record<string, string>): Map<string, SeenCheck> =>
  new Map(Object.entries(entries).map(([key, verdict]) => {
    const [status, reason] = verdict.split('/') as [string, string];
    return [key, { status, reason }];
  }));

const node = (name: string, host: string, addresses?: Record<string, string>): AgentNode => ({ name, role: name, host, port: 7890, ...(addresses ? { addresses } : {}) });

describe('adHocKeys', () => {
  it('gives each port of each spec between every ordered pair of distinct nodes', () => {
    expect(adHocKeys(['tcp:1-2,5', 'icmp'], ['a', 'b'])).toEqual([
      'a->b/tcp/1', 'a->b/tcp/2', 'a->b/tcp/5', 'b->a/tcp/1', 'b->a/tcp/2', 'b->a/tcp/5', 'a->b/icmp', 'b->a/icmp',
    ]);
    expect(adHocKeys(['udp:10-12'], ['a', 'b', 'c'])).toHaveLength(18);
  });
});

describe('compareWithRules', () => {
  const expected = expectAdHoc(['tcp:1-2'], ['a', 'b'], { 'a->b/tcp/2': 'blocked/filtered' });
  const right = { 'a->b/tcp/1': 'open/verified', 'a->b/tcp/2': 'blocked/filtered', 'b->a/tcp/1': 'open/verified', 'b->a/tcp/2': 'open/verified' };

  it('passes a report with exactly the expected checks and verdicts, and counts them', () => {
    expect(compareWithRules(seenOf(right), expected)).toBe(4);
  });

  it('fails a report that lacks a check, even one no rule touches', () => {
    const { 'b->a/tcp/2': _dropped, ...missing } = right;
    expect(() => compareWithRules(seenOf(missing), expected)).toThrow(/b->a\/tcp\/2/);
  });

  it('fails a report with a check nobody asked for', () => {
    expect(() => compareWithRules(seenOf({ ...right, 'a->b/tcp/3': 'open/verified' }), expected)).toThrow(/a->b\/tcp\/3/);
  });

  it('fails a wrong verdict, and a right status for the wrong reason', () => {
    expect(() => compareWithRules(seenOf({ ...right, 'a->b/tcp/2': 'open/verified' }), expected)).toThrow(/a->b\/tcp\/2: open\/verified, where the rules call for blocked\/filtered/);
    expect(() => compareWithRules(seenOf({ ...right, 'a->b/tcp/2': 'blocked/rejected' }), expected)).toThrow(/blocked\/rejected/);
  });

  it('refuses a rule for a check the run does not have', () => {
    expect(() => expectAdHoc(['tcp:1'], ['a', 'b'], { 'a->b/tcp/9': 'blocked/filtered' })).toThrow(/no check a->b\/tcp\/9/);
  });
});

describe('expectFromPlan over nec-symmetry', () => {
  const profile = loadProfile('nec-symmetry');

  it('expects what the run was not given as not tested, for that reason, and counts only what the rules decide', () => {
    const expected = expectFromPlan(planChecks(profile, [node('primary', '10.0.0.1'), node('secondary', '10.0.0.2')]).checks, {
      blocked: { 'primary->secondary/tcp/1801': 'blocked/rejected' },
    });
    expect(expected.get('primary->secondary/tcp/1801')).toEqual({ verdict: 'blocked/rejected', fromRules: true });
    expect(expected.get('secondary->primary/tcp/1801')).toEqual({ verdict: 'open/verified', fromRules: true });
    expect(expected.get('primary->dns-server/udp/53')).toEqual({ verdict: 'not-tested/no-target', fromRules: false });
    expect(expected.get('primary->secondary/tcp/29004@interconnect')).toEqual({ verdict: 'not-tested/no-address', fromRules: false });
    const optional = (key: string) => key.split('/')[0]!.split('->').some((role) => ['comm-server', 'client'].includes(role));
    const noNode = [...expected].filter(([key]) => optional(key));
    expect(noNode.length).toBeGreaterThan(0);
    for (const [key, each] of noNode) expect(`${key} ${each.verdict}`).toBe(`${key} not-tested/no-node`);
    expect([...expected.values()].filter((each) => each.fromRules)).toHaveLength(40);
  });

  it('expects a target named with --target to answer, and refuses a rule for a check that is not tested', () => {
    const checks = planChecks(profile, [node('primary', '10.0.0.1'), node('secondary', '10.0.0.2')]).checks;
    expect(expectFromPlan(checks, { targets: ['dns-server'] }).get('primary->dns-server/udp/53')).toEqual({ verdict: 'open/answered', fromRules: true });
    expect(() => expectFromPlan(checks, { blocked: { 'primary->dns-server/udp/53': 'blocked/filtered' } })).toThrow(/not tested in this run/);
  });

  it('expects the interconnect checked where the nodes have addresses there', () => {
    const nodes = [node('primary', '10.0.0.1', { interconnect: '10.1.0.1' }), node('secondary', '10.0.0.2', { interconnect: '10.1.0.2' })];
    const expected = expectFromPlan(planChecks(profile, nodes).checks);
    expect(expected.get('primary->secondary/tcp/29004@interconnect')).toEqual({ verdict: 'open/verified', fromRules: true });
    expect([...expected.values()].filter((each) => each.fromRules)).toHaveLength(48);
  });
});
