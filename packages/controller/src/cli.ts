import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { PreflightError } from './errors.js';
import { assembleNodes, parseNode, parseTarget, type NodeArgument } from './nodes.js';
import { outputMode } from './output-mode.js';
import { profileJsonSchema } from './profile/json-schema.js';
import { listBuiltinProfiles, loadProfile } from './profile/load.js';
import { renderProfile, renderProfileLine } from './profile/show.js';
import { reportCommand, type ReportFormat } from './report-command.js';
import { DEFAULTS, runCommand, type RunCommandOptions } from './run-command.js';
import { TOOL_VERSION } from './version.js';

const collect = <T>(parse: (text: string) => T) => (text: string, previous: T[] = []) => [...previous, parse(text)];

function wholeNumber(min: number, max: number) {
  return (text: string): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) throw new InvalidArgumentError(`give a whole number from ${min} to ${max}`);
    return value;
  };
}

function parseServe(text: string): { host: string; port: number } {
  const match = text.match(/^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new InvalidArgumentError('write HOST:PORT, e.g. 0.0.0.0:7891');
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

function parseFingerprint(text: string): [string, string] {
  const match = text.match(/^([A-Za-z][\w-]*)=(?:SHA256:)?((?:[0-9A-Fa-f]{2}:?){32})$/i);
  if (!match) throw new InvalidArgumentError('write NODE=SHA256:AB:CD:... as the agent printed it at start');
  return [match[1]!, `SHA256:${match[2]!}`];
}

/** What the output decision reads from this process: which streams are terminals, and the environment. */
const terminal = () => ({ stdoutIsTTY: process.stdout.isTTY === true, stderrIsTTY: process.stderr.isTTY === true, env: process.env });

const program = new Command('preflight')
  .description('Checks, before anyone travels, that a site\'s firewalls pass the ports a cluster needs.')
  .version(TOOL_VERSION)
  .showHelpAfterError()
  .exitOverride(); // usage errors exit 2, as documented, not commander's 1

program
  .command('run')
  .description('check every port of a profile (or of --ports) in both directions between the agents')
  .option('--profile <name|path>', 'a built-in profile (see `preflight profiles list`) or a profile file')
  .option('--ports <proto:ports>', 'ad-hoc ports instead of a profile, e.g. tcp:1801,29001-29007, udp:3527 or icmp (repeatable)', collect(String), [])
  .option('--node <role=host[:port]>', 'an agent to use, by role (repeatable); ROLE@NETWORK=HOST gives its address on another network of the profile', collect(parseNode), [])
  .option('--target <role=host[:port]>', 'a server that runs no agent, for an external role of the profile (repeatable)', collect(parseTarget), [])
  .option('--local', 'start one agent per role on this machine (127.0.0.1, 127.0.0.2, ...) and check them')
  .option('--token <token>', 'the agents\' token (default: $PREFLIGHT_TOKEN)')
  .option('--json <file>', 'write the JSON report to FILE (- for standard output)')
  .option('--report <file>', 'write the report to attach to the requirements verification: FILE.html or FILE.md')
  .option('--timeout <ms>', 'how long a probe waits for an answer', wholeNumber(50, 120_000), DEFAULTS.timeout)
  .option('--concurrency <n>', 'probes each agent may have under way at once (each lowers it to fit its file limit)', wholeNumber(1, 10_000), DEFAULTS.concurrency)
  .option('--fingerprint <node=sha256>', 'the certificate an agent must present, as it printed it (repeatable)', collect(parseFingerprint), [])
  .option('--known-agents <file>', 'the agents trusted on first use (default ~/.preflight/known-agents.json)')
  .option('--insecure', 'plain ws to agents started with --insecure: no encryption, no pinning')
  .option('--serve <host:port>', 'wait for agents started with --connect (they dial this controller) instead of dialling them', parseServe)
  .option('--wait <seconds>', 'with --serve: how long to wait for every agent (default 120)', wholeNumber(1, 3600))
  .option('--engineer <name>', 'who runs the check, for the report')
  .option('--site <name>', 'the customer site, for the report')
  .addOption(new Option('--no-color', 'plain output (also when NO_COLOR is set)'))
  .action(async (options: Omit<RunCommandOptions, 'color' | 'progress' | 'node'> & { color: boolean; node: NodeArgument[] }) => {
    const { color, progress } = outputMode({ ...terminal(), colorFlag: options.color, ...(options.json ? { json: options.json } : {}) });
    process.exitCode = await runCommand({ ...options, node: assembleNodes(options.node), color, progress });
  });

program
  .command('report <result.json>')
  .description('render a saved JSON result (preflight run --json) again, as HTML or Markdown')
  .addOption(new Option('--format <format>', 'html or md (default: from --out, else html)').choices(['html', 'md']))
  .option('--out <file>', 'write to FILE instead of standard output')
  .action((file: string, options: { format?: ReportFormat; out?: string }) => reportCommand(file, options));

const profiles = program.command('profiles').description('the built-in profiles');
profiles
  .command('list')
  .description('list the built-in profiles')
  .action(() => {
    for (const name of listBuiltinProfiles()) console.log(renderProfileLine(name, loadProfile(name)));
  });
profiles
  .command('schema')
  .description('print the JSON Schema of the profile format, for editors')
  .action(() => {
    process.stdout.write(profileJsonSchema());
  });
profiles
  .command('show <name|path>')
  .description('show a profile\'s requirements, with the source and note of each')
  .action((name: string) => {
    process.stdout.write(renderProfile(loadProfile(name), { color: outputMode(terminal()).color }));
  });

try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2; // commander has printed its message
  } else if (error instanceof PreflightError) {
    console.error(`preflight: ${error.message}`);
    process.exitCode = error.exitCode;
  } else {
    console.error('preflight: internal error:', error);
    process.exitCode = 3;
  }
}
