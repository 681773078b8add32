/**
 * preflight against its marks, and against nmap on the same ports and rules, in the firewall lab.
 *
 *   npm run bench                      every case, 3 runs each (as root)
 *   npm run bench -- --runs 5 --case nec-dropped
 *
 * Prints one row per case and writes the same figures to bench/results.json.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentConnection } from '@preflight/controller';
import { PREFLIGHT, startAgentProcess } from '../test/support/cli.js';
import { Lab, labUnsupported, type LabHost } from '../test/lab/netlab.js';
import { TOKEN, between } from '../test/lab/scenario.js';

const argv = process.argv.slice(2);
const option = (name: string) => {
  const index = argv.indexOf(`--${name}`);
  return index >= 0 ? argv[index + 1] : undefined;
};
const RUNS = Number(option('runs') ?? 3);
const ONLY = option('case')?.split(',');
const TIMEOUT_MS = 3000; // preflight's default probe timeout
const RESULTS = new URL('./results.json', import.meta.url);

/** The TCP and UDP ports nec-symmetry checks between its two servers. */
const NEC_TCP = [135, 139, 445, 1801, 12090, 29001, 29002, 29003, 29004, 29005, 29007, 49107];
const NEC_UDP = [137, 1801, 3527, 29003, 29007, 29106, 49107];

type Row = {
  /** The case's name, as --case takes it. */
  name?: string;
  case: string;
  mark: string;
  preflightMs: number;
  probeMs?: number;
  nmapMs?: number;
  ratio?: number;
  met: boolean;
  verdictsRight: boolean;
  agentRssMb?: number;
  controllerRssMb?: number;
  note?: string;
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const mb = (kb: number) => Math.round(kb / 1024);

/** Peak resident memory of a process so far, in kB (VmHWM), or 0 once it has gone. */
function peakRss(pid: number | undefined): number {
  try {
    return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Resident memory of a process now, in kB (VmRSS). */
function rssNow(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
}

/** Settles a process's memory after a burst of work: what it keeps, not what it has yet to collect. */
const SETTLE_MS = 1000;

type Run = { ms: number; code: number | null; report: { checks: { key: string; status: string; reason: string }[]; timings: { probeMs: number } }; rssKb: number };

/** Runs the controller in the lab, sampling its peak memory while it runs. */
async function preflight(lab: Lab, args: string[]): Promise<Run> {
  const json = path.join(os.tmpdir(), `preflight-bench-${process.pid}.json`);
  const started = performance.now();
  const child = lab.spawn(lab.controller, [process.execPath, PREFLIGHT, 'run', ...args, '--token', TOKEN, '--json', json]);
  let rssKb = 0;
  const sampler = setInterval(() => (rssKb = Math.max(rssKb, peakRss(child.pid))), 20);
  child.stdout?.resume();
  child.stderr?.resume();
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearInterval(sampler);
  const ms = performance.now() - started;
  return { ms, code, report: JSON.parse(readFileSync(json, 'utf8')), rssKb };
}

/** nmap's TCP connect scan, one direction, as the issue measured it; wall time in ms. */
async function nmap(lab: Lab, from: LabHost, to: LabHost, ports: string): Promise<{ ms: number; open: number }> {
  const started = performance.now();
  const result = await lab.exec(from, ['nmap', '-sT', '-Pn', '-n', '-T4', '-p', ports, to.address]);
  const ms = performance.now() - started;
  if (result.code !== 0) throw new Error(`nmap failed: ${result.stderr}`);
  const open = Number(result.stdout.match(/(\d+) open/)?.[1] ?? (result.stdout.match(/\/tcp\s+open/g) ?? []).length);
  return { ms, open };
}

/** A program of its own listening on every port of a range, so nmap has something to find. */
async function holdPorts(lab: Lab, host: LabHost, low: number, high: number): Promise<ChildProcess> {
  const script = [
    'import socket, resource, time',
    'hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]',
    'resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))',
    'held = []',
    `for port in range(${low}, ${high + 1}):`,
    '    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `    s.bind(('${host.address}', port)); s.listen(64); held.append(s)`,
    'print("ready", flush=True)',
    'time.sleep(3600)',
  ].join('\n');
  const child = lab.spawn(host, ['python3', '-c', script]);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`port holder exited (${code})`)));
  });
  return child;
}

