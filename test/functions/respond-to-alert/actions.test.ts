import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { AppsV1Api, CoordinationV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { createRespondToAlert } from '../../../functions/respond-to-alert/index.ts'
import { checkConfig, configSchema, type RespondToAlertConfig } from '../../../functions/respond-to-alert/config.ts'
import { alertKey, leaseName } from '../../../functions/respond-to-alert/state.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// A plan of several actions that fails part-way is retried without running
// again what the failed attempt got through (recorded on the alert's claim
// Lease), and a rollout restart waits for its rollout (as `kubectl rollout
// status` judges it) and then for a health URL, bounded by its timeout. The
// Kubernetes simulator's controllers roll the workloads out (or get stuck);
// its fault rules fail a write and count the writes.

const kube = await startKubernetesSimulator({ controllers: { delayMs: 30 } })
t.teardown(() => kube.close())
const admin = kube.kubeConfig()
for (const ns of ['caretaker', 'apps']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
for (const obj of parseAllDocuments(await readFile(new URL('../../../manifests/respond-to-alert/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)) kube.store.seed(obj)
const apps = admin.makeApiClient(AppsV1Api)
const podTemplate = (app: string) => ({ metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } })
for (const name of ['front', 'back', 'stuck', 'healthy', 'sick', 'plan']) {
  await apps.createNamespacedDeployment({ namespace: 'apps', body: { metadata: { name }, spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: podTemplate(name) } } })
}
await apps.createNamespacedDaemonSet({ namespace: 'apps', body: { metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'agent' } }, template: podTemplate('agent') } } })
await kube.controllers.idle()

// The service's health endpoint: /ok answers 503 twice, then 200; /down always 500.
let okCalls = 0
const health = createServer((req, res) => {
  if (req.url === '/ok') { okCalls++; res.statusCode = okCalls <= 2 ? 503 : 200 } else res.statusCode = 500
  res.end()
})
await new Promise<void>((r) => health.listen(0, '127.0.0.1', r))
t.teardown(() => health.close())
const healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}`

const sink = await startReceiver(() => ({ status: 202 }))
t.teardown(() => sink.close())

const restart = (name: string, extra: Record<string, unknown> = {}) => ({ type: 'restart', kind: 'Deployment', name, ...extra })
const rawConfig = {
  verifyAlerts: false,
  cap: { actions: 100, window: '10m' },
  claimFor: '1s',
  restartTimeout: '10s',
  // Attempt 2 of an event is its last: dev.caretaker.alert.failed then.
  retries: 1,
  rules: [
    { name: 'two-restarts', matchers: ['alertname="Pair"'], allowedNamespaces: ['apps'], actions: [restart('front'), restart('back')] },
    { name: 'stuck', matchers: ['alertname="Stuck"'], allowedNamespaces: ['apps'], actions: [restart('stuck')] },
    { name: 'slow-agent', matchers: ['alertname="Agent"'], allowedNamespaces: ['apps'], actions: [{ type: 'restart', kind: 'DaemonSet', name: 'agent', timeout: '2s' }] },
    { name: 'healthy', matchers: ['alertname="Healthy"'], allowedNamespaces: ['apps'], actions: [restart('healthy', { health: { url: `${healthUrl}/ok`, interval: '50ms', attempts: 5, timeout: '1s' } })] },
    { name: 'sick', matchers: ['alertname="Sick"'], allowedNamespaces: ['apps'], actions: [restart('sick', { health: { url: `${healthUrl}/down`, interval: '50ms', attempts: 3, timeout: '1s' } })] },
    { name: 'record', matchers: ['alertname="Record"'], allowedNamespaces: ['apps'], actions: [{ type: 'notify', message: 'one' }, { type: 'notify', message: 'two' }] },
    { name: 'plan', matchers: ['alertname="Plan"'], allowedNamespaces: ['apps'], actions: [restart('plan', { health: { url: `${healthUrl}/ok` } }), { type: 'notify', message: 'restarted plan' }] },
  ],
}
const config: RespondToAlertConfig = validateConfig(rawConfig, configSchema, 'test')
const fn = await startTestFunction(createRespondToAlert(), { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'respond-to-alert'), CARETAKER_DRY_RUN: 'false', K_SINK: sink.url } })
t.teardown(() => fn.stop())

const alert = (alertname: string) => ({ fingerprint: `fp-${alertname}`, status: 'firing' as const, labels: { alertname, namespace: 'apps' }, annotations: {}, startsAt: '2026-12-01T10:00:00Z' })
const send = async (alertname: string, id: string, headers: Record<string, string> = {}) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.alert.firing', { 'ce-id': id, 'ce-source': '/alertmanager', ...headers }), body: JSON.stringify(alert(alertname)) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Record<string, unknown> : undefined }
}
const deployment = async (name: string) => apps.readNamespacedDeployment({ namespace: 'apps', name })
const patchPath = (name: string) => `/apis/apps/v1/namespaces/apps/deployments/${name}`

t.test('a plan failing at action 2 of 2: the retry skips action 1 (done once) and says so', async (t) => {
  // A pass-through rule counts the restarts of the first Deployment; the second one's write fails once.
  const counter = kube.faults.add({ method: 'PATCH', path: patchPath('front'), times: Infinity })
  kube.faults.add({ method: 'PATCH', path: patchPath('back'), status: 500 })
  const first = await send('Pair', 'ce-pair')
  t.equal(first.status, 503, 'the failed write is a 5xx: the Broker retries')
  const after1 = await deployment('front')
  t.equal(after1.metadata?.generation, 2, 'action 1 restarted front')
  const restartedAt = after1.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']
  t.ok(restartedAt)
  const lease = await admin.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: 'caretaker', name: leaseName('seen', alertKey(alert('Pair'))) })
  t.match(JSON.parse(lease.metadata?.annotations?.['caretaker.dev/actions-done'] ?? '[]'), [{ index: 1, action: 'restart:Deployment:apps/front', phase: 'done' }], 'action 1 is recorded on the alert\'s claim')

  const retry = await send('Pair', 'ce-pair')
  t.equal(retry.type, 'dev.caretaker.alert.remediated', JSON.stringify(retry.body))
  t.match(retry.body, {
    skippedAsDone: ['restart Deployment apps/front'],
    reason: /skipped as already done by an earlier attempt: restart Deployment apps\/front/,
    actions: [
      { action: 'restart Deployment', target: 'apps/front', done: true, alreadyDone: true, message: /^already done by an earlier attempt: restarted Deployment apps\/front/ },
      { action: 'restart Deployment', target: 'apps/back', done: true, rolled: true, rollout: 'deployment "back" successfully rolled out' },
    ],
  })
  t.notOk((retry.body?.actions as Array<Record<string, unknown>>)[1]?.alreadyDone)
  const after2 = await deployment('front')
  t.equal(after2.metadata?.generation, 2, 'front was not restarted again')
  t.equal(after2.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'], restartedAt)
  t.equal(kube.faults.list().find((f) => f.id === counter)?.hits, 1, 'the simulator saw exactly one restart write of front')
  kube.faults.remove(counter)
  t.equal((await deployment('back')).metadata?.generation, 2, 'back restarted once')

  const resent = await send('Pair', 'ce-pair-again')
  t.match(resent.body?.reason, /^duplicate/, 'once done, a re-sent notification is a duplicate as before')
})

t.test('a record of an action the API refuses to write: logged, and the plan goes on (the action is done either way)', async (t) => {
  const fault = kube.faults.add({ method: 'PUT', path: /\/leases\/respond-to-alert-seen-/, status: 500 })
  const res = await send('Record', 'ce-record')
  t.equal(res.type, 'dev.caretaker.alert.remediated', JSON.stringify(res.body))
  t.match(res.body?.actions, [{ action: 'notify', done: true, message: 'one' }, { action: 'notify', done: true, message: 'two' }])
  t.notOk(kube.faults.list().some((f) => f.id === fault), 'a write of the claim Lease was refused')
})

t.test('a restart waits for the rollout: a stuck one (ProgressDeadlineExceeded) is a failed action, and its retry waits again without restarting again', async (t) => {
  kube.controllers.failRollout('Deployment', 'apps', 'stuck')
  const first = await send('Stuck', 'ce-stuck')
  t.equal(first.status, 502, 'a failed action, retried by the Broker')
  t.match(first.body, { error: 'dependency_failed', message: /restarted Deployment apps\/stuck, but its rollout did not finish: deployment "stuck" exceeded its progress deadline/ })
  t.equal((await deployment('stuck')).metadata?.generation, 2)
  const last = await send('Stuck', 'ce-stuck')
  t.equal(last.status, 502)
  t.equal((await deployment('stuck')).metadata?.generation, 2, 'the retry did not roll the Deployment again: it waited for the first restart\'s rollout')
  const failed = sink.on('/').filter((r) => r.headers['ce-type'] === 'dev.caretaker.alert.failed').map((r) => JSON.parse(r.body.toString()) as Record<string, unknown>).filter((d) => d.rule === 'stuck')
  t.equal(failed.length, 1, 'the last attempt reports the failure')
  t.match(failed[0], { attempts: 2, error: 'dependency_failed', actions: [{ action: 'restart Deployment', target: 'apps/stuck', done: false, rolled: false, rollout: /exceeded its progress deadline/, message: /restarted Deployment apps\/stuck \(by an earlier attempt\)/ }] })
  kube.controllers.failRollout('Deployment', 'apps', 'stuck', false)
})

t.test('a rollout that does not finish within the timeout is a failed action, reported as not rolled; the waiting holder keeps its claim', async (t) => {
  kube.controllers.failRollout('DaemonSet', 'apps', 'agent')
  const counter = kube.faults.add({ method: 'PATCH', path: '/apis/apps/v1/namespaces/apps/daemonsets/agent', times: Infinity })
  const started = Date.now()
  const waiting = send('Agent', 'ce-agent')
  // Past claimFor (1s) while the first delivery still waits: its claim was renewed, so a redelivery does not act.
  await new Promise((r) => setTimeout(r, 1300))
  const meanwhile = await send('Agent', 'ce-agent')
  t.equal(meanwhile.status, 429, 'a redelivery while the holder waits for the rollout: retried later')
  const first = await waiting
  const took = Date.now() - started
  t.equal(first.status, 502)
  t.match(first.body?.message, /restarted DaemonSet apps\/agent, but its rollout did not finish: not rolled out within 2s: 0 of 1 updated pods are available/)
  t.ok(took >= 2000 && took < 15_000, `bounded by the action's timeout (${took} ms)`)
  const last = await send('Agent', 'ce-agent')
  t.equal(last.status, 502)
  t.equal(kube.faults.list().find((f) => f.id === counter)?.hits, 1, 'restarted once: the retry waited for the same rollout')
  kube.faults.remove(counter)
  const failed = sink.on('/').filter((r) => r.headers['ce-type'] === 'dev.caretaker.alert.failed').map((r) => JSON.parse(r.body.toString()) as Record<string, unknown>).filter((d) => d.rule === 'slow-agent')
  t.match(failed, [{ attempts: 2, actions: [{ action: 'restart DaemonSet', target: 'apps/agent', done: false, rolled: false, rollout: /^not rolled out within 2s/ }] }], 'the timeout is reported, not swallowed')
  kube.controllers.failRollout('DaemonSet', 'apps', 'agent', false)
})

