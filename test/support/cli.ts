import { spawn, type ChildProcess } from 'node:child_process';
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

export type AgentProcess = { child: ChildProcess; port: number; output: string };

/**
 * Starts a real `preflight-agent` process (`nodeArgs` go to node itself, e.g. a heap limit) and
 * resolves once it prints the control port it listens on, with what it printed until then.
 */
export function startAgentProcess(args: string[], nodeArgs: string[] = []): Promise<AgentProcess> {
  const child = spawn(process.execPath, [...nodeArgs, PREFLIGHT_AGENT, ...args], { cwd: REPO });
  let output = '';
  let errors = '';
  // Read, so that an agent with much to say never blocks on a full pipe; and told if it fails.
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const port = output.match(/listening on \S+:(\d+)/)?.[1];
      if (port) resolve({ child, port: Number(port), output });
    });
    child.once('exit', (code) => reject(new Error(`agent exited (${code}): ${output}${errors}`)));
  });
}
