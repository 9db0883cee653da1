import type { FastifyInstance } from 'fastify'
import { CaretakerError, Errors, isCaretakerError, loggableUnexpected } from '../../errors.ts'
import type { PlainRequest, PlainResponse } from '../function.ts'
import { sendError } from './errors.ts'
import { runtimePlugin, type RuntimeContext } from './context.ts'

/**
 * One POST route that is not the CloudEvents binding: the same readiness,
 * shutdown and error answers as events; `authenticate` (a route Knative
 * delivers to) checks the sender exactly as POST / does.
 */
export function plainRoute(app: FastifyInstance, ctx: RuntimeContext, path: string, options: { authenticate: boolean; answer: (request: PlainRequest) => Promise<PlainResponse> }): void {
  const { logger, authenticator, sink, name } = ctx
  app.post(path, async (req, reply) => {
    if (ctx.isShuttingDown()) return sendError(reply, new CaretakerError(Errors.ShuttingDown, 'the function is shutting down; retry later'))
    if (!ctx.isReady()) return sendError(reply, new CaretakerError(Errors.NotReady, 'the function is not ready yet; retry later'))
    if (options.authenticate) {
      try {
        const identity = await authenticator.authenticate(req.headers.authorization)
        logger.debug({ path, sender: identity.username }, 'delivery authenticated')
      } catch (err) {
        const e = isCaretakerError(err) ? err : new CaretakerError(Errors.Unauthenticated, 'the request could not be authenticated')
        logger.warn({ path, status: e.status, error: e.code, reason: e.message }, 'request rejected')
        return sendError(reply, e)
      }
    }
    return ctx.track(async () => {
      try {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
        const res = await options.answer({ headers: req.headers, body, log: logger, signal: ctx.signal, sink })
        return reply.code(res.status).headers(res.headers ?? {}).send(res.body ?? '')
      } catch (err) {
        if (isCaretakerError(err)) return sendError(reply, err)
        logger.error({ err: loggableUnexpected(err) }, 'plain HTTP handler threw an unexpected error')
        return sendError(reply, new CaretakerError(Errors.Internal, `${name} failed; see its log`))
      }
    })
  })
}

/**
 * A function's plain-HTTP route (a definition's `httpPath` with an
 * external sender): a webhook that is not a CloudEvent and whose sender has
 * no Kubernetes identity, so the function authenticates it (handleHttp).
 */
export const plainHttpPlugin = runtimePlugin<RuntimeContext>('caretaker-plain-http', (app, ctx, done) => {
  const { httpPath, httpPathSender } = ctx.module.definition
  if (httpPath && httpPath !== '/' && httpPathSender !== 'knative') {
    plainRoute(app, ctx, httpPath, { authenticate: false, answer: (request) => ctx.module.handleHttp(request) })
  }
  done()
})
