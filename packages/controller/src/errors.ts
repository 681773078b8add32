/**
 * Fatal errors, each with a machine-readable code and the exit code the CLI maps it to.
 * A probe that fails is never one of these: it becomes a check's outcome.
 *
 * | code              | exit | when                                                     |
 * |-------------------|------|----------------------------------------------------------|
 * | usage             | 2    | the command line is wrong                                |
 * | profile-not-found | 2    | no profile by that name or path                          |
 * | profile-invalid   | 2    | the profile breaks its schema (messages name file, line) |
 * | run-incomplete    | 3    | no check could be run at all                             |
 */
export type FatalCode = 'usage' | 'profile-not-found' | 'profile-invalid' | 'run-incomplete';

export class PreflightError extends Error {
  constructor(
    readonly code: FatalCode,
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'PreflightError';
  }
}

export class UsageError extends PreflightError {
  constructor(message: string) {
    super('usage', message, 2);
  }
}

export class ProfileError extends PreflightError {
  constructor(
    code: 'profile-not-found' | 'profile-invalid',
    message: string,
    /** One line per problem, each naming the file, the line and the field. */
    readonly problems: readonly string[] = [],
  ) {
    super(code, message, 2);
  }
}
