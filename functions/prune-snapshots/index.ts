import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '../../shared/kubernetes/api.ts'
import type { CloudEvent } from 'cloudevents'
import { Counter, Gauge, type Registry } from 'prom-client'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { PacedDeleter } from '../../shared/kubernetes/deleter.ts'
import { OutcomeList } from '../../shared/events/outcome-list.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { byVolume, candidateOf, policiesToPrune, retentionOf, RESOURCE, type Candidate } from './candidates.ts'
import { checkConfig, configSchema, type PruneConfig, type PrunePolicy } from './config.ts'
import { plan } from './retention.ts'
import { listSnapshots, snapshotsInUse } from './snapshots.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'

/**
 * prune-snapshots: retention over CSI VolumeSnapshots and Longhorn
 * Snapshots and Backups, safe at scale. Lists with pagination, plans per
 * volume (retention.ts), deletes at a bounded rate with retries, stops at
 * the per-run cap, and replies with every object kept or deleted and why.
 */

const PING = EventTypes.Ping
const REQUEST = EventTypes.SnapshotsPruneRequested
const PRUNED = EventTypes.SnapshotsPruned

type Outcome = { namespace: string; name: string; volume: string; createdAt: string; ready: boolean; action: 'keep' | 'deleted' | 'would-delete' | 'failed' | 'deferred'; reasons: string[] }

/** What prune-snapshots' steps share, built once per instance. */
export interface Pruner {
  config: PruneConfig
  kubeConfig: KubeConfig | undefined
  deletedTotal: Counter<'policy'>
  errorsTotal: Counter<'policy'>
  keptGauge: Gauge<'policy'>
}

export function createPruner(config: PruneConfig, kubeConfig: KubeConfig | undefined, registry: Registry): Pruner {
  const registers = [registry]
  return {
    config,
    kubeConfig,
    deletedTotal: new Counter({ name: 'caretaker_snapshots_deleted_total', help: 'Snapshots deleted by policy', labelNames: ['policy'], registers }),
    errorsTotal: new Counter({ name: 'caretaker_snapshots_delete_errors_total', help: 'Snapshot deletions that failed after retries, by policy', labelNames: ['policy'], registers }),
    keptGauge: new Gauge({ name: 'caretaker_snapshots_kept', help: 'Snapshots kept by the last run, by policy', labelNames: ['policy'], registers }),
  }
}

function apis(p: Pruner): { custom: CustomObjectsApi; core: CoreV1Api; kc: KubeConfig } {
  if (!p.kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'prune-snapshots needs the Kubernetes API, and none is configured')
  return { custom: p.kubeConfig.makeApiClient(CustomObjectsApi), core: p.kubeConfig.makeApiClient(CoreV1Api), kc: p.kubeConfig }
}

/** One run: each policy in turn, under one deleter (its pace, cap and deadline span the run). */
export async function prune(p: Pruner, policies: PrunePolicy[], context: HandlerContext): Promise<CloudEvent<unknown>> {
  const { config } = p
  apis(p)
  const deleter = new PacedDeleter({ cap: config.limits.maxDeletionsPerRun, perSecond: config.limits.deletesPerSecond, attempts: config.limits.attempts }, context.signal, context.deadline)
  const now = new Date()
  const results = []
  for (const policy of policies) results.push(await prunePolicy(p, policy, deleter, now, context))
  return context.reply({ type: PRUNED, data: { dryRun: context.dryRun, capReached: deleter.capReached && results.some((r) => r.deferred > 0), deadlineReached: deleter.deadlineReached, policies: results } })
}

/** One policy: list its objects, plan per volume, carry the plan out, sum it up. */
export async function prunePolicy(p: Pruner, policy: PrunePolicy, deleter: PacedDeleter, now: Date, context: HandlerContext) {
  const { custom, core, kc } = apis(p)
  const { config } = p
  // 1: The candidates, with the VolumeSnapshots a PVC is restored from.
  const candidates: Candidate[] = []
  try {
    const inUse = policy.kind === 'VolumeSnapshot' ? await snapshotsInUse(policy.namespaces, core, kc, config.limits.pageSize) : new Set<string>()
    for await (const o of listSnapshots(policy, custom, kc, config.limits.pageSize)) candidates.push(candidateOf(policy.kind, o, o.metadata?.namespace ?? '', inUse, config.protectionLabel))
  } catch (err) {
    throw kubernetesError(err, `list ${policy.kind} for policy ${policy.name}`)
  }

  // 2: The plan per volume, carried out: keeps listed, deletes paced (or, in a dry run, listed).
  const retention = retentionOf(policy)
  const outcomes = new OutcomeList<Outcome>()
  /** Every object acted on is logged: the reply lists a bounded number, the log all of them. */
  const acted = (o: Outcome) => {
    outcomes.add(o)
    context.log.info({ policy: policy.name, object: o, dry_run: context.dryRun }, 'snapshot pruned')
  }
  for (const group of byVolume(candidates)) {
    const byId = new Map(group.map((c) => [c.id, c]))
    for (const d of plan(group, retention, now)) {
      const c = byId.get(d.id)!
      const base = { namespace: c.namespace, name: c.name, volume: c.volume, createdAt: c.createdAt.toISOString(), ready: c.ready }
      if (d.keep) { outcomes.add({ ...base, action: 'keep', reasons: d.reasons }); continue }
      if (context.dryRun) { acted({ ...base, action: 'would-delete', reasons: d.reasons }); continue }
      const result = await deleter.delete(`${policy.kind} ${c.id}`, () => custom.deleteNamespacedCustomObject({ ...RESOURCE[policy.kind], namespace: c.namespace, name: c.name }))
      if (result.outcome === 'deleted') {
        p.deletedTotal.inc({ policy: policy.name })
        acted({ ...base, action: 'deleted', reasons: d.reasons })
      } else {
        if (result.outcome === 'failed') p.errorsTotal.inc({ policy: policy.name })
        acted({ ...base, action: result.outcome, reasons: [...d.reasons, result.reason] })
      }
    }
  }

  // 3: The policy's summary.
  const count = (a: Outcome['action']) => outcomes.count(a)
  p.keptGauge.set({ policy: policy.name }, count('keep'))
  const summary = { policy: policy.name, kind: policy.kind, listed: candidates.length, kept: count('keep'), deleted: count('deleted') + count('would-delete'), failed: count('failed'), deferred: count('deferred'), keptBecause: outcomes.keptReasons, ...outcomes.listing() }
  context.log.info({ policy: policy.name, listed: summary.listed, kept: summary.kept, deleted: summary.deleted, failed: summary.failed, deferred: summary.deferred, dry_run: context.dryRun }, 'retention applied')
  return summary
}

export default defineFunction<PruneConfig>({
  name: 'prune-snapshots',
  description: 'retention over VolumeSnapshots and Longhorn snapshots and backups, with restic forget semantics',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, metrics }) {
    checkConfig(config)
    const pruner = createPruner(config, kubeConfig, metrics)
    let running = false
    return {
      async handle(context, event) {
        const policies = policiesToPrune(config, isEvent(event, REQUEST) ? event.data.policy : undefined)
        // One run at a time: two overlapping runs would plan on the same objects.
        if (running) throw new CaretakerError(Errors.EventInProgress, 'a prune run is in progress; retry later')
        running = true
        try {
          return await prune(pruner, policies, context)
        } finally {
          running = false
        }
      },
    }
  },
})
