import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import healthReport from '../../../functions/health-report/index.ts'
import { configSchema, type HealthReportConfig } from '../../../functions/health-report/config.ts'
import { CLUSTER_CHECKS } from '../../../functions/health-report/checks/run.ts'
import type { DayRecord } from '../../../functions/health-report/checks/digest.ts'
import { HISTORY_KEY } from '../../../functions/health-report/history.ts'
import { CoreV1Api } from '@kubernetes/client-node'
import { createKubeConfig } from '../../../shared/kubernetes/kubeconfig.ts'
import { validateConfig } from '../../../shared/config.ts'
import type { StatsSummary } from '../../../shared/kubernetes/metrics.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// health-report's cluster checks end to end over HTTP: node pressure and
// cordons, disk and PVC fill from the kubelets' stats summaries (the node
// proxy), use from metrics-server, commitment of requests and limits,
// workloads short of replicas, pods not Ready, restarts. The simulator
// serves the metrics and summaries the test seeds and enforces the
// manifest's RBAC; the report must list every planted problem and nothing
// else (healthy objects and those still within the grace are left alone).

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const GiB = 2 ** 30
type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const ago = (ms: number) => new Date(Date.now() - ms).toISOString()

const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
const seed = (obj: Obj) => kube.store.seed(obj)
for (const ns of ['caretaker', 'production', 'databases', 'kube-system', 'elsewhere']) seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/health-report/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Obj)
for (const obj of rbac) seed(obj)

// Nodes of 4 cores and 16 GiB allocatable.
const condition = (type: string, status: string, reason: string, message: string, since = ago(30 * DAY)) => ({ type, status, reason, message, lastHeartbeatTime: ago(MINUTE), lastTransitionTime: since })
const node = (name: string, opts: { ready?: boolean; diskPressure?: string; cordoned?: string } = {}) => seed({
  apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  spec: opts.cordoned ? { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: opts.cordoned }] } : {},
  status: {
    capacity: { cpu: '4', memory: '16777216Ki', pods: '110' }, allocatable: { cpu: '4', memory: '16Gi', pods: '110' },
    conditions: opts.ready === false
      ? [condition('MemoryPressure', 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.'), condition('Ready', 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.', ago(HOUR))]
      : [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        opts.diskPressure ? condition('DiskPressure', 'True', 'KubeletHasDiskPressure', 'kubelet has disk pressure', opts.diskPressure) : condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
  },
})
node('control-plane')
node('worker-1', { diskPressure: ago(2 * HOUR) })
node('worker-2', { cordoned: ago(3 * DAY) })
node('worker-3')
node('worker-4', { ready: false })

// Stats summaries: worker-1's root filesystem 93% full and its separate image filesystem 82%;
// worker-2 carries the volumes: one PVC 92% full, one out of inodes, one fine, one outside the configured namespaces.
const fs = (capacityGiB: number, usedPercent: number, inodesUsedPercent = 10) => ({
  time: ago(10_000), capacityBytes: capacityGiB * GiB, availableBytes: Math.round(capacityGiB * GiB * (1 - usedPercent / 100)), usedBytes: Math.round(capacityGiB * GiB * usedPercent / 100),
  inodes: 1_000_000, inodesFree: 1_000_000 - inodesUsedPercent * 10_000, inodesUsed: inodesUsedPercent * 10_000,
})
const volume = (namespace: string, pod: string, claim: string, usedPercent: number, inodesUsedPercent = 10) => ({
  podRef: { name: pod, namespace, uid: `${pod}-uid` }, startTime: ago(DAY),
  volume: [{ name: 'data', ...fs(20, usedPercent, inodesUsedPercent), pvcRef: { name: claim, namespace } }, { name: 'kube-api-access-x', ...fs(16, 1) }],
})
const summary = (nodeName: string, nodeFs: number, imageFs: number | undefined, pods: StatsSummary['pods'] = []): StatsSummary => {
  const root = fs(100, nodeFs)
  return { node: { nodeName, startTime: ago(30 * DAY), fs: root, runtime: { imageFs: imageFs === undefined ? { ...root } : fs(200, imageFs) } }, pods }
}
kube.metrics.setStatsSummary('control-plane', summary('control-plane', 40, undefined))
kube.metrics.setStatsSummary('worker-1', summary('worker-1', 93, 82))
kube.metrics.setStatsSummary('worker-2', summary('worker-2', 50, undefined, [
  volume('databases', 'postgres-0', 'data-postgres-0', 92),
  volume('databases', 'redis-0', 'data-redis-0', 40, 96),
  volume('production', 'web-1', 'data-web', 30),
  volume('elsewhere', 'other-0', 'data-other', 99),
]))
kube.metrics.setStatsSummary('worker-3', 'unreachable')

