export { startAgent, type AgentOptions, type RunningAgent } from './server.js';
export { AGENT_VERSION } from './version.js';
export { DEFAULT_HEARTBEAT_MS } from './session.js';
export { AuthLimiter, DEFAULT_AUTH_POLICY, type AuthPolicy } from './auth-limiter.js';
