import type { V1DaemonSet, V1Deployment, V1StatefulSet } from '@kubernetes/client-node'
import { AppsV1Api, type KubeConfig } from './api.ts'
import { kubernetesError } from './client.ts'

/**
 * Whether a workload's rollout is complete, judged as `kubectl rollout
 * status` judges it (kubernetes/kubectl pkg/polymorphichelpers/
 * rollout_status.go: DeploymentStatusViewer, DaemonSetStatusViewer,
 * StatefulSetStatusViewer), plus the generation a restart wrote: the
 * controller must have observed at least that one.
 *
 * - `done: true`: rolled out.
 * - `done: false, failed: true`: it will not finish by waiting (a Deployment
 *   whose Progressing condition says ProgressDeadlineExceeded, or a strategy
 *   that has no rollout status: OnDelete).
 * - `done: false`: still rolling; `message` says what it waits for.
 */

export type RolloutKind = 'Deployment' | 'StatefulSet' | 'DaemonSet'

export interface RolloutStatus { done: boolean; failed?: boolean; message: string }

type Workload = V1Deployment | V1StatefulSet | V1DaemonSet

export function rolloutStatus(kind: RolloutKind, obj: Workload, generation: number): RolloutStatus {
  const name = obj.metadata?.name ?? ''
  // A restart's own generation, or a later one: the controller must have seen the spec that restart wrote.
  const want = Math.max(generation, obj.metadata?.generation ?? 0)
  if (kind === 'Deployment') {
    const d = obj as V1Deployment
    const s = d.status ?? {}
    if ((s.observedGeneration ?? 0) < want) return { done: false, message: 'waiting for the deployment spec update to be observed' }
    // deploymentutil.TimedOutReason: the deployment controller's verdict once progressDeadlineSeconds passed.
    const progressing = s.conditions?.find((c) => c.type === 'Progressing')
    if (progressing?.reason === 'ProgressDeadlineExceeded') return { done: false, failed: true, message: `deployment "${name}" exceeded its progress deadline${progressing.message ? `: ${progressing.message}` : ''}` }
    const replicas = d.spec?.replicas ?? 1
    const updated = s.updatedReplicas ?? 0
    if (updated < replicas) return { done: false, message: `${updated} out of ${replicas} new replicas have been updated` }
    if ((s.replicas ?? 0) > updated) return { done: false, message: `${(s.replicas ?? 0) - updated} old replicas are pending termination` }
    if ((s.availableReplicas ?? 0) < updated) return { done: false, message: `${s.availableReplicas ?? 0} of ${updated} updated replicas are available` }
    return { done: true, message: `deployment "${name}" successfully rolled out` }
  }
  if (kind === 'DaemonSet') {
    const ds = obj as V1DaemonSet
    // The API server defaults updateStrategy.type to RollingUpdate (pkg/apis/apps/v1/defaults.go).
    if ((ds.spec?.updateStrategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') return { done: false, failed: true, message: `daemon set "${name}" has updateStrategy ${ds.spec?.updateStrategy?.type}: rollout status is only available for RollingUpdate` }
    const s = ds.status
    if ((s?.observedGeneration ?? 0) < want) return { done: false, message: 'waiting for the daemon set spec update to be observed' }
    const desired = s?.desiredNumberScheduled ?? 0
    if ((s?.updatedNumberScheduled ?? 0) < desired) return { done: false, message: `${s?.updatedNumberScheduled ?? 0} out of ${desired} new pods have been updated` }
    if ((s?.numberAvailable ?? 0) < desired) return { done: false, message: `${s?.numberAvailable ?? 0} of ${desired} updated pods are available` }
    return { done: true, message: `daemon set "${name}" successfully rolled out` }
  }
  const sts = obj as V1StatefulSet
  const strategy = sts.spec?.updateStrategy
  if ((strategy?.type ?? 'RollingUpdate') !== 'RollingUpdate') return { done: false, failed: true, message: `statefulset "${name}" has updateStrategy ${strategy?.type}: rollout status is only available for RollingUpdate` }
  const s = sts.status
  if (!s?.observedGeneration || s.observedGeneration < want) return { done: false, message: 'waiting for the statefulset spec update to be observed' }
  const replicas = sts.spec?.replicas ?? 1
  if ((s.readyReplicas ?? 0) < replicas) return { done: false, message: `waiting for ${replicas - (s.readyReplicas ?? 0)} pods to be ready` }
  if (strategy?.rollingUpdate) {
    const partition = strategy.rollingUpdate.partition ?? 0
    if ((s.updatedReplicas ?? 0) < replicas - partition) return { done: false, message: `waiting for partitioned roll out to finish: ${s.updatedReplicas ?? 0} out of ${replicas - partition} new pods have been updated` }
    return { done: true, message: `partitioned roll out complete: ${s.updatedReplicas ?? 0} new pods have been updated` }
  }
  if (s.updateRevision !== s.currentRevision) return { done: false, message: `waiting for statefulset rolling update to complete ${s.updatedReplicas ?? 0} pods at revision ${s.updateRevision ?? ''}` }
  return { done: true, message: `statefulset rolling update complete ${s.currentReplicas ?? 0} pods at revision ${s.currentRevision ?? ''}` }
}

/** Reads the workload (its `get` verb) for rolloutStatus. */
export async function readWorkload(kubeConfig: KubeConfig, kind: RolloutKind, namespace: string, name: string): Promise<Workload> {
  const apps = kubeConfig.makeApiClient(AppsV1Api)
  try {
    if (kind === 'Deployment') return await apps.readNamespacedDeployment({ namespace, name })
    if (kind === 'StatefulSet') return await apps.readNamespacedStatefulSet({ namespace, name })
    return await apps.readNamespacedDaemonSet({ namespace, name })
  } catch (err) {
    throw kubernetesError(err, `read ${kind} ${namespace}/${name}`)
  }
}

/**
 * Polls the workload until its rollout of `generation` is complete, has
 * failed, or `until` (epoch ms) passes: the last status is returned either
 * way. An API error while reading is thrown.
 */
export async function waitForRollout(kubeConfig: KubeConfig, kind: RolloutKind, namespace: string, name: string, generation: number, until: number, signal?: AbortSignal): Promise<RolloutStatus & { timedOut: boolean }> {
  for (let round = 0; ; round++) {
    const status = rolloutStatus(kind, await readWorkload(kubeConfig, kind, namespace, name), generation)
    if (status.done || status.failed) return { ...status, timedOut: false }
    const left = until - Date.now()
    if (left <= 0 || signal?.aborted) return { ...status, timedOut: true }
    // Quick at first (a small rollout is done in a moment), then every 2 s as `kubectl rollout status`'s watch would see it.
    await new Promise((r) => setTimeout(r, Math.min(left, round < 10 ? 100 : 2000)))
  }
}
