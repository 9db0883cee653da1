import { readFile } from 'node:fs/promises'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import healthReport from '../../../functions/health-report/index.ts'
import { configSchema, type HealthReportConfig } from '../../../functions/health-report/config.ts'
import { HEALTH_CHECKS } from '../../../shared/events/types/health.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { demoAlerts, seedSandbox, startDemoVaultStandby } from '../../../sandbox/platform/index.ts'
import { healthReportConfig } from '../../../sandbox/local/sandbox-configs.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator } from '../../../sandbox/simulators/vault/index.ts'
import { alertmanagerSkipReason, startAlertmanager } from '../../../sandbox/harness/alertmanager.ts'

// health-report on the demo platform that `npm start` runs: with the
// manifest's RBAC and the sandbox's namespaces it reads everything it needs,
// and reports the problems the demo is seeded with.

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const now = new Date()

const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
const vault = await startVaultSimulator()
t.teardown(() => vault.close())
const seeded = await seedSandbox({ kube, vault, now })
const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/health-report/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Obj)
for (const obj of rbac) {
  if (!kube.store.get(obj.apiVersion, obj.kind, obj.metadata.namespace ?? '', obj.metadata.name)) kube.store.seed(obj)
}
// Where Alertmanager is not installed the alerts parts say so and are skipped (under CI=true this throws instead).
const skip = alertmanagerSkipReason()
// Nothing is delivered: the webhook goes nowhere, the alerts stay in the API.
const am = skip ? undefined : await startAlertmanager({ webhookUrl: 'http://127.0.0.1:9/', groupWait: '1h', groupInterval: '1h' })
if (am) t.teardown(() => am.close())
// The sandbox's own demo alerts: a warning BackupJobFailed in databases, the Watchdog with severity none.
await am?.fire(demoAlerts(now))
const cronJobs = [...new Map(seeded.backupJobs.map((j) => [`${j.namespace}/${j.cronJob}`, j])).values()]
const config: HealthReportConfig = validateConfig({
  namespaces: seeded.namespaces,
  vault: { address: vault.url },
  ...(am ? { alertmanager: { address: am.url } } : { checks: HEALTH_CHECKS.filter((c) => c !== 'alerts') }),
  backups: cronJobs.map((j) => ({ namespace: j.namespace, name: j.cronJob, window: j.schedule.split(/\s+/)[4] === '*' ? '24h' : '7d' })),
}, configSchema, 'test')
const fn = await startTestFunction(healthReport, { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'health-report') } })
t.teardown(() => fn.stop())

t.test('the demo platform\'s report: its down node, its failing certificates, a healthy Vault', async (t) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.knative.sources.ping'), body: '{}' })
  t.equal(res.status, 200)
  const report = await res.json() as Obj
  const findings = report.findings as Obj[]
  const has = (check: string, name: string, reason: RegExp) => findings.some((f) => f.check === check && f.object.name === name && reason.test(f.reason))
  t.comment(findings.map((f) => `${f.check} ${f.severity} ${f.object.kind} ${f.object.namespace ?? ''}/${f.object.name} ${f.reason} ${f.message}`).join('\n'))
  t.equal(report.status, 'critical')
  t.notOk(report.skipped, 'every check ran with the manifest\'s RBAC')
  t.ok(report.scanned.pods > 0 && report.scanned.certificates === seeded.certificates.length, 'pods and every Certificate were read')
  t.ok(has('nodes', 'worker-3', /NodeStatusUnknown/), 'the node that stopped reporting')
  for (const c of seeded.certificates) {
    if (c.state === 'failed') t.ok(has('certificates', c.name, /^NotReady/), `${c.namespace}/${c.name} is not Ready`)
    if (c.state === 'expiring') t.ok(has('certificates', c.name, /^Expiring$/), `${c.namespace}/${c.name} expires soon`)
    if (c.state === 'ready') t.notOk(findings.some((f) => f.object.name === c.name && f.check === 'certificates'), `${c.namespace}/${c.name} is fine`)
  }
  t.notOk(findings.some((f) => f.check === 'vault'), 'an unsealed Vault is no finding')
  // The platform checks: the degraded Longhorn volume (never backed up), the volume no backup job covers, the ExternalSecret that does not sync, the firing alert.
  const redis1 = findings.filter((f) => f.check === 'longhorn' && f.message.includes('databases/data-redis-1')).map((f) => `${f.severity} ${f.reason}`)
  t.same(redis1.sort(), ['warning Degraded', 'warning NeverBackedUp'], 'data-redis-1: degraded for 5 h (warning below a day) and never backed up')
  t.ok(findings.some((f) => f.check === 'longhorn' && f.reason === 'NoBackupJob' && f.message.includes('vault/vault-snapshots') && f.message.includes('snapshot-hourly (snapshot)')), 'the volume covered by snapshots only')
  t.equal(findings.filter((f) => f.check === 'longhorn').length, 3, 'the healthy, backed-up volumes are no finding')
  t.match(findings.filter((f) => f.check === 'externalsecrets'), [{ severity: 'critical', object: { namespace: 'monitoring', name: 'grafana-admin' }, reason: 'NotReady:SecretSyncedError', message: /could not get secret data from provider \(never synced\)/ }])
  t.equal(findings.filter((f) => f.check === 'externalsecrets').length, 1, 'the synced ExternalSecrets are no finding')
  if (am) {
    t.match(findings.filter((f) => f.check === 'alerts'), [{ severity: 'warning', object: { kind: 'Alert', namespace: 'databases', name: 'BackupJobFailed' }, reason: 'Firing:warning' }], 'the Watchdog (severity none) is counted, no finding')
    t.match(report.alerts, { firing: 2, bySeverity: { warning: 1, none: 1 } })
  } else {
    t.comment(`skipped: alertmanager not installed (${skip})`)
  }
  t.match(report.history, { recorded: true }, 'in dry-run, as the demo runs by default, its own history is still written: the digest has days to compare')
  // The day's raw figures, for the digest's trends: the demo's failed redis backup among its backup Jobs, the firing alerts.
  const history = kube.store.get('v1', 'ConfigMap', 'caretaker', 'health-report-history') as Obj
  const figures = (JSON.parse(history.data['history.json']) as Obj[]).at(-1)!.figures as Obj
  t.ok(figures.backupJobs.failed >= 1 && figures.backupJobs.succeeded >= 1, `backup Jobs in their windows by outcome: ${JSON.stringify(figures.backupJobs)}`)
  t.same(figures.alerts, { warning: 1, none: 1 })
  t.ok(figures.restarts.count > 0 && Object.keys(figures.fill).length > 0, 'the cluster checks\' figures: restarts, fill')
})

