import type { FastifyReply } from 'fastify'
import { CaretakerError, Errors, isCaretakerError } from '../../errors.ts'
import { runtimePlugin, type RuntimeContext } from './context.ts'

export interface ErrorBody {
  error: string
  message: string
  details?: Record<string, unknown>
}

export function errorBody(err: CaretakerError): ErrorBody {
  return { error: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }
}

/** Every error reply: the catalogue's status and JSON body. */
export function sendError(reply: FastifyReply, err: CaretakerError): FastifyReply {
  return reply.code(err.status).header('content-type', 'application/json').send(errorBody(err))
}

/** Fastify's own errors (body limit, media type) mapped onto the catalogue. */
export function fromFastifyError(err: Error & { code?: string; statusCode?: number }): CaretakerError {
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

/** Errors Fastify raises before a handler runs, and unknown routes, answered from the catalogue. */
export const errorsPlugin = runtimePlugin<RuntimeContext>('caretaker-errors', (app, ctx, done) => {
  const { module, metrics, logger, name } = ctx
  app.setErrorHandler((err, req, reply) => {
    const mapped = fromFastifyError(err as Error)
    // A body refused before any handler ran (too large, unreadable) is still
    // an event lost to this function: counted and logged, never silent. Only
    // a binary-mode event's attributes can be read without its body.
    if (req.method === 'POST') {
      const attribute = (header: string) => (typeof req.headers[header] === 'string' ? req.headers[header] : undefined)
      const type = attribute('ce-type')
      const typeLabel = type !== undefined && module.validator.accepts(type) ? type : 'unknown'
      metrics.received.inc({ function: name, type: typeLabel })
      metrics.handled.inc({ function: name, type: typeLabel, outcome: mapped.status >= 500 ? 'unavailable' : 'rejected' })
      logger.warn({
        event: { id: attribute('ce-id'), type: typeLabel, source: attribute('ce-source') },
        route: req.url.split('?')[0], content_length: attribute('content-length'), outcome: 'rejected', status: mapped.status, error: mapped.code, reason: mapped.message,
      }, 'event rejected')
    }
    return sendError(reply, mapped)
  })
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new CaretakerError(Errors.NotFound, `no route ${req.method} ${req.url.split('?')[0]}: events go to POST /`)),
  )
  done()
})