// metrics-server: worker-1 busy (cpu 95%, memory 97%), the rest quiet.
kube.metrics.setNodeMetrics('control-plane', { cpu: '400m', memory: '2Gi' })
kube.metrics.setNodeMetrics('worker-1', { cpu: '3800000000n', memory: `${Math.round(15.5 * 1024 * 1024)}Ki` })
kube.metrics.setNodeMetrics('worker-2', { cpu: '1', memory: '8Gi' })

// Pods.
const resources = (requests: Obj, limits: Obj = {}) => ({ requests, limits })
const pod = (namespace: string, name: string, nodeName: string, opts: { phase?: string; res?: Obj; ready?: boolean; readySince?: string; restarts?: number; lastFinished?: string; lastReason?: string; waiting?: string } = {}) => seed({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, creationTimestamp: ago(2 * DAY) },
  spec: { nodeName, containers: [{ name: 'main', image: 'registry.example.com/app:1.0', ...(opts.res ? { resources: opts.res } : {}) }] },
  status: {
    phase: opts.phase ?? 'Running', startTime: ago(2 * DAY),
    conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True', lastTransitionTime: opts.readySince ?? ago(DAY), ...(opts.ready === false ? { reason: 'ContainersNotReady', message: 'containers with unready status: [main]' } : {}) }],
    containerStatuses: [{
      name: 'main', image: 'registry.example.com/app:1.0', imageID: '', ready: opts.ready !== false, restartCount: opts.restarts ?? 0,
      state: opts.waiting ? { waiting: { reason: opts.waiting, message: 'back-off 5m0s restarting failed container' } } : { running: { startedAt: ago(DAY) } },
      ...(opts.lastFinished ? { lastState: { terminated: { exitCode: opts.lastReason === 'OOMKilled' ? 137 : 1, reason: opts.lastReason ?? 'Error', startedAt: ago(DAY), finishedAt: opts.lastFinished } } } : {}),
    }],
  },
})
// worker-2: memory requests 18 GiB of 16 (critical), cpu limits 10 of 4 cores (250%, warning above 200%).
pod('databases', 'postgres-0', 'worker-2', { res: resources({ cpu: '1', memory: '10Gi' }, { cpu: '4', memory: '2Gi' }) })
pod('databases', 'redis-0', 'worker-2', { res: resources({ cpu: '500m', memory: '6Gi' }, { cpu: '4' }) })
pod('production', 'web-1', 'worker-2', { res: resources({ cpu: '250m', memory: '2Gi' }, { cpu: '2' }) })
pod('production', 'done', 'worker-2', { phase: 'Succeeded', res: resources({ cpu: '4', memory: '16Gi' }) })
// worker-1: modest requests.
pod('production', 'web-2', 'worker-1', { res: resources({ cpu: '500m', memory: '1Gi' }, { memory: '1Gi' }) })
// Not Ready for an hour (a readiness probe failing); and one just gone unready (within the grace).
pod('production', 'api-1', 'worker-1', { ready: false, readySince: ago(HOUR) })
pod('production', 'api-2', 'worker-1', { ready: false, readySince: ago(2 * MINUTE) })
// Restarts: 12 with the last 10 minutes ago (critical); 4 OOM kills, last 2 hours ago (warning);
// 50 but none in the last day; 2 recent ones (below the threshold).
pod('production', 'worker-crash', 'worker-1', { restarts: 12, lastFinished: ago(10 * MINUTE), waiting: 'CrashLoopBackOff', ready: false, readySince: ago(DAY) })
pod('databases', 'oom', 'worker-1', { restarts: 4, lastFinished: ago(2 * HOUR), lastReason: 'OOMKilled' })
pod('production', 'old-restarts', 'worker-1', { restarts: 50, lastFinished: ago(3 * DAY) })
pod('production', 'few-restarts', 'worker-1', { restarts: 2, lastFinished: ago(HOUR) })
// Outside the configured namespaces: never read.
pod('elsewhere', 'other-0', 'worker-2', { ready: false, readySince: ago(DAY), restarts: 99, lastFinished: ago(MINUTE), res: resources({ cpu: '100', memory: '1Ti' }) })
// postgres-0 uses 95% of its 2 GiB memory limit; web-1 is fine.
kube.metrics.setPodMetrics('databases', 'postgres-0', [{ name: 'main', usage: { cpu: '300m', memory: `${Math.round(1.9 * 1024)}Mi` } }])
kube.metrics.setPodMetrics('production', 'web-2', [{ name: 'main', usage: { cpu: '50m', memory: '200Mi' } }])

