import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { onExit } from 'signal-exit'

/**
 * Server programs Caretaker starts for a while (a throwaway PostgreSQL for a
 * restore test; Redis and PostgreSQL in tests): their output kept for error
 * messages, a bounded stop with escalating signals, and a last-resort
 * cleanup when the process exits or is signalled without having stopped them.
 */
export interface DaemonOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** Run as this user and group (when the test runs as root). */
  uid?: number
  gid?: number
  /**
   * Start the program as the leader of a process group of its own and
   * signal the whole group: what it forks (git's index-pack, a shell's
   * children) goes with it, also when it has exited first.
   */
  processGroup?: boolean
  /**
   * The signal the program gets if this process dies without stopping it
   * (SIGKILL, an OOM kill: nothing of this process runs then), SIGKILL 10 s
   * later if it is still running; `false` for none. Default SIGTERM.
   */
  orphanSignal?: NodeJS.Signals | false
}

export interface Daemon {
  child: ChildProcess
  /** The last 64 KiB the program wrote to stdout and stderr. */
  output(): string
  /** Resolves once the program has exited (with its code or signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  running(): boolean
  /** Send `signal` now (to the process group with `processGroup`); never throws. */
  kill(signal: NodeJS.Signals): void
  /**
   * Send `signal`, wait up to `timeoutMs` for the exit, then SIGKILL.
   * Resolves once the program has exited.
   */
  stop(signal: NodeJS.Signals, timeoutMs?: number): Promise<void>
}

const outputLimit = 64 * 1024

function spawnOptions(options: DaemonOptions): Parameters<typeof spawn>[2] {
  return {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
    ...(options.uid !== undefined ? { uid: options.uid } : {}),
    ...(options.gid !== undefined ? { gid: options.gid } : {}),
    ...(options.processGroup ? { detached: true } : {}),
  }
}

// The watchdog: a shell that reads its stdin, a pipe whose other end only this process holds, until the end of
// file, which comes when this process is gone however it went; then it signals the program (or its group). It
// ignores the terminal's signals: a Ctrl-C reaches this process, which stops the program itself and then the watchdog.
const WATCHDOG = 'trap "" INT TERM HUP QUIT; while read -r _; do :; done; kill -s "$2" -- "$1" 2>/dev/null || exit 0; sleep 10; kill -s KILL -- "$1" 2>/dev/null; exit 0'

/** A watchdog for `pid`: it outlives this process only to stop the program. Returns the function that dismisses it. */
function watchOrphan(pid: number, group: boolean, signal: NodeJS.Signals): () => void {
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'caretaker-watchdog', group ? `-${pid}` : String(pid), signal.replace(/^SIG/, '')], {
    stdio: ['pipe', 'ignore', 'ignore'],
    // Its own process group: a signal for this process's group (the terminal's) does not end it first.
    detached: true,
  })
  watchdog.on('error', () => undefined)
  watchdog.stdin!.on('error', () => undefined)
  // Neither the watchdog nor its pipe keeps this process running.
  watchdog.unref()
  ;(watchdog.stdin as unknown as { unref?: () => void }).unref?.()
  return () => {
    if (watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL')
  }
}

export function startDaemon(command: string, args: string[], options: DaemonOptions = {}): Daemon {
  const child = spawn(command, args, spawnOptions(options))
  const orphanSignal = options.orphanSignal ?? 'SIGTERM'
  const dismissWatchdog = orphanSignal && child.pid !== undefined ? watchOrphan(child.pid, options.processGroup === true, orphanSignal) : () => undefined
  let text = ''
  const collect = (chunk: Buffer): void => {
    text += chunk.toString('utf8')
    if (text.length > outputLimit) text = text.slice(-outputLimit)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  let spawnError: Error | undefined
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      spawnError = err
      collect(Buffer.from(`cannot run ${command}: ${err.message}\n`))
      resolve({ code: null, signal: null })
    })
    child.on('exit', (code, signal) => {
      // A group's other members may outlive its leader: stop() dismisses that watchdog once it has signalled the group.
      if (!options.processGroup) dismissWatchdog()
      resolve({ code, signal })
    })
  })
  const running = (): boolean => spawnError === undefined && child.exitCode === null && child.signalCode === null
  const kill = (signal: NodeJS.Signals): void => {
    if (options.processGroup && child.pid !== undefined) {
      try {
        // A negative pid is the process group (kill(2)).
        process.kill(-child.pid, signal)
        return
      } catch {
        // The group is gone (ESRCH): only the leader may be left to signal.
      }
    }
    if (running()) child.kill(signal)
  }
  return {
    child,
    output: () => text,
    exited,
    running,
    kill,
    async stop(signal, timeoutMs = 15_000) {
      if (!running()) {
        // The leader has exited; what it started may still run in its group.
        if (options.processGroup) kill('SIGKILL')
        dismissWatchdog()
        return
      }
      kill(signal)
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), timeoutMs)
      })
      const result = await Promise.race([exited, late])
      clearTimeout(timer)
      if (result === 'late' && running()) {
        kill('SIGKILL')
        await exited
      }
      if (options.processGroup) kill('SIGKILL')
      dismissWatchdog()
    },
  }
}

/** Run a program to completion; rejects with its output when it fails. */
export async function runCommand(command: string, args: string[], options: DaemonOptions = {}): Promise<string> {
  // A command that runs to completion needs no watchdog (the servers do).
  const daemon = startDaemon(command, args, { orphanSignal: false, ...options })
  const { code, signal } = await daemon.exited
  if (code !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`}):\n${daemon.output()}`)
  }
  return daemon.output()
}

/**
 * Kill `daemon` and remove `dirs` if the test process ends without having
 * stopped them. Returns the function that cancels this (call it from a
 * normal stop).
 */
export function cleanUpAtExit(daemons: () => Daemon[], dirs: string[]): () => void {
  return onExit(() => {
    for (const daemon of daemons()) {
      // Immediate shutdown: there is no time to wait for a clean one.
      daemon.kill('SIGKILL')
    }
    for (const dir of dirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 })
      } catch {
        // Best effort: the process is going away.
      }
    }
  })
}
