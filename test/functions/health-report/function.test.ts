import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import healthReport from '../../../functions/health-report/index.ts'
import { configSchema, type HealthReportConfig } from '../../../functions/health-report/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction, type TestFunction } from '../../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

// health-report end to end through the runtime over HTTP, on a platform
// with a known set of planted problems among healthy objects: the report
// must list every planted problem and nothing else. The Kubernetes
// simulator enforces exactly the manifest's read-only RBAC; Vault's
// sys/health comes from the Vault simulator. Pages of two objects make the
// function walk `continue` tokens through every list.

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const ago = (ms: number) => new Date(Date.now() - ms).toISOString()
const ahead = (ms: number) => new Date(Date.now() + ms).toISOString()

// Nothing reacts on its own: the objects stay exactly as planted.
const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
const vault = await startVaultSimulator()
t.teardown(() => vault.close())

for (const ns of ['caretaker', 'production', 'databases', 'kube-system', 'vault', 'gitea', 'elsewhere']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/health-report/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Obj)
for (const obj of rbac) kube.store.seed(obj)
const seed = (obj: Obj) => kube.store.seed(obj)

// Nodes: four Ready, one whose kubelet stopped reporting.
const node = (name: string, ready: boolean) => seed({
  apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  status: { conditions: [ready
    ? { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: ago(MINUTE), lastTransitionTime: ago(30 * DAY) }
    : { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastHeartbeatTime: ago(50 * MINUTE), lastTransitionTime: ago(45 * MINUTE) }] },
})
for (const n of ['control-plane', 'worker-1', 'worker-2', 'worker-3']) node(n, true)
node('worker-4', false)

