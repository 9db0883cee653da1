import type { EventTypeDefinition } from '../catalogue.ts'

/** verify-backup: the manual request, and each backup set's outcome. */

/** The checks a set report lists, in the order they run (verify-backup's CheckName is this). */
export const BACKUP_CHECKS = ['job', 'presence', 'age', 'size', 'integrity', 'checksum', 'depth', 'restore', 'longhorn'] as const
export type BackupCheck = (typeof BACKUP_CHECKS)[number]

/**
 * What exactly failed, where a check fails in more than one way: the report's
 * `failedCheck` is this when the failing check gives one, else the check's
 * name. Stable values, for alert routing and metrics labels.
 * - age-future: the artifact's time (from its name) is ahead of now;
 * - age-name-unparsed: a name without the configured timestamp (`timestamp.unparsed: fail`);
 * - size-empty: 0 bytes; size-below-floor: under minSizeBytes;
 *   size-shrunk: smaller than the previous artifact by more than maxShrinkPercent;
 * - depth-short: the oldest artifact is younger than the retention (history lost,
 *   or a clean-up deleting too much); depth-gap: two neighbours further apart than
 *   retention.maxGap; depth-excess: the oldest is older than retention.maxDays (a
 *   clean-up silently not deleting).
 */
export const BACKUP_FAILURES = ['age-future', 'age-name-unparsed', 'size-empty', 'size-below-floor', 'size-shrunk', 'depth-short', 'depth-gap', 'depth-excess'] as const
export type BackupFailure = (typeof BACKUP_FAILURES)[number]

const checkNames = [...BACKUP_CHECKS] as const

const backupSetReport = {
  type: 'object',
  required: ['set', 'format', 'verified', 'checks', 'durationMs', 'verifiedAt'],
  properties: {
    set: { type: 'string', minLength: 1 },
    format: { type: 'string' },
    verified: { type: 'boolean' },
    failedCheck: { enum: [...checkNames, ...BACKUP_FAILURES] },
    artifact: {
      type: 'object',
      required: ['name', 'path', 'size', 'modified'],
      properties: {
        name: { type: 'string' },
        path: { type: 'string' },
        size: { type: 'integer', minimum: 0 },
        modified: { type: 'string', format: 'date-time' },
        /** The artifact's time, from its name (set's `timestamp`) or else its modification time. */
        time: { type: 'string', format: 'date-time' },
        timeSource: { enum: ['name', 'mtime'] },
        /** Why the name did not give the time, when the set has a `timestamp` and it did not. */
        timeNote: { type: 'string' },
      },
    },
    /** The set's newest artifact, when the report is of an older one a request named. */
    newestArtifact: { type: 'string' },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['check', 'ok', 'message', 'evidence', 'durationMs'],
        properties: {
          check: { enum: checkNames },
          failure: { enum: [...BACKUP_FAILURES] },
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
} as const

export const backupEvents = {
  BackupVerifyRequested: {
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
  BackupVerified: {
    type: 'dev.caretaker.backup.verified',
    direction: 'outbound',
    description: 'A backup set passed every check; data is the set report (artifact, each check with its evidence, durations)',
    schema: backupSetReport,
  },
  BackupVerificationFailed: {
    type: 'dev.caretaker.backup.verification.failed',
    direction: 'outbound',
    description: 'A backup set failed a check; data is the set report with failedCheck naming it',
    schema: { ...backupSetReport, required: [...backupSetReport.required, 'failedCheck'] },
  },
  BackupRestoreStarted: {
    type: 'dev.caretaker.backup.restore.started',
    direction: 'outbound',
    description: 'A backup set passed every check before its restore test, which now runs as a Kubernetes Job (restore.mode: job); data is the set report so far, with restore naming the Job. Its completion brings backup.verified or backup.verification.failed',
    schema: { ...backupSetReport, required: ['set', 'format', 'artifact', 'checks', 'restore'] },
  },
  BackupSweepCompleted: {
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
} as const satisfies Record<string, EventTypeDefinition>

export const backupTypes: EventTypeDefinition[] = Object.values(backupEvents)
