import type { V1Container, V1Node, V1Pod } from '@kubernetes/client-node'
import type { FsStats, NodeMetrics, PodMetrics, StatsSummary } from '../../../shared/kubernetes/metrics.ts'
import type { Finding, Severity } from '../findings.ts'
import { formatBytes, formatCores, parseQuantity } from './quantity.ts'
import { severityOf, type ClusterThresholds, type Percentages } from './thresholds.ts'

/**
 * Resource use against capacity: filesystems and PVCs from the kubelet's
 * stats summary (check `disk-usage`), cpu and memory from metrics-server
 * against node allocatable and container limits (`resource-usage`), and
 * the sum of pod requests and limits against allocatable (`commitment`).
 * Pure: the caller reads, these judge.
 */

const pct = (v: number) => `${v >= 10 ? Math.round(v) : Number(v.toFixed(1))}%`
const ns = (namespace: string | undefined) => (namespace ? { namespace } : {})

/**
 * How full a filesystem is, in percent of bytes and of inodes. Used bytes
 * are capacity minus available, as the kubelet's eviction signals count
 * them (nodefs.available, imagefs.available: pkg/kubelet/eviction/helpers.go),
 * so space reserved for root counts as used.
 */
export function fsFill(fs: FsStats | undefined): { bytes?: number; inodes?: number } {
  if (!fs) return {}
  const out: { bytes?: number; inodes?: number } = {}
  if (fs.capacityBytes && fs.capacityBytes > 0) {
    const used = fs.availableBytes !== undefined ? fs.capacityBytes - fs.availableBytes : fs.usedBytes
    if (used !== undefined) out.bytes = (100 * used) / fs.capacityBytes
  }
  if (fs.inodes && fs.inodes > 0) {
    const used = fs.inodesFree !== undefined ? fs.inodes - fs.inodesFree : fs.inodesUsed
    if (used !== undefined) out.inodes = (100 * used) / fs.inodes
  }
  return out
}

function fsFindings(fs: FsStats | undefined, object: Finding['object'], what: string, reason: string, t: Percentages): Finding[] {
  const fill = fsFill(fs)
  const out: Finding[] = []
  const bytes = fill.bytes !== undefined ? severityOf(fill.bytes, t) : undefined
  if (bytes && fs?.capacityBytes) {
    const used = fs.capacityBytes - (fs.availableBytes ?? fs.capacityBytes - (fs.usedBytes ?? 0))
    out.push({
      check: 'disk-usage', severity: bytes, object, reason,
      message: `${what} ${pct(fill.bytes!)} full (${formatBytes(used)} of ${formatBytes(fs.capacityBytes)}, ${formatBytes(fs.capacityBytes - used)} free); ${bytes} at ${bytes === 'critical' ? t.critical : t.warning}%`,
    })
  }
  const inodes = fill.inodes !== undefined ? severityOf(fill.inodes, t) : undefined
  if (inodes) {
    out.push({
      check: 'disk-usage', severity: inodes, object, reason: `${reason}:inodes`,
      message: `${what} has used ${pct(fill.inodes!)} of its inodes (${fs?.inodesFree ?? '?'} of ${fs?.inodes ?? '?'} free); ${inodes} at ${inodes === 'critical' ? t.critical : t.warning}%`,
    })
  }
  return out
}

/**
 * One node's stats summary: its root filesystem (nodefs), the container
 * runtime's image filesystem (imagefs; reported once when it is the same
 * filesystem as nodefs), and every PVC mounted there (a claim mounted by
 * several pods is judged once, by the first). `inScope` says which PVC
 * namespaces the report covers; `seen` carries the claims already judged
 * across nodes. `fill` is each one's percent of bytes used, for the weekly
 * digest: `Node/<node>`, `Node/<node>:imagefs`, `<namespace>/<pvc>`.
 */
