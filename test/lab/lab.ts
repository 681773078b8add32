/**
 * The firewall lab: network namespaces joined by veth pairs to a router namespace that forwards
 * between their subnets and filters with nftables. Addresses come from 198.18.0.0/15 (RFC 2544,
 * benchmarking) and exist only inside the lab's namespaces: no packet leaves them. See README.md.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NETNS_PREFIX, deleteNetnsSync, register, sweepStaleLabs, unregister } from './cleanup.js';
import { Netem, type NetemMode, type NetemOptions } from './netem.js';
import {
  dieWithParent, finish, killByPid, mustRun, outputOf, run, start, stop,
  type ExecOptions, type ExecResult, type Output, type SpawnOptions,
} from './process.js';

export { describeLab, labSupport, labSupportSync, type LabSupport } from './support.js';
export { sweepStaleLabs } from './cleanup.js';
export { outputOf, type ExecOptions, type ExecResult, type Output, type SpawnOptions } from './process.js';
export type { NetemMode, NetemOptions } from './netem.js';
export { ping, startTcpServer, tcpConnect, type ConnectOutcome, type PingResult } from './probes.js';

/** The repository's root, and the two programs the lab runs, found from this file. */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const AGENT_BIN = fileURLToPath(new URL('../../packages/agent/bin/preflight-agent.js', import.meta.url));
export const CONTROLLER_BIN = fileURLToPath(new URL('../../packages/controller/bin/preflight.js', import.meta.url));

/** A machine of the lab: a network namespace, and the address others reach it at. */
export interface LabHost {
  /** `controller`, `router`, `node1`, `node2`, ... */
  readonly name: string;
  /** The namespace (`ip netns exec <netns> ...`). */
  readonly netns: string;
  /** Its address: for the router, the one on the controller's subnet (198.18.0.1). */
  readonly address: string;
}

/** The controller or a node: alone on subnet 198.18.<index>.0/24, behind the router. */
export interface LinkedHost extends LabHost {
  /** k in 198.18.k.0/24: 0 for the controller, i for node i. */
  readonly index: number;
  /** `198.18.k.0/24`. */
  readonly subnet: string;
  /** The router's address on this subnet, the host's default route (198.18.k.1). */
  readonly gateway: string;
  /** The router's interface toward this host: where `netem` applies. */
  readonly link: string;
}

/** The router: one address on each subnet; it forwards between them through its `forward` chain. */
export interface RouterHost extends LabHost {
  readonly addresses: readonly string[];
}

/** An agent started by `lab.startAgent`, listening for its controller. */
export interface LabAgent {
  readonly process: ChildProcess;
  readonly host: LinkedHost;
  /** The control port's address and port, `198.18.k.2:7890`. */
  readonly address: string;
  readonly port: number;
  /** What it has written so far. */
  output(): Output;
  /** Ends it (SIGTERM, then SIGKILL) by its PID and waits. */
  stop(): Promise<void>;
}

/** Options of `lab.startAgent`. */
export interface StartAgentOptions {
  /** Control port; default 7890. */
  port?: number;
  /** More arguments for preflight-agent. */
  args?: string[];
  /** How long to wait for `listening`; default 10 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const TABLE = 'inet pflab';
let labCount = 0;

/** Builds a lab: a controller, a router and `nodes` nodes, each host on its own /24. */
export async function createLab({ nodes }: { nodes: number }): Promise<Lab> {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 200) throw new Error(`lab: 1 to 200 nodes, not ${nodes}`);
  await sweepStaleLabs();
  const lab = new Lab(`${NETNS_PREFIX}${process.pid}i${++labCount}`, nodes);
  register(lab);
  try {
    await lab.build();
  } catch (error) {
    await lab.destroy();
    throw error;
  }
  return lab;
}

/** A running lab. Make one with `createLab`; end it with `destroy()`. */
export class Lab {
  readonly controller: LinkedHost;
  readonly router: RouterHost;
  readonly nodes: readonly LinkedHost[];
  private readonly processes = new Set<ChildProcess>();
  private readonly netem_: Netem;
  private destroying: Promise<void> | undefined;

