import type { EventTypeDefinition } from '../catalogue.ts'
import { outcomeListSchema } from '../outcome-list.ts'

/** prune-snapshots: the manual request and the outcome. */

export const snapshotEvents = {
  SnapshotsPruneRequested: {
    type: 'dev.caretaker.snapshots.prune.requested',
    direction: 'inbound',
    description: 'Manual request to apply one retention policy (or all) now',
    schema: { type: 'object', additionalProperties: false, properties: { policy: { type: 'string', minLength: 1 } } },
  },
  SnapshotsPruned: {
    type: 'dev.caretaker.snapshots.pruned',
    direction: 'outbound',
    description: 'Retention applied: per policy, the counts, and the snapshots kept or deleted (or what a dry-run would delete) with their reasons (at most 500 listed per policy, acted-on first; `omitted` counts the rest, and each one acted on is in the log)',
    schema: {
      type: 'object',
      required: ['dryRun', 'capReached', 'policies'],
      properties: {
        dryRun: { type: 'boolean' },
        capReached: { type: 'boolean' },
        /** The run stopped at its deadline (CARETAKER_RUN_DEADLINE): what it did not reach is deferred to the next run. */
        deadlineReached: { type: 'boolean' },
        policies: {
          type: 'array',
          items: {
            type: 'object',
            required: ['policy', 'kind', 'listed', 'kept', 'deleted', 'failed', 'deferred', 'objects'],
            properties: {
              policy: { type: 'string' }, kind: { type: 'string' },
              listed: { type: 'integer' }, kept: { type: 'integer' }, deleted: { type: 'integer' }, failed: { type: 'integer' }, deferred: { type: 'integer' },
              keptBecause: { type: 'object', description: 'How many kept snapshots each reason kept', additionalProperties: { type: 'integer', minimum: 0 } },
              ...outcomeListSchema({
                type: 'object',
                required: ['namespace', 'name', 'volume', 'createdAt', 'ready', 'action', 'reasons'],
                properties: {
                  namespace: { type: 'string' }, name: { type: 'string' }, volume: { type: 'string' }, createdAt: { type: 'string' }, ready: { type: 'boolean' },
                  action: { enum: ['keep', 'deleted', 'would-delete', 'failed', 'deferred'] },
                  reasons: { type: 'array', items: { type: 'string' } },
                },
              }),
            },
          },
        },
      },
    },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const snapshotTypes: EventTypeDefinition[] = Object.values(snapshotEvents)
