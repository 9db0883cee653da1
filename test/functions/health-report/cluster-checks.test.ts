import t from 'tap'
import type { V1Deployment, V1Node, V1Pod, V1StatefulSet } from '@kubernetes/client-node'
import { configSchema, healthPolicy, type HealthReportConfig } from '../../../functions/health-report/config.ts'
import { cordonedFinding, nodePressureFindings } from '../../../functions/health-report/checks/nodes-pressure.ts'
import { formatBytes, parseQuantity } from '../../../functions/health-report/checks/quantity.ts'
import {
  addToCommitment, commitmentFindings, containerMemoryFindings, fsFill, memoryLimits, nodeUsageFindings, podAmounts, summaryFindings, type Commitment,
} from '../../../functions/health-report/checks/usage.ts'
import { deploymentFinding, notReadyPodFinding, restartFindings, statefulSetFinding } from '../../../functions/health-report/checks/workloads.ts'
import { validateConfig } from '../../../shared/config.ts'
import type { StatsSummary } from '../../../shared/kubernetes/metrics.ts'

// The cluster checks' judgements, case by case: thresholds at their
// boundaries, the grace, and what is someone else's finding.

const now = new Date('2026-12-05T12:00:00Z')
const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000).toISOString()
const GRACE = 15 * 60_000
const GiB = 2 ** 30
const defaults = validateConfig<HealthReportConfig>({}, configSchema, 'test').thresholds

t.test('quantities', async (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['250m', 0.25], ['4', 4], ['7800m', 7.8], ['329087452n', 0.329087452], ['2748180Ki', 2748180 * 1024], ['1.5Gi', 1.5 * GiB],
    ['100M', 1e8], ['1e3', 1000], ['12E', 12e18], ['5u', 5e-6], ['', undefined], ['lots', undefined], ['1Gb', undefined],
  ]
  for (const [text, value] of cases) {
    const got = parseQuantity(text)
    if (value === undefined) t.equal(got, undefined, text)
    else t.ok(got !== undefined && Math.abs(got - value) < 1e-9 * Math.max(1, value), `${text} = ${value}`)
  }
  t.equal(formatBytes(1.6 * GiB), '1.6 GiB')
  t.equal(formatBytes(512), '512 B')
})

t.test('the thresholds: defaults, and a critical below its warning refused', async (t) => {
  t.same(defaults, {
    disk: { warning: 80, critical: 90 }, nodeCpu: { warning: 90 }, nodeMemory: { warning: 85, critical: 95 }, containerMemory: { warning: 90 },
    requests: { warning: 90 }, limits: { cpu: 200, memory: 100 }, restarts: { window: '24h', warning: 3, critical: 10 },
  })
  t.equal(healthPolicy(validateConfig<HealthReportConfig>({}, configSchema, 'test')).restartWindowMs, 24 * 3_600_000)
  const partial = validateConfig<HealthReportConfig>({ thresholds: { disk: { warning: 70 } } }, configSchema, 'test')
  t.same(partial.thresholds.disk, { warning: 70, critical: 90 }, 'a partial object keeps the other defaults')
  t.throws(() => healthPolicy(validateConfig<HealthReportConfig>({ thresholds: { disk: { warning: 95, critical: 90 } } }, configSchema, 'test')), { message: /thresholds\.disk: critical \(90\) must not be below warning \(95\)/ })
  t.throws(() => healthPolicy(validateConfig<HealthReportConfig>({ thresholds: { restarts: { window: '0s' } } }, configSchema, 'test')), { message: /thresholds\.restarts\.window/ })
  t.throws(() => validateConfig({ thresholds: { disk: { warning: 0 } } }, configSchema, 'test'))
  t.throws(() => validateConfig({ thresholds: { disks: {} } }, configSchema, 'test'), 'unknown keys are refused')
})

const node = (conditions: Array<[string, string]>, spec: V1Node['spec'] = {}, allocatable = { cpu: '4', memory: '16Gi' }): V1Node => ({
  metadata: { name: 'n1' }, spec,
  status: { allocatable, conditions: conditions.map(([type, status]) => ({ type, status, reason: `${type}${status}`, lastTransitionTime: new Date(at(-60)) })) },
})

