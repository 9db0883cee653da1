import t from 'tap'
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

const code = (err: unknown): number | undefined => (err as { code?: number }).code
const body = (err: unknown): Record<string, unknown> => {
  const b = (err as { body?: unknown }).body
  return typeof b === 'string' ? JSON.parse(b) as Record<string, unknown> : (b as Record<string, unknown>)
}
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
const pod = (name: string, namespace: string, labels: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels, ...extra }, spec: { containers: [{ name: 'c', image: 'nginx' }] },
})

t.test('scale subresource, deletecollection, delete propagation', async (t) => {
  // No rollout controller: status is what the test writes.
  const sim = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => sim.close())
  const kc = sim.kubeConfig()
  const apps = kc.makeApiClient(AppsV1Api)
  const core = kc.makeApiClient(CoreV1Api)

  t.test('Deployment scale: get, replace, patch', async (t) => {
    await apps.createNamespacedDeployment({ namespace: 'production', body: {
      metadata: { name: 'web' },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web', tier: 'front' }, matchExpressions: [{ key: 'track', operator: 'In', values: ['stable', 'canary'] }] }, template: { metadata: { labels: { app: 'web', tier: 'front', track: 'stable' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
    } })
    const created = sim.store.get('apps/v1', 'Deployment', 'production', 'web')
    await apps.replaceNamespacedDeploymentStatus({ name: 'web', namespace: 'production', body: { ...created, status: { replicas: 2, readyReplicas: 2 } } })
    const scale = await apps.readNamespacedDeploymentScale({ name: 'web', namespace: 'production' })
    t.equal(scale.kind, 'Scale')
    t.equal(scale.apiVersion, 'autoscaling/v1')
    t.equal(scale.metadata?.name, 'web')
    t.equal(scale.metadata?.uid, created?.metadata?.uid)
    t.equal(scale.spec?.replicas, 2)
    t.same(scale.status, { replicas: 2, selector: 'app=web,tier=front,track in (canary,stable)' }, 'the selector as a string')

    const replaced = await apps.replaceNamespacedDeploymentScale({ name: 'web', namespace: 'production', body: { ...scale, spec: { replicas: 5 } } })
    t.equal(replaced.spec?.replicas, 5)
    const d = await apps.readNamespacedDeployment({ name: 'web', namespace: 'production' })
    t.equal(d.spec?.replicas, 5, 'the Deployment follows')
    t.equal(d.metadata?.generation, 2, 'a spec change')
    t.equal(d.status?.readyReplicas, 2, 'status untouched')
    t.equal(replaced.metadata?.resourceVersion, d.metadata?.resourceVersion)

    const stale = await apps.replaceNamespacedDeploymentScale({ name: 'web', namespace: 'production', body: { ...scale, spec: { replicas: 7 } } }).catch((e: unknown) => e)
    t.equal(code(stale), 409, 'a stale resourceVersion conflicts')
    t.equal(body(stale).reason, 'Conflict')

    const patched = await apps.patchNamespacedDeploymentScale({ name: 'web', namespace: 'production', body: { spec: { replicas: 0 } } }, merge)
    t.equal(patched.spec?.replicas, 0)
    t.equal((await apps.readNamespacedDeployment({ name: 'web', namespace: 'production' })).spec?.replicas, 0)
    const strategic = await apps.patchNamespacedDeploymentScale({ name: 'web', namespace: 'production', body: { spec: { replicas: 3 } } }, setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch))
    t.equal(strategic.spec?.replicas, 3, 'a strategic merge patch (what kubectl scale sends)')
    const jsonPatch = await apps.patchNamespacedDeploymentScale({ name: 'web', namespace: 'production', body: [{ op: 'replace', path: '/spec/replicas', value: 4 }] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch))
    t.equal(jsonPatch.spec?.replicas, 4, 'a JSON patch')

    const negative = await apps.patchNamespacedDeploymentScale({ name: 'web', namespace: 'production', body: { spec: { replicas: -1 } } }, merge).catch((e: unknown) => e)
    t.equal(code(negative), 422)
    t.match(body(negative), { reason: 'Invalid', message: 'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0', details: { causes: [{ field: 'spec.replicas' }] } })
    const missing = await apps.readNamespacedDeploymentScale({ name: 'nope', namespace: 'production' }).catch((e: unknown) => e)
    t.equal(code(missing), 404)
    t.match(body(missing), { reason: 'NotFound', details: { name: 'nope', group: 'apps', kind: 'deployments' } })
  })

  t.test('StatefulSet scale', async (t) => {
    await apps.createNamespacedStatefulSet({ namespace: 'production', body: {
      metadata: { name: 'db' },
      spec: { serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'c', image: 'postgres' }] } } },
    } })
    const scale = await apps.readNamespacedStatefulSetScale({ name: 'db', namespace: 'production' })
    t.same([scale.spec?.replicas, scale.status?.replicas, scale.status?.selector], [1, 0, 'app=db'], 'replicas default to 1')
    const patched = await apps.patchNamespacedStatefulSetScale({ name: 'db', namespace: 'production', body: { spec: { replicas: 3 } } }, merge)
    t.equal(patched.spec?.replicas, 3)
    t.equal((await apps.readNamespacedStatefulSet({ name: 'db', namespace: 'production' })).spec?.replicas, 3)
    const replaced = await apps.replaceNamespacedStatefulSetScale({ name: 'db', namespace: 'production', body: { metadata: { name: 'db', namespace: 'production' }, spec: { replicas: 1 } } })
    t.equal(replaced.spec?.replicas, 1, 'a replace without resourceVersion')
  })

  t.test('deletecollection with a label selector', async (t) => {
    for (const [name, app] of [['a1', 'a'], ['a2', 'a'], ['b1', 'b']] as const) sim.store.seed(pod(name, 'batch', { app }))
    sim.store.seed(pod('a-elsewhere', 'other', { app: 'a' }))
    const deleted: string[] = []
    const off = sim.onChange((e) => { if (e.type === 'DELETED') deleted.push(String(e.object.metadata?.name)) })
    t.teardown(off)
    const res = await core.deleteCollectionNamespacedPod({ namespace: 'batch', labelSelector: 'app=a' })
    t.ok(res, 'an answer')
    t.same(deleted.sort(), ['a1', 'a2'])
    t.same((await core.listNamespacedPod({ namespace: 'batch' })).items.map((p) => p.metadata?.name), ['b1'])
    t.ok(sim.store.get('v1', 'Pod', 'other', 'a-elsewhere'), 'another namespace is untouched')
    const raw = await fetch(`${sim.url}/api/v1/namespaces/batch/pods?labelSelector=app%3Db`, { method: 'DELETE', headers: { authorization: `Bearer ${sim.token}` } })
    t.equal(raw.status, 200)
    t.match(await raw.json(), { kind: 'PodList', items: [{ metadata: { name: 'b1' } }] })
    await core.deleteCollectionNamespacedConfigMap({ namespace: 'batch' })
    t.same((await core.listNamespacedPod({ namespace: 'batch' })).items, [])
  })

  t.test('finalizers hold an object until a patch clears them', async (t) => {
    sim.store.seed(pod('held', 'fin', { app: 'x' }, { finalizers: ['example.com/cleanup'] }))
    const first = await core.deleteNamespacedPod({ name: 'held', namespace: 'fin' })
    t.ok(first.metadata?.deletionTimestamp)
    const kept = await core.readNamespacedPod({ name: 'held', namespace: 'fin' })
    t.ok(kept.metadata?.deletionTimestamp, 'still there, marked for deletion')
    t.same(kept.metadata?.finalizers, ['example.com/cleanup'])
    await core.deleteNamespacedPod({ name: 'held', namespace: 'fin' })
    t.equal(new Date(String(sim.store.get('v1', 'Pod', 'fin', 'held')?.metadata?.deletionTimestamp)).getTime(), kept.metadata?.deletionTimestamp?.getTime(), 'a second delete keeps the timestamp')
    await core.patchNamespacedPod({ name: 'held', namespace: 'fin', body: { metadata: { finalizers: null } } }, merge)
    t.equal(code(await core.readNamespacedPod({ name: 'held', namespace: 'fin' }).catch((e: unknown) => e)), 404, 'gone once the finalizers are')
  })

  t.test('propagation: Background, Foreground, Orphan', async (t) => {
    const owned = (name: string, owner: { metadata?: { name?: string, uid?: string } }, extra: Record<string, unknown> = {}) =>
      ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'gc', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: owner.metadata?.name ?? '', uid: owner.metadata?.uid ?? '', blockOwnerDeletion: true }], ...extra } })

    const bg = sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bg', namespace: 'gc' } })
    sim.store.seed(owned('bg-child', bg))
    sim.store.seed(owned('bg-grandchild', sim.store.get('v1', 'ConfigMap', 'gc', 'bg-child') ?? {}))
    await core.deleteNamespacedConfigMap({ name: 'bg', namespace: 'gc', propagationPolicy: 'Background' })
    t.equal(sim.store.get('v1', 'ConfigMap', 'gc', 'bg-child'), undefined, 'Background takes dependents')
    t.equal(sim.store.get('v1', 'ConfigMap', 'gc', 'bg-grandchild'), undefined, 'and theirs')

    const orphan = sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'orphan', namespace: 'gc' } })
    sim.store.seed(owned('orphan-child', orphan))
    await core.deleteNamespacedConfigMap({ name: 'orphan', namespace: 'gc', propagationPolicy: 'Orphan' })
    t.equal(sim.store.get('v1', 'ConfigMap', 'gc', 'orphan'), undefined)
    const left = sim.store.get('v1', 'ConfigMap', 'gc', 'orphan-child')
    t.ok(left, 'Orphan leaves dependents')
    t.same(left?.metadata?.ownerReferences, [], 'without the reference to the deleted owner')

    const fg = sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fg', namespace: 'gc' } })
    sim.store.seed(owned('fg-child', fg))
    sim.store.seed(owned('fg-held', fg, { finalizers: ['example.com/slow'] }))
    await core.deleteNamespacedConfigMap({ name: 'fg', namespace: 'gc', propagationPolicy: 'Foreground' })
    const waiting = sim.store.get('v1', 'ConfigMap', 'gc', 'fg')
    t.same(waiting?.metadata?.finalizers, ['foregroundDeletion'], 'Foreground: the owner waits for its dependents')
    t.ok(waiting?.metadata?.deletionTimestamp)
    t.equal(sim.store.get('v1', 'ConfigMap', 'gc', 'fg-child'), undefined, 'a dependent without finalizers is gone')
    t.ok(sim.store.get('v1', 'ConfigMap', 'gc', 'fg-held')?.metadata?.deletionTimestamp, 'one with finalizers is marked')
    t.ok(sim.store.get('v1', 'ConfigMap', 'gc', 'fg'), 'so the owner is still there')
    await core.patchNamespacedConfigMap({ name: 'fg-held', namespace: 'gc', body: { metadata: { finalizers: null } } }, merge)
    t.equal(sim.store.get('v1', 'ConfigMap', 'gc', 'fg-held'), undefined)
    t.equal(sim.store.get('v1', 'ConfigMap', 'gc', 'fg'), undefined, 'the owner goes with its last dependent')

    const held = sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'held-owner', namespace: 'gc', finalizers: ['example.com/x'] } })
    sim.store.seed(owned('held-child', held))
    await core.deleteNamespacedConfigMap({ name: 'held-owner', namespace: 'gc' })
    t.ok(sim.store.get('v1', 'ConfigMap', 'gc', 'held-child'), 'Background waits while the owner is held by a finalizer')
    await core.patchNamespacedConfigMap({ name: 'held-owner', namespace: 'gc', body: { metadata: { finalizers: null } } }, merge)
    t.equal(sim.store.get('v1', 'ConfigMap', 'gc', 'held-child'), undefined, 'then its dependents go')

    const a = sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner-a', namespace: 'gc' } })
    const b = sim.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner-b', namespace: 'gc' } })
    const two = owned('two-owners', a)
    two.metadata.ownerReferences.push({ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner-b', uid: String((b.metadata as { uid?: string }).uid), blockOwnerDeletion: true })
    sim.store.seed(two)
    await core.deleteNamespacedConfigMap({ name: 'owner-a', namespace: 'gc' })
    t.same((sim.store.get('v1', 'ConfigMap', 'gc', 'two-owners')?.metadata?.ownerReferences as Array<{ name: string }>).map((r) => r.name), ['owner-b'], 'a dependent with another owner stays')
  })
})
