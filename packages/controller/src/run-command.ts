import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_PROBE_TIMEOUT_MS, DEFAULT_RUN_TTL_MS } from '@preflight/protocol';
import { INSECURE, type AgentTrust } from './agent-client.js';
import { UsageError } from './errors.js';
import { defaultKnownAgentsFile, formatFingerprint, loadTlsIdentity, readKnownAgents, rememberAgents } from '@preflight/protocol';
import { listenForAgents, type AgentListener } from './serve.js';
import { startLocalAgents, type LocalAgents } from './local-agents.js';
import type { AgentNode, Target } from './nodes.js';
import { checkNodesAgainstProfile, planChecks, rolesUsed } from './plan.js';
import { PEER_ROLE, profileFromPortSpecs } from './ports-spec.js';
import { Progress } from './progress.js';
import { loadProfile } from './profile/load.js';
import type { Profile } from './profile/schema.js';
import { renderJson } from './report/json.js';
import { buildReport } from './report/model.js';
import { renderTable } from './report/table.js';
import { formatOfFile, writeReport } from './report-command.js';
import { runPlan } from './run.js';

/**
 * Probes an agent may have under way at once when not told. A ceiling: each agent lowers it to
 * what its free file descriptors can hold.
 */
export const DEFAULT_CONCURRENCY = 4096;

export type RunCommandOptions = {
  profile?: string;
  ports: string[];
  node: AgentNode[];
  target: Target[];
  local?: boolean;
  token?: string;
  json?: string;
  /** The report to attach: FILE.html or FILE.md. */
  report?: string;
  timeout: number;
  concurrency: number;
  color: boolean;
  /** Draw the progress line on standard error while the run goes on (outputMode decides). */
  progress: boolean;
  /** Who runs the check and for which site, carried into the report. */
  engineer?: string;
  site?: string;
  /** Plain ws to agents started with --insecure. */
  insecure?: boolean;
  /** `--fingerprint NODE=SHA256:...`: the certificate each agent must present. */
  fingerprint?: [string, string][];
  knownAgents?: string;
  /** `HOST:PORT`: wait for agents started with --connect instead of dialling them. */
  serve?: { host: string; port: number };
  /** With --serve: how long to wait for every agent, in seconds. */
  wait?: number;
};

/** Runs `preflight run` and returns the exit code; throws only PreflightErrors for usage. */
export async function runCommand(options: RunCommandOptions): Promise<number> {
  const profile = chooseProfile(options);
  if (options.report) formatOfFile(options.report); // a wrong name is a usage error before anything runs
  if (options.local && options.node.length > 0) throw new UsageError('--local starts its own agents: leave out --node');
  let local: LocalAgents | undefined;
  try {
    if (options.local) local = await startLocalAgents(localRoles(profile), Object.keys(profile.networks ?? {}).slice(1));
    const nodes = adHocRoles(profile, local?.nodes ?? options.node);
    if (nodes.length < 2) throw new UsageError('give at least two nodes, e.g. --node primary=10.1.1.11 --node secondary=10.1.1.12 (or use --local)');
    const token = local?.token ?? options.token ?? process.env.PREFLIGHT_TOKEN;
    if (!token) throw new UsageError('give the agents\' token with --token or PREFLIGHT_TOKEN (each agent prints it when it starts)');
    checkNodesAgainstProfile(profile, nodes);
    checkTargetsAgainstProfile(profile, options.target);
    const trust = chooseTrust(options, nodes.map((node) => node.name), local?.fingerprints);
    if (options.serve && options.local) throw new UsageError('--serve waits for agents you started with --connect: leave out --local');
    const listener = options.serve ? await serveAgents(options, nodes, token) : undefined;

    const plan = planChecks(profile, nodes);
    const progress = new Progress();
    const run = await runPlan(plan, nodes, {
      token,
      timeoutMs: options.timeout,
      concurrency: options.concurrency,
      ttlMs: DEFAULT_RUN_TTL_MS,
      targets: options.target,
      trust,
      ...(listener ? { connect: (node: AgentNode) => listener.connect(node) } : {}),
      ...(options.progress ? { onStart: (total: number) => progress.start(total), onProbeResult: (result) => progress.probed(result) } : {}),
    }).finally(() => {
      progress.stop();
      void listener?.close();
    });
    for (const [address, fingerprint] of Object.entries(trust.learned)) {
      process.stderr.write(`preflight: first contact with the agent at ${address}: trusting its certificate ${formatFingerprint(fingerprint)} from now on (${trust.file})\n`);
    }
    rememberAgents(trust.file, trust.learned);
    const report = buildReport(profile, run, {
      options: { timeoutMs: options.timeout, concurrency: options.concurrency },
      targets: options.target,
      context: { engineer: options.engineer ?? null, site: options.site ?? null },
    });

    for (const node of report.nodes.filter((each) => each.state !== 'connected')) {
      process.stderr.write(`preflight: ${node.detail ?? `node ${node.name}: ${node.state}`}\n`);
    }
    if (options.json) {
      if (options.json === '-') process.stdout.write(renderJson(report));
      else writeFileSync(options.json, renderJson(report));
    }
    if (options.report) writeReport(report, options.report);
    // A table of nothing but "not tested" would bury the one line that matters: which agent to fix.
    const learned = report.checks.some((check) => check.status !== 'not-tested');
    if (options.json !== '-') {
      if (learned) process.stdout.write(renderTable(report, { color: options.color }));
      else process.stderr.write(`preflight: no path could be tested (exit ${report.summary.exitCode})\n`);
    }
    return report.summary.exitCode;
  } finally {
    await local?.stop();
  }
}

