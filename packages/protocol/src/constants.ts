/**
 * Version of the control protocol; an agent refuses a controller that speaks another. 2: token
 * proofs are bound to their connection (mode, both challenges, the TLS server's certificate).
 */
export const PROTOCOL_VERSION = 2;

/**
 * Default control port of an agent. Chosen outside every port the profiles name, outside the
 * dynamic RPC range (49152-65535) and below Linux's default ephemeral range (32768-60999).
 */
export const DEFAULT_CONTROL_PORT = 7890;

/**
 * How long either side of a new control connection waits for the other's proof of the token: the
 * agent for the controller's, the controller for the agent's answer. A silent peer that dialled in
 * holds a slot no longer than this.
 */
export const AUTH_TIMEOUT_MS = 10_000;

/** Largest control message either side accepts, in bytes: a batch of 16384 probe orders fits. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Listeners one `listen` or `release` request may name: every port of one protocol and then some
 * (70000 specs make about 2.3 MB, within MAX_MESSAGE_BYTES). An agent never says it can hold more
 * than this at once, so a round always fits in one request.
 */
export const MAX_LISTENERS_PER_REQUEST = 70_000;

/** Probe timeout when the controller is given none: two TCP SYN retransmits fit (1 s, 3 s). */
export const DEFAULT_PROBE_TIMEOUT_MS = 3000;

/** Longest a run may keep an agent's listeners open when the controller asks for nothing else. */
export const DEFAULT_RUN_TTL_MS = 10 * 60 * 1000;

/**
 * Limits that keep an agent from being used as a scanner: a run names the hosts it will probe
 * when it begins (its peers and targets), and may not probe more than this in all.
 */
export const MAX_RUN_TARGETS = 1024;
export const MAX_RUN_PROBES = 1_000_000;

/**
 * Listeners a run may open in all, counting each round's again: every TCP and UDP port twice over.
 * The most a built-in profile needs is the dynamic range in TCP and UDP (32768), once.
 */
export const MAX_RUN_LISTENS = 4 * 65_535;
