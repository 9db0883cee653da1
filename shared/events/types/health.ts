import type { EventTypeDefinition } from '../catalogue.ts'
import { REPLY_OBJECT_LIMIT } from '../outcome-list.ts'

/** health-report: the daily check of the platform, one structured report. */

export const HEALTH_CHECKS = [
  'nodes', 'pods', 'events', 'certificates', 'vault', 'backups', 'pvcs',
  'node-pressure', 'cordoned', 'disk-usage', 'resource-usage', 'commitment', 'workloads', 'pods-not-ready', 'restarts',
] as const

const finding = {
  type: 'object',
  required: ['check', 'severity', 'object', 'reason', 'message'],
  properties: {
    check: { enum: [...HEALTH_CHECKS] },
    severity: { enum: ['warning', 'critical'] },
    object: {
      type: 'object',
      required: ['kind', 'name'],
      properties: { kind: { type: 'string' }, namespace: { type: 'string' }, name: { type: 'string' } },
    },
    reason: { type: 'string' },
    message: { type: 'string' },
    count: { type: 'integer', minimum: 1 },
    since: { type: 'string', format: 'date-time' },
    lastSeen: { type: 'string', format: 'date-time' },
  },
}

export const healthTypes: EventTypeDefinition[] = [
  {
    type: 'dev.caretaker.health.report.requested',
    direction: 'inbound',
    description: 'Manual request to run the health check now (optionally only some of its checks)',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: { checks: { type: 'array', minItems: 1, maxItems: HEALTH_CHECKS.length, uniqueItems: true, items: { enum: [...HEALTH_CHECKS] } } },
    },
  },
  {
    type: 'dev.caretaker.health.reported',
    direction: 'outbound',
    description: 'The daily health check: overall status (healthy, degraded or critical) and every finding (nodes not Ready, failing pods, Warning events, certificates, Vault, backups, pending PVCs) with its severity',
    schema: {
      type: 'object',
      required: ['status', 'checkedAt', 'checks', 'counts', 'findings'],
      properties: {
        status: { enum: ['healthy', 'degraded', 'critical'] },
        checkedAt: { type: 'string', format: 'date-time' },
        checks: { type: 'array', items: { enum: [...HEALTH_CHECKS] } },
        counts: {
          type: 'object',
          required: ['critical', 'warning'],
          properties: { critical: { type: 'integer', minimum: 0 }, warning: { type: 'integer', minimum: 0 } },
        },
        scanned: { type: 'object' },
        findings: { type: 'array', maxItems: REPLY_OBJECT_LIMIT, items: finding },
        omitted: {
          type: 'object',
          description: 'How many findings of each severity the report counts but does not list (it lists at most 500, critical first)',
          properties: { critical: { type: 'integer', minimum: 0 }, warning: { type: 'integer', minimum: 0 } },
        },
      },
    },
  },
]
