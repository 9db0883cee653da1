import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors, isCaretakerError, loggableUnexpected } from '../errors.ts'
import { replyEvent } from '../events/reply.ts'
import type { Logger } from '../logger.ts'
import type { Authenticator, Identity, RbacAuthorizer } from './auth.ts'
import { isRequestType, PROOF_BY, type ProofKey } from './proof.ts'
import { encodeHeaderValue, parseCloudEvent, toBinaryMessage } from './cloudevent-http.ts'
import { eventDryRun, type FunctionModule } from './function.ts'
import { idempotencyKey, type IdempotencyStore, type RecordedOutcome } from './idempotency.ts'
import { RuntimeMetrics } from './metrics.ts'
import { createEventSink, type EventSink } from './sink.ts'
import { continueTrace } from './trace.ts'

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

export interface ManualEntry {
  /** Authenticates the caller's bearer token (TokenReview, the API server's audience). */
  callers: Authenticator
  rbac: RbacAuthorizer
  /** Caretaker's namespace: where the RBAC on its resources is bound. */
  namespace: string
}

/** The RBAC verb of a request type: `dev.caretaker.secret.rotate.requested` is `rotate`. */
export function requestVerb(type: string): string {
  const parts = type.split('.')
  return parts.length >= 2 ? parts[parts.length - 2]! : type
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

interface ErrorBody {
  error: string
  message: string
  details?: Record<string, unknown>
}

function errorBody(err: CaretakerError): ErrorBody {
  return { error: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }
}

/** Fastify's own errors (body limit, media type) mapped onto the catalogue. */
function fromFastifyError(err: Error & { code?: string; statusCode?: number }): CaretakerError {
  if (isCaretakerError(err)) return err
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new CaretakerError(Errors.BodyTooLarge, 'the request body is larger than this function accepts (CARETAKER_BODY_LIMIT)')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new CaretakerError(Errors.UnsupportedMediaType, 'the request has an unsupported or malformed content type')
  }
  if (err.statusCode && err.statusCode < 500) return new CaretakerError(Errors.InvalidRequest, 'the request is malformed')
  return new CaretakerError(Errors.Internal, 'internal error')
}

