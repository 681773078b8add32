import type { z } from 'zod';
import { agentMessageSchema, requestSchema, type AgentMessage, type Request } from './messages.js';

/** A decoded message, or why it could not be decoded, with the request id where one was readable. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; id: number | null; error: string };

function decodeWith<T>(schema: z.ZodType<T>, raw: string): Decoded<T> {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, id: null, error: 'not JSON' };
  }
  const parsed = schema.safeParse(data);
  if (parsed.success) return { ok: true, value: parsed.data };
  const id = readId(data);
  const error = parsed.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(message)'}: ${issue.message}`)
    .join('; ');
  return { ok: false, id, error };
}

function readId(data: unknown): number | null {
  if (typeof data !== 'object' || data === null || !('id' in data)) return null;
  const { id } = data as { id: unknown };
  return Number.isInteger(id) && (id as number) >= 0 ? (id as number) : null;
}

/** Validates a controller's request at the agent's boundary. */
export const decodeRequest = (raw: string): Decoded<Request> => decodeWith(requestSchema, raw);

/** Validates an agent's message at the controller's boundary. */
export const decodeAgentMessage = (raw: string): Decoded<AgentMessage> =>
  decodeWith(agentMessageSchema, raw);
