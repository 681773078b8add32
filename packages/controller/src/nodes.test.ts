import { assembleNodes, parseNode } from './nodes.js';

describe('--node', () => {
  it('reads an agent, with or without its control port, and IPv6 in brackets', () => {
    expect(parseNode('primary=10.1.1.11')).toEqual({ kind: 'node', node: { name: 'primary', role: 'primary', host: '10.1.1.11', port: 7890 } });
    expect(parseNode('primary=[fd00::1]:9000')).toEqual({ kind: 'node', node: { name: 'primary', role: 'primary', host: 'fd00::1', port: 9000 } });
  });

  it('reads ROLE@NETWORK=HOST as the node\'s address on another network, and joins it to the node', () => {
    const args = ['primary=10.1.1.11', 'secondary=10.1.1.12', 'primary@interconnect=192.168.0.11'].map(parseNode);
    expect(assembleNodes(args)).toEqual([
      { name: 'primary', role: 'primary', host: '10.1.1.11', port: 7890, addresses: { interconnect: '192.168.0.11' } },
      { name: 'secondary', role: 'secondary', host: '10.1.1.12', port: 7890 },
    ]);
  });

  it('says what to fix', () => {
    expect(() => parseNode('primary')).toThrow('write ROLE=HOST or ROLE=HOST:PORT');
    expect(() => parseNode('primary@interconnect=192.168.0.11:7890')).toThrow('takes no port');
    expect(() => assembleNodes([parseNode('primary@interconnect=192.168.0.11')])).toThrow('give the node itself too, with --node primary=HOST');
    expect(() => assembleNodes(['primary=a', 'primary@x=b', 'primary@x=c'].map(parseNode))).toThrow('--node primary@x is given twice');
  });
});
