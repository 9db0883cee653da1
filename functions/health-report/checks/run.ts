import type { V1Node, V1Pod } from '@kubernetes/client-node'
import type { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '../../../shared/kubernetes/api.ts'
import { CaretakerError } from '../../../shared/errors.ts'
import { kubernetesError } from '../../../shared/kubernetes/client.ts'
import type { NodeMetrics, PodMetrics, StatsSummary } from '../../../shared/kubernetes/metrics.ts'
import type { HealthCheck } from '../config.ts'
import type { Finding } from '../findings.ts'
import { pages } from '../listing.ts'
import { listInNamespaces } from '../../../shared/kubernetes/listing.ts'
import { cordonedFinding, nodePressureFindings } from './nodes-pressure.ts'
import type { ClusterThresholds } from './thresholds.ts'
import { addToCommitment, commitmentFindings, containerMemoryFindings, memoryLimits, nodeUsageFindings, summaryFindings, type Commitment } from './usage.ts'
import { deploymentFinding, notReadyPodFinding, restartFindings, restartsInWindow, statefulSetFinding } from './workloads.ts'
import type { DayFigures } from './digest.ts'

/**
 * The cluster checks' reads: what each lists (page by page, in the
 * configured namespaces), handed to the pure judgements of this folder.
 */

export const CLUSTER_CHECKS = ['node-pressure', 'cordoned', 'disk-usage', 'resource-usage', 'commitment', 'workloads', 'pods-not-ready', 'restarts'] as const satisfies readonly HealthCheck[]
export type ClusterCheck = (typeof CLUSTER_CHECKS)[number]

export interface ClusterCheckContext {
  core: CoreV1Api
  apps: AppsV1Api
  customs: CustomObjectsApi
  /** The configured namespaces, or `[undefined]` for the whole cluster. */
  scopes: Array<string | undefined>
  /** For lists over the configured namespaces: cluster-wide where the RBAC allows it (shared/kubernetes/listing.ts). */
  kubeConfig: KubeConfig
  pageSize: number
  now: Date
  graceMs: number
  restartWindowMs: number
  thresholds: ClusterThresholds
  add: (f: Finding | undefined) => void
  skip: (reason: string) => void
  /** Where `restarts` and `disk-usage` leave their raw figures for the day's record. */
  figures?: DayFigures
}

interface Paging { limit: number; _continue?: string }
const where = (namespace: string | undefined) => (namespace ? ` in ${namespace}` : '')
const METRICS = { group: 'metrics.k8s.io', version: 'v1beta1' }
const NO_METRICS = 'metrics-server is not installed: the cluster serves no metrics.k8s.io API'

const isReady = (node: V1Node) => node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
const notFound = (err: unknown) => err instanceof CaretakerError && err.details?.code === 404

async function* nodes(c: ClusterCheckContext): AsyncGenerator<V1Node> {
  yield* pages('Nodes', c.pageSize, (p) => c.core.listNode(p))
}

/** The configured namespaces, or undefined for the whole cluster. */
const namespacesOf = (c: ClusterCheckContext) => (c.scopes.includes(undefined) ? undefined : c.scopes.filter((n) => n !== undefined))

async function* pods(c: ClusterCheckContext): AsyncGenerator<V1Pod> {
  yield* listInNamespaces({
    kubeConfig: c.kubeConfig, what: 'Pods', resource: { group: '', resource: 'pods' }, namespaces: namespacesOf(c), pageSize: c.pageSize,
    namespaced: (namespace, p) => c.core.listNamespacedPod({ namespace, ...p }), clusterWide: (p) => c.core.listPodForAllNamespaces(p),
  })
}

/**
 * The kubelet's stats summary through the API server's node proxy. A
 * kubelet that does not answer is a finding on a Ready node (the proxy
 * answers 5xx); a refusal (401, 403) is an error, as RBAC is the
 * deployment's to fix.
 */
async function statsSummary(c: ClusterCheckContext, node: string): Promise<StatsSummary | { error: string; code?: number }> {
  try {
    const body: unknown = await c.core.connectGetNodeProxyWithPath({ name: node, path: 'stats/summary' })
    // The generated client types the proxied body as a string; a JSON reply arrives parsed.
    return (typeof body === 'string' ? JSON.parse(body) : body) as StatsSummary
  } catch (err) {
    const e = kubernetesError(err, `read the stats summary of node ${node}`)
    const code = e.details?.code as number | undefined
    if (code === 401 || code === 403) throw e
    return { error: e.message, ...(code ? { code } : {}) }
  }
}

/** Runs one cluster check; returns how many objects it judged. */
export async function runClusterCheck(check: ClusterCheck, c: ClusterCheckContext): Promise<number> {
  let seen = 0
  const t = c.thresholds
  switch (check) {
    case 'node-pressure':
      for await (const node of nodes(c)) { seen++; nodePressureFindings(node).forEach(c.add) }
      return seen
    case 'cordoned':
      for await (const node of nodes(c)) { seen++; c.add(cordonedFinding(node)) }
      return seen
    case 'disk-usage': {
      const inScope = (namespace: string) => c.scopes.includes(undefined) || c.scopes.includes(namespace)
      const judged = new Set<string>()
      for await (const node of nodes(c)) {
        // A node not Ready is the nodes check's finding; its kubelet is not asked (the proxy would wait for it).
        if (!isReady(node)) continue
        const name = node.metadata?.name ?? ''
        const summary = await statsSummary(c, name)
        seen++
        if ('error' in summary) {
          if (summary.code !== 404) c.add({ check, severity: 'warning', object: { kind: 'Node', name }, reason: 'StatsUnavailable', message: summary.error })
          continue
        }
        const { findings, volumes, fill } = summaryFindings(summary, t.disk, inScope, judged)
        seen += volumes
        findings.forEach(c.add)
        if (c.figures) c.figures.fill = Object.assign(c.figures.fill ?? {}, fill)
      }
      return seen
    }
    case 'resource-usage': {
      const byName = new Map<string, V1Node>()
      for await (const node of nodes(c)) if (node.metadata?.name) byName.set(node.metadata.name, node)
      try {
        for await (const m of pages<NodeMetrics>('NodeMetrics', c.pageSize, (p) => c.customs.listClusterCustomObject({ ...METRICS, plural: 'nodes', ...p }))) {
          const node = byName.get(m.metadata.name)
          if (!node) continue
          seen++
          nodeUsageFindings(node, m, t).forEach(c.add)
        }
        for (const namespace of c.scopes) {
          const limits = new Map<string, Map<string, number>>()
          const list = namespace ? (p: Paging) => c.core.listNamespacedPod({ namespace, ...p }) : (p: Paging) => c.core.listPodForAllNamespaces(p)
          for await (const pod of pages(`Pods${where(namespace)}`, c.pageSize, list)) {
            const l = memoryLimits(pod)
            if (l.size > 0) limits.set(`${pod.metadata?.namespace}/${pod.metadata?.name}`, l)
          }
          const target = { ...METRICS, plural: 'pods' }
          const listMetrics = namespace ? (p: Paging) => c.customs.listNamespacedCustomObject({ ...target, namespace, ...p }) : (p: Paging) => c.customs.listClusterCustomObject({ ...target, ...p })
          for await (const m of pages<PodMetrics>(`PodMetrics${where(namespace)}`, c.pageSize, listMetrics)) {
            seen++
            containerMemoryFindings(m, limits.get(`${m.metadata.namespace}/${m.metadata.name}`), t.containerMemory).forEach(c.add)
          }
        }
      } catch (err) {
        if (!notFound(err)) throw err
        c.skip(NO_METRICS)
      }
      return seen
    }
    case 'commitment': {
      // In namespaces mode only the pods of those namespaces are counted: the RBAC reads no others.
      const byNode = new Map<string, Commitment>()
      for await (const pod of pods(c)) addToCommitment(byNode, pod)
      for await (const node of nodes(c)) { seen++; commitmentFindings(node, byNode.get(node.metadata?.name ?? ''), t).forEach(c.add) }
      return seen
    }
    case 'workloads':
      {
        const listing = { kubeConfig: c.kubeConfig, namespaces: namespacesOf(c), pageSize: c.pageSize }
        const deployments = listInNamespaces({ ...listing, what: 'Deployments', resource: { group: 'apps', resource: 'deployments' }, namespaced: (namespace, p) => c.apps.listNamespacedDeployment({ namespace, ...p }), clusterWide: (p) => c.apps.listDeploymentForAllNamespaces(p) })
        for await (const d of deployments) { seen++; c.add(deploymentFinding(d, c.now, c.graceMs)) }
        const statefulSets = listInNamespaces({ ...listing, what: 'StatefulSets', resource: { group: 'apps', resource: 'statefulsets' }, namespaced: (namespace, p) => c.apps.listNamespacedStatefulSet({ namespace, ...p }), clusterWide: (p) => c.apps.listStatefulSetForAllNamespaces(p) })
        for await (const s of statefulSets) { seen++; c.add(statefulSetFinding(s, c.now, c.graceMs)) }
      }
      return seen
    case 'pods-not-ready':
      for await (const pod of pods(c)) { seen++; c.add(notReadyPodFinding(pod, c.now, c.graceMs)) }
      return seen
    case 'restarts': {
      const figure = { count: 0, containers: 0 }
      for await (const pod of pods(c)) {
        seen++
        restartFindings(pod, c.now, c.restartWindowMs, t.restarts).forEach(c.add)
        const r = restartsInWindow(pod, c.now, c.restartWindowMs)
        figure.count += r.count
        figure.containers += r.containers
      }
      if (c.figures) c.figures.restarts = figure
      return seen
    }
  }
}
