import { readFile } from 'node:fs/promises'
import t from 'tap'
import { BatchV1Api } from '@kubernetes/client-node'
import { parse, parseAllDocuments } from 'yaml'
import { createRespondToAlert } from '../../../functions/respond-to-alert/index.ts'
import { configSchema, type RespondToAlertConfig } from '../../../functions/respond-to-alert/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// The shipped backup-job-failed rule against a real KubeJobFailed alert: its
// labels are kube_job_failed's (kube-state-metrics docs/metrics/workload/
// job-metrics.md: job_name, namespace, condition) plus the scrape's (job,
// instance, and pod: the kube-state-metrics Pod), with no CronJob label. The
// CronJob to re-run is the failed Job's owner.

const sample = JSON.parse(await readFile(new URL('../../../../shared/upstream/events/alertmanager/firing-kubejobfailed.json', import.meta.url), 'utf8')) as { alerts: Array<{ labels: Record<string, string>; fingerprint: string; startsAt: string }> }
const real = sample.alerts[0]!
const shipped = parse(await readFile(new URL('../../../manifests/respond-to-alert/config.yaml', import.meta.url), 'utf8')) as Record<string, unknown>
// The alert is sent straight to the function: confirming it with Alertmanager is alertmanager-e2e's.
const config = validateConfig<RespondToAlertConfig>({ ...shipped, verifyAlerts: false }, configSchema, 'config.yaml')

const kube = await startKubernetesSimulator()
t.teardown(() => kube.close())
const admin = kube.kubeConfig()
const batch = admin.makeApiClient(BatchV1Api)
for (const obj of parseAllDocuments(await readFile(new URL('../../../manifests/respond-to-alert/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)) kube.store.seed(obj)
for (const ns of ['caretaker', 'databases']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
const jobSpec = { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'backup', image: 'postgres:16' }] } } }
kube.store.seed({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'postgres-backup', namespace: 'databases' }, spec: { schedule: '0 2 * * *', jobTemplate: { spec: jobSpec } } })
const cron = await batch.readNamespacedCronJob({ namespace: 'databases', name: 'postgres-backup' })
const ownedBy = [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'postgres-backup', uid: cron.metadata!.uid!, controller: true, blockOwnerDeletion: true }]
// Two failed runs of the CronJob, and a Job someone ran by hand.
kube.store.seed({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'postgres-backup-29400120', namespace: 'databases', ownerReferences: ownedBy }, spec: jobSpec })
kube.store.seed({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'postgres-backup-29401560', namespace: 'databases', ownerReferences: ownedBy }, spec: jobSpec })
kube.store.seed({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'postgres-backup-1', namespace: 'databases' }, spec: jobSpec })

const sink = await startReceiver(() => ({ status: 202 }))
t.teardown(() => sink.close())
const fn = await startTestFunction(createRespondToAlert(), { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'respond-to-alert'), CARETAKER_DRY_RUN: 'false', K_SINK: `${sink.url}/broker` } })
t.teardown(() => fn.stop())

let n = 0
const failed = (jobName: string) => ({ ...real, status: 'firing', fingerprint: `${real.fingerprint}-${jobName}`, labels: { ...real.labels, namespace: 'databases', job_name: jobName } })
const send = async (data: ReturnType<typeof failed>, extra: Record<string, string> = {}) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.alert.firing', { 'ce-id': `job-${++n}`, 'ce-source': '/alertmanager', ...extra }), body: JSON.stringify(data) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Record<string, unknown> : undefined }
}
const jobs = async () => (await batch.listNamespacedJob({ namespace: 'databases' })).items

t.test('the real alert carries job_name and no cronjob label', async (t) => {
  t.ok(real.labels.job_name)
  t.equal(real.labels.cronjob, undefined)
  t.equal(real.labels.alertname, 'KubeJobFailed')
})

t.test('dry-run names the owner CronJob and creates nothing', async (t) => {
  const res = await send(failed('postgres-backup-29400120'), { 'ce-dryrun': 'true' })
  t.equal(res.type, 'dev.caretaker.alert.remediated')
  t.match(res.body?.actions, [{ target: 'databases/postgres-backup', dryRun: true, message: /would create a Job from CronJob databases\/postgres-backup/ }])
  t.equal((await jobs()).length, 3)
})

t.test('a failed run of a backup CronJob is re-run from its owner', async (t) => {
  const res = await send(failed('postgres-backup-29400120'))
  t.equal(res.type, 'dev.caretaker.alert.remediated', JSON.stringify(res.body))
  t.equal(res.body?.rule, 'backup-job-failed')
  t.equal(res.body?.target, 'databases/runCronJob:postgres-backup,notify', 'the target is the CronJob')
  const created = (await jobs()).filter((j) => j.metadata?.annotations?.['cronjob.kubernetes.io/instantiate'] === 'manual')
  t.equal(created.length, 1)
  t.equal(created[0]?.metadata?.ownerReferences?.[0]?.name, 'postgres-backup')
  const note = sink.on('/broker').find((r) => r.headers['ce-type'] === 'dev.caretaker.alert.notification')
  t.match(JSON.parse(note!.body.toString()), { message: 'backup Job databases/postgres-backup-29400120 failed; re-running it from its CronJob' })
})

t.test('another failed run of the same CronJob is within its cooldown', async (t) => {
  const res = await send(failed('postgres-backup-29401560'))
  t.equal(res.type, 'dev.caretaker.alert.skipped')
  t.match(res.body?.reason, /^cooldown: rule backup-job-failed acted on databases\/runCronJob:postgres-backup,notify/)
})

t.test('a Job gone, or not run by a CronJob: skipped, saying why', async (t) => {
  const gone = await send(failed('postgres-backup-29000000'))
  t.equal(gone.type, 'dev.caretaker.alert.skipped')
  t.match(gone.body?.reason, /Job databases\/postgres-backup-29000000 is gone/)
  const manual = await send(failed('postgres-backup-1'))
  t.match(manual.body?.reason, /Job databases\/postgres-backup-1 is not run by a CronJob/)
  const text = await (await fetch(new URL('/metrics', fn.url))).text()
  t.match(text, /caretaker_alert_skipped_total\{reason="target"\} 2/)
})
