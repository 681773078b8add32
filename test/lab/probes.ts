/**
 * Small real-packet probes for lab tests: a TCP server and a TCP connect run with `node -e`
 * inside a host's namespace, and ping's round-trip time.
 */
import type { ChildProcess } from 'node:child_process';
import type { Lab, LabHost } from './lab.js';
import { outputOf } from './process.js';

/**
 * How a TCP connect ended: `connected`, `timeout` (nothing came back: a drop), or the socket
 * error's code: `ECONNREFUSED` (a reset, or ICMP port-unreachable), `EHOSTUNREACH` (ICMP host
 * unreachable or administratively prohibited), `EPERM` (the sender's own output chain rejected).
 */
export type ConnectOutcome = 'connected' | 'timeout' | string;

const CONNECT = `
const [host, port, ms] = process.argv.slice(1);
const socket = require('node:net').connect({ host, port: Number(port) });
const end = (outcome) => { console.log(outcome); socket.destroy(); process.exit(0); };
socket.setTimeout(Number(ms), () => end('timeout'));
socket.once('connect', () => end('connected'));
socket.once('error', (error) => end(error.code || error.message));
`;

/** Connects from `from` to `to`'s address (or a given address) on a TCP port. */
export async function tcpConnect(lab: Lab, from: LabHost, to: LabHost | string, port: number, timeoutMs = 1000): Promise<ConnectOutcome> {
  const address = typeof to === 'string' ? to : to.address;
  const result = await lab.exec(from, [process.execPath, '-e', CONNECT, address, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
  const outcome = result.stdout.trim();
  if (!outcome) throw new Error(`lab: tcp connect from ${from.name} printed nothing (exit ${result.code}): ${result.stderr}`);
  return outcome;
}

const SERVE = `
const net = require('node:net');
const [host, ...ports] = process.argv.slice(1);
Promise.all(ports.map((port) => new Promise((resolve, reject) => {
  const server = net.createServer((socket) => { socket.on('error', () => {}); socket.end('hello\\n'); });
  server.once('error', reject);
  server.listen(Number(port), host, resolve);
}))).then(() => console.log('serving'), (error) => { console.error(error.message); process.exit(1); });
`;

/** Starts a TCP server on `host`'s address and these ports; resolves once it listens. */
export async function startTcpServer(lab: Lab, host: LabHost, ports: readonly number[], timeoutMs = 10_000): Promise<ChildProcess> {
  const child = lab.spawn(host, [process.execPath, '-e', SERVE, host.address, ...ports.map(String)]);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lab: tcp server on ${host.name} did not start: ${outputOf(child).stderr}`)), timeoutMs);
    child.stdout?.on('data', () => outputOf(child).stdout.includes('serving') && (clearTimeout(timer), resolve()));
    child.once('exit', () => (clearTimeout(timer), reject(new Error(`lab: tcp server on ${host.name} exited: ${outputOf(child).stderr}`))));
  });
  return child;
}

/** What ping saw: packets sent and received, and round-trip times in ms (null when none came back). */
export interface PingResult {
  transmitted: number;
  received: number;
  lossPercent: number;
  avgMs: number | null;
  minMs: number | null;
  /** The TTL of the first reply: 63 when one router lies between two lab hosts. */
  ttl: number | null;
  output: string;
}

/** Pings `to` from `from`, `count` times, `intervalS` apart, waiting `waitS` for the last reply. */
export async function ping(lab: Lab, from: LabHost, to: LabHost | string, { count = 3, intervalS = 0.2, waitS = 2 } = {}): Promise<PingResult> {
  const address = typeof to === 'string' ? to : to.address;
  const result = await lab.exec(from, ['ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', String(waitS), address]);
  const output = result.stdout + result.stderr;
  const stats = /(\d+) packets transmitted, (\d+) received/.exec(output);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(output);
  const ttl = /ttl=(\d+)/.exec(output);
  if (!stats) throw new Error(`lab: ping from ${from.name} to ${address} gave no statistics: ${output}`);
  const [transmitted, received] = [Number(stats[1]), Number(stats[2])];
  return {
    transmitted, received, lossPercent: (100 * (transmitted - received)) / transmitted,
    minMs: rtt ? Number(rtt[1]) : null, avgMs: rtt ? Number(rtt[2]) : null,
    ttl: ttl ? Number(ttl[1]) : null, output,
  };
}
