import type { V1ObjectMeta } from '@kubernetes/client-node'
import type { JsonSchema } from '../../shared/schema.ts'
import { arr, bool, dateTime, int, int64, longhornCondition, nullable, obj, oneOf, resource, str, stringMap } from './builders.ts'
import type { CrdDefinition } from './types.ts'

/**
 * Longhorn's custom resources, longhorn.io/v1beta2 (served and stored by
 * Longhorn 1.12), as the project's own definitions: no npm package carries
 * them. Structure, types, required fields and enums follow Longhorn's CRDs.
 */

export interface LonghornCondition { lastProbeTime?: string, lastTransitionTime?: string, message?: string, reason?: string, status?: string, type?: string }

interface LonghornObject<K extends string> {
  apiVersion?: 'longhorn.io/v1beta2'
  kind?: K
  metadata?: V1ObjectMeta
}

export type RecurringJobTask = 'snapshot' | 'snapshot-force-create' | 'snapshot-cleanup' | 'snapshot-delete' | 'backup' | 'backup-force-create' | 'filesystem-trim' | 'system-backup'

export interface LonghornVolume extends LonghornObject<'Volume'> {
  spec?: {
    size?: string
    numberOfReplicas?: number
    frontend?: 'blockdev' | 'iscsi' | 'nvmf' | 'ublk' | ''
    accessMode?: 'rwo' | 'rwop' | 'rwx'
    dataEngine?: 'v1' | 'v2'
    dataLocality?: 'disabled' | 'best-effort' | 'strict-local'
    backupCompressionMethod?: 'none' | 'lz4' | 'gzip'
    backupTargetName?: string
    fromBackup?: string
    dataSource?: string
    snapshotMaxCount?: number
    [field: string]: unknown
  }
  status?: {
    state?: string
    robustness?: string
    actualSize?: number
    lastBackup?: string
    lastBackupAt?: string
    conditions?: LonghornCondition[] | null
    kubernetesStatus?: { namespace?: string, pvName?: string, pvStatus?: string, pvcName?: string, lastPVCRefAt?: string, lastPodRefAt?: string, workloadsStatus?: Array<{ podName?: string, podStatus?: string, workloadName?: string, workloadType?: string }> | null }
    [field: string]: unknown
  }
}

export interface LonghornSnapshot extends LonghornObject<'Snapshot'> {
  spec: { volume: string, createSnapshot?: boolean, labels?: Record<string, string> | null }
  status?: {
    checksum?: string
    checksumCalculatedAt?: string
    children?: Record<string, boolean> | null
    creationTime?: string
    error?: string
    labels?: Record<string, string> | null
    markRemoved?: boolean
    ownerID?: string
    parent?: string
    readyToUse?: boolean
    requestedTime?: string
    restoreSize?: number
    size?: number
    userCreated?: boolean
  }
}

export interface LonghornBackup extends LonghornObject<'Backup'> {
  spec?: { snapshotName?: string, labels?: Record<string, string>, backupMode?: 'full' | 'incremental', backupBlockSize?: '-1' | '2097152' | '16777216', syncRequestedAt?: string | null }
  status?: {
    /** Longhorn's states: New, Pending, InProgress, Completed, Error, Unknown */
    state?: string
    progress?: number
    url?: string
    error?: string
    snapshotName?: string
    snapshotCreatedAt?: string
    backupCreatedAt?: string
    size?: string
    volumeName?: string
    volumeSize?: string
    backupTargetName?: string
    lastSyncedAt?: string | null
    [field: string]: unknown
  }
}

export interface LonghornBackupVolume extends LonghornObject<'BackupVolume'> {
  spec?: { backupTargetName?: string | null, volumeName?: string, syncRequestedAt?: string | null }
  status?: { lastBackupName?: string, lastBackupAt?: string, createdAt?: string, size?: string, dataStored?: string, storageClassName?: string, lastSyncedAt?: string | null, [field: string]: unknown }
}

