import type { EventTypeDefinition } from '../catalogue.ts'
import { outcomeListSchema } from '../outcome-list.ts'

/** clean-up-resources: the manual request and the outcome. */

const item = {
  type: 'object',
  required: ['kind', 'namespace', 'name', 'action', 'reasons'],
  properties: {
    kind: { enum: ['Job', 'ReplicaSet', 'PersistentVolumeClaim'] }, namespace: { type: 'string' }, name: { type: 'string' },
    action: { enum: ['keep', 'deleted', 'would-delete', 'failed', 'deferred', 'reported'] },
    reasons: { type: 'array', items: { type: 'string' } },
  },
} as const

/** A Kubernetes namespace name is at most 63 characters; a request names at most this many. */
export const MAX_REQUEST_NAMESPACES = 100

export const resourceEvents = {
  ResourcesCleanRequested: {
    type: 'dev.caretaker.resources.clean.requested',
    direction: 'inbound',
    description: 'Manual request to run the clean-up now (optionally only some namespaces of the configured ones)',
    // Bounded and duplicate-free: 1,000 repeats of one namespace once meant 1,000 sweeps of it.
    schema: {
      type: 'object', additionalProperties: false,
      properties: { namespaces: { type: 'array', maxItems: MAX_REQUEST_NAMESPACES, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 63 } } },
    },
  },
  ResourcesCleaned: {
    type: 'dev.caretaker.resources.cleaned',
    direction: 'outbound',
    description: 'Clean-up done: the counts of every finished Job, old ReplicaSet and unused PVC looked at, and those kept, deleted or reported with their reasons (at most 500 listed, acted-on first; `omitted` counts the rest, and each object acted on is in the log)',
    schema: {
      type: 'object',
      required: ['dryRun', 'capReached', 'counts', 'objects'],
      properties: {
        dryRun: { type: 'boolean' },
        capReached: { type: 'boolean' },
        /** The run stopped at its deadline (CARETAKER_RUN_DEADLINE): what it did not reach is deferred to the next run. */
        deadlineReached: { type: 'boolean' },
        counts: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
        kept: { type: 'object', description: 'How many kept objects each reason kept', additionalProperties: { type: 'integer', minimum: 0 } },
        ...outcomeListSchema(item),
      },
    },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const resourceTypes: EventTypeDefinition[] = Object.values(resourceEvents)
