import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** What a command that ran to its end left behind. */
export interface ExecResult {
  /** Exit code, or null when a signal ended it (see `signal`, `timedOut`). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to close, in milliseconds. */
  ms: number;
  /** True when the command was killed for running past `timeoutMs`. */
  timedOut: boolean;
}

/** Options for running a command to its end. */
export interface ExecOptions {
  /** Killed (SIGKILL, by PID) after this long; default 60 s. */
  timeoutMs?: number;
  /** Written to its standard input, which is then closed. */
  input?: string;
  /** Added to (not replacing) this process's environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Options for starting a long-running command. */
export interface SpawnOptions {
  /** Added to (not replacing) this process's environment. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep standard input open as a pipe (default: ignored). */
  stdin?: boolean;
}

/** What a spawned process has written so far. */
export interface Output {
  stdout: string;
  stderr: string;
}

const MAX_CAPTURE = 8 * 1024 * 1024;
const captured = new WeakMap<ChildProcess, Output>();

/**
 * Reads a child's stdout and stderr into memory as they come (so a chatty child never blocks
 * on a full pipe) while leaving the streams to anyone else who listens too.
 */
function capture(child: ChildProcess): Output {
  const output: Output = { stdout: '', stderr: '' };
  const keep = (key: keyof Output) => (chunk: Buffer) => {
    if (output[key].length < MAX_CAPTURE) output[key] += chunk.toString();
  };
  child.stdout?.on('data', keep('stdout'));
  child.stderr?.on('data', keep('stderr'));
  captured.set(child, output);
  return output;
}

/** Everything a child spawned here has written so far. */
export function outputOf(child: ChildProcess): Output {
  return captured.get(child) ?? { stdout: '', stderr: '' };
}

/** Starts argv with captured output; an 'error' (e.g. ENOENT) is kept in its stderr. */
export function start(argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  const output = capture(child);
  child.on('error', (error) => (output.stderr += `${error.message}\n`));
  return child;
}

/** Waits for a started child to close, killing it by PID after `timeoutMs`. */
export function finish(child: ChildProcess, { timeoutMs = 60_000, input }: ExecOptions = {}): Promise<ExecResult> {
  const started = performance.now();
  let timedOut = false;
  if (input !== undefined && child.stdin) child.stdin.end(input);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      timedOut = true;
      killByPid(child, 'SIGKILL');
    }, timeoutMs);
    const done = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({ code, signal, ...outputOf(child), ms: performance.now() - started, timedOut });
    };
    child.once('close', done);
    // A spawn that failed outright never emits 'close' on some Node versions; 'error' then ends it.
    child.once('error', () => setImmediate(() => child.pid === undefined && done(null, null)));
  });
}

/** Runs argv (not in any lab namespace) to its end. */
export function run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return finish(start(argv, { ...options, stdin: options.input !== undefined }), options);
}

/** Runs argv to its end and returns its stdout; throws with its stderr when it fails. */
export async function mustRun(argv: readonly string[], options: ExecOptions = {}): Promise<string> {
  const result = await run(argv, options);
  if (result.code !== 0) {
    const why = result.timedOut ? `timed out after ${options.timeoutMs ?? 60_000} ms` : `exit ${result.code ?? result.signal}`;
    throw new Error(`lab: \`${argv.join(' ')}\` failed (${why}): ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}

/** Sends a signal to the child by its own PID, if it is still running. */
export function killByPid(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

/** Whether a child has ended. */
export const ended = (child: ChildProcess) => child.pid === undefined || child.exitCode !== null || child.signalCode !== null;

/** Resolves when the child has exited, or after `ms` regardless. */
export function exited(child: ChildProcess, ms: number): Promise<void> {
  if (ended(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Ends a child by PID: SIGTERM, then SIGKILL after `graceMs`, and waits for it. */
export async function stop(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (ended(child)) return;
  killByPid(child, 'SIGTERM');
  await exited(child, graceMs);
  if (ended(child)) return;
  killByPid(child, 'SIGKILL');
  await exited(child, 5000);
}

let pdeathsig: string[] | undefined;

/**
 * `setpriv --pdeathsig KILL --` when util-linux has it: a lab process then dies with the test
 * process even when that is killed with SIGKILL and no exit handler runs.
 */
export function dieWithParent(): string[] {
  if (pdeathsig === undefined) {
    const probe = spawnSync('setpriv', ['--help'], { encoding: 'utf8' });
    pdeathsig = probe.status === 0 && probe.stdout.includes('--pdeathsig') ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];
  }
  return pdeathsig;
}
