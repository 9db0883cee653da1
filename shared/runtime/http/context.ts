import type { FastifyPluginCallback, FastifyPluginOptions } from 'fastify'
import { CaretakerError, Errors } from '../../errors.ts'
import type { Logger } from '../../logger.ts'
import type { Authenticator } from '../auth.ts'
import type { FunctionModule } from '../function.ts'
import type { RuntimeMetrics } from '../metrics.ts'
import type { EventSink } from '../sink.ts'

/**
 * What the runtime's plugins share: the hosted module, its clients, and the
 * lifecycle (ready, shutting down, work in flight) every route answers by.
 */
export interface RuntimeContext {
  readonly module: FunctionModule
  /** The function's name, for metrics labels and messages. */
  readonly name: string
  readonly logger: Logger
  readonly authenticator: Authenticator
  readonly metrics: RuntimeMetrics
  readonly sink: EventSink
  /** Aborted when the shutdown deadline passes: handlers stop at their next safe point. */
  readonly signal: AbortSignal
  isReady(): boolean
  isShuttingDown(): boolean
  /** Runs one request's work counted as in flight (drain waits for it). */
  track<T>(work: () => Promise<T>): Promise<T>
}

export interface Lifecycle extends RuntimeContext {
  setReady(ready: boolean): void
  inFlight(): number
  /** Stop accepting; wait up to `timeoutMs` for the work in flight; abort what is left. True when all finished. */
  drain(timeoutMs: number): Promise<boolean>
}

export function createLifecycle(parts: Omit<RuntimeContext, 'signal' | 'isReady' | 'isShuttingDown' | 'track'>): Lifecycle {
  let ready = false
  let shuttingDown = false
  let inFlight = 0
  const abort = new AbortController()
  const idle: Array<() => void> = []
  return {
    ...parts,
    signal: abort.signal,
    isReady: () => ready,
    isShuttingDown: () => shuttingDown,
    setReady(value) {
      ready = value
    },
    inFlight: () => inFlight,
    async track(work) {
      inFlight++
      try {
        return await work()
      } finally {
        inFlight--
        if (inFlight === 0) for (const resolve of idle.splice(0)) resolve()
      }
    },
    async drain(timeoutMs) {
      shuttingDown = true
      if (inFlight === 0) return true
      let timer: NodeJS.Timeout | undefined
      const finished = new Promise<boolean>((resolve) => idle.push(() => resolve(true)))
      const deadline = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs)
      })
      const drained = await Promise.race([finished, deadline])
      clearTimeout(timer)
      if (!drained) abort.abort(new CaretakerError(Errors.ShuttingDown, 'shutdown deadline reached'))
      return drained
    },
  }
}

/**
 * A runtime plugin: a Fastify plugin that acts on the instance it is
 * registered on rather than on an encapsulated child (what the
 * fastify-plugin package marks with this symbol), so the error handler and
 * the routes share one set of hooks and parsers.
 */
export function runtimePlugin<O extends FastifyPluginOptions>(name: string, plugin: FastifyPluginCallback<O>): FastifyPluginCallback<O> {
  Object.defineProperty(plugin, Symbol.for('skip-override'), { value: true })
  Object.defineProperty(plugin, Symbol.for('fastify.display-name'), { value: name })
  return plugin
}
