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
});
