import { z } from 'zod';

export const transportSchema = z.enum(['tcp', 'udp']);
/** A transport the agents listen and probe on. */
export type Transport = z.infer<typeof transportSchema>;

/**
 * What happened when an agent tried to open a temporary listener.
 * `in-use`: another program holds the port; `denied`: the OS refused (privileged port);
 * `failed`: any other error (the address is not on this host, too many open files).
 */
/** What an agent can probe: a transport, or ICMP echo (which needs no listener on the peer). */
export const probeProtocolSchema = z.enum(['tcp', 'udp', 'icmp']);
export type ProbeProtocol = z.infer<typeof probeProtocolSchema>;

export const listenStateSchema = z.enum(['bound', 'in-use', 'denied', 'failed']);
export type ListenState = z.infer<typeof listenStateSchema>;

export const listenResultSchema = z.object({
  protocol: transportSchema,
  port: z.number().int(),
  state: listenStateSchema,
  /** The OS error code where the bind failed. */
  code: z.string().optional(),
  /** Who holds the port, where the OS could tell (`ss`, `netstat`). */
  holder: z.string().optional(),
});
export type ListenResult = z.infer<typeof listenResultSchema>;

/**
 * What the wire showed the sending agent: the observation, never the verdict.
 * - `verified`: our listener answered the nonce (TCP handshake, or UDP acknowledgement), or
 *   (ICMP) the peer answered an echo request.
 * - `answered`: a target that runs no agent answered as its service should (TCP connection
 *   accepted, a DNS response, an NTP response); `what` says what came back.
 * - `mismatch`: TCP connected, but what answered did not prove itself to be our listener: it
 *   sent something else, closed, stayed silent, or the connection failed (`code`: ECONNRESET
 *   for a reset).
 * - `refused`: TCP reset, or ICMP port unreachable (ECONNREFUSED).
 * - `unreachable`: ICMP host, network or administratively prohibited, or (ping) time exceeded.
 * - `local-denied`: the sender's own OS refused to send (its egress firewall: EPERM/EACCES).
 * - `no-answer`: nothing came back before the timeout. For UDP this is not a verdict: the
 *   receiver's report over its control channel decides.
 * - `error`: a local fault that says nothing about the path (EADDRNOTAVAIL, EMFILE, a ping that
 *   could not start); `message` says what to fix.
 */
export const probeObservationSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('verified') }),
  z.object({ kind: z.literal('answered'), what: z.string() }),
  z.object({ kind: z.literal('mismatch'), received: z.string(), code: z.string().optional() }),
  z.object({ kind: z.literal('refused'), code: z.string() }),
  z.object({ kind: z.literal('unreachable'), code: z.string() }),
  z.object({ kind: z.literal('local-denied'), code: z.string() }),
  z.object({ kind: z.literal('no-answer') }),
  z.object({ kind: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type ProbeObservation = z.infer<typeof probeObservationSchema>;

export const probeResultSchema = z.object({
  key: z.string(),
  protocol: probeProtocolSchema,
  observation: probeObservationSchema,
  /** Connection attempts (TCP) or datagrams (UDP) sent. */
  attempts: z.number().int(),
  elapsedMs: z.number(),
  /**
   * The round trip the probe saw, where it saw one: ping's reported time for ICMP, the first
   * connection's handshake (SYN to SYN-ACK) for TCP. An upper bound on a busy sender.
   */
  rttMs: z.number().nonnegative().optional(),
});
export type ProbeResult = z.infer<typeof probeResultSchema>;