t.test('the demo platform gives each cluster check something to find', async (t) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.health.report.requested'), body: JSON.stringify({ checks: ['node-pressure', 'cordoned', 'disk-usage', 'resource-usage', 'commitment', 'workloads', 'pods-not-ready', 'restarts'] }) })
  t.equal(res.status, 200)
  const report = await res.json() as Obj
  const lines = (report.findings as Obj[]).map((f) => `${f.check} ${f.severity} ${f.object.kind} ${f.object.namespace ? `${f.object.namespace}/` : ''}${f.object.name} ${f.reason}`)
  t.comment(lines.join('\n'))
  t.notOk(report.skipped, 'metrics-server and the kubelets answer, with the manifest\'s RBAC')
  const has = (pattern: RegExp) => t.ok(lines.some((l) => pattern.test(l)), pattern.source)
  has(/^node-pressure critical Node worker-2 DiskPressure$/)
  has(/^cordoned warning Node worker-3 Cordoned$/)
  has(/^disk-usage critical Node worker-2 NodeFilesystem$/)
  has(/^disk-usage critical PersistentVolumeClaim databases\/data-postgres-0 VolumeFull$/)
  has(/^resource-usage warning Node worker-2 CPUUsage$/)
  has(/^resource-usage warning Pod production\/web-\S+ ContainerMemoryNearLimit$/)
  has(/^commitment warning Node worker-1 LimitsOvercommitted:memory$/)
  has(/^workloads warning Deployment monitoring\/loki-read ReplicasUnavailable$/)
  has(/^workloads warning Deployment production\/worker ReplicasUnavailable$/)
  has(/^pods-not-ready warning Pod monitoring\/loki-read-\S+ ContainersNotReady$/)
  has(/^restarts critical Pod production\/worker-\S+ Restarts:Error$/)
  t.notOk(lines.some((l) => / Node worker-3 StatsUnavailable/.test(l)), 'the node that stopped reporting is the nodes check\'s, its kubelet is not asked')
})

t.test('the sandbox\'s own health-report config: the Vault HA cluster with its standby sealed, the demo alerts firing', async (t) => {
  // As `npm start` sets it up (sandbox/local/sandbox.ts): the one Vault active, a second node its sealed standby.
  const standby = await startDemoVaultStandby(vault)
  t.teardown(() => standby.close())
  const demo: HealthReportConfig = validateConfig(healthReportConfig({ seeded, vault: { address: vault.url, members: [vault.url, standby.url] }, ...(am ? { alertmanager: { address: am.url } } : {}) }), configSchema, 'test')
  t.ok(demo.checks.includes('vault'), 'the vault check is on')
  t.equal(demo.checks.includes('alerts'), Boolean(am), 'the alerts check is on exactly when Alertmanager runs')
  const demoFn = await startTestFunction(healthReport, { config: demo, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'health-report') } })
  t.teardown(() => demoFn.stop())
  const res = await fetch(demoFn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.health.report.requested'), body: JSON.stringify({ checks: demo.checks.filter((c) => c === 'vault' || c === 'alerts') }) })
  t.equal(res.status, 200)
  const report = await res.json() as Obj
  const findings = report.findings as Obj[]
  t.comment(findings.map((f) => `${f.check} ${f.severity} ${f.object.kind} ${f.object.name} ${f.reason}`).join('\n'))
  t.notOk(report.skipped, 'both checks ran')
  t.match(findings.filter((f) => f.check === 'vault').sort((a, b) => String(a.reason).localeCompare(String(b.reason))), [
    { severity: 'warning', object: { kind: 'VaultMember', name: standby.url }, reason: 'MemberSealed' },
    { severity: 'critical', object: { kind: 'Vault', name: vault.url }, reason: 'TooFewStandbys' },
  ], 'the sealed standby cannot take over: no standby left')
  t.equal(findings.filter((f) => f.check === 'vault').length, 2, 'the active node itself is no finding')
  if (am) t.match(findings.filter((f) => f.check === 'alerts'), [{ object: { namespace: 'databases', name: 'BackupJobFailed' }, reason: 'Firing:warning' }], 'the demo alert')
  else t.comment(`skipped: alertmanager not installed (${skip})`)
})
