import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

// The simulator's metrics-server (metrics.k8s.io/v1beta1) and kubelet stats
// summary (the node proxy): shapes, joins, RBAC and errors as the real ones,
// read over HTTP; and real kubectl's `top` as a second client of the shapes.

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const RBAC = 'rbac.authorization.k8s.io/v1'

const sim = await startKubernetesSimulator({ tls: true, controllers: { enabled: false } })
t.teardown(() => sim.close())
const node = (name: string, ready: boolean) => sim.store.seed({
  apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, pool: ready ? 'main' : 'spare' } },
  status: {
    allocatable: { cpu: '4', memory: '16Gi', pods: '110' }, capacity: { cpu: '4', memory: '16Gi', pods: '110' },
    addresses: [{ type: 'InternalIP', address: `10.0.0.${ready ? 1 : 2}` }],
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown', reason: ready ? 'KubeletReady' : 'NodeStatusUnknown' }],
  },
})
node('worker-1', true)
node('worker-2', false)
sim.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'production', labels: { app: 'web' } }, spec: { nodeName: 'worker-1', containers: [{ name: 'main', image: 'nginx' }] } })
sim.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'db-0', namespace: 'databases', labels: { app: 'db' } }, spec: { nodeName: 'worker-1', containers: [{ name: 'main', image: 'postgres' }] } })
sim.metrics.setNodeMetrics('worker-1', { cpu: '1500000000n', memory: '8388608Ki' })
sim.metrics.setNodeMetrics('gone', { cpu: '1', memory: '1Gi' })
sim.metrics.setPodMetrics('production', 'web-1', [{ name: 'main', usage: { cpu: '20m', memory: '120Mi' } }])
sim.metrics.setPodMetrics('databases', 'db-0', [{ name: 'main', usage: { cpu: '200m', memory: '1Gi' } }])
sim.metrics.setPodMetrics('production', 'not-a-pod', [{ name: 'main', usage: { cpu: '1', memory: '1Gi' } }])

