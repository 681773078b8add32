import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Which certificate each peer presented the first time it was met (trust on first use), by
 * `host:port`: the agents a controller met, or the controllers an agent dialled (--connect). A
 * later change is refused loudly: either the peer was reinstalled, or something stands between.
 */
export type KnownAgents = { format: 'preflight-known-agents/1'; agents: Record<string, { fingerprint: string; firstSeen: string }> };

/** Where the controller keeps its known agents unless told otherwise (`--known-agents FILE`). */
export const defaultKnownAgentsFile = (): string =>
  process.env.PREFLIGHT_KNOWN_AGENTS ?? path.join(os.homedir(), '.preflight', 'known-agents.json');

/** How an agent's certificate compares with what the controller trusts. */
export type PinVerdict =
  | { ok: true; learned: boolean }
  | { ok: false; message: string };

const normalize = (fingerprint: string) => fingerprint.replace(/^sha256:/i, '').replace(/:/g, '').toUpperCase();

/** Prints `SHA256:AB:CD:...` for a fingerprint given in any of its usual spellings. */
export const formatFingerprint = (fingerprint: string): string => `SHA256:${normalize(fingerprint).match(/../g)?.join(':') ?? ''}`;

/**
 * Decides whether to trust the certificate an agent presented. Pure. A fingerprint given on the
 * command line wins; else the known-agents file; else the agent is learned (first use).
 */
export function decidePin(input: {
  /** Who is connecting, for the message: `node primary`, `agent`. */
  node: string;
  address: string;
  seen: string;
  pinned?: string;
  known?: string;
  file: string;
  peer?: 'agent' | 'controller';
  /** The option that pins this peer, as typed before the fingerprint: `--fingerprint primary=`. */
  pinFlag: string;
}): PinVerdict {
  const seen = formatFingerprint(input.seen);
  const peer = input.peer ?? 'agent';
  const flag = input.pinFlag;
  if (input.pinned) {
    if (normalize(input.pinned) === normalize(input.seen)) return { ok: true, learned: false };
    return {
      ok: false,
      message:
        `${input.node}: the ${peer} at ${input.address} presents certificate ${seen}, not ${formatFingerprint(input.pinned)} ` +
        `as ${flag} says. Refusing to connect: check the fingerprint the ${peer} printed at start.`,
    };
  }
  if (input.known) {
    if (normalize(input.known) === normalize(input.seen)) return { ok: true, learned: false };
    return {
      ok: false,
      message:
        `${input.node}: THE ${peer.toUpperCase()}'S CERTIFICATE HAS CHANGED. The ${peer} at ${input.address} presented ${formatFingerprint(input.known)} before ` +
        `and presents ${seen} now. Someone may be intercepting the connection. Refusing to connect. If the ${peer} was reinstalled, ` +
        `compare with the fingerprint it printed at start, then remove "${input.address}" from ${input.file} or pass ${flag}${seen}.`,
    };
  }
  return { ok: true, learned: true };
}

/** Reads the known-agents file; a missing file is an empty one. Throws with the file's name if it is unreadable. */
export function readKnownAgents(file: string): KnownAgents {
  if (!existsSync(file)) return { format: 'preflight-known-agents/1', agents: {} };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as KnownAgents;
    if (parsed.format !== 'preflight-known-agents/1' || typeof parsed.agents !== 'object') throw new Error('not a known-agents file');
    return parsed;
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}: fix or remove it`);
  }
}

/** Adds agents learned on first use; written whole through a temporary file, so a crash never leaves half a file. */
export function rememberAgents(file: string, learned: Record<string, string>, now = new Date()): void {
  if (Object.keys(learned).length === 0) return;
  const store = readKnownAgents(file);
  for (const [address, fingerprint] of Object.entries(learned)) {
    store.agents[address] = { fingerprint: formatFingerprint(fingerprint), firstSeen: now.toISOString() };
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}
