import { eventTypeDefinition } from '../../../shared/events/catalogue.ts'
import { conform, type Loose } from '../../../shared/events/conform.ts'
import type { EventDataMap, EventType } from '../../../shared/events/catalogue.ts'
import { SEVERITIES, type Severity } from '../config.ts'
import { clip, MAX_FACTS } from '../liquid.ts'
import { severityWord } from './severity.ts'
import { alertViews } from './alert.ts'
import { backupViews } from './backup.ts'
import { certificateViews } from './certificate.ts'
import { cleanupViews } from './cleanup.ts'
import { databaseViews } from './database.ts'
import { healthViews } from './health.ts'
import { secretViews } from './secret.ts'
import { updateViews, configurationViews, workloadViews } from './other.ts'

/**
 * What a template reads: the event (`event.type`, `event.subject`,
 * `event.time`), every field of its data as the catalogue's schema describes
 * it (a field of the wrong type is left out, see shared/events/conform.ts),
 * and the values its view computes: counts, sorted and summarised lists,
 * look-ups. A view never writes a sentence the template could write.
 */

export interface EventFacts {
  readonly type: string
  readonly subject: string | undefined
  readonly time: string
}

export type View<T extends EventType> = (data: Loose<EventDataMap[T]>, event: EventFacts) => Record<string, unknown>
export type Views = { readonly [T in EventType]?: View<T> }

const VIEWS: Views = {
  ...backupViews,
  ...secretViews,
  ...certificateViews,
  ...healthViews,
  ...databaseViews,
  ...cleanupViews,
  ...alertViews,
  ...workloadViews,
  ...updateViews,
  ...configurationViews,
}

/** The family of a type: `dev.caretaker.backup.verified` → `backup`. */
export function family(type: string): string {
  return type.replace(/^dev\.caretaker\./, '').split('.')[0] ?? type
}

/** `dev.caretaker.snapshots.pruned` → `Snapshots pruned`. */
export function humanType(type: string): string {
  const parts = type.replace(/^dev\.caretaker\./, '').split('.')
  const text = parts.join(' ').replace(/[-_]/g, ' ')
  return text.charAt(0).toUpperCase() + text.slice(1)
}

/** The severity of an event no template knows: the more urgent of what its data says and what its type says. */
export function inferSeverity(type: string, data: unknown): Severity {
  const d = data && typeof data === 'object' ? data as Record<string, unknown> : {}
  const fromData = severityWord(d.severity) ?? severityWord(d.status) ?? severityWord(d.overall)
    ?? (d.verified === false || d.ok === false ? 'critical' : undefined)
    ?? (typeof d.failed === 'number' && d.failed > 0 ? 'warning' : undefined)
    ?? 'info'
  const action = type.split('.').slice(3).join('.')
  const fromType: Severity = /(^|\.)(failed|failure|error)(\.|$)/.test(action) ? 'critical'
    : /(degraded|expiring|expired|skipped|warning|stale|unhealthy)/.test(action) ? 'warning'
      : 'info'
  return SEVERITIES.indexOf(fromData) >= SEVERITIES.indexOf(fromType) ? fromData : fromType
}

/** Fields never shown, in case a type carries one: no value of a secret reaches a message. */
const SECRET_KEY = /(password|passwd|token|secret_?value|api_?key|private_?key|credential|^value)$/i

function scalarFacts(d: Record<string, unknown>): Array<{ label: string; value: string }> {
  const out: Array<{ label: string; value: string }> = []
  for (const [key, value] of Object.entries(d)) {
    if (out.length >= MAX_FACTS) break
    if (key === 'severity' || /url$/i.test(key) || SECRET_KEY.test(key)) continue
    const label = key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase())
    if (typeof value === 'string' && value.length > 0) out.push({ label, value: clip(value) })
    else if (typeof value === 'number' || typeof value === 'boolean') out.push({ label, value: String(value) })
    else if (Array.isArray(value)) out.push({ label, value: `${value.length} item${value.length === 1 ? '' : 's'}` })
  }
  return out
}

function text(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined
}

/** The generic template's view: for a type with no template, from whatever its data holds. */
function genericView(event: EventFacts, d: Record<string, unknown>): Record<string, unknown> {
  const description = eventTypeDefinition(event.type)?.description
  return {
    severity: inferSeverity(event.type, d),
    typeName: humanType(event.type),
    description: description ? description.split(';')[0]!.trim() : undefined,
    message: text(d.message) ?? text(d.reason) ?? text(d.summary),
    place: event.subject ?? text(d.target) ?? text(d.namespace) ?? text(d.name),
    fields: scalarFacts(d),
  }
}

/** The scope a template is rendered with. */
export function prepareView(input: EventFacts & { readonly data: unknown }, generic: boolean): Record<string, unknown> {
  const event: EventFacts = { type: input.type, subject: input.subject, time: input.time }
  const raw = input.data && typeof input.data === 'object' && !Array.isArray(input.data) ? input.data as Record<string, unknown> : {}
  if (generic) return { event, ...genericView(event, raw) }
  const def = eventTypeDefinition(input.type)
  const data = (def ? conform(def.schema, raw) : raw) as Record<string, unknown> | undefined ?? {}
  const view = VIEWS[input.type as EventType] as View<EventType> | undefined
  return { ...data, ...(view ? view(data as never, event) : {}), event }
}
