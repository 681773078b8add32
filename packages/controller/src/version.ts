import { createRequire } from 'node:module';

/** The controller's version, as its package.json states it. */
export const TOOL_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
