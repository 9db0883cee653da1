import type { V1Node } from '@kubernetes/client-node'
import type { Finding } from '../findings.ts'

/**
 * Node conditions beyond Ready, and cordoned nodes. The kubelet sets
 * MemoryPressure, DiskPressure and PIDPressure to True when an eviction
 * threshold is crossed (kubernetes/kubernetes pkg/kubelet/eviction/
 * eviction_manager.go, pkg/kubelet/nodestatus/setters.go): it is then
 * evicting pods and the node is tainted against new ones, so each is
 * critical. A cordoned node (`kubectl cordon`: spec.unschedulable) takes no
 * new pods: a warning, as it is often a maintenance someone forgot to end.
 */

export const PRESSURE_CONDITIONS = ['MemoryPressure', 'DiskPressure', 'PIDPressure'] as const

const iso = (value: unknown): string | undefined => {
  if (value === undefined || value === null) return undefined
  const d = new Date(value as string | Date)
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString()
}

/** A critical finding per pressure condition that is True (a node whose kubelet stopped reporting has them Unknown: the nodes check reports that). */
export function nodePressureFindings(node: V1Node): Finding[] {
  const name = node.metadata?.name ?? ''
  return (node.status?.conditions ?? [])
    .filter((c) => (PRESSURE_CONDITIONS as readonly string[]).includes(c.type) && c.status === 'True')
    .map((c) => {
      const since = iso(c.lastTransitionTime)
      return {
        check: 'node-pressure', severity: 'critical', object: { kind: 'Node', name },
        reason: c.type,
        message: `${c.type} is True${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}; the kubelet is evicting pods`,
        ...(since ? { since } : {}),
      } satisfies Finding
    })
}

/** A cordoned node, since the unschedulable taint was added when that is known. */
export function cordonedFinding(node: V1Node): Finding | undefined {
  if (node.spec?.unschedulable !== true) return undefined
  // The node lifecycle controller mirrors spec.unschedulable as this taint (pkg/controller/nodelifecycle, TaintNodeUnschedulable).
  const since = iso(node.spec.taints?.find((t) => t.key === 'node.kubernetes.io/unschedulable')?.timeAdded)
  return {
    check: 'cordoned', severity: 'warning', object: { kind: 'Node', name: node.metadata?.name ?? '' },
    reason: 'Cordoned',
    message: 'spec.unschedulable is true: no new pods are scheduled here (kubectl uncordon when the maintenance is done)',
    ...(since ? { since } : {}),
  }
}
