import type { V1CronJob, V1Deployment, V1Job, V1PersistentVolumeClaim, V1Pod, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node'
import { AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { listOrder, namespaceReader, type ListedResource, type NamespacedListing, type NamespaceReader } from '../../shared/kubernetes/listing.ts'
import type { CleanUpConfig } from './config.ts'

/** What a run reads, a namespace at a time: only the kinds its enabled parts need (the others read as empty). */
export interface Readers {
  jobs: NamespaceReader<V1Job>
  cronJobs: NamespaceReader<V1CronJob>
  replicaSets: NamespaceReader<V1ReplicaSet>
  deployments: NamespaceReader<V1Deployment>
  statefulSets: NamespaceReader<V1StatefulSet>
  pods: NamespaceReader<V1Pod>
  pvcs: NamespaceReader<V1PersistentVolumeClaim>
}

/**
 * Each kind read a namespace at a time, each namespace's objects read
 * once: one paged cluster-wide list walked along where the RBAC allows
 * it (many namespaces in objects/page calls), else one list per
 * namespace (shared/kubernetes/listing.ts). Also the order to walk the
 * namespaces in: a cluster-wide list hands them out in its own.
 */
export async function openReaders(kubeConfig: KubeConfig, config: CleanUpConfig, namespaces: string[]): Promise<{ readers: Readers; order: string[] }> {
  const batch = kubeConfig.makeApiClient(BatchV1Api)
  const apps = kubeConfig.makeApiClient(AppsV1Api)
  const core = kubeConfig.makeApiClient(CoreV1Api)
  const pvcsToo = config.pvcs.report || config.pvcs.delete
  const none = { clusterWide: false, read: () => Promise.resolve([]) }
  const reader = <T extends { metadata?: { namespace?: string } }>(wanted: boolean, what: string, resource: ListedResource, namespaced: NamespacedListing<T>['namespaced'], clusterWide: NamespacedListing<T>['clusterWide']): Promise<NamespaceReader<T>> =>
    (wanted ? namespaceReader<T>({ kubeConfig, what, resource, namespaces, pageSize: config.limits.pageSize, namespaced, clusterWide }) : Promise.resolve(none))
  let readers: Readers
  try {
    readers = {
      jobs: await reader(config.jobs.enabled || pvcsToo, 'Jobs', { group: 'batch', resource: 'jobs' }, (namespace, p) => batch.listNamespacedJob({ namespace, ...p }), (p) => batch.listJobForAllNamespaces(p)),
      cronJobs: await reader(config.jobs.enabled || pvcsToo, 'CronJobs', { group: 'batch', resource: 'cronjobs' }, (namespace, p) => batch.listNamespacedCronJob({ namespace, ...p }), (p) => batch.listCronJobForAllNamespaces(p)),
      replicaSets: await reader(config.replicaSets.enabled, 'ReplicaSets', { group: 'apps', resource: 'replicasets' }, (namespace, p) => apps.listNamespacedReplicaSet({ namespace, ...p }), (p) => apps.listReplicaSetForAllNamespaces(p)),
      deployments: await reader(config.replicaSets.enabled || pvcsToo, 'Deployments', { group: 'apps', resource: 'deployments' }, (namespace, p) => apps.listNamespacedDeployment({ namespace, ...p }), (p) => apps.listDeploymentForAllNamespaces(p)),
      statefulSets: await reader(pvcsToo, 'StatefulSets', { group: 'apps', resource: 'statefulsets' }, (namespace, p) => apps.listNamespacedStatefulSet({ namespace, ...p }), (p) => apps.listStatefulSetForAllNamespaces(p)),
      pods: await reader(pvcsToo, 'Pods', { group: '', resource: 'pods' }, (namespace, p) => core.listNamespacedPod({ namespace, ...p }), (p) => core.listPodForAllNamespaces(p)),
      pvcs: await reader(pvcsToo, 'PersistentVolumeClaims', { group: '', resource: 'persistentvolumeclaims' }, (namespace, p) => core.listNamespacedPersistentVolumeClaim({ namespace, ...p }), (p) => core.listPersistentVolumeClaimForAllNamespaces(p)),
    }
  } catch (err) {
    throw kubernetesError(err, 'list for clean-up')
  }
  return { readers, order: Object.values(readers).some((r) => r.clusterWide) ? listOrder(namespaces) : namespaces }
}
