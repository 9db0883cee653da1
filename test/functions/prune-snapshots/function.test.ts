import { readFile } from 'node:fs/promises'
import t from 'tap'
import { CustomObjectsApi } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import pruneSnapshots from '../../../functions/prune-snapshots/index.ts'
import { configSchema, type PruneConfig } from '../../../functions/prune-snapshots/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// prune-snapshots end to end in the Kubernetes simulator, with exactly the
// RBAC of its manifest: the plan, the never-delete rules, the floor,
// pagination, retries, a persistent failure, the cap, dry-run, redelivery.

const HOUR = 3_600_000
const DAY = 24 * HOUR
const now = Date.now()
const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
for (const ns of ['caretaker', 'production', 'databases', 'longhorn-system']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
for (const d of parseAllDocuments(await readFile(new URL('../../../manifests/prune-snapshots/rbac.yaml', import.meta.url), 'utf8'))) kube.store.seed(d.toJSON() as Record<string, unknown>)

const vs = (name: string, pvc: string, ageMs: number, extra: { ready?: boolean; labels?: Record<string, string> } = {}) => kube.store.seed({
  apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot',
  metadata: { name, namespace: 'production', ...(extra.labels ? { labels: extra.labels } : {}), creationTimestamp: new Date(now - ageMs).toISOString() },
  spec: { volumeSnapshotClassName: 'longhorn', source: { persistentVolumeClaimName: pvc } },
  status: { readyToUse: extra.ready ?? true, creationTime: new Date(now - ageMs).toISOString(), restoreSize: '1Gi' },
})
// data-a: one snapshot a day for 40 days; day 5's is not ready, day 20's protected, day 25's being restored from.
for (let i = 0; i < 40; i++) {
  const name = `a-${String(i).padStart(2, '0')}`
  vs(name, 'data-a', i * DAY + 2 * HOUR, { ready: i !== 5, ...(i === 20 ? { labels: { 'caretaker.dev/protected': 'true' } } : {}) })
}
kube.store.seed({
  apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'restore-a', namespace: 'production' },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'a-25' } },
})
// data-b: everything older than the maximum age; the newest must survive.
for (const [i, age] of [35, 40, 45].entries()) vs(`b-${i}`, 'data-b', age * DAY)

