import { readFile } from 'node:fs/promises'
import t from 'tap'
import { CoreV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import healthReport from '../../../functions/health-report/index.ts'
import { configSchema, type HealthReportConfig } from '../../../functions/health-report/config.ts'
import { recordDay, HISTORY_KEY } from '../../../functions/health-report/history.ts'
import { dayRecord, type DayRecord } from '../../../functions/health-report/checks/digest.ts'
import { validateConfig } from '../../../shared/config.ts'
import { createKubeConfig } from '../../../shared/kubernetes/kubeconfig.ts'
import { binaryHeaders, startTestFunction, type TestFunction } from '../../../sandbox/harness/function.ts'
import { alertmanagerSkipReason, startAlertmanager } from '../../../sandbox/harness/alertmanager.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

// health-report's platform checks end to end over HTTP: a real Alertmanager
// holding posted alerts (one silenced), Longhorn Volumes and RecurringJobs
// and ExternalSecrets in the Kubernetes simulator (under the manifest's
// exact RBAC), three Vault simulators as one HA cluster; then the daily
// history in its ConfigMap, written by two replicas at once, and the
// weekly digest that reads it.

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const HOUR = 3_600_000
const DAY = 24 * HOUR
const ago = (ms: number) => new Date(Date.now() - ms).toISOString()

const skip = alertmanagerSkipReason()
if (skip) t.fail(skip)

const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
for (const ns of ['caretaker', 'longhorn-system', 'production', 'monitoring']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
for (const obj of parseAllDocuments(await readFile(new URL('../../../manifests/health-report/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Obj)) kube.store.seed(obj)
const seed = (obj: Obj) => kube.store.seed(obj)

// Longhorn: a daily backup job in the default group, a snapshot job in group `fast`.
const lh = 'longhorn.io/v1beta2'
seed({ apiVersion: lh, kind: 'RecurringJob', metadata: { name: 'backup-daily', namespace: 'longhorn-system' }, spec: { name: 'backup-daily', task: 'backup', cron: '0 3 * * *', retain: 14, concurrency: 2, groups: ['default'] } })
seed({ apiVersion: lh, kind: 'RecurringJob', metadata: { name: 'snapshot-hourly', namespace: 'longhorn-system' }, spec: { name: 'snapshot-hourly', task: 'snapshot', cron: '0 * * * *', retain: 24, concurrency: 2, groups: ['fast'] } })
const volume = (name: string, pvc: string, labels: Record<string, string>, status: Obj) => seed({
  apiVersion: lh, kind: 'Volume', metadata: { name, namespace: 'longhorn-system', labels, creationTimestamp: ago(100 * DAY) },
  spec: { size: String(10 * 2 ** 30), numberOfReplicas: 3, frontend: 'blockdev' },
  status: { state: 'attached', robustness: 'healthy', lastBackupAt: ago(5 * HOUR), kubernetesStatus: { namespace: 'production', pvcName: pvc }, ...status },
})
volume('pvc-aaa', 'data-ok', {}, {})
volume('pvc-bbb', 'data-degraded', { 'recurring-job-group.longhorn.io/default': 'enabled' }, { robustness: 'degraded', lastDegradedAt: ago(2 * DAY) })
volume('pvc-ccc', 'data-faulted', {}, { robustness: 'faulted', state: 'detached' })
volume('pvc-ddd', 'scratch', { 'recurring-job-group.longhorn.io/fast': 'enabled' }, {})
volume('pvc-eee', 'detached', {}, { robustness: 'unknown', state: 'detached' })

// ExternalSecrets: one synced, one failing for an hour, one for two days.
const es = (namespace: string, name: string, ready: Obj) => seed({
  apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', metadata: { name, namespace, creationTimestamp: ago(30 * DAY) },
  spec: { refreshInterval: '1h', secretStoreRef: { kind: 'ClusterSecretStore', name: 'vault-backend' }, target: { name }, data: [{ secretKey: 'k', remoteRef: { key: `${namespace}/${name}`, property: 'k' } }] },
  status: { refreshTime: ago(3 * DAY), conditions: [ready] },
})
es('production', 'api-jwt', { type: 'Ready', status: 'True', reason: 'SecretSynced', message: 'secret synced', lastTransitionTime: ago(DAY) })
es('production', 'web-session', { type: 'Ready', status: 'False', reason: 'SecretSyncedError', message: 'could not get secret data from provider', lastTransitionTime: ago(HOUR) })
es('monitoring', 'grafana-admin', { type: 'Ready', status: 'False', reason: 'SecretSyncedError', message: 'could not get secret data from provider', lastTransitionTime: ago(2 * DAY) })

// Vault: the service address is the active node; vault-1 a standby; vault-2 sealed.
const vault0 = await startVaultSimulator()
const vault1 = await startVaultSimulator()
const vault2 = await startVaultSimulator()
t.teardown(() => Promise.all([vault0.close(), vault1.close(), vault2.close()]))
vault1.setHa({ role: 'standby', leaderAddress: vault0.url })
vault2.seal()

// A real Alertmanager with alerts posted to it; nothing is delivered.
const am = await startAlertmanager({ webhookUrl: 'http://127.0.0.1:9/', groupWait: '1h', groupInterval: '1h' })
t.teardown(() => am.close())
await am.fire([
  { labels: { alertname: 'KubePodCrashLooping', severity: 'warning', namespace: 'production', pod: 'api-1', container: 'api' }, annotations: { summary: 'Pod is crash looping.' }, startsAt: ago(3 * HOUR) },
  { labels: { alertname: 'KubePodCrashLooping', severity: 'warning', namespace: 'production', pod: 'api-2', container: 'api' }, annotations: { summary: 'Pod is crash looping.' }, startsAt: ago(6 * HOUR) },
  { labels: { alertname: 'TargetDown', severity: 'critical', namespace: 'monitoring', job: 'node-exporter' }, annotations: { summary: 'One or more targets are unreachable.' }, startsAt: ago(HOUR) },
  { labels: { alertname: 'Watchdog', severity: 'none' }, annotations: { summary: 'An alert that should always be firing' }, startsAt: ago(10 * DAY) },
  { labels: { alertname: 'KubeJobFailed', severity: 'warning', namespace: 'production', job_name: 'nightly' }, startsAt: ago(2 * HOUR) },
])
// Silenced: not firing for the report (Alertmanager's own filter, silenced=false).
const silence = await fetch(`${am.url}/api/v2/silences`, {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ matchers: [{ name: 'alertname', value: 'KubeJobFailed', isRegex: false, isEqual: true }], startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + HOUR).toISOString(), createdBy: 'test', comment: 'known' }),
})
t.equal(silence.status, 200, 'the silence was taken')

const config: HealthReportConfig = validateConfig({
  namespaces: ['caretaker', 'longhorn-system', 'production', 'monitoring'],
  checks: ['vault', 'alerts', 'longhorn', 'externalsecrets'],
  pageSize: 2,
  vault: { address: vault0.url, timeout: '2s', members: [vault0.url, vault1.url, vault2.url], minStandbys: 2 },
  alertmanager: { address: am.url, timeout: '2s' },
}, configSchema, 'test')
const token = kube.mintServiceAccountToken('caretaker', 'health-report')
// Not in dry-run: the daily run writes its history.
const env = { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false' }
const fn: TestFunction = await startTestFunction(healthReport, { config, env })
const stopAtEnd: TestFunction[] = [fn]
t.teardown(async () => { for (const f of stopAtEnd.reverse()) await f.stop() })

const post = async (url: string, type: string, data: unknown, extra: Record<string, string> = {}) => {
  const res = await fetch(url, { method: 'POST', headers: binaryHeaders(type, extra), body: JSON.stringify(data) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Obj : undefined }
}
const line = (f: Obj) => `${f.check} ${f.severity} ${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name} ${f.reason}${f.count ? ` x${f.count}` : ''}`
const core = createKubeConfig({ server: kube.url, token: kube.mintServiceAccountToken('caretaker', 'health-report') }).makeApiClient(CoreV1Api)
const history = async (): Promise<DayRecord[]> => {
  const cm = await core.readNamespacedConfigMap({ namespace: 'caretaker', name: 'health-report-history' })
  return JSON.parse(cm.data![HISTORY_KEY]!) as DayRecord[]
}

t.test('the platform checks: firing alerts, Longhorn volumes, ExternalSecrets, Vault HA', async (t) => {
  const res = await post(fn.url, 'dev.caretaker.health.report.requested', {})
  t.equal(res.status, 200)
  t.equal(res.type, 'dev.caretaker.health.reported')
  const report = res.body!
  t.same((report.findings as Obj[]).map(line), [
    `vault warning Vault ${vault0.url} TooFewStandbys`,
    `vault warning VaultMember ${vault2.url} MemberSealed`,
    'alerts critical Alert monitoring/TargetDown Firing:critical x1',
    'alerts warning Alert production/KubePodCrashLooping Firing:warning x2',
    'longhorn critical Volume longhorn-system/pvc-bbb Degraded',
    'longhorn critical Volume longhorn-system/pvc-ccc Faulted',
    'longhorn warning Volume longhorn-system/pvc-ddd NoBackupJob',
    'externalsecrets critical ExternalSecret monitoring/grafana-admin NotReady:SecretSyncedError',
    'externalsecrets warning ExternalSecret production/web-session NotReady:SecretSyncedError',
  ])
  t.same(report.scanned, { vault: 4, alerts: 4, longhorn: 5, externalsecrets: 3 }, 'every object read, across pages of two; the silenced alert is not listed by Alertmanager')
  t.same(report.alerts, { firing: 4, bySeverity: { warning: 2, critical: 1, none: 1 }, oldest: { alertname: 'Watchdog', severity: 'none', startsAt: report.alerts.oldest.startsAt } })
  t.ok(Date.parse(report.alerts.oldest.startsAt) < Date.now() - 9 * DAY, 'the oldest is the Watchdog, ten days old')
  const byLine = new Map((report.findings as Obj[]).map((f) => [line(f), f]))
  t.match(byLine.get('alerts warning Alert production/KubePodCrashLooping Firing:warning x2'), { message: /oldest: pod=api-2\): Pod is crash looping\./ })
  t.match(byLine.get(`vault warning Vault ${vault0.url} TooFewStandbys`), { message: /^1 of 3 members are standbys, fewer than the 2 configured/ })
  t.match(byLine.get('longhorn warning Volume longhorn-system/pvc-ddd NoBackupJob'), { message: /PVC production\/scratch.*only snapshot-hourly \(snapshot\)/ })
  t.notOk(report.history, 'a requested report records no history')
})

t.test('Vault without a leader; Alertmanager unreachable', async (t) => {
  vault0.setHa({ role: 'standby', leaderAddress: '' })
  t.teardown(() => vault0.setHa({ role: 'active' }))
  const closed = await startVaultSimulator()
  const gone = closed.url
  await closed.close()
  const other = await startTestFunction(healthReport, { config: { ...config, checks: ['vault', 'alerts'], vault: { ...config.vault!, members: [], minStandbys: 0 }, alertmanager: { ...config.alertmanager!, address: gone } }, env })
  // Stopped with the file: instances of one module share its state, and stopping one ends it for all.
  stopAtEnd.push(other)
  const res = await post(other.url, 'dev.caretaker.health.report.requested', {})
  t.same((res.body!.findings as Obj[]).map(line), [`vault critical Vault ${vault0.url} NoLeader`, `alerts critical Alertmanager ${gone} Unreachable`])
})

t.test('the daily run records its counts once a day, also from two replicas at once; a conflict is read and merged again', async (t) => {
  // A second server of the function: both handle their tick at the same time.
  const replica = await startTestFunction(healthReport, { config, env })
  stopAtEnd.push(replica)
  const ping = (url: string) => post(url, 'dev.knative.sources.ping', { report: 'daily' }, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/health-report-daily' })
  const [a, b] = await Promise.all([ping(fn.url), ping(replica.url)])
  t.match(a.body, { history: { recorded: true, days: 1 } })
  t.match(b.body, { history: { recorded: true, days: 1 } })
  let kept = await history()
  t.equal(kept.length, 1, 'one record for the day, whichever replica wrote last')
  t.match(kept[0], { status: 'critical', counts: { critical: 4, warning: 5 }, byCheck: { vault: 2, alerts: 2, longhorn: 3, externalsecrets: 2 } })
  t.same(kept[0]!.figures, { alerts: { warning: 2, critical: 1, none: 1 } }, 'the raw figure of the checks that measure one: firing alerts by severity')
  t.ok(kept[0]!.problems.includes('longhorn Faulted Volume longhorn-system/pvc-ccc'))

  // A redelivery: still one record.
  await ping(fn.url)
  t.equal((await history()).length, 1)

  // Dry-run records the history too (Caretaker's own bookkeeping, not a change to the platform), once per day.
  const dry = await post(fn.url, 'dev.knative.sources.ping', { report: 'daily' }, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/health-report-daily', 'ce-dryrun': 'true' })
  t.match(dry.body!.history, { recorded: true, days: 1 })
  t.equal((await history()).length, 1, 'still one record for the day')

  // Two writers of different days at once, plus a 409 injected: both days are kept.
  const conflict = kube.faults.add({ method: 'PUT', path: '/api/v1/namespaces/caretaker/configmaps/health-report-history', status: 409, count: 1 })
  const at = { namespace: 'caretaker', name: 'health-report-history' }
  const day = (d: number) => dayRecord({ checkedAt: new Date(Date.now() - d * DAY).toISOString(), status: 'degraded', counts: { critical: 0, warning: 1 }, findings: [], byCheck: {} })
  await Promise.all([recordDay(core, at, day(1), 14), recordDay(core, at, day(2), 14)])
  t.notOk(kube.faults.list().some((r) => r.id === conflict), 'the injected 409 was answered, and retried')
  kept = await history()
  t.equal(kept.length, 3, 'today, yesterday and the day before')
})

t.test('the weekly run compares the recorded days into a digest', async (t) => {
  const at = { namespace: 'caretaker', name: 'health-report-history' }
  const finding = { check: 'longhorn' as const, severity: 'critical' as const, object: { kind: 'Volume', namespace: 'longhorn-system', name: 'pvc-ccc' }, reason: 'Faulted', message: '' }
  for (const d of [3, 4, 5, 6]) await recordDay(core, at, dayRecord({ checkedAt: new Date(Date.now() - d * DAY).toISOString(), status: 'critical', counts: { critical: 1, warning: 0 }, findings: [finding], byCheck: { longhorn: 1 } }), 14)
  const res = await post(fn.url, 'dev.knative.sources.ping', { report: 'weekly' }, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/health-report-weekly' })
  t.equal(res.status, 200)
  t.equal(res.type, 'dev.caretaker.health.digest')
  const digest = res.body!
  t.match(digest, { kind: 'weekly', reported: 7, missing: [], status: 'critical' })
  t.same(digest.recurring[0], { problem: 'longhorn Faulted Volume longhorn-system/pvc-ccc', days: 5, firstSeen: digest.from, lastSeen: digest.to }, 'the faulted volume on five of the seven days')
  t.match(digest.trends.find((x: Obj) => x.key === 'critical'), { first: 1, last: 4 }, 'critical findings: 1 six days ago, 4 today')
  t.ok((digest.new as string[]).includes('alerts Firing:critical Alert monitoring/TargetDown'), 'what only the last day has')
})
