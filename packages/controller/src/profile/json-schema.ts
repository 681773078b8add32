import { z } from 'zod';
import { profileSchema } from './schema.js';

/**
 * The profile format as JSON Schema, for editors (`# yaml-language-server: $schema=...`). Made
 * from the same zod schema the loader validates with, so the two cannot drift apart; the
 * cross-field rules (roles exist, ids unique, icmp has no ports, a role that runs no agent only
 * in `to`, requirements that share a path agree on `expect`) are checked by the loader only.
 */
export function profileJsonSchema(): string {
  const schema = z.toJSONSchema(profileSchema, { io: 'input', unrepresentable: 'any' });
  return `${JSON.stringify({ ...schema, title: 'preflight profile', $id: 'preflight-profile/1' }, null, 2)}\n`;
}
