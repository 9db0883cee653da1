import type { FastifyReply } from 'fastify'
import { CaretakerError, Errors, isCaretakerError } from '../../errors.ts'
import type { Authenticator, RbacAuthorizer } from '../auth.ts'
import { parseCloudEvent } from '../cloudevent-http.ts'
import { isRequestType, PROOF_BY, type ProofKey } from '../proof.ts'
import { sendError } from './errors.ts'
import { runtimePlugin, type RuntimeContext } from './context.ts'

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

export interface ManualOptions {
  context: RuntimeContext
  manual?: ManualEntry | undefined
  proofs?: ProofKey | undefined
}

/**
 * Manual runs, POST /manual: the caller's Kubernetes token (TokenReview),
 * RBAC on the function's Caretaker resource for the request's verb
 * (SubjectAccessReview), then the request enters the Broker carrying
 * Caretaker's proof: the function acts when the Broker delivers it, like any
 * other request.
 */
export const manualPlugin = runtimePlugin<ManualOptions>('caretaker-manual', (app, options, done) => {
  const { context: ctx, manual } = options
  const { module, logger, sink, name } = ctx
  const requestTypes = module.definition.accepts.filter(isRequestType)
  app.post('/manual', async (req, reply) => {
    const started = process.hrtime.bigint()
    let log = logger.child({ route: '/manual' })
    const refuse = (err: CaretakerError): FastifyReply => {
      log.warn({ status: err.status, error: err.code, reason: err.message, duration_ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'manual request refused')
      return sendError(reply, err)
    }
    if (ctx.isShuttingDown()) return refuse(new CaretakerError(Errors.ShuttingDown, 'the function is shutting down; retry later'))
    if (!ctx.isReady()) return refuse(new CaretakerError(Errors.NotReady, 'the function is not ready yet; retry later'))
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
  done()
})
