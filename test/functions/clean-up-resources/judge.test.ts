import t from 'tap'
import type { V1Job, V1PersistentVolumeClaim, V1ReplicaSet } from '@kubernetes/client-node'
import { configSchema, type CleanUpConfig } from '../../../functions/clean-up-resources/config.ts'
import { judgeJobs, judgePvcs, judgeReplicaSets, namespacesToClean } from '../../../functions/clean-up-resources/judge.ts'
import { validateConfig } from '../../../shared/config.ts'

// clean-up-resources' verdicts are pure: a table per kind, no API.

const DAY = 86_400_000
const now = Date.parse('2026-12-01T00:00:00Z')
const iso = (daysAgo: number) => new Date(now - daysAgo * DAY).toISOString()
const config: CleanUpConfig = validateConfig({ namespaces: ['apps'], pvcs: { delete: true, grace: '7d' } }, configSchema, 'test')
const ages = { now, jobTtlMs: 7 * DAY, pvcGraceMs: 7 * DAY }

const job = (name: string, finishedDaysAgo: number | undefined, extra: { owner?: string; ttl?: number; labels?: Record<string, string> } = {}): V1Job => ({
  metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}), ...(extra.owner ? { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: extra.owner, uid: 'u' }] } : {}) },
  spec: { template: {}, ...(extra.ttl !== undefined ? { ttlSecondsAfterFinished: extra.ttl } : {}) },
  status: finishedDaysAgo === undefined ? {} : { completionTime: new Date(iso(finishedDaysAgo)), conditions: [{ type: 'Complete', status: 'True' }] },
})

t.test('Jobs: running ones unjudged; own TTL, protection, history limits and age keep; the rest past the TTL go', async (t) => {
  const verdicts = judgeJobs(config, [
    job('running', undefined), job('own-ttl', 30, { ttl: 60 }), job('protected', 30, { labels: { 'caretaker.dev/protected': 'true' } }),
    job('recent', 2), job('old', 30), job('cron-a', 20, { owner: 'nightly' }), job('cron-b', 25, { owner: 'nightly' }),
  ], [{ metadata: { name: 'nightly' }, spec: { schedule: '@daily', jobTemplate: {}, successfulJobsHistoryLimit: 1 } }], ages)
  t.same(verdicts, [
    { name: 'own-ttl', keep: 'has a TTL of its own (ttlSecondsAfterFinished)' },
    { name: 'protected', keep: 'protected by label' },
    { name: 'recent', keep: 'finished less than 7d ago' },
    { name: 'old', delete: 'finished more than 7d ago' },
    { name: 'cron-a', keep: 'kept by its CronJob\'s history limits' },
    { name: 'cron-b', delete: 'finished more than 7d ago' },
  ])
})

t.test('ReplicaSets: idle ones beyond the revision history go, the current revision stays, orphans are not judged', async (t) => {
  const rs = (name: string, revision: number, owner: string, replicas = 0): V1ReplicaSet => ({
    metadata: { name, annotations: { 'deployment.kubernetes.io/revision': String(revision) }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: owner, uid: 'u' }] },
    spec: { replicas, selector: {} }, status: { replicas },
  })
  const verdicts = judgeReplicaSets([rs('web-1', 1, 'web'), rs('web-2', 2, 'web'), rs('web-3', 3, 'web'), rs('web-4', 4, 'web', 2), rs('gone-1', 1, 'gone')],
    [{ metadata: { name: 'web' }, spec: { selector: {}, template: {}, revisionHistoryLimit: 1 } }])
  t.same(verdicts, [
    { name: 'web-3', keep: 'within the Deployment\'s revision history (1)' },
    { name: 'web-2', delete: 'beyond web\'s revision history of 1' },
    { name: 'web-1', delete: 'beyond web\'s revision history of 1' },
  ])
})

t.test('PVCs: mounted ones unjudged, claimed ones kept, young or protected ones reported, old ones deleted', async (t) => {
  const pvc = (name: string, daysOld: number, labels?: Record<string, string>): V1PersistentVolumeClaim => ({ metadata: { name, creationTimestamp: new Date(iso(daysOld)), ...(labels ? { labels } : {}) } })
  const workloads = {
    cronJobs: [], jobs: [], deployments: [{ metadata: { name: 'idle' }, spec: { replicas: 0, selector: {}, template: { spec: { containers: [], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'idle-data' } }] } } } }],
    statefulSets: [{ metadata: { name: 'db' }, spec: { selector: {}, serviceName: 'db', template: {}, volumeClaimTemplates: [{ metadata: { name: 'data' } }] } }],
  }
  const verdicts = judgePvcs(config, [pvc('mounted', 30), pvc('idle-data', 30), pvc('data-db-0', 30), pvc('young', 1), pvc('kept', 30, { 'caretaker.dev/protected': 'yes' }), pvc('old', 30)], new Set(['mounted']), workloads, ages)
  t.same(verdicts, [
    { name: 'idle-data', keep: 'used by Deployment idle (scaled to zero)' },
    { name: 'data-db-0', keep: 'claimed by StatefulSet db\'s volumeClaimTemplate data' },
    { name: 'young', report: 'no Pod mounts it, but it is younger than 7d' },
    { name: 'kept', report: 'no Pod mounts it, but it is protected by label' },
    { name: 'old', delete: 'no Pod mounts it, older than 7d' },
  ])
})

t.test('a request names configured namespaces only', async (t) => {
  t.same(namespacesToClean(config, undefined), ['apps'])
  t.same(namespacesToClean(config, ['apps']), ['apps'])
  t.throws(() => namespacesToClean(config, ['other']), { code: 'invalid_request' })
})
