import { readFile } from 'node:fs/promises'
import t from 'tap'
import { AppsV1Api, BatchV1Api, CoreV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import cleanUp from '../../../functions/clean-up-resources/index.ts'
import { configSchema, type CleanUpConfig } from '../../../functions/clean-up-resources/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// clean-up-resources in the Kubernetes simulator under its manifest's RBAC:
// each rule that keeps an object, the deletions, the PVC report, the cap,
// dry-run and redelivery.

const DAY = 86_400_000
const now = Date.now()
const iso = (msAgo: number) => new Date(now - msAgo).toISOString()
const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
for (const ns of ['caretaker', 'production', 'databases']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
for (const d of parseAllDocuments(await readFile(new URL('../../../manifests/clean-up-resources/rbac.yaml', import.meta.url), 'utf8'))) kube.store.seed(d.toJSON() as Record<string, unknown>)

const ns = 'production'
const podSpec = { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] }
const cron = kube.store.seed({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'report', namespace: ns }, spec: { schedule: '0 1 * * *', successfulJobsHistoryLimit: 2, failedJobsHistoryLimit: 1, jobTemplate: { spec: { template: { spec: podSpec } } } } })
const job = (name: string, finishedDaysAgo: number | undefined, opts: { owner?: boolean; failed?: boolean; ttl?: number; labels?: Record<string, string> } = {}) => kube.store.seed({
  apiVersion: 'batch/v1', kind: 'Job',
  metadata: { name, namespace: ns, ...(opts.labels ? { labels: opts.labels } : {}), ...(opts.owner ? { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'report', uid: (cron.metadata as { uid: string }).uid, controller: true }] } : {}) },
  spec: { template: { spec: podSpec }, ...(opts.ttl !== undefined ? { ttlSecondsAfterFinished: opts.ttl } : {}) },
  status: finishedDaysAgo === undefined ? { active: 1, startTime: iso(3600_000) } : {
    startTime: iso(finishedDaysAgo * DAY + 60_000), ...(opts.failed ? { failed: 1 } : { succeeded: 1, completionTime: iso(finishedDaysAgo * DAY) }),
    conditions: [{ type: opts.failed ? 'Failed' : 'Complete', status: 'True', lastTransitionTime: iso(finishedDaysAgo * DAY) }],
  },
})
job('migrate-old', 30)
job('migrate-recent', 2)
job('still-running', undefined)
job('own-ttl', 30, { ttl: 3600 })
job('keep-me', 30, { labels: { 'caretaker.dev/protected': 'true' } })
for (const [i, days] of [10, 11, 12, 13].entries()) job(`report-ok-${i}`, days, { owner: true })
job('report-failed-0', 20, { owner: true, failed: true })
job('report-failed-1', 21, { owner: true, failed: true })

const deployment = kube.store.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: ns }, spec: { replicas: 2, revisionHistoryLimit: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } })
for (let rev = 1; rev <= 6; rev++) {
  kube.store.seed({
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name: `web-rev${rev}`, namespace: ns, annotations: { 'deployment.kubernetes.io/revision': String(rev) }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: (deployment.metadata as { uid: string }).uid, controller: true }] },
    spec: { replicas: rev === 6 ? 2 : 0, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
    status: { replicas: rev === 6 ? 2 : 0 },
  })
}
const pvc = (name: string, ageDays: number, labels?: Record<string, string>) => kube.store.seed({
  apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: ns, creationTimestamp: iso(ageDays * DAY), ...(labels ? { labels } : {}) },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
})
pvc('data-web', 100)
pvc('orphan-old', 60)
pvc('orphan-new', 1)
pvc('orphan-kept', 60, { 'caretaker.dev/protected': 'true' })
kube.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: ns }, spec: { containers: [{ name: 'c', image: 'nginx' }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'data-web' } }] } })

const admin = kube.kubeConfig()
const names = async () => ({
  jobs: (await admin.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: ns })).items.map((j) => j.metadata!.name!).sort(),
  replicaSets: (await admin.makeApiClient(AppsV1Api).listNamespacedReplicaSet({ namespace: ns })).items.map((r) => r.metadata!.name!).sort(),
  pvcs: (await admin.makeApiClient(CoreV1Api).listNamespacedPersistentVolumeClaim({ namespace: ns })).items.map((p) => p.metadata!.name!).sort(),
})
const token = kube.mintServiceAccountToken('caretaker', 'clean-up-resources')
const start = (extra: Record<string, unknown>) => startTestFunction(cleanUp, {
  config: validateConfig<CleanUpConfig>({ namespaces: [ns], limits: { deletesPerSecond: 1000, pageSize: 3 }, jobs: { ttl: '7d' }, pvcs: { delete: true, grace: '30d' }, ...extra }, configSchema, 'test'),
  env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false' },
})
type Cleaned = { dryRun: boolean; capReached: boolean; counts: Record<string, number>; objects: Array<{ kind: string; name: string; action: string; reasons: string[] }> }
const run = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { method: 'POST', headers: binaryHeaders('dev.caretaker.resources.clean.requested', headers), body: '{}' })
  return { status: res.status, duplicate: res.headers.get('caretaker-duplicate'), body: await res.json() as Cleaned }
}
const action = (r: Cleaned, name: string) => r.objects.find((o) => o.name === name)

