import type { EventTypeDefinition } from '../catalogue.ts'

/** maintain-databases: the manual request, the report, and degradations for notify and respond-to-alert. */

const severity = { enum: ['ok', 'info', 'warning', 'critical'] } as const
const finding = {
  type: 'object',
  required: ['task', 'check', 'severity', 'message', 'evidence'],
  properties: { task: { type: 'string' }, check: { type: 'string' }, severity, message: { type: 'string' }, evidence: { type: 'object' } },
} as const
const report = {
  type: 'object',
  required: ['target', 'kind', 'tasks', 'status', 'findings', 'actions', 'durationMs', 'dryRun'],
  properties: {
    target: { type: 'string' },
    kind: { enum: ['postgres', 'redis'] },
    tasks: { type: 'array', items: { type: 'string' } },
    status: severity,
    findings: { type: 'array', items: finding },
    actions: {
      type: 'array',
      items: { type: 'object', required: ['task', 'action', 'target', 'outcome'], properties: { task: { type: 'string' }, action: { type: 'string' }, target: { type: 'string' }, outcome: { enum: ['done', 'planned', 'skipped', 'failed'] }, reason: { type: 'string' }, durationMs: { type: 'integer' } } },
    },
    durationMs: { type: 'integer', minimum: 0 },
    dryRun: { type: 'boolean' },
  },
} as const

export const databaseEvents = {
  DatabaseMaintenanceRequested: {
    type: 'dev.caretaker.database.maintenance.requested',
    direction: 'inbound',
    description: 'Manual request to run maintenance on one database target: a schedule (daily, weekly, monthly) or one task',
    schema: {
      type: 'object',
      additionalProperties: false,
      required: ['target'],
      properties: {
        target: { type: 'string', minLength: 1 },
        task: { type: 'string', pattern: '^(daily|weekly|monthly|health|sizes|connections|slow-queries|bloat|indexes|settings|analyze|vacuum-analyze|memory|clients|slowlog|memory-purge|bgsave)$' },
      },
    },
  },
  DatabaseReported: {
    type: 'dev.caretaker.database.reported',
    direction: 'outbound',
    description: 'A database target\'s maintenance report: every finding with its severity and evidence, every action done, planned or skipped',
    schema: report,
  },
  DatabaseMaintenanceCompleted: {
    type: 'dev.caretaker.database.maintenance.completed',
    direction: 'outbound',
    description: 'A scheduled maintenance run (daily, weekly, monthly) finished: each target\'s status (each target also has its own report event)',
    schema: {
      type: 'object',
      required: ['schedule', 'status', 'targets', 'dryRun'],
      properties: {
        schedule: { enum: ['daily', 'weekly', 'monthly'] },
        status: severity,
        targets: { type: 'array', items: { type: 'object', required: ['target', 'kind', 'status'], properties: { target: { type: 'string' }, kind: { enum: ['postgres', 'redis'] }, status: severity, findings: { type: 'integer' }, actions: { type: 'integer' } } } },
        dryRun: { type: 'boolean' },
      },
    },
  },
  DatabaseDegraded: {
    type: 'dev.caretaker.database.degraded',
    direction: 'outbound',
    description: 'A database target has findings at warning or above (for notify and respond-to-alert)',
    schema: {
      type: 'object',
      required: ['target', 'status', 'findings'],
      properties: { target: { type: 'string' }, status: severity, findings: { type: 'array', items: finding } },
    },
  },
} as const satisfies Record<string, EventTypeDefinition>

export const databaseTypes: EventTypeDefinition[] = Object.values(databaseEvents)