// Pods: healthy ones running or completed, one still starting (within the grace), and three failing.
const pod = (namespace: string, name: string, phase: string, opts: { created?: string; reason?: string; message?: string; state?: Obj; ready?: boolean } = {}) => seed({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, creationTimestamp: opts.created ?? ago(2 * DAY) },
  spec: { containers: [{ name: 'main', image: 'registry.example.com/app:1.0' }], nodeName: 'worker-1' },
  status: {
    phase, startTime: opts.created ?? ago(2 * DAY),
    ...(opts.reason ? { reason: opts.reason } : {}), ...(opts.message ? { message: opts.message } : {}),
    containerStatuses: opts.state ? [{ name: 'main', image: 'registry.example.com/app:1.0', imageID: '', ready: opts.ready ?? false, restartCount: 0, state: opts.state }] : [],
  },
})
for (let i = 1; i <= 5; i++) pod('production', `web-${i}`, 'Running', { state: { running: { startedAt: ago(DAY) } }, ready: true })
pod('databases', 'postgres-0', 'Running', { state: { running: { startedAt: ago(DAY) } }, ready: true })
pod('databases', 'postgres-backup-29012345-abcde', 'Succeeded', { state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: ago(3 * HOUR), finishedAt: ago(3 * HOUR) } } })
pod('production', 'starting', 'Pending', { created: ago(MINUTE), state: { waiting: { reason: 'ContainerCreating' } } })
pod('production', 'crashy', 'Running', { state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s restarting failed container=main pod=crashy_production' } } })
pod('production', 'pull-fail', 'Pending', { created: ago(2 * HOUR), state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "registry.example.com/app:1.1"' } } })
pod('databases', 'evicted', 'Failed', { reason: 'Evicted', message: 'The node was low on resource: memory.' })
// Outside the configured namespaces: not the report's business (and not readable with its RBAC).
pod('elsewhere', 'broken', 'Failed', { reason: 'Evicted', message: 'The node was low on resource: memory.' })

// Events: Warnings of the last day (two of the same reason and object, to be grouped), an old one and a Normal one that are not reported.
let eventNo = 0
const event = (namespace: string, object: Obj, type: 'Normal' | 'Warning', reason: string, message: string, count: number, last: string) => seed({
  apiVersion: 'v1', kind: 'Event', metadata: { name: `${object.name}.${(++eventNo).toString(16).padStart(16, '0')}`, namespace, creationTimestamp: last },
  involvedObject: { apiVersion: 'v1', namespace, ...object }, type, reason, message, count, firstTimestamp: last, lastTimestamp: last, source: { component: 'kubelet', host: 'worker-1' },
})
event('production', { kind: 'Pod', name: 'crashy' }, 'Warning', 'BackOff', 'Back-off restarting failed container main in pod crashy_production', 5, ago(3 * HOUR))
event('production', { kind: 'Pod', name: 'crashy' }, 'Warning', 'BackOff', 'Back-off restarting failed container main in pod crashy_production (latest)', 3, ago(10 * MINUTE))
event('production', { kind: 'Pod', name: 'pull-fail' }, 'Warning', 'Failed', 'Failed to pull image "registry.example.com/app:1.1": not found', 2, ago(HOUR))
event('production', { kind: 'Pod', name: 'web-1' }, 'Warning', 'Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 503', 4, ago(2 * DAY))
event('production', { kind: 'Pod', name: 'web-2' }, 'Normal', 'Pulled', 'Container image already present on machine', 1, ago(HOUR))

// Certificates: two healthy, one not Ready, one expiring within the threshold, one expired (and so not Ready).
const certificate = (namespace: string, name: string, status: Obj) => seed({
  apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name, namespace },
  spec: { secretName: name, dnsNames: [`${name}.example.com`], issuerRef: { name: 'letsencrypt-prod', kind: 'ClusterIssuer' } }, status,
})
const readyCondition = { type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: ago(10 * DAY) }
certificate('production', 'api-tls', { conditions: [readyCondition], notAfter: ahead(60 * DAY), renewalTime: ahead(30 * DAY) })
certificate('databases', 'postgres-tls', { conditions: [readyCondition], notAfter: ahead(300 * DAY), renewalTime: ahead(200 * DAY) })
certificate('production', 'admin-tls', { conditions: [{ type: 'Ready', status: 'False', reason: 'DoesNotExist', message: 'Issuing certificate as Secret does not exist', lastTransitionTime: ago(26 * HOUR) }] })
certificate('production', 'web-tls', { conditions: [readyCondition], notAfter: ahead(5 * DAY + HOUR), renewalTime: ago(HOUR) })
certificate('databases', 'old-tls', { conditions: [{ type: 'Ready', status: 'False', reason: 'Expired', message: 'Certificate expired on Sun, 22 Nov 2026', lastTransitionTime: ago(DAY) }], notAfter: ago(DAY) })

// Backups: one fine, one failed with no success since, one that did not run in its window, one that failed and then succeeded.
const cronJob = (namespace: string, name: string) => seed({
  apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name, namespace },
  spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'backup', image: 'backup:1' }] } } } } },
})
const job = (owner: Obj, name: string, outcome: 'Complete' | 'Failed', started: string) => seed({
  apiVersion: 'batch/v1', kind: 'Job',
  metadata: { name, namespace: owner.metadata.namespace, creationTimestamp: started, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: owner.metadata.name, uid: owner.metadata.uid, controller: true }] },
  spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'backup', image: 'backup:1' }] } } },
  status: {
    startTime: started, ...(outcome === 'Complete' ? { succeeded: 1, completionTime: started } : { failed: 1 }),
    conditions: [{ type: outcome, status: 'True', lastProbeTime: started, lastTransitionTime: started, ...(outcome === 'Failed' ? { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' } : {}) }],
  },
})
job(cronJob('databases', 'postgres-backup'), 'postgres-backup-29012345', 'Complete', ago(3 * HOUR))
const redis = cronJob('databases', 'redis-backup')
job(redis, 'redis-backup-29012200', 'Complete', ago(26 * HOUR))
job(redis, 'redis-backup-29012345', 'Failed', ago(2 * HOUR))
job(cronJob('kube-system', 'etcd-backup'), 'etcd-backup-29012000', 'Complete', ago(30 * HOUR))
const vaultBackup = cronJob('vault', 'vault-backup')
job(vaultBackup, 'vault-backup-29012300', 'Failed', ago(20 * HOUR))
job(vaultBackup, 'vault-backup-29012301', 'Complete', ago(19 * HOUR))
job(cronJob('gitea', 'gitea-backup'), 'gitea-backup-29010000', 'Complete', ago(4 * DAY))

// PVCs: one Bound, one Pending past the grace, one just created.
const pvc = (name: string, phase: string, created: string) => seed({
  apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'production', creationTimestamp: created },
  spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'longhorn', resources: { requests: { storage: '10Gi' } } }, status: { phase },
})
pvc('data-web', 'Bound', ago(100 * DAY))
pvc('data-pending', 'Pending', ago(2 * HOUR))
pvc('data-new', 'Pending', ago(MINUTE))

// Vault is sealed.
vault.seal()

const config: HealthReportConfig = validateConfig({
  namespaces: ['kube-system', 'production', 'databases', 'vault', 'gitea', 'caretaker'],
  // The first seven checks; the cluster checks (cluster.test.ts) and the platform ones (platform.test.ts) have their own tests.
  checks: ['nodes', 'pods', 'events', 'certificates', 'vault', 'backups', 'pvcs'],
  pageSize: 2, eventWindow: '24h', certificateExpiry: '14d', grace: '15m',
  vault: { address: vault.url, timeout: '2s' },
  backups: [
    { namespace: 'kube-system', name: 'etcd-backup' },
    { namespace: 'databases', name: 'postgres-backup' },
    { namespace: 'databases', name: 'redis-backup' },
    { namespace: 'vault', name: 'vault-backup' },
    { namespace: 'gitea', name: 'gitea-backup', window: '7d' },
  ],
}, configSchema, 'test')
const token = kube.mintServiceAccountToken('caretaker', 'health-report')
const fn: TestFunction = await startTestFunction(healthReport, { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token } })
t.teardown(() => fn.stop())

