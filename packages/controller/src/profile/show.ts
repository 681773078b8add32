import Table from 'cli-table3';
import { expandPorts, rolesOf } from './paths.js';
import type { Profile } from './schema.js';

/** How wide a note is wrapped, indent included: a terminal of 100 columns shows it unbroken. */
const NOTE_WIDTH = 100;

/** One line of `preflight profiles list`: name, title, version and how many requirements. */
export const renderProfileLine = (name: string, profile: Profile): string =>
  `${name.padEnd(24)} ${profile.title} (version ${profile.version}, ${profile.requirements.length} requirements)`;

/**
 * `preflight profiles show`: the requirements as a table, what its marks mean, then each
 * requirement's source (one line, so it can be searched for as the document names it) and its
 * note, wrapped. Pure.
 */
export function renderProfile(profile: Profile, options: { color: boolean }): string {
  const table = new Table({
    head: ['Id', 'Proto', 'Ports', 'From', 'To', 'Dir', 'Expect', 'Required', 'Purpose'],
    style: options.color ? {} : { head: [], border: [] },
    wordWrap: true,
    colWidths: [22, 7, 14, 14, 14, 9, 8, 10, 40],
  });
  const networks = Object.keys(profile.networks ?? {});
  const roleText = (roles: string | string[]) => rolesOf(roles).map((role) => (profile.roles[role]?.optional ? `${role}?` : role)).join(', ');
  for (const req of profile.requirements) {
    const on = networks.length > 1 ? ` [${(req.networks ?? networks.slice(0, 1)).join(', ')}]` : '';
    const count = expandPorts(req.ports).length;
    const ports = req.ports ? `${req.ports.join(', ')}${count > 1 ? ` (${count})` : ''}` : '';
    table.push([req.id, req.protocol, ports, roleText(req.from), roleText(req.to), req.direction, req.expect, req.required ? 'yes' : 'optional', req.purpose + on]);
  }
  const lines = [`${profile.title} (${profile.name} ${profile.version})`, table.toString()];
  const optional = Object.keys(profile.roles).filter((role) => profile.roles[role]?.optional);
  if (optional.length > 0) lines.push(`role?: optional; without --node for it, its checks are reported as not tested (${optional.join(', ')})`);
  if (networks.length > 1) lines.push(`[networks]: where a path is checked; --node ROLE=HOST is on ${networks[0]}, give the others with --node ROLE@NETWORK=HOST`);
  lines.push('', 'Sources and notes:');
  const width = Math.max(...profile.requirements.map((req) => req.id.length)) + 4;
  for (const req of profile.requirements) {
    lines.push(`  ${req.id.padEnd(width - 2)}${req.source}`);
    if (req.note) lines.push(...wrap(`note: ${req.note}`, NOTE_WIDTH - width).map((line) => ' '.repeat(width) + line));
  }
  return `${lines.join('\n')}\n`;
}

/** Breaks text at spaces into lines of at most `width` characters (a longer word keeps its own line). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
