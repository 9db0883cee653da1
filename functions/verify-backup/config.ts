import { DURATION_PATTERN, parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { FromSchema, JsonSchema } from '../../shared/schema.ts'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { timestampFormatProblem } from './timestamps.ts'

/**
 * The formats verify-backup knows; each has its own integrity check.
 * `sha256sums-tar-gzip`: a gzipped tar whose SHA256SUMS lists every other
 * file in it (back-up-configuration's archives).
 */
export const FORMATS = ['pg-dumpall-gzip', 'etcd-snapshot', 'redis-rdb', 'vault-raft-snapshot', 'git-bundle', 'longhorn', 'sha256sums-tar-gzip'] as const
export type BackupFormat = (typeof FORMATS)[number]

/** The formats with a restore test (restore.ts); `job` mode is PostgreSQL's only. */
export const RESTORABLE_FORMATS: readonly BackupFormat[] = ['pg-dumpall-gzip', 'etcd-snapshot', 'redis-rdb', 'git-bundle']
/** The formats whose restore counts keys (`minKeys`, `expectKeys`) and takes a `memoryLimit`. */
export const KEYED_FORMATS: readonly BackupFormat[] = ['etcd-snapshot', 'redis-rdb']

/** How restore Jobs are made when the config says nothing: the schema's defaults, and DEFAULT_RESTORE_JOB. */
const restoreJobDefaults = {
  image: 'docker.io/library/postgres:{major}',
  backups: { claimName: 'backups', mountPath: '/backups' },
  ttlSecondsAfterFinished: 86400,
  scratchSizeLimit: '20Gi',
  resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '2Gi' } },
}

/** A job-mode restore's result must fit in a termination message: this many databases and queries at most. */
export const RESTORE_JOB_MAX_ITEMS = 20