t.test('node pressure and cordons', async (t) => {
  t.same(nodePressureFindings(node([['Ready', 'True'], ['MemoryPressure', 'True'], ['DiskPressure', 'False'], ['PIDPressure', 'True']])).map((f) => `${f.severity} ${f.reason}`), ['critical MemoryPressure', 'critical PIDPressure'])
  t.same(nodePressureFindings(node([['Ready', 'Unknown'], ['MemoryPressure', 'Unknown']])), [], 'Unknown is the nodes check\'s (the kubelet stopped reporting)')
  t.same(nodePressureFindings(node([['NetworkUnavailable', 'True']])), [], 'only the three pressure conditions')
  t.equal(cordonedFinding(node([])), undefined)
  t.match(cordonedFinding(node([], { unschedulable: true })), { check: 'cordoned', severity: 'warning', reason: 'Cordoned' })
  t.notOk(cordonedFinding(node([], { unschedulable: true }))?.since, 'no taint: no since')
  t.match(cordonedFinding(node([], { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: new Date(at(-90)) }] })), { since: at(-90) })
})

const fs = (capacity: number, available: number, inodes?: [number, number]) => ({ capacityBytes: capacity, availableBytes: available, usedBytes: capacity - available, ...(inodes ? { inodes: inodes[0], inodesFree: inodes[1] } : {}) })

t.test('filesystems and volumes from the stats summary', async (t) => {
  t.same(fsFill(fs(100, 20, [1000, 50])), { bytes: 80, inodes: 95 })
  t.same(fsFill({ capacityBytes: 100, usedBytes: 30 }), { bytes: 30 }, 'used bytes when available is not reported')
  t.same(fsFill({ usedBytes: 30 }), {}, 'no capacity, no fill')
  const summary = (root: ReturnType<typeof fs>, image: ReturnType<typeof fs>, pods: StatsSummary['pods'] = []): StatsSummary => ({ node: { nodeName: 'n1', fs: root, runtime: { imageFs: image } }, pods })
  const seen = new Set<string>()
  const all = () => true
  t.same(summaryFindings(summary(fs(100, 20), fs(100, 20)), defaults.disk, all, seen).findings.map((f) => `${f.severity} ${f.reason}`), ['warning NodeFilesystem'], 'exactly 80%: a warning; the image filesystem on the root one is reported once')
  t.same(summaryFindings(summary(fs(100, 50), fs(200, 10)), defaults.disk, all, seen).findings.map((f) => `${f.severity} ${f.reason}`), ['critical ImageFilesystem'])
  t.same(summaryFindings(summary(fs(100, 21), fs(100, 21)), defaults.disk, all, seen).findings, [], 'below the warning: nothing')
  const vol = (namespace: string, claim: string, f: ReturnType<typeof fs>) => ({ podRef: { name: `${claim}-pod`, namespace, uid: 'u' }, volume: [{ name: 'data', ...f, pvcRef: { name: claim, namespace } }, { name: 'scratch', ...fs(10, 0) }] })
  const pods = [vol('a', 'full', fs(10, 0.5, [100, 50])), vol('a', 'inodes', fs(10, 9, [100, 4])), vol('b', 'elsewhere', fs(10, 0)), vol('a', 'full', fs(10, 0.5))]
  const judged = summaryFindings(summary(fs(100, 90), fs(100, 90), pods), defaults.disk, (ns) => ns === 'a', seen)
  t.same(judged.findings.map((f) => `${f.severity} ${f.object.kind} ${f.object.namespace}/${f.object.name} ${f.reason}`), ['critical PersistentVolumeClaim a/full VolumeFull', 'critical PersistentVolumeClaim a/inodes VolumeFull:inodes'], 'a volume without a claim is not judged; one out of scope neither; a claim mounted twice once')
  t.equal(judged.volumes, 2)
  t.same(summaryFindings(summary(fs(100, 90), fs(100, 90), pods), defaults.disk, (ns) => ns === 'a', seen).findings, [], 'a claim judged on another node is not judged again')
})

const metrics = (cpu: string, memory: string) => ({ metadata: { name: 'n1' }, timestamp: at(-1), window: '20s', usage: { cpu, memory } })

