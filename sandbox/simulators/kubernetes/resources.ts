// One table of served kinds: adding a kind = adding a row here.
import { CRD_PRINTING } from './printer-columns.ts'

export interface ResourceInfo {
  group: string
  version: string
  kind: string
  plural: string
  namespaced: boolean
  subresources: string[]
  shortNames: string[]
  // Module holding the kind's model class (its validate() carries the JSON schema); default: kubernetes-models.
  module?: string
}

/** `module` of a kind whose schema is a project definition (sandbox/crds) rather than a model package. */
export const PROJECT_SCHEMA = 'project'

const row = (group: string, version: string, kind: string, plural: string, namespaced: boolean, subresources: string[] = [], shortNames: string[] = [], module?: string): ResourceInfo =>
  ({ group, version, kind, plural, namespaced, subresources, shortNames, ...(module ? { module } : {}) })

export const RESOURCES: ResourceInfo[] = [
  row('', 'v1', 'Namespace', 'namespaces', false, ['status'], ['ns']),
  row('', 'v1', 'Pod', 'pods', true, ['status'], ['po']),
  row('', 'v1', 'Service', 'services', true, ['status'], ['svc']),
  row('', 'v1', 'ConfigMap', 'configmaps', true, [], ['cm']),
  row('', 'v1', 'Secret', 'secrets', true),
  row('', 'v1', 'Event', 'events', true, [], ['ev']),
  row('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true, ['status'], ['pvc']),
  row('', 'v1', 'Node', 'nodes', false, ['status'], ['no']),
  // serviceaccounts/token: a TokenRequest (create only; token-request.ts)
  row('', 'v1', 'ServiceAccount', 'serviceaccounts', true, ['token'], ['sa']),
  row('apps', 'v1', 'Deployment', 'deployments', true, ['status', 'scale'], ['deploy']),
  row('apps', 'v1', 'StatefulSet', 'statefulsets', true, ['status', 'scale'], ['sts']),
  row('apps', 'v1', 'ReplicaSet', 'replicasets', true, ['status'], ['rs']),
  row('apps', 'v1', 'DaemonSet', 'daemonsets', true, ['status'], ['ds']),
  row('batch', 'v1', 'Job', 'jobs', true, ['status']),
  row('batch', 'v1', 'CronJob', 'cronjobs', true, ['status'], ['cj']),
  row('coordination.k8s.io', 'v1', 'Lease', 'leases', true),
  row('networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', true, [], ['netpol']),
  row('events.k8s.io', 'v1', 'Event', 'events', true, [], ['ev']),
  row('rbac.authorization.k8s.io', 'v1', 'Role', 'roles', true),
  row('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', false),
  row('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings', true),
  row('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
  row('cert-manager.io', 'v1', 'Certificate', 'certificates', true, ['status'], ['cert', 'certs'], '@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate'),
  row('cert-manager.io', 'v1', 'CertificateRequest', 'certificaterequests', true, ['status'], ['cr', 'crs'], '@kubernetes-models/cert-manager/cert-manager.io/v1/CertificateRequest'),
  row('cert-manager.io', 'v1', 'Issuer', 'issuers', true, ['status'], ['iss'], '@kubernetes-models/cert-manager/cert-manager.io/v1/Issuer'),
  row('cert-manager.io', 'v1', 'ClusterIssuer', 'clusterissuers', false, ['status'], ['ciss'], '@kubernetes-models/cert-manager/cert-manager.io/v1/ClusterIssuer'),
  row('serving.knative.dev', 'v1', 'Service', 'services', true, ['status'], ['kservice', 'ksvc'], '@kubernetes-models/knative/serving.knative.dev/v1/Service'),
  row('eventing.knative.dev', 'v1', 'Trigger', 'triggers', true, ['status'], [], '@kubernetes-models/knative/eventing.knative.dev/v1/Trigger'),
  row('eventing.knative.dev', 'v1', 'Broker', 'brokers', true, ['status'], [], '@kubernetes-models/knative/eventing.knative.dev/v1/Broker'),
  row('sources.knative.dev', 'v1', 'PingSource', 'pingsources', true, ['status'], [], '@kubernetes-models/knative/sources.knative.dev/v1/PingSource'),
  row('sources.knative.dev', 'v1', 'ApiServerSource', 'apiserversources', true, ['status'], [], '@kubernetes-models/knative/sources.knative.dev/v1/ApiServerSource'),
  row('monitoring.coreos.com', 'v1', 'PrometheusRule', 'prometheusrules', true, [], ['promrule'], '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'),
  row('monitoring.coreos.com', 'v1', 'PodMonitor', 'podmonitors', true, [], ['pmon'], '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor'),
  // Schemas of these are the project's own definitions (sandbox/crds), validated with ajv.
  row('snapshot.storage.k8s.io', 'v1', 'VolumeSnapshot', 'volumesnapshots', true, ['status'], ['vs'], PROJECT_SCHEMA),
  row('snapshot.storage.k8s.io', 'v1', 'VolumeSnapshotContent', 'volumesnapshotcontents', false, ['status'], ['vsc', 'vscs'], PROJECT_SCHEMA),
  row('snapshot.storage.k8s.io', 'v1', 'VolumeSnapshotClass', 'volumesnapshotclasses', false, [], ['vsclass', 'vsclasses'], PROJECT_SCHEMA),
  row('longhorn.io', 'v1beta2', 'Volume', 'volumes', true, ['status'], ['lhv'], PROJECT_SCHEMA),
  row('longhorn.io', 'v1beta2', 'Snapshot', 'snapshots', true, ['status'], ['lhsnap'], PROJECT_SCHEMA),
  row('longhorn.io', 'v1beta2', 'Backup', 'backups', true, ['status'], ['lhb'], PROJECT_SCHEMA),
  row('longhorn.io', 'v1beta2', 'BackupVolume', 'backupvolumes', true, ['status'], ['lhbv'], PROJECT_SCHEMA),
  row('longhorn.io', 'v1beta2', 'RecurringJob', 'recurringjobs', true, ['status'], ['lhrj'], PROJECT_SCHEMA),
  row('external-secrets.io', 'v1', 'ExternalSecret', 'externalsecrets', true, ['status'], ['es'], '@kubernetes-models/external-secrets/external-secrets.io/v1/ExternalSecret'),
  row('external-secrets.io', 'v1', 'SecretStore', 'secretstores', true, ['status'], ['ss'], '@kubernetes-models/external-secrets/external-secrets.io/v1/SecretStore'),
  row('external-secrets.io', 'v1', 'ClusterSecretStore', 'clustersecretstores', false, ['status'], ['css'], '@kubernetes-models/external-secrets/external-secrets.io/v1/ClusterSecretStore'),
]

export const groupVersion = (r: ResourceInfo): string => (r.group ? `${r.group}/${r.version}` : r.version)

export function findResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural)
}

/**
 * Discovery categories: the built-in kinds kube-apiserver's REST storages put in
 * "all" (their Categories(): pods, services, replicationcontrollers, deployments,
 * replicasets, statefulsets, daemonsets, jobs, cronjobs, horizontalpodautoscalers;
 * kubernetes pkg/registry/<group>/<kind>/storage/storage.go), and for custom
 * resources what their CRD's names.categories say (printer-columns.ts).
 * `kubectl get all` lists the resources in "all".
 */
const ALL = new Set(['/pods', '/services', 'apps/deployments', 'apps/replicasets', 'apps/statefulsets', 'apps/daemonsets', 'batch/jobs', 'batch/cronjobs'])
export function categoriesOf(r: ResourceInfo): string[] {
  if (ALL.has(`${r.group}/${r.plural}`)) return ['all']
  return CRD_PRINTING[`${groupVersion(r)}/${r.kind}`]?.categories ?? []
}
