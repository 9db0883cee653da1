import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { Counter, Gauge } from 'prom-client'
import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { PacedDeleter } from '../../shared/kubernetes/deleter.ts'
import { listInNamespaces } from '../../shared/kubernetes/listing.ts'
import { OutcomeList } from '../../shared/events/outcome-list.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { checkConfig, configSchema, type PruneConfig, type PrunePolicy, type SnapshotKind } from './config.ts'
import { plan, type SnapshotFacts } from './retention.ts'

/**
 * prune-snapshots: retention over CSI VolumeSnapshots and Longhorn
 * Snapshots and Backups, safe at scale. Lists with pagination, plans per
 * volume (retention.ts), deletes at a bounded rate with retries, stops at
 * the per-run cap, and replies with every object kept or deleted and why.
 */

const PING = 'dev.knative.sources.ping'
const REQUEST = 'dev.caretaker.snapshots.prune.requested'
const PRUNED = 'dev.caretaker.snapshots.pruned'

const RESOURCE: Record<SnapshotKind, { group: string; version: string; plural: string }> = {
  VolumeSnapshot: { group: 'snapshot.storage.k8s.io', version: 'v1', plural: 'volumesnapshots' },
  LonghornSnapshot: { group: 'longhorn.io', version: 'v1beta2', plural: 'snapshots' },
  LonghornBackup: { group: 'longhorn.io', version: 'v1beta2', plural: 'backups' },
}

interface Obj {
  metadata?: { name?: string; namespace?: string; creationTimestamp?: string | Date; labels?: Record<string, string> }
  spec?: { source?: { persistentVolumeClaimName?: string; volumeSnapshotContentName?: string }; volume?: string }
  status?: { readyToUse?: boolean; creationTime?: string; state?: string; volumeName?: string; backupCreatedAt?: string; snapshotCreatedAt?: string }
}

interface Candidate extends SnapshotFacts { namespace: string; name: string; volume: string }
type Outcome = { namespace: string; name: string; volume: string; createdAt: string; ready: boolean; action: 'keep' | 'deleted' | 'would-delete' | 'failed' | 'deferred'; reasons: string[] }

function facts(kind: SnapshotKind, o: Obj, namespace: string, inUse: Set<string>, protectionLabel: string): Candidate {
  const name = o.metadata?.name ?? ''
  const created = kind === 'VolumeSnapshot' ? o.status?.creationTime ?? o.metadata?.creationTimestamp
    : kind === 'LonghornSnapshot' ? o.status?.creationTime ?? o.metadata?.creationTimestamp
      : o.status?.backupCreatedAt ?? o.status?.snapshotCreatedAt ?? o.metadata?.creationTimestamp
  const volume = kind === 'VolumeSnapshot' ? `${namespace}/${o.spec?.source?.persistentVolumeClaimName ?? o.spec?.source?.volumeSnapshotContentName ?? '?'}`
    : kind === 'LonghornSnapshot' ? o.spec?.volume ?? '?' : o.status?.volumeName ?? o.metadata?.labels?.longhornvolume ?? '?'
  const ready = kind === 'LonghornBackup' ? o.status?.state === 'Completed' : o.status?.readyToUse === true
  return {
    id: `${namespace}/${name}`, namespace, name, volume, ready,
    createdAt: created ? new Date(created) : new Date(0),
    inUse: kind === 'VolumeSnapshot' && inUse.has(`${namespace}/${name}`),
    protected: o.metadata?.labels?.[protectionLabel] !== undefined && o.metadata.labels[protectionLabel] !== 'false',
  }
}

