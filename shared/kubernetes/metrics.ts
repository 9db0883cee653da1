/**
 * The resource-metrics shapes the platform reads: the Metrics API that
 * metrics-server serves (`metrics.k8s.io/v1beta1`, kubernetes/metrics
 * staging/src/k8s.io/metrics/pkg/apis/metrics/v1beta1/types.go) and the
 * kubelet's stats summary (`GET /api/v1/nodes/{node}/proxy/stats/summary`,
 * kubernetes/kubernetes staging/src/k8s.io/kubelet/pkg/apis/stats/v1alpha1/types.go),
 * with their JSON field names. Only what a reader here may use is typed;
 * every field the published types mark optional (`omitempty`, pointers) is
 * optional here too.
 */

/** A ResourceList: resource name → quantity (`"329087452n"`, `"2748180Ki"`). */
export type ResourceUsage = Record<string, string>

interface MetricsObjectMeta { name: string; namespace?: string; creationTimestamp?: string; labels?: Record<string, string> }

/** metrics.k8s.io/v1beta1 NodeMetrics. */
export interface NodeMetrics {
  kind?: 'NodeMetrics'
  apiVersion?: 'metrics.k8s.io/v1beta1'
  metadata: MetricsObjectMeta
  /** The end of the collection interval. */
  timestamp: string
  /** The length of the collection interval, a Go duration (`"20.064s"`). */
  window: string
  /** cpu in cores, memory (working set) in bytes. */
  usage: ResourceUsage
}

/** metrics.k8s.io/v1beta1 ContainerMetrics. */
export interface ContainerMetrics { name: string; usage: ResourceUsage }

/** metrics.k8s.io/v1beta1 PodMetrics. */
export interface PodMetrics {
  kind?: 'PodMetrics'
  apiVersion?: 'metrics.k8s.io/v1beta1'
  metadata: MetricsObjectMeta
  timestamp: string
  window: string
  containers: ContainerMetrics[]
}

/** stats/v1alpha1 FsStats: every field optional (pointers in the Go type). */
export interface FsStats {
  time?: string
  availableBytes?: number
  capacityBytes?: number
  usedBytes?: number
  inodesFree?: number
  inodes?: number
  inodesUsed?: number
}

/** stats/v1alpha1 PVCReference. */
export interface PvcReference { name: string; namespace: string }

/** stats/v1alpha1 VolumeStats: FsStats embedded (inline), the volume's name, and the claim when the volume is one. */
export interface VolumeStats extends FsStats {
  name?: string
  pvcRef?: PvcReference
}

/** stats/v1alpha1 RuntimeStats. */
export interface RuntimeStats { imageFs?: FsStats; containerFs?: FsStats }

/** stats/v1alpha1 NodeStats (the fields read here; cpu, memory, network, rlimit, swap are left untyped). */
export interface NodeStats {
  nodeName: string
  startTime?: string
  fs?: FsStats
  runtime?: RuntimeStats
  [other: string]: unknown
}

/** stats/v1alpha1 PodReference. */
export interface PodReference { name: string; namespace: string; uid: string }

/** stats/v1alpha1 PodStats (the fields read here). */
export interface PodStats {
  podRef: PodReference
  startTime?: string
  /** `json:"volume,omitempty"` */
  volume?: VolumeStats[]
  'ephemeral-storage'?: FsStats
  [other: string]: unknown
}

/** stats/v1alpha1 Summary. */
export interface StatsSummary {
  node: NodeStats
  pods: PodStats[]
}