// Workloads.
const template = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'main', image: 'registry.example.com/app:1.0' }] } }
const deployment = (name: string, replicas: number, status: Obj, created = ago(30 * DAY)) => seed({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'production', creationTimestamp: created },
  spec: { replicas, selector: { matchLabels: { app: 'x' } }, template }, status: { observedGeneration: 1, replicas, ...status },
})
const deploymentConditions = (available: boolean, availableSince: string, progressing: { reason: string; status?: string; updated?: string }) => [
  { type: 'Available', status: available ? 'True' : 'False', reason: available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', message: available ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.', lastUpdateTime: availableSince, lastTransitionTime: availableSince },
  { type: 'Progressing', status: progressing.status ?? 'True', reason: progressing.reason, message: 'ReplicaSet "x" has successfully progressed.', lastUpdateTime: progressing.updated ?? ago(10 * DAY), lastTransitionTime: progressing.updated ?? ago(10 * DAY) },
]
deployment('web', 3, { availableReplicas: 3, readyReplicas: 3, updatedReplicas: 3, conditions: deploymentConditions(true, ago(10 * DAY), { reason: 'NewReplicaSetAvailable' }) })
deployment('shop', 3, { availableReplicas: 1, readyReplicas: 1, updatedReplicas: 3, unavailableReplicas: 2, conditions: deploymentConditions(false, ago(2 * HOUR), { reason: 'NewReplicaSetAvailable' }) })
deployment('api', 2, { availableReplicas: 0, readyReplicas: 0, updatedReplicas: 2, unavailableReplicas: 2, conditions: deploymentConditions(false, ago(HOUR), { reason: 'NewReplicaSetAvailable' }) })
deployment('rolling', 3, { availableReplicas: 2, readyReplicas: 2, updatedReplicas: 1, conditions: deploymentConditions(true, ago(DAY), { reason: 'ReplicaSetUpdated', updated: ago(MINUTE) }) })
deployment('stuck', 2, { availableReplicas: 1, readyReplicas: 1, updatedReplicas: 1, conditions: deploymentConditions(true, ago(DAY), { reason: 'ProgressDeadlineExceeded', status: 'False', updated: ago(HOUR) }) })
deployment('fresh', 2, { availableReplicas: 0, conditions: deploymentConditions(false, ago(2 * MINUTE), { reason: 'NewReplicaSetCreated', updated: ago(2 * MINUTE) }) }, ago(2 * MINUTE))
deployment('scaled-down', 0, { conditions: deploymentConditions(true, ago(DAY), { reason: 'NewReplicaSetAvailable' }) })
const statefulSet = (name: string, replicas: number, status: Obj, generation = 1) => {
  const s = seed({
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name, namespace: 'databases', creationTimestamp: ago(30 * DAY) },
    spec: { replicas, serviceName: name, selector: { matchLabels: { app: 'x' } }, template }, status: { observedGeneration: generation, replicas, currentRevision: `${name}-1`, updateRevision: `${name}-1`, ...status },
  })
  return s
}
statefulSet('postgres', 3, { readyReplicas: 2, availableReplicas: 2, currentReplicas: 3, updatedReplicas: 3 })
statefulSet('redis', 1, { readyReplicas: 1, availableReplicas: 1 })
statefulSet('etcd', 3, { readyReplicas: 0, availableReplicas: 0 })

