import { spawn, type ChildProcess } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { nodeChildEnv } from '../../shared/process/node-env.ts'

export const projectRoot = fileURLToPath(new URL('../../', import.meta.url))

export interface FunctionProcess {
  child: ChildProcess
  lines: Array<Record<string, unknown>>
  /** Everything written to stderr so far. */
  stderr(): string
  /** Resolves with the first log line that satisfies the predicate (bounded wait). */
  waitForLine(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
  exited: Promise<number | null>
}

export interface SpawnOptions {
  /**
   * `false` for a process the test kills (SIGKILL: it writes no coverage):
   * none of the test runner's instrumentation in it, and Node's compile
   * cache on instead (which would blur coverage). tap's processinfo puts its
   * module hooks into every Node process a test spawns (through
   * NODE_OPTIONS, added at spawn); in a function loading the Kubernetes
   * client from source they doubled the CPU (1.5 → 3 s) and the RSS (165 →
   * 340 MB) of the load, for coverage such a process never writes. Default
   * true.
   */
  readonly coverage?: boolean
}

/** NODE_OPTIONS without tap's processinfo hooks (what else it holds is kept). */
function uninstrumentedNodeOptions(): string {
  return (process.env.NODE_OPTIONS ?? '').split(/\s+/).filter((o) => o && !o.includes('@tapjs/processinfo')).join(' ')
}

/**
 * Under the test runner: its NODE_OPTIONS (its hooks first, as it keeps
 * them in place), then test/source-maps.ts, which takes the dependencies'
 * source maps back out of what its hooks turned on. Passed on to whatever
 * that process spawns in turn. Outside the runner: nothing to add.
 */
function instrumentedNodeOptions(): Record<string, string> {
  const options = process.env.NODE_OPTIONS ?? ''
  if (!options.includes('@tapjs/processinfo')) return {}
  return { NODE_OPTIONS: `${options} --import=${pathToFileURL(join(projectRoot, 'test/source-maps.ts')).href}` }
}

/** Where processes without coverage keep Node's compile cache: one for every test process of a run. */
const uncoveredCompileCache = join(tmpdir(), 'caretaker-test-compile-cache')

/** Run `shared/runtime/main.ts` as Knative would: its own process, JSON logs on stdout. */
export function spawnFunction(target: string, env: Record<string, string>, options: SpawnOptions = {}): FunctionProcess {
  return spawnNode(['shared/runtime/main.ts', target], { HOST: '127.0.0.1', PORT: '0', CARETAKER_AUTH: 'none', ...env }, options)
}

/** Run a project script with Node, collecting its JSON log lines from stdout. */
export function spawnNode(args: string[], env: Record<string, string>, options: SpawnOptions = {}): FunctionProcess {
  const uncovered = options.coverage === false
  // The runner adds its hooks to NODE_OPTIONS as the process is spawned, whatever `env` says; `env NAME=value`
  // sets the variable after that, as it execs Node (the same process: the pid and the signals are Node's).
  // Coverage is also turned off by name (tap's processinfo reads _TAPJS_PROCESSINFO_COVERAGE_), should its hooks come in another way.
  const [command, argv] = uncovered ? ['env', [`NODE_OPTIONS=${uninstrumentedNodeOptions()}`, process.execPath, ...args]] : [process.execPath, args]
  const instrumentation = uncovered ? { _TAPJS_PROCESSINFO_COVERAGE_: '0', NODE_COMPILE_CACHE: uncoveredCompileCache } : instrumentedNodeOptions()
  const child = spawn(command, argv, {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', ...nodeChildEnv(), ...instrumentation, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: Array<Record<string, unknown>> = []
  const errChunks: string[] = []
  child.stderr!.on('data', (chunk: Buffer) => errChunks.push(chunk.toString('utf8')))
  const waiters: Array<{ predicate: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = []
  let buffer = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8')
    let nl
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      let line: Record<string, unknown>
      try {
        line = JSON.parse(text) as Record<string, unknown>
      } catch {
        line = { raw: text }
      }
      lines.push(line)
      for (const w of [...waiters]) {
        if (w.predicate(line)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    }
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    lines,
    stderr: () => errChunks.join(''),
    exited,
    waitForLine(predicate, timeoutMs = 15_000) {
      const found = lines.find(predicate)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; got: ${JSON.stringify(lines).slice(0, 2000)}`)), timeoutMs)
        waiters.push({ predicate, resolve: (l) => { clearTimeout(timer); resolve(l) } })
        void exited.then(() => setTimeout(() => { clearTimeout(timer); reject(new Error(`process exited; lines: ${JSON.stringify(lines).slice(0, 2000)}`)) }, 50))
      })
    },
  }
}
