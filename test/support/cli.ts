import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const PREFLIGHT = fileURLToPath(new URL('../../packages/controller/bin/preflight.js', import.meta.url));
export const PREFLIGHT_AGENT = fileURLToPath(new URL('../../packages/agent/bin/preflight-agent.js', import.meta.url));

export type Finished = { code: number | null; stdout: string; stderr: string; ms: number };

/** Runs a built command to its end (the suite builds first: `npm test`). */
export function runNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: REPO, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}