  /** @internal use createLab */
  constructor(readonly id: string, nodeCount: number) {
    const host = (name: string, suffix: string, k: number): LinkedHost => ({
      name, netns: `${id}-${suffix}`, address: `198.18.${k}.2`, index: k,
      subnet: `198.18.${k}.0/24`, gateway: `198.18.${k}.1`, link: `h${k}`,
    });
    this.controller = host('controller', 'ctl', 0);
    this.nodes = Array.from({ length: nodeCount }, (_, i) => host(`node${i + 1}`, `n${i + 1}`, i + 1));
    this.router = { name: 'router', netns: `${id}-rtr`, address: '198.18.0.1', addresses: this.hosts.map((h) => h.gateway) };
    this.netem_ = new Netem(this.router.netns, (argv) => this.spawn(this.router, argv, { stdin: true }));
  }

  /** The controller and the nodes. */
  get hosts(): readonly LinkedHost[] {
    return [this.controller, ...this.nodes];
  }

  /** How netem is made on this machine (known after the first `netem` call). */
  get netemMode(): NetemMode | undefined {
    return this.netem_.mode;
  }

  private get allNetns(): string[] {
    return [...this.hosts.map((host) => host.netns), this.router.netns];
  }

  /** @internal */
  async build(): Promise<void> {
    const rtr = this.router.netns;
    await this.makeNetns(rtr, ['echo 1 > /proc/sys/net/ipv4/ip_forward']);
    await this.nft(this.router, [`add table ${TABLE}`, chainText('forward')].join('\n'));
    await Promise.all(this.hosts.map((host) => this.buildHost(host)));
  }