t.test('dry-run: the plan with a reason for each, nothing deleted', async (t) => {
  const before = await names()
  const fn = await start({})
  t.teardown(() => fn.stop())
  const r = (await run(fn.url, { 'ce-dryrun': 'true' })).body
  t.same(r.objects.filter((o) => o.action === 'would-delete').map((o) => o.name).sort(),
    ['migrate-old', 'orphan-old', 'report-failed-1', 'report-ok-2', 'report-ok-3', 'web-rev1', 'web-rev2', 'web-rev3'])
  t.match(action(r, 'migrate-recent'), { action: 'keep', reasons: ['finished less than 7d ago'] })
  t.match(action(r, 'own-ttl'), { action: 'keep', reasons: [/TTL of its own/] })
  t.match(action(r, 'keep-me'), { action: 'keep', reasons: ['protected by label'] })
  t.match(action(r, 'report-ok-0'), { action: 'keep', reasons: [/history limits/] })
  t.match(action(r, 'report-failed-0'), { action: 'keep', reasons: [/history limits/] })
  t.notOk(action(r, 'still-running'), 'a running Job is not looked at')
  t.notOk(action(r, 'web-rev6'), 'a ReplicaSet that runs Pods is not looked at')
  t.match(action(r, 'web-rev5'), { action: 'keep', reasons: [/revision history \(2\)/] })
  t.match(action(r, 'orphan-new'), { action: 'reported', reasons: [/younger than 30d/] })
  t.match(action(r, 'orphan-kept'), { action: 'reported', reasons: [/protected/] })
  t.notOk(action(r, 'data-web'), 'a mounted PVC is not reported')
  t.same(await names(), before, 'nothing was deleted')
})

t.test('the cap, then redelivery, then the rest', async (t) => {
  const capped = await start({ limits: { deletesPerSecond: 1000, pageSize: 3, maxDeletionsPerRun: 3 } })
  t.teardown(() => capped.stop())
  const first = await run(capped.url, { 'ce-id': 'clean-1' })
  t.equal(first.body.counts.deleted, 3)
  t.equal(first.body.counts.deferred, 5)
  t.equal(first.body.capReached, true)
  const again = await run(capped.url, { 'ce-id': 'clean-1' })
  t.equal(again.duplicate, 'true', 'a redelivery gets the recorded reply and deletes nothing more')
  const fn = await start({})
  t.teardown(() => fn.stop())
  await run(fn.url)
  const left = await names()
  t.same(left.jobs, ['keep-me', 'migrate-recent', 'own-ttl', 'report-failed-0', 'report-ok-0', 'report-ok-1', 'still-running'])
  t.same(left.replicaSets, ['web-rev4', 'web-rev5', 'web-rev6'])
  t.same(left.pvcs, ['data-web', 'orphan-kept', 'orphan-new'])
})

t.test('PVCs are only reported unless deletion is enabled', async (t) => {
  pvc('orphan-again', 90)
  const fn = await start({ pvcs: { delete: false } })
  t.teardown(() => fn.stop())
  const r = (await run(fn.url)).body
  t.match(action(r, 'orphan-again'), { action: 'reported', reasons: ['no Pod mounts it (deletion is not enabled)'] })
  t.ok((await names()).pvcs.includes('orphan-again'))
})

t.test('a namespace outside the configured ones is a 400', async (t) => {
  const fn = await start({})
  t.teardown(() => fn.stop())
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.resources.clean.requested'), body: JSON.stringify({ namespaces: ['kube-system'] }) })
  t.equal(res.status, 400)
  t.match(((await res.json()) as { message: string }).message, /kube-system are not configured/)
})

t.test('at scale the reply stays bounded: counts cover every object, the list the first acted on, the log all of them', async (t) => {
  const big = 'databases'
  const seedJob = (name: string, labels?: Record<string, string>) => kube.store.seed({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: big, ...(labels ? { labels } : {}) },
    spec: { template: { spec: podSpec } },
    status: { startTime: iso(40 * DAY), succeeded: 1, completionTime: iso(30 * DAY), conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: iso(30 * DAY) }] },
  })
  for (let i = 0; i < 650; i++) seedJob(`old-${String(i).padStart(4, '0')}`)
  for (let i = 0; i < 40; i++) seedJob(`kept-${i}`, { 'caretaker.dev/protected': 'true' })
  const fn = await startTestFunction(cleanUp, {
    config: validateConfig<CleanUpConfig>({ namespaces: [big], limits: { pageSize: 100 }, replicaSets: { enabled: false }, pvcs: { report: false } }, configSchema, 'test'),
    env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token },
  })
  t.teardown(() => fn.stop())
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.resources.clean.requested'), body: '{}' })
  t.equal(res.status, 200)
  const body = await res.json() as Cleaned & { omitted?: Record<string, number>; kept?: Record<string, number> }
  t.same(body.counts, { 'would-delete': 650, keep: 40 }, 'every object is counted')
  t.equal(body.objects.length, 500, 'at most 500 listed')
  t.ok(body.objects.every((o) => o.action === 'would-delete'), 'acted-on objects first')
  t.same(body.omitted, { 'would-delete': 150, keep: 40 }, 'what was left out, by action')
  t.same(body.kept, { 'protected by label': 40 }, 'kept objects counted by reason')
  const logged = fn.logLines().filter((l) => l.msg === 'clean-up object').map((l) => (l.object as { name: string }).name)
  t.equal(logged.length, 650, 'every object acted on is in the log')
  t.equal(new Set(logged).size, 650)
  t.ok(Buffer.byteLength(JSON.stringify(body)) < 256 * 1024, 'the reply is well under the body limit')
})

