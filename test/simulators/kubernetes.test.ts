import t from 'tap'
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, Watch, setHeaderOptions } from '@kubernetes/client-node'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

const code = (err: unknown): number | undefined => (err as { code?: number }).code
const body = (err: unknown): Record<string, unknown> => {
  const b = (err as { body?: unknown }).body
  return typeof b === 'string' ? JSON.parse(b) as Record<string, unknown> : (b as Record<string, unknown>)
}

t.test('Kubernetes simulator through @kubernetes/client-node', async (t) => {
  // The store's own semantics: no controller writes status meanwhile (a rollout controller acting 50 ms after a
  // create would race the status this test writes itself, on a loaded machine: a 409 for a stale resourceVersion).
  const sim = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => sim.close())
  const kc = sim.kubeConfig()
  const core = kc.makeApiClient(CoreV1Api)
  const apps = kc.makeApiClient(AppsV1Api)

  t.test('CRUD, 409 on stale update and AlreadyExists', async (t) => {
    const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'one', labels: { app: 'a' } }, data: { k: 'v' } } })
    t.ok(cm.metadata?.uid)
    t.equal(cm.metadata?.namespace, 'default')
    const dup = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'one' } } }).catch((e: unknown) => e)
    t.equal(code(dup), 409)
    t.equal(body(dup).reason, 'AlreadyExists')
    const upd = await core.replaceNamespacedConfigMap({ name: 'one', namespace: 'default', body: { ...cm, data: { k: 'w' } } })
    t.not(upd.metadata?.resourceVersion, cm.metadata?.resourceVersion)
    const stale = await core.replaceNamespacedConfigMap({ name: 'one', namespace: 'default', body: { ...cm, data: { k: 'x' } } }).catch((e: unknown) => e)
    t.equal(code(stale), 409)
    t.equal(body(stale).reason, 'Conflict')
    const missing = await core.readNamespacedConfigMap({ name: 'nope', namespace: 'default' }).catch((e: unknown) => e)
    t.equal(code(missing), 404)
    t.match(body(missing), { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, details: { name: 'nope', kind: 'configmaps' } })
  })

  t.test('generation bumps on spec change only; status subresource', async (t) => {
    const d = await apps.createNamespacedDeployment({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } } })
    t.equal(d.metadata?.generation, 1)
    const s = await apps.replaceNamespacedDeploymentStatus({ name: 'web', namespace: 'default', body: { ...d, status: { readyReplicas: 1 } } })
    t.equal(s.status?.readyReplicas, 1)
    t.equal(s.metadata?.generation, 1)
    const p = await apps.patchNamespacedDeployment({ name: 'web', namespace: 'default', body: { spec: { replicas: 3 }, status: { readyReplicas: 9 } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
    t.equal(p.spec?.replicas, 3)
    t.equal(p.metadata?.generation, 2)
    t.equal(p.status?.readyReplicas, 1, 'main resource ignores status')
  })

  t.test('selectors and pagination', async (t) => {
    for (let i = 0; i < 7; i++) await core.createNamespacedPod({ namespace: 'pg', body: { metadata: { name: `p${i}`, namespace: 'pg', labels: { tier: i % 2 ? 'odd' : 'even' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } })
    const odd = await core.listNamespacedPod({ namespace: 'pg', labelSelector: 'tier in (odd)' })
    t.same(odd.items.map((p) => p.metadata?.name), ['p1', 'p3', 'p5'])
    const notEven = await core.listNamespacedPod({ namespace: 'pg', labelSelector: 'tier!=even,tier' })
    t.equal(notEven.items.length, 3)
    const byName = await core.listNamespacedPod({ namespace: 'pg', fieldSelector: 'metadata.name=p4' })
    t.same(byName.items.map((p) => p.metadata?.name), ['p4'])
    const names: string[] = []
    let cont: string | undefined
    let pages = 0
    do {
      const page = await core.listNamespacedPod({ namespace: 'pg', limit: 3, _continue: cont })
      names.push(...page.items.map((p) => p.metadata?.name ?? ''))
      cont = page.metadata?._continue
      pages++
    } while (cont)
    t.equal(pages, 3)
    t.same(names, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'])
  })

  t.test('watch ADDED/MODIFIED/DELETED and resume', async (t) => {
    const start = await core.listNamespacedConfigMap({ namespace: 'w' })
    const rv = start.metadata?.resourceVersion
    const seen: string[] = []
    const w = new Watch(kc)
    const done = new Promise<void>((resolve) => {
      void w.watch('/api/v1/namespaces/w/configmaps', { resourceVersion: rv }, (type: string, obj: { metadata?: { name?: string } }) => {
        seen.push(`${type}:${obj.metadata?.name}`)
        if (type === 'DELETED') resolve()
      }, () => undefined).then((req) => t.teardown(() => req.abort()))
    })
    await new Promise((r) => setTimeout(r, 100))
    await core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'x' } } })
    await core.patchNamespacedConfigMap({ name: 'x', namespace: 'w', body: { data: { a: 'b' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))
    await core.deleteNamespacedConfigMap({ name: 'x', namespace: 'w' })
    await done
    t.same(seen, ['ADDED:x', 'MODIFIED:x', 'DELETED:x'])
    // Resuming from the start replays the same history.
    const replay: string[] = []
    await new Promise<void>((resolve) => {
      void w.watch('/api/v1/namespaces/w/configmaps', { resourceVersion: rv }, (type: string) => { replay.push(type); if (type === 'DELETED') resolve() }, () => undefined).then((req) => t.teardown(() => req.abort()))
    })
    t.same(replay, ['ADDED', 'MODIFIED', 'DELETED'])
  })

  t.test('finalizers and cascade delete', async (t) => {
    const owner = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'owner' } } })
    await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'owned', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' }] } } })
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: 'default' })
    t.equal(code(await core.readNamespacedSecret({ name: 'owned', namespace: 'default' }).catch((e: unknown) => e)), 404)
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'fin', finalizers: ['x/y'] } } })
    await core.deleteNamespacedConfigMap({ name: 'fin', namespace: 'default' })
    const kept = await core.readNamespacedConfigMap({ name: 'fin', namespace: 'default' })
    t.ok(kept.metadata?.deletionTimestamp)
    await core.replaceNamespacedConfigMap({ name: 'fin', namespace: 'default', body: { ...kept, metadata: { ...kept.metadata, finalizers: [] } } })
    t.equal(code(await core.readNamespacedConfigMap({ name: 'fin', namespace: 'default' }).catch((e: unknown) => e)), 404)
  })

  t.test('422 Invalid with field causes', async (t) => {
    const bad = await fetch(`${sim.url}/apis/apps/v1/namespaces/default/deployments`, { method: 'POST', headers: { authorization: `Bearer ${sim.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'bad' }, spec: { replicas: 'three', selector: {}, template: {} } }) })
    t.equal(bad.status, 422)
    t.match(await bad.json(), { kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422, details: { name: 'bad', group: 'apps', kind: 'Deployment', causes: [{ reason: 'FieldValueInvalid', field: 'spec.replicas' }] } })
    const custom = kc.makeApiClient(CustomObjectsApi)
    const cert = await custom.createNamespacedCustomObject({ group: 'cert-manager.io', version: 'v1', namespace: 'default', plural: 'certificates', body: { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'bad' }, spec: { secretName: 's' } } }).catch((e: unknown) => e)
    t.equal(code(cert), 422)
    t.match(body(cert), { reason: 'Invalid', details: { kind: 'Certificate', causes: [{ reason: 'FieldValueRequired', field: 'spec.issuerRef' }] } })
    const ok = await custom.createNamespacedCustomObject({ group: 'cert-manager.io', version: 'v1', namespace: 'default', plural: 'certificates', body: { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'good' }, spec: { secretName: 's', issuerRef: { name: 'ca' } } } }) as { metadata?: { uid?: string } }
    t.ok(ok.metadata?.uid)
  })

  t.test('a Secret\'s base64 may be wrapped (as kustomize writes it), never otherwise broken', async (t) => {
    const text = 'bearerToken: a-token-long-enough-that-its-base64-wraps-at-seventy-six-columns\n'
    const b64 = Buffer.from(text).toString('base64')
    const wrapped = b64.replace(/(.{76})/g, '$1\n')
    t.ok(wrapped.includes('\n'), 'wrapped')
    const secret = await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'wrapped' }, data: { 'config.yaml': wrapped } } })
    t.equal(secret.data?.['config.yaml'], b64, 'stored and returned unwrapped, as the API server does')
    const spaced = await core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'spaced' }, data: { 'config.yaml': b64.replace(/(.{76})/g, '$1 ') } } }).catch((e: unknown) => e)
    t.equal(code(spaced), 422, 'a space is not base64')
    t.match(body(spaced), { reason: 'Invalid', details: { kind: 'Secret', causes: [{ field: 'data.config.yaml' }] } })
  })

  t.test('401 without a valid token; TokenReview', async (t) => {
    const res = await fetch(`${sim.url}/api/v1/namespaces/default/pods`)
    t.equal(res.status, 401)
    t.match(await res.json(), { kind: 'Status', reason: 'Unauthorized', code: 401 })
    const sa = sim.mintServiceAccountToken('ops', 'runner')
    const tr = await fetch(`${sim.url}/apis/authentication.k8s.io/v1/tokenreviews`, { method: 'POST', headers: { authorization: `Bearer ${sim.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: sa } }) })
    t.match(await tr.json(), { status: { authenticated: true, user: { username: 'system:serviceaccount:ops:runner' } } })
  })
})