const duration = { type: 'string', pattern: DURATION_PATTERN } as const
const kubeName = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' } as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sets'],
  properties: {
    /** Where PostgreSQL's server programs are (initdb, postgres, psql); default: found on PATH or in the usual Debian place. */
    postgresBinDir: { type: 'string', minLength: 1 },
    /** How restore Jobs are made (sets with `restore.mode: job`). */
    restoreJob: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        /** Where the Jobs run: Caretaker's namespace (default: the function's own, where the restore-jobs ApiServerSource watches). */
        namespace: kubeName,
        /** The image, `{major}` replaced by the dump's major version, e.g. `docker.io/library/postgres:{major}`. */
        image: { type: 'string', minLength: 1, pattern: '\\{major\\}', default: restoreJobDefaults.image },
        /** The backups claim, mounted read-only in the Job at the path the function sees it. */
        backups: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            claimName: { ...kubeName, default: restoreJobDefaults.backups.claimName },
            mountPath: { type: 'string', pattern: '^/', default: restoreJobDefaults.backups.mountPath },
          },
        },
        ttlSecondsAfterFinished: { type: 'integer', minimum: 0, default: restoreJobDefaults.ttlSecondsAfterFinished },
        /** The emptyDir the throwaway cluster lives in. */
        scratchSizeLimit: { type: 'string', pattern: '^[0-9]+(Ki|Mi|Gi|Ti)?$', default: restoreJobDefaults.scratchSizeLimit },
        resources: {
          type: 'object',
          additionalProperties: false,
          default: restoreJobDefaults.resources,
          properties: {
            requests: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
            limits: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
          },
        },
      },
    },
    sets: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'format', 'rpo'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9][-a-z0-9_.]*$', maxLength: 63 },
          format: { enum: [...FORMATS] },
          /** Where the artifacts are (a mounted volume); not for `longhorn`. */
          directory: { type: 'string', pattern: '^/' },
          /** File-name glob of the set's artifacts, e.g. `all_databases_*.sql.gz`. */
          pattern: { type: 'string', minLength: 1 },
          /** Newest artifact must be younger than this, e.g. `24h`. */
          rpo: duration,
          /**
           * The artifact's time from its name (not for `longhorn`). Without it, its
           * modification time, which a copy without `-t`, a restore from object storage
           * or a `cp` resets. With it, the time in the artifact's name wins.
           */
          timestamp: {
            type: 'object',
            additionalProperties: false,
            required: ['formats'],
            properties: {
              /**
               * Tried in order; the first found in the name (its last occurrence) wins.
               * `unix`: 10 digits of seconds since the epoch (k3s's snapshot names);
               * `iso8601`: `2026-12-05T03:00[:00][Z|+01:00]`, basic form too; or a
               * pattern of YYYY MM DD HH mm ss and literal separators, `[...]` optional,
               * e.g. `YYYYMMDD_HHmmss`, `YYYY-MM-DDTHHmm`, `YYYYMMDD[-HHmm]`, `YYYY-MM-DD`.
               */
              formats: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1, maxLength: 64 } },
              /** The zone of a name without its own offset: `UTC` (default) or `local` (the function's TZ). */
              zone: { enum: ['UTC', 'local'], default: 'UTC' },
              /** A name with no timestamp: `mtime` (default) uses its modification time and says so; `fail` fails the age check. */
              unparsed: { enum: ['mtime', 'fail'], default: 'mtime' },
            },
          },
          /** The set's depth, how far back it must reach and how far it may: checked when the whole set is verified (not for a request naming one artifact). */
          retention: {
            type: 'object',
            additionalProperties: false,
            required: ['days'],
            properties: {
              /** Days of artifacts the set must hold: its oldest must be at least this old (less one RPO). */
              days: { type: 'integer', minimum: 1 },
              /** Oldest artifact allowed, in days (default: days × 1.5, rounded up): beyond, the clean-up is not deleting. */
              maxDays: { type: 'integer', minimum: 1 },
              /** Longest allowed time between two neighbouring artifacts, e.g. `36h` (default: not checked). */
              maxGap: duration,
            },
          },
          minSizeBytes: { type: 'integer', minimum: 1, default: 1 },
          /** Fail when the newest artifact is this many percent smaller than the one before (100 disables). */
          maxShrinkPercent: { type: 'number', minimum: 0, maximum: 100, default: 50 },
          /** The CronJob that makes the set: its Jobs trigger verification, its Events record the outcome. */
          cronJob: {
            type: 'object',
            additionalProperties: false,
            required: ['namespace', 'name'],
            properties: { namespace: kubeName, name: kubeName },
          },
          restore: {
            type: 'object',
            additionalProperties: false,
            properties: {
              /**
               * `inline`: in the function's own process, with the programs installed
               * there. `job` (pg-dumpall-gzip only): as a Kubernetes Job in the image of
               * the dump's own major version (restoreJob), followed through its completion event.
               */
              mode: { enum: ['inline', 'job'], default: 'inline' },
              /** Longest the restore and its checks may take, e.g. `15m`; the restore's programs are killed then. */
              timeout: { ...duration, default: '15m' },
              /** etcd-snapshot, redis-rdb: the restored data must hold at least this many keys (every Redis database counted). */
              minKeys: { type: 'integer', minimum: 0 },
              /** etcd-snapshot, redis-rdb: keys that must exist after the restore (Redis: in database 0). */
              expectKeys: { type: 'array', maxItems: 100, items: { type: 'string', minLength: 1 } },
              /**
               * etcd-snapshot, redis-rdb: how big the restored data may grow, e.g.
               * `512Mi` (etcd's --quota-backend-bytes, Redis's maxmemory); data above it fails.
               */
              memoryLimit: { type: 'string', pattern: '^[0-9]+(Ki|Mi|Gi|Ti)?$' },
              /** pg-dumpall-gzip: databases that must exist after the restore. */
              databases: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
              /** pg-dumpall-gzip: sanity queries. */
              queries: {
                type: 'array',
                default: [],
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['sql'],
                  properties: {
                    /** Database to run it in (default `postgres`). */
                    database: { type: 'string', minLength: 1, default: 'postgres' },
                    /** A query returning one row with one number, e.g. `select count(*) from orders`. */
                    sql: { type: 'string', minLength: 1 },
                    /** The smallest acceptable value (default 1). */
                    min: { type: 'number', default: 1 },
                  },
                },
              },
            },
          },
          longhorn: {
            type: 'object',
            additionalProperties: false,
            required: ['volumes'],
            properties: {
              namespace: { ...kubeName, default: 'longhorn-system' },
              volumes: { type: 'array', minItems: 1, items: kubeName },
            },
          },
        },
      },
    },
  },
} as const satisfies JsonSchema

/** The config as validation leaves it, every default filled in. */
type Validated = FromSchema<typeof configSchema>
type ValidatedSet = Validated['sets'][number]
type ValidatedRestore = NonNullable<ValidatedSet['restore']>

export type RestoreJobConfig = Validated['restoreJob']
export type SanityQuery = ValidatedRestore['queries'][number]
export type NameTimestamp = NonNullable<ValidatedSet['timestamp']>
export type Retention = NonNullable<ValidatedSet['retention']>
/** `mode` as the schema fills it, and optional for a config built in code (inline then). */
export type RestoreTest = Omit<ValidatedRestore, 'mode'> & { mode?: ValidatedRestore['mode'] }
export type BackupSet = Omit<ValidatedSet, 'restore'> & { restore?: RestoreTest }
/** `restoreJob` as the schema fills it, and optional for a config built in code (DEFAULT_RESTORE_JOB then). */
export type VerifyBackupConfig = Omit<Validated, 'restoreJob' | 'sets'> & { restoreJob?: RestoreJobConfig; sets: BackupSet[] }

