import type { CloudEvent } from 'cloudevents'
import type { Link, Message } from './templates.ts'

/**
 * The Broker's and every Trigger's dead-letter sink is notify's
 * `/dead-letter` route: an event Knative gave up on (its retries spent, or a
 * 4xx) arrives here as it was, with Knative's error extensions. It is
 * counted, logged and turned into a message, so a lost event is seen the
 * day it is lost, not when someone reads the dispatcher's logs.
 *
 * The event's data is never read: what failed to arrive may be anything.
 * The refusal's body (knativeerrordata) is one of Caretaker's error answers
 * (`{error, message}`), from which only the code and message are shown.
 */

/** The routing type of a dead-letter message (routes match it like any type). */
// notify's message type for a dead letter: never on the wire as an event, so not in the catalogue.
// eslint-disable-next-line no-restricted-syntax
export const DEAD_LETTER_TYPE = 'dev.caretaker.event.dead-lettered'

/** What the message and the log say of a dead letter. */
export interface DeadLetter {
  readonly id: string
  readonly type: string
  readonly source: string
  readonly subject: string | undefined
  readonly time: string | undefined
  /** Where Knative was delivering it (knativeerrordest). */
  readonly destination: string | undefined
  /** Its last HTTP status (knativeerrorcode); absent when it never answered. */
  readonly code: number | undefined
  /** The refusal's error code and message, from knativeerrordata. */
  readonly error: { readonly code?: string, readonly message?: string } | undefined
}

const MAX_TEXT = 300

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  return flat.length > MAX_TEXT ? `${flat.slice(0, MAX_TEXT - 1)}…` : flat
}

function extension(event: CloudEvent<unknown>, name: string): string | undefined {
  const v = (event as unknown as Record<string, unknown>)[name]
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined
}

/** The error of a refusal's body: Caretaker's `{error, message}`, or nothing when it is something else. */
function refusal(base64: string | undefined): DeadLetter['error'] {
  if (!base64) return undefined
  const text = Buffer.from(base64, 'base64').toString('utf8')
  try {
    const body = JSON.parse(text) as unknown
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const { error, message } = body as Record<string, unknown>
      const out = {
        ...(typeof error === 'string' && /^[a-z0-9_.-]{1,64}$/.test(error) ? { code: error } : {}),
        ...(typeof message === 'string' ? { message: oneLine(message) } : {}),
      }
      return Object.keys(out).length > 0 ? out : undefined
    }
  } catch {
    // Knative cuts the body at 1024 bytes: a long answer is no longer JSON. Its code is still readable.
    const code = /^\{"error":"([a-z0-9_.-]{1,64})"/.exec(text)?.[1]
    if (code) return { code }
  }
  return undefined
}

export function readDeadLetter(event: CloudEvent<unknown>): DeadLetter {
  const code = Number(extension(event, 'knativeerrorcode'))
  return {
    id: event.id,
    type: event.type,
    source: event.source,
    subject: event.subject,
    time: event.time,
    destination: extension(event, 'knativeerrordest'),
    code: Number.isInteger(code) && code > 0 ? code : undefined,
    error: refusal(extension(event, 'knativeerrordata')),
  }
}

/** The function a destination URL names: Knative's `http://<service>.<namespace>.svc…` host, or the URL itself. */
export function destinationName(destination: string | undefined): string {
  if (!destination) return 'unknown'
  try {
    const host = new URL(destination).hostname
    const [service, namespace] = host.split('.')
    return namespace && host.includes('.svc') ? `${namespace}/${service}` : host
  } catch {
    return 'unknown'
  }
}

export function deadLetterMessage(d: DeadLetter, links: readonly Link[], now: string): Message {
  const target = destinationName(d.destination)
  const refused = d.code !== undefined && d.code >= 400 && d.code < 500
  const why = d.code === undefined
    ? 'it never answered (unreachable or timing out)'
    : `its last answer was HTTP ${d.code}${d.error?.code ? ` ${d.error.code}` : ''}${d.error?.message ? `: ${d.error.message}` : ''}`
  const action = refused
    ? `${target} refused the event as invalid, so it was not retried. Fix the sender or the event (the message above says what), then send it again.`
    : `${target} failed or was down through every retry. Check its pods and log (search for event id ${d.id}), fix the cause, then send the event again; a sweep will also catch up what it missed.`
  return {
    type: DEAD_LETTER_TYPE,
    subject: d.subject,
    severity: 'critical',
    title: `Event lost: ${d.type} to ${target}${d.code === undefined ? '' : ` (HTTP ${d.code})`}`,
    what: `The Broker gave up delivering ${d.type} from ${d.source}: ${why}.`,
    where: `${target}${d.subject ? `, subject ${d.subject}` : ''}`,
    action,
    facts: [
      { label: 'Event id', value: d.id },
      { label: 'Source', value: d.source },
      ...(d.destination ? [{ label: 'Destination', value: d.destination }] : []),
      ...(d.code === undefined ? [] : [{ label: 'Last status', value: String(d.code) }]),
      ...(d.time ? [{ label: 'Event time', value: d.time }] : []),
    ],
    links: links.map((l) => ({
      label: l.label,
      url: l.url.replaceAll('{type}', encodeURIComponent(d.type)).replaceAll('{subject}', encodeURIComponent(d.subject ?? '')).replaceAll('{family}', 'dead-letter'),
    })),
    time: now,
  }
}