const config: HealthReportConfig = validateConfig({
  namespaces: ['kube-system', 'production', 'databases', 'caretaker'],
  checks: [...CLUSTER_CHECKS], pageSize: 2, grace: '15m',
}, configSchema, 'test')
const token = kube.mintServiceAccountToken('caretaker', 'health-report')
const fn = await startTestFunction(healthReport, { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token } })
t.teardown(() => fn.stop())

const send = async (data: unknown) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.health.report.requested'), body: JSON.stringify(data) })
  return { status: res.status, body: await res.json() as Obj }
}
const line = (f: Obj) => `${f.check} ${f.severity} ${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name} ${f.reason}${f.count ? ` x${f.count}` : ''}`

t.test('the cluster checks list every planted problem and nothing else', async (t) => {
  const res = await send({})
  t.equal(res.status, 200)
  const report = res.body
  t.equal(report.status, 'critical')
  t.same(report.checks, [...CLUSTER_CHECKS])
  t.notOk(report.skipped, 'metrics-server is there, every check ran')
  t.same((report.findings as Obj[]).map(line), [
    'node-pressure critical Node worker-1 DiskPressure',
    'disk-usage critical Node worker-1 NodeFilesystem',
    'disk-usage critical PersistentVolumeClaim databases/data-postgres-0 VolumeFull',
    'disk-usage critical PersistentVolumeClaim databases/data-redis-0 VolumeFull:inodes',
    'disk-usage warning Node worker-1 ImageFilesystem',
    'disk-usage warning Node worker-3 StatsUnavailable',
    'workloads critical StatefulSet databases/etcd ReplicasUnavailable',
    'workloads critical Deployment production/api ReplicasUnavailable',
    'workloads warning StatefulSet databases/postgres ReplicasUnavailable',
    'workloads warning Deployment production/shop ReplicasUnavailable',
    'workloads warning Deployment production/stuck ProgressDeadlineExceeded',
    'resource-usage critical Node worker-1 MemoryUsage',
    'resource-usage warning Node worker-1 CPUUsage',
    'resource-usage warning Pod databases/postgres-0 ContainerMemoryNearLimit',
    'commitment critical Node worker-2 RequestsCommitted:memory',
    'commitment warning Node worker-2 LimitsOvercommitted:cpu',
    'restarts critical Pod production/worker-crash Restarts:Error x12',
    'restarts warning Pod databases/oom Restarts:OOMKilled x4',
    'pods-not-ready warning Pod production/api-1 ContainersNotReady',
    'cordoned warning Node worker-2 Cordoned',
  ])
  t.same(report.counts, { critical: 9, warning: 11 })
  t.same(report.scanned, {
    'node-pressure': 5, cordoned: 5, 'disk-usage': 7, 'resource-usage': 5, commitment: 5, workloads: 10, 'pods-not-ready': 11, restarts: 11,
  }, 'disk-usage: four nodes asked and three PVCs in scope; resource-usage: three node and two pod samples')
  const byLine = new Map((report.findings as Obj[]).map((f) => [line(f), f]))
  t.match(byLine.get('disk-usage critical PersistentVolumeClaim databases/data-postgres-0 VolumeFull'), { message: /^the volume \(mounted by pod postgres-0 on worker-2\) 92% full \(18\.4 GiB of 20 GiB, 1\.6 GiB free\); critical at 90%$/ })
  t.match(byLine.get('disk-usage warning Node worker-3 StatsUnavailable'), { message: /read the stats summary of node worker-3: ServiceUnavailable/ })
  t.match(byLine.get('node-pressure critical Node worker-1 DiskPressure'), { since: /Z$/, message: /kubelet has disk pressure/ })
  t.match(byLine.get('workloads warning Deployment production/shop ReplicasUnavailable'), { message: /^1\/3 replicas available/, since: /Z$/ })
  t.match(byLine.get('resource-usage critical Node worker-1 MemoryUsage'), { message: /^memory in use 97% of allocatable \(15\.5 GiB of 16 GiB/ })
  t.match(byLine.get('commitment critical Node worker-2 RequestsCommitted:memory'), { message: /request 113% of its allocatable memory \(18 GiB of 16 GiB\): more than the node has/ })
  t.match(byLine.get('restarts critical Pod production/worker-crash Restarts:Error x12'), { lastSeen: /Z$/, message: /container main has restarted 12 times/ })
  t.match(byLine.get('cordoned warning Node worker-2 Cordoned'), { since: /Z$/ })
  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  t.match(metrics, /^caretaker_health_findings\{check="disk-usage",severity="critical"\} 3$/m)
})

t.test('the daily run records the raw figures for the weekly digest: restarts within the window, the fill of each filesystem and PVC', async (t) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.knative.sources.ping', { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/health-report-daily' }), body: JSON.stringify({ report: 'daily' }) })
  t.match(await res.json(), { history: { recorded: true } })
  const core = createKubeConfig({ server: kube.url, token }).makeApiClient(CoreV1Api)
  const cm = await core.readNamespacedConfigMap({ namespace: 'caretaker', name: 'health-report-history' })
  const [record] = JSON.parse(cm.data![HISTORY_KEY]!) as DayRecord[]
  t.same(record!.figures, {
    // worker-crash 12, oom 4, few-restarts 2 within the day; old-restarts' 50 are days old; other-0 is out of scope.
    restarts: { count: 18, containers: 3 },
    // The fullest first, one decimal; the image filesystem where it is its own; data-other's namespace is out of scope.
    fill: { 'Node/worker-1': 93, 'databases/data-postgres-0': 92, 'Node/worker-1:imagefs': 82, 'Node/worker-2': 50, 'Node/control-plane': 40, 'databases/data-redis-0': 40, 'production/data-web': 30 },
  })
})