t.test('a PVC that a workload claims while no Pod runs is not unused', async (t) => {
  const space = 'databases'
  const claimPvc = (name: string) => kube.store.seed({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: space, creationTimestamp: iso(90 * DAY) }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } })
  const volume = (claimName: string) => ({ volumes: [{ name: 'v', persistentVolumeClaim: { claimName } }] })
  for (const name of ['cron-scratch', 'idle-data', 'db-config', 'data-db-0', 'data-db-1', 'data-db-x', 'truly-orphaned']) claimPvc(name)
  kube.store.seed({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'nightly', namespace: space }, spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template: { spec: { ...podSpec, ...volume('cron-scratch') } } } } } })
  kube.store.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'idle', namespace: space }, spec: { replicas: 0, selector: { matchLabels: { app: 'idle' } }, template: { metadata: { labels: { app: 'idle' } }, spec: { containers: [{ name: 'c', image: 'nginx' }], ...volume('idle-data') } } } })
  kube.store.seed({
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', namespace: space },
    spec: {
      replicas: 0, serviceName: 'db', selector: { matchLabels: { app: 'db' } },
      template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'c', image: 'postgres' }], ...volume('db-config') } },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  })
  const fn = await startTestFunction(cleanUp, {
    config: validateConfig<CleanUpConfig>({ namespaces: [space], jobs: { enabled: false }, replicaSets: { enabled: false }, pvcs: { delete: true, grace: '30d' } }, configSchema, 'test'),
    env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token },
  })
  t.teardown(() => fn.stop())
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.resources.clean.requested'), body: '{}' })
  t.equal(res.status, 200)
  const r = await res.json() as Cleaned
  t.match(action(r, 'cron-scratch'), { action: 'keep', reasons: ["used by CronJob nightly's pod template"] })
  t.match(action(r, 'idle-data'), { action: 'keep', reasons: ['used by Deployment idle (scaled to zero)'] })
  t.match(action(r, 'db-config'), { action: 'keep', reasons: ['used by StatefulSet db (scaled to zero)'] })
  t.match(action(r, 'data-db-0'), { action: 'keep', reasons: ["claimed by StatefulSet db's volumeClaimTemplate data (scaled to zero)"] })
  t.match(action(r, 'data-db-1'), { action: 'keep' })
  t.match(action(r, 'data-db-x'), { action: 'would-delete' }, 'not an ordinal: not the StatefulSet\'s')
  t.match(action(r, 'truly-orphaned'), { action: 'would-delete', reasons: ['no Pod mounts it, older than 30d'] })
})

t.test('a run stops at its deadline (CARETAKER_RUN_DEADLINE) and leaves the rest, reported, to the next', async (t) => {
  for (let i = 0; i < 6; i++) job(`batch-${i}`, 40)
  // Two deletes a second against a one-second deadline: most are left.
  const slow = await startTestFunction(cleanUp, {
    config: validateConfig<CleanUpConfig>({ namespaces: [ns], limits: { deletesPerSecond: 2, pageSize: 3 }, jobs: { ttl: '7d' }, replicaSets: { enabled: false }, pvcs: { report: false } }, configSchema, 'test'),
    env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false', CARETAKER_RUN_DEADLINE: '1' },
  })
  t.teardown(() => slow.stop())
  const r = (await run(slow.url)).body as Cleaned & { deadlineReached: boolean }
  t.equal(r.deadlineReached, true)
  t.equal(r.capReached, false, 'the cap was not what stopped it')
  const deferred = r.objects.filter((o) => o.action === 'deferred')
  t.ok(deferred.length >= 3, `${deferred.length} Jobs left for the next run`)
  t.equal(deferred.length + (r.counts.deleted ?? 0), 6, 'every Job is either deleted or reported deferred')
  for (const o of deferred) t.match(o.reasons.at(-1), /deadline is reached: left for the next run/)
  const next = await start({})
  t.teardown(() => next.stop())
  const rest = (await run(next.url)).body as Cleaned & { deadlineReached: boolean }
  t.equal(rest.deadlineReached, false)
  t.notOk((await names()).jobs.some((n) => n.startsWith('batch-')), 'the next run deleted the rest')
})
