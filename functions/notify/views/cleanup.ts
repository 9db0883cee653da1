import { clip, facts, nsName, num, plural, rec, recs, sentence, some, str, strs, tally, written, type Data, type Template } from './read.ts'

// --- snapshots and resources ----------------------------------------------

/** `2 Jobs, 1 ReplicaSet`. */
export function kinds(items: readonly Data[]): string {
  return [...tally(items, 'kind')].map(([k, n]) => plural(n, k === 'PersistentVolumeClaim' ? 'PVC' : k)).join(', ')
}

/** `production/api-7d9 (reason)`. */
export function objectWithReason(o: Data): string {
  const reasons = strs(o.reasons)
  return `${nsName(o) ?? '?'}${reasons.length > 0 ? ` (${clip(reasons.at(-1)!, 140)})` : ''}`
}

const cleanupTemplates: Record<string, Template> = {
  'dev.caretaker.snapshots.pruned': (_input, d) => {
    const policies = recs(d.policies)
    const dryRun = d.dryRun === true
    const sum = (field: string) => policies.reduce((s, p) => s + (num(p[field]) ?? 0), 0)
    const objects = policies.flatMap((p) => recs(p.objects))
    const failedObjects = objects.filter((o) => o.action === 'failed')
    const deleted = sum('deleted')
    const kept = sum('kept')
    const failed = sum('failed')
    const deferred = sum('deferred')
    const names = policies.map((p) => str(p.policy) ?? '?')
    const row = (p: Data) => `${str(p.policy) ?? '?'}${str(p.kind) ? ` (${str(p.kind)!})` : ''}: ${num(p.deleted) ?? 0} ${dryRun ? 'to delete' : 'deleted'} of ${num(p.listed) ?? 0}${(num(p.failed) ?? 0) > 0 ? `, ${num(p.failed)!} failed` : ''}${(num(p.deferred) ?? 0) > 0 ? `, ${num(p.deferred)!} deferred` : ''}`
    return {
      severity: failed > 0 ? 'warning' : 'info',
      title: policies.length === 0 ? 'Snapshots: no retention policy applied'
        : `Snapshots ${dryRun ? 'prune planned' : 'pruned'}: ${deleted} ${dryRun ? 'would be deleted' : 'deleted'}, ${kept} kept${failed > 0 ? `, ${failed} FAILED` : ''}${deferred > 0 ? `, ${deferred} deferred` : ''}`,
      what: policies.length > 0
        ? `${sentence(some(policies.map(row), 3, '; '))}${failedObjects.length > 0 ? ` Failed: ${some(failedObjects.map(objectWithReason), 2, '; ')}.` : ''}`
        : 'No retention policy was applied.',
      where: policies.length > 0 ? `retention ${policies.length === 1 ? 'policy' : 'policies'} ${some(names, 4)}` : 'the configured retention policies',
      action: failed > 0
        ? `Look at the failed deletions (a finalizer, the snapshot still in use, or RBAC); they are tried again at the next run.${d.capReached === true ? ' The per-run cap deferred the rest to the next run.' : ''}`
        : dryRun ? (deleted > 0 ? 'Nothing was deleted. Check the would-delete list in the event; when it is right, turn dry-run off for prune-snapshots.' : 'Nothing was deleted, and nothing would be.')
          : d.capReached === true ? `The per-run cap deferred ${plural(deferred, 'deletion')} to the next run; if this repeats, raise maxDeletionsPerRun.`
            : 'Nothing to do.',
      facts: facts([
        ['Policies', names.length > 0 ? some(names, 4) : undefined],
        ['Listed', sum('listed')],
        [dryRun ? 'Would delete' : 'Deleted', deleted],
        ['Kept', kept],
        ['Failed', failed > 0 ? failed : undefined],
        ['Deferred', deferred > 0 ? deferred : undefined],
      ]),
    }
  },
  'dev.caretaker.resources.cleaned': (_input, d) => {
    const objects = recs(d.objects)
    const dryRun = d.dryRun === true
    const counts = rec(d.counts)
    const of = (action: string) => objects.filter((o) => o.action === action)
    const count = (action: string) => num(counts[action]) ?? of(action).length
    const removed = of(dryRun ? 'would-delete' : 'deleted')
    const removedCount = count(dryRun ? 'would-delete' : 'deleted')
    const reported = of('reported')
    const failed = of('failed')
    const kept = count('keep')
    const deferred = count('deferred')
    const namespaces = [...new Set(objects.map((o) => str(o.namespace)).filter((n): n is string => n !== undefined))].sort()
    const parts = [
      removedCount > 0 ? `${dryRun ? 'Would delete' : 'Deleted'} ${kinds(removed) || removedCount}${removed.length > 0 ? `: ${some(removed.map((o) => nsName(o) ?? '?'), 3)}` : ''}.` : `Nothing ${dryRun ? 'would be' : 'was'} deleted.`,
      failed.length > 0 ? `Failed: ${some(failed.map(objectWithReason), 2, '; ')}.` : undefined,
      count('reported') > 0 ? `Unused PVCs, not deleted: ${reported.length > 0 ? some(reported.map((o) => nsName(o) ?? '?'), 3) : count('reported')}.` : undefined,
      kept > 0 ? `Kept ${kept}.` : undefined,
    ].filter((p): p is string => p !== undefined)
    return {
      severity: failed.length > 0 || count('failed') > 0 ? 'warning' : 'info',
      title: `Clean-up${dryRun ? ' planned' : ''}: ${removedCount > 0 ? `${removedCount} ${dryRun ? 'to delete' : 'deleted'}${removed.length > 0 ? ` (${kinds(removed)})` : ''}` : 'nothing to delete'}${count('failed') > 0 ? `, ${count('failed')} FAILED` : ''}${count('reported') > 0 ? `, ${plural(count('reported'), 'unused PVC')} reported` : ''}`,
      what: parts.join(' '),
      where: namespaces.length > 0 ? `${namespaces.length === 1 ? 'namespace' : 'namespaces'} ${some(namespaces, 5)}` : 'the configured namespaces',
      action: count('failed') > 0
        ? 'Look at the failed deletions (RBAC, a finalizer); they are tried again at the next run.'
        : count('reported') > 0
          ? 'Decide on the unused PVCs: delete them by hand if their data is not needed (`kubectl delete pvc -n <namespace> <name>`), or protect them with the protection label.'
          : dryRun && removedCount > 0 ? 'Nothing was deleted. Check the list in the event; when it is right, turn dry-run off for clean-up-resources.'
            : d.capReached === true ? `The per-run cap deferred ${plural(deferred, 'deletion')} to the next run; if this repeats, raise maxDeletionsPerRun.`
              : 'Nothing to do.',
      facts: facts([
        [dryRun ? 'Would delete' : 'Deleted', removedCount],
        ['Kept', kept],
        ['Unused PVCs', count('reported') > 0 ? count('reported') : undefined],
        ['Failed', count('failed') > 0 ? count('failed') : undefined],
        ['Deferred', deferred > 0 ? deferred : undefined],
        ['Namespaces', some(namespaces, 5)],
      ]),
    }
  },
}

export const cleanupViews = written(cleanupTemplates)