export function buildRuntime(options: RuntimeOptions): Runtime {
  const { module, logger, authenticator, idempotency } = options
  const name = module.definition.name
  const metrics = options.metrics ?? new RuntimeMetrics(name)
  const sink = options.sink ?? createEventSink(undefined, logger)
  let ready = false
  let shuttingDown = false
  let inFlight = 0
  const abort = new AbortController()
  const idle: Array<() => void> = []

  const app = Fastify({
    loggerInstance: logger,
    // One line per event is written here; Fastify's per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  })
  // Every body arrives as bytes; the CloudEvents binding decides what it is.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))

  function send(reply: FastifyReply, err: CaretakerError): FastifyReply {
    return reply.code(err.status).header('content-type', 'application/json').send(errorBody(err))
  }

  app.setErrorHandler((err, req, reply) => {
    const mapped = fromFastifyError(err as Error)
    // A body refused before any handler ran (too large, unreadable) is still
    // an event lost to this function: counted and logged, never silent. Only
    // a binary-mode event's attributes can be read without its body.
    if (req.method === 'POST') {
      const attribute = (name: string) => (typeof req.headers[name] === 'string' ? req.headers[name] : undefined)
      const type = attribute('ce-type')
      const typeLabel = type !== undefined && module.validator.accepts(type) ? type : 'unknown'
      metrics.received.inc({ function: name, type: typeLabel })
      metrics.handled.inc({ function: name, type: typeLabel, outcome: mapped.status >= 500 ? 'unavailable' : 'rejected' })
      logger.warn({
        event: { id: attribute('ce-id'), type: typeLabel, source: attribute('ce-source') },
        route: req.url.split('?')[0], content_length: attribute('content-length'), outcome: 'rejected', status: mapped.status, error: mapped.code, reason: mapped.message,
      }, 'event rejected')
    }
    return send(reply, mapped)
  })
  app.setNotFoundHandler((req, reply) =>
    send(reply, new CaretakerError(Errors.NotFound, `no route ${req.method} ${req.url.split('?')[0]}: events go to POST /`)),
  )

  app.get('/health/liveness', async () => ({ status: 'ok' }))
  app.get('/health/readiness', async (_req, reply) => {
    if (shuttingDown) return reply.code(503).send({ status: 'shutting down' })
    if (!ready) return reply.code(503).send({ status: 'starting' })
    if (!(await module.isReady())) return reply.code(503).send({ status: 'not ready' })
    return { status: 'ready' }
  })
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType)
    return metrics.registry.metrics()
  })

  /** Outcomes recorded before reply headers were percent-encoded may hold characters Node cannot write: encode those now. */
  function writableHeaders(headers: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(headers)) out[name] = name.startsWith('ce-') && /[^\x20-\x7e]/.test(value) ? encodeHeaderValue(value) : value
    return out
  }

  function sendOutcome(reply: FastifyReply, outcome: RecordedOutcome, traceparent: string, duplicate: boolean): FastifyReply {
    reply.code(outcome.status).headers(writableHeaders(outcome.headers)).header('traceparent', traceparent)
    if (duplicate) reply.header('caretaker-duplicate', 'true')
    if (outcome.body === undefined) return reply.send()
    return reply.send(outcome.bodyEncoding === 'base64' ? Buffer.from(outcome.body, 'base64') : outcome.body)
  }

  function outcomeOf(event: CloudEvent<unknown> | undefined): RecordedOutcome {
    if (!event) return { status: 204, headers: {}, body: undefined }
    const message = toBinaryMessage(event)
    if (Buffer.isBuffer(message.body)) return { status: 200, headers: message.headers, body: message.body.toString('base64'), bodyEncoding: 'base64' }
    return { status: 200, headers: message.headers, body: message.body }
  }

  function errorOutcome(err: CaretakerError): RecordedOutcome {
    return { status: err.status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(errorBody(err)) }
  }

  async function handleEvent(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const started = process.hrtime.bigint()
    // Counted from the request's arrival, as Knative's timeoutSeconds is.
    const deadline = options.runDeadlineMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.runDeadlineMs
    const trace = continueTrace(typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined)
    let log = logger.child({ trace_id: trace.traceId, span_id: trace.spanId, traceparent: trace.traceparent })
    let type = 'unknown'
    let typeLabel = 'unknown'
    const finish = (outcome: string, status: number, err?: CaretakerError): void => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      metrics.handled.inc({ function: name, type: typeLabel, outcome })
      if (outcome === 'success' || outcome === 'failed' || outcome === 'unavailable') metrics.duration.observe({ function: name, type: typeLabel, outcome }, seconds)
      const line = { outcome, status, duration_ms: Math.round(seconds * 1000 * 100) / 100, ...(err ? { error: err.code, reason: err.message } : {}) }
      if (status >= 500) log.error(line, 'event failed')
      else if (status >= 400) log.warn(line, 'event rejected')
      else log.info(line, outcome === 'duplicate' ? 'event already handled' : 'event handled')
    }
    const reject = (err: CaretakerError): FastifyReply => {
      finish(err.status >= 500 ? 'unavailable' : 'rejected', err.status, err)
      return send(reply, err).header('traceparent', trace.traceparent)
    }

    if (shuttingDown) return reject(new CaretakerError(Errors.ShuttingDown, 'the function is shutting down; the event will be retried'))
    if (!ready) return reject(new CaretakerError(Errors.NotReady, 'the function is not ready yet; the event will be retried'))

    let identity: Identity
    let event: CloudEvent<unknown>
    try {
      identity = await authenticator.authenticate(req.headers.authorization)
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      event = parseCloudEvent(req.headers, body)
      type = event.type
      typeLabel = module.validator.accepts(type) ? type : 'unknown'
      metrics.received.inc({ function: name, type: typeLabel })
      log = log.child({ event: { id: event.id, type: event.type, source: event.source }, sender: identity.username })
      module.validator.check(event.type, event.data)
      // A request acts: whoever could post it, it is trusted only with Caretaker's proof.
      if (isRequestType(event.type) && authenticator.mode !== 'none') {
        if (!options.proofs) {
          throw new CaretakerError(Errors.Unauthenticated, `${name} has no proof key (CARETAKER_PROOF_KEY_FILE), so it cannot check that ${event.type} was asked for: refused`, { details: { reason: 'proof_key_missing' } })
        }
        log = log.child({ requested_by: options.proofs.verify(event) })
      }
    } catch (err) {
      if (typeLabel === 'unknown' && type === 'unknown') metrics.received.inc({ function: name, type: 'unknown' })
      return reject(isCaretakerError(err) ? err : new CaretakerError(Errors.InvalidRequest, 'the request could not be read'))
    }

    const key = idempotencyKey(name, event.source, event.id)
    let claim
    try {
      claim = await idempotency.claim(key)
    } catch (err) {
      log.error({ err: { message: (err as Error).message } }, 'idempotency store failed')
      return reject(new CaretakerError(Errors.DependencyUnavailable, 'the idempotency store is unavailable; the event will be retried'))
    }
    if (claim.state === 'done') {
      finish('duplicate', claim.outcome.status)
      return sendOutcome(reply, claim.outcome, trace.traceparent, true)
    }
    if (claim.state === 'in-progress') {
      return reject(new CaretakerError(Errors.EventInProgress, `event ${event.id} from ${event.source} is being handled already; retry later`))
    }

    const dryRun = eventDryRun(event, options.dryRun.default, options.dryRun.locked)
    inFlight++
    try {
      const result = await module.invoke({
        log, dryRun, traceparent: trace.traceparent, signal: abort.signal, identity, deadline,
        reply: (outcome, index) => replyEvent(name, event, outcome, { dryRun, index }),
        emit: (outcome, index) => sink.send(replyEvent(name, event, outcome, { dryRun, index })),
      }, event)
      const outcome = outcomeOf(result)
      await idempotency.complete(key, outcome).catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'recording the outcome failed'))
      finish('success', outcome.status)
      return sendOutcome(reply, outcome, trace.traceparent, false)
    } catch (err) {
      let failure: CaretakerError
      if (isCaretakerError(err)) failure = err
      else {
        // Unknown errors may carry anything in their message: reply generically.
        log.error({ err: loggableUnexpected(err) }, 'handler threw an unexpected error')
        failure = new CaretakerError(Errors.Internal, `${name} failed while handling event ${event.id}; see its log`)
      }
      if (failure.retryable) await idempotency.release(key).catch(() => undefined)
      else await idempotency.complete(key, errorOutcome(failure)).catch(() => undefined)
      finish(failure.retryable ? 'failed' : 'rejected', failure.status, failure)
      return send(reply, failure).header('traceparent', trace.traceparent)
    } finally {
      inFlight--
      if (inFlight === 0) for (const resolve of idle.splice(0)) resolve()
    }
  }

  app.post('/', handleEvent)

  // A function's plain-HTTP route (a webhook that is not a CloudEvent): same
  // readiness, shutdown and error answers as events. A route Knative delivers
  // to (httpPathSender 'knative', e.g. a dead-letter sink) is authenticated
  // exactly as POST /; any other authenticates its own senders.
  const httpPath = module.definition.httpPath
  if (httpPath && httpPath !== '/') {
    app.post(httpPath, async (req, reply) => {
      if (shuttingDown) return send(reply, new CaretakerError(Errors.ShuttingDown, 'the function is shutting down; retry later'))
      if (!ready) return send(reply, new CaretakerError(Errors.NotReady, 'the function is not ready yet; retry later'))
      if (module.definition.httpPathSender === 'knative') {
        try {
          const identity = await authenticator.authenticate(req.headers.authorization)
          logger.debug({ path: httpPath, sender: identity.username }, 'delivery authenticated')
        } catch (err) {
          const e = isCaretakerError(err) ? err : new CaretakerError(Errors.Unauthenticated, 'the request could not be authenticated')
          logger.warn({ path: httpPath, status: e.status, error: e.code, reason: e.message }, 'request rejected')
          return send(reply, e)
        }
      }
      inFlight++
      try {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
        const res = await module.handleHttp({ headers: req.headers, body, log: logger, signal: abort.signal, sink })
        return reply.code(res.status).headers(res.headers ?? {}).send(res.body ?? '')
      } catch (err) {
        if (isCaretakerError(err)) return send(reply, err)
        logger.error({ err: loggableUnexpected(err) }, 'plain HTTP handler threw an unexpected error')
        return send(reply, new CaretakerError(Errors.Internal, `${name} failed; see its log`))
      } finally {
        inFlight--
        if (inFlight === 0) for (const resolve of idle.splice(0)) resolve()
      }
    })
  }

  // Manual runs: the caller's Kubernetes token (TokenReview), RBAC on the
  // function's Caretaker resource for the request's verb (SubjectAccessReview),
  // then the request enters the Broker carrying Caretaker's proof: the
  // function acts when the Broker delivers it, like any other request.
  const manual = options.manual
  const requestTypes = module.definition.accepts.filter(isRequestType)
  app.post('/manual', async (req, reply) => {
    const started = process.hrtime.bigint()
    let log = logger.child({ route: '/manual' })
    const refuse = (err: CaretakerError): FastifyReply => {
      log.warn({ status: err.status, error: err.code, reason: err.message, duration_ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'manual request refused')
      return send(reply, err)
    }
    if (shuttingDown) return refuse(new CaretakerError(Errors.ShuttingDown, 'the function is shutting down; retry later'))
    if (!ready) return refuse(new CaretakerError(Errors.NotReady, 'the function is not ready yet; retry later'))
    if (!manual || requestTypes.length === 0) {
      return refuse(new CaretakerError(Errors.NotFound, requestTypes.length === 0
        ? `${name} takes no manual requests (it accepts no *.requested type)`
        : `${name} takes manual requests only with Kubernetes authentication (CARETAKER_AUTH=tokenreview)`))
    }
    try {
      const caller = await manual.callers.authenticate(req.headers.authorization)
      log = log.child({ caller: caller.username })
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      let event = parseCloudEvent(req.headers, body)
      log = log.child({ event: { id: event.id, type: event.type, source: event.source } })
      if (!isRequestType(event.type) || !module.validator.accepts(event.type)) {
        throw new CaretakerError(Errors.UnknownEventType, `${name} takes manual requests of type ${requestTypes.join(', ')}, not ${event.type}`)
      }
      module.validator.check(event.type, event.data)
      // A proof the caller brought is not theirs to give: Caretaker issues it below.
      if ((event as unknown as Record<string, unknown>)[PROOF_BY] !== undefined) {
        throw new CaretakerError(Errors.InvalidCloudEvent, 'a manual request must not carry caretakerproof, caretakerexpiry or caretakerby: Caretaker adds them')
      }
      const verb = requestVerb(event.type)
      await manual.rbac.authorize(caller, { resource: name, verb, namespace: manual.namespace })
      if (!options.proofs) throw new CaretakerError(Errors.DependencyUnavailable, `${name} has no proof key (CARETAKER_PROOF_KEY_FILE): it cannot vouch for the request`)
      if (!sink.url) throw new CaretakerError(Errors.DependencyUnavailable, `${name} has no K_SINK (the Broker) to send the request to`)
      event = options.proofs.sign(event, caller.username)
      if (!(await sink.send(event))) throw new CaretakerError(Errors.DependencyUnavailable, 'the Broker did not take the request; retry')
      log.info({ verb, duration_ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'manual request accepted and sent to the Broker')
      return reply.code(202).header('content-type', 'application/json').send({ accepted: { id: event.id, source: event.source, type: event.type }, by: caller.username, verb })
    } catch (err) {
      return refuse(isCaretakerError(err) ? err : new CaretakerError(Errors.InvalidRequest, 'the request could not be read'))
    }
  })

  return {
    app,
    metrics,
    setReady(value) {
      ready = value
    },
    inFlight: () => inFlight,
    async drain() {
      shuttingDown = true
      const pending = inFlight
      let drained = true
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined
        const finished = new Promise<boolean>((resolve) => idle.push(() => resolve(true)))
        const deadline = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), options.shutdownTimeoutMs)
        })
        drained = await Promise.race([finished, deadline])
        clearTimeout(timer)
        if (!drained) abort.abort(new CaretakerError(Errors.ShuttingDown, 'shutdown deadline reached'))
      }
      logger.info({ in_flight_at_start: pending, drained }, 'draining finished')
      await app.close()
      return { drained, abandoned: drained ? 0 : inFlight }
    },
  }
}