export function summaryFindings(summary: StatsSummary, t: Percentages, inScope: (namespace: string) => boolean, seen: Set<string>): { findings: Finding[]; volumes: number; fill: Record<string, number> } {
  const node = { kind: 'Node', name: summary.node.nodeName }
  const fill: Record<string, number> = {}
  const measure = (key: string, fs: FsStats | undefined) => { const bytes = fsFill(fs).bytes; if (bytes !== undefined) fill[key] = bytes }
  const findings = fsFindings(summary.node.fs, node, 'the node filesystem (nodefs)', 'NodeFilesystem', t)
  measure(`Node/${summary.node.nodeName}`, summary.node.fs)
  const imageFs = summary.node.runtime?.imageFs
  const sameAsNodeFs = imageFs && summary.node.fs && imageFs.capacityBytes === summary.node.fs.capacityBytes && imageFs.availableBytes === summary.node.fs.availableBytes
  if (!sameAsNodeFs) {
    findings.push(...fsFindings(imageFs, node, 'the image filesystem (imagefs)', 'ImageFilesystem', t))
    measure(`Node/${summary.node.nodeName}:imagefs`, imageFs)
  }
  let volumes = 0
  for (const pod of summary.pods ?? []) {
    for (const v of pod.volume ?? []) {
      if (!v.pvcRef || !inScope(v.pvcRef.namespace)) continue
      const key = `${v.pvcRef.namespace}/${v.pvcRef.name}`
      if (seen.has(key)) continue
      seen.add(key)
      volumes++
      const object = { kind: 'PersistentVolumeClaim', namespace: v.pvcRef.namespace, name: v.pvcRef.name }
      findings.push(...fsFindings(v, object, `the volume (mounted by pod ${pod.podRef.name} on ${summary.node.nodeName})`, 'VolumeFull', t))
      measure(key, v)
    }
  }
  return { findings, volumes, fill }
}

/** A node's cpu and memory in use (metrics-server) of its allocatable. */
export function nodeUsageFindings(node: V1Node, metrics: NodeMetrics, t: Pick<ClusterThresholds, 'nodeCpu' | 'nodeMemory'>): Finding[] {
  const object = { kind: 'Node', name: node.metadata?.name ?? '' }
  const out: Finding[] = []
  for (const [resource, threshold, reason] of [['cpu', t.nodeCpu, 'CPUUsage'], ['memory', t.nodeMemory, 'MemoryUsage']] as const) {
    const allocatable = parseQuantity(node.status?.allocatable?.[resource])
    const used = parseQuantity(metrics.usage[resource])
    if (!allocatable || used === undefined) continue
    const percent = (100 * used) / allocatable
    const severity = severityOf(percent, threshold)
    if (!severity) continue
    const show = resource === 'cpu' ? formatCores : formatBytes
    out.push({
      check: 'resource-usage', severity, object, reason,
      message: `${resource} in use ${pct(percent)} of allocatable (${show(used)} of ${show(allocatable)}, over the ${metrics.window} to ${metrics.timestamp}); ${severity} at ${severity === 'critical' ? threshold.critical : threshold.warning}%`,
      lastSeen: new Date(metrics.timestamp).toISOString(),
    })
  }
  return out
}

/** Memory limits of a pod's containers (regular and init), by container name: what a PodMetrics is judged against. */
export function memoryLimits(pod: V1Pod): Map<string, number> {
  const out = new Map<string, number>()
  for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
    const limit = parseQuantity(c.resources?.limits?.memory)
    if (limit) out.set(c.name, limit)
  }
  return out
}

/** Each container of a PodMetrics whose memory working set is near its limit (the kernel OOM-kills it there). */
export function containerMemoryFindings(metrics: PodMetrics, limits: Map<string, number> | undefined, t: Percentages): Finding[] {
  if (!limits) return []
  const out: Finding[] = []
  for (const c of metrics.containers ?? []) {
    const limit = limits.get(c.name)
    const used = parseQuantity(c.usage.memory)
    if (!limit || used === undefined) continue
    const percent = (100 * used) / limit
    const severity = severityOf(percent, t)
    if (!severity) continue
    out.push({
      check: 'resource-usage', severity, object: { kind: 'Pod', ...ns(metrics.metadata.namespace), name: metrics.metadata.name },
      reason: 'ContainerMemoryNearLimit',
      message: `container ${c.name} uses ${pct(percent)} of its memory limit (${formatBytes(used)} of ${formatBytes(limit)}): it is OOM-killed at the limit`,
      lastSeen: new Date(metrics.timestamp).toISOString(),
    })
  }
  return out
}

export interface Commitment { cpuRequests: number; memoryRequests: number; cpuLimits: number; memoryLimits: number; pods: number }

type Amounts = Pick<Commitment, 'cpuRequests' | 'memoryRequests' | 'cpuLimits' | 'memoryLimits'>

function containerAmounts(c: V1Container): Amounts {
  const q = (v: string | undefined) => parseQuantity(v) ?? 0
  // A container with a limit and no request is given the limit as its request (apiserver defaulting, pkg/apis/core/v1/defaults.go).
  const cpuLimits = q(c.resources?.limits?.cpu)
  const memoryLimits = q(c.resources?.limits?.memory)
  return {
    cpuRequests: c.resources?.requests?.cpu !== undefined ? q(c.resources.requests.cpu) : cpuLimits,
    memoryRequests: c.resources?.requests?.memory !== undefined ? q(c.resources.requests.memory) : memoryLimits,
    cpuLimits, memoryLimits,
  }
}

