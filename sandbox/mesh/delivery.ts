import { CloudEvent } from 'cloudevents'
import { JsonTooDeepError, parseJsonBounded, topLevelMembers } from '../../shared/json.ts'
import type { BackoffPolicy, DeliverySpec } from './manifests.ts'

/**
 * How an event travels through the mesh as it does through Knative's MT
 * broker: read at the ingress (and from a subscriber's reply) the way
 * knative/eventing pkg/broker/ingress/ingress_handler.go reads it, with
 * cloudevents/sdk-go v2 `binding.ToEvent` then `event.Validate()`, each a 400
 * when it fails; sent on as one binary-mode POST (sdk-go
 * v2/protocol/http/write_request.go), and the retry loop Knative's
 * dispatcher runs around it.
 *
 * What sdk-go keeps and what it changes, and so what the mesh does:
 * - `ce-*` header values are read verbatim (v2/protocol/http/message.go
 *   ReadBinary takes `v[0]`) and written verbatim (write_request.go
 *   SetAttribute/SetExtension): no percent-decoding, no re-encoding. A
 *   percent-encoded subject arrives at the subscriber exactly as sent.
 * - `id`, `source`, `type` are required, non-empty after trimming
 *   (v2/event/eventcontext_v1.go Validate); there is no default id.
 * - `time` is parsed with nanoseconds and written back as
 *   `t.UTC().Format(time.RFC3339Nano)` (v2/types/value.go ParseTime /
 *   FormatTime): an offset becomes Z, trailing zeros of the fraction go,
 *   nothing is cut to milliseconds. An event without `time` gets none.
 * - `datacontenttype` travels as Content-Type only when the sender set one
 *   (v2/binding/event_message.go ReadBinary writes the attributes present).
 * - data is bytes, forwarded unchanged; in structured mode the `data` member's
 *   own JSON text (v2/event/event_unmarshal.go consumeData,
 *   SkipAndReturnBytes), parsed with json-iterator, whose reader gives up
 *   beyond 10,000 nested levels (json-iterator/go iter.go maxDepth).
 */

export type Sleep = (ms: number) => Promise<void>

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Events that arrived without `time`: the SDK's CloudEvent invents one, the mesh must not forward it. */
const eventsWithoutTime = new WeakSet<CloudEvent<unknown>>()

export function markWithoutTime(event: CloudEvent<unknown>): void {
  eventsWithoutTime.add(event)
}

/** A copy with extensions added (a dead letter's knativeerror*), keeping what the original had on the wire. */
export function withExtensions(event: CloudEvent<unknown>, extensions: Readonly<Record<string, string>>): CloudEvent<unknown> {
  const copy = event.cloneWith(extensions, false)
  if (eventsWithoutTime.has(event)) markWithoutTime(copy)
  return copy
}

/** json-iterator's nesting limit, which sdk-go's structured reader inherits. */
export const KNATIVE_JSON_MAX_DEPTH = 10_000

/** Refused as Knative's ingress refuses it: a 400. */
export class MeshRefusal extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MeshRefusal'
  }
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/

/**
 * A timestamp as sdk-go re-encodes it: Go's time.Parse(time.RFC3339Nano)
 * (upper-case T and Z, seconds below 60, a fraction cut at nanoseconds), then
 * UTC, RFC3339Nano (fraction without trailing zeros). Throws on what Go refuses.
 */
export function knativeTime(value: string): string {
  const m = RFC3339.exec(value)
  if (!m) throw new MeshRefusal(`time ${JSON.stringify(value.slice(0, 64))} is not RFC 3339`)
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() + (month === 2 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? -1 : 0)
  const offsetHours = m[9] === undefined ? 0 : Number(m[9])
  const offsetMinutes = m[10] === undefined ? 0 : Number(m[10])
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) {
    throw new MeshRefusal(`time ${JSON.stringify(value.slice(0, 64))} is out of range`)
  }
  const utc = new Date(0)
  utc.setUTCFullYear(year, month - 1, day)
  utc.setUTCHours(hour, minute, second, 0)
  const sign = m[8] === '-' ? -1 : 1
  utc.setTime(utc.getTime() - sign * (offsetHours * 60 + offsetMinutes) * 60_000)
  const fraction = (m[7] ?? '').slice(0, 9).replace(/0+$/, '')
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0')
  return `${pad(utc.getUTCFullYear(), 4)}-${pad(utc.getUTCMonth() + 1)}-${pad(utc.getUTCDate())}T${pad(utc.getUTCHours())}:${pad(utc.getUTCMinutes())}:${pad(utc.getUTCSeconds())}${fraction ? `.${fraction}` : ''}Z`
}

