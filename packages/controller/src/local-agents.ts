import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PreflightError } from './errors.js';
import type { AgentNode } from './nodes.js';

/** How long a local agent may take to start before `--local` gives up on it. */
const START_TIMEOUT_MS = 10_000;

/** Agents started on this machine for `--local`, and how to stop them all. */
export type LocalAgents = {
  nodes: AgentNode[];
  token: string;
  /** The certificate each agent printed, by node name: the controller pins them. */
  fingerprints: Map<string, string>;
  stop(): Promise<void>;
};

function agentBin(): string {
  const entry = createRequire(import.meta.url).resolve('@preflight/agent');
  return path.join(path.dirname(entry), '..', 'bin', 'preflight-agent.js');
}

/**
 * Starts one agent per role on its own loopback address (127.0.0.1, 127.0.0.2, ...), so each
 * role's temporary listeners bind the profile's ports without colliding. Linux answers on all of
 * 127.0.0.0/8; other systems need those addresses added to the loopback interface first.
 */
export async function startLocalAgents(roles: readonly string[], otherNetworks: readonly string[] = []): Promise<LocalAgents> {
  const token = randomBytes(18).toString('base64url');
  const children: ChildProcess[] = [];
  const fingerprints = new Map<string, string>();
  // Each local agent makes its own certificate, in a folder removed when they stop.
  const stateDir = mkdtempSync(path.join(tmpdir(), 'preflight-local-'));
  const stop = async () => {
    await Promise.all(children.map((child) => stopChild(child)));
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const nodes = await Promise.all(
      roles.map(async (role, index) => {
        const host = `127.0.0.${index + 1}`;
        const args = ['--listen', `${host}:0`, '--token', token, '--state-dir', path.join(stateDir, role), '--quiet'];
        const child = spawn(process.execPath, [agentBin(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(child);
        const { port, fingerprint } = await readyLines(child, role);
        fingerprints.set(role, fingerprint);
        // One machine has one network: every other network of the profile is reached on the same address.
        const addresses = Object.fromEntries(otherNetworks.map((network) => [network, host]));
        return { name: role, role, host, port, ...(otherNetworks.length > 0 ? { addresses } : {}) };
      }),
    );
    return { nodes, token, fingerprints, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits for the agent's ready line; reads the port it listens on and its certificate's fingerprint. */
function readyLines(child: ChildProcess, role: string): Promise<{ port: number; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    let output = '';
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new PreflightError('run-incomplete', `--local: the agent for ${role} did not start: ${why}`, 3));
    };
    const timer = setTimeout(() => fail(`no ready line within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(/listening on \S+:(\d+)/);
      const fingerprint = output.match(/fingerprint: (SHA256:[0-9A-F:]+)/)?.[1];
      if (match && fingerprint) {
        clearTimeout(timer);
        resolve({ port: Number(match[1]), fingerprint });
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => fail(`it exited (${code}): ${output.trim()}`));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
