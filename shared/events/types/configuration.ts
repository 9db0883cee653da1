import type { EventTypeDefinition } from '../catalogue.ts'

/** back-up-configuration: Grafana and the cluster's monitoring configuration as one dated archive. */

export const CONFIGURATION_PARTS = ['dashboards', 'alert-rules', 'contact-points', 'policies', 'prometheusrules', 'configmaps'] as const

const names = { type: 'array', items: { type: 'string' } } as const

export const configurationEvents = {
  ConfigurationBackupRequested: {
    type: 'dev.caretaker.configuration.backup.requested',
    direction: 'inbound',
    description: 'Manual request to back up the configuration now, e.g. before a change (optionally only some parts, with a reason kept in the archive)',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        parts: { type: 'array', minItems: 1, maxItems: CONFIGURATION_PARTS.length, uniqueItems: true, items: { enum: [...CONFIGURATION_PARTS] } },
        reason: { type: 'string', minLength: 1, maxLength: 500 },
      },
    },
  },
  ConfigurationBackedUp: {
    type: 'dev.caretaker.configuration.backed-up',
    direction: 'outbound',
    description: 'A configuration archive was written: its name, path, size and SHA-256, how many dashboards, alert rules, contact points, PrometheusRules and ConfigMaps it holds, and which old archives retention deleted (or would delete, in dry-run)',
    schema: {
      type: 'object',
      required: ['archive', 'counts', 'parts', 'startedAt', 'durationMs', 'retention'],
      properties: {
        archive: {
          type: 'object',
          required: ['name', 'path', 'size', 'sha256', 'files'],
          properties: {
            name: { type: 'string' }, path: { type: 'string' }, size: { type: 'integer', minimum: 0 },
            sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, files: { type: 'integer', minimum: 0 },
          },
        },
        counts: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } },
        parts: { type: 'array', items: { enum: [...CONFIGURATION_PARTS] } },
        reason: { type: 'string' },
        startedAt: { type: 'string', format: 'date-time' },
        durationMs: { type: 'integer', minimum: 0 },
        retention: {
          type: 'object',
          required: ['keep', 'kept', 'deleted', 'wouldDelete', 'dryRun'],
          properties: { keep: { type: 'integer', minimum: 1 }, kept: { type: 'integer', minimum: 0 }, deleted: names, wouldDelete: names, dryRun: { type: 'boolean' } },
        },
      },
    },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const configurationTypes: EventTypeDefinition[] = Object.values(configurationEvents)
