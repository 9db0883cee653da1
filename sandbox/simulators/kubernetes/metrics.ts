// metrics-server and the kubelet's stats summary, as the API server serves
// them, with data a test seeds.
//
// metrics.k8s.io/v1beta1 (kubernetes-sigs/metrics-server pkg/api: the
// aggregated API it registers, node.go, pod.go; types of kubernetes/metrics
// staging/src/k8s.io/metrics/pkg/apis/metrics/v1beta1/types.go): discovery
// lists `nodes` (NodeMetrics, cluster-scoped) and `pods` (PodMetrics,
// namespaced), verbs get and list only; anything else is 405. Like
// metrics-server, a list joins its informer's Nodes or Pods (with the
// request's labelSelector) to the metrics it has: an object without metrics
// is left out of a list and NotFound on a get; metrics of an object the
// cluster does not have are never served. Lists are not paged (metrics-server
// ignores limit). Each item's metadata carries the object's name, namespace
// and labels, and the time of the request as creationTimestamp.
//
// The kubelet's stats summary through the API server's node proxy, `GET
// /api/v1/nodes/{node}/proxy/stats/summary` (RBAC: get nodes/proxy; the
// Summary of kubernetes/kubernetes staging/src/k8s.io/kubelet/pkg/apis/stats/
// v1alpha1/types.go). A node not in the store is 404; a node whose Ready
// condition is not True, or one a test made unreachable, answers as the
// proxy does when it cannot dial the kubelet (503); other kubelet paths are
// the kubelet's plain-text 404. A Ready node without a seeded summary has a
// quiet default one (its filesystems a third full, no pods).
import type { NodeMetrics, PodMetrics, ResourceUsage, StatsSummary } from '../../../shared/kubernetes/metrics.ts'
import { ApiError } from './status.ts'

type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> }

export const METRICS_GROUP_VERSION = 'metrics.k8s.io/v1beta1'

