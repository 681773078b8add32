import { outputMode, type OutputInputs } from './output-mode.js';

/** A run on a terminal, both streams, with no flags and an empty environment, unless told. */
const inputs = (fields: Partial<OutputInputs> = {}): OutputInputs => ({ stdoutIsTTY: true, stderrIsTTY: true, env: {}, ...fields });

describe('outputMode', () => {
  it.each<[string, boolean, boolean, Partial<OutputInputs>]>([
    ['a terminal', true, true, {}],
    ['NO_COLOR=1', false, true, { env: { NO_COLOR: '1' } }],
    ['NO_COLOR set to anything', false, true, { env: { NO_COLOR: 'false' } }],
    ['NO_COLOR set but empty: as if unset', true, true, { env: { NO_COLOR: '' } }],
    ['--no-color', false, true, { colorFlag: false }],
    ['--color (the default, said)', true, true, { colorFlag: true }],
    ['standard output piped: no colour, progress still on the terminal', false, true, { stdoutIsTTY: false }],
    ['standard error piped: colour, no progress', true, false, { stderrIsTTY: false }],
    ['off a terminal altogether', false, false, { stdoutIsTTY: false, stderrIsTTY: false }],
    ['--json - on a terminal: the JSON alone', false, false, { json: '-' }],
    ['--json FILE on a terminal: the table as usual', true, true, { json: 'result.json' }],
    ['--json - off a terminal', false, false, { json: '-', stdoutIsTTY: false, stderrIsTTY: false }],
    ['other variables do not matter', true, true, { env: { TERM: 'xterm-256color', LANG: 'C' } }],
  ])('%s: colour %s, progress %s', (_label, color, progress, fields) => {
    expect(outputMode(inputs(fields))).toEqual({ color, progress });
  });
});