/** Not tested because the run was not given something (a target, an optional role, an address): says nothing of the rules. */
const NOT_ASKED = new Set(['no-target', 'no-node', 'no-address']);

/** Every check the run could test reads as `expected`; the ones it was not asked to test say so. */
function allMatch(run: Run, expected: (key: string) => string): boolean {
  return run.report.checks.every((check) =>
    check.status === 'not-tested' && NOT_ASKED.has(check.reason) ? true : `${check.status}/${check.reason}` === expected(check.key),
  );
}

/** Runs a case RUNS times; the median run is the figure. */
async function repeat(runs: number, once: () => Promise<Run>): Promise<{ runs: Run[]; median: Run }> {
  const all: Run[] = [];
  for (let i = 0; i < runs; i++) all.push(await once());
  const mid = median(all.map((run) => run.ms));
  return { runs: all, median: all.find((run) => run.ms === mid)! };
}

async function withLab<T>(nodes: number, use: (lab: Lab) => Promise<T>, agentArgs: string[] = []): Promise<T & { agentRssKb: number }> {
  const lab = await Lab.create({ nodes });
  try {
    const agents = await Promise.all(lab.nodes.map((node) => lab.startAgent(node, TOKEN, agentArgs)));
    const result = await use(lab);
    return { ...result, agentRssKb: Math.max(...agents.map((agent) => peakRss(agent.pid))) };
  } finally {
    await lab.destroy();
  }
}

type Held = { idleKb: number; kb: number; bound: number; ms: number };

/**
 * Starts an agent on a loopback address of its own (no other socket of this machine uses its
 * ports), has it listen on `count` ports of the dynamic range, and reads its resident memory
 * once the listeners are held; then releases them and stops it.
 */
async function holdListeners(protocol: 'tcp' | 'udp', count: number): Promise<Held> {
  const host = '127.0.0.93';
  const { child: agent, port } = await startAgentProcess(['--listen', `${host}:0`, '--insecure', '--token', TOKEN]);
  try {
    const settled = async () => {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      return rssNow(agent.pid!);
    };
    const connection = await AgentConnection.connect({ name: 'bench', role: 'peer', host, port }, TOKEN);
    try {
      await connection.request({ type: 'begin', runId: 'bench-memory', runKey: '0'.repeat(64), ttlMs: 120_000, targets: [host] });
      const idleKb = await settled();
      const listeners = Array.from({ length: count }, (_, i) => ({ protocol, port: 49152 + i }));
      const started = performance.now();
      const { listeners: results } = await connection.request({ type: 'listen', listeners });
      const ms = performance.now() - started;
      const kb = await settled();
      await connection.request({ type: 'end' });
      return { idleKb, kb, ms, bound: results.filter((result) => result.state === 'bound').length };
    } finally {
      connection.close();
    }
  } finally {
    agent.kill('SIGTERM');
  }
}

const pair = (lab: Lab) => lab.nodes as [LabHost, LabHost];
const nodesArgs = (lab: Lab, names = ['a', 'b']) => lab.nodes.flatMap((node, i) => ['--node', `${names[i] ?? `n${i + 1}`}=${node.address}`]);

