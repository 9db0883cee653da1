import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { PruneConfig, PrunePolicy, SnapshotKind } from './config.ts'
import type { RetentionPolicy, SnapshotFacts } from './retention.ts'

/**
 * prune-snapshots' pure steps before the plan: which policies a run
 * applies, what each listed object is to the planner (its volume, age,
 * readiness, protection, use), grouped by volume, and a policy's
 * retention rules. The plan itself is retention.ts.
 */

export const RESOURCE: Record<SnapshotKind, { group: string; version: string; plural: string }> = {
  VolumeSnapshot: { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' },
  LonghornSnapshot: { group: 'longhorn.io', version: 'v1beta2', plural: 'snapshots' },
  LonghornBackup: { group: 'longhorn.io', version: 'v1beta2', plural: 'backups' },
}

/** A listed VolumeSnapshot, Longhorn Snapshot or Longhorn Backup: what is read of it. */
export interface SnapshotObject {
  metadata?: { name?: string; namespace?: string; creationTimestamp?: string | Date; labels?: Record<string, string> }
  spec?: { source?: { persistentVolumeClaimName?: string; volumeSnapshotContentName?: string }; volume?: string }
  status?: { readyToUse?: boolean; creationTime?: string; state?: string; volumeName?: string; backupCreatedAt?: string; snapshotCreatedAt?: string }
}

export interface Candidate extends SnapshotFacts { namespace: string; name: string; volume: string }

/** The policies a run applies: the one a request names, else all. */
export function policiesToPrune(config: PruneConfig, wanted: string | undefined): PrunePolicy[] {
  if (!wanted) return config.policies
  const policies = config.policies.filter((p) => p.name === wanted)
  if (policies.length === 0) throw new CaretakerError(Errors.InvalidRequest, `no retention policy named "${wanted}"; configured: ${config.policies.map((p) => p.name).join(', ') || 'none'}`)
  return policies
}

/** An object as the planner sees it: its volume, creation time, readiness, whether a PVC is restored from it, whether it is protected. */
export function candidateOf(kind: SnapshotKind, o: SnapshotObject, namespace: string, inUse: Set<string>, protectionLabel: string): Candidate {
  const name = o.metadata?.name ?? ''
  const created = kind === 'VolumeSnapshot' ? o.status?.creationTime ?? o.metadata?.creationTimestamp
    : kind === 'LonghornSnapshot' ? o.status?.creationTime ?? o.metadata?.creationTimestamp
      : o.status?.backupCreatedAt ?? o.status?.snapshotCreatedAt ?? o.metadata?.creationTimestamp
  const volume = kind === 'VolumeSnapshot' ? `${namespace}/${o.spec?.source?.persistentVolumeClaimName ?? o.spec?.source?.volumeSnapshotContentName ?? '?'}`
    : kind === 'LonghornSnapshot' ? o.spec?.volume ?? '?' : o.status?.volumeName ?? o.metadata?.labels?.longhornvolume ?? '?'
  const ready = kind === 'LonghornBackup' ? o.status?.state === 'Completed' : o.status?.readyToUse === true
  return {
    id: `${namespace}/${name}`, namespace, name, volume, ready,
    createdAt: created ? new Date(created) : new Date(0),
    inUse: kind === 'VolumeSnapshot' && inUse.has(`${namespace}/${name}`),
    protected: o.metadata?.labels?.[protectionLabel] !== undefined && o.metadata.labels[protectionLabel] !== 'false',
  }
}

/** The candidates per volume, in the order listed: retention is planned per volume. */
export function byVolume(candidates: readonly Candidate[]): Candidate[][] {
  const groups = new Map<string, Candidate[]>()
  for (const c of candidates) groups.set(c.volume, [...(groups.get(c.volume) ?? []), c])
  return [...groups.values()]
}

/** A policy's rules as the planner takes them. */
export function retentionOf(policy: PrunePolicy): RetentionPolicy {
  return {
    graceMs: parseDuration(policy.grace) ?? 0, timeZone: policy.timeZone,
    ...(policy.maxAge ? { maxAgeMs: parseDuration(policy.maxAge)! } : {}),
    ...Object.fromEntries((['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const).flatMap((k) => (policy[k] === undefined ? [] : [[k, policy[k]]]))),
  }
}
