import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../../shared/logger.ts'
import { nodeChildEnv } from '../../shared/process/node-env.ts'

/**
 * Runs each function of a functions directory as its own process on a
 * loopback port, as Knative runs one function per pod, and reports the URL
 * each one listens on once it says it is ready.
 */

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url))

export interface LocalFunction {
  readonly name: string
  readonly url: string
  readonly child: ChildProcess
}

export interface FunctionSpec {
  readonly name: string
  /** The module file: `<dir>/<name>/index.ts`. */
  readonly module: string
}

/** Every `<dir>/<name>/index.ts`, in name order. */
export async function discoverFunctions(dir: string): Promise<FunctionSpec[]> {
  if (!existsSync(dir)) return []
  const entries = await readdir(dir, { withFileTypes: true })
  return entries
    // A symbolic link to a function's folder counts too.
    .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && existsSync(join(dir, e.name, 'index.ts')))
    .map((e) => ({ name: e.name, module: resolve(dir, e.name, 'index.ts') }))
    .sort((a, b) => a.name.localeCompare(b.name))
}

// Generous: a busy machine (or a first start that fills the disk cache) is slow, and a
// function that is merely slow must not be taken for one that cannot start.
export const READY_TIMEOUT_MS = 120_000

/** Start one function process; resolves when it logs `function ready`. */
export function startFunctionProcess(spec: FunctionSpec, env: Record<string, string>, logger: Logger, signal?: AbortSignal): Promise<LocalFunction> {
  const child = spawn(process.execPath, ['shared/runtime/main.ts', spec.module], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', ...nodeChildEnv(), ...env, HOST: '127.0.0.1', PORT: '0', FUNCTION_NAME: spec.name },
    // The IPC channel is the child's sign of life of this process: if it dies, even by SIGKILL, the function stops.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  // The channel itself must not keep this process running.
  child.channel?.unref()
  const log = logger.child({ function: spec.name })
  return new Promise((resolvePromise, reject) => {
    let settled = false
    const timer = setTimeout(() => fail(new Error(`${spec.name} did not become ready within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS)
    const fail = (err: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', aborted)
      child.kill('SIGKILL')
      reject(err)
    }
    // Stopped while starting: the half-started process goes too.
    const aborted = (): void => fail(new Error(`${spec.name} was stopped before it was ready`))
    if (signal?.aborted) aborted()
    else signal?.addEventListener('abort', aborted, { once: true })
    let buffer = ''
    // The function's own JSON log lines pass through unchanged: one stream to read.
    child.stdout!.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk)
      if (settled) return
      buffer += chunk.toString('utf8')
      let nl
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        let line: { msg?: unknown; address?: unknown }
        try {
          line = JSON.parse(text) as typeof line
        } catch {
          continue
        }
        if (line.msg === 'function ready' && typeof line.address === 'string') {
          settled = true
          clearTimeout(timer)
          signal?.removeEventListener('abort', aborted)
          resolvePromise({ name: spec.name, url: line.address, child })
          return
        }
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk))
    child.on('exit', (code, signal) => {
      if (!settled) fail(new Error(`${spec.name} exited before it was ready (code ${code ?? 'none'}, signal ${signal ?? 'none'}); its log above says why`))
      else log.info({ code, signal }, 'function process exited')
    })
  })
}

/**
 * Starts every function, a few at a time: a start is mostly CPU (loading the
 * modules), so as many at once as there are cores, not one after another,
 * in the order of `specs`. A function asked for (`demand`: a request waits
 * for it) starts at once if it has not begun, beside the others, as a
 * request makes Knative scale a Service from zero without waiting its turn;
 * meanwhile no other start begins, so the one a person waits for has the
 * cores (the starts already under way go on). A function that fails to start does not stop the others: its `started()`
 * rejects with the reason.
 */
export class FunctionStarter {
  readonly #queue: FunctionSpec[]
  readonly #starts = new Map<string, PromiseWithResolvers<LocalFunction>>()
  readonly #running: LocalFunction[] = []
  readonly #begun: string[] = []
  readonly #extra: Array<Promise<void>> = []
  /** Starts asked for under way: the queue waits while there are any. */
  #demanding = 0
  readonly #resume: Array<() => void> = []
  readonly #abort = new AbortController()
  readonly #workers: Promise<void>
  readonly #envOf: (name: string) => Promise<Record<string, string>>
  readonly #logger: Logger

  /** Held back until begin(): the platform's own start has the cores first (a start asked for still begins at once). */
  #paused: boolean

  constructor(
    specs: readonly FunctionSpec[],
    envOf: (name: string) => Promise<Record<string, string>>,
    logger: Logger,
    options: { concurrency?: number; paused?: boolean } = {},
  ) {
    const concurrency = options.concurrency ?? Math.max(2, availableParallelism())
    this.#paused = options.paused ?? false
    this.#envOf = envOf
    this.#logger = logger
    this.#queue = [...specs]
    for (const spec of specs) {
      const start = Promise.withResolvers<LocalFunction>()
      // Whoever asks sees the rejection; an unasked one is not an unhandled rejection.
      start.promise.catch(() => undefined)
      this.#starts.set(spec.name, start)
    }
    this.#workers = Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, () => this.#work())).then(() => undefined)
  }

  /** The function's start: resolves once it is ready, rejects if it cannot start (or the starter is stopped first). */
  started(name: string): Promise<LocalFunction> {
    const start = this.#starts.get(name)
    if (!start) throw new Error(`no function ${name} to start`)
    return start.promise
  }

  /** Every start, settled, in the order of the specs. */
  all(): Promise<Array<PromiseSettledResult<LocalFunction>>> {
    return Promise.allSettled([...this.#starts.values()].map((s) => s.promise))
  }

  /** The functions whose start has begun, in the order they began. */
  begun(): readonly string[] {
    return [...this.#begun]
  }

  /** A request waits for this function: start it now if it has not begun. */
  demand(name: string): void {
    const i = this.#queue.findIndex((s) => s.name === name)
    if (i < 0 || this.#abort.signal.aborted) return
    const [spec] = this.#queue.splice(i, 1)
    this.#demanding++
    this.#extra.push(this.#start(spec!).finally(() => {
      if (--this.#demanding === 0) this.#wake()
    }))
  }

  /** Start the queue (a starter made paused). */
  begin(): void {
    this.#paused = false
    this.#wake()
  }

  /** Begin no more starts, end the ones under way, and stop every process started. */
  async stop(): Promise<void> {
    this.#abort.abort()
    this.begin()
    await this.#workers
    await Promise.all(this.#extra)
    await stopFunctionProcesses(this.#running)
  }

  async #work(): Promise<void> {
    for (;;) {
      while (this.#demanding > 0 || this.#paused) await new Promise<void>((resolve) => this.#resume.push(resolve))
      const spec = this.#queue.shift()
      if (!spec) return
      await this.#start(spec)
    }
  }

  #wake(): void {
    for (const resume of this.#resume.splice(0)) resume()
  }

  async #start(spec: FunctionSpec): Promise<void> {
    const start = this.#starts.get(spec.name)!
    if (this.#abort.signal.aborted) {
      start.reject(new Error(`${spec.name} was not started: the platform is stopping`))
      return
    }
    this.#begun.push(spec.name)
    try {
      const fn = await startFunctionProcess(spec, await this.#envOf(spec.name), this.#logger, this.#abort.signal)
      this.#running.push(fn)
      start.resolve(fn)
    } catch (err) {
      start.reject(err instanceof Error ? err : new Error(String(err)))
    }
  }
}

/** SIGTERM every process and wait for each to drain and exit. */
export async function stopFunctionProcesses(functions: readonly LocalFunction[], graceMs = 35_000): Promise<void> {
  await Promise.all(functions.map((f) => new Promise<void>((resolvePromise) => {
    if (f.child.exitCode !== null || f.child.signalCode !== null) return resolvePromise()
    const timer = setTimeout(() => f.child.kill('SIGKILL'), graceMs)
    f.child.once('exit', () => {
      clearTimeout(timer)
      resolvePromise()
    })
    f.child.kill('SIGTERM')
  })))
}
