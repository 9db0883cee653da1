import type { V1ObjectMeta } from '@kubernetes/client-node'
import type { JsonSchema } from '../../shared/schema.ts'
import { bool, dateTime, exactlyOne, int64, obj, oneOf, resource, str, stringMap } from './builders.ts'
import type { CrdDefinition } from './types.ts'

/**
 * CSI volume snapshots, snapshot.storage.k8s.io/v1, following the CRDs of
 * kubernetes-csi/external-snapshotter (v8). No npm package carries these
 * schemas, so this is the project's own definition. The CRDs' CEL rules that
 * can be said in JSON Schema are kept: exactly one source, a non-empty class
 * name, a reference naming both name and namespace. Transition rules
 * (immutability) need the old object and are not schema checks.
 */

export type DeletionPolicy = 'Delete' | 'Retain'

export interface VolumeSnapshotError { message?: string, time?: string }

export interface VolumeSnapshot {
  apiVersion?: 'snapshot.storage.k8s.io/v1'
  kind?: 'VolumeSnapshot'
  metadata?: V1ObjectMeta
  spec: {
    /** exactly one of the two */
    source: { persistentVolumeClaimName?: string, volumeSnapshotContentName?: string }
    volumeSnapshotClassName?: string
  }
  status?: {
    boundVolumeSnapshotContentName?: string
    creationTime?: string
    error?: VolumeSnapshotError
    readyToUse?: boolean
    /** a quantity, e.g. "10Gi" */
    restoreSize?: string
    volumeGroupSnapshotName?: string
  }
}

export interface VolumeSnapshotContent {
  apiVersion?: 'snapshot.storage.k8s.io/v1'
  kind?: 'VolumeSnapshotContent'
  metadata?: V1ObjectMeta
  spec: {
    deletionPolicy: DeletionPolicy
    driver: string
    /** exactly one of the two */
    source: { snapshotHandle?: string, volumeHandle?: string }
    sourceVolumeMode?: string
    volumeSnapshotClassName?: string
    volumeSnapshotRef: { apiVersion?: string, fieldPath?: string, kind?: string, name: string, namespace: string, resourceVersion?: string, uid?: string }
  }
  status?: {
    /** nanoseconds since the epoch */
    creationTime?: number
    error?: VolumeSnapshotError
    readyToUse?: boolean
    /** bytes */
    restoreSize?: number
    snapshotHandle?: string
    volumeGroupSnapshotHandle?: string
  }
}

export interface VolumeSnapshotClass {
  apiVersion?: 'snapshot.storage.k8s.io/v1'
  kind?: 'VolumeSnapshotClass'
  metadata?: V1ObjectMeta
  deletionPolicy: DeletionPolicy
  driver: string
  parameters?: Record<string, string>
}

const snapshotError = (): JsonSchema => obj({ message: str(), time: dateTime() })
const deletionPolicy = (): JsonSchema => oneOf('Delete', 'Retain')
// A resource.Quantity, as the CRD's pattern spells it.
const QUANTITY = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$'

export const volumeSnapshotSchema: JsonSchema = resource(
  obj({
    source: obj({
      persistentVolumeClaimName: str(),
      volumeSnapshotContentName: str(),
    }, [], exactlyOne('volumeSnapshotContentName', 'persistentVolumeClaimName')),
    volumeSnapshotClassName: str({ minLength: 1 }),
  }, ['source']),
  obj({
    boundVolumeSnapshotContentName: str(),
    creationTime: dateTime(),
    error: snapshotError(),
    readyToUse: bool(),
    restoreSize: str({ pattern: QUANTITY }),
    volumeGroupSnapshotName: str(),
  }),
  ['spec'],
)

export const volumeSnapshotContentSchema: JsonSchema = resource(
  obj({
    deletionPolicy: deletionPolicy(),
    driver: str(),
    source: obj({ snapshotHandle: str(), volumeHandle: str() }, [], exactlyOne('volumeHandle', 'snapshotHandle')),
    sourceVolumeMode: str(),
    volumeSnapshotClassName: str(),
    volumeSnapshotRef: obj({
      apiVersion: str(), fieldPath: str(), kind: str(), name: str(), namespace: str(), resourceVersion: str(), uid: str(),
    }, ['name', 'namespace']),
  }, ['deletionPolicy', 'driver', 'source', 'volumeSnapshotRef']),
  obj({
    creationTime: int64(),
    error: snapshotError(),
    readyToUse: bool(),
    restoreSize: int64({ minimum: 0 }),
    snapshotHandle: str(),
    volumeGroupSnapshotHandle: str(),
  }),
  ['spec'],
)

// VolumeSnapshotClass has no spec: its fields sit at the top level.
export const volumeSnapshotClassSchema: JsonSchema = obj({
  apiVersion: str(),
  kind: str(),
  metadata: { type: 'object' },
  deletionPolicy: deletionPolicy(),
  driver: str(),
  parameters: stringMap(),
}, ['deletionPolicy', 'driver'])

const group = 'snapshot.storage.k8s.io'
export const VOLUME_SNAPSHOT_CRDS: CrdDefinition[] = [
  { group, version: 'v1', kind: 'VolumeSnapshot', plural: 'volumesnapshots', namespaced: true, shortNames: ['vs'], subresources: ['status'], schema: volumeSnapshotSchema },
  { group, version: 'v1', kind: 'VolumeSnapshotContent', plural: 'volumesnapshotcontents', namespaced: false, shortNames: ['vsc', 'vscs'], subresources: ['status'], schema: volumeSnapshotContentSchema },
  { group, version: 'v1', kind: 'VolumeSnapshotClass', plural: 'volumesnapshotclasses', namespaced: false, shortNames: ['vsclass', 'vsclasses'], subresources: [], schema: volumeSnapshotClassSchema },
]
