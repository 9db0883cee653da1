import type { EventTypeDefinition } from '../catalogue.ts'
import { outcomeListSchema } from '../outcome-list.ts'

/** check-updates: the manual request and the report. It reports; it never upgrades anything. */

export const UPDATE_STATUSES = ['current', 'update-available', 'major-update', 'unknown'] as const
const count = { type: 'integer', minimum: 0 } as const

/** A request names at most this many namespaces. */
export const MAX_UPDATE_REQUEST_NAMESPACES = 100

const release = {
  type: 'object',
  required: ['namespace', 'release', 'revision', 'chart', 'version', 'status'],
  properties: {
    namespace: { type: 'string' },
    release: { type: 'string' },
    revision: { type: 'integer', minimum: 1 },
    chart: { type: 'string' },
    /** The deployed chart version, and its appVersion. */
    version: { type: 'string' },
    appVersion: { type: 'string' },
    repository: { type: 'string' },
    status: { enum: [...UPDATE_STATUSES] },
    latest: {
      type: 'object',
      required: ['version'],
      properties: { version: { type: 'string' }, appVersion: { type: 'string' }, created: { type: 'string' } },
    },
    deprecated: { type: 'boolean', description: 'The newest version of the chart in its repository is marked deprecated' },
    reason: { type: 'string', description: 'Why the status is unknown' },
  },
} as const

export const updateEvents = {
  UpdatesCheckRequested: {
    type: 'dev.caretaker.updates.check.requested',
    direction: 'inbound',
    description: 'Manual request to check for updates now (optionally only the Helm releases of some configured namespaces)',
    schema: {
      type: 'object', additionalProperties: false,
      properties: { namespaces: { type: 'array', minItems: 1, maxItems: MAX_UPDATE_REQUEST_NAMESPACES, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 63 } } },
    },
  },
  UpdatesReported: {
    type: 'dev.caretaker.updates.reported',
    direction: 'outbound',
    description: 'Updates available, reported and never applied: each Helm release\'s deployed chart version against the newest in its repository (current, update-available, major-update or unknown with why, deprecated charts flagged), and the cluster\'s Kubernetes version against its release channel (at most 500 releases listed, updates first; `omitted` counts the rest)',
    schema: {
      type: 'object',
      required: ['checkedAt', 'counts', 'objects'],
      properties: {
        checkedAt: { type: 'string', format: 'date-time' },
        namespaces: { type: 'array', items: { type: 'string' } },
        counts: {
          type: 'object',
          description: 'Releases by status',
          // One property per UPDATE_STATUSES entry, written out so the type follows from the schema.
          properties: { current: count, 'update-available': count, 'major-update': count, unknown: count },
        },
        deprecated: { type: 'integer', minimum: 0 },
        kubernetes: {
          type: 'object',
          required: ['status'],
          properties: {
            version: { type: 'string' },
            channel: { type: 'string' },
            latest: { type: 'string' },
            status: { enum: [...UPDATE_STATUSES] },
            reason: { type: 'string' },
          },
        },
        repositories: {
          type: 'array',
          description: 'Each repository read: reachable, or why not',
          items: { type: 'object', required: ['name', 'ok'], properties: { name: { type: 'string' }, ok: { type: 'boolean' }, charts: { type: 'integer', minimum: 0 }, reason: { type: 'string' } } },
        },
        ...outcomeListSchema(release),
      },
    },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const updateTypes: EventTypeDefinition[] = Object.values(updateEvents)
