import type { V1ContainerStatus, V1Deployment, V1Pod, V1StatefulSet } from '@kubernetes/client-node'
import { podStatus, type Finding } from '../findings.ts'

/**
 * Workloads below their desired availability (check `workloads`), pods
 * Running but not Ready (`pods-not-ready`) and containers that keep
 * restarting (`restarts`). Pure: the caller lists, these judge.
 */

const time = (value: unknown): Date | undefined => {
  if (value === undefined || value === null) return undefined
  const d = new Date(value as string | Date)
  return Number.isNaN(d.getTime()) ? undefined : d
}
const ns = (namespace: string | undefined) => (namespace ? { namespace } : {})

/**
 * A Deployment with fewer available replicas than it wants. A rollout
 * still making progress within the grace is left alone: the Deployment
 * controller keeps Progressing=True (ReplicaSetUpdated) and bumps its
 * lastUpdateTime while it progresses, and sets Available from
 * MinimumReplicasAvailable (kubernetes/kubernetes pkg/controller/deployment/
 * progress.go, sync.go). None available is critical; some, a warning.
 */
export function deploymentFinding(d: V1Deployment, now: Date, graceMs: number): Finding | undefined {
  const desired = d.spec?.replicas ?? 1
  const available = d.status?.availableReplicas ?? 0
  if (desired === 0 || available >= desired) return undefined
  const conditions = d.status?.conditions ?? []
  const progressing = conditions.find((c) => c.type === 'Progressing')
  const availableCondition = conditions.find((c) => c.type === 'Available')
  const stalled = progressing?.status === 'False'
  const rollingSince = progressing?.status === 'True' && progressing.reason !== 'NewReplicaSetAvailable' ? time(progressing.lastUpdateTime) : undefined
  if (!stalled && rollingSince && now.getTime() - rollingSince.getTime() < graceMs) return undefined
  const shortSince = availableCondition?.status === 'False' ? time(availableCondition.lastTransitionTime) : undefined
  if (!stalled && shortSince && now.getTime() - shortSince.getTime() < graceMs) return undefined
  const created = time(d.metadata?.creationTimestamp)
  if (!stalled && !shortSince && !rollingSince && created && now.getTime() - created.getTime() < graceMs) return undefined
  const why = stalled ? `; ${progressing?.reason ?? 'not progressing'}${progressing?.message ? `: ${progressing.message}` : ''}` : availableCondition?.status === 'False' && availableCondition.message ? `; ${availableCondition.message}` : ''
  const since = shortSince ?? (stalled ? time(progressing?.lastTransitionTime) : undefined)
  return {
    check: 'workloads', severity: available === 0 ? 'critical' : 'warning',
    object: { kind: 'Deployment', ...ns(d.metadata?.namespace), name: d.metadata?.name ?? '' },
    reason: stalled ? (progressing?.reason ?? 'ProgressDeadlineExceeded') : 'ReplicasUnavailable',
    message: `${available}/${desired} replicas available (${d.status?.readyReplicas ?? 0} ready, ${d.status?.updatedReplicas ?? 0} up to date)${why}`,
    ...(since ? { since: since.toISOString() } : {}),
  }
}

/**
 * A StatefulSet with fewer ready (or, where the controller reports it,
 * available) replicas than it wants. A StatefulSet has no conditions: a
 * spec the controller has not yet seen (observedGeneration behind), or one
 * younger than the grace, is left alone; a rolling update in progress is
 * not, as its pods go one at a time and a stuck one blocks the rest.
 */
export function statefulSetFinding(s: V1StatefulSet, now: Date, graceMs: number): Finding | undefined {
  const desired = s.spec?.replicas ?? 1
  const ready = s.status?.readyReplicas ?? 0
  const available = s.status?.availableReplicas ?? ready
  const up = Math.min(ready, available)
  if (desired === 0 || up >= desired) return undefined
  if ((s.status?.observedGeneration ?? 0) < (s.metadata?.generation ?? 0)) return undefined
  const created = time(s.metadata?.creationTimestamp)
  if (created && now.getTime() - created.getTime() < graceMs) return undefined
  const rolling = s.status?.updateRevision && s.status.currentRevision && s.status.updateRevision !== s.status.currentRevision
  return {
    check: 'workloads', severity: up === 0 ? 'critical' : 'warning',
    object: { kind: 'StatefulSet', ...ns(s.metadata?.namespace), name: s.metadata?.name ?? '' },
    reason: 'ReplicasUnavailable',
    message: `${ready}/${desired} replicas ready${s.status?.availableReplicas !== undefined ? `, ${s.status.availableReplicas} available` : ''}${rolling ? ` (rolling update to ${s.status?.updateRevision} under way: ${s.status?.updatedReplicas ?? 0} updated)` : ''}`,
  }
}

