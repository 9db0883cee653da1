import { readFile } from 'node:fs/promises'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import cleanUpResources from '../../functions/clean-up-resources/index.ts'
import { configSchema as cleanUpSchema } from '../../functions/clean-up-resources/config.ts'
import healthReport from '../../functions/health-report/index.ts'
import { configSchema as healthSchema } from '../../functions/health-report/config.ts'
import pruneSnapshots from '../../functions/prune-snapshots/index.ts'
import { configSchema as pruneSchema } from '../../functions/prune-snapshots/config.ts'
import { validateConfig } from '../../shared/config.ts'
import { listOrder, namespaceReader } from '../../shared/kubernetes/listing.ts'
import type { FunctionModule } from '../../shared/runtime/function.ts'
import { binaryHeaders, startTestFunction } from '../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

// Many namespaces at the cost of objects/page: with the shipped RBAC (a
// RoleBinding per namespace) clean-up-resources, health-report and prune-snapshots list each
// namespace; with a ClusterRoleBinding of the same ClusterRole one paged
// cluster-wide list, kept to the configured namespaces, with the same reply.

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any -- replies and objects read loosely
const DAY = 86_400_000
const now = Date.now()
const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())

// Ten configured namespaces and two that are not (sorting among them), two Pods, PVCs, Jobs and VolumeSnapshots each.
const configured = Array.from({ length: 10 }, (_, i) => `team-${i}`)
const outside = ['team-1x', 'team-5x']
kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'caretaker' } })
for (const ns of [...configured, ...outside]) {
  kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  const created = new Date(now - 3 * DAY).toISOString()
  kube.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ok', namespace: ns, creationTimestamp: created }, spec: { containers: [{ name: 'c', image: 'x' }] }, status: { phase: 'Running', containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'x', imageID: '', state: { running: {} } }] } })
  kube.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'broken', namespace: ns, creationTimestamp: created }, spec: { containers: [{ name: 'c', image: 'x' }] }, status: { phase: 'Failed', reason: 'Evicted' } })
  kube.store.seed({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'bound', namespace: ns, creationTimestamp: created }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } }, status: { phase: 'Bound' } })
  kube.store.seed({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'stuck', namespace: ns, creationTimestamp: created }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } }, status: { phase: 'Pending' } })
  for (const [name, age] of [['recent', 1], ['finished', 10]] as const) {
    const at = new Date(now - age * DAY).toISOString()
    kube.store.seed({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: ns, creationTimestamp: at }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x' }] } } }, status: { succeeded: 1, completionTime: at, conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: at }] } })
  }
  for (const [name, age] of [['new', 1], ['old', 40]] as const) {
    const at = new Date(now - age * DAY).toISOString()
    kube.store.seed({ apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name, namespace: ns, creationTimestamp: at }, spec: { volumeSnapshotClassName: 'longhorn', source: { persistentVolumeClaimName: 'bound' } }, status: { readyToUse: true, creationTime: at, restoreSize: '1Gi' } })
  }
}

// The functions' ClusterRoles from their manifests, bound as shipped (per namespace) or cluster-wide.
const role = async (fn: string, name: string) => {
  const docs = parseAllDocuments(await readFile(new URL(`../../manifests/${fn}/rbac.yaml`, import.meta.url), 'utf8')).map((d) => d.toJSON() as Obj)
  const found = docs.find((d) => d.kind === 'ClusterRole' && d.metadata.name === name)
  if (!found) throw new Error(`no ClusterRole ${name} in manifests/${fn}/rbac.yaml`)
  kube.store.seed(found)
}
await role('clean-up-resources', 'caretaker-clean-up-resources')
await role('health-report', 'caretaker-health-report')
await role('prune-snapshots', 'caretaker-prune-snapshots')
const ROLES = [['clean-up-resources', 'caretaker-clean-up-resources'], ['health-report', 'caretaker-health-report'], ['prune-snapshots', 'caretaker-prune-snapshots']]
const subject = (sa: string) => [{ kind: 'ServiceAccount', name: sa, namespace: 'caretaker' }]
for (const ns of configured) {
  for (const [sa, roleName] of ROLES) {
    kube.store.seed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: roleName, namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName }, subjects: subject(sa!) })
  }
}
const bindClusterWide = () => {
  for (const [sa, roleName] of ROLES) {
    kube.store.seed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: roleName }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName }, subjects: subject(sa!) })
  }
}

