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

/** An agent prints its control port within a second or two; this allows a loaded CI machine's start. */
const AGENT_START_MS = 20_000;

/**
 * Starts a real `preflight-agent` process (`nodeArgs` go to node itself, e.g. a heap limit) and
 * resolves once it prints the control port it listens on, with what it printed until then.
 */
export function startAgentProcess(args: string[], nodeArgs: string[] = []): Promise<AgentProcess> {
  const child = spawn(process.execPath, [...nodeArgs, PREFLIGHT_AGENT, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  return new Promise<AgentProcess>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`agent did not start in ${AGENT_START_MS / 1000} s: ${output}${errors}`)), AGENT_START_MS);
    const onExit = (code: number | null) => fail(new Error(`agent exited (${code}): ${output}${errors}`));
    const onError = (chunk: Buffer) => (errors += chunk.toString());
    const onOutput = (chunk: Buffer) => {
      output += chunk.toString();
      const port = output.match(/listening on \S+:(\d+)/)?.[1];
      if (!port) return;
      settle();
      resolve({ child, port: Number(port), output });
    };
    // Started, the agent's output is no longer ours to keep: it drains unread.
    const settle = () => {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout.off('data', onOutput).resume();
      child.stderr.off('data', onError).resume();
    };
    const fail = (error: Error) => {
      settle();
      child.kill('SIGKILL');
      reject(error);
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onError);
    child.once('exit', onExit);
  });
}
