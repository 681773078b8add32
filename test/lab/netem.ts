import { spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mustRun, outputOf, run, stop } from './process.js';

const RELAY = fileURLToPath(new URL('./netem-relay.py', import.meta.url));
/** The socket mark of frames the relay sends: the egress chain lets these through. */
const RELAY_MARK = '0x70666c62';
const TABLE = 'netdev pflab_netem';

/** An impairment of the link toward a host, as netem applies it on the router's side. */
export interface NetemOptions {
  /** Share of the frames the router sends toward the host that are dropped, 0 to 100. */
  lossPercent?: number;
  /** How late every frame the router sends toward the host arrives, in milliseconds. */
  delayMs?: number;
}

/**
 * How impairments are made: `kernel` is `tc qdisc ... netem`; `emulated` is for kernels built
 * without sch_netem (this project's machines): nftables drops for loss and a relay for delay.
 */
export type NetemMode = 'kernel' | 'emulated';

let kernelHasNetem: boolean | undefined;
let emulationMissing: string | null | undefined;

function emulationTools(): string | null {
  if (emulationMissing === undefined) {
    emulationMissing = null;
    for (const [tool, args, pkg] of [['python3', ['--version'], 'python3'], ['ethtool', ['--version'], 'ethtool']] as const) {
      if (spawnSync(tool, args, { stdio: 'ignore' }).status !== 0) {
        emulationMissing = `this kernel has no sch_netem, and emulating it needs \`${tool}\` (apt-get install ${pkg})`;
      }
    }
  }
  return emulationMissing;
}

/** netem on the router's side of each host link, in the kernel's or emulated. */
export class Netem {
  private readonly relays = new Map<string, { child: ChildProcess; delayMs: number }>();
  private readonly wired = new Set<string>();
  private tableMade = false;

  constructor(
    private readonly routerNetns: string,
    /** Starts a tracked process in the router's namespace, its stdin a pipe. */
    private readonly spawnInRouter: (argv: string[]) => ChildProcess,
  ) {}

  /** The mode this machine uses, once the first impairment has been applied (else undefined). */
  get mode(): NetemMode | undefined {
    return kernelHasNetem === undefined ? undefined : kernelHasNetem ? 'kernel' : 'emulated';
  }

  /** Applies `options` to `link` (the router's interface toward the host), replacing any before. */
  async apply(link: string, { lossPercent = 0, delayMs = 0 }: NetemOptions): Promise<void> {
    if (!(lossPercent >= 0 && lossPercent <= 100)) throw new Error(`lab: lossPercent must be 0 to 100, not ${lossPercent}`);
    if (!(delayMs >= 0 && Number.isFinite(delayMs))) throw new Error(`lab: delayMs must be 0 or more, not ${delayMs}`);
    if (lossPercent === 0 && delayMs === 0) return this.clear(link);
    if (kernelHasNetem !== false) {
      const args = [...(delayMs > 0 ? ['delay', `${delayMs}ms`] : []), ...(lossPercent > 0 ? ['loss', `${lossPercent}%`] : [])];
      const result = await run(['tc', '-n', this.routerNetns, 'qdisc', 'replace', 'dev', link, 'root', 'netem', ...args]);
      if (result.code === 0) {
        kernelHasNetem = true;
        return;
      }
      if (!/unknown|not supported|No such file/i.test(result.stderr)) throw new Error(`lab: tc netem on ${link}: ${result.stderr.trim()}`);
      kernelHasNetem = false;
    }
    await this.emulate(link, lossPercent, delayMs);
  }

  /** Removes every impairment from `link`. */
  async clear(link: string): Promise<void> {
    if (kernelHasNetem) {
      await run(['tc', '-n', this.routerNetns, 'qdisc', 'del', 'dev', link, 'root']);
      return;
    }
    if (this.wired.has(link)) await this.nft(`flush chain ${TABLE} egress_${link}`);
    await this.stopRelay(link);
  }

  private nft(script: string): Promise<string> {
    return mustRun(['ip', 'netns', 'exec', this.routerNetns, 'nft', '-f', '-'], { input: script });
  }

  /**
   * Loss: `numgen random` drops in a netdev egress chain on the link. Delay: the same chain sends
   * every frame to a veth pair (q<k> ⇄ z<k>) whose frames the relay takes and sends out late.
   */
  private async emulate(link: string, lossPercent: number, delayMs: number): Promise<void> {
    const missing = emulationTools();
    if (missing) throw new Error(`lab: ${missing}`);
    const [capture, sink] = [`q${link}`, `z${link}`];
    const ns = this.routerNetns;
    if (!this.wired.has(link)) {
      await mustRun(['ip', '-n', ns, 'link', 'add', capture, 'type', 'veth', 'peer', 'name', sink]);
      // Offloads off: the kernel segments and checksums each frame before the relay copies it.
      await mustRun(['ip', 'netns', 'exec', ns, 'ethtool', '-K', capture, 'tx', 'off', 'tso', 'off', 'gso', 'off']);
      await mustRun(['ip', '-n', ns, 'link', 'set', capture, 'up']);
      await mustRun(['ip', '-n', ns, 'link', 'set', sink, 'up']);
      await this.nft(
        [
          ...(this.tableMade ? [] : [`add table ${TABLE}`]),
          // What reaches the sink has been copied by the relay already: it goes no further.
          `add chain ${TABLE} sink_${link} { type filter hook ingress device "${sink}" priority 0; policy drop; }`,
          `add chain ${TABLE} egress_${link} { type filter hook egress device "${link}" priority 0; policy accept; }`,
        ].join('\n'),
      );
      this.tableMade = true;
      this.wired.add(link);
    }
    const relay = this.relays.get(link);
    if (delayMs > 0 && relay?.delayMs !== delayMs) {
      await this.stopRelay(link);
      await this.startRelay(link, capture, delayMs);
    }
    const rules = [
      `flush chain ${TABLE} egress_${link}`,
      `add rule ${TABLE} egress_${link} meta mark ${RELAY_MARK} accept`,
      ...(lossPercent >= 100 ? [`add rule ${TABLE} egress_${link} drop`] : []),
      ...(lossPercent > 0 && lossPercent < 100 ? [`add rule ${TABLE} egress_${link} numgen random mod 10000 < ${Math.round(lossPercent * 100)} drop`] : []),
      ...(delayMs > 0 ? [`add rule ${TABLE} egress_${link} fwd to "${capture}"`] : []),
    ];
    await this.nft(rules.join('\n'));
    if (delayMs === 0) await this.stopRelay(link);
  }

  private async startRelay(link: string, capture: string, delayMs: number): Promise<void> {
    const child = this.spawnInRouter(['python3', RELAY, capture, link, String(delayMs), RELAY_MARK]);
    this.relays.set(link, { child, delayMs });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('did not start in 5 s')), 5000);
        child.stdout?.on('data', () => outputOf(child).stdout.includes('ready') && (clearTimeout(timer), resolve()));
        child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`exited (${code})`))));
      });
    } catch (error) {
      await this.stopRelay(link);
      throw new Error(`lab: the netem relay on ${link} ${(error as Error).message}: ${outputOf(child).stderr.trim()}`);
    }
  }

  private async stopRelay(link: string): Promise<void> {
    const relay = this.relays.get(link);
    if (!relay) return;
    this.relays.delete(link);
    // Let the frames it holds go out first, as they would on a real delayed link.
    await new Promise((resolve) => setTimeout(resolve, Math.min(relay.delayMs + 20, 2000)));
    relay.child.stdin?.end();
    await stop(relay.child, 1000);
  }
}
