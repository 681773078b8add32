import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PREFLIGHT, PREFLIGHT_AGENT, REPO, type Finished } from '../support/cli.js';
import { writeTally } from './tally.js';

const DELAY_RELAY = fileURLToPath(new URL('./delay-relay.py', import.meta.url));
const REAPER = fileURLToPath(new URL('./lab-reaper.mjs', import.meta.url));

/**
 * The firewall lab: network namespaces joined by veth pairs to a router namespace that forwards
 * between their subnets and filters with nftables. Addresses come from 198.18.0.0/15, the range
 * RFC 2544 sets aside for benchmarking; no packet leaves the namespaces.
 *
 *   controller 198.18.0.2 ─┐
 *   node 1     198.18.1.2 ─┼─ router (198.18.K.1 on each link; nftables forward chain)
 *   node 2     198.18.2.2 ─┘
 *
 * With `networks: 2`, every node also has a second link (eth1, 198.19.K.2) to its own router
 * interface: a second routed network between the nodes, like a cluster's interconnect LAN, whose
 * traffic the same forward chain filters.
 *
 * Impairments: this machine's kernel has no sch_netem (CONFIG_NET_SCH_NETEM is not set), so
 * loss is an nftables `numgen random` drop in the router, per packet leaving toward a host (those
 * it forwards, and the resets and ICMP errors its own reject rules send), and latency is a relay
 * (delay-relay.py) that copies each frame of a host's link after a delay.
 */

/**
 * A host of the lab: its namespace, its address, and the router's interface toward it; in a lab
 * with a second network (a cluster's interconnect), its address there and the router's interface.
 */
export type LabHost = { name: string; netns: string; address: string; routerIf: string; interconnect?: { address: string; routerIf: string } };

/** Where a rule goes: the router's forward chain, or a node's own input or output chain. */
export type Chain = 'forward' | 'input' | 'output';

/**
 * The programs the lab runs, how to ask each for its version, and the package that brings it:
 * namespaces, veth pairs and socket tables (ip, ss), the rules (nft), forwarding (sysctl), ICMP
 * (ping), the delay relay and a real program holding a port (python3), the relay's offloads
 * (ethtool).
 */
const LAB_TOOLS: readonly (readonly [string, readonly string[], string])[] = [
  ['ip', ['-V'], 'iproute2'],
  ['ss', ['-V'], 'iproute2'],
  ['nft', ['--version'], 'nftables'],
  ['sysctl', ['--version'], 'procps'],
  ['ping', ['-V'], 'iputils-ping'],
  ['python3', ['--version'], 'python3'],
  ['ethtool', ['--version'], 'ethtool'],
];

/** The servers a lab file may run on a host that runs no agent, as `describeLab`'s `needs`. */
export const LAB_SERVERS = {
  dnsmasq: [['--version'], 'dnsmasq-base'],
  chronyd: [['-v'], 'chrony'],
} as const satisfies Record<string, readonly [readonly string[], string]>;