  private async buildHost(host: LinkedHost): Promise<void> {
    const [rtr, ns] = [this.router.netns, host.netns];
    await this.makeNetns(ns, []);
    // Both ends are made inside the lab's namespaces: nothing appears in the root namespace.
    await mustRun(['ip', '-n', rtr, 'link', 'add', host.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await mustRun(['ip', '-n', rtr, 'addr', 'add', `${host.gateway}/24`, 'dev', host.link]);
    await mustRun(['ip', '-n', rtr, 'link', 'set', host.link, 'up']);
    await mustRun(['ip', '-n', ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
    await mustRun(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    await mustRun(['ip', '-n', ns, 'route', 'add', 'default', 'via', host.gateway]);
    await this.nft(host, [`add table ${TABLE}`, chainText('input'), chainText('output')].join('\n'));
  }

  /**
   * A namespace with loopback up, whose new interfaces get no IPv6 (so not even link-local
   * traffic uses an address outside 198.18.0.0/15), plus any sysctl writes of its own.
   */
  private async makeNetns(ns: string, sysctls: string[]): Promise<void> {
    await mustRun(['ip', 'netns', 'add', ns]);
    await mustRun(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    const ipv6 = 'if [ -d /proc/sys/net/ipv6 ]; then echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; fi';
    await mustRun(['ip', 'netns', 'exec', ns, 'sh', '-c', [ipv6, ...sysctls].join('; ')]);
  }

  private nft(host: LabHost, script: string): Promise<string> {
    return mustRun(['ip', 'netns', 'exec', host.netns, 'nft', '-f', '-'], { input: `${script}\n` });
  }

  private async addRules(host: LabHost, chain: string, text: string): Promise<void> {
    const lines = text.split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
    try {
      await this.nft(host, lines.map((rule) => `add rule ${TABLE} ${chain} ${rule}`).join('\n'));
    } catch (error) {
      throw new Error(`lab: nft rejected rules for the ${chain} chain of ${host.name}:\n${text}\n${(error as Error).message}`);
    }
  }

  /**
   * Appends nftables rules (one per line, `#` comments allowed; all or none applied) to the
   * router's `forward` chain, e.g. `ip saddr 198.18.1.2 ip daddr 198.18.2.2 tcp dport 29002 drop`.
   */
  routerRules(text: string): Promise<void> {
    return this.addRules(this.router, 'forward', text);
  }

  /** Appends rules to the `input` chain of a host (a node, or the controller). */
  inputRules(host: LinkedHost, text: string): Promise<void> {
    return this.addRules(host, 'input', text);
  }

  /** Appends rules to the `output` chain of a host (a node, or the controller). */
  outputRules(host: LinkedHost, text: string): Promise<void> {
    return this.addRules(host, 'output', text);
  }

  /** Removes the rules tests added: everywhere, or only the router's, or only one host's. */
  async clearRules(host?: LabHost): Promise<void> {
    const targets = host ? [host] : [this.router, ...this.hosts];
    for (const target of targets) {
      const chains = target.netns === this.router.netns ? ['forward'] : ['input', 'output'];
      await this.nft(target, chains.map((chain) => `flush chain ${TABLE} ${chain}`).join('\n'));
    }
  }

  /** The lab's nftables table in a host's namespace, as `nft list` prints it (for messages). */
  ruleset(host: LabHost): Promise<string> {
    return mustRun(['ip', 'netns', 'exec', host.netns, 'nft', 'list', 'table', ...TABLE.split(' ')]);
  }

  /**
   * Impairs what the router sends toward `host` (netem on the router's side of its link), so a
   * round trip through that link gains `delayMs`; replaces the host's earlier impairment.
   */
  netem(host: LinkedHost, options: NetemOptions): Promise<void> {
    return this.netem_.apply(host.link, options);
  }

  /** Removes the impairment of one host's link, or of every link. */
  async clearNetem(host?: LinkedHost): Promise<void> {
    for (const target of host ? [host] : this.hosts) await this.netem_.clear(target.link);
  }

  /**
   * Starts argv inside a host's namespace (`ip netns exec`). The lab tracks it: `destroy()`
   * ends it by its PID and waits. Output is captured as it comes (`outputOf(child)`).
   */
  spawn(host: LabHost, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    if (this.destroying) throw new Error(`lab ${this.id}: spawn after destroy()`);
    const child = start(['ip', 'netns', 'exec', host.netns, ...dieWithParent(), ...argv], { cwd: REPO, ...options });
    this.processes.add(child);
    child.once('close', () => this.processes.delete(child));
    return child;
  }

  /** Runs argv inside a host's namespace to its end (killed by PID after `timeoutMs`, 60 s). */
  exec(host: LabHost, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const child = this.spawn(host, argv, { ...options, stdin: options.input !== undefined });
    return finish(child, options);
  }

  /**
   * Starts `preflight-agent --listen <address>:7890 --token <token>` in a node's namespace and
   * resolves once it prints `listening`; rejects (and ends it) with its output otherwise.
   */
  async startAgent(host: LinkedHost, token: string, options: StartAgentOptions = {}): Promise<LabAgent> {
    const { port = 7890, args = [], timeoutMs = 10_000, env } = options;
    const child = this.spawn(host, [process.execPath, AGENT_BIN, '--listen', `${host.address}:${port}`, '--token', token, ...args], { env });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`printed no "listening" within ${timeoutMs} ms`)), timeoutMs);
        child.stdout?.on('data', () => outputOf(child).stdout.includes('listening') && (clearTimeout(timer), resolve()));
        child.once('exit', (code, signal) => (clearTimeout(timer), reject(new Error(`exited (${code ?? signal})`))));
      });
    } catch (error) {
      await stop(child, 1000);
      const { stdout, stderr } = outputOf(child);
      throw new Error(`lab: the agent on ${host.name} (${host.address}:${port}) ${(error as Error).message}\nstderr: ${stderr.trim()}\nstdout: ${stdout.trim()}`);
    }
    return {
      process: child, host, address: `${host.address}:${port}`, port,
      output: () => outputOf(child),
      stop: () => stop(child),
    };
  }

  /** Runs `preflight <argv>` (the controller CLI) in the controller's namespace to its end. */
  runController(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(this.controller, [process.execPath, CONTROLLER_BIN, ...argv], {
      timeoutMs: 120_000, ...options, env: { NO_COLOR: '1', ...options.env },
    });
  }

  /**
   * Ends every process the lab started (by PID: SIGTERM, then SIGKILL) and deletes its
   * namespaces, which takes their veths with them. Idempotent; tolerates a half-built lab.
   */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      await Promise.all([...this.processes].map((child) => stop(child, 2000)));
      for (const netns of this.allNetns) await run(['ip', 'netns', 'del', netns]);
      unregister(this);
    })();
    return this.destroying;
  }

  /** Last-resort teardown as the process exits: SIGKILL by PID, then delete the namespaces. */
  destroySync(): void {
    for (const child of this.processes) killByPid(child, 'SIGKILL');
    for (const netns of this.allNetns) deleteNetnsSync(netns);
  }
}

function chainText(hook: 'forward' | 'input' | 'output'): string {
  return `add chain ${TABLE} ${hook} { type filter hook ${hook} priority 0; policy accept; }`;
}
