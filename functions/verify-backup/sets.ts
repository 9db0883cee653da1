import { basename } from 'node:path'
import type { V1Job } from '@kubernetes/client-node'
import picomatch from 'picomatch'
import { pastDeadline, timeLeft } from '../../shared/deadline.ts'
import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { isInside } from './artifacts.ts'
import type { BackupSet, VerifyBackupConfig } from './config.ts'
import { restoreSetLabel, RESTORE_TEST_LABEL } from './restore-job.ts'
import type { SetReport } from './verify.ts'

/**
 * verify-backup's pure decisions about what to verify: which set a request,
 * a path or a Job is about, what state a Job is in, whether a set still fits
 * in a sweep's deadline, and the sweep's summary. Nothing here reads a file
 * or calls the API.
 */

export type JobState = 'complete' | 'failed' | 'running'

export function jobState(job: V1Job): JobState {
  const conditions = job.status?.conditions ?? []
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) return 'complete'
  if (conditions.some((c) => c.type === 'Failed' && c.status === 'True')) return 'failed'
  return 'running'
}

export function cronJobOwner(job: V1Job): string | undefined {
  return job.metadata?.ownerReferences?.find((o) => o.kind === 'CronJob')?.name
}

/** The key a finished Job is remembered by. */
export function jobUid(job: V1Job): string {
  return job.metadata?.uid ?? `${job.metadata?.namespace ?? ''}/${job.metadata?.name}`
}

export function setNamed(config: VerifyBackupConfig, name: string): BackupSet {
  const set = config.sets.find((s) => s.name === name)
  if (!set) throw new CaretakerError(Errors.InvalidRequest, `no backup set named "${name}"; configured sets: ${config.sets.map((s) => s.name).join(', ') || 'none'}`)
  return set
}

export function setOfPath(config: VerifyBackupConfig, path: string): BackupSet {
  const set = config.sets.find((s) => s.directory && s.pattern && isInside(s.directory, path) && picomatch(s.pattern)(basename(path)))
  if (!set) throw new CaretakerError(Errors.InvalidRequest, `${path} is not an artifact of any configured backup set (it must be directly in a set's directory and match its pattern)`)
  return set
}

/** The set a request names: by `set`, by the artifact's `path`, or both (then the path must be in the set's directory). */
export function setOfRequest(config: VerifyBackupConfig, data: { set?: string; path?: string }): BackupSet {
  if (!data.path) return setNamed(config, data.set!)
  const set = data.set ? setNamed(config, data.set) : setOfPath(config, data.path)
  if (data.set && !(set.directory && isInside(set.directory, data.path))) {
    throw new CaretakerError(Errors.InvalidRequest, `${data.path} is not in the directory of backup set ${set.name}`)
  }
  return set
}

/** The set whose restore test a Job in the restore namespace runs, by its label; undefined when it is no restore Job. */
export function restoreJobSet(config: VerifyBackupConfig, job: V1Job, restoreNamespace: string): { label: string; set: BackupSet | undefined } | undefined {
  const label = job.metadata?.labels?.[RESTORE_TEST_LABEL]
  if (label === undefined || (job.metadata?.namespace ?? '') !== restoreNamespace) return undefined
  return { label, set: config.sets.find((s) => s.restore?.mode === 'job' && restoreSetLabel(s.name) === label) }
}

/** The set whose backup CronJob owns the Job. */
export function backupJobSet(config: VerifyBackupConfig, job: V1Job): BackupSet | undefined {
  const namespace = job.metadata?.namespace ?? ''
  const owner = cronJobOwner(job)
  return config.sets.find((s) => s.cronJob && s.cronJob.namespace === namespace && s.cronJob.name === owner)
}

/**
 * A set whose verification (its restore test at most) no longer fits before
 * the run's deadline is not started in a sweep: it is asked for again.
 */
export function fitsBeforeDeadline(set: BackupSet, deadline: number): boolean {
  return !(timeLeft(deadline) <= (set.restore && set.restore.mode !== 'job' ? parseDuration(set.restore.timeout)! : 0) || pastDeadline(deadline))
}

/** The data of dev.caretaker.backup.sweep.completed. */
export function sweepSummary(results: readonly SetReport[], deferred: string[], restoring: Array<{ set: string; job: string }>) {
  return {
    verified: results.filter((r) => r.verified).length,
    failed: results.filter((r) => !r.verified).length,
    sets: results.map((r) => ({ set: r.set, verified: r.verified, ...(r.failedCheck ? { failedCheck: r.failedCheck } : {}), artifact: r.artifact?.name ?? null })),
    deferred,
    ...(restoring.length > 0 ? { restoring } : {}),
  }
}
