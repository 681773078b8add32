/** What a command's output may use: colour in what it prints, and the progress line. */
export type OutputMode = {
  /** ANSI colour in the table on standard output. */
  color: boolean;
  /** The progress line, drawn and erased on standard error while the run goes on. */
  progress: boolean;
};

/** Everything the decision depends on, read from the process by the CLI and given here. */
export type OutputInputs = {
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  env: Readonly<Record<string, string | undefined>>;
  /** false with `--no-color`. */
  colorFlag?: boolean;
  /** `--json FILE`; `-` puts the JSON report on standard output. */
  json?: string;
};

/**
 * Decides colour and progress. Pure, so it is table-tested: a test process is never on a
 * terminal, and a NO_COLOR test through the CLI alone could not fail.
 *
 * Colour only on a terminal, unless `--no-color` or `NO_COLOR` (set and not empty, as
 * no-color.org says) asks for none. Progress only where standard error is a terminal. With
 * `--json -` neither: standard output is then the JSON alone, for a program to read, and
 * nothing else the run writes should look like output.
 */
export function outputMode(inputs: OutputInputs): OutputMode {
  const noColor = (inputs.env['NO_COLOR'] ?? '') !== '';
  const jsonOnStdout = inputs.json === '-';
  return {
    color: inputs.stdoutIsTTY && inputs.colorFlag !== false && !noColor && !jsonOnStdout,
    progress: inputs.stderrIsTTY && !jsonOnStdout,
  };
}
