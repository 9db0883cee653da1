import type { FastifyReply, FastifyRequest } from 'fastify'
import type { CloudEvent } from 'cloudevents'
import { CaretakerError, Errors, isCaretakerError, loggableUnexpected } from '../../errors.ts'
import { replyEvent } from '../../events/reply.ts'
import type { Identity } from '../auth.ts'
import { encodeHeaderValue, parseCloudEvent, toBinaryMessage } from '../cloudevent-http.ts'
import { eventDryRun } from '../function.ts'
import { idempotencyKey, type IdempotencyStore, type RecordedOutcome } from '../idempotency.ts'
import { isRequestType, type ProofKey } from '../proof.ts'
import type { Logger } from '../../logger.ts'
import { continueTrace } from '../trace.ts'
import { errorBody, sendError } from './errors.ts'
import { runtimePlugin, type RuntimeContext } from './context.ts'

export interface CloudEventsOptions {
  context: RuntimeContext
  idempotency: IdempotencyStore
  dryRun: { default: boolean; locked: boolean }
  /** Each event's run deadline (CARETAKER_RUN_DEADLINE), from its receipt; none when unset. */
  runDeadlineMs?: number | undefined
  /** Checks the proof every request event (`*.requested`) must carry; without one, requests are refused (but under `none`). */
  proofs?: ProofKey | undefined
}

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

/**
 * The CloudEvents HTTP binding on POST /: authenticate, parse (binary or
 * structured mode), validate the data, check a request's proof, claim the
 * event's idempotency key, invoke the function, record and answer its
 * outcome in binary mode; one log line and the metrics per event.
 */
export const cloudEventsPlugin = runtimePlugin<CloudEventsOptions>('caretaker-cloudevents', (app, options, done) => {
  const { context: ctx, idempotency } = options
  const { module, logger, authenticator, metrics, sink, name } = ctx

  async function handleEvent(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const started = process.hrtime.bigint()
    // Counted from the request's arrival, as Knative's timeoutSeconds is.
    const deadline = options.runDeadlineMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + options.runDeadlineMs
    const trace = continueTrace(typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined)
    // One child logger per event, made when first needed with what is known of the event by then: pino runs
    // every binding of every child through the redaction (some µs each, bench/RESULTS.md), so a child of a child
    // would pay for the trace's bindings twice.
    const bindings: Record<string, unknown> = { trace_id: trace.traceId, span_id: trace.spanId, traceparent: trace.traceparent }
    let eventLogger: Logger | undefined
    const log = (): Logger => (eventLogger ??= logger.child(bindings))
    let type = 'unknown'
    let typeLabel = 'unknown'
    const finish = (outcome: string, status: number, err?: CaretakerError): void => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      metrics.handled.inc({ function: name, type: typeLabel, outcome })
      if (outcome === 'success' || outcome === 'failed' || outcome === 'unavailable') metrics.duration.observe({ function: name, type: typeLabel, outcome }, seconds)
      const line = { outcome, status, duration_ms: Math.round(seconds * 1000 * 100) / 100, ...(err ? { error: err.code, reason: err.message } : {}) }
      if (status >= 500) log().error(line, 'event failed')
      else if (status >= 400) log().warn(line, 'event rejected')
      else log().info(line, outcome === 'duplicate' ? 'event already handled' : 'event handled')
    }
    const reject = (err: CaretakerError): FastifyReply => {
      finish(err.status >= 500 ? 'unavailable' : 'rejected', err.status, err)
      return sendError(reply, err).header('traceparent', trace.traceparent)
    }

    if (ctx.isShuttingDown()) return reject(new CaretakerError(Errors.ShuttingDown, 'the function is shutting down; the event will be retried'))
    if (!ctx.isReady()) return reject(new CaretakerError(Errors.NotReady, 'the function is not ready yet; the event will be retried'))

    let identity: Identity
    let event: CloudEvent<unknown>
    try {
      identity = await authenticator.authenticate(req.headers.authorization)
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      event = parseCloudEvent(req.headers, body)
      type = event.type
      typeLabel = module.validator.accepts(type) ? type : 'unknown'
      metrics.received.inc({ function: name, type: typeLabel })
      bindings.event = { id: event.id, type: event.type, source: event.source }
      bindings.sender = identity.username
      module.validator.check(event.type, event.data)
      // A request acts: whoever could post it, it is trusted only with Caretaker's proof.
      if (isRequestType(event.type) && authenticator.mode !== 'none') {
        if (!options.proofs) {
          throw new CaretakerError(Errors.Unauthenticated, `${name} has no proof key (CARETAKER_PROOF_KEY_FILE), so it cannot check that ${event.type} was asked for: refused`, { details: { reason: 'proof_key_missing' } })
        }
        bindings.requested_by = options.proofs.verify(event)
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
      log().error({ err: { message: (err as Error).message } }, 'idempotency store failed')
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
    return ctx.track(async () => {
      const eventLog = log()
      try {
        const result = await module.invoke({
          log: eventLog, dryRun, traceparent: trace.traceparent, signal: ctx.signal, identity, deadline,
          reply: (outcome, index) => replyEvent(name, event, outcome, { dryRun, index }),
          emit: (outcome, index) => sink.send(replyEvent(name, event, outcome, { dryRun, index })),
        }, event)
        const outcome = outcomeOf(result)
        await idempotency.complete(key, outcome).catch((err: unknown) => eventLog.error({ err: { message: (err as Error).message } }, 'recording the outcome failed'))
        finish('success', outcome.status)
        return sendOutcome(reply, outcome, trace.traceparent, false)
      } catch (err) {
        let failure: CaretakerError
        if (isCaretakerError(err)) failure = err
        else {
          // Unknown errors may carry anything in their message: reply generically.
          eventLog.error({ err: loggableUnexpected(err) }, 'handler threw an unexpected error')
          failure = new CaretakerError(Errors.Internal, `${name} failed while handling event ${event.id}; see its log`)
        }
        if (failure.retryable) await idempotency.release(key).catch(() => undefined)
        else await idempotency.complete(key, errorOutcome(failure)).catch(() => undefined)
        finish(failure.retryable ? 'failed' : 'rejected', failure.status, failure)
        return sendError(reply, failure).header('traceparent', trace.traceparent)
      }
    })
  }

  app.post('/', handleEvent)
  done()
})