t.test('node use against allocatable', async (t) => {
  const reasons = (n: V1Node, cpu: string, memory: string) => nodeUsageFindings(n, metrics(cpu, memory), defaults).map((f) => `${f.severity} ${f.reason}`)
  t.same(reasons(node([]), '3600m', `${13.6 * 1024}Mi`), ['warning CPUUsage', 'warning MemoryUsage'], 'cpu 90%, memory 85%: warnings at the threshold')
  t.same(reasons(node([]), '3599m', '15.2Gi'), ['critical MemoryUsage'], 'memory 95%: critical')
  t.same(reasons(node([], {}, { cpu: '', memory: '' }), '4', '16Gi'), [], 'no allocatable, no judgement')
})

const pod = (spec: Partial<NonNullable<V1Pod['spec']>>, phase = 'Running', nodeName: string | null = 'n1'): V1Pod => ({
  metadata: { name: 'p', namespace: 'ns', creationTimestamp: new Date(at(-600)) },
  spec: { containers: [], ...(nodeName ? { nodeName } : {}), ...spec }, status: { phase },
})
const c = (name: string, requests: Record<string, string>, limits: Record<string, string> = {}, restartPolicy?: string) => ({ name, resources: { requests, limits }, ...(restartPolicy ? { restartPolicy } : {}) })

t.test('container memory against its limit', async (t) => {
  const p = pod({ containers: [c('app', {}, { memory: '1Gi' }), c('sidecar', {})] })
  const limits = memoryLimits(p)
  t.same([...limits.keys()], ['app'])
  const m = { metadata: { name: 'p', namespace: 'ns' }, timestamp: at(-1), window: '20s', containers: [{ name: 'app', usage: { cpu: '1', memory: '922Mi' } }, { name: 'sidecar', usage: { cpu: '1', memory: '10Gi' } }] }
  t.same(containerMemoryFindings(m, limits, defaults.containerMemory).map((f) => `${f.severity} ${f.reason} ${f.message.split(' ').slice(0, 2).join(' ')}`), ['warning ContainerMemoryNearLimit container app'], '90%: a warning; a container without a limit is not judged')
  t.same(containerMemoryFindings(m, undefined, defaults.containerMemory), [], 'a pod without limits')
})

t.test('what a pod commits on its node, as the scheduler counts it', async (t) => {
  t.same(podAmounts(pod({ containers: [c('a', { cpu: '100m', memory: '1Gi' }, { cpu: '1' }), c('b', {}, { memory: '2Gi' })] })), { cpuRequests: 0.1, memoryRequests: 3 * GiB, cpuLimits: 1, memoryLimits: 2 * GiB }, 'a limit without a request is the request')
  t.same(podAmounts(pod({ containers: [c('a', { cpu: '100m' })], initContainers: [c('init', { cpu: '2' })] })).cpuRequests, 2, 'an init container larger than the containers')
  t.same(podAmounts(pod({ containers: [c('a', { cpu: '1' })], initContainers: [c('proxy', { cpu: '500m' }, {}, 'Always'), c('init', { cpu: '1200m' })] })).cpuRequests, 1.7, 'a sidecar adds (1 + 0.5); a later init container runs beside it (1.2 + 0.5 is more)')
  t.same(podAmounts(pod({ containers: [c('a', { cpu: '1', memory: '1Gi' })], overhead: { cpu: '250m', memory: '120Mi' } })), { cpuRequests: 1.25, memoryRequests: GiB + 120 * 2 ** 20, cpuLimits: 0, memoryLimits: 0 }, 'the pod overhead adds to requests (and to limits only where there are some)')
  const byNode = new Map<string, Commitment>()
  addToCommitment(byNode, pod({ containers: [c('a', { cpu: '1' })] }))
  addToCommitment(byNode, pod({ containers: [c('a', { cpu: '9' })] }, 'Succeeded'))
  addToCommitment(byNode, pod({ containers: [c('a', { cpu: '9' })] }, 'Failed'))
  addToCommitment(byNode, pod({ containers: [c('a', { cpu: '9' })] }, 'Pending', null))
  t.same(byNode.get('n1'), { cpuRequests: 1, memoryRequests: 0, cpuLimits: 0, memoryLimits: 0, pods: 1 }, 'terminated and unscheduled pods do not count')
})

