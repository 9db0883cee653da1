import { CloudEvent, HTTP } from 'cloudevents'
import type { BackoffPolicy, DeliverySpec } from './manifests.ts'

/**
 * How an event travels from the mesh to a subscriber: one binary-mode POST,
 * and the retry loop Knative's dispatcher runs around it.
 */

export type Sleep = (ms: number) => Promise<void>

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Events that arrived without `time`: the SDK invents one on parse, the mesh must not forward it. */
const eventsWithoutTime = new WeakSet<CloudEvent<unknown>>()

export function markWithoutTime(event: CloudEvent<unknown>): void {
  eventsWithoutTime.add(event)
}

export interface BinaryRequest {
  readonly headers: Record<string, string>
  readonly body: string | Uint8Array | undefined
}

export function toBinaryRequest(event: CloudEvent<unknown>): BinaryRequest {
  const message = HTTP.binary(event)
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(message.headers)) {
    if (typeof value === 'string') headers[name] = value
  }
  if (eventsWithoutTime.has(event)) delete headers['ce-time']
  // The SDK sends a JSON content type even without data; a PingSource without data sends none.
  if (event.data === undefined) delete headers['content-type']
  const body = message.body
  return { headers, body: typeof body === 'string' || body instanceof Uint8Array ? body : undefined }
}

/** Knative retries these statuses (plus network errors); any other 4xx is final. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408 || status === 404 || status === 409
}

/** Delay before retry number `retry` (1-based): linear delay*n, exponential delay*2^n, as the CRD text states. */
export function backoffDelayMs(policy: BackoffPolicy, delayMs: number, retry: number): number {
  return policy === 'linear' ? delayMs * retry : delayMs * 2 ** retry
}

export interface SendResult {
  /** HTTP status, or undefined when the request failed before a response. */
  readonly status: number | undefined
  readonly error?: string
  readonly reply?: CloudEvent<unknown>
  /** A refusal's response body, at most KNATIVE_ERROR_DATA_MAX bytes (Knative's knativeerrordata). */
  readonly body?: Buffer
}

/** Knative's limit on the response body it copies into a dead letter's knativeerrordata. */
export const KNATIVE_ERROR_DATA_MAX = 1024

const TEXT_TYPES = /^(application\/(json|cloudevents\+json|xml)|text\/)|\+json$/

/** Parses an HTTP message into a CloudEvent; undefined when the message carries none. */
export function eventFromMessage(headers: Record<string, string | string[] | undefined>, body: Buffer): CloudEvent<unknown> | undefined {
  const contentType = String(headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  const structured = contentType === 'application/cloudevents+json'
  if (!structured && headers['ce-specversion'] === undefined) return undefined
  const hasTime = structured ? /"time"\s*:/.test(body.toString('utf8')) : headers['ce-time'] !== undefined
  const text = structured || contentType === '' || TEXT_TYPES.test(contentType)
  const message = { headers, body: body.length === 0 ? undefined : text ? body.toString('utf8') : body }
  const parsed = HTTP.toEvent<unknown>(message)
  const first: unknown = Array.isArray(parsed) ? parsed[0] : parsed
  if (!(first instanceof CloudEvent)) return undefined
  // toEvent builds events unvalidated; a missing source or id must be refused here.
  first.validate()
  let event: CloudEvent<unknown> = first
  // The SDK decodes structured data_base64 into a Uint32Array of bytes; keep bytes as bytes.
  if (event.data instanceof Uint32Array) event = event.cloneWith({ data: Buffer.from(event.data) }, false)
  if (!hasTime) markWithoutTime(event)
  return event
}

/**
 * One POST of an event. `authorization` is the only header beyond the
 * event's own: the sender's OIDC token when Eventing's OIDC is on (see
 * oidc.ts); nothing of the request that brought the event to the Broker is
 * passed on, as Knative's broker filter passes none of it either.
 */
export async function sendOnce(url: string, event: CloudEvent<unknown>, timeoutMs: number, authorization?: string): Promise<SendResult> {
  const request = toBinaryRequest(event)
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: authorization === undefined ? request.headers : { ...request.headers, authorization },
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : ''
    return { status: undefined, error: `${err instanceof Error ? err.name : 'Error'}${cause}` }
  }
  const body = Buffer.from(await response.arrayBuffer())
  if (!response.ok) return { status: response.status, ...(body.length > 0 ? { body: body.subarray(0, KNATIVE_ERROR_DATA_MAX) } : {}) }
  const headers = Object.fromEntries(response.headers.entries())
  try {
    const reply = eventFromMessage(headers, body)
    return reply ? { status: response.status, reply } : { status: response.status }
  } catch (err) {
    return { status: response.status, error: `reply is not a valid CloudEvent: ${err instanceof Error ? err.message : String(err)}` }
  }
}

export interface DeliveryOutcome {
  readonly delivered: boolean
  readonly attempts: number
  readonly lastStatus: number | undefined
  readonly lastError?: string
  /** The last refusal's response body (truncated as Knative does). */
  readonly lastBody?: Buffer
  readonly reply?: CloudEvent<unknown>
  /** The delays the retry loop asked the sleep for, in order. */
  readonly delaysMs: number[]
}

export interface DeliveryOptions {
  readonly sleep: Sleep
  readonly timeoutMs: number
  /** The Authorization header of each attempt (a Trigger's OIDC token), or none. */
  readonly authorization?: () => Promise<string | undefined>
}

/** Sends with the Trigger's delivery spec: 1 + retry attempts, backoff between them. */
export async function deliverWithRetry(url: string, event: CloudEvent<unknown>, delivery: DeliverySpec | undefined, options: DeliveryOptions): Promise<DeliveryOutcome> {
  const retries = delivery?.retry ?? 0
  const policy = delivery?.backoffPolicy ?? 'exponential'
  const delay = delivery?.backoffDelayMs ?? 0
  const delaysMs: number[] = []
  let last: SendResult = { status: undefined }
  for (let attempt = 1; attempt <= retries + 1; attempt++) {
    if (attempt > 1) {
      const wait = backoffDelayMs(policy, delay, attempt - 1)
      delaysMs.push(wait)
      await options.sleep(wait)
    }
    let authorization: string | undefined
    try {
      authorization = await options.authorization?.()
    } catch (err) {
      // Knative's dispatcher fails the attempt when it cannot get a JWT (createRequest: "could not get JWT").
      last = { status: undefined, error: `could not get JWT: ${err instanceof Error ? err.message : String(err)}` }
      continue
    }
    last = await sendOnce(url, event, options.timeoutMs, authorization)
    if (last.status !== undefined && last.status >= 200 && last.status < 300) {
      return {
        delivered: true, attempts: attempt, lastStatus: last.status, delaysMs,
        ...(last.reply ? { reply: last.reply } : {}),
        ...(last.error ? { lastError: last.error } : {}),
      }
    }
    if (last.status !== undefined && !isRetryableStatus(last.status)) {
      return { delivered: false, attempts: attempt, lastStatus: last.status, delaysMs, ...(last.body ? { lastBody: last.body } : {}) }
    }
  }
  return { delivered: false, attempts: retries + 1, lastStatus: last.status, delaysMs, ...(last.error ? { lastError: last.error } : {}), ...(last.body ? { lastBody: last.body } : {}) }
}
