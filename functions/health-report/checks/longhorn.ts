import type { Finding } from '../findings.ts'

/**
 * The longhorn check's judgement: Longhorn volumes (longhorn.io/v1beta2
 * Volume) that are not healthy, and volumes no backup RecurringJob covers.
 *
 * Robustness (status.robustness) is `healthy`, `degraded` (fewer healthy
 * replicas than spec.numberOfReplicas), `faulted` (no healthy replica: the
 * data is unavailable) or `unknown` (a detached volume: normal). Pure: the
 * caller lists Volumes and RecurringJobs.
 *
 * Which RecurringJobs apply to a volume follows Longhorn's label-driven
 * model (longhorn/longhorn enhancements/20210624-label-driven-recurring-job.md):
 * a label `recurring-job.longhorn.io/<job name>: enabled` names a job, a
 * label `recurring-job-group.longhorn.io/<group>: enabled` names every job
 * whose spec.groups holds that group, and a volume with no such label is in
 * the `default` group (longhorn/longhorn-manager datastore/longhorn.go,
 * tagRecurringJobDefaultLabel, adds `recurring-job-group.longhorn.io/default:
 * enabled` to a volume that has none). `recurring-job.longhorn.io/source` is
 * a marker for PVCs as label source, not a job.
 */

export const JOB_LABEL_PREFIX = 'recurring-job.longhorn.io/'
export const GROUP_LABEL_PREFIX = 'recurring-job-group.longhorn.io/'
const SOURCE_LABEL = 'recurring-job.longhorn.io/source'
export const DEFAULT_GROUP = 'default'
/** The tasks that make a backup (RecurringJob spec.task enum of the CRD, Longhorn 1.12). */
const BACKUP_TASKS = new Set(['backup', 'backup-force-create'])

export interface LonghornVolumeLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; creationTimestamp?: Date | string }
  spec?: { numberOfReplicas?: number; size?: string }
  status?: {
    state?: string
    robustness?: string
    lastDegradedAt?: string
    lastBackup?: string
    lastBackupAt?: string
    kubernetesStatus?: { namespace?: string; pvcName?: string }
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>
  }
}

export interface RecurringJobLike {
  metadata?: { name?: string }
  spec?: { task?: string; groups?: string[]; cron?: string }
}

export interface LonghornPolicy {
  /** A volume degraded for longer than this (since status.lastDegradedAt) is critical. */
  degradedCriticalMs: number
  /** A volume a backup job covers whose last backup (status.lastBackupAt) is older than this is reported; so is one never backed up and older than this. */
  backupMaxAgeMs: number
}

function time(value: Date | string | undefined): Date | undefined {
  if (value === undefined || value === '') return undefined
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? undefined : d
}

const object = (v: LonghornVolumeLike) => ({ kind: 'Volume', ...(v.metadata?.namespace ? { namespace: v.metadata.namespace } : {}), name: v.metadata?.name ?? '' })

/** `for PVC production/data-web`, when Longhorn knows the claim. */
function claim(v: LonghornVolumeLike): string {
  const k = v.status?.kubernetesStatus
  return k?.pvcName ? ` (PVC ${k.namespace ? `${k.namespace}/` : ''}${k.pvcName})` : ''
}

/** A degraded or faulted volume: one finding. */
export function volumeHealthFinding(v: LonghornVolumeLike, now: Date, policy: LonghornPolicy): Finding | undefined {
  const robustness = v.status?.robustness
  if (robustness !== 'degraded' && robustness !== 'faulted') return undefined
  const state = v.status?.state ?? 'unknown'
  const replicas = v.spec?.numberOfReplicas
  const unschedulable = v.status?.conditions?.find((c) => (c.type === 'Scheduled' || c.type === 'Schedulable') && c.status === 'False')
  const detail = unschedulable ? `; ${unschedulable.reason ?? 'not schedulable'}${unschedulable.message ? `: ${unschedulable.message}` : ''}` : ''
  if (robustness === 'faulted') {
    return { check: 'longhorn', severity: 'critical', object: object(v), reason: 'Faulted', message: `volume${claim(v)} is faulted (state ${state}): no healthy replica, its data is unavailable${detail}` }
  }
  const since = time(v.status?.lastDegradedAt)
  const long = since !== undefined && now.getTime() - since.getTime() > policy.degradedCriticalMs
  return {
    check: 'longhorn', severity: long ? 'critical' : 'warning', object: object(v), reason: 'Degraded',
    message: `volume${claim(v)} is degraded (state ${state})${replicas !== undefined ? `: fewer healthy replicas than the ${replicas} wanted` : ''}${since ? `, since ${since.toISOString()}` : ''}${detail}`,
    ...(since ? { since: since.toISOString() } : {}),
  }
}

/** The RecurringJobs that apply to a volume, by its labels (see above). */
export function volumeJobs(v: LonghornVolumeLike, jobs: readonly RecurringJobLike[]): RecurringJobLike[] {
  const labels = v.metadata?.labels ?? {}
  const names = new Set<string>()
  const groups = new Set<string>()
  let labelled = false
  for (const [key, value] of Object.entries(labels)) {
    if (key === SOURCE_LABEL) continue
    if (key.startsWith(JOB_LABEL_PREFIX)) { labelled = true; if (value === 'enabled') names.add(key.slice(JOB_LABEL_PREFIX.length)) }
    else if (key.startsWith(GROUP_LABEL_PREFIX)) { labelled = true; if (value === 'enabled') groups.add(key.slice(GROUP_LABEL_PREFIX.length)) }
  }
  if (!labelled) groups.add(DEFAULT_GROUP)
  return jobs.filter((j) => names.has(j.metadata?.name ?? '') || (j.spec?.groups ?? []).some((g) => groups.has(g)))
}

/** A volume no backup job covers, or whose backups stopped: one finding. */
export function volumeBackupFinding(v: LonghornVolumeLike, jobs: readonly RecurringJobLike[], now: Date, policy: LonghornPolicy): Finding | undefined {
  const applied = volumeJobs(v, jobs)
  const backups = applied.filter((j) => BACKUP_TASKS.has(j.spec?.task ?? ''))
  if (backups.length === 0) {
    const others = applied.map((j) => `${j.metadata?.name ?? '?'} (${j.spec?.task ?? '?'})`)
    return {
      check: 'longhorn', severity: 'warning', object: object(v), reason: 'NoBackupJob',
      message: `no backup RecurringJob covers volume${claim(v)}${others.length > 0 ? `; only ${others.join(', ')}` : ''}: label it recurring-job-group.longhorn.io/<group>=enabled or recurring-job.longhorn.io/<job>=enabled for a backup job`,
    }
  }
  const last = time(v.status?.lastBackupAt)
  const created = time(v.metadata?.creationTimestamp)
  const names = backups.map((j) => j.metadata?.name ?? '?').join(', ')
  if (last && now.getTime() - last.getTime() > policy.backupMaxAgeMs) {
    return { check: 'longhorn', severity: 'warning', object: object(v), reason: 'BackupStale', message: `last backup of volume${claim(v)} at ${last.toISOString()}, though ${names} should back it up`, since: last.toISOString() }
  }
  if (!last && created && now.getTime() - created.getTime() > policy.backupMaxAgeMs) {
    return { check: 'longhorn', severity: 'warning', object: object(v), reason: 'NeverBackedUp', message: `volume${claim(v)} has no backup yet, though ${names} should back it up`, since: created.toISOString() }
  }
  return undefined
}
