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
 * What one line of `ping` output says, or null for a line that says nothing yet. A reply is a
 * line with a TTL or a round-trip time and no error word: every platform and language prints a
 * time on a reply, but Windows prints no TTL on an IPv6 one (`Reply from fd00::12: time<1ms`).
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

/** What to do so that ping can run as the agent's user, for the engineer to read. */
const PING_PERMISSION_FIX =
  "let the agent's user ping (sysctl net.ipv4.ping_group_range, or setcap cap_net_raw+p on ping) or run the agent as root";

/**
 * Lines that are not replies, in the order they are tried. Only a send that the sender's own OS
 * refused (`sendmsg:`/`sendto:` EPERM or EACCES, which is its egress firewall) is `local-denied`;
 * ping failing to start (its socket, its source address, the name) is an `error`, since nothing
 * left the sender and the path is not known: never blocked.
 */
const PING_LINES: readonly { test: RegExp; observe: (line: string) => ProbeObservation }[] = [
  { test: /\b(sendmsg|sendto): operation not permitted/i, observe: () => ({ kind: 'local-denied', code: 'EPERM' }) },
  { test: /\b(sendmsg|sendto): permission denied/i, observe: () => ({ kind: 'local-denied', code: 'EACCES' }) },
  { test: /prohibited|filtered/i, observe: () => ({ kind: 'unreachable', code: 'ICMP-PROHIBITED' }) },
  { test: /time to live exceeded|ttl expired/i, observe: () => ({ kind: 'unreachable', code: 'ICMP-TIME-EXCEEDED' }) },
  { test: /unreachable/i, observe: () => ({ kind: 'unreachable', code: 'ICMP-UNREACHABLE' }) },
  {
    test: /\bbind( icmp socket)?: |cannot assign requested address/i,
    observe: (line) => ({ kind: 'error', code: 'PING-BAD-SOURCE', message: `ping could not send from the address it was given ("${line}"): check the sender's address on this network` }),
  },
  {
    test: /\bsocket: (operation not permitted|permission denied)|missing cap_net_raw/i,
    observe: (line) => ({ kind: 'error', code: 'PING-NOT-PERMITTED', message: `ping may not open its ICMP socket ("${line}"): ${PING_PERMISSION_FIX}` }),
  },
  {
    test: /\bsocket: /i,
    observe: (line) => ({ kind: 'error', code: 'PING-NO-SOCKET', message: `ping could not open its ICMP socket ("${line}"): check that the address family is enabled on the sender` }),
  },
  {
    test: /unknown host|could not find host|name or service not known|temporary failure in name resolution|cannot resolve|bad address/i,
    observe: (line) => ({ kind: 'error', code: 'PING-UNKNOWN-HOST', message: `ping could not resolve the peer ("${line}"): give the node by its address` }),
  },
  {
    test: /general failure|transmit failed/i,
    observe: (line) => ({
      kind: 'error',
      code: 'PING-SEND-FAILED',
      message: `ping could not send ("${line}"): check the sender's network adapter, its route to the peer and its IPsec and firewall policy`,
    }),
  },
];

/** Words that make a line with a TTL or a time something other than a reply. */
const ERROR_WORDS = /unreachable|prohibited|filtered|exceeded|expired|failure|failed|timed out/i;

/**
 * A reply names a TTL, or exactly one round-trip time: Windows' summary (`Minimum = 0ms, Maximum
 * = 0ms, Average = 0ms`) names three.
 */
const isReplyLine = (line: string): boolean =>
  !ERROR_WORDS.test(line) && (/ttl[=:]/i.test(line) || (readPingTime(line) !== null && (line.match(/\d\s*ms\b/gi) ?? []).length === 1));

function classifyPingLine(line: string): ProbeObservation | null {
  const text = line.trim();
  const rule = PING_LINES.find((each) => each.test.test(text));
  if (rule) return rule.observe(text);
  return isReplyLine(text) ? { kind: 'verified' } : null;
}

/**
 * Whether ping's exit code says it failed to run at all, rather than heard no reply: iputils
 * exits 1 on no reply and 2 on any other error; macOS 2 on no reply and a sysexits code (64 and
 * up) on an error. Windows exits 1 for both, so only its lines can tell.
 */
export function pingFailedToRun(platform: NodeJS.Platform, exitCode: number | null): boolean {
  if (exitCode === null || exitCode === 0) return false;
  if (platform === 'win32') return false;
  return platform === 'darwin' ? exitCode !== 2 : exitCode !== 1;
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
    // The last line ping printed, to quote when it fails in a way no line above names.
    let lastLine = '';
    // `env` given, not left to Node's default, so that ping is looked up on the PATH this process
    // holds now (a test's sandbox keeps its own copy of the environment).
    const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, env: process.env });
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
        if (line.trim()) lastLine = line.trim();
        requests = Math.max(requests, Number(line.match(/icmp_seq=(\d+)/)?.[1] ?? 0));
        const reply = readPingReply(line);
        if (reply) return finish(reply.observation, reply.rttMs);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.once('error', (error: NodeJS.ErrnoException) =>
      finish({
        kind: 'error',
        code: error.code ?? 'ENOENT',
        message: `cannot run ping (${error.message}): install ping (iputils-ping on Debian and Ubuntu) or put it on the agent's PATH`,
      }),
    );
    child.once('close', (exitCode: number | null) => {
      if (buffered) read(Buffer.from('\n'));
      if (pingFailedToRun(process.platform, exitCode)) {
        finish({ kind: 'error', code: 'PING-FAILED', message: `ping failed to run (exit code ${exitCode}${lastLine ? `: "${lastLine}"` : ''})` });
      }
      finish({ kind: 'no-answer' });
    });
  });
}
