import type { CloudEvent } from 'cloudevents'
import { renderMessage, type Message } from '../functions/notify/templates.ts'

/**
 * How a person reads an outcome: notify's own message templates (one per
 * outbound type of the catalogue, a generic one for the rest), so the
 * terminal says what a chat message would. Used by `npm start`'s outcome
 * lines and `caretaker run`.
 */

const SOURCE_PREFIX = '/caretaker/functions/'

/** The function that sent an event (its source is `/caretaker/functions/<name>`), if one did. */
export function outcomeFunction(event: Pick<CloudEvent<unknown>, 'source'>): string | undefined {
  return event.source.startsWith(SOURCE_PREFIX) ? event.source.slice(SOURCE_PREFIX.length) || undefined : undefined
}

/** The event's data, read as JSON when it came as bytes (the mesh forwards data byte for byte). */
export function outcomeData(event: CloudEvent<unknown>): unknown {
  const data = event.data
  if (!(data instanceof Uint8Array)) return data
  try {
    return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as unknown
  } catch {
    return undefined
  }
}

/** Whether the outcome comes from a dry run: the `dryrun` extension the runtime sets on every reply of one (shared/events/reply.ts). */
export function isDryRunOutcome(event: CloudEvent<unknown>): boolean {
  const v = (event as unknown as Record<string, unknown>).dryrun
  if (v !== undefined) return String(v).toLowerCase() !== 'false'
  const data = outcomeData(event)
  return Boolean(data && typeof data === 'object' && (data as Record<string, unknown>).dryRun === true)
}

export function outcomeMessage(event: CloudEvent<unknown>): Message {
  return renderMessage({ type: event.type, subject: event.subject, data: outcomeData(event), time: event.time ?? new Date().toISOString() })
}

function dryRunNote(event: CloudEvent<unknown>, title: string): string {
  if (!isDryRunOutcome(event)) return ''
  return /dry-run/.test(title) ? '' : ' (dry-run: nothing was changed)'
}

/** One line: `verify-backup: Backup verification failed: postgresql (dry-run: nothing was changed)`. */
export function outcomeLine(event: CloudEvent<unknown>): string {
  const message = outcomeMessage(event)
  return `${outcomeFunction(event) ?? event.source}: ${message.title}${dryRunNote(event, message.title)}`
}

/** The whole message, for `caretaker run`: title, what, where, what to do, facts. */
export function outcomeText(event: CloudEvent<unknown>): string {
  const m = outcomeMessage(event)
  const lines = [`${outcomeFunction(event) ?? event.source}: ${m.title}${dryRunNote(event, m.title)}`]
  if (m.what) lines.push(`  ${m.what}`)
  if (m.where) lines.push(`  Where: ${m.where}`)
  if (m.action) lines.push(`  What to do: ${m.action}`)
  for (const f of m.facts) lines.push(`  ${f.label}: ${f.value}`)
  lines.push(`  (${event.type}, ${isDryRunOutcome(event) ? 'dry-run' : 'applied'}, severity ${m.severity})`)
  return lines.join('\n')
}
