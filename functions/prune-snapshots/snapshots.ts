import type { CoreV1Api, CustomObjectsApi, KubeConfig } from '../../shared/kubernetes/api.ts'
import { listInNamespaces } from '../../shared/kubernetes/listing.ts'
import type { PrunePolicy } from './config.ts'
import { RESOURCE, type SnapshotObject } from './candidates.ts'

/**
 * The policy's snapshots (and below, the PVCs restored from them) one at a
 * time: one cluster-wide list kept to the policy's namespaces where the
 * RBAC allows it, else one list per namespace (shared/kubernetes/listing.ts).
 */
export function listSnapshots(policy: PrunePolicy, custom: CustomObjectsApi, kc: KubeConfig, pageSize: number): AsyncGenerator<SnapshotObject> {
  const target = RESOURCE[policy.kind]
  const selector = policy.selector ? { labelSelector: policy.selector } : {}
  return listInNamespaces<SnapshotObject>({
    kubeConfig: kc, what: `${policy.kind} for policy ${policy.name}`, resource: { group: target.group, resource: target.plural }, namespaces: policy.namespaces, pageSize,
    namespaced: (namespace, page) => custom.listNamespacedCustomObject({ ...target, namespace, ...page, ...selector }),
    clusterWide: (page) => custom.listClusterCustomObject({ ...target, ...page, ...selector }),
  })
}

/** VolumeSnapshots a PVC of these namespaces is being (or was) restored from: never deleted. */
export async function snapshotsInUse(namespaces: readonly string[], core: CoreV1Api, kc: KubeConfig, pageSize: number): Promise<Set<string>> {
  const used = new Set<string>()
  const pvcs = listInNamespaces({
    kubeConfig: kc, what: 'PersistentVolumeClaims', resource: { group: '', resource: 'persistentvolumeclaims' }, namespaces, pageSize,
    namespaced: (namespace, page) => core.listNamespacedPersistentVolumeClaim({ namespace, ...page }),
    clusterWide: (page) => core.listPersistentVolumeClaimForAllNamespaces(page),
  })
  for await (const pvc of pvcs) {
    const namespace = pvc.metadata?.namespace ?? ''
    for (const ref of [pvc.spec?.dataSource, pvc.spec?.dataSourceRef]) {
      if (ref?.kind === 'VolumeSnapshot') used.add(`${(ref as { namespace?: string }).namespace ?? namespace}/${ref.name}`)
    }
  }
  return used
}