type Headers = Record<string, string | string[] | undefined>

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*(;.*)?$/
/** What Go's url.Parse refuses in a URI reference (net/url stringContainsCTLByte, unescape): control characters and a `%` not followed by two hex digits. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
const BAD_URI = /[\x00-\x1f\x7f]|%(?![0-9A-Fa-f]{2})/
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:/
/** sdk-go v2/event/extensions.go validateExtensionName: ASCII letters and digits. */
const ATTRIBUTE_NAME = /^[A-Za-z0-9]+$/

function isJsonMediaType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
  return type === '' || type === 'application/json' || type === 'text/json' || type.endsWith('+json')
}

/** eventcontext_v1.go Validate, and the parsing sdk-go does while reading each attribute. */
function checkContext(attrs: Record<string, unknown>): void {
  for (const name of ['id', 'source', 'type'] as const) {
    const value = attrs[name]
    if (typeof value !== 'string' || value.trim() === '') throw new MeshRefusal(`${name}: MUST be a non-empty string`)
  }
  if (BAD_URI.test(attrs.source as string)) throw new MeshRefusal('source: not a URI reference')
  if (attrs.subject !== undefined && (typeof attrs.subject !== 'string' || attrs.subject.trim() === '')) throw new MeshRefusal('subject: if present, MUST be a non-empty string')
  if (attrs.datacontenttype !== undefined && (typeof attrs.datacontenttype !== 'string' || !MEDIA_TYPE.test(attrs.datacontenttype.trim()))) {
    throw new MeshRefusal('datacontenttype: not an RFC 2046 media type')
  }
  if (attrs.dataschema !== undefined && (typeof attrs.dataschema !== 'string' || !ABSOLUTE_URI.test(attrs.dataschema) || BAD_URI.test(attrs.dataschema))) {
    throw new MeshRefusal('dataschema: if present, MUST be an absolute URI')
  }
  if (attrs.time !== undefined) {
    if (typeof attrs.time !== 'string') throw new MeshRefusal('time: MUST be an RFC 3339 string')
    attrs.time = knativeTime(attrs.time)
  }
  for (const name of Object.keys(attrs)) {
    if (!ATTRIBUTE_NAME.test(name)) throw new MeshRefusal(`attribute name ${JSON.stringify(name.slice(0, 64))}: MUST consist of letters and digits`)
  }
}

function build(attrs: Record<string, unknown>, data: Buffer | undefined): CloudEvent<unknown> {
  const hasTime = attrs.time !== undefined
  const event = new CloudEvent<unknown>({ ...(attrs as { source: string; type: string }), ...(data === undefined ? {} : { data }) }, false)
  if (!hasTime) markWithoutTime(event)
  return event
}

function readBinary(headers: Headers, body: Buffer): CloudEvent<unknown> {
  const attrs: Record<string, unknown> = {}
  for (const [header, value] of Object.entries(headers)) {
    if (!header.startsWith('ce-') || value === undefined) continue
    attrs[header.slice(3)] = first(value)
  }
  if (attrs.specversion !== '1.0') throw new MeshRefusal(`specversion ${JSON.stringify(attrs.specversion)} is not 1.0`)
  const contentType = first(headers['content-type'])
  if (contentType !== undefined) attrs.datacontenttype = contentType
  checkContext(attrs)
  return build(attrs, body.length === 0 ? undefined : body)
}

/** An extension's JSON value as sdk-go's types.Validate takes it: string, boolean, or an integer within int32. */
function extensionValue(name: string, value: unknown): unknown {
  if (typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31) return value
  throw new MeshRefusal(`extension ${name}: MUST be a string, boolean or 32-bit integer`)
}

