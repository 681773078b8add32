import { z } from 'zod';
import { MAX_LISTENERS_PER_REQUEST, MAX_RUN_TARGETS } from './constants.js';
import { ERROR_CODES } from './errors.js';
import { hostFactsSchema } from './host-facts.js';
import { listenResultSchema, probeProtocolSchema, probeResultSchema, transportSchema } from './observations.js';

const port = z.number().int().min(1).max(65535);
const requestId = z.number().int().nonnegative();
const hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));

/** A listener the controller asks an agent to open. */
export const listenSpecSchema = z.object({ protocol: transportSchema, port });
export type ListenSpec = z.infer<typeof listenSpecSchema>;

export const probeMethodSchema = z.enum(['handshake', 'echo', 'connect', 'dns', 'ntp']);
export type ProbeMethod = z.infer<typeof probeMethodSchema>;

/** One probe the controller orders an agent to make; `key` ties the result to its check. */
export const probeOrderSchema = z.object({
  key: z.string().min(1).max(200),
  protocol: probeProtocolSchema,
  host: z.string().min(1).max(255),
  /** 0 for ICMP. */
  port: z.number().int().min(0).max(65535),
  /**
   * `handshake`: the peer is an agent of this run and must answer the nonce (TCP, UDP).
   * `echo`: an ICMP echo request, answered by any host. For a target that runs no agent:
   * `connect` (a TCP connection is accepted), `dns` (a DNS query is answered, over the order's
   * protocol), `ntp` (an NTP request is answered).
   */
  method: probeMethodSchema,
  nonce: hex(16),
  timeoutMs: z.number().int().min(50).max(120_000),
  /**
   * The sender's own address to send from, for a path on a network other than the one its
   * control address is on (a cluster's interconnect), as the cluster software itself binds.
   */
  source: z.string().min(1).max(255).optional(),
});
export type ProbeOrder = z.infer<typeof probeOrderSchema>;

// Controller to agent. Every request carries an `id` that its reply or error repeats.

export const authRequestSchema = z.object({
  type: z.literal('auth'),
  id: requestId,
  protocol: z.number().int(),
  proof: hex(32),
  /** The controller's own challenge: the agent proves the token back (it matters most when the agent dialled in). */
  challenge: hex(32),
});

export const beginRequestSchema = z.object({
  type: z.literal('begin'),
  id: requestId,
  runId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/),
  /** Shared by every agent of the run: listeners prove themselves with it. */
  runKey: hex(32),
  ttlMs: z.number().int().min(1000).max(24 * 3600 * 1000),
  /** Every host this run may probe (its agents' and targets' addresses): the agent refuses any other. */
  targets: z.array(z.string().min(1).max(255)).min(1).max(MAX_RUN_TARGETS),
});

export const listenRequestSchema = z.object({
  type: z.literal('listen'),
  id: requestId,
  listeners: z.array(listenSpecSchema).max(MAX_LISTENERS_PER_REQUEST),
});

export const probeRequestSchema = z.object({
  type: z.literal('probe'),
  id: requestId,
  probes: z.array(probeOrderSchema).max(70_000),
  /** How many probes the agent may have under way at once. */
  concurrency: z.number().int().min(1).max(10_000),
});

export const endRequestSchema = z.object({ type: z.literal('end'), id: requestId });

/** Closes some of the run's listeners (a round is done); the run goes on. */
export const releaseRequestSchema = z.object({
  type: z.literal('release'),
  id: requestId,
  listeners: z.array(listenSpecSchema).max(MAX_LISTENERS_PER_REQUEST),
});

/** What the agent can tell of its server (read-only), for the report. */
export const factsRequestSchema = z.object({ type: z.literal('facts'), id: requestId });

/** The agent's clock, read as it answers: the controller times the round trip to find the offset. */
export const clockRequestSchema = z.object({ type: z.literal('clock'), id: requestId });

export const requestSchema = z.discriminatedUnion('type', [
  authRequestSchema,
  beginRequestSchema,
  listenRequestSchema,
  probeRequestSchema,
  endRequestSchema,
  releaseRequestSchema,
  factsRequestSchema,
  clockRequestSchema,
]);
export type Request = z.infer<typeof requestSchema>;
export type RequestType = Request['type'];
export type AuthRequest = z.infer<typeof authRequestSchema>;
export type BeginRequest = z.infer<typeof beginRequestSchema>;
export type ListenRequest = z.infer<typeof listenRequestSchema>;
export type ProbeRequest = z.infer<typeof probeRequestSchema>;

// Agent to controller.

export const helloMessageSchema = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  agentVersion: z.string(),
  /** Fresh for every connection: the controller answers it with a proof of the token. */
  challenge: hex(32),
  /** An agent that dialled a controller (--connect) says which node it is (--as). */
  name: z.string().regex(/^[A-Za-z][\w-]{0,63}$/).optional(),
});

export const agentInfoSchema = z.object({
  hostname: z.string(),
  platform: z.string(),
  agentVersion: z.string(),
  /** The agent's proof of the token over the controller's challenge. */
  proof: hex(32),
  /** How many temporary listeners it can hold at once; a run with more opens them in rounds. */
  listenCapacity: z.number().int().positive(),
});
export type AgentInfo = z.infer<typeof agentInfoSchema>;

/** The result each request type gets in its reply. */
export const replyResultSchemas = {
  auth: agentInfoSchema,
  begin: z.object({ ttlMs: z.number().int() }),
  listen: z.object({
    listeners: z.array(listenResultSchema),
    /**
     * File descriptors the agent has free once its listeners are open, where it can tell: every
     * probe that reaches one of its listeners costs it one, so senders keep within it.
     */
    headroom: z.number().int().optional(),
  }),
  probe: z.object({ count: z.number().int() }),
  end: z.object({ closed: z.number().int() }),
  release: z.object({ closed: z.number().int() }),
  facts: z.object({ facts: hostFactsSchema }),
  clock: z.object({ now: z.number() }),
} satisfies Record<RequestType, z.ZodType>;
export type ReplyResult<T extends RequestType> = z.infer<(typeof replyResultSchemas)[T]>;

export const replyMessageSchema = z.object({
  type: z.literal('reply'),
  id: requestId,
  result: z.unknown(),
});

export const errorMessageSchema = z.object({
  type: z.literal('error'),
  /** The request it answers; null where the message could not be read far enough to tell. */
  id: requestId.nullable(),
  code: z.enum(ERROR_CODES),
  message: z.string(),
});
export type ErrorMessage = z.infer<typeof errorMessageSchema>;

/** Probes' observations, sent as they become known (batched); the `probe` reply follows the last. */
export const probeResultsMessageSchema = z.object({
  type: z.literal('probe-results'),
  id: requestId,
  results: z.array(probeResultSchema),
});

/** A probe datagram reached one of this agent's UDP listeners: the proof that UDP passes. */
export const udpReceivedMessageSchema = z.object({
  type: z.literal('udp-received'),
  port,
  nonce: hex(16),
  from: z.string(),
});

export const agentMessageSchema = z.discriminatedUnion('type', [
  helloMessageSchema,
  replyMessageSchema,
  errorMessageSchema,
  probeResultsMessageSchema,
  udpReceivedMessageSchema,
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;
export type HelloMessage = z.infer<typeof helloMessageSchema>;
export type UdpReceivedMessage = z.infer<typeof udpReceivedMessageSchema>;