t.test('a restart with a health check: rolled out, then healthy after two 503s; an unhealthy service is a failed action', async (t) => {
  const ok = await send('Healthy', 'ce-healthy')
  t.equal(ok.type, 'dev.caretaker.alert.remediated', JSON.stringify(ok.body))
  t.match(ok.body?.actions, [{ action: 'restart Deployment', target: 'apps/healthy', done: true, rolled: true, healthy: true, healthStatus: 'HTTP 200', message: /answered HTTP 200/ }])
  t.equal(okCalls, 3, 'GET until 2xx: two 503s, then 200')

  const sick = await send('Sick', 'ce-sick')
  t.equal(sick.status, 502)
  t.match(sick.body?.message, /restarted Deployment apps\/sick and rolled out, but .*\/down did not answer 2xx \(HTTP 500\)/)
})

t.test('dry-run: the plan says the restart would wait for its rollout and health check; nothing is written', async (t) => {
  const res = await send('Plan', 'ce-plan', { 'ce-dryrun': 'true' })
  t.equal(res.type, 'dev.caretaker.alert.remediated')
  t.match(res.body?.actions, [{ dryRun: true, done: false, message: new RegExp(`^would restart Deployment apps/plan and wait up to 10s for its rollout and then for ${healthUrl}/ok to answer 2xx$`) }, { dryRun: true }])
  t.equal((await deployment('plan')).metadata?.generation, 1)
})

t.test('the restarts\' waits must fit in the run\'s deadline (CARETAKER_RUN_DEADLINE)', async (t) => {
  t.throws(() => checkConfig(config, 15_000), { code: 'invalid_config', message: /rules\[0\].*restarts may wait 20s.*CARETAKER_RUN_DEADLINE, 15s/ }, 'two restarts of 10s each do not fit in 15s')
  t.throws(() => checkConfig({ ...config, rules: [config.rules[0]!], restartTimeout: '0s' }), { message: /restartTimeout: must be longer than zero/ })
  t.doesNotThrow(() => checkConfig(config, 60_000))
})
