import { CaretakerError, Errors, isCaretakerError, loggableUnexpected } from '../../errors.ts'
import { sendError } from './errors.ts'
import { runtimePlugin, type RuntimeContext } from './context.ts'

/**
 * A function's plain-HTTP route (a definition's `httpPath`: a webhook that
 * is not a CloudEvent, a dead-letter sink): the same readiness, shutdown and
 * error answers as events. A route Knative delivers to (httpPathSender
 * 'knative') is authenticated exactly as POST /; any other authenticates its
 * own senders.
 */
export const plainHttpPlugin = runtimePlugin<RuntimeContext>('caretaker-plain-http', (app, ctx, done) => {
  const { module, logger, authenticator, sink, name } = ctx
  const httpPath = module.definition.httpPath
  if (!httpPath || httpPath === '/') return done()
  app.post(httpPath, async (req, reply) => {
    if (ctx.isShuttingDown()) return sendError(reply, new CaretakerError(Errors.ShuttingDown, 'the function is shutting down; retry later'))
    if (!ctx.isReady()) return sendError(reply, new CaretakerError(Errors.NotReady, 'the function is not ready yet; retry later'))
    if (module.definition.httpPathSender === 'knative') {
      try {
        const identity = await authenticator.authenticate(req.headers.authorization)
        logger.debug({ path: httpPath, sender: identity.username }, 'delivery authenticated')
      } catch (err) {
        const e = isCaretakerError(err) ? err : new CaretakerError(Errors.Unauthenticated, 'the request could not be authenticated')
        logger.warn({ path: httpPath, status: e.status, error: e.code, reason: e.message }, 'request rejected')
        return sendError(reply, e)
      }
    }
    return ctx.track(async () => {
      try {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
        const res = await module.handleHttp({ headers: req.headers, body, log: logger, signal: ctx.signal, sink })
        return reply.code(res.status).headers(res.headers ?? {}).send(res.body ?? '')
      } catch (err) {
        if (isCaretakerError(err)) return sendError(reply, err)
        logger.error({ err: loggableUnexpected(err) }, 'plain HTTP handler threw an unexpected error')
        return sendError(reply, new CaretakerError(Errors.Internal, `${name} failed; see its log`))
      }
    })
  })
  done()
})
