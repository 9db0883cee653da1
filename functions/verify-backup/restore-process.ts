import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDuration } from '../../shared/duration.ts'
import { cleanUpAtExit, startDaemon, type Daemon } from '../../shared/process/daemon.ts'
import { findProgram, missingProgramMessage } from '../../shared/process/programs.ts'
import type { BackupSet } from './config.ts'
import { fail, type FormatVerdict } from './formats/stream.ts'
import { CaretakerError, Errors, isCaretakerError } from '../../shared/errors.ts'

/**
 * What every restore test but PostgreSQL's shares: a throwaway directory
 * under TMPDIR that is removed whatever happens (also at a timeout, and at
 * exit when the process ends first), programs run in process groups of
 * their own that are killed as a whole, and one time limit, the set's
 * `restore.timeout`, over all of it.
 */

/** The programs the restores run; each may be named by path (tests, or an image with them elsewhere). */
export type RestoreProgram = 'etcd' | 'etcdctl' | 'etcdutl' | 'redis-server' | 'git'
export type RestorePrograms = Partial<Record<RestoreProgram, string>>

/** The Debian package of each program, for the install hint. */
const PACKAGES: Record<RestoreProgram, string> = {
  etcd: 'etcd-server',
  etcdctl: 'etcd-client',
  // Debian 12 has no etcdutl (etcd 3.4); upstream's release tarballs carry it from 3.5 on.
  etcdutl: 'etcd-client',
  'redis-server': 'redis-server',
  git: 'git',
}

/** The path of a program: the one named in `programs`, or found on PATH. */
export function restoreProgram(name: RestoreProgram, programs: RestorePrograms = {}): string | undefined {
  return programs[name] ?? findProgram(name, { packageName: PACKAGES[name] })
}

export function restoreProgramMissing(name: RestoreProgram): string {
  return missingProgramMessage(name, PACKAGES[name])
}

/** The restore ran out of its time limit (not a shutdown). */
/** The restore's time limit has passed (Errors.RestoreTimedOut). */
const timedOutError = (): CaretakerError => new CaretakerError(Errors.RestoreTimedOut, 'the restore test did not finish within its time limit')

/** A program's end: its exit code (null when killed), its output (the last 64 KiB). */
export interface ProgramRun {
  readonly code: number | null
  readonly output: string
}

export interface RunOptions {
  /** Where it runs (the throwaway directory by default). */
  cwd?: string
  /** Added to the scope's environment. */
  env?: NodeJS.ProcessEnv
}

/** One restore's scratch and bounds. */
export interface RestoreScope {
  /** The throwaway directory (under TMPDIR). */
  readonly dir: string
  /** The set's time limit and the caller's signal together. */
  readonly signal: AbortSignal
  /** Environment for the programs: PATH and a C locale, nothing of the function's own. */
  readonly env: NodeJS.ProcessEnv
  /** Start a long-running program (a server) in its own process group; it is killed when the restore ends. */
  start(command: string, args: string[], options?: RunOptions): Daemon
  /** Run a program to its end; killed (its whole group) at the time limit, which then throws Errors.RestoreTimedOut. */
  run(command: string, args: string[], options?: RunOptions): Promise<ProgramRun>
  /** Throws Errors.RestoreTimedOut when the time limit has passed. */
  check(): void
  /** Milliseconds left of the time limit. */
  remainingMs(): number
}

const DEFAULT_TIMEOUT_MS = 15 * 60_000

/** A random secret for a throwaway server that listens on loopback for the length of one restore. */
export function throwawaySecret(): string {
  return randomBytes(24).toString('hex')
}

/** The first line of a program's output that says what went wrong, cut short. */
export function errorLine(output: string, pattern: RegExp): string | undefined {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean)
  const line = lines.find((l) => pattern.test(l)) ?? lines.at(-1)
  return line && line.length > 300 ? `${line.slice(0, 300)}…` : line
}

/** The first line of `version` output, e.g. `etcdctl version: 3.4.23` → `etcdctl 3.4.23`. */
export function versionOf(name: string, output: string): string {
  const version = /(\d+\.\d+\.\d+[^\s,]*)/.exec(output)?.[1]
  return version ? `${name} ${version}` : name
}

/**
 * Runs `body` with a throwaway directory and the set's time limit, and
 * turns the ways it can end into a verdict: its own, a timeout (every
 * program killed, the directory removed), or a shutdown (thrown, as the
 * PostgreSQL restore does: the run is retried, it says nothing of the backup).
 */
export async function boundedRestore(
  set: BackupSet,
  signal: AbortSignal,
  body: (scope: RestoreScope, started: number) => Promise<FormatVerdict>,
): Promise<FormatVerdict> {
  const timeout = set.restore?.timeout ?? '15m'
  const timeoutMs = parseDuration(timeout) ?? DEFAULT_TIMEOUT_MS
  const started = performance.now()
  const bounded = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
  const timedOut = (): boolean => bounded.aborted && !signal.aborted
  const daemons: Daemon[] = []
  const dir = await mkdtemp(join(tmpdir(), 'caretaker-restore-'))
  const cancelExitCleanup = cleanUpAtExit(() => daemons, [dir])
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC', HOME: dir }
  const check = (): void => {
    if (signal.aborted) throw new Error('the restore test was interrupted by shutdown')
    if (bounded.aborted) throw timedOutError()
  }
  const start = (command: string, args: string[], options: RunOptions = {}): Daemon => {
    check()
    const daemon = startDaemon(command, args, { cwd: options.cwd ?? dir, env: { ...env, ...options.env }, processGroup: true })
    daemons.push(daemon)
    return daemon
  }
  const scope: RestoreScope = {
    dir,
    signal: bounded,
    env,
    start,
    check,
    remainingMs: () => Math.max(0, timeoutMs - (performance.now() - started)),
    async run(command, args, options) {
      const daemon = start(command, args, options)
      const onAbort = (): void => daemon.kill('SIGKILL')
      bounded.addEventListener('abort', onAbort, { once: true })
      try {
        const { code } = await daemon.exited
        // The leader is gone; anything it left behind in its group goes too.
        daemon.kill('SIGKILL')
        check()
        return { code, output: daemon.output() }
      } finally {
        bounded.removeEventListener('abort', onAbort)
      }
    },
  }
  try {
    return await body(scope, started)
  } catch (err) {
    if (timedOut() || isCaretakerError(err, Errors.RestoreTimedOut)) {
      return fail(`restore did not finish within ${timeout}`, { restored: false, timeout, durationMs: Math.round(performance.now() - started) })
    }
    if (signal.aborted) throw new Error('the restore test was interrupted by shutdown', { cause: err })
    throw err
  } finally {
    await Promise.all(daemons.map((d) => d.stop('SIGKILL', 5000)))
    await rm(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 })
    cancelExitCleanup()
  }
}

/** A size like `512Mi` or `2Gi` (the schema's pattern) in bytes. */
export function sizeBytes(size: string | undefined): number | undefined {
  if (size === undefined) return undefined
  const m = /^([0-9]+)(Ki|Mi|Gi|Ti)?$/.exec(size)
  if (!m) return undefined
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 }[m[2] as 'Ki'] ?? 1
  return Number(m[1]) * unit
}

/** Sleep a little, unless the restore's time is up (then Errors.RestoreTimedOut). */
export async function pause(scope: RestoreScope, ms: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      scope.signal.removeEventListener('abort', done)
      resolve()
    }
    scope.signal.addEventListener('abort', done, { once: true })
  })
  scope.check()
}
