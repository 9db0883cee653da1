import type { EventTypeDefinition } from '../catalogue.ts'
import { REPLY_OBJECT_LIMIT } from '../outcome-list.ts'

/** health-report: the daily check of the platform, one structured report. */

export const HEALTH_CHECKS = [
  'nodes', 'pods', 'events', 'certificates', 'vault', 'backups', 'pvcs',
  'node-pressure', 'cordoned', 'disk-usage', 'resource-usage', 'commitment', 'workloads', 'pods-not-ready', 'restarts',
  'alerts', 'longhorn', 'externalsecrets',
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
} as const

const severityCounts = { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } } as const

/** The firing alerts' tally (alerts check): by severity label, and the oldest one. */
const alertSummary = {
  type: 'object',
  description: 'Alertmanager\'s active, unsilenced, uninhibited alerts: how many, by their severity label, and the oldest',
  required: ['firing', 'bySeverity'],
  properties: {
    firing: { type: 'integer', minimum: 0 },
    bySeverity: severityCounts,
    oldest: {
      type: 'object',
      required: ['alertname', 'startsAt'],
      properties: { alertname: { type: 'string' }, severity: { type: 'string' }, namespace: { type: 'string' }, startsAt: { type: 'string', format: 'date-time' } },
    },
  },
} as const

const counts = {
  type: 'object',
  required: ['critical', 'warning'],
  properties: { critical: { type: 'integer', minimum: 0 }, warning: { type: 'integer', minimum: 0 } },
} as const

const day = { type: 'string', format: 'date' } as const
const percent = { type: 'number', minimum: 0, maximum: 100 } as const

/** The raw figures' trends over the week, from the days that recorded them (see functions/health-report/checks/digest.ts, DayFigures). */
const weekFigures = {
  type: 'object',
  description: 'Raw figures the daily checks measured, compared over the week: container restarts, backup Jobs, fill growth per volume, firing alerts',
  properties: {
    restarts: {
      type: 'object',
      description: 'restarts: per day, the restartCount of the containers that restarted within the restart window, summed (restartCount counts since the pod started), and how many containers; the week\'s total and the week before\'s',
      required: ['days', 'total'],
      properties: {
        days: { type: 'array', maxItems: 7, items: { type: 'object', required: ['day', 'count', 'containers'], properties: { day, count: { type: 'integer', minimum: 0 }, containers: { type: 'integer', minimum: 0 } } } },
        total: { type: 'integer', minimum: 0 },
        previousWeek: { type: 'object', required: ['days', 'total'], properties: { days: { type: 'integer', minimum: 1, maximum: 7 }, total: { type: 'integer', minimum: 0 } } },
      },
    },
    backupJobs: {
      type: 'object',
      description: 'backups: per day, the configured backups\' Jobs in their windows that failed and succeeded; and the week summed',
      required: ['days', 'failed', 'succeeded'],
      properties: {
        days: { type: 'array', maxItems: 7, items: { type: 'object', required: ['day', 'failed', 'succeeded'], properties: { day, failed: { type: 'integer', minimum: 0 }, succeeded: { type: 'integer', minimum: 0 } } } },
        failed: { type: 'integer', minimum: 0 },
        succeeded: { type: 'integer', minimum: 0 },
      },
    },
    fill: {
      type: 'array', maxItems: 50,
      description: 'disk-usage: per node filesystem (Node/<node>, Node/<node>:imagefs) and PVC (<namespace>/<name>) among each day\'s fullest, the fill on the first and last day of the week that recorded it, the growth in percentage points per week and, growing, the days until full on a straight line (soon: within history.fillHorizon); the soonest full first',
      items: {
        type: 'object',
        required: ['volume', 'from', 'to', 'first', 'last', 'perWeek'],
        properties: {
          volume: { type: 'string' }, from: day, to: day, first: percent, last: percent, perWeek: { type: 'number' },
          daysToFull: { type: 'integer', minimum: 0 }, soon: { type: 'boolean' },
        },
      },
    },
    alerts: {
      type: 'object',
      description: 'alerts: per day, Alertmanager\'s firing alerts, by severity label',
      required: ['days'],
      properties: {
        days: { type: 'array', maxItems: 7, items: { type: 'object', required: ['day', 'firing', 'bySeverity'], properties: { day, firing: { type: 'integer', minimum: 0 }, bySeverity: severityCounts } } },
      },
    },
  },
} as const