function readStructured(body: Buffer): CloudEvent<unknown> {
  const text = body.toString('utf8')
  let parsed: unknown
  try {
    parsed = parseJsonBounded(text, KNATIVE_JSON_MAX_DEPTH)
  } catch (err) {
    throw new MeshRefusal(err instanceof JsonTooDeepError ? `structured event: ${err.message}` : 'structured event: not valid JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new MeshRefusal('structured event: not a JSON object')
  const attrs: Record<string, unknown> = {}
  let data: Buffer | undefined
  const fields = parsed as Record<string, unknown>
  for (const [name, value] of Object.entries(fields)) {
    if (name === 'data' || name === 'data_base64' || value === null) continue
    if (['specversion', 'id', 'type', 'source', 'subject', 'time', 'dataschema', 'datacontenttype'].includes(name)) {
      if (typeof value !== 'string') throw new MeshRefusal(`${name}: MUST be a string`)
      attrs[name] = value
    } else attrs[name] = extensionValue(name, value)
  }
  if (attrs.specversion !== '1.0') throw new MeshRefusal(`specversion ${JSON.stringify(attrs.specversion)} is not 1.0`)
  checkContext(attrs)
  if (typeof fields.data_base64 === 'string') data = Buffer.from(fields.data_base64, 'base64')
  else if (fields.data_base64 !== undefined && fields.data_base64 !== null) throw new MeshRefusal('data_base64: MUST be a base64 string')
  else if (fields.data !== undefined) {
    if (isJsonMediaType(attrs.datacontenttype as string | undefined)) data = Buffer.from(topLevelMembers(text).get('data')!, 'utf8')
    else if (typeof fields.data === 'string') data = Buffer.from(fields.data, 'utf8')
    else throw new MeshRefusal(`data: a ${String(attrs.datacontenttype)} payload MUST be a JSON string`)
  }
  return build(attrs, data)
}

/**
 * Reads an HTTP message into a CloudEvent as Knative's ingress does; undefined
 * when the message is neither binary nor structured mode, MeshRefusal when
 * it is one of them but Knative would not accept it.
 */
export function eventFromMessage(headers: Headers, body: Buffer): CloudEvent<unknown> | undefined {
  const mediaType = String(first(headers['content-type']) ?? '').split(';')[0]!.trim().toLowerCase()
  if (mediaType === 'application/cloudevents+json') return readStructured(body)
  if (mediaType.startsWith('application/cloudevents-batch')) throw new MeshRefusal('batched events are not accepted')
  if (headers['ce-specversion'] === undefined) return undefined
  return readBinary(headers, body)
}

export interface BinaryRequest {
  readonly headers: Record<string, string>
  readonly body: string | Uint8Array | undefined
}

const NOT_HEADERS = new Set(['data', 'data_base64', 'datacontenttype'])

/** The event as sdk-go writes it in binary mode: every attribute present, verbatim; Content-Type only when set. */
/**
 * A header value as Knative's dispatcher writes it: Go's net/http puts the
 * string's UTF-8 bytes on the wire as they are (sdk-go's binary writer does
 * no percent-encoding of its own). Node sends a header string's code units
 * as single bytes, so the UTF-8 bytes are spelled out one per code unit; a
 * value that arrived in a binary-mode header is already bytes and passes
 * unchanged. (An attribute from a structured-mode event may hold any
 * Unicode; written as is, Node would refuse it outright.)
 */
function wireValue(value: string): string {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0xff) return Buffer.from(value, 'utf8').toString('latin1')
  }
  return value
}

export function toBinaryRequest(event: CloudEvent<unknown>): BinaryRequest {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(event)) {
    if (NOT_HEADERS.has(name) || value === undefined || value === null) continue
    if (name === 'time' && eventsWithoutTime.has(event)) continue
    headers[`ce-${name}`] = wireValue(value instanceof Date ? value.toISOString() : String(value))
  }
  if (typeof event.datacontenttype === 'string') headers['content-type'] = event.datacontenttype
  const data = event.data
  let body: string | Uint8Array | undefined
  if (data === undefined || data === null) body = undefined
  else if (data instanceof Uint8Array || typeof data === 'string') body = data
  else body = JSON.stringify(data)
  return { headers, body }
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
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : err instanceof Error && err.message ? `: ${err.message}` : ''
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