/**
 * A pod Running, with its containers running (so the pods check, which
 * reports the ones waiting or terminated, says nothing), whose Ready
 * condition has not been True for longer than the grace: a readiness
 * probe failing, or a readiness gate not met. It receives no traffic.
 */
export function notReadyPodFinding(pod: V1Pod, now: Date, graceMs: number): Finding | undefined {
  if (pod.status?.phase !== 'Running' || pod.metadata?.deletionTimestamp) return undefined
  if (podStatus(pod).status !== 'Running') return undefined
  const ready = pod.status.conditions?.find((c) => c.type === 'Ready')
  if (ready?.status === 'True') return undefined
  const since = time(ready?.lastTransitionTime) ?? time(pod.status.startTime) ?? time(pod.metadata?.creationTimestamp)
  if (since && now.getTime() - since.getTime() < graceMs) return undefined
  const notReady = (pod.status.containerStatuses ?? []).filter((c) => !c.ready).map((c) => c.name)
  return {
    check: 'pods-not-ready', severity: 'warning', object: { kind: 'Pod', ...ns(pod.metadata?.namespace), name: pod.metadata?.name ?? '' },
    reason: ready?.reason ?? 'NotReady',
    message: `Running but not Ready${notReady.length ? `: containers not ready: ${notReady.join(', ')}` : ''}${ready?.message ? ` (${ready.message})` : ''}`,
    ...(since ? { since: since.toISOString() } : {}),
  }
}

/**
 * Each container (init and sidecar containers too) that restarted within
 * the window (its last termination, lastState.terminated.finishedAt, ended
 * in it) and whose restartCount has reached the threshold. restartCount
 * counts since the pod started, so a pod that restarted often long ago and
 * once today is reported with its whole count: the message says so.
 */
export function restartFindings(pod: V1Pod, now: Date, windowMs: number, t: { warning: number; critical?: number }): Finding[] {
  const statuses: V1ContainerStatus[] = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
  const out: Finding[] = []
  for (const c of statuses) {
    const last = c.lastState?.terminated
    const finished = time(last?.finishedAt)
    if (!last || !finished || now.getTime() - finished.getTime() > windowMs) continue
    if (c.restartCount < t.warning) continue
    const severity = t.critical !== undefined && c.restartCount >= t.critical ? 'critical' : 'warning'
    const why = last.reason ?? (last.signal ? `Signal:${last.signal}` : `ExitCode:${last.exitCode}`)
    out.push({
      check: 'restarts', severity, object: { kind: 'Pod', ...ns(pod.metadata?.namespace), name: pod.metadata?.name ?? '' },
      reason: `Restarts:${why}`,
      message: `container ${c.name} has restarted ${c.restartCount} times since the pod started, last at ${finished.toISOString()} (${why}, exit code ${last.exitCode}${last.message ? `: ${last.message}` : ''})`,
      count: c.restartCount,
      lastSeen: finished.toISOString(),
    })
  }
  return out
}

/**
 * A pod's figure for the weekly digest: the containers that restarted
 * within the window (as restartFindings picks them, whatever their count)
 * and their restartCounts summed.
 */
export function restartsInWindow(pod: V1Pod, now: Date, windowMs: number): { count: number; containers: number } {
  let count = 0
  let containers = 0
  for (const c of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const finished = time(c.lastState?.terminated?.finishedAt)
    if (!finished || now.getTime() - finished.getTime() > windowMs || c.restartCount <= 0) continue
    count += c.restartCount
    containers++
  }
  return { count, containers }
}
