import { createRequire } from 'node:module';

/** The agent's version, as its package.json states it. */
export const AGENT_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
