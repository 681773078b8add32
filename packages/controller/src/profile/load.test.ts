import { parseProfile } from './load.js';

const valid = `format: preflight-profile/1
name: demo
title: Demo
version: "1"
roles:
  primary: { description: first server }
  secondary: { description: second server }
requirements:
  - id: msmq
    protocol: tcp
    ports: [1801, "29001-29003"]
    from: primary
    to: secondary
    purpose: MSMQ
    source: demo.txt, table 1
`;

describe('parseProfile', () => {
  it('fills in defaults', () => {
    const parsed = parseProfile(valid, 'demo.yaml');
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    expect(parsed.value.requirements[0]).toMatchObject({ direction: 'both', required: true, expect: 'open' });
    expect(parsed.value.roles.primary?.kind).toBe('agent');
  });

  it.each([
    ['an unknown role', valid.replace('to: secondary', 'to: tertiary'), 'demo.yaml:13: requirements.0.to: role "tertiary" is not in roles'],
    ['a backwards range', valid.replace('29001-29003', '29003-29001'), 'demo.yaml:11: requirements.0.ports.1: a range runs from a low port'],
    ['a port out of range', valid.replace('1801', '70000'), 'demo.yaml:11: requirements.0.ports.0'],
    ['a misspelt field', valid.replace('purpose:', 'purpos:'), 'demo.yaml:9: requirements.0: Unrecognized key: "purpos"'],
    ['a missing source', valid.replace(/ {4}source:.*\n/, ''), 'demo.yaml:9: requirements.0.source: is required'],
    ['bad YAML', valid.replace('roles:', 'roles: [\n'), 'demo.yaml:'],
  ])('names the file, line and field for %s', (_label, text, message) => {
    const parsed = parseProfile(text, 'demo.yaml');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.errors.join('\n')).toContain(message);
  });

  it('refuses ports on icmp and their absence on tcp', () => {
    const icmp = valid.replace('protocol: tcp', 'protocol: icmp');
    const noPorts = valid.replace(/ {4}ports:.*\n/, '');
    expect(parseProfile(icmp, 'p.yaml')).toMatchObject({ ok: false, errors: [expect.stringContaining('icmp has no ports')] });
    expect(parseProfile(noPorts, 'p.yaml')).toMatchObject({ ok: false, errors: [expect.stringContaining('tcp needs ports')] });
  });

  const withDns = valid.replace('roles:\n', 'roles:\n  dns: { description: a DNS server, kind: external }\n');

  it('refuses a role that runs no agent in `from`, naming the file, the requirement and the field', () => {
    const parsed = parseProfile(withDns.replace('from: primary', 'from: [primary, dns]'), 'demo.yaml');
    expect(parsed).toEqual({ ok: false, errors: ['demo.yaml:13: requirements.0.from: role dns runs no agent: it can only be in `to`'] });
  });

  it('refuses it at the far end of a `direction: both` requirement, which would send from it', () => {
    const both = parseProfile(withDns.replace('to: secondary', 'to: dns'), 'demo.yaml');
    expect(both).toEqual({ ok: false, errors: [expect.stringMatching(/^demo\.yaml:\d+: requirements\.0\.direction: role dns runs no agent: it can only be in `to` of a one-way requirement$/)] });
    const oneWay = parseProfile(withDns.replace('to: secondary', 'to: dns\n    direction: one-way'), 'demo.yaml');
    expect(oneWay.ok).toBe(true);
  });

  const second = (fields: string) => `${valid}  - id: again
    protocol: tcp
    from: secondary
    to: primary
    purpose: again
    source: demo.txt, table 2
${fields}`;
  const closedBack = '    ports: [29002]\n    direction: one-way\n    expect: closed\n';

  it('refuses two requirements that share a path but disagree on `expect`, naming both', () => {
    const parsed = parseProfile(second(closedBack), 'demo.yaml');
    expect(parsed).toEqual({
      ok: false,
      errors: [
        'demo.yaml:24: requirements.1.expect: requirements "msmq" and "again" both check tcp/29002 secondary->primary, but "msmq" expects it open and "again" closed: a path is checked once, so they must agree',
      ],
    });
  });

  it.each([
    ['they agree on `expect`', second('    ports: [29002]\n    direction: one-way\n')],
    ['the ports differ', second('    ports: [29004]\n    expect: closed\n')],
    ['the first is one-way, so the path back is only the second\'s', second(closedBack).replace('to: secondary\n', 'to: secondary\n    direction: one-way\n')],
  ])('accepts two requirements on the same roles where %s', (_label, text) => {
    const parsed = parseProfile(text, 'demo.yaml');
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  });

  it('tells the networks apart: ICMP open on the LAN and closed on the interconnect is no conflict; open and closed on the same network is', () => {
    const icmp = (networks: string) => `format: preflight-profile/1
name: demo
title: Demo
version: "1"
roles:
  a: { description: first }
  b: { description: second }
networks:
  lan: { description: the LAN }
  interconnect: { description: the interconnect }
requirements:
  - { id: ping, protocol: icmp, from: a, to: b, networks: [lan, interconnect], purpose: ping, source: s }
  - { id: no-ping, protocol: icmp, from: b, to: a, direction: one-way, expect: closed, networks: ${networks}, purpose: none, source: s }
`;
    expect(parseProfile(icmp('[lan]').replace('networks: [lan, interconnect], purpose: ping', 'purpose: ping'), 'n.yaml')).toEqual({
      ok: false,
      errors: [expect.stringContaining('requirements "ping" and "no-ping" both check icmp b->a, but')],
    });
    expect(parseProfile(icmp('[interconnect]'), 'n.yaml')).toEqual({
      ok: false,
      errors: [expect.stringContaining('both check icmp b->a on interconnect')],
    });
    expect(parseProfile(icmp('[interconnect]').replace('[lan, interconnect]', '[lan]'), 'n.yaml').ok).toBe(true);
  });
});