const get = async (path: string, token: string = sim.token, init: RequestInit = {}) => {
  const res = await fetch(`${sim.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } })
  const text = await res.text()
  let body: Obj | string = text
  try { body = JSON.parse(text) as Obj } catch { /* the kubelet's plain-text 404 */ }
  return { status: res.status, body: body as Obj, type: res.headers.get('content-type') }
}

t.test('discovery: the group as the aggregated metrics-server registers it', async (t) => {
  const groups = (await get('/apis')).body.groups as Obj[]
  t.match(groups.find((g) => g.name === 'metrics.k8s.io'), { preferredVersion: { groupVersion: 'metrics.k8s.io/v1beta1', version: 'v1beta1' } })
  t.same((await get('/apis/metrics.k8s.io/v1beta1')).body, {
    kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'metrics.k8s.io/v1beta1',
    resources: [
      { name: 'nodes', singularName: '', namespaced: false, kind: 'NodeMetrics', verbs: ['get', 'list'] },
      { name: 'pods', singularName: '', namespaced: true, kind: 'PodMetrics', verbs: ['get', 'list'] },
    ],
  })
})

t.test('NodeMetrics and PodMetrics: joined to the cluster\'s objects, shaped as k8s.io/metrics v1beta1', async (t) => {
  const nodes = (await get('/apis/metrics.k8s.io/v1beta1/nodes')).body
  t.match(nodes, { kind: 'NodeMetricsList', apiVersion: 'metrics.k8s.io/v1beta1', metadata: {} })
  t.same((nodes.items as Obj[]).map((i) => i.metadata.name), ['worker-1'], 'metrics of a node the cluster does not have are not served; a node without metrics is left out')
  t.match(nodes.items[0], { metadata: { name: 'worker-1', labels: { pool: 'main' }, creationTimestamp: /Z$/ }, timestamp: /Z$/, window: '20.05s', usage: { cpu: '1500000000n', memory: '8388608Ki' } })
  t.same((await get('/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=pool%3Dspare')).body.items, [], 'labelSelector selects nodes')
  t.match((await get('/apis/metrics.k8s.io/v1beta1/nodes/worker-1')).body, { kind: 'NodeMetrics', apiVersion: 'metrics.k8s.io/v1beta1', metadata: { name: 'worker-1' } })
  t.match(await get('/apis/metrics.k8s.io/v1beta1/nodes/worker-2'), { status: 404, body: { kind: 'Status', reason: 'NotFound', message: 'nodemetrics.metrics.k8s.io "worker-2" not found' } })

  const all = (await get('/apis/metrics.k8s.io/v1beta1/pods')).body
  t.match(all, { kind: 'PodMetricsList', apiVersion: 'metrics.k8s.io/v1beta1' })
  t.same((all.items as Obj[]).map((i) => `${i.metadata.namespace}/${i.metadata.name}`), ['databases/db-0', 'production/web-1'])
  const inProduction = (await get('/apis/metrics.k8s.io/v1beta1/namespaces/production/pods')).body.items as Obj[]
  t.match(inProduction, [{ metadata: { name: 'web-1', namespace: 'production', labels: { app: 'web' } }, containers: [{ name: 'main', usage: { cpu: '20m', memory: '120Mi' } }] }])
  t.equal(inProduction.length, 1)
  t.match(await get('/apis/metrics.k8s.io/v1beta1/namespaces/production/pods/not-a-pod'), { status: 404, body: { message: 'podmetrics.metrics.k8s.io "not-a-pod" not found' } })
  t.match(await get('/apis/metrics.k8s.io/v1beta1/nodes', sim.token, { method: 'POST', body: '{}' }), { status: 405, body: { reason: 'MethodNotAllowed' } }, 'read-only: get and list only')
  t.match(await get('/apis/metrics.k8s.io/v1beta1/pods?watch=true'), { status: 405 })
})

t.test('the stats summary through the node proxy', async (t) => {
  const summary = await get('/api/v1/nodes/worker-1/proxy/stats/summary')
  t.equal(summary.status, 200)
  t.match(summary.body, { node: { nodeName: 'worker-1', fs: { capacityBytes: Number, availableBytes: Number, inodes: Number }, runtime: { imageFs: { capacityBytes: Number } } }, pods: [] }, 'a Ready node without a seeded summary has a quiet one')
  t.equal((await get('/api/v1/nodes/worker-1/proxy/stats%2Fsummary')).status, 200, 'the encoded path the generated client sends is decoded, as by the API server')
  sim.metrics.setStatsSummary('worker-1', {
    node: { nodeName: 'worker-1', fs: { capacityBytes: 100, availableBytes: 5 } },
    pods: [{ podRef: { name: 'db-0', namespace: 'databases', uid: 'u' }, volume: [{ name: 'data', capacityBytes: 10, availableBytes: 1, pvcRef: { name: 'data-db-0', namespace: 'databases' } }] }],
  })
  t.match((await get('/api/v1/nodes/worker-1/proxy/stats/summary')).body, { pods: [{ volume: [{ pvcRef: { name: 'data-db-0' } }] }] }, 'the seeded summary')
  t.match(await get('/api/v1/nodes/worker-1/proxy/healthz/nothing'), { status: 404, body: '404 page not found\n', type: /^text\/plain/ }, 'other kubelet paths are the kubelet\'s')
  t.match(await get('/api/v1/nodes/worker-2/proxy/stats/summary'), { status: 503, body: { reason: 'ServiceUnavailable', message: /dial tcp 10\.0\.0\.2:10250/ } }, 'a node not Ready does not answer')
  sim.metrics.setStatsSummary('worker-1', 'unreachable')
  t.match(await get('/api/v1/nodes/worker-1/proxy/stats/summary'), { status: 503 })
  t.match(await get('/api/v1/nodes/nowhere/proxy/stats/summary'), { status: 404, body: { message: 'nodes "nowhere" not found' } })
  sim.metrics.setStatsSummary('worker-1', { node: { nodeName: 'worker-1' }, pods: [] })
})

t.test('RBAC: nodes/proxy get for the summary; metrics.k8s.io nodes and pods for the metrics', async (t) => {
  const token = sim.mintServiceAccountToken('caretaker', 'reader')
  t.match(await get('/api/v1/nodes/worker-1/proxy/stats/summary', token), { status: 403, body: { message: /cannot get resource "nodes\/proxy"/ } })
  t.match(await get('/apis/metrics.k8s.io/v1beta1/nodes', token), { status: 403, body: { message: /cannot list resource "nodes" in API group "metrics.k8s.io"/ } })
  sim.store.seed({ apiVersion: RBAC, kind: 'ClusterRole', metadata: { name: 'reader' }, rules: [{ apiGroups: [''], resources: ['nodes/proxy'], verbs: ['get'] }, { apiGroups: ['metrics.k8s.io'], resources: ['nodes'], verbs: ['list'] }] })
  sim.store.seed({ apiVersion: RBAC, kind: 'ClusterRoleBinding', metadata: { name: 'reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'caretaker' }] })
  sim.store.seed({ apiVersion: RBAC, kind: 'Role', metadata: { name: 'reader', namespace: 'production' }, rules: [{ apiGroups: ['metrics.k8s.io'], resources: ['pods'], verbs: ['list'] }] })
  sim.store.seed({ apiVersion: RBAC, kind: 'RoleBinding', metadata: { name: 'reader', namespace: 'production' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: 'caretaker' }] })
  t.equal((await get('/api/v1/nodes/worker-1/proxy/stats/summary', token)).status, 200)
  t.equal((await get('/apis/metrics.k8s.io/v1beta1/nodes', token)).status, 200)
  t.equal((await get('/apis/metrics.k8s.io/v1beta1/nodes/worker-1', token)).status, 403, 'list does not grant get')
  t.equal((await get('/apis/metrics.k8s.io/v1beta1/namespaces/production/pods', token)).status, 200)
  t.equal((await get('/apis/metrics.k8s.io/v1beta1/namespaces/databases/pods', token)).status, 403, 'pods metrics are namespaced')
  t.equal((await get('/api/v1/nodes/worker-1/proxy/stats/summary', token, { method: 'POST' })).status, 403, 'POST through the proxy is create nodes/proxy')
})

t.test('a cluster without metrics-server serves no metrics.k8s.io', async (t) => {
  const bare = await startKubernetesSimulator({ controllers: { enabled: false }, omitGroups: ['metrics.k8s.io'] })
  t.teardown(() => bare.close())
  const res = await fetch(`${bare.url}/apis/metrics.k8s.io/v1beta1/nodes`, { headers: { authorization: `Bearer ${bare.token}` } })
  t.equal(res.status, 404)
  const groups = (await (await fetch(`${bare.url}/apis`, { headers: { authorization: `Bearer ${bare.token}` } })).json() as Obj).groups as Obj[]
  t.notOk(groups.some((g) => g.name === 'metrics.k8s.io'))
})

t.test('real kubectl top reads the shapes', async (t) => {
  const KUBECTL = '/usr/bin/kubectl'
  if (!existsSync(KUBECTL)) { t.pass('skipped: kubectl not installed'); return }
  const dir = mkdtempSync(join(tmpdir(), 'kubectl-top-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const kubeconfig = join(dir, 'config')
  writeFileSync(kubeconfig, sim.kubeConfig({ tls: true }).exportConfig())
  const run = promisify(execFile)
  const kubectl = async (...args: string[]) => (await run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args], { timeout: 30_000 })).stdout
  t.match(await kubectl('top', 'node', 'worker-1', '--no-headers'), /^worker-1\s+1500m\s+37%\s+8192Mi\s+50%/)
  t.match(await kubectl('top', 'pod', '-n', 'databases', '--no-headers'), /^db-0\s+200m\s+1024Mi/)
})
