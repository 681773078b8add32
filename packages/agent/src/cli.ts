import { randomBytes } from 'node:crypto';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { DEFAULT_CONTROL_PORT, DEFAULT_RUN_TTL_MS } from '@preflight/protocol';
import { parseListenAddress, type ListenAddress } from './listen-address.js';
import { startAgent } from './server.js';
import path from 'node:path';
import { defaultStateDir, loadTlsIdentity } from '@preflight/protocol';
import { dialController } from './dial.js';
import { AGENT_VERSION } from './version.js';

function listenOption(text: string): ListenAddress {
  const parsed = parseListenAddress(text);
  if ('error' in parsed) throw new InvalidArgumentError(parsed.error);
  return parsed;
}

function secondsOption(text: string): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('give a number of seconds above 0');
  return seconds;
}

const program = new Command('preflight-agent')
  .description('Opens temporary listeners and probes peers on the orders of a preflight controller.')
  .version(AGENT_VERSION)
  .option(
    '--listen <host:port>',
    `control address; temporary listeners bind to the same host (default 0.0.0.0:${DEFAULT_CONTROL_PORT})`,
    listenOption,
  )
  .option('--token <token>', 'shared secret the controller must prove (default: $PREFLIGHT_TOKEN, else a new random one)')
  .option('--max-run-time <seconds>', 'longest a run may keep listeners open', secondsOption, DEFAULT_RUN_TTL_MS / 1000)
  .option('--cert <file>', 'TLS certificate (PEM) for the control port (default: a self-signed one, made once and kept)')
  .option('--key <file>', 'the private key (PEM) of --cert')
  .option('--state-dir <dir>', 'where the self-signed certificate is kept (default ~/.preflight-agent, %ProgramData%\\preflight-agent on Windows)')
  .option('--insecure', 'plain ws on the control port, no TLS: only on a network you trust')
  .option('--connect <url>', 'dial the controller instead (preflight run --serve), e.g. wss://10.1.1.5:7891, where it cannot reach this agent')
  .option('--as <node>', 'with --connect: the node this agent is, as the controller names it (default: matched by address)')
  .option('--controller-fingerprint <sha256>', 'with --connect: the certificate the controller must present (default: trusted on first use)')
  .option('--max-listeners <n>', 'temporary listeners at once (default: what the file limit allows); a run with more opens them in rounds', (text: string) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('give a whole number above 0');
    return value;
  })
  .option('--quiet', 'print only the ready line and errors')
  .showHelpAfterError()
  .exitOverride();

try {
  program.parse();
} catch (error) {
  // commander has printed its message; usage errors exit 2, help and version 0
  process.exit(error instanceof CommanderError && error.exitCode === 0 ? 0 : 2);
}
const options = program.opts<{
  listen?: ListenAddress;
  token?: string;
  maxRunTime: number;
  quiet?: boolean;
  cert?: string;
  key?: string;
  stateDir?: string;
  insecure?: boolean;
  connect?: string;
  as?: string;
  controllerFingerprint?: string;
  maxListeners?: number;
}>();
const listen = options.listen ?? { host: '0.0.0.0', port: DEFAULT_CONTROL_PORT };
const given = options.token ?? process.env.PREFLIGHT_TOKEN;
const token = given || randomBytes(18).toString('base64url');
const log = options.quiet ? () => {} : (line: string) => console.log(`${new Date().toISOString()} ${line}`);

/** Ends the agent with a message that says what to fix (exit code 2: usage or set-up). */
function fatal(message: string): never {
  console.error(`preflight-agent: ${message}`);
  process.exit(2);
}

if (options.connect) {
  // Reverse connection: no control port here; the agent dials the controller.
  let url: URL;
  try {
    url = new URL(options.connect);
    if (url.protocol !== 'wss:' && url.protocol !== 'ws:') throw new Error('not ws');
  } catch {
    fatal(`--connect "${options.connect}": write wss://CONTROLLER:PORT (the address preflight run --serve listens on)`);
  }
  if (url.protocol === 'ws:' && !options.insecure) fatal('--connect ws:// is not encrypted: use wss://, or pass --insecure to mean it');
  const stateDir = options.stateDir ?? defaultStateDir();
  let dialer: ReturnType<typeof dialController>;
  try {
    dialer = dialController({
      url: url.href,
      ...(options.as ? { name: options.as } : {}),
      token,
      listenHost: listen.host,
      maxRunMs: options.maxRunTime * 1000,
      log: (line) => console.log(`${new Date().toISOString()} ${line}`),
      ...(options.controllerFingerprint ? { pinned: options.controllerFingerprint } : {}),
      knownFile: path.join(stateDir, 'known-controllers.json'),
      ...(options.maxListeners ? { maxListeners: options.maxListeners } : {}),
      onFatal: fatal,
    });
  } catch (error) {
    fatal(`cannot read the controllers it trusts: ${(error as Error).message}`);
  }
  if (!given) console.log(`token: ${token}   (give it to the controller with --token)`);
  if (url.protocol === 'ws:') console.log('WARNING: --insecure: the control channel is not encrypted and the controller is not authenticated to the agent by a certificate');
  console.log(`preflight-agent ${AGENT_VERSION} dialling ${url.href}${options.as ? ` as ${options.as}` : ''}`);
  const stop = async (signal: string) => {
    log(`${signal}: closing every listener`);
    await dialer.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
} else await listenForController();

/** The usual way: a control port the controller connects to. */
async function listenForController(): Promise<void> {
  let tls: Awaited<ReturnType<typeof loadTlsIdentity>> | undefined;
  try {
    if (!options.insecure) tls = await loadTlsIdentity({ certFile: options.cert, keyFile: options.key, stateDir: options.stateDir });
  } catch (error) {
    fatal(`cannot set up TLS: ${(error as Error).message}`);
  }

  try {
    const agent = await startAgent({
      ...listen,
      token,
      maxRunMs: options.maxRunTime * 1000,
      log,
      ...(tls ? { tls } : {}),
      ...(options.maxListeners ? { maxListeners: options.maxListeners } : {}),
    });
    if (!given) console.log(`token: ${token}   (give it to the controller with --token)`);
    if (tls) console.log(`fingerprint: ${tls.fingerprint}   (the controller may pin it with --fingerprint ROLE=${tls.fingerprint})`);
    else console.log('WARNING: --insecure: the control channel is not encrypted and the agent is not authenticated to the controller');
    console.log(`preflight-agent ${AGENT_VERSION} listening on ${agent.host}:${agent.port}${tls ? ' (wss)' : ' (ws, insecure)'}`);
    const stop = async (signal: string) => {
      log(`${signal}: closing every listener`);
      await agent.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${listen.host}:${listen.port}`;
    const why =
      code === 'EADDRINUSE'
        ? `${where} is already in use: is another agent running? Choose another port with --listen HOST:PORT.`
        : code === 'EADDRNOTAVAIL'
          ? `${where} is not an address of this machine: give one of its addresses with --listen.`
          : code === 'EACCES'
            ? `not allowed to listen on ${where}: choose a port above 1023 or run with administrative rights.`
            : `cannot listen on ${where}: ${(error as Error).message}`;
    fatal(why);
  }
}