export interface LonghornRecurringJob extends LonghornObject<'RecurringJob'> {
  spec?: { name?: string, task?: RecurringJobTask, cron?: string, retain?: number, concurrency?: number, groups?: string[], labels?: Record<string, string>, parameters?: Record<string, string> }
  status?: { executionCount?: number, ownerID?: string }
}

const enabledness = (): JsonSchema => oneOf('ignored', 'enabled', 'disabled')

export const longhornVolumeSchema: JsonSchema = resource(
  obj({
    Standby: bool(),
    accessMode: oneOf('rwo', 'rwop', 'rwx'),
    backingImage: str(),
    backupBlockSize: oneOf('2097152', '16777216'),
    backupCompressionMethod: oneOf('none', 'lz4', 'gzip'),
    backupTargetName: str(),
    cloneMode: oneOf('', 'full-copy', 'linked-clone'),
    dataEngine: oneOf('v1', 'v2'),
    dataLayout: obj({
      dataChunks: int({ minimum: 0 }),
      mode: oneOf('raid1', 'erasureCoding', ''),
      parityChunks: int({ minimum: 0 }),
      stripSizeKB: int({ minimum: 0 }),
      type: oneOf('replicated', 'sharded', ''),
    }),
    dataLocality: oneOf('disabled', 'best-effort', 'strict-local'),
    dataSource: str(),
    disableFrontend: bool(),
    diskSelector: arr(str()),
    encrypted: bool(),
    engineNodeID: str(),
    freezeFilesystemForSnapshot: enabledness(),
    fromBackup: str(),
    frontend: oneOf('blockdev', 'iscsi', 'nvmf', 'ublk', ''),
    image: str(),
    lastAttachedBy: str(),
    migratable: bool(),
    migrationNodeID: str(),
    nodeID: str(),
    nodeSelector: arr(str()),
    numberOfReplicas: int(),
    offlineRebuilding: oneOf('ignored', 'disabled', 'enabled'),
    rebuildConcurrentSyncLimit: int({ minimum: 0, maximum: 5 }),
    replicaAutoBalance: oneOf('ignored', 'disabled', 'least-effort', 'best-effort'),
    replicaDiskSoftAntiAffinity: enabledness(),
    replicaRebuildingBandwidthLimit: int64({ minimum: 0 }),
    replicaSoftAntiAffinity: enabledness(),
    replicaZoneSoftAntiAffinity: enabledness(),
    restoreVolumeRecurringJob: enabledness(),
    revisionCounterDisabled: bool(),
    size: str(),
    snapshotDataIntegrity: oneOf('ignored', 'disabled', 'enabled', 'fast-check'),
    snapshotHashingRequestedAt: str(),
    snapshotMaxCount: int(),
    snapshotMaxSize: str(),
    staleReplicaTimeout: int(),
    ublkNumberOfQueue: int(),
    ublkQueueDepth: int(),
    unmapMarkSnapChainRemoved: oneOf('ignored', 'disabled', 'enabled'),
  }),
  obj({
    actualSize: int64(),
    cloneStatus: obj({ attemptCount: int(), nextAllowedAttemptAt: str(), snapshot: str(), sourceVolume: str(), state: str() }),
    conditions: nullable(arr(longhornCondition())),
    currentEngineNodeID: str(),
    currentImage: str(),
    currentMigrationNodeID: str(),
    currentNodeID: str(),
    expansionRequired: bool(),
    frontendDisabled: bool(),
    isStandby: bool(),
    kubernetesStatus: obj({
      lastPVCRefAt: str(),
      lastPodRefAt: str(),
      namespace: str(),
      pvName: str(),
      pvStatus: str(),
      pvcName: str(),
      workloadsStatus: nullable(arr(obj({ podName: str(), podStatus: str(), workloadName: str(), workloadType: str() }))),
    }),
    lastAutoSalvagedAt: str(),
    lastBackup: str(),
    lastBackupAt: str(),
    lastDegradedAt: str(),
    lastOnDemandSnapshotHashingCompleteAt: str(),
    ownerID: str(),
    remountRequestedAt: str(),
    restoreInitiated: bool(),
    restoreRequired: bool(),
    robustness: str(),
    shareEndpoint: str(),
    shareState: str(),
    state: str(),
    switchoverState: str(),
  }),
)