export const metricsResourceList = () => ({
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion: METRICS_GROUP_VERSION,
  resources: [
    { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
    { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
  ],
})

export interface MetricsStore {
  /** Objects of the store: Nodes (namespace '') or Pods, with a labelSelector. */
  list(kind: 'Node' | 'Pod', namespace: string, labelSelector: string | null): Obj[]
  get(kind: 'Node' | 'Pod', namespace: string, name: string): Obj | undefined
}

type Check = (attrs: { verb: string, group: string, resource: string, subresource: string, namespace: string, name: string }) => void
export interface Reply { status: number, body: unknown, text?: boolean }

const GiB = 2 ** 30
const stamp = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z')

export class MetricsStandIn {
  readonly #nodes = new Map<string, { usage: ResourceUsage, window: string, timestamp?: string }>()
  readonly #pods = new Map<string, { containers: Array<{ name: string, usage: ResourceUsage }>, window: string, timestamp?: string }>()
  readonly #summaries = new Map<string, StatsSummary | 'unreachable'>()
  readonly #store: MetricsStore

  constructor(store: MetricsStore) {
    this.#store = store
  }

  /** metrics-server's latest sample of a node: `{ cpu: '250m', memory: '3Gi' }`. */
  setNodeMetrics(node: string, usage: ResourceUsage, opts: { window?: string, timestamp?: string } = {}): void {
    this.#nodes.set(node, { usage: { ...usage }, window: opts.window ?? '20.05s', ...(opts.timestamp ? { timestamp: opts.timestamp } : {}) })
  }

  /** metrics-server's latest sample of a pod, by container. */
  setPodMetrics(namespace: string, pod: string, containers: Array<{ name: string, usage: ResourceUsage }>, opts: { window?: string, timestamp?: string } = {}): void {
    this.#pods.set(`${namespace}/${pod}`, { containers: structuredClone(containers), window: opts.window ?? '20.05s', ...(opts.timestamp ? { timestamp: opts.timestamp } : {}) })
  }

  /** What a node's kubelet answers on /stats/summary; `'unreachable'`: the proxy cannot reach it. */
  setStatsSummary(node: string, summary: StatsSummary | 'unreachable'): void {
    this.#summaries.set(node, summary === 'unreachable' ? summary : structuredClone(summary))
  }

  clear(): void {
    this.#nodes.clear(); this.#pods.clear(); this.#summaries.clear()
  }

  /** Serves `/apis/metrics.k8s.io/v1beta1/...` resource paths; undefined for other paths. */
  serveMetrics(path: string, method: string, q: URLSearchParams, check: Check): Reply | undefined {
    const m = /^\/apis\/metrics\.k8s\.io\/v1beta1(?:\/namespaces\/([^/]+))?\/(nodes|pods)(?:\/([^/]+))?$/.exec(path)
    if (!m) return undefined
    const [, namespace = '', plural = '', name = ''] = m
    if (plural === 'nodes' && namespace) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    const watching = q.get('watch') === '1' || q.get('watch') === 'true'
    const verb = method !== 'GET' ? method.toLowerCase() : name ? 'get' : watching ? 'watch' : 'list'
    check({ verb, group: 'metrics.k8s.io', resource: plural, subresource: '', namespace, name })
    if (verb !== 'get' && verb !== 'list') throw new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
    const now = new Date()
    if (plural === 'nodes') {
      const toItem = (node: Obj): NodeMetrics | undefined => {
        const nodeName = String(node.metadata?.name ?? '')
        const sample = this.#nodes.get(nodeName)
        if (!sample) return undefined
        const labels = node.metadata?.labels as Record<string, string> | undefined
        return { metadata: { name: nodeName, creationTimestamp: stamp(now), ...(labels ? { labels } : {}) }, timestamp: sample.timestamp ?? stamp(now), window: sample.window, usage: { ...sample.usage } }
      }
      if (name) {
        const node = this.#store.get('Node', '', name)
        const item = node && toItem(node)
        if (!item) throw new ApiError(404, 'NotFound', `nodemetrics.metrics.k8s.io "${name}" not found`, { name, group: 'metrics.k8s.io', kind: 'nodemetrics' })
        return { status: 200, body: { kind: 'NodeMetrics', apiVersion: METRICS_GROUP_VERSION, ...item } }
      }
      const items = this.#store.list('Node', '', q.get('labelSelector')).map(toItem).filter((i) => i !== undefined)
      return { status: 200, body: { kind: 'NodeMetricsList', apiVersion: METRICS_GROUP_VERSION, metadata: {}, items } }
    }
    const toItem = (pod: Obj): PodMetrics | undefined => {
      const podName = String(pod.metadata?.name ?? '')
      const podNamespace = String(pod.metadata?.namespace ?? '')
      const sample = this.#pods.get(`${podNamespace}/${podName}`)
      if (!sample) return undefined
      const labels = pod.metadata?.labels as Record<string, string> | undefined
      return { metadata: { name: podName, namespace: podNamespace, creationTimestamp: stamp(now), ...(labels ? { labels } : {}) }, timestamp: sample.timestamp ?? stamp(now), window: sample.window, containers: structuredClone(sample.containers) }
    }
    if (name) {
      const pod = this.#store.get('Pod', namespace, name)
      const item = pod && toItem(pod)
      if (!item) throw new ApiError(404, 'NotFound', `podmetrics.metrics.k8s.io "${name}" not found`, { name, group: 'metrics.k8s.io', kind: 'podmetrics' })
      return { status: 200, body: { kind: 'PodMetrics', apiVersion: METRICS_GROUP_VERSION, ...item } }
    }
    const items = this.#store.list('Pod', namespace, q.get('labelSelector')).map(toItem).filter((i) => i !== undefined)
    return { status: 200, body: { kind: 'PodMetricsList', apiVersion: METRICS_GROUP_VERSION, metadata: {}, items } }
  }

  /** Serves `/api/v1/nodes/{node}/proxy[/...]`; undefined for other paths. */
  serveNodeProxy(path: string, method: string, check: Check): Reply | undefined {
    const m = /^\/api\/v1\/nodes\/([^/]+)\/proxy(\/.*)?$/.exec(path)
    if (!m) return undefined
    const name = decodeURIComponent(m[1] ?? '')
    // The API server decodes the path before proxying (Go's URL.Path), so stats%2Fsummary is stats/summary.
    const kubeletPath = decodeURIComponent(m[2] ?? '/')
    // A connect subresource: the verb is the HTTP method's (GET get, POST create, PUT update, DELETE delete).
    const verb = ({ GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[method] ?? method.toLowerCase()
    check({ verb, group: '', resource: 'nodes', subresource: 'proxy', namespace: '', name })
    const node = this.#store.get('Node', '', name)
    if (!node) throw new ApiError(404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' })
    const ready = ((node.status as Record<string, unknown> | undefined)?.conditions as Array<{ type?: string, status?: string }> | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True') === true
    const seeded = this.#summaries.get(name)
    const address = ((node.status as Record<string, unknown> | undefined)?.addresses as Array<{ type?: string, address?: string }> | undefined)?.find((a) => a.type === 'InternalIP')?.address ?? name
    if (!ready || seeded === 'unreachable') {
      throw new ApiError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${address}:10250: connect: connection refused`)
    }
    if (kubeletPath !== '/stats/summary' || method !== 'GET') return { status: 404, body: '404 page not found\n', text: true }
    return { status: 200, body: seeded ?? defaultSummary(name) }
  }
}

/** A quiet node: filesystems a third full, the image filesystem the root one, no pods. */
export function defaultSummary(node: string): StatsSummary {
  const time = stamp(new Date())
  const fs = { time, availableBytes: 64 * GiB, capacityBytes: 96 * GiB, usedBytes: 32 * GiB, inodesFree: 5_800_000, inodes: 6_291_456, inodesUsed: 491_456 }
  return {
    node: { nodeName: node, startTime: stamp(new Date(Date.now() - 30 * 86_400_000)), fs, runtime: { imageFs: { ...fs } } },
    pods: [],
  }
}