const KEYS = ['cpuRequests', 'memoryRequests', 'cpuLimits', 'memoryLimits'] as const

/**
 * What a pod takes from its node, as the scheduler counts it
 * (kubernetes/kubernetes staging/src/k8s.io/component-helpers/resource/helpers.go,
 * PodRequests/PodLimits): the sum of its containers and of its sidecars
 * (init containers with restartPolicy Always), at least the largest
 * plain init container, plus the pod overhead. Limits are summed as
 * `kubectl describe node` does: a container without a limit adds none.
 */
export function podAmounts(pod: V1Pod): Amounts {
  const sum: Amounts = { cpuRequests: 0, memoryRequests: 0, cpuLimits: 0, memoryLimits: 0 }
  for (const c of pod.spec?.containers ?? []) { const a = containerAmounts(c); for (const k of KEYS) sum[k] += a[k] }
  const sidecars: Amounts = { cpuRequests: 0, memoryRequests: 0, cpuLimits: 0, memoryLimits: 0 }
  for (const c of pod.spec?.initContainers ?? []) {
    const a = containerAmounts(c)
    if (c.restartPolicy === 'Always') { for (const k of KEYS) { sidecars[k] += a[k]; sum[k] += a[k] } continue }
    // A plain init container runs alone, alongside the sidecars started before it.
    for (const k of KEYS) sum[k] = Math.max(sum[k], a[k] + sidecars[k])
  }
  const overhead = pod.spec?.overhead ?? {}
  sum.cpuRequests += parseQuantity(overhead.cpu) ?? 0
  sum.memoryRequests += parseQuantity(overhead.memory) ?? 0
  if (sum.cpuLimits > 0) sum.cpuLimits += parseQuantity(overhead.cpu) ?? 0
  if (sum.memoryLimits > 0) sum.memoryLimits += parseQuantity(overhead.memory) ?? 0
  return sum
}

/** Adds a pod to its node's commitment: scheduled pods that have not terminated, as the scheduler counts them. */
export function addToCommitment(byNode: Map<string, Commitment>, pod: V1Pod): void {
  const node = pod.spec?.nodeName
  const phase = pod.status?.phase
  if (!node || phase === 'Succeeded' || phase === 'Failed') return
  const a = podAmounts(pod)
  const c = byNode.get(node) ?? { cpuRequests: 0, memoryRequests: 0, cpuLimits: 0, memoryLimits: 0, pods: 0 }
  for (const k of KEYS) c[k] += a[k]
  c.pods++
  byNode.set(node, c)
}

/**
 * A node's commitment of its allocatable: requests above it are critical
 * (the pods were placed by something other than the scheduler, or the
 * node's allocatable shrank under them), requests from `requests.warning`%
 * a warning (no room left to take another node's pods), limits above
 * `limits.<resource>`% a warning (overcommitted: under load, memory means
 * OOM kills, cpu throttling).
 */
export function commitmentFindings(node: V1Node, c: Commitment | undefined, t: Pick<ClusterThresholds, 'requests' | 'limits'>): Finding[] {
  if (!c) return []
  const object = { kind: 'Node', name: node.metadata?.name ?? '' }
  const out: Finding[] = []
  for (const resource of ['cpu', 'memory'] as const) {
    const allocatable = parseQuantity(node.status?.allocatable?.[resource])
    if (!allocatable) continue
    const show = resource === 'cpu' ? formatCores : formatBytes
    const requested = resource === 'cpu' ? c.cpuRequests : c.memoryRequests
    const limited = resource === 'cpu' ? c.cpuLimits : c.memoryLimits
    const requests = (100 * requested) / allocatable
    const severity: Severity | undefined = requests > 100 ? 'critical' : requests >= t.requests.warning ? 'warning' : undefined
    if (severity) {
      out.push({
        check: 'commitment', severity, object, reason: `RequestsCommitted:${resource}`,
        message: `the ${c.pods} pods on the node request ${pct(requests)} of its allocatable ${resource} (${show(requested)} of ${show(allocatable)})${severity === 'critical' ? ': more than the node has' : `; warning at ${t.requests.warning}%`}`,
      })
    }
    const limits = (100 * limited) / allocatable
    if (limits > t.limits[resource]) {
      out.push({
        check: 'commitment', severity: 'warning', object, reason: `LimitsOvercommitted:${resource}`,
        message: `the pods' ${resource} limits add up to ${pct(limits)} of allocatable (${show(limited)} of ${show(allocatable)}); reported above ${t.limits[resource]}%${resource === 'memory' ? ': under load the kernel OOM-kills' : ': under load they are throttled'}`,
      })
    }
  }
  return out
}