export const longhornSnapshotSchema: JsonSchema = resource(
  obj({
    createSnapshot: bool(),
    labels: nullable(stringMap()),
    volume: str(),
  }, ['volume']),
  obj({
    checksum: str(),
    checksumCalculatedAt: str(),
    children: nullable({ type: 'object', additionalProperties: bool() }),
    creationTime: str(),
    error: str(),
    labels: nullable(stringMap()),
    markRemoved: bool(),
    ownerID: str(),
    parent: str(),
    readyToUse: bool(),
    requestedTime: str(),
    restoreSize: int64(),
    size: int64(),
    userCreated: bool(),
  }),
)

export const longhornBackupSchema: JsonSchema = resource(
  obj({
    backupBlockSize: oneOf('-1', '2097152', '16777216'),
    backupMode: oneOf('full', 'incremental'),
    labels: stringMap(),
    snapshotName: str(),
    syncRequestedAt: nullable(dateTime()),
  }),
  obj({
    backupCreatedAt: str(),
    backupTargetName: str(),
    compressionMethod: str(),
    error: str(),
    labels: nullable(stringMap()),
    lastSyncedAt: nullable(dateTime()),
    messages: nullable(stringMap()),
    newlyUploadDataSize: str(),
    ownerID: str(),
    progress: int(),
    reUploadedDataSize: str(),
    replicaAddress: str(),
    size: str(),
    snapshotCreatedAt: str(),
    snapshotName: str(),
    state: str(),
    url: str(),
    volumeBackingImageName: str(),
    volumeCreated: str(),
    volumeName: str(),
    volumeSize: str(),
  }),
)

export const longhornBackupVolumeSchema: JsonSchema = resource(
  obj({
    backupTargetName: nullable(str()),
    syncRequestedAt: nullable(dateTime()),
    volumeName: str(),
  }),
  obj({
    backingImageChecksum: str(),
    backingImageName: str(),
    createdAt: str(),
    dataStored: str(),
    labels: nullable(stringMap()),
    lastBackupAt: str(),
    lastBackupName: str(),
    lastModificationTime: nullable(dateTime()),
    lastSyncedAt: nullable(dateTime()),
    messages: nullable(stringMap()),
    ownerID: str(),
    size: str(),
    storageClassName: str(),
  }),
)

export const longhornRecurringJobSchema: JsonSchema = resource(
  obj({
    concurrency: int(),
    cron: str(),
    groups: arr(str()),
    labels: stringMap(),
    name: str(),
    parameters: stringMap(),
    retain: int(),
    task: oneOf('snapshot', 'snapshot-force-create', 'snapshot-cleanup', 'snapshot-delete', 'backup', 'backup-force-create', 'filesystem-trim', 'system-backup'),
  }),
  obj({ executionCount: int(), ownerID: str() }),
)

const group = 'longhorn.io'
const version = 'v1beta2'
export const LONGHORN_CRDS: CrdDefinition[] = [
  { group, version, kind: 'Volume', plural: 'volumes', namespaced: true, shortNames: ['lhv'], subresources: ['status'], schema: longhornVolumeSchema },
  { group, version, kind: 'Snapshot', plural: 'snapshots', namespaced: true, shortNames: ['lhsnap'], subresources: ['status'], schema: longhornSnapshotSchema },
  { group, version, kind: 'Backup', plural: 'backups', namespaced: true, shortNames: ['lhb'], subresources: ['status'], schema: longhornBackupSchema },
  { group, version, kind: 'BackupVolume', plural: 'backupvolumes', namespaced: true, shortNames: ['lhbv'], subresources: ['status'], schema: longhornBackupVolumeSchema },
  { group, version, kind: 'RecurringJob', plural: 'recurringjobs', namespaced: true, shortNames: ['lhrj'], subresources: ['status'], schema: longhornRecurringJobSchema },
]
