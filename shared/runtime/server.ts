import Fastify, { LogController, type FastifyInstance } from 'fastify'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Logger } from '../logger.ts'
import type { Authenticator } from './auth.ts'
import type { FunctionModule } from './function.ts'
import type { IdempotencyStore } from './idempotency.ts'
import { RuntimeMetrics } from './metrics.ts'
import type { ProofKey } from './proof.ts'
import { createEventSink, type EventSink } from './sink.ts'
import { cloudEventsPlugin } from './http/cloudevents.ts'
import { createLifecycle } from './http/context.ts'
import { deadLettersPlugin } from './http/dead-letters.ts'
import { errorsPlugin } from './http/errors.ts'
import { healthPlugin } from './http/health.ts'
import { manualPlugin, type ManualEntry } from './http/manual.ts'
import { metricsPlugin } from './http/metrics.ts'
import { plainHttpPlugin } from './http/plain-http.ts'

export { requestVerb, type ManualEntry } from './http/manual.ts'

export interface RuntimeOptions {
  module: FunctionModule
  logger: Logger
  authenticator: Authenticator
  idempotency: IdempotencyStore
  dryRun: { default: boolean; locked: boolean }
  bodyLimitBytes: number
  shutdownTimeoutMs: number
  /** Each event's run deadline (CARETAKER_RUN_DEADLINE), from its receipt; none when unset. */
  runDeadlineMs?: number | undefined
  metrics?: RuntimeMetrics
  /** Where `context.emit` sends; without one, emitted events are only logged. */
  sink?: EventSink
  /** Checks the proof every request event (`*.requested`) must carry; without one, requests are refused (but under `none`). */
  proofs?: ProofKey
  /** `POST /manual`: a caller's Kubernetes token, RBAC, then into the Broker with a proof. */
  manual?: ManualEntry
}

export type RuntimeApp = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>

export interface Runtime {
  app: RuntimeApp
  metrics: RuntimeMetrics
  /** Mark ready once the module is initialised (the caller does that). */
  setReady(ready: boolean): void
  /** Stop accepting, let in-flight events finish within the deadline, close. */
  drain(): Promise<{ drained: boolean; abandoned: number }>
  inFlight(): number
}

function noRouteSchemas(): never {
  throw new Error('the runtime\'s routes declare no schemas: validate with shared/validators.ts')
}

/**
 * The runtime: Fastify with one plugin per concern (http/): errors from the
 * catalogue, health probes, metrics, the CloudEvents binding on POST /, the
 * function's plain-HTTP route, dead letters, manual requests. Functions never touch HTTP:
 * they get events and plain requests through the module's contract.
 */
export function buildRuntime(options: RuntimeOptions): Runtime {
  const { module, logger } = options
  const name = module.definition.name
  const metrics = options.metrics ?? new RuntimeMetrics(name)
  const context = createLifecycle({
    module, name, logger, metrics,
    authenticator: options.authenticator,
    sink: options.sink ?? createEventSink(undefined, logger),
  })

  const app = Fastify({
    loggerInstance: logger,
    // One line per event is written by the CloudEvents plugin; Fastify's per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    // Nothing logs through request.log (the CloudEvents plugin makes one child per event, with the trace and
    // the event): a child per request with Fastify's reqId would cost every request a logger that is never used.
    childLoggerFactory: (log) => log,
    bodyLimit: options.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // No route declares a schema (event data is validated by shared/validators.ts, precompiled in the build):
    // without these, Fastify would load its ajv and fast-json-stringify compilers at start (about 10 MiB) and never use them.
    schemaController: { compilersFactory: { buildValidator: noRouteSchemas, buildSerializer: noRouteSchemas } },
  })
  // Every body arrives as bytes; the CloudEvents binding (or the plain route) decides what it is.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  app.register(errorsPlugin, context)
  app.register(healthPlugin, context)
  app.register(metricsPlugin, context)
  app.register(cloudEventsPlugin, { context, idempotency: options.idempotency, dryRun: options.dryRun, runDeadlineMs: options.runDeadlineMs, proofs: options.proofs })
  app.register(plainHttpPlugin, context)
  app.register(deadLettersPlugin, context)
  app.register(manualPlugin, { context, manual: options.manual, proofs: options.proofs })

  return {
    app,
    metrics,
    setReady: context.setReady,
    inFlight: context.inFlight,
    async drain() {
      const pending = context.inFlight()
      const drained = await context.drain(options.shutdownTimeoutMs)
      logger.info({ in_flight_at_start: pending, drained }, 'draining finished')
      await app.close()
      return { drained, abandoned: drained ? 0 : context.inFlight() }
    },
  }
}
