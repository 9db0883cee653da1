import { AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig } from '../../shared/kubernetes/api.ts'
import type { CloudEvent } from 'cloudevents'
import { Counter, type Registry } from 'prom-client'
import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { PacedDeleter } from '../../shared/kubernetes/deleter.ts'
import { OutcomeList } from '../../shared/events/outcome-list.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { configSchema, type CleanUpConfig } from './config.ts'
import { claimsOf, judgeJobs, judgePvcs, judgeReplicaSets, namespacesToClean, type Ages, type Verdict } from './judge.ts'
import { openReaders } from './readers.ts'
import { EventTypes, isEvent } from '../../shared/events/catalogue.ts'

/**
 * clean-up-resources: the runbooks' cleanup, safely. Finished Jobs past a
 * TTL (not those a CronJob's history limits keep, nor those with a TTL of
 * their own), ReplicaSets at zero beyond their Deployment's revision
 * history, and PVCs no Pod mounts (reported; deleted only when enabled and
 * past a grace period). Paced, capped, retried deletes; dry-run. The
 * verdicts are pure in judge.ts; this file reads and carries them out.
 */

const PING = EventTypes.Ping
const REQUEST = EventTypes.ResourcesCleanRequested
const CLEANED = EventTypes.ResourcesCleaned

type Kind = 'Job' | 'ReplicaSet' | 'PersistentVolumeClaim'
interface Item { kind: Kind; namespace: string; name: string; action: 'keep' | 'deleted' | 'would-delete' | 'failed' | 'deferred' | 'reported'; reasons: string[] }

/** What clean-up's steps share, built once per instance. */
export interface Cleaner {
  config: CleanUpConfig
  kubeConfig: KubeConfig | undefined
  deletedTotal: Counter<'kind'>
  errorsTotal: Counter<'kind'>
  jobTtlMs: number
  pvcGraceMs: number
}

export function createCleaner(config: CleanUpConfig, kubeConfig: KubeConfig | undefined, registry: Registry): Cleaner {
  return {
    config,
    kubeConfig,
    deletedTotal: new Counter({ name: 'caretaker_resources_deleted_total', help: 'Objects deleted by kind', labelNames: ['kind'], registers: [registry] }),
    errorsTotal: new Counter({ name: 'caretaker_resources_delete_errors_total', help: 'Deletions that failed after retries, by kind', labelNames: ['kind'], registers: [registry] }),
    jobTtlMs: parseDuration(config.jobs.ttl)!,
    pvcGraceMs: parseDuration(config.pvcs.grace)!,
  }
}

/** One clean-up run over these namespaces: each namespace's Jobs, then ReplicaSets, then PVCs, judged and carried out. */
export async function clean(c: Cleaner, namespaces: string[], context: HandlerContext): Promise<CloudEvent<unknown>> {
  const { config, kubeConfig } = c
  if (!kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'clean-up-resources needs the Kubernetes API, and none is configured')
  const batch = kubeConfig.makeApiClient(BatchV1Api)
  const apps = kubeConfig.makeApiClient(AppsV1Api)
  const core = kubeConfig.makeApiClient(CoreV1Api)
  const deleter = new PacedDeleter({ cap: config.limits.maxDeletionsPerRun, perSecond: config.limits.deletesPerSecond, attempts: config.limits.attempts }, context.signal, context.deadline)
  const ages: Ages = { now: Date.now(), jobTtlMs: c.jobTtlMs, pvcGraceMs: c.pvcGraceMs }
  const items = new OutcomeList<Item>()

  /** An object acted on: in the reply while it has room, and always in the log. */
  function acted(item: Item): void {
    items.add(item)
    context.log.info({ object: item, dry_run: context.dryRun }, 'clean-up object')
  }

  /** Carries out one kind's verdicts in order: keeps listed, reports acted on, deletes paced (or, in a dry run, listed). */
  async function carryOut(kind: Kind, namespace: string, verdicts: Verdict[], del: (name: string) => Promise<unknown>): Promise<void> {
    for (const v of verdicts) {
      const { name } = v
      if ('keep' in v) { items.add({ kind, namespace, name, action: 'keep', reasons: [v.keep] }); continue }
      if ('report' in v) { acted({ kind, namespace, name, action: 'reported', reasons: [v.report] }); continue }
      const reasons = [v.delete]
      if (context.dryRun) { acted({ kind, namespace, name, action: 'would-delete', reasons }); continue }
      const result = await deleter.delete(`${kind} ${namespace}/${name}`, () => del(name))
      if (result.outcome === 'deleted') c.deletedTotal.inc({ kind })
      if (result.outcome === 'failed') c.errorsTotal.inc({ kind })
      acted({ kind, namespace, name, action: result.outcome, reasons: result.outcome === 'deleted' ? reasons : [...reasons, result.reason] })
    }
  }

  // 1: The readers of what the enabled parts need.
  const { readers, order } = await openReaders(kubeConfig, config, namespaces)

  // 2: Each namespace: its Jobs, its ReplicaSets, its PVCs.
  for (const namespace of order) {
    try {
      const jobs = await readers.jobs.read(namespace)
      const cronJobs = await readers.cronJobs.read(namespace)
      const sets = await readers.replicaSets.read(namespace)
      const deployments = await readers.deployments.read(namespace)
      if (config.jobs.enabled) {
        await carryOut('Job', namespace, judgeJobs(config, jobs, cronJobs, ages), (name) => batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' }))
      }
      if (config.replicaSets.enabled) {
        await carryOut('ReplicaSet', namespace, judgeReplicaSets(sets, deployments), (name) => apps.deleteNamespacedReplicaSet({ namespace, name }))
      }
      if (config.pvcs.report || config.pvcs.delete) {
        const mounted = new Set((await readers.pods.read(namespace)).flatMap((p) => claimsOf(p.spec)))
        const workloads = { cronJobs, jobs, deployments, statefulSets: await readers.statefulSets.read(namespace) }
        const verdicts = judgePvcs(config, await readers.pvcs.read(namespace), mounted, workloads, ages)
        await carryOut('PersistentVolumeClaim', namespace, verdicts, (name) => core.deleteNamespacedPersistentVolumeClaim({ namespace, name }))
      }
    } catch (err) {
      throw kubernetesError(err, `clean up namespace ${namespace}`)
    }
  }

  // 3: The report: every object counted, those acted on listed.
  const counts = items.counts
  context.log.info({ namespaces, ...counts, dry_run: context.dryRun }, 'clean-up done')
  return context.reply({ type: CLEANED, data: { dryRun: context.dryRun, capReached: deleter.capReached && items.count('deferred') > 0, deadlineReached: deleter.deadlineReached, counts, kept: items.keptReasons, ...items.listing() } })
}

export default defineFunction<CleanUpConfig>({
  name: 'clean-up-resources',
  description: 'finished Jobs past a TTL, old ReplicaSets, unused PVCs: cleaned safely',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, metrics }) {
    const cleaner = createCleaner(config, kubeConfig, metrics)
    // One run at a time in this instance.
    let running = false
    return {
      async handle(context, event) {
        const namespaces = namespacesToClean(config, isEvent(event, REQUEST) ? event.data.namespaces : undefined)
        if (running) throw new CaretakerError(Errors.EventInProgress, 'a clean-up is in progress; retry later')
        running = true
        try {
          return await clean(cleaner, namespaces, context)
        } finally {
          running = false
        }
      },
    }
  },
})
