import { randomFillSync } from 'node:crypto'

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

// Ids are cut from a pool of random bytes refilled 4 KiB at a time (each byte used once), as crypto.randomUUID
// does: one call into the CSPRNG per event for two ids cost more than the rest of the trace handling (bench/RESULTS.md).
const pool = Buffer.allocUnsafe(4096)
let used = pool.length

function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool)
    used = 0
  }
  used += bytes
  return pool.toString('hex', used - bytes, used)
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

export function continueTrace(incoming: string | undefined): TraceContext {
  const spanId = randomHex(8)
  const m = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null
  if (m && m[1] !== 'ff' && !/^0+$/.test(m[2]!) && !/^0+$/.test(m[3]!)) {
    return { traceId: m[2]!, parentId: m[3]!, spanId, flags: m[4]!, traceparent: `00-${m[2]}-${spanId}-${m[4]}` }
  }
  const traceId = randomHex(16)
  return { traceId, parentId: undefined, spanId, flags: '01', traceparent: `00-${traceId}-${spanId}-01` }
}
