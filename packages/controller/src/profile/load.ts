import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { ProfileError } from '../errors.js';
import { profileSchema, type Profile } from './schema.js';

/** The profiles that ship with preflight: `profiles/` at the top of the repository. */
export const BUILTIN_PROFILE_DIR = fileURLToPath(new URL('../../../../profiles/', import.meta.url));

/** A validated profile, or every problem found, each naming the file, line and field. */
export type ProfileParse = { ok: true; value: Profile } | { ok: false; errors: string[] };

/** Parses and validates profile text; `file` only labels the messages. Never throws. */
export function parseProfile(text: string, file: string): ProfileParse {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((error) => {
        const line = error.linePos?.[0];
        return `${file}${line ? `:${line.line}:${line.col}` : ''}: ${error.message.split('\n')[0]}`;
      }),
    };
  }
  const parsed = profileSchema.safeParse(doc.toJS(), {
    error: (issue) => (issue.input === undefined ? 'is required' : undefined),
  });
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    errors: parsed.error.issues.map((issue) => {
      const field = issue.path.map(String);
      const line = lineOf(doc, lineCounter, field);
      return `${file}${line ? `:${line}` : ''}: ${field.join('.') || '(top level)'}: ${issue.message}`;
    }),
  };
}

/** The line of the deepest part of `field` the document has (a missing key: its parent's line). */
function lineOf(doc: Document, lineCounter: LineCounter, field: string[]): number | undefined {
  for (let depth = field.length; depth >= 0; depth--) {
    const node = doc.getIn(field.slice(0, depth).map((part) => (/^\d+$/.test(part) ? Number(part) : part)), true);
    if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}

/** Where a profile named on the command line is: a path as given, else a built-in name. */
export function resolveProfilePath(nameOrPath: string): string {
  const looksLikePath = /[\\/]/.test(nameOrPath) || /\.ya?ml$/i.test(nameOrPath);
  if (looksLikePath) return path.resolve(nameOrPath);
  return path.join(BUILTIN_PROFILE_DIR, `${nameOrPath}.yaml`);
}

/** The names of the built-in profiles. */
export function listBuiltinProfiles(): string[] {
  if (!existsSync(BUILTIN_PROFILE_DIR)) return [];
  return readdirSync(BUILTIN_PROFILE_DIR)
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => file.slice(0, -'.yaml'.length))
    .sort();
}

/** Loads a profile by built-in name or path; throws ProfileError saying what to fix. */
export function loadProfile(nameOrPath: string): Profile {
  const file = resolveProfilePath(nameOrPath);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    const known = listBuiltinProfiles().join(', ') || 'none';
    throw new ProfileError(
      'profile-not-found',
      `no profile "${nameOrPath}" (looked for ${file}). Built-in profiles: ${known}; or give the path of a .yaml file.`,
    );
  }
  const parsed = parseProfile(text, file);
  if (!parsed.ok) {
    throw new ProfileError('profile-invalid', `profile ${file} is not valid:\n  ${parsed.errors.join('\n  ')}`, parsed.errors);
  }
  return parsed.value;
}