t.test('commitment against allocatable', async (t) => {
  const judge = (c: Partial<Commitment>) => commitmentFindings(node([]), { cpuRequests: 0, memoryRequests: 0, cpuLimits: 0, memoryLimits: 0, pods: 3, ...c }, defaults).map((f) => `${f.severity} ${f.reason}`)
  t.same(judge({ cpuRequests: 3.5 }), [], '87.5% requested')
  t.same(judge({ cpuRequests: 3.6 }), ['warning RequestsCommitted:cpu'], '90%: a warning')
  t.same(judge({ cpuRequests: 4 }), ['warning RequestsCommitted:cpu'], 'exactly all of it is not more than the node has')
  t.same(judge({ memoryRequests: 17 * GiB }), ['critical RequestsCommitted:memory'])
  t.same(judge({ cpuLimits: 8, memoryLimits: 16 * GiB }), [], 'cpu limits at 200%, memory at 100%: not above')
  t.same(judge({ cpuLimits: 8.1, memoryLimits: 16.1 * GiB }), ['warning LimitsOvercommitted:cpu', 'warning LimitsOvercommitted:memory'])
  t.same(commitmentFindings(node([]), undefined, defaults), [], 'a node without pods')
})

const deployment = (replicas: number, available: number, conditions: Array<[string, string, string, number]>, created = -60 * 24 * 30): V1Deployment => ({
  metadata: { name: 'd', namespace: 'ns', creationTimestamp: new Date(at(created)) },
  spec: { replicas, selector: {}, template: {} },
  status: { availableReplicas: available, readyReplicas: available, conditions: conditions.map(([type, status, reason, minutes]) => ({ type, status, reason, lastUpdateTime: new Date(at(minutes)), lastTransitionTime: new Date(at(minutes)) })) },
})

t.test('Deployments below their desired availability, past the grace', async (t) => {
  const judge = (d: V1Deployment) => { const f = deploymentFinding(d, now, GRACE); return f && `${f.severity} ${f.reason} ${f.message.split(' ')[0]}` }
  t.equal(judge(deployment(3, 3, [['Available', 'True', 'MinimumReplicasAvailable', -600]])), undefined)
  t.equal(judge(deployment(0, 0, [])), undefined, 'scaled to zero')
  t.equal(judge(deployment(3, 1, [['Available', 'False', 'MinimumReplicasUnavailable', -120], ['Progressing', 'True', 'NewReplicaSetAvailable', -600]])), 'warning ReplicasUnavailable 1/3')
  t.equal(judge(deployment(3, 0, [['Available', 'False', 'MinimumReplicasUnavailable', -120]])), 'critical ReplicasUnavailable 0/3')
  t.equal(judge(deployment(3, 1, [['Available', 'False', 'MinimumReplicasUnavailable', -5]])), undefined, 'short for five minutes: within the grace')
  t.equal(judge(deployment(3, 2, [['Available', 'True', 'MinimumReplicasAvailable', -600], ['Progressing', 'True', 'ReplicaSetUpdated', -2]])), undefined, 'a rollout progressing')
  t.equal(judge(deployment(3, 2, [['Available', 'True', 'MinimumReplicasAvailable', -600], ['Progressing', 'True', 'ReplicaSetUpdated', -60]])), 'warning ReplicasUnavailable 2/3', 'a rollout that has not progressed for an hour')
  t.equal(judge(deployment(3, 2, [['Available', 'True', 'MinimumReplicasAvailable', -600], ['Progressing', 'False', 'ProgressDeadlineExceeded', -1]])), 'warning ProgressDeadlineExceeded 2/3', 'past its progress deadline: reported at once')
  t.equal(judge(deployment(2, 0, [], -3)), undefined, 'a new Deployment without conditions yet')
})

const statefulSet = (replicas: number, ready: number, extra: Partial<NonNullable<V1StatefulSet['status']>> = {}, generation = 1): V1StatefulSet => ({
  metadata: { name: 's', namespace: 'ns', generation, creationTimestamp: new Date(at(-6000)) },
  spec: { replicas, selector: {}, serviceName: 's', template: {} },
  status: { replicas, readyReplicas: ready, observedGeneration: 1, ...extra },
})

