import type { FromSchema, JsonSchema } from '../schema.ts'
import { alertEvents } from './types/alert.ts'
import { backupEvents } from './types/backup.ts'
import { certificateEvents } from './types/certificate.ts'
import { configurationEvents } from './types/configuration.ts'
import { databaseEvents } from './types/database.ts'
import { healthEvents } from './types/health.ts'
import { knativeEvents } from './types/knative.ts'
import { notificationEvents } from './types/notification.ts'
import { resourceEvents } from './types/resources.ts'
import { secretEvents } from './types/secret.ts'
import { snapshotEvents } from './types/snapshots.ts'
import { workloadEvents } from './types/workload.ts'
import { updateEvents } from './types/updates.ts'

/**
 * Every event type Caretaker receives or emits, with the JSON schema of its
 * data. Inbound types are those the real sources send (Knative PingSource and
 * ApiServerSource) and Caretaker's own requests; outbound types describe
 * outcomes. Naming: `dev.caretaker.<subject>.<action>` for outcomes and
 * `dev.caretaker.<subject>.<action>.requested` for requests.
 */
export interface EventTypeDefinition {
  readonly type: string
  readonly direction: 'inbound' | 'outbound'
  readonly description: string
  readonly schema: JsonSchema
}

/**
 * One module per subject under `types/`, each an object of definitions by
 * name; a function's types are added by importing its module here and
 * listing it below. The order is the catalogue's (the README lists it).
 */
export const Events = {
  ...knativeEvents,
  ...backupEvents,
  ...secretEvents,
  ...databaseEvents,
  ...snapshotEvents,
  ...resourceEvents,
  ...alertEvents,
  ...notificationEvents,
  ...certificateEvents,
  ...healthEvents,
  ...workloadEvents,
  ...updateEvents,
  ...configurationEvents,
} as const

export type EventName = keyof typeof Events
type Definition = (typeof Events)[EventName]

/** Every event type in the catalogue, as its literal string. */
export type EventType = Definition['type']

/**
 * The type name of each event, as typed constants: code writes
 * `EventTypes.BackupVerified`, never the string (a check in
 * test/events/literals.test.ts keeps it so). Built from Events; the cast
 * gives back the key and value types Object.fromEntries loses.
 */
export const EventTypes = Object.freeze(Object.fromEntries(Object.entries(Events).map(([name, d]) => [name, d.type]))) as { readonly [N in EventName]: (typeof Events)[N]['type'] }

/** The data of an event type, derived from its schema in the catalogue (one definition). */
export type EventData<T extends EventType> = FromSchema<Extract<Definition, { readonly type: T }>['schema']>

/** The data of each event type of the catalogue, by type. */
export type EventDataMap = { [T in EventType]: EventData<T> }

/**
 * Whether an event is of one of `types`, narrowing its data to that type's
 * schema. The data is trusted as typed because the runtime validated it
 * against that very schema before the handler saw it (EventDataValidator):
 * this is the one place that trust is written down, instead of a cast per
 * handler.
 */
export function isEvent<E extends { readonly type: string; readonly data?: unknown }, T extends EventType>(event: E, ...types: T[]): event is E & { readonly type: T; readonly data: EventData<T> } {
  return (types as readonly string[]).includes(event.type)
}

const definitions: EventTypeDefinition[] = Object.values(Events)

export const catalogue: ReadonlyMap<string, EventTypeDefinition> = new Map(definitions.map((d) => [d.type, d]))

export function eventTypeDefinition(type: string): EventTypeDefinition | undefined {
  return catalogue.get(type)
}

/** For tests and the README: registers extra types, e.g. a test function's own. */
export function defineEventTypes(extra: EventTypeDefinition[]): ReadonlyMap<string, EventTypeDefinition> {
  const merged = new Map(catalogue)
  for (const d of extra) merged.set(d.type, d)
  return merged
}
