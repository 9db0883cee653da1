import { randomBytes } from 'node:crypto'

/**
 * W3C trace context. The reply keeps the caller's trace id with a span id of
 * its own, so a trace follows an event through the broker and back.
 */
export interface TraceContext {
  traceId: string
  parentId: string | undefined
  spanId: string
  flags: string
  /** The header value for outgoing messages (this span as the parent). */
  traceparent: string
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

export function continueTrace(incoming: string | undefined): TraceContext {
  const spanId = randomBytes(8).toString('hex')
  const m = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null
  if (m && m[1] !== 'ff' && !/^0+$/.test(m[2]!) && !/^0+$/.test(m[3]!)) {
    return { traceId: m[2]!, parentId: m[3]!, spanId, flags: m[4]!, traceparent: `00-${m[2]}-${spanId}-${m[4]}` }
  }
  const traceId = randomBytes(16).toString('hex')
  return { traceId, parentId: undefined, spanId, flags: '01', traceparent: `00-${traceId}-${spanId}-01` }
}
