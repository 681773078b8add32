import { profileSchema } from './schema.js';
import { renderProfile, renderProfileLine, wrap } from './show.js';

const profile = profileSchema.parse({
  format: 'preflight-profile/1',
  name: 'demo',
  title: 'Demo',
  version: '2.0.0',
  roles: { a: { description: 'first' }, b: { description: 'second', optional: true } },
  requirements: [
    { id: 'mirror', protocol: 'tcp', ports: ['29001-29003'], from: 'a', to: 'b', purpose: 'Mirror', source: 'doc.txt, Table 4, 29001-29003 TCP' },
    {
      id: 'heartbeat-with-a-long-id',
      protocol: 'udp',
      ports: [29106],
      from: 'a',
      to: 'b',
      required: false,
      purpose: 'Heartbeat',
      source: 'vendor scripts',
      note: 'A note long enough to be wrapped: '.repeat(6).trim(),
    },
  ],
});

describe('renderProfile', () => {
  const text = renderProfile(profile, { color: false });
  const lines = text.split('\n');

  it('gives each requirement its source on one line, after its id, and its note under it, wrapped to 100 columns', () => {
    const sources = lines.slice(lines.indexOf('Sources and notes:') + 1);
    expect(sources[0]).toBe('  mirror                    doc.txt, Table 4, 29001-29003 TCP');
    expect(sources[1]).toBe('  heartbeat-with-a-long-id  vendor scripts');
    const note = sources.slice(2).filter(Boolean);
    expect(note.length).toBeGreaterThan(1);
    for (const line of note) {
      expect(line.length).toBeLessThanOrEqual(100);
      expect(line.startsWith(' '.repeat(28))).toBe(true);
    }
    expect(note.map((line) => line.trim()).join(' ')).toBe(`note: ${profile.requirements[1]!.note}`);
  });

  it('keeps the table: a range with its count, an optional role marked, an optional requirement', () => {
    expect(lines[0]).toBe('Demo (demo 2.0.0)');
    expect(text).toMatch(/│ mirror +│ tcp +│ 29001-29003 +│ a +│ b\? +│ both +│ open +│ yes +│ Mirror +│\n│ +│ +│ \(3\) +│/);
    expect(text).toMatch(/│ udp +│ 29106 +│ a +│ b\? +│ both +│ open +│ optional +│ Heartbeat/);
    expect(text).toContain('role?: optional; without --node for it, its checks are reported as not tested (b)');
    expect(text).not.toContain('\u001b[');
  });

  it('lists a profile on one line', () => {
    expect(renderProfileLine('demo', profile)).toBe('demo                     Demo (version 2.0.0, 2 requirements)');
  });
});

describe('wrap', () => {
  it.each([
    ['one two three', 7, ['one two', 'three']],
    ['one  two\nthree', 80, ['one two three']],
    ['a verylongword b', 4, ['a', 'verylongword', 'b']],
    ['', 10, []],
  ])('wraps %j at %d', (text, width, expected) => expect(wrap(text, width)).toEqual(expected));
});
