export { startAgent, type AgentOptions, type RunningAgent } from './server.js';
export { AGENT_VERSION } from './version.js';
export { HEARTBEAT_MS } from './session.js';
