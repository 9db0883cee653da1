import t from 'tap'
import { AppsV1Api, AuthorizationV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

const code = (err: unknown): number | undefined => (err as { code?: number }).code
const body = (err: unknown): Record<string, unknown> => {
  const b = (err as { body?: unknown }).body
  return typeof b === 'string' ? JSON.parse(b) as Record<string, unknown> : (b as Record<string, unknown>)
}
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
const SA = 'system:serviceaccount:caretaker:verify-backup'
const RBAC = 'rbac.authorization.k8s.io/v1'

const deployment = (name: string, namespace: string) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
})

t.test('RBAC decides what a ServiceAccount token may do', async (t) => {
  const sim = await startKubernetesSimulator()
  t.teardown(() => sim.close())
  const kcFor = (token: string): KubeConfig => {
    const kc = new KubeConfig()
    kc.loadFromOptions({ clusters: [{ name: 'sim', server: sim.url, skipTLSVerify: true }], users: [{ name: 'u', token }], contexts: [{ name: 'sim', cluster: 'sim', user: 'u' }], currentContext: 'sim' })
    return kc
  }
  for (const ns of ['production', 'staging']) for (const name of ['web', 'api']) sim.store.seed(deployment(name, ns))
  sim.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'production' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } })
  sim.store.seed({
    apiVersion: RBAC, kind: 'Role', metadata: { name: 'verify-backup', namespace: 'production' },
    rules: [
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['apps'], resources: ['deployments'], resourceNames: ['api'], verbs: ['patch'] },
      { apiGroups: ['apps'], resources: ['deployments/scale'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods', 'pods/log'], verbs: ['get', 'list'] },
    ],
  })
  sim.store.seed({ apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'verify-backup', namespace: 'production' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'verify-backup' }, subjects: [{ kind: 'ServiceAccount', name: 'verify-backup', namespace: 'caretaker' }] })

  const token = sim.mintServiceAccountToken('caretaker', 'verify-backup')
  const kc = kcFor(token)
  const apps = kc.makeApiClient(AppsV1Api)
  const core = kc.makeApiClient(CoreV1Api)
  const authz = kc.makeApiClient(AuthorizationV1Api)
  const admin = sim.kubeConfig()

  t.test('the Role\'s grants work', async (t) => {
    t.equal((await apps.readNamespacedDeployment({ name: 'web', namespace: 'production' })).metadata?.name, 'web')
    t.equal((await apps.listNamespacedDeployment({ namespace: 'production' })).items.length, 2)
    const patched = await apps.patchNamespacedDeployment({ name: 'api', namespace: 'production', body: { metadata: { labels: { checked: 'yes' } } } }, merge)
    t.equal(patched.metadata?.labels?.checked, 'yes', 'patch of a listed resourceName')
    t.equal((await apps.readNamespacedDeploymentScale({ name: 'web', namespace: 'production' })).spec?.replicas, 1, 'a granted subresource')
    t.same((await core.listNamespacedPod({ namespace: 'production' })).items.map((p) => p.metadata?.name), ['web-1'])
  })

  t.test('everything else is 403 with the real server\'s Status', async (t) => {
    const notListed = await apps.patchNamespacedDeployment({ name: 'web', namespace: 'production', body: { metadata: { labels: { a: 'b' } } } }, merge).catch((e: unknown) => e)
    t.equal(code(notListed), 403, 'a resourceName not listed')
    t.same(body(notListed), {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `deployments.apps "web" is forbidden: User "${SA}" cannot patch resource "deployments" in API group "apps" in the namespace "production"`,
      reason: 'Forbidden', details: { name: 'web', group: 'apps', kind: 'deployments' }, code: 403,
    })
    t.equal(sim.store.get('apps/v1', 'Deployment', 'production', 'web')?.metadata?.labels, undefined, 'nothing changed')

    const otherVerb = await apps.deleteNamespacedDeployment({ name: 'api', namespace: 'production' }).catch((e: unknown) => e)
    t.equal(code(otherVerb), 403, 'another verb')
    t.equal(body(otherVerb).message, `deployments.apps "api" is forbidden: User "${SA}" cannot delete resource "deployments" in API group "apps" in the namespace "production"`)

    const otherNs = await apps.readNamespacedDeployment({ name: 'web', namespace: 'staging' }).catch((e: unknown) => e)
    t.equal(code(otherNs), 403, 'another namespace')
    t.equal(body(otherNs).message, `deployments.apps "web" is forbidden: User "${SA}" cannot get resource "deployments" in API group "apps" in the namespace "staging"`)

    const otherResource = await core.listNamespacedSecret({ namespace: 'production' }).catch((e: unknown) => e)
    t.equal(code(otherResource), 403, 'another resource, no name, core group')
    t.same(body(otherResource), {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `secrets is forbidden: User "${SA}" cannot list resource "secrets" in API group "" in the namespace "production"`,
      reason: 'Forbidden', details: { kind: 'secrets' }, code: 403,
    })

    const sub = await apps.patchNamespacedDeploymentScale({ name: 'web', namespace: 'production', body: { spec: { replicas: 0 } } }, merge).catch((e: unknown) => e)
    t.equal(code(sub), 403, 'a subresource verb not granted')
    t.equal(body(sub).message, `deployments.apps "web" is forbidden: User "${SA}" cannot patch resource "deployments/scale" in API group "apps" in the namespace "production"`)
    t.same(body(sub).details, { name: 'web', group: 'apps', kind: 'deployments' })
    const status = await apps.readNamespacedDeploymentStatus({ name: 'web', namespace: 'production' }).catch((e: unknown) => e)
    t.equal(code(status), 403, 'deployments does not cover deployments/status')

    const cluster = await core.listNode().catch((e: unknown) => e)
    t.equal(code(cluster), 403)
    t.equal(body(cluster).message, `nodes is forbidden: User "${SA}" cannot list resource "nodes" in API group "" at the cluster scope`)
    const ns = await core.readNamespace({ name: 'production' }).catch((e: unknown) => e)
    t.equal(body(ns).message, `namespaces "production" is forbidden: User "${SA}" cannot get resource "namespaces" in API group "" in the namespace "production"`, 'a namespace is checked in itself')

    const collection = await core.deleteCollectionNamespacedPod({ namespace: 'production' }).catch((e: unknown) => e)
    t.equal(body(collection).message, `pods is forbidden: User "${SA}" cannot deletecollection resource "pods" in API group "" in the namespace "production"`)
    t.ok(sim.store.get('v1', 'Pod', 'production', 'web-1'), 'the pod is still there')

    const watch = await fetch(`${sim.url}/api/v1/namespaces/production/secrets?watch=1`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(watch.status, 403)
    t.match(await watch.json(), { message: /cannot watch resource "secrets"/ })
  })

  t.test('a change to a Role applies to the next request', async (t) => {
    const adminApps = admin.makeApiClient(AppsV1Api)
    await adminApps.readNamespacedDeployment({ name: 'web', namespace: 'production' })
    const rbac = `${sim.url}/apis/rbac.authorization.k8s.io/v1/namespaces/production/roles/verify-backup`
    const res = await fetch(rbac, { method: 'PATCH', headers: { authorization: `Bearer ${sim.token}`, 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'add', path: '/rules/-', value: { apiGroups: [''], resources: ['secrets'], verbs: ['list'] } }]) })
    t.equal(res.status, 200)
    t.same((await core.listNamespacedSecret({ namespace: 'production' })).items, [])
  })

  t.test('ClusterRole through a ClusterRoleBinding, and through a RoleBinding in one namespace', async (t) => {
    sim.store.seed({ apiVersion: RBAC, kind: 'ClusterRole', metadata: { name: 'node-reader' }, rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list'] }] })
    sim.store.seed({ apiVersion: RBAC, kind: 'ClusterRoleBinding', metadata: { name: 'verify-backup-nodes' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'node-reader' }, subjects: [{ kind: 'ServiceAccount', name: 'verify-backup', namespace: 'caretaker' }] })
    t.same((await core.listNode()).items, [])

    sim.store.seed({ apiVersion: RBAC, kind: 'ClusterRole', metadata: { name: 'configmap-editor' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['*'] }] })
    sim.store.seed({ apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'cm', namespace: 'staging' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'configmap-editor' }, subjects: [{ kind: 'ServiceAccount', name: 'verify-backup', namespace: 'caretaker' }] })
    const cm = await core.createNamespacedConfigMap({ namespace: 'staging', body: { metadata: { name: 'marker' }, data: { a: '1' } } })
    t.equal(cm.metadata?.namespace, 'staging')
    await core.deleteNamespacedConfigMap({ name: 'marker', namespace: 'staging' })
    const elsewhere = await core.createNamespacedConfigMap({ namespace: 'production', body: { metadata: { name: 'marker' } } }).catch((e: unknown) => e)
    t.equal(code(elsewhere), 403, 'the RoleBinding grants the ClusterRole in its namespace only')
    t.equal(body(elsewhere).message, `configmaps is forbidden: User "${SA}" cannot create resource "configmaps" in API group "" in the namespace "production"`)
    const all = await core.listConfigMapForAllNamespaces().catch((e: unknown) => e)
    t.equal(code(all), 403, 'nor across all namespaces')
    t.equal(body(all).message, `configmaps is forbidden: User "${SA}" cannot list resource "configmaps" in API group "" at the cluster scope`)
  })

  t.test('group subjects', async (t) => {
    sim.store.seed({ apiVersion: RBAC, kind: 'ClusterRole', metadata: { name: 'pod-lister' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] })
    sim.store.seed({ apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'caretaker-sas', namespace: 'shared' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'pod-lister' }, subjects: [{ kind: 'Group', name: 'system:serviceaccounts:caretaker', apiGroup: 'rbac.authorization.k8s.io' }] })
    sim.store.seed({ apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'all-sas', namespace: 'lobby' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'pod-lister' }, subjects: [{ kind: 'Group', name: 'system:serviceaccounts', apiGroup: 'rbac.authorization.k8s.io' }] })
    sim.store.seed({ apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'everyone', namespace: 'public' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'pod-lister' }, subjects: [{ kind: 'Group', name: 'system:authenticated', apiGroup: 'rbac.authorization.k8s.io' }] })
    const otherCore = kcFor(sim.mintServiceAccountToken('other', 'runner')).makeApiClient(CoreV1Api)
    const sibling = kcFor(sim.mintServiceAccountToken('caretaker', 'sibling')).makeApiClient(CoreV1Api)
    t.same((await core.listNamespacedPod({ namespace: 'shared' })).items, [])
    t.same((await sibling.listNamespacedPod({ namespace: 'shared' })).items, [], 'any ServiceAccount of caretaker')
    t.equal(code(await otherCore.listNamespacedPod({ namespace: 'shared' }).catch((e: unknown) => e)), 403, 'not one of another namespace')
    t.same((await otherCore.listNamespacedPod({ namespace: 'lobby' })).items, [], 'system:serviceaccounts')
    t.same((await otherCore.listNamespacedPod({ namespace: 'public' })).items, [], 'system:authenticated')
  })

  t.test('a binding to a missing role says so in the reason', async (t) => {
    sim.store.seed({ apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'dangling', namespace: 'empty' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'gone' }, subjects: [{ kind: 'ServiceAccount', name: 'verify-backup', namespace: 'caretaker' }] })
    const err = await core.listNamespacedPod({ namespace: 'empty' }).catch((e: unknown) => e)
    t.equal(body(err).message, `pods is forbidden: User "${SA}" cannot list resource "pods" in API group "" in the namespace "empty": RBAC: role.rbac.authorization.k8s.io "gone" not found`)
  })

  t.test('SelfSubjectAccessReview, SubjectAccessReview, SelfSubjectRulesReview', async (t) => {
    const can = async (resourceAttributes: Record<string, string>) => (await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes } } })).status
    t.same(await can({ verb: 'patch', group: 'apps', resource: 'deployments', name: 'api', namespace: 'production' }), { allowed: true, reason: 'RBAC: allowed by RoleBinding "verify-backup/production" of Role "verify-backup" to ServiceAccount "verify-backup/caretaker"' })
    t.equal((await can({ verb: 'patch', group: 'apps', resource: 'deployments', name: 'web', namespace: 'production' }))?.allowed, false)
    t.equal((await can({ verb: 'get', group: 'apps', resource: 'deployments', subresource: 'scale', name: 'web', namespace: 'production' }))?.allowed, true)
    t.equal((await can({ verb: 'update', group: 'apps', resource: 'deployments', subresource: 'scale', name: 'web', namespace: 'production' }))?.allowed, false)
    t.equal((await can({ verb: 'get', resource: 'pods', subresource: 'log', namespace: 'production' }))?.allowed, true)
    t.equal((await can({ verb: 'list', resource: 'nodes' }))?.allowed, true, 'the ClusterRoleBinding')
    const nonResource = await authz.createSelfSubjectAccessReview({ body: { spec: { nonResourceAttributes: { verb: 'get', path: '/apis/apps' } } } })
    t.same(nonResource.status, { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"' })
    const metrics = await authz.createSelfSubjectAccessReview({ body: { spec: { nonResourceAttributes: { verb: 'get', path: '/metrics' } } } })
    t.equal(metrics.status?.allowed, false)
    const bad = await authz.createSelfSubjectAccessReview({ body: { spec: {} } }).catch((e: unknown) => e)
    t.equal(code(bad), 422)

    const sar = await authz.createSubjectAccessReview({ body: { spec: { user: SA, groups: ['system:serviceaccounts', 'system:serviceaccounts:caretaker', 'system:authenticated'], resourceAttributes: { verb: 'list', resource: 'pods', namespace: 'shared' } } } }).catch((e: unknown) => e)
    t.equal(code(sar), 403, 'creating a SubjectAccessReview needs its own grant')
    t.equal(body(sar).message, `subjectaccessreviews.authorization.k8s.io is forbidden: User "${SA}" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope`)
    const adminAuthz = admin.makeApiClient(AuthorizationV1Api)
    sim.store.seed({ apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'alice', namespace: 'staging' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'pod-lister' }, subjects: [{ kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' }] })
    const alice = await adminAuthz.createSubjectAccessReview({ body: { spec: { user: 'alice', resourceAttributes: { verb: 'list', resource: 'pods', namespace: 'staging' } } } })
    t.same(alice.status, { allowed: true, reason: 'RBAC: allowed by RoleBinding "alice/staging" of ClusterRole "pod-lister" to User "alice"' })
    const bob = await adminAuthz.createSubjectAccessReview({ body: { spec: { user: 'bob', resourceAttributes: { verb: 'list', resource: 'pods', namespace: 'staging' } } } })
    t.equal(bob.status?.allowed, false)
    const local = await adminAuthz.createNamespacedLocalSubjectAccessReview({ namespace: 'staging', body: { metadata: { namespace: 'staging' }, spec: { user: 'alice', resourceAttributes: { verb: 'delete', resource: 'pods', namespace: 'staging' } } } })
    t.equal(local.status?.allowed, false)
    const masters = await adminAuthz.createSubjectAccessReview({ body: { spec: { user: 'root', groups: ['system:masters'], resourceAttributes: { verb: 'delete', resource: 'nodes' } } } })
    t.equal(masters.status?.allowed, true)

    const rules = await authz.createSelfSubjectRulesReview({ body: { spec: { namespace: 'production' } } })
    t.equal(rules.status?.incomplete, false)
    t.ok(rules.status?.resourceRules.some((r) => r.resources?.includes('deployments') && r.resourceNames?.includes('api') && r.verbs.includes('patch')))
    t.ok(rules.status?.resourceRules.some((r) => r.resources?.includes('selfsubjectaccessreviews')), 'the bootstrap basic-user rules')
    t.ok(rules.status?.nonResourceRules.some((r) => r.nonResourceURLs?.includes('/apis/*')))
  })

  t.test('discovery lists authorization.k8s.io', async (t) => {
    const groups = await (await fetch(`${sim.url}/apis`, { headers: { authorization: `Bearer ${token}` } })).json() as { groups: Array<{ name: string }> }
    t.ok(groups.groups.some((g) => g.name === 'authorization.k8s.io'))
    const list = await (await fetch(`${sim.url}/apis/authorization.k8s.io/v1`, { headers: { authorization: `Bearer ${token}` } })).json() as { resources: Array<{ name: string, verbs: string[], namespaced: boolean }> }
    t.same(list.resources.map((r) => [r.name, r.namespaced, r.verbs]), [
      ['localsubjectaccessreviews', true, ['create']],
      ['selfsubjectaccessreviews', false, ['create']],
      ['selfsubjectrulesreviews', false, ['create']],
      ['subjectaccessreviews', false, ['create']],
    ])
  })

  t.test('impersonation (kubectl --as) needs the impersonate verb', async (t) => {
    const get = (bearer: string, path: string, extra: Record<string, string>) => fetch(`${sim.url}${path}`, { headers: { authorization: `Bearer ${bearer}`, ...extra } })
    const asSa = await get(sim.token, '/api/v1/namespaces/production/secrets', { 'Impersonate-User': 'system:serviceaccount:caretaker:verify-backup' })
    t.equal(asSa.status, 200, 'the admin acts as the ServiceAccount, which may now list secrets in production')
    const asSaElsewhere = await get(sim.token, '/api/v1/namespaces/staging/secrets', { 'Impersonate-User': 'system:serviceaccount:caretaker:verify-backup' })
    t.equal(asSaElsewhere.status, 403)
    t.match(await asSaElsewhere.json(), { message: `secrets is forbidden: User "${SA}" cannot list resource "secrets" in API group "" in the namespace "staging"` })
    const asGroup = await get(sim.token, '/api/v1/namespaces/shared/pods', { 'Impersonate-User': 'someone', 'Impersonate-Group': 'system:serviceaccounts:caretaker' })
    t.equal(asGroup.status, 200, 'impersonated groups count')
    const refused = await get(token, '/api/v1/namespaces/production/pods', { 'Impersonate-User': 'alice' })
    t.equal(refused.status, 403)
    t.match(await refused.json(), { reason: 'Forbidden', message: `users "alice" is forbidden: User "${SA}" cannot impersonate resource "users" in API group "" at the cluster scope`, details: { name: 'alice', kind: 'users' } })
    sim.store.seed({ apiVersion: RBAC, kind: 'ClusterRole', metadata: { name: 'impersonate-alice' }, rules: [{ apiGroups: [''], resources: ['users'], resourceNames: ['alice'], verbs: ['impersonate'] }] })
    sim.store.seed({ apiVersion: RBAC, kind: 'ClusterRoleBinding', metadata: { name: 'impersonate-alice' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'impersonate-alice' }, subjects: [{ kind: 'ServiceAccount', name: 'verify-backup', namespace: 'caretaker' }] })
    t.equal((await get(token, '/api/v1/namespaces/staging/pods', { 'Impersonate-User': 'alice' })).status, 200, 'alice may list pods in staging')
    t.equal((await get(token, '/api/v1/namespaces/staging/pods', { 'Impersonate-User': 'alice', 'Impersonate-Group': 'system:masters' })).status, 403, 'but the ServiceAccount may not add groups')
  })

  t.test('the admin token can do anything', async (t) => {
    const adminCore = admin.makeApiClient(CoreV1Api)
    t.ok((await adminCore.createNamespacedSecret({ namespace: 'kube-system', body: { metadata: { name: 's' } } })).metadata?.uid)
    const review = await admin.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { verb: 'delete', resource: 'nodes' } } } })
    t.equal(review.status?.allowed, true)
  })
})

t.test('RBAC can be switched off, and the authorize hook overrides it', async (t) => {
  const open = await startKubernetesSimulator({ rbac: false })
  t.teardown(() => open.close())
  const token = open.mintServiceAccountToken('caretaker', 'anyone')
  const res = await fetch(`${open.url}/api/v1/namespaces/default/secrets`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(res.status, 200)

  const hooked = await startKubernetesSimulator({ authorize: (user, attrs) => attrs.verb === 'get' && user.username.endsWith(':reader') })
  t.teardown(() => hooked.close())
  const reader = hooked.mintServiceAccountToken('caretaker', 'reader')
  hooked.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' } })
  t.equal((await fetch(`${hooked.url}/api/v1/namespaces/default/configmaps/c`, { headers: { authorization: `Bearer ${reader}` } })).status, 200)
  const denied = await fetch(`${hooked.url}/api/v1/namespaces/default/configmaps`, { headers: { authorization: `Bearer ${reader}` } })
  t.equal(denied.status, 403)
  t.match(await denied.json(), { reason: 'Forbidden', message: 'configmaps is forbidden: User "system:serviceaccount:caretaker:reader" cannot list resource "configmaps" in API group "" in the namespace "default"' })
})
