import { readFile } from 'node:fs/promises'
import t from 'tap'
import { AppsV1Api, BatchV1Api, CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import respondToAlert, { createRespondToAlert } from '../../../functions/respond-to-alert/index.ts'
import { configSchema, type RespondToAlertConfig } from '../../../functions/respond-to-alert/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { alertmanagerSkipReason, startAlertmanager } from '../../../sandbox/harness/alertmanager.ts'
import { binaryHeaders, startTestFunction, type TestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// respond-to-alert over HTTP, against the Kubernetes simulator enforcing the
// manifest's RBAC and a real Alertmanager for silences.

const skip = alertmanagerSkipReason()
if (skip) {
  t.pass(`skipped: ${skip}`)
} else {
  const am = await startAlertmanager({ webhookUrl: 'http://127.0.0.1:9/unused' })
  t.teardown(() => am.close())
  const kube = await startKubernetesSimulator()
  t.teardown(() => kube.close())
  const admin = kube.kubeConfig()
  const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/respond-to-alert/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)
  for (const ns of ['caretaker', 'apps', 'databases', 'gitea', 'kube-system']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  for (const obj of rbac) kube.store.seed(obj)
  const podTemplate = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } }
  const workload = (kind: string, namespace: string, name: string, replicas = 1) => kube.store.seed({
    apiVersion: 'apps/v1', kind, metadata: { name, namespace },
    spec: { ...(kind === 'DaemonSet' ? {} : { replicas }), selector: { matchLabels: { app: 'x' } }, template: podTemplate, ...(kind === 'StatefulSet' ? { serviceName: name } : {}) },
  })
  workload('Deployment', 'apps', 'web')
  workload('Deployment', 'kube-system', 'coredns')
  workload('StatefulSet', 'databases', 'postgres', 2)
  workload('DaemonSet', 'apps', 'node-exporter')
  for (let i = 0; i < 30; i++) workload('Deployment', 'apps', `storm-${i}`)
  kube.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gitea-0', namespace: 'gitea' }, spec: podTemplate.spec })
  kube.store.seed({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'postgres-backup', namespace: 'databases' }, spec: { schedule: '0 2 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'backup', image: 'postgres:16' }] } } } } } })

  const config: RespondToAlertConfig = validateConfig({
    alertmanagerUrl: am.url,
    // The alerts here are sent straight to the function; confirming them with Alertmanager is alertmanager-e2e's.
    verifyAlerts: false,
    cap: { actions: 9, window: '10m' },
    rules: [
      { name: 'crashloop', matchers: ['alertname="KubePodCrashLooping"'], allowedNamespaces: ['gitea', 'apps'], actions: [{ type: 'deletePod', name: '{{ $labels.pod }}' }] },
      { name: 'restart-web', matchers: ['alertname=~"HighLatency|Stuck.*"', 'severity!="info"', 'namespace!~"kube-.*"'], allowedNamespaces: ['apps'], silence: true, actions: [{ type: 'restart', kind: 'Deployment', name: '{{ $labels.deployment }}' }, { type: 'notify', message: 'restarted {{ $labels.deployment }}' }] },
      { name: 'restart-ds', matchers: ['alertname="NodeExporterStuck"'], allowedNamespaces: ['apps'], actions: [{ type: 'restart', kind: 'DaemonSet', name: '{{ $labels.daemonset }}' }] },
      { name: 'restart-any', matchers: ['alertname="Restart"'], allowedNamespaces: ['apps', 'databases'], actions: [{ type: 'restart', kind: 'StatefulSet', name: '{{ $labels.statefulset }}' }] },
      { name: 'scale-up', matchers: ['alertname="Saturated"'], allowedNamespaces: ['databases'], actions: [{ type: 'scale', kind: 'StatefulSet', name: '{{ $labels.statefulset }}', delta: 2, min: 1, max: 3 }] },
      { name: 'scale-web', matchers: ['alertname="WebSaturated"'], allowedNamespaces: ['apps'], actions: [{ type: 'scale', kind: 'Deployment', name: '{{ $labels.deployment }}', delta: 1, min: 1, max: 2 }] },
      { name: 'backup-failed', matchers: ['alertname="KubeJobFailed"', 'job_name=~"postgres-backup-.*"'], allowedNamespaces: ['databases'], actions: [{ type: 'runCronJob', name: 'postgres-backup' }] },
      { name: 'verify-failed', matchers: ['alertname="BackupVerificationFailed"'], namespace: 'caretaker', allowedNamespaces: ['caretaker'], cooldown: '1h', actions: [{ type: 'request', eventType: 'dev.caretaker.backup.verify.requested', data: { set: '{{ $labels.set }}' } }] },
      { name: 'storm', matchers: ['alertname="Storm"'], allowedNamespaces: ['apps'], actions: [{ type: 'restart', kind: 'Deployment', name: '{{ $labels.deployment }}' }] },
    ],
  }, configSchema, 'test')

  const sink = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => sink.close())
  const token = kube.mintServiceAccountToken('caretaker', 'respond-to-alert')
  const env = { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false', K_SINK: `${sink.url}/broker` }
  let fn: TestFunction = await startTestFunction(respondToAlert, { config, env })
  t.teardown(() => fn.stop())

  let n = 0
  const alert = (labels: Record<string, string>, status: 'firing' | 'resolved' = 'firing', startsAt = '2026-11-22T10:00:00Z') =>
    ({ fingerprint: `fp-${labels.alertname}-${labels.namespace}-${labels.deployment ?? labels.pod ?? labels.statefulset ?? labels.set ?? ''}`, status, labels, annotations: {}, startsAt })
  const send = async (data: ReturnType<typeof alert>, extra: Record<string, string> = {}, target = fn) => {
    const type = data.status === 'firing' ? 'dev.caretaker.alert.firing' : 'dev.caretaker.alert.resolved'
    const res = await fetch(target.url, { method: 'POST', headers: binaryHeaders(type, { 'ce-id': `alert-${++n}`, 'ce-source': am.url, ...extra }), body: JSON.stringify(data) })
    const text = await res.text()
    return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Record<string, unknown> : undefined }
  }
  const apps = admin.makeApiClient(AppsV1Api)
  const restartedAt = async (kind: 'Deployment' | 'StatefulSet' | 'DaemonSet', namespace: string, name: string) => {
    const obj = kind === 'Deployment' ? await apps.readNamespacedDeployment({ namespace, name }) : kind === 'StatefulSet' ? await apps.readNamespacedStatefulSet({ namespace, name }) : await apps.readNamespacedDaemonSet({ namespace, name })
    return obj.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']
  }
  const reasons = async (namespace: string) => (await admin.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace })).items.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}:${e.reason}`)

  t.test('crash-looping pod: deleted, audited, with a remediated reply', async (t) => {
    const res = await send(alert({ alertname: 'KubePodCrashLooping', namespace: 'gitea', pod: 'gitea-0', severity: 'critical' }))
    t.equal(res.status, 200)
    t.equal(res.type, 'dev.caretaker.alert.remediated')
    t.equal(res.body?.rule, 'crashloop')
    t.match(res.body?.actions, [{ action: 'delete Pod', target: 'gitea/gitea-0', done: true }])
    await t.rejects(admin.makeApiClient(CoreV1Api).readNamespacedPod({ namespace: 'gitea', name: 'gitea-0' }), 'the pod is gone')
    t.ok((await reasons('gitea')).includes('Pod/gitea-0:AlertRemediated'), 'an audit Event')
  })

  t.test('namespace guard: a target outside the allowed namespaces is refused', async (t) => {
    const res = await send(alert({ alertname: 'KubePodCrashLooping', namespace: 'kube-system', pod: 'etcd-0' }))
    t.equal(res.type, 'dev.caretaker.alert.skipped')
    t.match(res.body?.reason, /namespace kube-system is not among the rule's allowed namespaces/)
  })

  t.test('no matching rule; a missing template label', async (t) => {
    t.match((await send(alert({ alertname: 'HighLatency', namespace: 'kube-system', deployment: 'coredns', severity: 'critical' }))).body?.reason, /no rule matches/, '!~ on the namespace excludes it')
    t.match((await send(alert({ alertname: 'HighLatency', namespace: 'apps', deployment: 'web', severity: 'info' }))).body?.reason, /no rule matches/, '!= on severity excludes it')
    t.match((await send(alert({ alertname: 'HighLatency', namespace: 'apps', severity: 'critical' }))).body?.reason, /no label "deployment"/)
  })

  t.test('dry-run plans and changes nothing', async (t) => {
    const res = await send(alert({ alertname: 'StuckRollout', namespace: 'apps', deployment: 'web', severity: 'warning' }), { 'ce-dryrun': 'true' })
    t.equal(res.type, 'dev.caretaker.alert.remediated')
    t.equal(res.body?.dryRun, true)
    t.match(res.body?.actions, [{ dryRun: true, done: false, message: /would restart Deployment apps\/web/ }])
    t.equal(await restartedAt('Deployment', 'apps', 'web'), undefined)
    t.same((await am.silences()).length, 0, 'no silence')
  })

  t.test('the actions taken and the alerts skipped are counted', async (t) => {
    const text = await (await fetch(new URL('/metrics', fn.url))).text()
    const value = (series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1] ?? 0)
    t.equal(value('caretaker_alert_actions_total{rule="crashloop",action="deletePod",result="done"}'), 1)
    t.equal(value('caretaker_alert_actions_total{rule="restart-web",action="restart",result="dry-run"}') > 0, true, 'dry-run actions apart')
    t.equal(value('caretaker_alert_skipped_total{reason="no-rule"}'), 2)
    t.equal(value('caretaker_alert_skipped_total{reason="template"}'), 1)
    t.equal(value('caretaker_alert_skipped_total{reason="namespace"}'), 1)
  })

  let silenceId = ''
  t.test('rollout restart with a silence while it runs, a notification, then resolved expires the silence', async (t) => {
    const labels = { alertname: 'StuckRollout', namespace: 'apps', deployment: 'web', severity: 'warning' }
    const before = sink.on('/broker').length
    const res = await send(alert(labels))
    t.equal(res.type, 'dev.caretaker.alert.remediated')
    t.ok(await restartedAt('Deployment', 'apps', 'web'), 'the restartedAt annotation is set')
    silenceId = String(res.body?.silenceId)
    const silence = (await am.silences()).find((s) => s.id === silenceId)
    t.equal(silence?.status.state, 'active', 'the alert is silenced in Alertmanager')
    t.ok(silence?.matchers.some((m) => m.name === 'deployment' && m.value === 'web'))
    const sent = sink.on('/broker').slice(before)
    t.equal(sent.length, 1)
    t.equal(sent[0]?.headers['ce-type'], 'dev.caretaker.alert.notification')
    const done = await send(alert(labels, 'resolved'))
    t.equal(done.type, 'dev.caretaker.alert.remediated')
    t.equal(done.body?.reason, 'resolved')
    t.equal(done.body?.silenceId, silenceId)
    t.equal((await am.silences()).find((s) => s.id === silenceId)?.status.state, 'expired', 'the silence is expired')
  })

  t.test('cooldown per rule and target, dedup of a re-sent notification, both surviving a restart', async (t) => {
    const labels = { alertname: 'StuckRollout', namespace: 'apps', deployment: 'web', severity: 'warning' }
    const again = await send(alert(labels, 'firing', '2026-11-22T11:00:00Z'))
    t.equal(again.type, 'dev.caretaker.alert.skipped')
    t.match(again.body?.reason, /cooldown/)
    await fn.stop()
    // Leases long expired: respond-to-alert's own are swept at the next event; another owner's are not touched.
    const leaseApi = admin.makeApiClient(CoordinationV1Api)
    const lease = (name: string, managedBy: string | undefined, renewedAgoMs: number) => leaseApi.createNamespacedLease({ namespace: 'caretaker', body: {
      metadata: { name, namespace: 'caretaker', ...(managedBy ? { labels: { 'app.kubernetes.io/managed-by': managedBy } } : {}) },
      spec: { holderIdentity: 'x', leaseDurationSeconds: 60, renewTime: new Date(Date.now() - renewedAgoMs).toISOString() as unknown as Date },
    } })
    await lease('respond-to-alert-seen-old1', 'respond-to-alert', 3 * 3_600_000)
    await lease('respond-to-alert-seen-old2', 'respond-to-alert', 2 * 3_600_000)
    await lease('respond-to-alert-seen-recent', 'respond-to-alert', 10 * 60_000)
    await lease('someone-elses', undefined, 5 * 3_600_000)
    fn = await startTestFunction(respondToAlert, { config, env })
    const afterRestart = await send(alert(labels, 'firing', '2026-11-22T12:00:00Z'))
    t.match(afterRestart.body?.reason, /cooldown/, 'a restarted function remembers the cooldown (Leases)')
    const names = async () => (await leaseApi.listNamespacedLease({ namespace: 'caretaker' })).items.map((l) => l.metadata!.name!)
    for (let i = 0; i < 50 && (await names()).includes('respond-to-alert-seen-old1'); i++) await new Promise((r) => setTimeout(r, 20))
    const left = await names()
    t.notOk(left.includes('respond-to-alert-seen-old1') || left.includes('respond-to-alert-seen-old2'), 'its Leases expired over an hour ago are swept')
    t.ok(left.includes('respond-to-alert-seen-recent'), 'one expired within the grace is kept')
    t.ok(left.includes('someone-elses'), 'another owner\'s Lease is not touched')
    t.ok(left.some((n) => n.startsWith('respond-to-alert-cooldown-')), 'live cooldowns are kept')
    const resent = await send(alert({ alertname: 'KubePodCrashLooping', namespace: 'gitea', pod: 'gitea-0', severity: 'critical' }))
    t.equal(resent.type, 'dev.caretaker.alert.skipped')
    t.match(resent.body?.reason, /duplicate/, 'a re-sent notification (new CloudEvent id, same alert) acts once')
    const leases = await admin.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: 'caretaker' })
    t.ok(leases.items.length >= 3, 'the state is on Leases')
  })

  t.test('DaemonSet and StatefulSet restarts; scale within bounds; Job from CronJob; request event', async (t) => {
    const ds = await send(alert({ alertname: 'NodeExporterStuck', namespace: 'apps', daemonset: 'node-exporter', severity: 'warning' }))
    t.equal(ds.type, 'dev.caretaker.alert.remediated')
    t.ok(await restartedAt('DaemonSet', 'apps', 'node-exporter'), 'a DaemonSet rollout restart')
    const r = await send(alert({ alertname: 'Restart', namespace: 'databases', statefulset: 'postgres' }))
    t.equal(r.type, 'dev.caretaker.alert.remediated')
    t.ok(await restartedAt('StatefulSet', 'databases', 'postgres'))
    const s = await send(alert({ alertname: 'Saturated', namespace: 'databases', statefulset: 'postgres' }))
    t.match(s.body?.actions, [{ action: 'scale StatefulSet', message: /from 2 to 3/ }], 'clamped to max 3')
    t.equal((await apps.readNamespacedStatefulSet({ namespace: 'databases', name: 'postgres' })).spec?.replicas, 3)
    const w = await send(alert({ alertname: 'WebSaturated', namespace: 'apps', deployment: 'web' }))
    t.match(w.body?.actions, [{ action: 'scale Deployment', message: /from 1 to 2/ }])
    t.equal((await apps.readNamespacedDeployment({ namespace: 'apps', name: 'web' })).spec?.replicas, 2, 'a Deployment scales too')
    const j = await send(alert({ alertname: 'KubeJobFailed', namespace: 'databases', job_name: 'postgres-backup-29400120' }))
    t.equal(j.type, 'dev.caretaker.alert.remediated')
    const jobs = await admin.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: 'databases' })
    t.equal(jobs.items.length, 1)
    t.equal(jobs.items[0]?.metadata?.ownerReferences?.[0]?.name, 'postgres-backup')
    const before = sink.on('/broker').length
    const v = await send(alert({ alertname: 'BackupVerificationFailed', set: 'postgresql' }))
    t.equal(v.type, 'dev.caretaker.alert.remediated')
    const sent = sink.on('/broker').slice(before)
    t.equal(sent[0]?.headers['ce-type'], 'dev.caretaker.backup.verify.requested')
    t.same(JSON.parse(sent[0]!.body.toString()), { set: 'postgresql' })
  })

  t.test('two replicas given the same alert at once: one acts', async (t) => {
    const second = await startTestFunction(createRespondToAlert(), { config, env })
    t.teardown(() => second.stop())
    const labels = { alertname: 'KubePodCrashLooping', namespace: 'apps', pod: 'web-1' }
    kube.store.seed({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-1', namespace: 'apps' }, spec: podTemplate.spec })
    const [a, b] = await Promise.all([send(alert(labels)), send(alert(labels), {}, second)])
    t.same([a.type, b.type].sort(), ['dev.caretaker.alert.remediated', 'dev.caretaker.alert.skipped'])
    t.match([a, b].find((r) => r.type === 'dev.caretaker.alert.skipped')?.body?.reason, /duplicate|cooldown/)
  })

  t.test('an alert storm trips the cap across rules and reports once', async (t) => {
    // 9 actions were taken above by eight rules; the cap is 9 per 10 minutes, so the storm finds it full.
    const results = []
    for (let i = 0; i < 10; i++) results.push(await send(alert({ alertname: 'Storm', namespace: 'apps', deployment: `storm-${i}` })))
    t.ok(results.every((r) => r.type === 'dev.caretaker.alert.skipped'))
    t.match(results[0]?.body?.reason, /cap reached: 9 actions per 10m \(alert storm; reported once\)/, 'the first refusal reports the storm')
    t.ok(results.slice(1).every((r) => r.body?.reason === 'cap reached'), 'later ones do not report it again')
    const reports = (await reasons('caretaker')).filter((r) => r.endsWith('AlertStormCapReached'))
    t.equal(reports.length, 1, 'one storm Event')
    for (let i = 0; i < 10; i++) t.equal(await restartedAt('Deployment', 'apps', `storm-${i}`), undefined)
  })
}
