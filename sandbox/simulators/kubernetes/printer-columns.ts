// The additionalPrinterColumns (and discovery categories) of the custom
// resources the simulator serves, as their CustomResourceDefinitions declare
// them; kube-apiserver prints a custom resource's Table from these
// (k8s.io/apiextensions-apiserver pkg/registry/customresource/tableconvertor).
// A CRD that declares none gets one Age column (.metadata.creationTimestamp),
// as the CRD defaulting adds it. test/simulators/kubernetes-crds.test.ts
// compares these with the upstream definitions.
//
// Sources (same versions as the schemas the simulator validates with):
// - cert-manager/cert-manager deploy/crds/cert-manager.io_*.yaml (v1.21.1)
// - external-secrets/external-secrets config/crds/bases/external-secrets.io_*.yaml (v2.9.0)
// - kubernetes-csi/external-snapshotter client/config/crd/snapshot.storage.k8s.io_*.yaml (v8.6.0)
// - knative/serving config/core/300-resources/service.yaml (knative-v1.23.0)
// - knative/eventing config/core/resources/{broker,trigger,pingsource,apiserversource}.yaml (knative-v1.22.2)
// - longhorn/longhorn deploy/longhorn.yaml (v1.12.1)
// - prometheus-operator/prometheus-operator example/prometheus-operator-crd/monitoring.coreos.com_{prometheusrules,podmonitors}.yaml (no printer columns)

export interface PrinterColumn { name: string, type: string, jsonPath: string, priority?: number, description?: string, format?: string }
interface CrdPrinting { categories?: string[], columns?: PrinterColumn[] }

const AGE_DESCRIPTION = 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.'
const col = (name: string, type: string, jsonPath: string, extra: Partial<PrinterColumn> = {}): PrinterColumn => ({ name, type, jsonPath, ...extra })
const cmReady = col('Ready', 'string', '.status.conditions[?(@.type == "Ready")].status')
const cmStatus = col('Status', 'string', '.status.conditions[?(@.type == "Ready")].message', { priority: 1 })
const cmAge = col('Age', 'date', '.metadata.creationTimestamp', { description: AGE_DESCRIPTION })
const esStore = [col('AGE', 'date', '.metadata.creationTimestamp'), col('Status', 'string', '.status.conditions[?(@.type=="Ready")].reason'), col('Capabilities', 'string', '.status.capabilities'), col('Ready', 'string', '.status.conditions[?(@.type=="Ready")].status')]
const knReady = (q: string) => [col('Ready', 'string', `.status.conditions[?(@.type==${q}Ready${q})].status`), col('Reason', 'string', `.status.conditions[?(@.type==${q}Ready${q})].reason`)]
const knAge = col('Age', 'date', '.metadata.creationTimestamp')
const age = col('Age', 'date', '.metadata.creationTimestamp')