/**
 * How the agents are trusted: plain ws with --insecure; else TLS pinned to --fingerprint (or, for
 * --local, to what the agents it started printed), else to the known-agents file.
 */
function chooseTrust(options: RunCommandOptions, names: readonly string[], localPins?: ReadonlyMap<string, string>): AgentTrust {
  if (options.insecure) return INSECURE;
  const pinned = new Map(localPins ?? options.fingerprint ?? []);
  for (const name of pinned.keys()) {
    if (!names.includes(name)) throw new UsageError(`--fingerprint ${name}: there is no node ${name} (nodes: ${names.join(', ')})`);
  }
  const file = options.knownAgents ?? defaultKnownAgentsFile();
  try {
    return { insecure: false, pinned, known: localPins ? { format: 'preflight-known-agents/1', agents: {} } : readKnownAgents(file), file, learned: {} };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Listens for agents started with --connect, and says how to start them. */
async function serveAgents(options: RunCommandOptions, nodes: readonly AgentNode[], token: string): Promise<AgentListener> {
  const { host, port } = options.serve!;
  // The controller keeps its own certificate beside its known-agents file (~/.preflight).
  const stateDir = path.dirname(options.knownAgents ?? defaultKnownAgentsFile());
  const tls = options.insecure ? undefined : await loadTlsIdentity({ role: 'controller', stateDir });
  const log = (line: string) => void process.stderr.write(`preflight: ${line}\n`);
  const listener = await listenForAgents(nodes, { host, port, token, waitMs: (options.wait ?? 120) * 1000, log, ...(tls ? { tls } : {}) }).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`--serve ${host}:${port}: cannot listen (${error.code ?? error.message}): choose another port or address`);
  });
  const scheme = tls ? 'wss' : 'ws';
  const pin = tls ? ` --controller-fingerprint ${tls.fingerprint}` : ' --insecure';
  process.stderr.write(
    `preflight: waiting up to ${options.wait ?? 120} s for ${nodes.length} agents on ${scheme}://${host}:${listener.port}${tls ? ` (certificate ${tls.fingerprint})` : ''}.\n` +
      `  On each server: preflight-agent --connect ${scheme}://THIS-MACHINE:${listener.port} --as NODE${pin} --token TOKEN\n`,
  );
  return listener;
}

function chooseProfile(options: RunCommandOptions): Profile {
  if (options.profile && options.ports.length > 0) throw new UsageError('give either --profile or --ports, not both');
  if (options.profile) return loadProfile(options.profile);
  if (options.ports.length > 0) return profileFromPortSpecs(options.ports);
  throw new UsageError('say what to check: --profile NAME (e.g. nec-symmetry) or --ports tcp:1801,3725');
}

function checkTargetsAgainstProfile(profile: Profile, targets: readonly Target[]): void {
  const external = Object.entries(profile.roles).filter(([, role]) => role.kind === 'external').map(([name]) => name);
  for (const target of targets) {
    if (!external.includes(target.role)) {
      const known = external.length > 0 ? `its external roles: ${external.join(', ')}` : 'it has no external roles';
      throw new UsageError(`--target ${target.role}: profile ${profile.name} has no external role "${target.role}" (${known})`);
    }
  }
}

/** The agent roles a profile's requirements use, in the order the profile lists them. */
function localRoles(profile: Profile): string[] {
  if (isAdHoc(profile)) return ['local1', 'local2'];
  const used = rolesUsed(profile);
  return Object.entries(profile.roles)
    .filter(([name, role]) => role.kind === 'agent' && used.has(name))
    .map(([name]) => name);
}

/** With --ports, node names are free labels: every node takes the one ad-hoc role. */
function adHocRoles(profile: Profile, nodes: AgentNode[]): AgentNode[] {
  return isAdHoc(profile) ? nodes.map((node) => ({ ...node, role: PEER_ROLE })) : nodes;
}

const isAdHoc = (profile: Profile) => PEER_ROLE in profile.roles && Object.keys(profile.roles).length === 1;

export const DEFAULTS = { timeout: DEFAULT_PROBE_TIMEOUT_MS, concurrency: DEFAULT_CONCURRENCY };