/** The weekly digest: the daily reports of the last week compared (see functions/health-report/checks/digest.ts). */
const digestType = {
  type: 'dev.caretaker.health.digest',
  direction: 'outbound',
  description: 'The weekly health digest: the last seven daily reports compared (status per day, findings per check and per reason from first to last day, problems seen on several days, new and resolved ones, and the raw figures\' trends: restarts, backup Jobs, fill growth with days until full, firing alerts)',
  schema: {
    type: 'object',
    required: ['kind', 'from', 'to', 'reported', 'days', 'status', 'trends', 'recurring'],
    properties: {
      kind: { const: 'weekly' },
      from: { type: 'string', format: 'date' },
      to: { type: 'string', format: 'date' },
      reported: { type: 'integer', minimum: 0, maximum: 7, description: 'How many of the seven days have a daily report' },
      missing: { type: 'array', items: { type: 'string', format: 'date' } },
      status: { enum: ['healthy', 'degraded', 'critical', 'unknown'], description: 'The latest day\'s status (unknown without any)' },
      days: {
        type: 'array', maxItems: 7,
        items: { type: 'object', required: ['day', 'status', 'counts'], properties: { day: { type: 'string', format: 'date' }, status: { enum: ['healthy', 'degraded', 'critical'] }, counts } },
      },
      trends: {
        type: 'array', maxItems: 200,
        items: {
          type: 'object',
          required: ['key', 'first', 'last', 'max', 'change'],
          properties: { key: { type: 'string' }, first: { type: 'integer' }, last: { type: 'integer' }, max: { type: 'integer' }, change: { type: 'integer' } },
        },
      },
      recurring: {
        type: 'array', maxItems: 50,
        items: { type: 'object', required: ['problem', 'days'], properties: { problem: { type: 'string' }, days: { type: 'integer', minimum: 1 }, firstSeen: { type: 'string', format: 'date' }, lastSeen: { type: 'string', format: 'date' } } },
      },
      new: { type: 'array', maxItems: 50, items: { type: 'string' } },
      resolved: { type: 'array', maxItems: 50, items: { type: 'string' } },
      previousWeek: { type: 'object', description: 'The week before: days reported and the summed counts', properties: { reported: { type: 'integer', minimum: 0 }, counts } },
      figures: weekFigures,
    },
  },
} as const satisfies EventTypeDefinition

export const healthEvents = {
  HealthReportRequested: {
    type: 'dev.caretaker.health.report.requested',
    direction: 'inbound',
    description: 'Manual request to run the health check now (optionally only some of its checks)',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: { checks: { type: 'array', minItems: 1, maxItems: HEALTH_CHECKS.length, uniqueItems: true, items: { enum: [...HEALTH_CHECKS] } } },
    },
  },
  HealthReported: {
    type: 'dev.caretaker.health.reported',
    direction: 'outbound',
    description: 'The daily health check: overall status (healthy, degraded or critical) and every finding (nodes not Ready, failing pods, Warning events, certificates, Vault and its HA, backups, pending PVCs, firing alerts, Longhorn volumes, ExternalSecrets) with its severity',
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
        alerts: alertSummary,
        history: {
          type: 'object',
          description: 'Whether the daily run recorded its counts in the bounded history the weekly digest reads (not in dry-run)',
          required: ['recorded'],
          properties: { recorded: { type: 'boolean' }, days: { type: 'integer', minimum: 0 }, error: { type: 'string' } },
        },
      },
    },
  },
  HealthDigest: digestType,
} as const satisfies Record<string, EventTypeDefinition>

export const healthTypes: EventTypeDefinition[] = Object.values(healthEvents)
