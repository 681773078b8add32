import { destinationOf, resolveDeclared, type Lookup } from './declared-targets.js';

/** A resolver that answers from a table, and counts what it was asked. */
function fakeLookup(table: Record<string, string[]>): Lookup & { asked: string[] } {
  const asked: string[] = [];
  const lookup = async (name: string) => {
    asked.push(name);
    const addresses = table[name];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address }));
  };
  return Object.assign(lookup, { asked });
}

describe('the hosts a run declares are pinned to their addresses when it begins', () => {
  it('keeps IP literals as they are, resolves each name once, and pins what it got', async () => {
    const lookup = fakeLookup({ 'dns.example': ['192.0.2.53', '2001:db8::53'] });
    const targets = await resolveDeclared(['10.1.1.11', 'dns.example', 'dns.example', '::1'], lookup);
    expect([...targets]).toEqual([
      ['10.1.1.11', ['10.1.1.11']],
      ['dns.example', ['192.0.2.53', '2001:db8::53']],
      ['::1', ['::1']],
    ]);
    expect(lookup.asked).toEqual(['dns.example']);
  });

  it('leaves a name that does not resolve, or not in time, without addresses, and never rejects', async () => {
    const slow: Lookup = () => new Promise(() => {});
    expect([...(await resolveDeclared(['gone.example'], fakeLookup({})))]).toEqual([['gone.example', []]]);
    expect([...(await resolveDeclared(['slow.example'], slow, 50))]).toEqual([['slow.example', []]]);
  });

  it('sends a probe to the pinned address (of the source\'s family), never to an undeclared host', () => {
    const targets = new Map([
      ['dns.example', ['192.0.2.53', '2001:db8::53']],
      ['gone.example', []],
      ['10.1.1.11', ['10.1.1.11']],
    ]);
    expect(destinationOf(targets, 'dns.example')).toEqual({ ok: true, address: '192.0.2.53' });
    expect(destinationOf(targets, 'dns.example', '2001:db8::1')).toEqual({ ok: true, address: '2001:db8::53' });
    expect(destinationOf(targets, '10.1.1.11', '192.168.10.11')).toEqual({ ok: true, address: '10.1.1.11' });
    expect(destinationOf(targets, '10.1.1.11', 'fe80::1')).toEqual({ ok: true, address: '10.1.1.11' }); // the OS says what it thinks of that
    expect(destinationOf(new Map([['v4.example', ['192.0.2.1']]]), 'v4.example', 'fe80::1')).toEqual({ ok: false, why: 'unresolved' });
    expect(destinationOf(targets, 'gone.example')).toEqual({ ok: false, why: 'unresolved' });
    expect(destinationOf(targets, '192.0.2.53')).toEqual({ ok: false, why: 'undeclared' }); // what a name resolved to is not declared by it
  });
});