const cases: Record<string, () => Promise<Row>> = {
  async 'nec-open'() {
    const { median: run, runs, agentRssKb } = await withLab(2, async (lab) =>
      repeat(RUNS, () => preflight(lab, ['--profile', 'nec-symmetry', ...nodesArgs(lab, ['primary', 'secondary'])])),
    );
    return {
      case: 'nec-symmetry, all open',
      mark: 'command < 2000 ms, probing < 500 ms',
      preflightMs: run.ms,
      probeMs: run.report.timings.probeMs,
      met: run.ms < 2000 && run.report.timings.probeMs < 500,
      verdictsRight: runs.every((each) => allMatch(each, () => 'open/verified')),
      agentRssMb: mb(agentRssKb),
      controllerRssMb: mb(run.rssKb),
    };
  },

  async 'nec-dropped'() {
    const { median: run, runs, nmapMs, agentRssKb } = await withLab(2, async (lab) => {
      const [a, b] = pair(lab);
      await lab.addRules('forward', `${between(a, b, '', 'drop')}\n${between(b, a, '', 'drop')}`);
      const ports = NEC_TCP.join(',');
      const nmapMs = (await nmap(lab, a, b, ports)).ms + (await nmap(lab, b, a, ports)).ms;
      return { ...(await repeat(RUNS, () => preflight(lab, ['--profile', 'nec-symmetry', ...nodesArgs(lab, ['primary', 'secondary'])]))), nmapMs };
    });
    const mark = 1.2 * TIMEOUT_MS + 500;
    return {
      case: 'nec-symmetry, everything dropped',
      mark: `< 1.2 x timeout + 500 ms = ${mark} ms`,
      preflightMs: run.ms,
      probeMs: run.report.timings.probeMs,
      nmapMs,
      met: run.ms < mark,
      verdictsRight: runs.every((each) => allMatch(each, () => 'blocked/filtered')),
      agentRssMb: mb(agentRssKb),
      controllerRssMb: mb(run.rssKb),
      note: `nmap: the ${NEC_TCP.length} TCP ports, both directions; preflight also the ${NEC_UDP.length} UDP ports, verified`,
    };
  },

  async 'dynamic-open'() {
    const { median: run, runs, nmapMs, agentRssKb } = await withLab(2, async (lab) => {
      const [a, b] = pair(lab);
      const holders = [await holdPorts(lab, a, 49152, 65535), await holdPorts(lab, b, 49152, 65535)];
      const there = await nmap(lab, a, b, '49152-65535');
      const back = await nmap(lab, b, a, '49152-65535');
      for (const holder of holders) holder.kill('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (there.open !== 16384 || back.open !== 16384) throw new Error(`nmap saw ${there.open} and ${back.open} open ports, not 16384`);
      return { ...(await repeat(RUNS, () => preflight(lab, ['--ports', 'tcp:49152-65535', ...nodesArgs(lab)]))), nmapMs: there.ms + back.ms };
    }, ['--max-run-time', '600']);
    return {
      case: 'TCP 49152-65535, both directions, all open',
      mark: '< 2 x nmap (both directions), listeners included',
      preflightMs: run.ms,
      probeMs: run.report.timings.probeMs,
      nmapMs,
      met: run.ms < 2 * nmapMs,
      verdictsRight: runs.every((each) => allMatch(each, () => 'open/verified')),
      agentRssMb: mb(agentRssKb),
      controllerRssMb: mb(run.rssKb),
    };
  },

  async 'tcp-1024-dropped'() {
    const { median: run, runs, nmapMs, agentRssKb } = await withLab(2, async (lab) => {
      const [a, b] = pair(lab);
      await lab.addRules('forward', `${between(a, b, 'tcp dport 20000-21023', 'drop')}\n${between(b, a, 'tcp dport 20000-21023', 'drop')}`);
      const nmapMs = (await nmap(lab, a, b, '20000-21023')).ms + (await nmap(lab, b, a, '20000-21023')).ms;
      return { ...(await repeat(RUNS, () => preflight(lab, ['--ports', 'tcp:20000-21023', ...nodesArgs(lab)]))), nmapMs };
    });
    return {
      case: 'TCP 1024 ports, both directions, all dropped',
      mark: `< 2 x timeout = ${2 * TIMEOUT_MS} ms`,
      preflightMs: run.ms,
      probeMs: run.report.timings.probeMs,
      nmapMs,
      met: run.ms < 2 * TIMEOUT_MS,
      verdictsRight: runs.every((each) => allMatch(each, () => 'blocked/filtered')),
      agentRssMb: mb(agentRssKb),
      controllerRssMb: mb(run.rssKb),
    };
  },

  async 'udp-1024-loss'() {
    const { median: run, runs, agentRssKb } = await withLab(2, async (lab) => {
      await lab.loss(lab.hosts, 20);
      return repeat(RUNS, () => preflight(lab, ['--ports', 'udp:20000-21023', ...nodesArgs(lab)]));
    });
    return {
      case: 'UDP 1024 ports, both directions, all open, 20% loss',
      mark: `every verdict right, < 2 x timeout = ${2 * TIMEOUT_MS} ms`,
      preflightMs: run.ms,
      probeMs: run.report.timings.probeMs,
      verdictsRight: runs.every((each) => allMatch(each, () => 'open/verified')),
      met: run.ms < 2 * TIMEOUT_MS && runs.every((each) => allMatch(each, () => 'open/verified')),
      agentRssMb: mb(agentRssKb),
      controllerRssMb: mb(run.rssKb),
      note: 'nmap can only say open|filtered for UDP',
    };
  },

  async 'mesh-12'() {
    const ports = ['--ports', `tcp:${NEC_TCP.join(',')}`, '--ports', `udp:${NEC_UDP.join(',')}`];
    const { median: run, runs, agentRssKb } = await withLab(12, async (lab) => repeat(RUNS, () => preflight(lab, [...ports, ...nodesArgs(lab)])));
    return {
      case: '12 nodes, full mesh, nec-symmetry ports (132 ordered pairs)',
      mark: '< 10000 ms; controller < 200 MB',
      preflightMs: run.ms,
      probeMs: run.report.timings.probeMs,
      met: run.ms < 10_000 && run.rssKb < 200 * 1024,
      verdictsRight: runs.every((each) => each.report.checks.length === 132 * 19 && allMatch(each, () => 'open/verified')),
      agentRssMb: mb(agentRssKb),
      controllerRssMb: mb(run.rssKb),
    };
  },

  async 'memory-holding'() {
    // An agent on loopback, driven over its control channel as the controller drives it, holding
    // the listeners and doing nothing else: its resident memory then is what holding them costs.
    // 16384 TCP and 16384 UDP at once need 32768 files and this machine's hard limit is 20000 (no
    // CAP_SYS_RESOURCE), so each half is held by an agent of its own and the two are added up.
    const tcp = await holdListeners('tcp', 16384);
    const udp = await holdListeners('udp', 16384);
    const idleKb = Math.max(tcp.idleKb, udp.idleKb);
    const bothKb = idleKb + (tcp.kb - tcp.idleKb) + (udp.kb - udp.idleKb);
    const each = (held: Held) => ((held.kb - held.idleKb) / held.bound).toFixed(1);
    return {
      case: 'an agent holding 16384 TCP and 16384 UDP listeners (each half held and measured alone)',
      mark: 'agent < 200 MB RSS',
      preflightMs: tcp.ms + udp.ms,
      met: bothKb < 200 * 1024,
      verdictsRight: tcp.bound === 16384 && udp.bound === 16384,
      agentRssMb: mb(bothKb),
      note: `idle agent ${mb(idleKb)} MB; ${tcp.bound} TCP held: ${mb(tcp.kb)} MB (${each(tcp)} kB each); ${udp.bound} UDP held: ${mb(udp.kb)} MB (${each(udp)} kB each); both at once ${mb(bothKb)} MB; time: the two listen requests`,
    };
  },

  async 'memory-listeners'() {
    // A listener is a file, and this machine's hard limit is 20000 files with no CAP_SYS_RESOURCE
    // to raise it: 32768 listeners cannot be held here. This holds what fits, 16384 TCP and
    // UDP_LISTENERS UDP, and says what the rest would cost at the measured rate.
    const UDP_LISTENERS = 2000;
    const idle = await withLab(2, async () => ({}));
    const { median: run, runs, agentRssKb } = await withLab(2, async (lab) =>
      repeat(1, () => preflight(lab, ['--ports', 'tcp:49152-65535', '--ports', `udp:49152-${49151 + UDP_LISTENERS}`, ...nodesArgs(lab)])),
    );
    const listeners = 16384 + UDP_LISTENERS;
    const perListenerKb = (agentRssKb - idle.agentRssKb) / listeners;
    const projectedKb = idle.agentRssKb + perListenerKb * 32768;
    return {
      case: `an agent's peak while it probes and answers TCP 49152-65535 and UDP 49152-${49151 + UDP_LISTENERS} both ways (all the file limit allows)`,
      mark: 'peak < 200 MB, projected to 16384 TCP + 16384 UDP',
      preflightMs: run.ms,
      probeMs: run.report.timings.probeMs,
      met: projectedKb < 200 * 1024,
      verdictsRight: runs.every((each) => allMatch(each, () => 'open/verified')),
      agentRssMb: mb(agentRssKb),
      controllerRssMb: mb(run.rssKb),
      note: `idle agent ${mb(idle.agentRssKb)} MB; ${perListenerKb.toFixed(1)} kB per listener; 32768 listeners projected at ${mb(projectedKb)} MB (hard file limit 20000 here)`,
    };
  },
};

async function main(): Promise<void> {
  if (labUnsupported) {
    console.error(`bench: ${labUnsupported}`);
    process.exit(2);
  }
  let nmapVersion: string;
  try {
    nmapVersion = execFileSync('nmap', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().split('\n')[0]!;
  } catch {
    console.error('bench: nmap is not installed, and the cases compare with it: apt-get install nmap');
    process.exit(2);
  }
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}, ${nmapVersion}`;
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  console.log(`machine: ${machine}\ncommand: ${command} (median of ${RUNS} runs; memory: peak RSS)\n`);
  const rows: Row[] = [];
  for (const [name, run] of Object.entries(cases)) {
    if (ONLY && !ONLY.includes(name)) continue;
    process.stdout.write(`${name} ...`);
    const row = { name, ...(await run()) };
    if (row.nmapMs !== undefined) row.ratio = Number((row.preflightMs / row.nmapMs).toFixed(2));
    rows.push(row);
    process.stdout.write(`\r${formatRow(row)}\n`);
  }
  // Cases not run this time keep their last figures, each row with the command that made it.
  const date = new Date().toISOString();
  let kept: (Row & { command?: string; date?: string })[] = [];
  try {
    kept = (JSON.parse(readFileSync(RESULTS, 'utf8')) as { rows: typeof kept }).rows.filter((row) => row.name && !rows.some((each) => each.name === row.name));
  } catch {
    // no earlier results
  }
  const order = Object.keys(cases);
  const all = [...kept, ...rows.map((row) => ({ ...row, command, date }))].sort((x, y) => order.indexOf(x.name ?? "") - order.indexOf(y.name ?? ""));
  writeFileSync(RESULTS, `${JSON.stringify({ machine, runs: RUNS, rows: all }, null, 2)}\n`);
  console.log(`\nwritten to bench/results.json`);
}

function formatRow(row: Row): string {
  const nmapPart = row.nmapMs === undefined ? 'nmap -' : `nmap ${Math.round(row.nmapMs)} ms, ratio ${row.ratio}`;
  const memory = `agent ${row.agentRssMb ?? '-'} MB, controller ${row.controllerRssMb ?? '-'} MB`;
  const verdict = `${row.met ? 'MET' : 'NOT MET'}${row.verdictsRight ? '' : ', VERDICTS WRONG'}`;
  return `${row.case}: preflight ${Math.round(row.preflightMs)} ms (probing ${Math.round(row.probeMs ?? 0)} ms); ${nmapPart}; ${memory}; mark ${row.mark}: ${verdict}${row.note ? ` (${row.note})` : ''}`;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
