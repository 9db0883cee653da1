import type { EventTypeDefinition } from '../catalogue.ts'
import type { JsonSchema } from '../../schema.ts'

/** verify-backup: the manual request, and each backup set's outcome. */

const checkNames = ['job', 'presence', 'age', 'size', 'integrity', 'checksum', 'restore', 'longhorn']

const backupSetReport: JsonSchema = {
  type: 'object',
  required: ['set', 'format', 'verified', 'checks', 'durationMs', 'verifiedAt'],
  properties: {
    set: { type: 'string', minLength: 1 },
    format: { type: 'string' },
    verified: { type: 'boolean' },
    failedCheck: { enum: checkNames },
    artifact: {
      type: 'object',
      required: ['name', 'path', 'size', 'modified'],
      properties: { name: { type: 'string' }, path: { type: 'string' }, size: { type: 'integer', minimum: 0 }, modified: { type: 'string', format: 'date-time' } },
    },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['check', 'ok', 'message', 'evidence', 'durationMs'],
        properties: {
          check: { enum: checkNames },
          ok: { type: 'boolean' },
          message: { type: 'string' },
          evidence: { type: 'object' },
          durationMs: { type: 'integer', minimum: 0 },
        },
      },
    },
    durationMs: { type: 'integer', minimum: 0 },
    verifiedAt: { type: 'string', format: 'date-time' },
    trigger: { type: 'string' },
    event: { type: 'object' },
    restore: {
      type: 'object',
      required: ['state', 'job', 'namespace', 'image'],
      properties: {
        state: { const: 'started' },
        job: { type: 'string', minLength: 1 },
        namespace: { type: 'string', minLength: 1 },
        image: { type: 'string', minLength: 1 },
        existing: { type: 'boolean' },
      },
    },
  },
}

export const backupTypes: EventTypeDefinition[] = [
  {
    type: 'dev.caretaker.backup.verify.requested',
    direction: 'inbound',
    description: 'Manual request to verify one backup set, or one artifact by path',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        set: { type: 'string', minLength: 1 },
        path: { type: 'string', minLength: 1 },
      },
      anyOf: [{ required: ['set'] }, { required: ['path'] }],
    },
  },
  {
    type: 'dev.caretaker.backup.verified',
    direction: 'outbound',
    description: 'A backup set passed every check; data is the set report (artifact, each check with its evidence, durations)',
    schema: backupSetReport,
  },
  {
    type: 'dev.caretaker.backup.verification.failed',
    direction: 'outbound',
    description: 'A backup set failed a check; data is the set report with failedCheck naming it',
    schema: { ...backupSetReport, required: [...(backupSetReport.required as string[]), 'failedCheck'] },
  },
  {
    type: 'dev.caretaker.backup.restore.started',
    direction: 'outbound',
    description: 'A backup set passed every check before its restore test, which now runs as a Kubernetes Job (restore.mode: job); data is the set report so far, with restore naming the Job. Its completion brings backup.verified or backup.verification.failed',
    schema: { ...backupSetReport, required: ['set', 'format', 'artifact', 'checks', 'restore'] },
  },
  {
    type: 'dev.caretaker.backup.sweep.completed',
    direction: 'outbound',
    description: 'The daily sweep verified every configured set; data lists each set\'s result (each set also has its own event), the sets it left at its deadline (each asked for again as a request of its own), and the sets whose restore test runs on in a Job',
    schema: {
      type: 'object',
      required: ['verified', 'failed', 'sets'],
      properties: {
        verified: { type: 'integer', minimum: 0 },
        failed: { type: 'integer', minimum: 0 },
        sets: {
          type: 'array',
          items: {
            type: 'object',
            required: ['set', 'verified'],
            properties: { set: { type: 'string' }, verified: { type: 'boolean' }, failedCheck: { type: 'string' }, artifact: { type: ['string', 'null'] } },
          },
        },
        deferred: { type: 'array', items: { type: 'string' } },
        restoring: {
          type: 'array',
          items: { type: 'object', required: ['set', 'job'], properties: { set: { type: 'string' }, job: { type: 'string' } } },
        },
      },
    },
  },
]
