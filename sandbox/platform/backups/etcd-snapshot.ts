import { boltDatabase, etcdKeyValue, etcdRevisionKey, u64be, withEtcdSnapshotHash, type KeyValue } from '../formats.ts'

// etcd: a Kubernetes etcd's buckets with a few /registry keys

export function etcdSnapshot(takenAt: Date, dayIndex: number): Buffer {
  const rev0 = 120_000 + dayIndex * 1500
  const registry = [
    ['/registry/namespaces/production', { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'production' } }],
    ['/registry/namespaces/databases', { kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'databases' } }],
    ['/registry/deployments/production/api', { kind: 'Deployment', apiVersion: 'apps/v1', metadata: { name: 'api', namespace: 'production', generation: 4 + dayIndex } }],
    ['/registry/statefulsets/databases/postgres', { kind: 'StatefulSet', apiVersion: 'apps/v1', metadata: { name: 'postgres', namespace: 'databases' } }],
    ['/registry/configmaps/kube-system/kubeadm-config', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'kubeadm-config', namespace: 'kube-system' }, data: { ClusterConfiguration: 'kubernetesVersion: v1.32.0\n' } }],
    ['/registry/leases/kube-system/kube-controller-manager', { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', metadata: { name: 'kube-controller-manager', namespace: 'kube-system' }, spec: { renewTime: takenAt.toISOString() } }],
  ] as const
  const keys: KeyValue[] = registry.map(([key, obj], i) => ({
    key: etcdRevisionKey(rev0 + i),
    value: etcdKeyValue({ key, value: Buffer.from(JSON.stringify(obj)), createRevision: 1000 + i, modRevision: rev0 + i, version: 1 + dayIndex }),
  }))
  const member = '8e9e05c52164694d'
  return withEtcdSnapshotHash(boltDatabase({
    alarm: [],
    auth: [{ key: Buffer.from('authEnabled'), value: Buffer.from([0]) }, { key: Buffer.from('authRevision'), value: u64be(1) }],
    authRoles: [],
    authUsers: [],
    cluster: [{ key: Buffer.from('clusterVersion'), value: Buffer.from('3.5.0') }],
    key: keys,
    lease: [],
    members: [{ key: Buffer.from(member), value: Buffer.from(JSON.stringify({ id: Number.parseInt(member.slice(0, 12), 16), peerURLs: ['https://10.0.0.10:2380'], name: 'control-plane-1' })) }],
    members_removed: [],
    meta: [
      { key: Buffer.from('consistent_index'), value: u64be(rev0 + 40) },
      { key: Buffer.from('finishedCompactRev'), value: etcdRevisionKey(rev0 - 1000) },
      { key: Buffer.from('scheduledCompactRev'), value: etcdRevisionKey(rev0 - 1000) },
      { key: Buffer.from('storageVersion'), value: Buffer.from('3.5.0') },
      { key: Buffer.from('term'), value: u64be(7) },
    ],
  }, 2 * (rev0 % 1000) + 8))
}
