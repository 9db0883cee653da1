import type { JsonSchema } from '../schema.ts'
import { alertTypes } from './types/alert.ts'
import { backupTypes } from './types/backup.ts'
import { certificateTypes } from './types/certificate.ts'
import { configurationTypes } from './types/configuration.ts'
import { databaseTypes } from './types/database.ts'
import { healthTypes } from './types/health.ts'
import { knativeTypes } from './types/knative.ts'
import { notificationTypes } from './types/notification.ts'
import { resourceTypes } from './types/resources.ts'
import { secretTypes } from './types/secret.ts'
import { snapshotTypes } from './types/snapshots.ts'
import { workloadTypes } from './types/workload.ts'
import { updateTypes } from './types/updates.ts'

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
 * One module per subject under `types/`; a function's types are added by
 * importing its module here and listing it below.
 */
const definitions: EventTypeDefinition[] = [
  ...knativeTypes,
  ...backupTypes,
  ...secretTypes,
  ...databaseTypes,
  ...snapshotTypes,
  ...resourceTypes,
  ...alertTypes,
  ...notificationTypes,
  ...certificateTypes,
  ...healthTypes,
  ...workloadTypes,
  ...updateTypes,
  ...configurationTypes,
]

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