t.test('without metrics-server the usage check is skipped, saying why; the others run', async (t) => {
  const bare = await startKubernetesSimulator({ controllers: { enabled: false }, omitGroups: ['metrics.k8s.io'] })
  t.teardown(() => bare.close())
  for (const obj of rbac) bare.store.seed(obj)
  const other = await startTestFunction(healthReport, { config: { ...config, checks: ['resource-usage', 'cordoned'] }, env: { CARETAKER_KUBE_SERVER: bare.url, CARETAKER_KUBE_TOKEN: bare.mintServiceAccountToken('caretaker', 'health-report') } })
  t.teardown(() => other.stop())
  const res = await fetch(other.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.health.report.requested'), body: '{}' })
  const body = await res.json() as Obj
  t.match(body, { status: 'healthy', skipped: [{ check: 'resource-usage', reason: /metrics-server is not installed/ }], scanned: { cordoned: 0 } })
  t.notOk('resource-usage' in body.scanned, 'a skipped check has no scan count')
})

t.test('a kubelet the RBAC may not reach is an error, not a quiet report', async (t) => {
  const strict = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => strict.close())
  // The manifest's RBAC without the nodes/proxy rule.
  for (const obj of rbac) strict.store.seed(obj.metadata.name === 'caretaker-health-report-nodes' && obj.kind === 'ClusterRole' ? { ...obj, rules: (obj.rules as Obj[]).filter((r) => !(r.resources as string[]).includes('nodes/proxy')) } : obj)
  strict.store.seed({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } })
  const other = await startTestFunction(healthReport, { config: { ...config, checks: ['disk-usage'] }, env: { CARETAKER_KUBE_SERVER: strict.url, CARETAKER_KUBE_TOKEN: strict.mintServiceAccountToken('caretaker', 'health-report') } })
  t.teardown(() => other.stop())
  const res = await fetch(other.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.health.report.requested'), body: '{}' })
  const body = await res.json() as Obj
  t.equal(res.status, 502, 'refused by the API: an error to fix in the deployment, not a finding')
  t.match(body, { message: /stats summary of node n1: Forbidden/ })
})