const send = async (type: string, data: unknown, extra: Record<string, string> = {}) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(type, extra), body: JSON.stringify(data) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Obj : undefined }
}
const line = (f: Obj) => `${f.check} ${f.severity} ${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name} ${f.reason}${f.count ? ` x${f.count}` : ''}`

t.test('the daily report on an unhealthy platform lists every planted problem and nothing else', async (t) => {
  const res = await send('dev.knative.sources.ping', { report: 'daily' }, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/health-report-daily' })
  t.equal(res.status, 200)
  t.equal(res.type, 'dev.caretaker.health.reported')
  const report = res.body!
  t.equal(report.status, 'critical')
  t.same((report.findings as Obj[]).map(line), [
    'nodes critical Node worker-4 NodeStatusUnknown',
    'vault critical Vault ' + vault.url + ' Sealed',
    'backups critical Job databases/redis-backup-29012345 BackupFailed',
    'backups critical CronJob kube-system/etcd-backup BackupMissing',
    'certificates critical Certificate databases/old-tls Expired',
    'certificates warning Certificate databases/old-tls NotReady:Expired',
    'certificates warning Certificate production/admin-tls NotReady:DoesNotExist',
    'certificates warning Certificate production/web-tls Expiring',
    'pods warning Pod databases/evicted Evicted',
    'pods warning Pod production/crashy CrashLoopBackOff',
    'pods warning Pod production/pull-fail ImagePullBackOff',
    'pvcs warning PersistentVolumeClaim production/data-pending Pending',
    'events warning Pod production/crashy BackOff x8',
    'events warning Pod production/pull-fail Failed x2',
  ])
  t.same(report.counts, { critical: 5, warning: 9 })
  t.same(report.scanned, { nodes: 5, pods: 11, events: 4, certificates: 5, vault: 1, backups: 5, pvcs: 3 }, 'every object was read, across pages of two')
  const byLine = new Map((report.findings as Obj[]).map((f) => [line(f), f]))
  t.match(byLine.get('events warning Pod production/crashy BackOff x8'), { message: /\(latest\)$/, lastSeen: /Z$/, since: /Z$/ }, 'the group carries the latest message')
  t.match(byLine.get('pods warning Pod production/crashy CrashLoopBackOff'), { message: /^phase Running: back-off 5m0s/ })
  t.match(byLine.get('backups critical Job databases/redis-backup-29012345 BackupFailed'), { message: /BackoffLimitExceeded/ })
  t.match(byLine.get('certificates warning Certificate production/web-tls Expiring'), { message: /in 5 days/ })
  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  t.match(metrics, /^caretaker_health_status 2$/m)
  t.match(metrics, /^caretaker_health_findings\{check="backups",severity="critical"\} 2$/m)
})

t.test('a request may ask for some checks; a healthy part reports healthy', async (t) => {
  vault.unseal()
  t.teardown(() => vault.seal())
  const res = await send('dev.caretaker.health.report.requested', { checks: ['vault', 'nodes'] })
  t.equal(res.type, 'dev.caretaker.health.reported')
  t.same(res.body?.checks, ['vault', 'nodes'])
  t.same((res.body?.findings as Obj[]).map(line), ['nodes critical Node worker-4 NodeStatusUnknown'], 'an unsealed Vault is no finding')
  const vaultOnly = await send('dev.caretaker.health.report.requested', { checks: ['vault'] })
  t.match(vaultOnly.body, { status: 'healthy', findings: [], counts: { critical: 0, warning: 0 } })
})

t.test('an unreachable Vault and an API that fails are told apart', async (t) => {
  const closed = await startVaultSimulator()
  const address = closed.url
  await closed.close()
  const other = await startTestFunction(healthReport, { config: { ...config, checks: ['vault'], vault: { address, timeout: '2s' } }, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token } })
  t.teardown(() => other.stop())
  const res = await fetch(other.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.health.report.requested'), body: '{}' })
  const body = await res.json() as Obj
  t.match(body, { status: 'critical', findings: [{ check: 'vault', reason: 'Unreachable', message: /ECONNREFUSED/ }] }, 'Vault unreachable is a finding, not an error')

  kube.faults.add({ path: '/api/v1/nodes', status: 503, count: 1 })
  const failed = await send('dev.caretaker.health.report.requested', { checks: ['nodes'] })
  t.equal(failed.status, 503, 'the Kubernetes API failing is an error Knative retries, not a report')
  t.match(failed.body, { error: 'dependency_unavailable', message: /list Nodes/ })
})

t.test('bad requests are 400s', async (t) => {
  const res = await send('dev.caretaker.health.report.requested', { checks: ['everything'] })
  t.equal(res.status, 400)
  t.match(res.body, { error: 'invalid_event_data' })
})