/** What is missing of `tools`, as a sentence naming what to install; null when nothing is. */
function missingTools(tools: readonly (readonly [string, readonly string[], string])[]): string | null {
  const missing = tools.filter(([tool, args]) => {
    try {
      execFileSync(tool, args, { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return null;
  const packages = [...new Set(missing.map(([, , pkg]) => pkg))];
  return `the lab needs ${missing.map(([tool]) => tool).join(', ')} (apt-get install ${packages.join(' ')})`;
}

/** Why the lab cannot run here, or null when it can. Checked once, synchronously, for jest. */
export const labUnsupported: string | null = (() => {
  if (process.platform !== 'linux') return 'the lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the lab needs root (network namespaces, nftables)';
  const missing = missingTools(LAB_TOOLS);
  if (missing) return missing;
  const probe = `pfprobe${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  } catch {
    return 'this machine does not allow creating network namespaces';
  }
  return null;
})();

/**
 * `describe` for lab tests: without root, namespaces or a program the lab (or, in `needs`, this
 * file) runs, they skip, saying why; in CI (CI=true) they fail instead, since CI must run the lab.
 * After its tests, the file's tally is written for the closing note (tally.ts).
 */
export function describeLab(title: string, body: () => void, { needs = [] }: { needs?: readonly (keyof typeof LAB_SERVERS)[] } = {}): void {
  const unsupported = labUnsupported ?? missingTools(needs.map((tool) => [tool, ...LAB_SERVERS[tool]] as const));
  if (!unsupported) {
    return describe(title, () => {
      afterAll(writeTally);
      body();
    });
  }
  if (process.env.CI) {
    return describe(title, () => {
      it('runs in CI', () => {
        throw new Error(`the firewall lab cannot run in CI: ${unsupported}`);
      });
    });
  }
  console.warn(`skipping the firewall lab (${title}): ${unsupported}`);
  describe.skip(title, body);
}

let labCount = 0;

function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function must(argv: string[]): Promise<string> {
  const result = await run(argv);
  if (result.code !== 0) throw new Error(`lab: ${argv.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout;
}

export class Lab {
  readonly controller: LabHost;
  readonly nodes: LabHost[];
  readonly routerNetns: string;
  private readonly processes = new Set<ChildProcess>();
  private destroyed = false;
  /** Removes this lab's namespaces should its test process be killed before destroy() (lab-reaper.mjs). */
  private reaper?: ChildProcess;
  /**
   * The agents' certificates, the controller's known-agents file, and the tests' own files
   * (`file(name)`: reports, configurations): this lab's own, gone with it.
   */
  private readonly scratch = mkdtempSync(path.join(tmpdir(), 'preflight-netlab-'));

  private constructor(
    private readonly id: string,
    nodeCount: number,
    /** One-way delay on every host's link, made by a relay; 0 for a plain wire. */
    private readonly delayMs: number,
    networks: number,
  ) {
    this.routerNetns = `${id}-rtr`;
    const host = (name: string, k: number): LabHost => ({
      name,
      netns: `${id}-${name}`,
      address: `198.18.${k}.2`,
      routerIf: `${id}r${k}`,
      ...(networks > 1 && k > 0 ? { interconnect: { address: `198.19.${k}.2`, routerIf: `${id}i${k}` } } : {}),
    });
    this.controller = host('ctl', 0);
    this.nodes = Array.from({ length: nodeCount }, (_, i) => host(`n${i + 1}`, i + 1));
  }

  /**
   * Builds a lab with a controller, a router and `nodes` nodes, each on its own subnet; with
   * `delayMs`, every host's link delays each frame that long each way (a round trip of twice it).
   */
  static async create({ nodes, delayMs = 0, networks = 1 }: { nodes: number; delayMs?: number; networks?: 1 | 2 }): Promise<Lab> {
    if (nodes < 1 || nodes > 200) throw new Error('lab: 1 to 200 nodes');
    if (networks > 1 && delayMs > 0) throw new Error('lab: a second network has no delay relay');
    labCount += 1;
    if (labCount === 1) await sweepStaleLabs();
    const lab = new Lab(`pf${process.pid}x${labCount}`, nodes, delayMs, networks);
    lab.reaper = startReaper(process.pid, lab.id, lab.scratch);
    try {
      await lab.build();
      return lab;
    } catch (error) {
      await lab.destroy();
      throw error;
    }
  }

  get hosts(): LabHost[] {
    return [this.controller, ...this.nodes];
  }

  /** A path in this lab's scratch directory, for a test's report or configuration: removed by destroy(). */
  file(name: string): string {
    return path.join(this.scratch, name);
  }

  private async build(): Promise<void> {
    const rtr = this.routerNetns;
    await must(['ip', 'netns', 'add', rtr]);
    await must(['ip', '-n', rtr, 'link', 'set', 'lo', 'up']);
    await must(['ip', 'netns', 'exec', rtr, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await must(['ip', 'netns', 'exec', rtr, 'nft', tableText('forward')]);
    // Before the filter rules, so a lost packet never reaches them: loss happens on the wire.
    await must(['ip', 'netns', 'exec', rtr, 'nft', 'add chain inet lab impair { type filter hook forward priority -10; policy accept; }']);
    // The resets and ICMP errors the router's own reject rules send leave through its output hook,
    // not forward: loss must reach them too, or a reject would never meet a lossy link.
    await must(['ip', 'netns', 'exec', rtr, 'nft', 'add chain inet lab impair-out { type filter hook output priority -10; policy accept; }']);
    await Promise.all(
      this.hosts.map(async (host, k) => {
        const peer = `${this.id}h${k}`;
        await must(['ip', 'netns', 'add', host.netns]);
        if (this.delayMs > 0) await this.buildSlowWire(host, k, peer);
        else await must(['ip', 'link', 'add', host.routerIf, 'netns', rtr, 'type', 'veth', 'peer', 'name', peer, 'netns', host.netns]);
        await must(['ip', '-n', rtr, 'addr', 'add', `198.18.${k}.1/24`, 'dev', host.routerIf]);
        await must(['ip', '-n', rtr, 'link', 'set', host.routerIf, 'up']);
        await must(['ip', '-n', host.netns, 'link', 'set', 'lo', 'up']);
        await must(['ip', '-n', host.netns, 'link', 'set', peer, 'name', 'eth0']);
        await must(['ip', '-n', host.netns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
        await must(['ip', '-n', host.netns, 'link', 'set', 'eth0', 'up']);
        await must(['ip', '-n', host.netns, 'route', 'add', 'default', 'via', `198.18.${k}.1`]);
        await must(['ip', 'netns', 'exec', host.netns, 'nft', tableText('input', 'output')]);
        if (host.interconnect) await this.buildInterconnect(host, k);
      }),
    );
  }

  /** The host's second link: eth1 on 198.19.K.0/24, routed to the other hosts' 198.19 addresses. */
  private async buildInterconnect(host: LabHost, k: number): Promise<void> {
    const { address, routerIf } = host.interconnect!;
    const peer = `${this.id}j${k}`;
    await must(['ip', 'link', 'add', routerIf, 'netns', this.routerNetns, 'type', 'veth', 'peer', 'name', peer, 'netns', host.netns]);
    await must(['ip', '-n', this.routerNetns, 'addr', 'add', `198.19.${k}.1/24`, 'dev', routerIf]);
    await must(['ip', '-n', this.routerNetns, 'link', 'set', routerIf, 'up']);
    await must(['ip', '-n', host.netns, 'link', 'set', peer, 'name', 'eth1']);
    await must(['ip', '-n', host.netns, 'addr', 'add', `${address}/24`, 'dev', 'eth1']);
    await must(['ip', '-n', host.netns, 'link', 'set', 'eth1', 'up']);
    await must(['ip', '-n', host.netns, 'route', 'add', '198.19.0.0/16', 'via', `198.19.${k}.1`, 'dev', 'eth1']);
  }

  private relayNetns(k: number): string {
    return `${this.id}-d${k}`;
  }

  /**
   * host ─ veth ─ [relay namespace: a ⇄ delay-relay.py ⇄ b] ─ veth ─ router. Checksum and
   * segmentation offloads are off on every end, so the frames the relay copies are whole.
   */
  private async buildSlowWire(host: LabHost, k: number, hostEnd: string): Promise<void> {
    const relay = this.relayNetns(k);
    const [a, b] = [`${this.id}a${k}`, `${this.id}b${k}`];
    await must(['ip', 'netns', 'add', relay]);
    await must(['ip', 'link', 'add', hostEnd, 'netns', host.netns, 'type', 'veth', 'peer', 'name', a, 'netns', relay]);
    await must(['ip', 'link', 'add', b, 'netns', relay, 'type', 'veth', 'peer', 'name', host.routerIf, 'netns', this.routerNetns]);
    const ends: [string, string][] = [[host.netns, hostEnd], [relay, a], [relay, b], [this.routerNetns, host.routerIf]];
    for (const [netns, dev] of ends) await must(['ip', 'netns', 'exec', netns, 'ethtool', '-K', dev, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
    for (const dev of [a, b]) await must(['ip', '-n', relay, 'link', 'set', dev, 'promisc', 'on', 'up']);
    const child = spawn('ip', ['netns', 'exec', relay, 'python3', DELAY_RELAY, a, b, String(this.delayMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.processes.add(child);
    child.once('exit', () => this.processes.delete(child));
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`lab: the delay relay of ${host.name} exited (${code})`)));
    });
  }

  /**
   * Adds nftables rules, one per line (e.g. `ip saddr 198.18.1.2 tcp dport 29002 drop`): in the
   * router's forward chain, or in a node's own input or output chain.
   */
  async addRules(chain: Chain, rules: string, host?: LabHost): Promise<void> {
    const netns = chain === 'forward' ? this.routerNetns : host?.netns;
    if (!netns) throw new Error(`lab: rules for the ${chain} chain need a host`);
    for (const rule of rules.split('\n').map((line) => line.trim()).filter(Boolean)) {
      await must(['ip', 'netns', 'exec', netns, 'nft', `add rule inet lab ${chain} ${rule}`]);
    }
  }

  /** Removes every rule the tests added, everywhere. */
  async clearRules(): Promise<void> {
    await must(['ip', 'netns', 'exec', this.routerNetns, 'nft', 'flush chain inet lab forward']);
    for (const host of this.hosts) {
      await must(['ip', 'netns', 'exec', host.netns, 'nft', 'flush chain inet lab input']);
      await must(['ip', 'netns', 'exec', host.netns, 'nft', 'flush chain inet lab output']);
    }
  }

  /**
   * Drops `percent`% of the packets the router sends toward each given host, at random, as a
   * lossy link would (and as netem's loss on the router's side of the link does): the packets it
   * forwards, and the resets and ICMP errors it sends itself for a reject rule.
   */
  async loss(hosts: readonly LabHost[], percent: number): Promise<void> {
    // numgen's range is 0-99: `< 100` is refused, so all is a plain drop.
    const chance = percent >= 100 ? '' : `numgen random mod 100 < ${percent} `;
    for (const host of hosts) {
      for (const chain of ['impair', 'impair-out']) {
        await must(['ip', 'netns', 'exec', this.routerNetns, 'nft', `add rule inet lab ${chain} oifname "${host.routerIf}" ${chance}counter drop`]);
      }
    }
  }

  /** How many packets the loss has dropped so far: of those the router forwards, and of its own. */
  async lossDropped(): Promise<{ forwarded: number; own: number }> {
    const dropped = async (chain: string) => {
      const listing = await must(['ip', 'netns', 'exec', this.routerNetns, 'nft', 'list', 'chain', 'inet', 'lab', chain]);
      return [...listing.matchAll(/counter packets (\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
    };
    return { forwarded: await dropped('impair'), own: await dropped('impair-out') };
  }

  async clearLoss(): Promise<void> {
    await must(['ip', 'netns', 'exec', this.routerNetns, 'nft', 'flush chain inet lab impair']);
    await must(['ip', 'netns', 'exec', this.routerNetns, 'nft', 'flush chain inet lab impair-out']);
  }

  /** Runs a command inside a host's namespace to its end. */
  exec(host: LabHost, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return run(['ip', 'netns', 'exec', host.netns, ...argv]);
  }

  /** Starts a long-running command inside a host's namespace; destroy() ends it by its PID. */
  spawn(host: LabHost, argv: string[]): ChildProcess {
    // The controller trusts the lab's agents on first use, in this lab's own known-agents file.
    const env = { ...process.env, PREFLIGHT_KNOWN_AGENTS: path.join(this.scratch, 'known-agents.json') };
    const child = spawn('ip', ['netns', 'exec', host.netns, ...argv], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.processes.add(child);
    child.once('exit', () => this.processes.delete(child));
    return child;
  }

  /**
   * Starts an agent and resolves once it listens on its control port: on the node's address, or,
   * in a lab with an interconnect, on all of them (0.0.0.0, the agent's default), so its
   * listeners answer on both networks.
   */
  async startAgent(host: LabHost, token: string, extra: string[] = []): Promise<ChildProcess> {
    const listen = host.interconnect ? '0.0.0.0:7890' : `${host.address}:7890`;
    const stateDir = path.join(this.scratch, host.name);
    const child = this.spawn(host, [process.execPath, PREFLIGHT_AGENT, '--listen', listen, '--token', token, '--state-dir', stateDir, ...extra]);
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lab: agent on ${host.name} did not start: ${output}`)), 10_000);
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        if (/listening on/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', read);
      child.stderr?.on('data', read);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`lab: agent on ${host.name} exited (${code}): ${output}`));
      });
    });
    return child;
  }

  /** Runs `preflight ARGS` in the controller's namespace to its end. */
  runController(args: string[]): Promise<Finished> {
    const started = performance.now();
    const child = this.spawn(this.controller, [process.execPath, PREFLIGHT, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started })));
  }

  /** Ends every process the lab started and removes every namespace; safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.processes].map((child) => killAndWait(child, 'SIGKILL')));
    for (const netns of this.allNetns()) await run(['ip', 'netns', 'del', netns]);
    rmSync(this.scratch, { recursive: true, force: true });
    // Last: until the namespaces are gone, a killed test process still leaves them to the reaper.
    if (this.reaper) {
      // Unref'd so it never holds a test process open; awaited, it must keep the event loop alive,
      // or a plain script (the bench) ends here with its work undone and exit code 0.
      this.reaper.ref();
      await killAndWait(this.reaper, 'SIGTERM');
    }
  }

  private allNetns(): string[] {
    const relays = this.delayMs > 0 ? this.hosts.map((_, k) => this.relayNetns(k)) : [];
    return [...this.hosts.map((host) => host.netns), ...relays, this.routerNetns];
  }
}

function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/**
 * Starts the watcher that removes the namespaces `PREFIX-*`, kills what runs inside them, and
 * removes the lab's scratch directory, once process `pid` is gone without having destroyed its lab. It runs in its own session, outside
 * jest (whose sandbox never passes exit or signal handlers a real event), so it outlives a test
 * process killed outright, and a Ctrl-C to the terminal's process group; destroy() ends it.
 */
export function startReaper(pid: number, prefix: string, scratch: string): ChildProcess {
  const child = spawn(process.execPath, [REAPER, 'watch', String(pid), prefix, scratch], { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

/**
 * Removes the labs whose test process is gone (killed outright, so it never destroyed them), and
 * kills the processes still running inside their namespaces. A lab's namespaces carry its
 * creator's PID: `pf<pid>x<n>-...`. Returns the namespaces removed.
 */
export async function sweepStaleLabs(): Promise<string[]> {
  return (await must([process.execPath, REAPER, 'sweep'])).split('\n').filter(Boolean);
}

/** A table with accepting base chains; tests add rules to them. */
function tableText(...chains: Chain[]): string {
  const adds = chains.map((chain) => `add chain inet lab ${chain} { type filter hook ${chain} priority 0; policy accept; }`);
  return ['add table inet lab', ...adds].join('; ');
}