/** The API calls a function makes, recorded by a proxy in front of the simulator. */
const upstream = new URL(kube.url)
let calls: string[] = []
const proxy = createServer((req, res) => {
  calls.push(`${req.method} ${req.url}`)
  const forward = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers)
    up.pipe(res)
  })
  forward.on('error', () => { res.writeHead(502); res.end() })
  req.pipe(forward)
})
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => proxy.close(() => resolve())))
const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`

const PAGE = 10
const functions: Record<string, { module: FunctionModule; type: string; config: unknown; kinds: string[]; twice?: string[] }> = {
  'clean-up-resources': {
    module: cleanUpResources as FunctionModule, type: 'dev.caretaker.resources.clean.requested', kinds: ['jobs', 'pods', 'persistentvolumeclaims'],
    config: validateConfig({ namespaces: configured, limits: { pageSize: PAGE }, pvcs: { report: true } }, cleanUpSchema, 'test'),
  },
  'health-report': {
    module: healthReport as FunctionModule, type: 'dev.caretaker.health.report.requested', kinds: ['pods', 'persistentvolumeclaims', 'deployments', 'statefulsets'], twice: ['pods'],
    config: validateConfig({ namespaces: configured, checks: ['pods', 'pvcs', 'pods-not-ready', 'workloads'], pageSize: PAGE }, healthSchema, 'test'),
  },
  'prune-snapshots': {
    module: pruneSnapshots as FunctionModule, type: 'dev.caretaker.snapshots.prune.requested', kinds: ['persistentvolumeclaims', 'volumesnapshots'],
    config: validateConfig({ limits: { pageSize: PAGE }, policies: [{ name: 'all', kind: 'VolumeSnapshot', namespaces: configured, keepLast: 1, maxAge: '30d', grace: '1h' }] }, pruneSchema, 'test'),
  },
}

async function run(name: string): Promise<{ body: Obj; lists: string[]; reviews: number }> {
  const spec = functions[name]!
  const fn = await startTestFunction(spec.module, { config: spec.config, env: { CARETAKER_KUBE_SERVER: proxyUrl, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', name), CARETAKER_DRY_RUN: 'true' } })
  try {
    calls = []
    const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(spec.type), body: '{}' })
    const body = await res.json() as Obj
    if (res.status !== 200) throw new Error(`${name} answered ${res.status}: ${JSON.stringify(body)}`)
    return { body, lists: calls.filter((c) => c.startsWith('GET ')), reviews: calls.filter((c) => c.includes('selfsubjectaccessreviews')).length }
  } finally {
    await fn.stop()
  }
}

// The kinds each lists: clean-up-resources 7 (Jobs, CronJobs, ReplicaSets, Deployments, StatefulSets, Pods, PVCs),
// health-report 4 (Pods, PVCs, Deployments, StatefulSets; its Pods asked once for two checks), prune-snapshots 2.
const REVIEWS: Record<string, number> = { 'clean-up-resources': 7, 'health-report': 4, 'prune-snapshots': 2 }
const perNamespace: Record<string, Awaited<ReturnType<typeof run>>> = {}
const namesIn = (body: Obj): string[] => JSON.stringify(body).match(/team-\d+x?/g) ?? []

t.test('shipped RBAC (a RoleBinding per namespace): one paged list per namespace, as before', async (t) => {
  for (const name of Object.keys(functions)) {
    const r = perNamespace[name] = await run(name)
    for (const kind of functions[name]!.kinds) {
      const lists = r.lists.filter((c) => c.includes(`/${kind}?`))
      const times = functions[name]!.twice?.includes(kind) ? 2 : 1 // pods: by the pods and pods-not-ready checks
      t.equal(lists.length, configured.length * times, `${name}: ${kind} listed once per namespace`)
      t.ok(lists.every((c) => /\/namespaces\/team-\d\//.test(c)), `${name}: ${kind} listed namespace by namespace`)
    }
    t.equal(r.reviews, REVIEWS[name], `${name}: asked once per kind whether it may list cluster-wide`)
    t.same(namesIn(r.body).filter((n) => n.endsWith('x')), [], `${name}: nothing of the namespaces not configured`)
  }
  t.equal(perNamespace['health-report']!.body.findings.filter((f: Obj) => ['pods', 'pvcs'].includes(f.check)).length, 20, 'a failed Pod and a Pending PVC in each configured namespace')
  t.equal(perNamespace['prune-snapshots']!.body.policies[0].listed, 20)
  t.match(perNamespace['clean-up-resources']!.body.counts, { 'would-delete': 10, reported: 20 }, 'a finished Job to delete and two unmounted PVCs in each')
})

t.test('a ClusterRoleBinding: one paged cluster-wide list per kind, the same reply', async (t) => {
  bindClusterWide()
  const total = (configured.length + outside.length) * 2
  for (const name of Object.keys(functions)) {
    const r = await run(name)
    for (const kind of functions[name]!.kinds) {
      const lists = r.lists.filter((c) => c.includes(`/${kind}?`))
      const times = functions[name]!.twice?.includes(kind) ? 2 : 1
      const expected = (['deployments', 'statefulsets'].includes(kind) ? 1 : Math.ceil(total / PAGE)) * times // none of those: one empty page
      t.equal(lists.length, expected, `${name}: ${kind} in ${expected} pages of ${PAGE}, not one list per namespace`)
      t.ok(lists.every((c) => !c.includes('/namespaces/') && /[?&]limit=10\b/.test(c)), `${name}: ${kind} listed cluster-wide, paged`)
    }
    t.same(namesIn(r.body).filter((n) => n.endsWith('x')), [], `${name}: nothing of the namespaces not configured`)
    const same = (b: Obj) => name === 'health-report' ? { status: b.status, findings: b.findings, counts: b.counts } : name === 'prune-snapshots' ? b.policies : b
    t.same(same(r.body), same(perNamespace[name]!.body), `${name}: the same reply as with per-namespace lists`)
  }
})

t.test('a cluster-wide list is walked in the API server\'s key order, and one out of that order stops the run', async (t) => {
  t.same(listOrder(['a', 'b', 'a-b']), ['a-b', 'a', 'b'], '`a-b/` sorts before `a/` as the storage keys do')
  const open = await startKubernetesSimulator({ rbac: false, controllers: { enabled: false } })
  t.teardown(() => open.close())
  const ns = (namespace: string, name: string) => ({ metadata: { namespace, name } })
  const reader = (items: Array<ReturnType<typeof ns>>) => namespaceReader({
    kubeConfig: open.kubeConfig(), what: 'Things', resource: { group: '', resource: 'pods' }, namespaces: ['a', 'b', 'c'], pageSize: 2,
    namespaced: () => Promise.reject(new Error('not per namespace')),
    clusterWide: (p) => { const from = Number(p._continue ?? 0); const next = from + p.limit; return Promise.resolve({ items: items.slice(from, next), metadata: next < items.length ? { _continue: String(next) } : {} }) },
  })
  const inOrder = await reader([ns('a', '1'), ns('a', '2'), ns('ab', '1'), ns('c', '1')])
  t.equal(inOrder.clusterWide, true)
  t.same([(await inOrder.read('a')).length, (await inOrder.read('b')).length, (await inOrder.read('c')).length], [2, 0, 1], 'each namespace its own objects, none of the others')
  const shuffled = await reader([ns('a', '1'), ns('c', '1'), ns('a', '2')])
  await t.rejects(async () => { for (const n of ['a', 'b', 'c']) await shuffled.read(n) }, { message: /did not come in namespace order/ })
})