export const DEFAULT_RESTORE_JOB: RestoreJobConfig = restoreJobDefaults

/** What a schema cannot say: unique names, and the fields each format needs. */
/** `runDeadlineMs`: CARETAKER_RUN_DEADLINE, which every restore test must fit in. */
export function checkConfig(config: VerifyBackupConfig, runDeadlineMs?: number): void {
  const seen = new Set<string>()
  config.sets.forEach((set, i) => {
    const at = `sets[${i}]`
    const bad = (field: string, problem: string): never => {
      throw new CaretakerError(Errors.InvalidConfig, `config.${at}.${field}: ${problem}`)
    }
    // A Job's restore is bounded by the Job's activeDeadlineSeconds, not by the run.
    if (set.restore && set.restore.mode !== 'job' && runDeadlineMs !== undefined && (parseDuration(set.restore.timeout) ?? 0) >= runDeadlineMs) {
      bad('restore.timeout', `${set.restore.timeout} does not fit in the run's deadline (CARETAKER_RUN_DEADLINE, ${runDeadlineMs / 1000}s, below the Knative Service's timeoutSeconds): make it shorter`)
    }
    if (seen.has(set.name)) bad('name', `"${set.name}" is used by another set; names must be unique`)
    seen.add(set.name)
    if (set.format === 'longhorn') {
      if (!set.longhorn) bad('longhorn', 'a longhorn set needs longhorn.volumes')
    } else {
      if (!set.directory) bad('directory', `a ${set.format} set needs the directory its artifacts are in`)
      if (!set.pattern) bad('pattern', `a ${set.format} set needs a file-name pattern, e.g. "*.gz"`)
    }
    if (set.restore) {
      const r = set.restore
      if (!RESTORABLE_FORMATS.includes(set.format)) bad('restore', `a restore test is available for ${RESTORABLE_FORMATS.join(', ')} sets, not ${set.format}`)
      if (set.format !== 'pg-dumpall-gzip') {
        if (r.mode === 'job') bad('restore.mode', `job mode is for pg-dumpall-gzip sets (a PostgreSQL image per dump version); a ${set.format} restore runs inline`)
        if (r.databases.length > 0) bad('restore.databases', `databases are for pg-dumpall-gzip sets, not ${set.format}`)
        if (r.queries.length > 0) bad('restore.queries', `queries are for pg-dumpall-gzip sets, not ${set.format}`)
      }
      if (!KEYED_FORMATS.includes(set.format)) {
        for (const field of ['minKeys', 'expectKeys', 'memoryLimit'] as const) {
          if (r[field] !== undefined && !(field === 'expectKeys' && r.expectKeys!.length === 0)) bad(`restore.${field}`, `${field} is for ${KEYED_FORMATS.join(' and ')} sets, not ${set.format}`)
        }
      }
    }
    if (set.restore?.mode === 'job') {
      if (set.restore.databases.length > RESTORE_JOB_MAX_ITEMS) bad('restore.databases', `at most ${RESTORE_JOB_MAX_ITEMS} in job mode (the result must fit in a 4096-byte termination message)`)
      if (set.restore.queries.length > RESTORE_JOB_MAX_ITEMS) bad('restore.queries', `at most ${RESTORE_JOB_MAX_ITEMS} in job mode (the result must fit in a 4096-byte termination message)`)
      const rel = set.directory ? relative(resolve((config.restoreJob ?? DEFAULT_RESTORE_JOB).backups.mountPath), resolve(set.directory)) : ''
      if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
        bad('directory', `a job-mode restore mounts the backups claim at restoreJob.backups.mountPath (${(config.restoreJob ?? DEFAULT_RESTORE_JOB).backups.mountPath}); the set's directory must be in it`)
      }
    }
    if ((parseDuration(set.rpo) ?? 0) <= 0) bad('rpo', 'must be longer than zero')
    if (set.timestamp) {
      if (set.format === 'longhorn') bad('timestamp', 'a longhorn set takes its times from the Backup objects, not from names')
      set.timestamp.formats.forEach((format, j) => {
        const problem = timestampFormatProblem(format)
        if (problem) bad(`timestamp.formats[${j}]`, problem)
      })
    }
    if (set.retention) {
      const { days, maxDays, maxGap } = set.retention
      if (maxDays !== undefined && maxDays <= days) bad('retention.maxDays', `${maxDays} must be more than retention.days (${days})`)
      if (maxGap !== undefined && (parseDuration(maxGap) ?? 0) <= 0) bad('retention.maxGap', 'must be longer than zero')
    }
  })
}