export default defineFunction<PruneConfig>({
  name: 'prune-snapshots',
  description: 'retention over VolumeSnapshots and Longhorn snapshots and backups, with restic forget semantics',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, metrics: registry }) {
    checkConfig(config)
    const registers = [registry]
    const deletedTotal = new Counter({ name: 'caretaker_snapshots_deleted_total', help: 'Snapshots deleted by policy', labelNames: ['policy'], registers })
    const errorsTotal = new Counter({ name: 'caretaker_snapshots_delete_errors_total', help: 'Snapshot deletions that failed after retries, by policy', labelNames: ['policy'], registers })
    const keptGauge = new Gauge({ name: 'caretaker_snapshots_kept', help: 'Snapshots kept by the last run, by policy', labelNames: ['policy'], registers })
    let running = false

    function apis(): { custom: CustomObjectsApi; core: CoreV1Api; kc: KubeConfig } {
      if (!kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'prune-snapshots needs the Kubernetes API, and none is configured')
      return { custom: kubeConfig.makeApiClient(CustomObjectsApi), core: kubeConfig.makeApiClient(CoreV1Api), kc: kubeConfig }
    }

    /**
     * The policy's snapshots (and below, the PVCs restored from them) one at a
     * time: one cluster-wide list kept to the policy's namespaces where the
     * RBAC allows it, else one list per namespace (shared/kubernetes/listing.ts).
     */
    function listSnapshots(policy: PrunePolicy, custom: CustomObjectsApi, kc: KubeConfig): AsyncGenerator<Obj> {
      const target = RESOURCE[policy.kind]
      const selector = policy.selector ? { labelSelector: policy.selector } : {}
      return listInNamespaces<Obj>({
        kubeConfig: kc, what: `${policy.kind} for policy ${policy.name}`, resource: { group: target.group, resource: target.plural }, namespaces: policy.namespaces, pageSize: config.limits.pageSize,
        namespaced: (namespace, page) => custom.listNamespacedCustomObject({ ...target, namespace, ...page, ...selector }),
        clusterWide: (page) => custom.listClusterCustomObject({ ...target, ...page, ...selector }),
      })
    }

    /** VolumeSnapshots a PVC of these namespaces is being (or was) restored from: never deleted. */
    async function snapshotsInUse(namespaces: readonly string[], core: CoreV1Api, kc: KubeConfig): Promise<Set<string>> {
      const used = new Set<string>()
      const pvcs = listInNamespaces({
        kubeConfig: kc, what: 'PersistentVolumeClaims', resource: { group: '', resource: 'persistentvolumeclaims' }, namespaces, pageSize: config.limits.pageSize,
        namespaced: (namespace, page) => core.listNamespacedPersistentVolumeClaim({ namespace, ...page }),
        clusterWide: (page) => core.listPersistentVolumeClaimForAllNamespaces(page),
      })
      for await (const pvc of pvcs) {
        const namespace = pvc.metadata?.namespace ?? ''
        for (const ref of [pvc.spec?.dataSource, pvc.spec?.dataSourceRef]) {
          if (ref?.kind === 'VolumeSnapshot') used.add(`${(ref as { namespace?: string }).namespace ?? namespace}/${ref.name}`)
        }
      }
      return used
    }

    async function prune(policies: PrunePolicy[], context: HandlerContext) {
      const { custom, core, kc } = apis()
      const now = new Date()
      const deleter = new PacedDeleter({ cap: config.limits.maxDeletionsPerRun, perSecond: config.limits.deletesPerSecond, attempts: config.limits.attempts }, context.signal, context.deadline)
      const results = []
      for (const policy of policies) {
        const candidates: Candidate[] = []
        try {
          const inUse = policy.kind === 'VolumeSnapshot' ? await snapshotsInUse(policy.namespaces, core, kc) : new Set<string>()
          for await (const o of listSnapshots(policy, custom, kc)) candidates.push(facts(policy.kind, o, o.metadata?.namespace ?? '', inUse, config.protectionLabel))
        } catch (err) {
          throw kubernetesError(err, `list ${policy.kind} for policy ${policy.name}`)
        }
        const byVolume = new Map<string, Candidate[]>()
        for (const c of candidates) byVolume.set(c.volume, [...(byVolume.get(c.volume) ?? []), c])
        const retention = {
          graceMs: parseDuration(policy.grace) ?? 0, timeZone: policy.timeZone,
          ...(policy.maxAge ? { maxAgeMs: parseDuration(policy.maxAge)! } : {}),
          ...Object.fromEntries((['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const).flatMap((k) => (policy[k] === undefined ? [] : [[k, policy[k]]]))),
        }
        const outcomes = new OutcomeList<Outcome>()
        /** Every object acted on is logged: the reply lists a bounded number, the log all of them. */
        const acted = (o: Outcome) => {
          outcomes.add(o)
          context.log.info({ policy: policy.name, object: o, dry_run: context.dryRun }, 'snapshot pruned')
        }
        for (const group of byVolume.values()) {
          const byId = new Map(group.map((c) => [c.id, c]))
          for (const d of plan(group, retention, now)) {
            const c = byId.get(d.id)!
            const base = { namespace: c.namespace, name: c.name, volume: c.volume, createdAt: c.createdAt.toISOString(), ready: c.ready }
            if (d.keep) { outcomes.add({ ...base, action: 'keep', reasons: d.reasons }); continue }
            if (context.dryRun) { acted({ ...base, action: 'would-delete', reasons: d.reasons }); continue }
            const result = await deleter.delete(`${policy.kind} ${c.id}`, () => custom.deleteNamespacedCustomObject({ ...RESOURCE[policy.kind], namespace: c.namespace, name: c.name }))
            if (result.outcome === 'deleted') {
              deletedTotal.inc({ policy: policy.name })
              acted({ ...base, action: 'deleted', reasons: d.reasons })
            } else {
              if (result.outcome === 'failed') errorsTotal.inc({ policy: policy.name })
              acted({ ...base, action: result.outcome, reasons: [...d.reasons, result.reason] })
            }
          }
        }
        const count = (a: Outcome['action']) => outcomes.count(a)
        keptGauge.set({ policy: policy.name }, count('keep'))
        const summary = { policy: policy.name, kind: policy.kind, listed: candidates.length, kept: count('keep'), deleted: count('deleted') + count('would-delete'), failed: count('failed'), deferred: count('deferred'), keptBecause: outcomes.keptReasons, ...outcomes.listing() }
        context.log.info({ policy: policy.name, listed: summary.listed, kept: summary.kept, deleted: summary.deleted, failed: summary.failed, deferred: summary.deferred, dry_run: context.dryRun }, 'retention applied')
        results.push(summary)
      }
      return context.reply({ type: PRUNED, data: { dryRun: context.dryRun, capReached: deleter.capReached && results.some((r) => r.deferred > 0), deadlineReached: deleter.deadlineReached, policies: results } })
    }

    return {
      async handle(context, event) {
        let policies = config.policies
        if (event.type === REQUEST) {
          const wanted = (event.data as { policy?: string }).policy
          if (wanted) {
            policies = config.policies.filter((p) => p.name === wanted)
            if (policies.length === 0) throw new CaretakerError(Errors.InvalidRequest, `no retention policy named "${wanted}"; configured: ${config.policies.map((p) => p.name).join(', ') || 'none'}`)
          }
        }
        // One run at a time: two overlapping runs would plan on the same objects.
        if (running) throw new CaretakerError(Errors.EventInProgress, 'a prune run is in progress; retry later')
        running = true
        try {
          return await prune(policies, context)
        } finally {
          running = false
        }
      },
    }
  },
})
