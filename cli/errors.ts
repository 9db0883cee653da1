/**
 * The `caretaker` command's exit codes, as `caretaker --help` lists them.
 * Every error it prints says what to fix.
 */
export const EXIT = {
  /** Done: the outcome reported no failure, every backup file verified. */
  ok: 0,
  /** Done, with a failure to look at: an outcome that failed, a request refused at delivery, a backup file that failed. */
  failed: 1,
  /** The command line is wrong: an unknown command, function or field, a bad value, a missing argument. */
  usage: 2,
  /** Caretaker could not be reached or would not let you: nothing running, connection refused, 401/403, no outcome in time. */
  unavailable: 3,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

export class CliError extends Error {
  readonly exitCode: ExitCode
  constructor(exitCode: ExitCode, message: string) {
    super(message)
    this.exitCode = exitCode
  }
}

export const usageError = (message: string): CliError => new CliError(EXIT.usage, message)
export const unavailable = (message: string): CliError => new CliError(EXIT.unavailable, message)
