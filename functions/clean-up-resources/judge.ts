import type { V1CronJob, V1Deployment, V1Job, V1PersistentVolumeClaim, V1PodSpec, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import type { CleanUpConfig } from './config.ts'

/**
 * clean-up-resources' decisions, pure: for each object of a namespace,
 * keep it (and why), delete it (and why) or report it. The handler reads
 * the objects and carries the verdicts out in this order.
 */

/** What becomes of one object. */
export type Verdict =
  | { name: string; keep: string }
  | { name: string; delete: string }
  | { name: string; report: string }

export interface Ages { now: number; jobTtlMs: number; pvcGraceMs: number }

const time = (v: Date | string | undefined): number | undefined => (v === undefined ? undefined : new Date(v).getTime())

export function claimsOf(spec: V1PodSpec | undefined): string[] {
  return (spec?.volumes ?? []).map((v) => v.persistentVolumeClaim?.claimName).filter((n): n is string => Boolean(n))
}

export function finishedAt(job: V1Job): number | undefined {
  const done = job.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')
  if (!done) return undefined
  return time(job.status?.completionTime) ?? time(done.lastTransitionTime) ?? time(job.metadata?.creationTimestamp)
}

/** The namespaces a run covers: those a request names (each configured), else all configured. */
export function namespacesToClean(config: CleanUpConfig, wanted: string[] | undefined): string[] {
  if (!wanted) return config.namespaces
  const unknown = wanted.filter((n) => !config.namespaces.includes(n))
  if (unknown.length > 0) throw new CaretakerError(Errors.InvalidRequest, `namespace(s) ${unknown.join(', ')} are not configured for clean-up; configured: ${config.namespaces.join(', ') || 'none'}`)
  return wanted
}

export function protectedBy(config: CleanUpConfig, labels: Record<string, string> | undefined): boolean {
  return labels?.[config.protectionLabel] !== undefined && labels[config.protectionLabel] !== 'false'
}

/**
 * Finished Jobs past the TTL, except those with a TTL of their own, those
 * protected by label and those their CronJob's history limits keep (its
 * newest successful and failed Jobs). A Job still running is not judged.
 */
export function judgeJobs(config: CleanUpConfig, jobs: readonly V1Job[], cronJobList: readonly V1CronJob[], ages: Ages): Verdict[] {
  const cronJobs = new Map(cronJobList.map((c) => [c.metadata?.name ?? '', c]))
  const kept = new Set<string>()
  const byOwner = new Map<string, V1Job[]>()
  for (const j of jobs) {
    const owner = j.metadata?.ownerReferences?.find((o) => o.kind === 'CronJob')?.name
    if (owner) byOwner.set(owner, [...(byOwner.get(owner) ?? []), j])
  }
  for (const [owner, owned] of byOwner) {
    const spec = cronJobs.get(owner)?.spec
    const limits = { Complete: spec?.successfulJobsHistoryLimit ?? 3, Failed: spec?.failedJobsHistoryLimit ?? 1 }
    for (const type of ['Complete', 'Failed'] as const) {
      owned.filter((j) => j.status?.conditions?.some((c) => c.type === type && c.status === 'True'))
        .sort((a, b) => (finishedAt(b) ?? 0) - (finishedAt(a) ?? 0))
        .slice(0, limits[type]).forEach((j) => kept.add(j.metadata?.name ?? ''))
    }
  }
  const verdicts: Verdict[] = []
  for (const j of jobs) {
    const name = j.metadata?.name ?? ''
    const done = finishedAt(j)
    if (done === undefined) continue // still running: not ours to judge
    if (j.spec?.ttlSecondsAfterFinished !== undefined) verdicts.push({ name, keep: 'has a TTL of its own (ttlSecondsAfterFinished)' })
    else if (protectedBy(config, j.metadata?.labels)) verdicts.push({ name, keep: 'protected by label' })
    else if (kept.has(name)) verdicts.push({ name, keep: 'kept by its CronJob\'s history limits' })
    else if (ages.now - done < ages.jobTtlMs) verdicts.push({ name, keep: `finished less than ${config.jobs.ttl} ago` })
    else verdicts.push({ name, delete: `finished more than ${config.jobs.ttl} ago` })
  }
  return verdicts
}

/**
 * ReplicaSets at zero beyond their Deployment's revision history, newest
 * revision first; the current revision is kept. One whose Deployment is
 * gone is the garbage collector's, not judged.
 */
export function judgeReplicaSets(sets: readonly V1ReplicaSet[], deploymentList: readonly V1Deployment[]): Verdict[] {
  const deployments = new Map(deploymentList.map((d) => [d.metadata?.name ?? '', d]))
  const byOwner = new Map<string, V1ReplicaSet[]>()
  for (const rs of sets) {
    const owner = rs.metadata?.ownerReferences?.find((o) => o.kind === 'Deployment')?.name
    if (owner) byOwner.set(owner, [...(byOwner.get(owner) ?? []), rs])
  }
  const verdicts: Verdict[] = []
  for (const [owner, owned] of byOwner) {
    const deployment = deployments.get(owner)
    if (!deployment) continue // the garbage collector's job, not ours
    const history = deployment.spec?.revisionHistoryLimit ?? 10
    const revision = (rs: V1ReplicaSet) => Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0)
    const idle = owned.filter((rs) => (rs.spec?.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0).sort((a, b) => revision(b) - revision(a))
    const newest = Math.max(...owned.map(revision))
    for (const [i, rs] of idle.entries()) {
      const name = rs.metadata?.name ?? ''
      if (revision(rs) === newest) verdicts.push({ name, keep: 'the Deployment\'s current revision' })
      else if (i < history) verdicts.push({ name, keep: `within the Deployment's revision history (${history})` })
      else verdicts.push({ name, delete: `beyond ${owner}'s revision history of ${history}` })
    }
  }
  return verdicts
}

/** A namespace's workloads, whose pod templates claim PVCs when no Pod runs. */
export interface Workloads { cronJobs: readonly V1CronJob[]; jobs: readonly V1Job[]; deployments: readonly V1Deployment[]; statefulSets: readonly V1StatefulSet[] }

/**
 * The PVCs the namespace's workloads claim without a Pod running now:
 * CronJobs' and Jobs' pod templates, Deployments and StatefulSets (at
 * any scale, zero included) and StatefulSets' volumeClaimTemplates,
 * whose claims are named `<template>-<statefulset>-<ordinal>`.
 */
export function workloadClaims(w: Workloads) {
  const byName = new Map<string, string>()
  const byTemplate: Array<{ matches: (pvc: string) => boolean; reason: string }> = []
  const claim = (names: string[], reason: string) => { for (const n of names) if (!byName.has(n)) byName.set(n, reason) }
  const scale = (replicas: number | undefined) => (replicas === 0 ? ' (scaled to zero)' : '')
  for (const c of w.cronJobs) {
    claim(claimsOf(c.spec?.jobTemplate.spec?.template.spec), `used by CronJob ${c.metadata?.name ?? '?'}'s pod template${c.spec?.suspend ? ' (suspended)' : ''}`)
  }
  for (const j of w.jobs) {
    if (finishedAt(j) === undefined) claim(claimsOf(j.spec?.template.spec), `used by unfinished Job ${j.metadata?.name ?? '?'}`)
  }
  for (const d of w.deployments) {
    claim(claimsOf(d.spec?.template.spec), `used by Deployment ${d.metadata?.name ?? '?'}${scale(d.spec?.replicas)}`)
  }
  for (const st of w.statefulSets) {
    const set = st.metadata?.name ?? '?'
    claim(claimsOf(st.spec?.template.spec), `used by StatefulSet ${set}${scale(st.spec?.replicas)}`)
    for (const t of st.spec?.volumeClaimTemplates ?? []) {
      const prefix = `${t.metadata?.name ?? ''}-${set}-`
      byTemplate.push({ matches: (pvc) => pvc.startsWith(prefix) && /^\d+$/.test(pvc.slice(prefix.length)), reason: `claimed by StatefulSet ${set}'s volumeClaimTemplate ${t.metadata?.name ?? '?'}${scale(st.spec?.replicas)}` })
    }
  }
  return { byName, byTemplate }
}

/**
 * PVCs no Pod mounts. No Pod now is not "unused": a CronJob's next run, a
 * workload scaled to zero or a StatefulSet's ordinal claims it again. The
 * rest are reported, and deleted only when enabled, unprotected and past
 * the grace period. A mounted PVC is not judged.
 */
export function judgePvcs(config: CleanUpConfig, pvcs: readonly V1PersistentVolumeClaim[], mounted: ReadonlySet<string>, workloads: Workloads, ages: Ages): Verdict[] {
  const wanted = workloadClaims(workloads)
  const verdicts: Verdict[] = []
  for (const pvc of pvcs) {
    const name = pvc.metadata?.name ?? ''
    if (mounted.has(name)) continue
    const owner = wanted.byName.get(name) ?? wanted.byTemplate.find((w) => w.matches(name))?.reason
    if (owner) { verdicts.push({ name, keep: owner }); continue }
    const age = ages.now - (time(pvc.metadata?.creationTimestamp) ?? ages.now)
    if (!config.pvcs.delete || protectedBy(config, pvc.metadata?.labels) || age < ages.pvcGraceMs) {
      const why = !config.pvcs.delete ? 'no Pod mounts it (deletion is not enabled)' : protectedBy(config, pvc.metadata?.labels) ? 'no Pod mounts it, but it is protected by label' : `no Pod mounts it, but it is younger than ${config.pvcs.grace}`
      verdicts.push({ name, report: why })
      continue
    }
    verdicts.push({ name, delete: `no Pod mounts it, older than ${config.pvcs.grace}` })
  }
  return verdicts
}
