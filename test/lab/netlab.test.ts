import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, describeLab, startReaper, sweepStaleLabs, type LabHost } from './netlab.js';

const namespaces = () => execFileSync('ip', ['netns', 'list']).toString();

/** The command lines of every process running now, from /proc. */
const commandLines = () =>
  readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).flatMap((pid) => {
    try {
      return [readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')];
    } catch {
      return []; // ended meanwhile
    }
  });

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  for (const started = performance.now(); !condition(); await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (performance.now() - started > ms) throw new Error(`${what} did not happen within ${ms} ms`);
  }
}

/** A process started in a namespace as a lab would start it, and a promise of the signal that ends it. */
async function startInside(netns: string): Promise<{ child: ChildProcess; ended: Promise<NodeJS.Signals | null> }> {
  const child = spawn('ip', ['netns', 'exec', netns, 'sleep', '600'], { stdio: 'ignore' });
  const ended = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  await until(() => execFileSync('ip', ['netns', 'pids', netns]).toString().trim() !== '', 5000, `a process in ${netns}`);
  return { child, ended };
}

describeLab('the lab itself', () => {
  it('routes between the nodes through the router, and leaves nothing behind', async () => {
    const lab = await Lab.create({ nodes: 2 });
    const [a, b] = lab.nodes as [LabHost, LabHost];
    const reaper = `lab-reaper.mjs watch ${process.pid} ${lab.routerNetns.replace(/-rtr$/, '')}`;
    try {
      expect(commandLines().some((line) => line.includes(reaper))).toBe(true);
      const ping = await lab.exec(a, ['ping', '-c', '1', '-W', '2', b.address]);
      expect(ping.stdout).toContain('ttl=63'); // one hop: the router
      await lab.addRules('forward', `ip saddr ${a.address} icmp type echo-request drop`);
      expect((await lab.exec(a, ['ping', '-c', '1', '-W', '1', b.address])).code).not.toBe(0);
    } finally {
      await lab.destroy();
    }
    for (const host of lab.hosts) expect(namespaces()).not.toContain(host.netns);
    expect(namespaces()).not.toContain(lab.routerNetns);
    expect(commandLines().some((line) => line.includes(reaper))).toBe(false);
  });

  it("loses the router's own answers to its reject rules too, not only what it forwards", async () => {
    const lab = await Lab.create({ nodes: 2 });
    const [a, b] = lab.nodes as [LabHost, LabHost];
    try {
      await lab.addRules('forward', `ip saddr ${a.address} icmp type echo-request reject with icmpx type admin-prohibited`);
      const ping = () => lab.exec(a, ['ping', '-c', '1', '-W', '1', b.address]);
      expect((await ping()).stdout).toMatch(/Packet filtered|Prohibited/i);
      await lab.loss([a], 100);
      expect((await ping()).stdout).not.toMatch(/Packet filtered|Prohibited/i);
      expect((await lab.lossDropped()).own).toBeGreaterThan(0);
    } finally {
      await lab.destroy();
    }
  });

  it('sweeps the namespaces of a lab whose test process was killed, and kills what still runs in them', async () => {
    const dead = 'pf999999x1-ctl'; // PID 999999 runs nothing here
    execFileSync('ip', ['netns', 'add', dead]);
    const { ended } = await startInside(dead);
    expect(await sweepStaleLabs()).toContain(dead);
    expect(await ended).toBe('SIGKILL');
    expect(namespaces()).not.toContain(dead);
  });

  it("has each lab's reaper remove its namespaces and scratch directory, and kill what runs in them, once the test process is killed outright", async () => {
    const owner = spawn('sleep', ['600'], { stdio: 'ignore' }); // stands in for a test process
    const prefix = `pf${owner.pid}x1`;
    const netns = `${prefix}-n1`;
    const scratch = mkdtempSync(path.join(tmpdir(), 'preflight-netlab-'));
    execFileSync('ip', ['netns', 'add', netns]);
    const { ended } = await startInside(netns);
    const reaper = startReaper(owner.pid!, prefix, scratch);
    const reaperDone = new Promise((resolve) => reaper.once('exit', resolve));
    try {
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(namespaces()).toContain(netns); // its owner still runs
      owner.kill('SIGKILL');
      expect(await ended).toBe('SIGKILL');
      await until(() => !namespaces().includes(netns) && !existsSync(scratch), 3000, `${netns} and ${scratch} removed`);
      await reaperDone; // and it ends, its work done
    } finally {
      owner.kill('SIGKILL');
      reaper.kill('SIGKILL');
      execFileSync('sh', ['-c', `ip netns del ${netns} 2>/dev/null || true`]);
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
