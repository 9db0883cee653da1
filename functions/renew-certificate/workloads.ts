import type { V1ObjectMeta, V1PodTemplateSpec } from '@kubernetes/client-node'
import { AppsV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { listAll } from '../../shared/kubernetes/deleter.ts'
import { mountsSecret, optedIn, RESTARTED_AT_ANNOTATION } from './certificates.ts'

/**
 * The workloads that mount a certificate's Secret and opted in to a
 * restart when it is re-issued, and the rollout restart itself (what
 * `kubectl rollout restart` does: a new restartedAt on the pod template).
 */

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet'

export interface Workload {
  kind: WorkloadKind
  namespace: string
  name: string
}

interface Listed { metadata?: V1ObjectMeta; spec?: { template?: V1PodTemplateSpec } }

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)

export async function workloadsMounting(kubeConfig: KubeConfig, namespace: string, secretName: string, pageSize: number): Promise<Workload[]> {
  const apps = kubeConfig.makeApiClient(AppsV1Api)
  const lists: Array<[WorkloadKind, () => Promise<Listed[]>]> = [
    ['Deployment', () => listAll(pageSize, (p) => apps.listNamespacedDeployment({ namespace, ...p }))],
    ['StatefulSet', () => listAll(pageSize, (p) => apps.listNamespacedStatefulSet({ namespace, ...p }))],
    ['DaemonSet', () => listAll(pageSize, (p) => apps.listNamespacedDaemonSet({ namespace, ...p }))],
  ]
  const found: Workload[] = []
  for (const [kind, list] of lists) {
    let items: Listed[]
    try {
      items = await list()
    } catch (err) {
      throw kubernetesError(err, `list ${kind}s in ${namespace}`)
    }
    for (const w of items) {
      if (optedIn(w.metadata?.annotations, secretName) && mountsSecret(w.spec?.template, secretName)) {
        found.push({ kind, namespace, name: w.metadata?.name ?? '' })
      }
    }
  }
  return found
}

export async function rolloutRestart(kubeConfig: KubeConfig, workload: Workload, at: Date): Promise<void> {
  const apps = kubeConfig.makeApiClient(AppsV1Api)
  const { namespace, name } = workload
  const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: at.toISOString() } } } } }
  try {
    if (workload.kind === 'Deployment') await apps.patchNamespacedDeployment({ namespace, name, body }, merge)
    else if (workload.kind === 'StatefulSet') await apps.patchNamespacedStatefulSet({ namespace, name, body }, merge)
    else await apps.patchNamespacedDaemonSet({ namespace, name, body }, merge)
  } catch (err) {
    throw kubernetesError(err, `restart ${workload.kind} ${namespace}/${name}`)
  }
}
