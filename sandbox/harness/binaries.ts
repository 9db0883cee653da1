import { findProgram, missingProgramMessage, searchPath, type ProgramOptions } from '../../shared/process/programs.ts'

/**
 * Locating the server programs tests start (PostgreSQL, Redis, …).
 *
 * A missing program is a setup problem, never a silent pass: in CI
 * (CI=true) it is an error naming the install command; elsewhere the
 * tests that need it skip with that same message.
 */
export type BinaryOptions = ProgramOptions

export { searchPath }

export function missingBinaryMessage(name: string, packageName: string): string {
  return missingProgramMessage(name, packageName)
}

/**
 * The absolute path of program `name`, looked up on PATH and, for
 * PostgreSQL programs, in Debian's versioned directories (the highest
 * version wins). When it is missing: under CI=true throws an Error with
 * the install command; otherwise returns undefined.
 */
export function findBinary(name: string, options: BinaryOptions): string | undefined {
  const found = findProgram(name, options)
  if (found === undefined && (options.env ?? process.env).CI === 'true') throw new Error(missingBinaryMessage(name, options.packageName))
  return found
}

/**
 * For `t.test(name, { skip: binarySkipReason(…) }, …)` or
 * `t.plan(0, reason)`: false when the program is there, the install hint
 * when it is not (and, under CI=true, throws instead of skipping).
 */
export function binarySkipReason(name: string, options: BinaryOptions): string | false {
  return findBinary(name, options) === undefined ? missingBinaryMessage(name, options.packageName) : false
}