const admin = kube.kubeConfig().makeApiClient(CustomObjectsApi)
const remaining = async () => ((await admin.listNamespacedCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', namespace: 'production', plural: 'volumesnapshots' })) as { items: Array<{ metadata: { name: string } }> }).items.map((o) => o.metadata.name).sort()

const token = kube.mintServiceAccountToken('caretaker', 'prune-snapshots')
const config = (limits: Partial<PruneConfig['limits']>): PruneConfig => validateConfig({
  limits: { pageSize: 10, deletesPerSecond: 1000, ...limits },
  policies: [{ name: 'csi', kind: 'VolumeSnapshot', namespaces: ['production'], keepDaily: 7, maxAge: '30d', grace: '1h' }],
}, configSchema, 'test')
const start = (limits: Partial<PruneConfig['limits']>) => startTestFunction(pruneSnapshots, { config: config(limits), env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false' } })

type Pruned = { dryRun: boolean; capReached: boolean; policies: Array<{ listed: number; kept: number; deleted: number; failed: number; deferred: number; objects: Array<{ name: string; action: string; reasons: string[] }> }> }
const run = async (url: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { method: 'POST', headers: binaryHeaders('dev.caretaker.snapshots.prune.requested', headers), body: '{}' })
  return { status: res.status, duplicate: res.headers.get('caretaker-duplicate'), body: await res.json() as Pruned }
}
const expectedDeleted = [...Array.from({ length: 32 }, (_, i) => `a-${String(i + 8).padStart(2, '0')}`).filter((n) => n !== 'a-20' && n !== 'a-25'), 'b-1', 'b-2'].sort()

t.test('dry-run: the plan, every reason, nothing deleted', async (t) => {
  const fn = await start({ maxDeletionsPerRun: 1000 })
  t.teardown(() => fn.stop())
  const r = await run(fn.url, { 'ce-dryrun': 'true' })
  t.equal(r.status, 200)
  const p = r.body.policies[0]!
  t.equal(p.listed, 43, 'every snapshot listed, across pages of 10')
  const byName = new Map(p.objects.map((o) => [o.name, o]))
  t.same(p.objects.filter((o) => o.action === 'would-delete').map((o) => o.name).sort(), expectedDeleted)
  t.same(byName.get('a-05')?.reasons, ['not ready'])
  t.same(byName.get('a-20')?.reasons, ['protected by label'])
  t.same(byName.get('a-25')?.reasons, ['in use: a PVC is restored from it'])
  t.match(byName.get('a-00')?.reasons, ['the newest ready snapshot of its volume', /^keep-daily 7/])
  t.equal(byName.get('b-0')?.reasons[0], 'the newest ready snapshot of its volume', 'the floor survives the maximum age that deletes the rest of its volume')
  t.same(byName.get('b-1')?.reasons, ['older than the maximum age'])
  t.equal((await remaining()).length, 43, 'nothing was deleted')
})

t.test('the cap stops a run; a redelivery deletes nothing more', async (t) => {
  const fn = await start({ maxDeletionsPerRun: 5 })
  t.teardown(() => fn.stop())
  const first = await run(fn.url, { 'ce-id': 'prune-cap-1' })
  t.equal(first.body.policies[0]!.deleted, 5)
  t.equal(first.body.policies[0]!.deferred, 27)
  t.equal(first.body.capReached, true)
  t.equal((await remaining()).length, 38)
  const again = await run(fn.url, { 'ce-id': 'prune-cap-1' })
  t.equal(again.duplicate, 'true', 'the redelivery gets the recorded reply')
  t.equal((await remaining()).length, 38, 'and deletes nothing')
})

t.test('retries on 429 and 503, reports a persistent failure, finishes the rest', async (t) => {
  const fn = await start({ maxDeletionsPerRun: 1000 })
  t.teardown(() => fn.stop())
  kube.faults.failNext(1, 'DELETE', '/apis/snapshot.storage.k8s.io/v1/namespaces/production/volumesnapshots/', 429)
  kube.faults.failNext(1, 'DELETE', '/apis/snapshot.storage.k8s.io/v1/namespaces/production/volumesnapshots/', 503)
  kube.faults.add({ method: 'DELETE', path: '/apis/snapshot.storage.k8s.io/v1/namespaces/production/volumesnapshots/a-30', status: 500, times: Infinity })
  const r = await run(fn.url)
  const p = r.body.policies[0]!
  t.equal(r.status, 200)
  t.same(p.objects.filter((o) => o.action === 'failed').map((o) => o.name), ['a-30'], 'the one that keeps failing is reported')
  t.match(p.objects.find((o) => o.name === 'a-30')?.reasons.at(-1), /500|Internal/)
  t.equal(p.failed, 1)
  t.equal(p.deferred, 0)
  const left = await remaining()
  t.same(left, ['a-00', 'a-01', 'a-02', 'a-03', 'a-04', 'a-05', 'a-06', 'a-07', 'a-20', 'a-25', 'a-30', 'b-0'], 'everything else the plan deleted is gone, the rest kept')
  kube.faults.clear()
})

t.test('its RBAC is the manifest\'s: a namespace it is not bound in is refused', async (t) => {
  const fn = await startTestFunction(pruneSnapshots, {
    config: validateConfig({ policies: [{ name: 'elsewhere', kind: 'VolumeSnapshot', namespaces: ['kube-system'], keepLast: 1 }] }, configSchema, 'test'),
    env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token },
  })
  t.teardown(() => fn.stop())
  const r = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.snapshots.prune.requested'), body: '{}' })
  t.equal(r.status, 502, 'forbidden by RBAC: the dependency refused')
  t.match(((await r.json()) as { message: string }).message, /Forbidden/)
})

t.test('Longhorn backups: state Completed is ready, grouped by volume', async (t) => {
  const lh = (name: string, volume: string, ageDays: number, state: string) => kube.store.seed({
    apiVersion: 'longhorn.io/v1beta2', kind: 'Backup',
    metadata: { name, namespace: 'longhorn-system', creationTimestamp: new Date(now - ageDays * DAY).toISOString() },
    spec: { snapshotName: `snap-${name}` },
    status: { state, volumeName: volume, backupCreatedAt: new Date(now - ageDays * DAY).toISOString() },
  })
  lh('v1-new', 'pvc-1', 1, 'Completed')
  lh('v1-error', 'pvc-1', 2, 'Error')
  lh('v1-old', 'pvc-1', 20, 'Completed')
  lh('v2-old', 'pvc-2', 30, 'Completed')
  lh('v2-older', 'pvc-2', 31, 'Completed')
  const fn = await startTestFunction(pruneSnapshots, {
    config: validateConfig({ limits: { deletesPerSecond: 1000 }, policies: [{ name: 'lh', kind: 'LonghornBackup', namespaces: ['longhorn-system'], keepDaily: 14, maxAge: '14d', grace: '1h' }] }, configSchema, 'test'),
    env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false' },
  })
  t.teardown(() => fn.stop())
  const r = await run(fn.url)
  const objects = new Map(r.body.policies[0]!.objects.map((o) => [o.name, o]))
  t.equal(objects.get('v1-error')?.action, 'keep', 'a backup in Error is not ready: kept, never deleted')
  t.equal(objects.get('v1-old')?.action, 'deleted')
  t.equal(objects.get('v2-old')?.action, 'keep', 'the newest of its volume, though past the maximum age')
  t.equal(objects.get('v2-older')?.action, 'deleted')
  const left = ((await admin.listNamespacedCustomObject({ group: 'longhorn.io', version: 'v1beta2', namespace: 'longhorn-system', plural: 'backups' })) as { items: Array<{ metadata: { name: string } }> }).items.map((o) => o.metadata.name).sort()
  t.same(left, ['v1-error', 'v1-new', 'v2-old'])
})

t.test('Longhorn snapshots: readyToUse is ready, grouped by spec.volume', async (t) => {
  const snap = (name: string, volume: string, ageDays: number, readyToUse: boolean) => kube.store.seed({
    apiVersion: 'longhorn.io/v1beta2', kind: 'Snapshot',
    metadata: { name, namespace: 'longhorn-system', creationTimestamp: new Date(now - ageDays * DAY).toISOString() },
    spec: { volume, createSnapshot: true },
    status: { readyToUse, creationTime: new Date(now - ageDays * DAY).toISOString() },
  })
  snap('s1-new', 'pvc-a', 1, true)
  snap('s1-mid', 'pvc-a', 3, true)
  snap('s1-broken', 'pvc-a', 9, false)
  snap('s1-old', 'pvc-a', 10, true)
  snap('s2-only', 'pvc-b', 40, true)
  const fn = await startTestFunction(pruneSnapshots, {
    config: validateConfig({ limits: { deletesPerSecond: 1000 }, policies: [{ name: 'lh-snap', kind: 'LonghornSnapshot', namespaces: ['longhorn-system'], keepLast: 2, grace: '1h' }] }, configSchema, 'test'),
    env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false' },
  })
  t.teardown(() => fn.stop())
  const r = await run(fn.url)
  const objects = new Map(r.body.policies[0]!.objects.map((o) => [o.name, o]))
  t.equal(objects.get('s1-old')?.action, 'deleted', 'beyond the last 2 of its volume')
  t.equal(objects.get('s1-broken')?.action, 'keep', 'not ready: never deleted')
  t.equal(objects.get('s2-only')?.action, 'keep', 'the only one of its volume')
  const left = ((await admin.listNamespacedCustomObject({ group: 'longhorn.io', version: 'v1beta2', namespace: 'longhorn-system', plural: 'snapshots' })) as { items: Array<{ metadata: { name: string } }> }).items.map((o) => o.metadata.name).sort()
  t.same(left, ['s1-broken', 's1-mid', 's1-new', 's2-only'])
})

t.test('a run stops at its deadline (CARETAKER_RUN_DEADLINE) and leaves the rest, reported, to the next', async (t) => {
  // data-c: six snapshots past the maximum age; all but the newest go.
  for (let i = 0; i < 6; i++) vs(`c-${i}`, 'data-c', (31 + i) * DAY)
  const slow = await startTestFunction(pruneSnapshots, { config: config({ deletesPerSecond: 2 }), env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false', CARETAKER_RUN_DEADLINE: '1' } })
  t.teardown(() => slow.stop())
  const r = (await run(slow.url)).body as Pruned & { deadlineReached: boolean }
  t.equal(r.deadlineReached, true)
  t.equal(r.capReached, false, 'the cap was not what stopped it')
  const c = r.policies[0]!.objects.filter((o) => o.name.startsWith('c-') && o.name !== 'c-0')
  t.equal(c.length, 5)
  const deferred = c.filter((o) => o.action === 'deferred')
  t.ok(deferred.length >= 2, `${deferred.length} left for the next run`)
  t.ok(c.every((o) => o.action === 'deleted' || o.action === 'deferred'))
  for (const o of deferred) t.match(o.reasons.at(-1), /deadline is reached: left for the next run/)
  const next = await start({})
  t.teardown(() => next.stop())
  const rest = (await run(next.url)).body as Pruned & { deadlineReached: boolean }
  t.equal(rest.deadlineReached, false)
  t.same((await remaining()).filter((n) => n.startsWith('c-')), ['c-0'], 'the next run deleted the rest; the newest is kept')
})
