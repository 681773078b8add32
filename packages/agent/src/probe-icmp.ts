import { spawn } from 'node:child_process';
import type { ProbeObservation, ProbeOrder, ProbeResult } from '@preflight/protocol';

/**
 * Echo requests go out every 200 ms, the shortest interval iputils allows an unprivileged user,
 * so one lost request or reply costs a fifth of a second, not the verdict.
 */
const ECHO_INTERVAL_S = 0.2;

/** How the platform's own `ping` is asked to keep pinging until `seconds` have passed. */
export function pingCommand(platform: NodeJS.Platform, host: string, timeoutMs: number, source?: string): string[] {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  if (platform === 'win32') return ['ping', '-n', String(seconds), '-w', '1000', ...(source ? ['-S', source] : []), host];
  if (platform === 'darwin') return ['ping', '-n', '-i', String(ECHO_INTERVAL_S), '-t', String(seconds), ...(source ? ['-S', source] : []), host];
  return ['ping', '-n', '-i', String(ECHO_INTERVAL_S), '-w', String(seconds), ...(source ? ['-I', source] : []), host];
}

/**
 * What one line of `ping` output says, or null for a line that says nothing yet. A reply carries
 * a TTL on every platform and in every language Windows speaks; ICMP errors name themselves.
 */
export function readPingLine(line: string): ProbeObservation | null {
  return readPingReply(line)?.observation ?? null;
}

/** ping's round-trip time on a reply line: `time=0.31 ms`, `time<1ms`, `Zeit=3ms`; null if none. */
export function readPingTime(line: string): number | null {
  const match = line.match(/[=<]\s*(\d+(?:[.,]\d+)?)\s*ms\b/i);
  return match ? Number(match[1]!.replace(',', '.')) : null;
}

/** A ping line's observation and, for a reply, its round-trip time. */
function readPingReply(line: string): { observation: ProbeObservation; rttMs?: number } | null {
  const observation = classifyPingLine(line);
  if (!observation) return null;
  const rttMs = observation.kind === 'verified' ? readPingTime(line) : null;
  return rttMs === null ? { observation } : { observation, rttMs };
}

function classifyPingLine(line: string): ProbeObservation | null {
  if (/ttl[=:]/i.test(line) && !/unreachable|prohibited|filtered/i.test(line)) return { kind: 'verified' };
  if (/prohibited|filtered/i.test(line)) return { kind: 'unreachable', code: 'ICMP-PROHIBITED' };
  if (/unreachable/i.test(line)) return { kind: 'unreachable', code: 'ICMP-UNREACHABLE' };
  if (/operation not permitted|permission denied/i.test(line)) return { kind: 'local-denied', code: 'EPERM' };
  return null;
}

/**
 * Pings a peer with the OS's own `ping` (no raw sockets, nothing to compile) until the first
 * answer, an ICMP error, or the timeout. Never rejects: every failure is an observation.
 */
export function probeIcmp(order: ProbeOrder, signal: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  const [command, ...args] = pingCommand(process.platform, order.host, order.timeoutMs, order.source);
  if (signal.aborted) {
    return Promise.resolve({ key: order.key, protocol: 'icmp', observation: { kind: 'error', code: 'ABORTED', message: 'the run ended first' }, attempts: 0, elapsedMs: 0 });
  }
  return new Promise((resolve) => {
    let settled = false;
    let buffered = '';
    let requests = 0;
    const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const finish = (observation: ProbeObservation, rttMs?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (child.exitCode === null) child.kill();
      const elapsedMs = Math.round(performance.now() - started);
      resolve({ key: order.key, protocol: 'icmp', observation, attempts: Math.max(1, requests), elapsedMs, ...(rttMs === undefined ? {} : { rttMs }) });
    };
    const onAbort = () => finish({ kind: 'error', code: 'ABORTED', message: 'the run ended first' });
    // ping keeps its own deadline; this one only guards against a ping that hangs.
    const timer = setTimeout(() => finish({ kind: 'no-answer' }), order.timeoutMs + 1000);
    signal.addEventListener('abort', onAbort);
    const read = (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split(/\r?\n/);
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        requests = Math.max(requests, Number(line.match(/icmp_seq=(\d+)/)?.[1] ?? 0));
        const reply = readPingReply(line);
        if (reply) return finish(reply.observation, reply.rttMs);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('error', (error: NodeJS.ErrnoException) =>
      finish({ kind: 'error', code: error.code ?? 'ENOENT', message: `cannot run ping: ${error.message}` }),
    );
    child.once('close', () => {
      if (buffered) read(Buffer.from('\n'));
      finish({ kind: 'no-answer' });
    });
  });
}
