import type { V1CronJob, V1Deployment, V1Job, V1PodSpec, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node'
import { AppsV1Api, BatchV1Api, CoreV1Api } from '../../shared/kubernetes/api.ts'
import { Counter } from 'prom-client'
import { parseDuration } from '../../shared/duration.ts'
import { CaretakerError, Errors } from '../../shared/errors.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import { PacedDeleter } from '../../shared/kubernetes/deleter.ts'
import { listOrder, namespaceReader, type ListedResource, type NamespacedListing, type NamespaceReader } from '../../shared/kubernetes/listing.ts'
import { OutcomeList } from '../../shared/events/outcome-list.ts'
import { defineFunction, type HandlerContext } from '../../shared/runtime/function.ts'
import { configSchema, type CleanUpConfig } from './config.ts'

/**
 * clean-up-resources: the runbooks' cleanup, safely. Finished Jobs past a
 * TTL (not those a CronJob's history limits keep, nor those with a TTL of
 * their own), ReplicaSets at zero beyond their Deployment's revision
 * history, and PVCs no Pod mounts (reported; deleted only when enabled and
 * past a grace period). Paced, capped, retried deletes; dry-run.
 */

const PING = 'dev.knative.sources.ping'
const REQUEST = 'dev.caretaker.resources.clean.requested'
const CLEANED = 'dev.caretaker.resources.cleaned'

type Kind = 'Job' | 'ReplicaSet' | 'PersistentVolumeClaim'
interface Item { kind: Kind; namespace: string; name: string; action: 'keep' | 'deleted' | 'would-delete' | 'failed' | 'deferred' | 'reported'; reasons: string[] }

const time = (v: Date | string | undefined): number | undefined => (v === undefined ? undefined : new Date(v).getTime())

function claimsOf(spec: V1PodSpec | undefined): string[] {
  return (spec?.volumes ?? []).map((v) => v.persistentVolumeClaim?.claimName).filter((n): n is string => Boolean(n))
}

function finishedAt(job: V1Job): number | undefined {
  const done = job.status?.conditions?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')
  if (!done) return undefined
  return time(job.status?.completionTime) ?? time(done.lastTransitionTime) ?? time(job.metadata?.creationTimestamp)
}

export default defineFunction<CleanUpConfig>({
  name: 'clean-up-resources',
  description: 'finished Jobs past a TTL, old ReplicaSets, unused PVCs: cleaned safely',
  accepts: [PING, REQUEST],
  configSchema,
  setup({ config, kubeConfig, metrics: registry }) {
    const deletedTotal = new Counter({ name: 'caretaker_resources_deleted_total', help: 'Objects deleted by kind', labelNames: ['kind'], registers: [registry] })
    const errorsTotal = new Counter({ name: 'caretaker_resources_delete_errors_total', help: 'Deletions that failed after retries, by kind', labelNames: ['kind'], registers: [registry] })
    const jobTtlMs = parseDuration(config.jobs.ttl)!
    const pvcGraceMs = parseDuration(config.pvcs.grace)!
    let running = false

    async function clean(namespaces: string[], context: HandlerContext) {
      if (!kubeConfig) throw new CaretakerError(Errors.DependencyUnavailable, 'clean-up-resources needs the Kubernetes API, and none is configured')
      const kc = kubeConfig
      const batch = kubeConfig.makeApiClient(BatchV1Api)
      const apps = kubeConfig.makeApiClient(AppsV1Api)
      const core = kubeConfig.makeApiClient(CoreV1Api)
      const deleter = new PacedDeleter({ cap: config.limits.maxDeletionsPerRun, perSecond: config.limits.deletesPerSecond, attempts: config.limits.attempts }, context.signal, context.deadline)
      const now = Date.now()
      const items = new OutcomeList<Item>()
      const page = config.limits.pageSize
      const protectedBy = (labels: Record<string, string> | undefined) => labels?.[config.protectionLabel] !== undefined && labels[config.protectionLabel] !== 'false'

      /**
       * The PVCs the namespace's workloads claim without a Pod running now:
       * CronJobs' and Jobs' pod templates, Deployments and StatefulSets (at
       * any scale, zero included) and StatefulSets' volumeClaimTemplates,
       * whose claims are named `<template>-<statefulset>-<ordinal>`.
       */
      function workloadClaims(w: { cronJobs: V1CronJob[]; jobs: V1Job[]; deployments: V1Deployment[]; statefulSets: V1StatefulSet[] }) {
        const byName = new Map<string, string>()
        const byTemplate: Array<{ matches: (pvc: string) => boolean; reason: string }> = []
        const claim = (names: string[], reason: string) => { for (const n of names) if (!byName.has(n)) byName.set(n, reason) }
        const scale = (replicas: number | undefined) => (replicas === 0 ? ' (scaled to zero)' : '')
        for (const c of w.cronJobs) {
          claim(claimsOf(c.spec?.jobTemplate.spec?.template.spec), `used by CronJob ${c.metadata?.name ?? '?'}'s pod template${c.spec?.suspend ? ' (suspended)' : ''}`)
        }
        for (const j of w.jobs) {
          if (finishedAt(j) === undefined) claim(claimsOf(j.spec?.template.spec), `used by unfinished Job ${j.metadata?.name ?? '?'}`)
        }
        for (const d of w.deployments) {
          claim(claimsOf(d.spec?.template.spec), `used by Deployment ${d.metadata?.name ?? '?'}${scale(d.spec?.replicas)}`)
        }
        for (const st of w.statefulSets) {
          const set = st.metadata?.name ?? '?'
          claim(claimsOf(st.spec?.template.spec), `used by StatefulSet ${set}${scale(st.spec?.replicas)}`)
          for (const t of st.spec?.volumeClaimTemplates ?? []) {
            const prefix = `${t.metadata?.name ?? ''}-${set}-`
            byTemplate.push({ matches: (pvc) => pvc.startsWith(prefix) && /^\d+$/.test(pvc.slice(prefix.length)), reason: `claimed by StatefulSet ${set}'s volumeClaimTemplate ${t.metadata?.name ?? '?'}${scale(st.spec?.replicas)}` })
          }
        }
        return { byName, byTemplate }
      }

      /**
       * Each kind read a namespace at a time, each namespace's objects read
       * once: one paged cluster-wide list walked along where the RBAC allows
       * it (many namespaces in objects/page calls), else one list per
       * namespace (shared/kubernetes/listing.ts).
       */
      const pvcsToo = config.pvcs.report || config.pvcs.delete
      const none = { clusterWide: false, read: () => Promise.resolve([]) }
      const reader = <T extends { metadata?: { namespace?: string } }>(wanted: boolean, what: string, resource: ListedResource, namespaced: NamespacedListing<T>['namespaced'], clusterWide: NamespacedListing<T>['clusterWide']): Promise<NamespaceReader<T>> =>
        (wanted ? namespaceReader<T>({ kubeConfig: kc, what, resource, namespaces, pageSize: page, namespaced, clusterWide }) : Promise.resolve(none))
      let readers
      try {
        readers = {
          jobs: await reader(config.jobs.enabled || pvcsToo, 'Jobs', { group: 'batch', resource: 'jobs' }, (namespace, p) => batch.listNamespacedJob({ namespace, ...p }), (p) => batch.listJobForAllNamespaces(p)),
          cronJobs: await reader(config.jobs.enabled || pvcsToo, 'CronJobs', { group: 'batch', resource: 'cronjobs' }, (namespace, p) => batch.listNamespacedCronJob({ namespace, ...p }), (p) => batch.listCronJobForAllNamespaces(p)),
          replicaSets: await reader(config.replicaSets.enabled, 'ReplicaSets', { group: 'apps', resource: 'replicasets' }, (namespace, p) => apps.listNamespacedReplicaSet({ namespace, ...p }), (p) => apps.listReplicaSetForAllNamespaces(p)),
          deployments: await reader(config.replicaSets.enabled || pvcsToo, 'Deployments', { group: 'apps', resource: 'deployments' }, (namespace, p) => apps.listNamespacedDeployment({ namespace, ...p }), (p) => apps.listDeploymentForAllNamespaces(p)),
          statefulSets: await reader(pvcsToo, 'StatefulSets', { group: 'apps', resource: 'statefulsets' }, (namespace, p) => apps.listNamespacedStatefulSet({ namespace, ...p }), (p) => apps.listStatefulSetForAllNamespaces(p)),
          pods: await reader(pvcsToo, 'Pods', { group: '', resource: 'pods' }, (namespace, p) => core.listNamespacedPod({ namespace, ...p }), (p) => core.listPodForAllNamespaces(p)),
          pvcs: await reader(pvcsToo, 'PersistentVolumeClaims', { group: '', resource: 'persistentvolumeclaims' }, (namespace, p) => core.listNamespacedPersistentVolumeClaim({ namespace, ...p }), (p) => core.listPersistentVolumeClaimForAllNamespaces(p)),
        }
      } catch (err) {
        throw kubernetesError(err, 'list for clean-up')
      }
      // A cluster-wide list hands out namespaces in its own order: walk them in that order.
      const order = Object.values(readers).some((r) => r.clusterWide) ? listOrder(namespaces) : namespaces

      /** An object acted on: in the reply while it has room, and always in the log. */
      function acted(item: Item): void {
        items.add(item)
        context.log.info({ object: item, dry_run: context.dryRun }, 'clean-up object')
      }

      async function remove(kind: Kind, namespace: string, name: string, reasons: string[], call: () => Promise<unknown>): Promise<void> {
        if (context.dryRun) { acted({ kind, namespace, name, action: 'would-delete', reasons }); return }
        const result = await deleter.delete(`${kind} ${namespace}/${name}`, call)
        if (result.outcome === 'deleted') deletedTotal.inc({ kind })
        if (result.outcome === 'failed') errorsTotal.inc({ kind })
        acted({ kind, namespace, name, action: result.outcome, reasons: result.outcome === 'deleted' ? reasons : [...reasons, result.reason] })
      }

      for (const namespace of order) {
        try {
          const jobs = await readers.jobs.read(namespace)
          const cronJobList = await readers.cronJobs.read(namespace)
          const sets = await readers.replicaSets.read(namespace)
          const deploymentList = await readers.deployments.read(namespace)
          if (config.jobs.enabled) {
            const cronJobs = new Map(cronJobList.map((c) => [c.metadata?.name ?? '', c]))
            // What each CronJob's history limits keep: its newest successful and failed Jobs.
            const kept = new Set<string>()
            const byOwner = new Map<string, V1Job[]>()
            for (const j of jobs) {
              const owner = j.metadata?.ownerReferences?.find((o) => o.kind === 'CronJob')?.name
              if (owner) byOwner.set(owner, [...(byOwner.get(owner) ?? []), j])
            }
            for (const [owner, owned] of byOwner) {
              const spec = cronJobs.get(owner)?.spec
              const limits = { Complete: spec?.successfulJobsHistoryLimit ?? 3, Failed: spec?.failedJobsHistoryLimit ?? 1 }
              for (const type of ['Complete', 'Failed'] as const) {
                owned.filter((j) => j.status?.conditions?.some((c) => c.type === type && c.status === 'True'))
                  .sort((a, b) => (finishedAt(b) ?? 0) - (finishedAt(a) ?? 0))
                  .slice(0, limits[type]).forEach((j) => kept.add(j.metadata?.name ?? ''))
              }
            }
            for (const j of jobs) {
              const name = j.metadata?.name ?? ''
              const done = finishedAt(j)
              if (done === undefined) continue // still running: not ours to judge
              if (j.spec?.ttlSecondsAfterFinished !== undefined) { items.add({ kind: 'Job', namespace, name, action: 'keep', reasons: ['has a TTL of its own (ttlSecondsAfterFinished)'] }); continue }
              if (protectedBy(j.metadata?.labels)) { items.add({ kind: 'Job', namespace, name, action: 'keep', reasons: ['protected by label'] }); continue }
              if (kept.has(name)) { items.add({ kind: 'Job', namespace, name, action: 'keep', reasons: ['kept by its CronJob\'s history limits'] }); continue }
              if (now - done < jobTtlMs) { items.add({ kind: 'Job', namespace, name, action: 'keep', reasons: [`finished less than ${config.jobs.ttl} ago`] }); continue }
              await remove('Job', namespace, name, [`finished more than ${config.jobs.ttl} ago`], () => batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' }))
            }
          }
          if (config.replicaSets.enabled) {
            const deployments = new Map(deploymentList.map((d) => [d.metadata?.name ?? '', d]))
            const byOwner = new Map<string, V1ReplicaSet[]>()
            for (const rs of sets) {
              const owner = rs.metadata?.ownerReferences?.find((o) => o.kind === 'Deployment')?.name
              if (owner) byOwner.set(owner, [...(byOwner.get(owner) ?? []), rs])
            }
            for (const [owner, owned] of byOwner) {
              const deployment = deployments.get(owner)
              if (!deployment) continue // the garbage collector's job, not ours
              const history = deployment.spec?.revisionHistoryLimit ?? 10
              const revision = (rs: V1ReplicaSet) => Number(rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] ?? 0)
              const idle = owned.filter((rs) => (rs.spec?.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0).sort((a, b) => revision(b) - revision(a))
              const newest = Math.max(...owned.map(revision))
              for (const [i, rs] of idle.entries()) {
                const name = rs.metadata?.name ?? ''
                if (revision(rs) === newest) { items.add({ kind: 'ReplicaSet', namespace, name, action: 'keep', reasons: ['the Deployment\'s current revision'] }); continue }
                if (i < history) { items.add({ kind: 'ReplicaSet', namespace, name, action: 'keep', reasons: [`within the Deployment's revision history (${history})`] }); continue }
                await remove('ReplicaSet', namespace, name, [`beyond ${owner}'s revision history of ${history}`], () => apps.deleteNamespacedReplicaSet({ namespace, name }))
              }
            }
          }
          if (config.pvcs.report || config.pvcs.delete) {
            const mounted = new Set((await readers.pods.read(namespace)).flatMap((p) => claimsOf(p.spec)))
            // No Pod now is not "unused": a CronJob's next run, a workload scaled to zero
            // or a StatefulSet's ordinal claims it again.
            const wanted = workloadClaims({ cronJobs: cronJobList, jobs, deployments: deploymentList, statefulSets: await readers.statefulSets.read(namespace) })
            for (const pvc of await readers.pvcs.read(namespace)) {
              const name = pvc.metadata?.name ?? ''
              if (mounted.has(name)) continue
              const owner = wanted.byName.get(name) ?? wanted.byTemplate.find((w) => w.matches(name))?.reason
              if (owner) { items.add({ kind: 'PersistentVolumeClaim', namespace, name, action: 'keep', reasons: [owner] }); continue }
              const age = now - (time(pvc.metadata?.creationTimestamp) ?? now)
              if (!config.pvcs.delete || protectedBy(pvc.metadata?.labels) || age < pvcGraceMs) {
                const why = !config.pvcs.delete ? 'no Pod mounts it (deletion is not enabled)' : protectedBy(pvc.metadata?.labels) ? 'no Pod mounts it, but it is protected by label' : `no Pod mounts it, but it is younger than ${config.pvcs.grace}`
                acted({ kind: 'PersistentVolumeClaim', namespace, name, action: 'reported', reasons: [why] })
                continue
              }
              await remove('PersistentVolumeClaim', namespace, name, [`no Pod mounts it, older than ${config.pvcs.grace}`], () => core.deleteNamespacedPersistentVolumeClaim({ namespace, name }))
            }
          }
        } catch (err) {
          throw kubernetesError(err, `clean up namespace ${namespace}`)
        }
      }
      const counts = items.counts
      context.log.info({ namespaces, ...counts, dry_run: context.dryRun }, 'clean-up done')
      return context.reply({ type: CLEANED, data: { dryRun: context.dryRun, capReached: deleter.capReached && items.count('deferred') > 0, deadlineReached: deleter.deadlineReached, counts, kept: items.keptReasons, ...items.listing() } })
    }

    return {
      async handle(context, event) {
        let namespaces = config.namespaces
        if (event.type === REQUEST) {
          const wanted = (event.data as { namespaces?: string[] }).namespaces
          if (wanted) {
            const unknown = wanted.filter((n) => !config.namespaces.includes(n))
            if (unknown.length > 0) throw new CaretakerError(Errors.InvalidRequest, `namespace(s) ${unknown.join(', ')} are not configured for clean-up; configured: ${config.namespaces.join(', ') || 'none'}`)
            namespaces = wanted
          }
        }
        if (running) throw new CaretakerError(Errors.EventInProgress, 'a clean-up is in progress; retry later')
        running = true
        try {
          return await clean(namespaces, context)
        } finally {
          running = false
        }
      },
    }
  },
})
