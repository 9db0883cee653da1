import { CloudEvent, HTTP } from 'cloudevents'
import { CaretakerError, Errors } from '../errors.ts'
import { JsonTooDeepError, parseJsonBounded } from '../json.ts'

/**
 * The HTTP protocol binding of CloudEvents 1.0, inbound side. The SDK's
 * HTTP.toEvent parses bodies with json-bigint and validates with its own
 * ajv schema on every event; here each attribute is checked once, with an
 * error that names it, and the SDK's CloudEvent is built unvalidated.
 */

export type IncomingHeaders = Record<string, string | string[] | undefined>

const REQUIRED = ['id', 'source', 'type'] as const
const ATTRIBUTE_NAME = /^[a-z0-9]{1,64}$/
const CE_STRUCTURED = 'application/cloudevents+json'
const CE_BATCH = 'application/cloudevents-batch'

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase()
}

function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json'
}

function header(headers: IncomingHeaders, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/**
 * How deep event JSON may nest. Nothing Caretaker receives comes near it (a
 * Kubernetes object with managedFields is about 15); beyond it the data is
 * refused with a 400 before anything walks it recursively.
 */
export const MAX_JSON_DEPTH = 64

function parseJson(text: string, what: string): unknown {
  try {
    return parseJsonBounded(text, MAX_JSON_DEPTH)
  } catch (err) {
    if (err instanceof JsonTooDeepError) throw new CaretakerError(Errors.InvalidEventData, `${what} nests deeper than ${MAX_JSON_DEPTH} levels; flatten it`)
    throw err
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** RFC 7230 section 3.2.6 quoted-string: drop the quotes, keep what a backslash escapes. */
function unquote(value: string): string {
  if (!value.includes('"')) return value
  let out = ''
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (c === '"') quoted = !quoted
    else if (quoted && c === '\\' && i + 1 < value.length) out += value[++i]
    else out += c
  }
  return out
}

/**
 * A `ce-*` header value decoded as the HTTP binding (spec v1.0.2,
 * http-protocol-binding.md 3.1.3.2) prescribes: quoted strings unescaped,
 * then one round of percent-decoding; byte sequences that are not UTF-8
 * (overlong ones included) are refused. Node hands header bytes over as
 * Latin-1; raw UTF-8 from a sender that did not encode is read as UTF-8.
 */
export function decodeHeaderValue(raw: string, name: string): string {
  let value = unquote(raw)
  if (/[\u0080-\uffff]/.test(value)) {
    try {
      value = utf8.decode(Buffer.from(value, 'latin1'))
    } catch {
      throw new CaretakerError(Errors.InvalidCloudEvent, `header ce-${name} is not UTF-8`)
    }
  }
  if (!value.includes('%')) return value
  try {
    return decodeURIComponent(value)
  } catch {
    throw new CaretakerError(Errors.InvalidCloudEvent, `header ce-${name} is not valid percent-encoding of UTF-8`)
  }
}

/**
 * A `ce-*` header value encoded as the HTTP binding prescribes: space,
 * double quote, percent and everything outside printable US-ASCII become
 * %XY of their UTF-8 bytes (upper-case hex); a surrogate pair is one
 * character. Node refuses to write header values with control or non-Latin-1
 * characters, so without this a subject from an alert label failed the reply.
 */
export function encodeHeaderValue(value: string): string {
  if (/^[\x21\x23\x24\x26-\x7e]*$/.test(value)) return value
  let out = ''
  for (const ch of value) {
    const code = ch.codePointAt(0)!
    if (code >= 0x21 && code <= 0x7e && code !== 0x22 && code !== 0x25) out += ch
    else for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

function decodeData(body: Buffer, contentType: string | undefined): unknown {
  if (body.length === 0) return undefined
  const type = mediaType(contentType)
  if (type === '' || isJsonMediaType(type)) {
    const text = body.toString('utf8')
    try {
      return parseJson(text, 'data')
    } catch (err) {
      if (err instanceof CaretakerError) throw err
      // Without a content type the data need not be JSON: keep it as text.
      if (type === '') return text
      throw new CaretakerError(Errors.InvalidCloudEvent, `data is declared as ${type} but is not valid JSON`)
    }
  }
  if (type.startsWith('text/') || type === 'application/xml') return body.toString('utf8')
  return body
}

function checkAttributes(attrs: Record<string, unknown>, mode: string): void {
  if (attrs.specversion !== '1.0') {
    const got = attrs.specversion === undefined ? 'none' : JSON.stringify(attrs.specversion)
    throw new CaretakerError(Errors.InvalidCloudEvent, `${mode} CloudEvent has specversion ${got}; only 1.0 is accepted`)
  }
  for (const name of REQUIRED) {
    const v = attrs[name]
    if (typeof v !== 'string' || v.length === 0) {
      throw new CaretakerError(Errors.InvalidCloudEvent, `${mode} CloudEvent is missing the required attribute ${name}`)
    }
  }
  if (attrs.time !== undefined && (typeof attrs.time !== 'string' || Number.isNaN(Date.parse(attrs.time)))) {
    throw new CaretakerError(Errors.InvalidCloudEvent, 'attribute time must be an RFC 3339 timestamp')
  }
  for (const name of Object.keys(attrs)) {
    if (name !== 'data' && name !== 'data_base64' && !ATTRIBUTE_NAME.test(name)) {
      throw new CaretakerError(Errors.InvalidCloudEvent, `attribute name ${JSON.stringify(name.slice(0, 80))} is invalid: names are lower-case letters and digits`)
    }
  }
}

function parseBinary(headers: IncomingHeaders, body: Buffer): CloudEvent<unknown> {
  const attrs: Record<string, unknown> = {}
  for (const [name, raw] of Object.entries(headers)) {
    if (!name.startsWith('ce-') || raw === undefined) continue
    const attr = name.slice(3)
    attrs[attr] = decodeHeaderValue(Array.isArray(raw) ? raw.join(',') : raw, attr)
  }
  checkAttributes(attrs, 'binary')
  const contentType = header(headers, 'content-type')
  if (contentType) attrs.datacontenttype = contentType
  const data = decodeData(body, contentType)
  if (data !== undefined) attrs.data = data
  return new CloudEvent(attrs as Record<string, unknown> & { type: string; source: string }, false)
}

function parseStructured(body: Buffer): CloudEvent<unknown> {
  let parsed: unknown
  try {
    parsed = parseJson(body.toString('utf8'), 'the structured CloudEvent')
  } catch (err) {
    if (err instanceof CaretakerError) throw err
    throw new CaretakerError(Errors.InvalidCloudEvent, 'structured CloudEvent body is not valid JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CaretakerError(Errors.InvalidCloudEvent, 'structured CloudEvent body must be a JSON object')
  }
  const attrs = { ...(parsed as Record<string, unknown>) }
  checkAttributes(attrs, 'structured')
  for (const name of Object.keys(attrs)) {
    const v = attrs[name]
    if (name !== 'data' && v !== null && typeof v === 'object') {
      throw new CaretakerError(Errors.InvalidCloudEvent, `attribute ${name} must be a string, number or boolean`)
    }
  }
  if (attrs.data_base64 !== undefined) {
    if (typeof attrs.data_base64 !== 'string') throw new CaretakerError(Errors.InvalidCloudEvent, 'data_base64 must be a base64 string')
    if (attrs.data !== undefined) throw new CaretakerError(Errors.InvalidCloudEvent, 'a CloudEvent carries data or data_base64, not both')
    attrs.data = Buffer.from(attrs.data_base64, 'base64')
    delete attrs.data_base64
  }
  return new CloudEvent(attrs as Record<string, unknown> & { type: string; source: string }, false)
}

/** Parse an HTTP request into a CloudEvent or throw a 4xx CaretakerError. */
export function parseCloudEvent(headers: IncomingHeaders, body: Buffer): CloudEvent<unknown> {
  const type = mediaType(header(headers, 'content-type'))
  if (type.startsWith(CE_BATCH)) {
    throw new CaretakerError(Errors.UnsupportedMediaType, 'batched CloudEvents are not accepted; send one event per request')
  }
  if (type === CE_STRUCTURED) return parseStructured(body)
  if (type.startsWith('application/cloudevents')) {
    throw new CaretakerError(Errors.UnsupportedMediaType, `structured mode supports ${CE_STRUCTURED} only, got ${type}`)
  }
  if (header(headers, 'ce-specversion') === undefined && header(headers, 'ce-id') === undefined) {
    throw new CaretakerError(Errors.NotACloudEvent, 'the request is not a CloudEvent: send ce-* headers (binary mode) or an application/cloudevents+json body (structured mode)')
  }
  return parseBinary(headers, body)
}

/** Reply in binary mode, as Knative expects. */
export function toBinaryMessage(event: CloudEvent<unknown>): { headers: Record<string, string>; body: string | Buffer | undefined } {
  const message = HTTP.binary(event)
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(message.headers)) {
    const name = k.toLowerCase()
    headers[name] = name.startsWith('ce-') ? encodeHeaderValue(String(v)) : String(v)
  }
  const body = message.body as unknown
  if (body === undefined || body === null) return { headers, body: undefined }
  if (typeof body === 'string') return { headers, body }
  if (body instanceof Uint8Array) return { headers, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) }
  return { headers, body: JSON.stringify(body) }
}
