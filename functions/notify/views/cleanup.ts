import { clip, plural } from '../liquid.ts'
import type { Views } from './index.ts'
import { EventTypes } from '../../../shared/events/catalogue.ts'

/** prune-snapshots and clean-up-resources: what was deleted, kept, failed or deferred. */

interface Listed { readonly kind?: string; readonly namespace?: string; readonly name?: string; readonly reasons?: readonly string[] }

/** `namespace/name`, or the name alone. */
function nsName(o: Listed): string {
  return o.name ? (o.namespace ? `${o.namespace}/${o.name}` : o.name) : '?'
}

/** `production/api-7d9 (its last reason)`. */
function withReason(o: Listed): string {
  const last = o.reasons?.at(-1)
  return `${nsName(o)}${last ? ` (${clip(last, 140)})` : ''}`
}

/** `2 Jobs, 1 ReplicaSet`. */
function kinds(items: readonly Listed[]): string {
  const n = new Map<string, number>()
  for (const i of items) if (i.kind) n.set(i.kind, (n.get(i.kind) ?? 0) + 1)
  return [...n].map(([k, c]) => plural(c, k === 'PersistentVolumeClaim' ? 'PVC' : k)).join(', ')
}

function namespaces(items: readonly Listed[]): string[] {
  return [...new Set(items.map((o) => o.namespace).filter((n): n is string => n !== undefined))].sort()
}

export const cleanupViews: Views = {
  [EventTypes.SnapshotsPruned]: (d) => {
    const policies = d.policies ?? []
    const sum = (field: 'listed' | 'kept' | 'deleted' | 'failed' | 'deferred') => policies.reduce((s, p) => s + (p[field] ?? 0), 0)
    return {
      rows: policies.map((p) => ({ policy: p.policy ?? '?', kind: p.kind, deleted: p.deleted ?? 0, listed: p.listed ?? 0, failed: p.failed ?? 0, deferred: p.deferred ?? 0 })),
      names: policies.map((p) => p.policy ?? '?'),
      failedObjects: policies.flatMap((p) => p.objects ?? []).filter((o) => o.action === 'failed').map(withReason),
      listedCount: sum('listed'), keptCount: sum('kept'), deletedCount: sum('deleted'), failedCount: sum('failed'), deferredCount: sum('deferred'),
    }
  },
  [EventTypes.ResourcesCleaned]: (d) => {
    const objects = d.objects ?? []
    const of = (action: string) => objects.filter((o) => o.action === action)
    const count = (action: string) => d.counts?.[action] ?? of(action).length
    const removed = of(d.dryRun === true ? 'would-delete' : 'deleted')
    return {
      removed: removed.map(nsName),
      removedKinds: kinds(removed),
      removedCount: count(d.dryRun === true ? 'would-delete' : 'deleted'),
      failedObjects: of('failed').map(withReason),
      reportedObjects: of('reported').map(nsName),
      keptCount: count('keep'), deferredCount: count('deferred'), failedCount: count('failed'), reportedCount: count('reported'),
      namespaces: namespaces(objects),
    }
  },
}