/** Keyed `group/version/Kind`. */
export const CRD_PRINTING: Record<string, CrdPrinting> = {
  'cert-manager.io/v1/Certificate': { categories: ['cert-manager'], columns: [cmReady, col('Secret', 'string', '.spec.secretName'), col('Issuer', 'string', '.spec.issuerRef.name', { priority: 1 }), cmStatus, cmAge] },
  'cert-manager.io/v1/CertificateRequest': {
    categories: ['cert-manager'],
    columns: [col('Approved', 'string', '.status.conditions[?(@.type == "Approved")].status'), col('Denied', 'string', '.status.conditions[?(@.type == "Denied")].status'), cmReady, col('Issuer', 'string', '.spec.issuerRef.name'), col('Requester', 'string', '.spec.username'), cmStatus, cmAge],
  },
  'cert-manager.io/v1/Issuer': { categories: ['cert-manager'], columns: [cmReady, cmStatus, cmAge] },
  'cert-manager.io/v1/ClusterIssuer': { categories: ['cert-manager'], columns: [cmReady, cmStatus, cmAge] },
  'external-secrets.io/v1/ExternalSecret': {
    categories: ['external-secrets'],
    columns: [col('StoreType', 'string', '.spec.secretStoreRef.kind'), col('Store', 'string', '.spec.secretStoreRef.name'), col('Refresh Interval', 'string', '.spec.refreshInterval'), col('Status', 'string', '.status.conditions[?(@.type=="Ready")].reason'), col('Ready', 'string', '.status.conditions[?(@.type=="Ready")].status'), col('Last Sync', 'date', '.status.refreshTime')],
  },
  'external-secrets.io/v1/SecretStore': { categories: ['external-secrets'], columns: esStore },
  'external-secrets.io/v1/ClusterSecretStore': { categories: ['external-secrets'], columns: esStore },
  'snapshot.storage.k8s.io/v1/VolumeSnapshot': {
    columns: [
      col('ReadyToUse', 'boolean', '.status.readyToUse', { description: 'Indicates if the snapshot is ready to be used to restore a volume.' }),
      col('SourcePVC', 'string', '.spec.source.persistentVolumeClaimName', { description: 'If a new snapshot needs to be created, this contains the name of the source PVC from which this snapshot was (or will be) created.' }),
      col('SourceSnapshotContent', 'string', '.spec.source.volumeSnapshotContentName', { description: 'If a snapshot already exists, this contains the name of the existing VolumeSnapshotContent object representing the existing snapshot.' }),
      col('RestoreSize', 'string', '.status.restoreSize', { description: 'Represents the minimum size of volume required to rehydrate from this snapshot.' }),
      col('SnapshotClass', 'string', '.spec.volumeSnapshotClassName', { description: 'The name of the VolumeSnapshotClass requested by the VolumeSnapshot.' }),
      col('SnapshotContent', 'string', '.status.boundVolumeSnapshotContentName', { description: 'Name of the VolumeSnapshotContent object to which the VolumeSnapshot object intends to bind to. Please note that verification of binding actually requires checking both VolumeSnapshot and VolumeSnapshotContent to ensure both are pointing at each other. Binding MUST be verified prior to usage of this object.' }),
      col('CreationTime', 'date', '.status.creationTime', { description: 'Timestamp when the point-in-time snapshot was taken by the underlying storage system.' }),
      age],
  },
  'snapshot.storage.k8s.io/v1/VolumeSnapshotContent': {
    columns: [
      col('ReadyToUse', 'boolean', '.status.readyToUse', { description: 'Indicates if the snapshot is ready to be used to restore a volume.' }),
      col('RestoreSize', 'integer', '.status.restoreSize', { description: 'Represents the complete size of the snapshot in bytes' }),
      col('DeletionPolicy', 'string', '.spec.deletionPolicy', { description: 'Determines whether this VolumeSnapshotContent and its physical snapshot on the underlying storage system should be deleted when its bound VolumeSnapshot is deleted.' }),
      col('Driver', 'string', '.spec.driver', { description: 'Name of the CSI driver used to create the physical snapshot on the underlying storage system.' }),
      col('VolumeSnapshotClass', 'string', '.spec.volumeSnapshotClassName', { description: 'Name of the VolumeSnapshotClass to which this snapshot belongs.' }),
      col('VolumeSnapshot', 'string', '.spec.volumeSnapshotRef.name', { description: 'Name of the VolumeSnapshot object to which this VolumeSnapshotContent object is bound.' }),
      col('VolumeSnapshotNamespace', 'string', '.spec.volumeSnapshotRef.namespace', { description: 'Namespace of the VolumeSnapshot object to which this VolumeSnapshotContent object is bound.' }),
      age],
  },
  'snapshot.storage.k8s.io/v1/VolumeSnapshotClass': {
    columns: [col('Driver', 'string', '.driver'), col('DeletionPolicy', 'string', '.deletionPolicy', { description: 'Determines whether a VolumeSnapshotContent created through the VolumeSnapshotClass should be deleted when its bound VolumeSnapshot is deleted.' }), age],
  },
  'serving.knative.dev/v1/Service': {
    categories: ['all', 'knative', 'serving'],
    columns: [col('URL', 'string', '.status.url'), col('LatestCreated', 'string', '.status.latestCreatedRevisionName'), col('LatestReady', 'string', '.status.latestReadyRevisionName'), ...knReady("'")],
  },
  'eventing.knative.dev/v1/Broker': {
    categories: ['all', 'knative', 'eventing'],
    columns: [col('URL', 'string', '.status.address.url'), knAge, ...knReady('"'), col('Class', 'string', '.metadata.annotations.eventing\\.knative\\.dev/broker\\.class', { priority: 1 })],
  },
  'eventing.knative.dev/v1/Trigger': {
    categories: ['all', 'knative', 'eventing'],
    columns: [col('Broker', 'string', '.spec.broker'), col('Subscriber_URI', 'string', '.status.subscriberUri'), knAge, ...knReady('"')],
  },
  'sources.knative.dev/v1/PingSource': {
    categories: ['all', 'knative', 'sources'],
    columns: [col('Sink', 'string', '.status.sinkUri'), col('Schedule', 'string', '.spec.schedule'), knAge, ...knReady("'")],
  },
  'sources.knative.dev/v1/ApiServerSource': {
    categories: ['all', 'knative', 'sources'],
    columns: [col('Sink', 'string', '.status.sinkUri'), knAge, ...knReady('"')],
  },
  'monitoring.coreos.com/v1/PrometheusRule': { categories: ['prometheus-operator'] },
  'monitoring.coreos.com/v1/PodMonitor': { categories: ['prometheus-operator'] },
  'longhorn.io/v1beta2/Volume': {
    columns: [
      col('Data Engine', 'string', '.spec.dataEngine', { description: 'The data engine of the volume' }),
      col('State', 'string', '.status.state', { description: 'The state of the volume' }),
      col('Robustness', 'string', '.status.robustness', { description: 'The robustness of the volume' }),
      col('Scheduled', 'string', ".status.conditions[?(@.type=='Schedulable')].status", { description: 'The scheduled condition of the volume' }),
      col('Size', 'string', '.spec.size', { description: 'The size of the volume' }),
      col('Node', 'string', '.status.currentNodeID', { description: 'The node that the volume is currently attaching to' }),
      col('Switchover', 'string', '.status.switchoverState', { priority: 1, description: 'The engine switchover state' }),
      age],
  },
  'longhorn.io/v1beta2/Snapshot': {
    columns: [
      col('Volume', 'string', '.spec.volume', { description: 'The volume that this snapshot belongs to' }),
      col('CreationTime', 'string', '.status.creationTime', { description: 'Timestamp when the point-in-time snapshot was taken' }),
      col('ReadyToUse', 'boolean', '.status.readyToUse', { description: 'Indicates if the snapshot is ready to be used to restore/backup a volume' }),
      col('RestoreSize', 'string', '.status.restoreSize', { description: 'Represents the minimum size of volume required to rehydrate from this snapshot' }),
      col('Size', 'string', '.status.size', { description: 'The actual size of the snapshot' }),
      age],
  },
  'longhorn.io/v1beta2/Backup': {
    columns: [
      col('SnapshotName', 'string', '.status.snapshotName', { description: 'The snapshot name' }),
      col('SnapshotSize', 'string', '.status.size', { description: 'The snapshot size' }),
      col('SnapshotCreatedAt', 'string', '.status.snapshotCreatedAt', { description: 'The snapshot creation time' }),
      col('BackupTarget', 'string', '.status.backupTargetName', { description: 'The backup target name' }),
      col('State', 'string', '.status.state', { description: 'The backup state' }),
      col('LastSyncedAt', 'string', '.status.lastSyncedAt', { description: 'The backup last synced time' })],
  },
  'longhorn.io/v1beta2/BackupVolume': {
    columns: [
      col('BackupTarget', 'string', '.spec.backupTargetName', { description: 'The backup target name' }),
      col('CreatedAt', 'string', '.status.createdAt', { description: 'The backup volume creation time' }),
      col('LastBackupName', 'string', '.status.lastBackupName', { description: 'The backup volume last backup name' }),
      col('LastBackupAt', 'string', '.status.lastBackupAt', { description: 'The backup volume last backup time' }),
      col('LastSyncedAt', 'string', '.status.lastSyncedAt', { description: 'The backup volume last synced time' })],
  },
  'longhorn.io/v1beta2/RecurringJob': {
    columns: [
      col('Groups', 'string', '.spec.groups', { description: 'Sets groupings to the jobs. When set to "default" group will be added to the volume label when no other job label exist in volume' }),
      col('Task', 'string', '.spec.task', { description: 'Should be one of "snapshot", "snapshot-force-create", "snapshot-cleanup", "snapshot-delete", "backup", "backup-force-create", "filesystem-trim" or "system-backup"' }),
      col('Cron', 'string', '.spec.cron', { description: 'The cron expression represents recurring job scheduling' }),
      col('Retain', 'integer', '.spec.retain', { description: 'The number of snapshots/backups to keep for the volume' }),
      col('Concurrency', 'integer', '.spec.concurrency', { description: 'The concurrent job to run by each cron job' }),
      age,
      col('Labels', 'string', '.spec.labels', { description: 'Specify the labels' })],
  },
}

/** The printer columns a served custom resource declares, or the defaulted Age column. */
export function crdColumns(key: string): PrinterColumn[] {
  return CRD_PRINTING[key]?.columns ?? [age]
}