t.test('StatefulSets short of ready replicas', async (t) => {
  t.equal(statefulSetFinding(statefulSet(3, 3), now, GRACE), undefined)
  t.match(statefulSetFinding(statefulSet(3, 2), now, GRACE), { severity: 'warning', reason: 'ReplicasUnavailable', message: '2/3 replicas ready' })
  t.match(statefulSetFinding(statefulSet(3, 3, { availableReplicas: 1 }), now, GRACE), { severity: 'warning', message: '3/3 replicas ready, 1 available' }, 'ready but not yet available (minReadySeconds)')
  t.match(statefulSetFinding(statefulSet(1, 0, { currentRevision: 's-1', updateRevision: 's-2', updatedReplicas: 0 }), now, GRACE), { severity: 'critical', message: /rolling update to s-2 under way/ })
  t.equal(statefulSetFinding(statefulSet(3, 2, {}, 2), now, GRACE), undefined, 'a spec the controller has not seen yet')
})

const running = (ready: boolean, readySince: number, state: object = { running: { startedAt: new Date(at(-600)) } }, extra: Partial<NonNullable<V1Pod['status']>> = {}): V1Pod => ({
  metadata: { name: 'p', namespace: 'ns', creationTimestamp: new Date(at(-600)) },
  spec: { containers: [{ name: 'c' }] },
  status: {
    phase: 'Running', startTime: new Date(at(-600)),
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? undefined : 'ContainersNotReady', lastTransitionTime: new Date(at(readySince)) }] as NonNullable<V1Pod['status']>['conditions'],
    containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready, restartCount: 0, state }],
    ...extra,
  },
})

t.test('pods Running but not Ready', async (t) => {
  t.equal(notReadyPodFinding(running(true, -600), now, GRACE), undefined)
  t.match(notReadyPodFinding(running(false, -60), now, GRACE), { check: 'pods-not-ready', severity: 'warning', reason: 'ContainersNotReady', since: at(-60), message: /containers not ready: c/ })
  t.equal(notReadyPodFinding(running(false, -5), now, GRACE), undefined, 'within the grace')
  t.equal(notReadyPodFinding(running(false, -60, { waiting: { reason: 'CrashLoopBackOff' } }), now, GRACE), undefined, 'a crash loop is the pods check\'s finding')
  t.equal(notReadyPodFinding({ ...running(false, -60), status: { ...running(false, -60).status, phase: 'Succeeded' } }, now, GRACE), undefined)
  const terminating = running(false, -60)
  terminating.metadata!.deletionTimestamp = new Date(at(-1))
  t.equal(notReadyPodFinding(terminating, now, GRACE), undefined, 'a pod going away')
})

t.test('restarts within the window', async (t) => {
  const restarted = (count: number, finishedMinutesAgo: number, init = false): V1Pod => {
    const status = { name: 'c', image: 'i', imageID: '', ready: true, restartCount: count, state: { running: {} }, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled', finishedAt: new Date(at(-finishedMinutesAgo)) } } }
    return { metadata: { name: 'p', namespace: 'ns' }, spec: { containers: [{ name: 'c' }] }, status: { phase: 'Running', ...(init ? { initContainerStatuses: [status] } : { containerStatuses: [status] }) } }
  }
  const judge = (p: V1Pod, th: { warning: number; critical?: number } = defaults.restarts) => restartFindings(p, now, 24 * 60 * 60_000, th).map((f) => `${f.severity} ${f.reason} x${f.count}`)
  t.same(judge(restarted(2, 10)), [], 'below the threshold')
  t.same(judge(restarted(3, 10)), ['warning Restarts:OOMKilled x3'])
  t.same(judge(restarted(10, 10)), ['critical Restarts:OOMKilled x10'])
  t.same(judge(restarted(10, 10), { warning: 3 }), ['warning Restarts:OOMKilled x10'], 'no critical threshold: warnings only')
  t.same(judge(restarted(50, 25 * 60)), [], 'the last restart before the window')
  t.same(judge(restarted(5, 10, true)), ['warning Restarts:OOMKilled x5'], 'init and sidecar containers too')
  t.same(judge({ metadata: { name: 'p' }, status: { containerStatuses: [{ name: 'c', image: 'i', imageID: '', ready: true, restartCount: 9 }] } }), [], 'no last termination recorded')
})