t.test('delete preconditions: only the object as it was read', async (t) => {
  const sim = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => sim.close())
  const core = sim.kubeConfig().makeApiClient(CoreV1Api)
  const cm = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'c' }, data: { a: '1' } } })
  await core.replaceNamespacedConfigMap({ namespace: 'default', name: 'c', body: { ...cm, data: { a: '2' } } })
  const stale = await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'c', body: { preconditions: { resourceVersion: cm.metadata!.resourceVersion } } }).then(() => undefined, (err: { code?: number, body?: string }) => err)
  t.equal(stale?.code, 409, 'a changed object is not deleted')
  t.match(JSON.parse(stale?.body ?? '{}'), { reason: 'Conflict', message: /Precondition failed: ResourceVersion in precondition: \d+, ResourceVersion in object meta: \d+/ })
  const wrongUid = await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'c', body: { preconditions: { uid: 'not-its-uid' } } }).then(() => undefined, (err: { code?: number }) => err)
  t.equal(wrongUid?.code, 409, 'nor one with another uid')
  const current = await core.readNamespacedConfigMap({ namespace: 'default', name: 'c' })
  await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'c', body: { preconditions: { resourceVersion: current.metadata!.resourceVersion, uid: current.metadata!.uid } } })
  await t.rejects(core.readNamespacedConfigMap({ namespace: 'default', name: 'c' }), 'the current one is')
})
