import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { AppsV1Api } from '@kubernetes/client-node'
import { createRespondToAlert } from '../../../functions/respond-to-alert/index.ts'
import { checkConfig, configSchema, healthUrlAllowed, type RespondToAlertConfig } from '../../../functions/respond-to-alert/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { createLogger } from '../../../shared/logger.ts'
import { startMesh } from '../../../sandbox/mesh/index.ts'
import { manifestRbac } from '../../../sandbox/local/sandbox.ts'
import { catalogue } from '../../../shared/events/catalogue.ts'
import { EventDataValidator } from '../../../shared/events/validation.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// A manual restart (dev.caretaker.workload.restart.requested) through
// respond-to-alert's restart step: dry-run by default, only in the
// namespaces manualRestart allows, a cooldown per workload, once per request
// however often it is delivered, and it waits for the rollout (as `kubectl
// rollout status` judges it) and the health URL before it answers. The
// Kubernetes simulator's controllers roll the workloads out (or get stuck);
// its fault rules count the writes.

const REQUESTED = 'dev.caretaker.workload.restart.requested'
const kube = await startKubernetesSimulator({ controllers: { delayMs: 20 } })
t.teardown(() => kube.close())
const admin = kube.kubeConfig()
// The RBAC of manifests/: the function's own, and caretaker-operator / caretaker-viewer for the manual entry.
for (const obj of await manifestRbac(new URL('../../../manifests', import.meta.url).pathname)) kube.store.seed(obj)
for (const ns of ['apps', 'payments', 'ops']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
for (const [name, role] of [['oncall', 'caretaker-operator'], ['auditor', 'caretaker-viewer']] as const) {
  kube.store.seed({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: 'caretaker' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'ServiceAccount', name, namespace: 'ops' }] })
}
const apps = admin.makeApiClient(AppsV1Api)
const podTemplate = (app: string) => ({ metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } })
for (const [ns, name] of [['apps', 'api'], ['apps', 'web'], ['apps', 'stuck'], ['apps', 'again'], ['apps', 'plan'], ['apps', 'manual'], ['payments', 'ledger']] as const) {
  await apps.createNamespacedDeployment({ namespace: ns, body: { metadata: { name }, spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: podTemplate(name) } } })
}
await kube.controllers.idle()

// The service's health endpoint: /ok answers 503 once, then 200.
let okCalls = 0
const health = createServer((req, res) => {
  if (req.url === '/ok') { okCalls++; res.statusCode = okCalls <= 1 ? 503 : 200 } else res.statusCode = 500
  res.end()
})
await new Promise<void>((r) => health.listen(0, '127.0.0.1', r))
t.teardown(() => health.close())
const healthUrl = `http://127.0.0.1:${(health.address() as AddressInfo).port}`

// K_SINK: the failure event of the last attempt goes there.
const sink = await startReceiver(() => ({ status: 202 }))
t.teardown(() => sink.close())

const config: RespondToAlertConfig = validateConfig({
  verifyAlerts: false,
  cap: { actions: 100, window: '10m' },
  claimFor: '1s',
  restartTimeout: '3s',
  // Attempt 2 of a request is its last: dev.caretaker.workload.restart.failed then.
  retries: 1,
  manualRestart: { namespaces: ['apps'], cooldown: '10m', healthUrls: [`${healthUrl}/`] },
  rules: [{ name: 'unused', matchers: ['alertname="Never"'], allowedNamespaces: ['apps'], actions: [{ type: 'notify', message: 'never' }] }],
}, configSchema, 'test')
// CARETAKER_DRY_RUN is left at its default (true): a request acts only with dryrun=false, as every request.
const fn = await startTestFunction(createRespondToAlert(), { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'respond-to-alert'), K_SINK: sink.url } })
t.teardown(() => fn.stop())

const send = async (data: Record<string, unknown>, id: string, dryRun?: boolean) => {
  const extra: Record<string, string> = { 'ce-id': id, 'ce-source': '/caretaker/manual' }
  if (dryRun !== undefined) extra['ce-dryrun'] = String(dryRun)
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(REQUESTED, extra), body: JSON.stringify(data) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Record<string, unknown> : undefined }
}
const request = (name: string, extra: Record<string, unknown> = {}) => ({ kind: 'Deployment', namespace: 'apps', name, reason: 'stale connection pool', ...extra })
const deployment = (name: string, namespace = 'apps') => apps.readNamespacedDeployment({ namespace, name })
const restartedAt = async (name: string, namespace = 'apps') => (await deployment(name, namespace)).spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']
const patches = (namespace: string, name: string) => kube.faults.add({ method: 'PATCH', path: `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`, times: Infinity })

t.test('the request type is in the catalogue: its example validates, a request without a reason does not', async (t) => {
  const v = new EventDataValidator([REQUESTED], catalogue)
  t.doesNotThrow(() => v.check(REQUESTED, request('api', { wait: true, health: { url: 'http://api.apps.svc:8080/healthz', attempts: 5, interval: '2s', timeout: '5s' } })))
  t.throws(() => v.check(REQUESTED, { kind: 'Deployment', namespace: 'apps', name: 'api' }), /reason/)
  t.throws(() => v.check(REQUESTED, request('api', { kind: 'Pod' })), /kind/)
})

t.test('manual restarts must fit in the run\'s deadline', async (t) => {
  const withManual = { ...config, restartTimeout: '2m' }
  t.throws(() => checkConfig(withManual, 60_000), /config.restartTimeout: a manual restart may wait 2m, which does not fit in the run's deadline/)
  t.doesNotThrow(() => checkConfig({ ...withManual, manualRestart: undefined }, 60_000), 'without manual restarts no wait is configured')
  t.doesNotThrow(() => checkConfig(config, 60_000))
})

t.test('a health URL: a Service of the workload\'s namespace, or under a configured prefix; nothing else', async (t) => {
  t.ok(healthUrlAllowed('http://api.apps.svc:8080/healthz', 'apps', []))
  t.ok(healthUrlAllowed('https://api.apps.svc.cluster.local/healthz', 'apps', []))
  t.notOk(healthUrlAllowed('http://api.payments.svc/healthz', 'apps', []), 'another namespace\'s Service')
  t.notOk(healthUrlAllowed('http://169.254.169.254/latest/meta-data', 'apps', []), 'anywhere else')
  t.notOk(healthUrlAllowed('http://x.apps.svc.evil.example/healthz', 'apps', []))
  t.ok(healthUrlAllowed('http://127.0.0.1:9/ok', 'apps', ['http://127.0.0.1:9/']))
  t.notOk(healthUrlAllowed('http://127.0.0.1:9@evil.example/ok', 'apps', ['http://127.0.0.1:9/']), 'a prefix is compared on the parsed URL')
})

t.test('dry-run by default: the plan says what it would restart and wait for; nothing is written', async (t) => {
  const writes = patches('apps', 'plan')
  const res = await send(request('plan', { health: { url: `${healthUrl}/ok` } }), 'plan-1')
  t.equal(res.status, 200)
  t.equal(res.type, 'dev.caretaker.workload.restarted')
  t.match(res.body, { kind: 'Deployment', namespace: 'apps', name: 'plan', target: 'apps/plan', dryRun: true, reason: 'stale connection pool',
    message: new RegExp(`^would restart Deployment apps/plan and wait up to 3s for its rollout and then for ${healthUrl}/ok to answer 2xx; not done: dry-run .*refused for 10m`) })
  t.notOk('rolled' in (res.body ?? {}))
  t.equal(kube.faults.list().find((f) => f.id === writes)?.hits, 0, 'no write')
  t.equal(await restartedAt('plan'), undefined)
  t.equal((await send(request('plan', { wait: false }), 'plan-2')).body?.message, 'would restart Deployment apps/plan (without waiting for its rollout); not done: dry-run (send the request with dryrun=false to restart; a restart of apps/plan is then refused for 10m after it)')
  const missing = await send(request('nope'), 'plan-3')
  t.match(missing, { status: 400, body: { error: 'invalid_event_data', message: /Deployment apps\/nope does not exist/ } }, 'a workload that does not exist is the request\'s mistake, even in a dry-run')
  kube.faults.remove(writes)
})

t.test('applied: restarts, waits for the rollout and the health URL, and reports both', async (t) => {
  const before = (await deployment('api')).metadata?.generation ?? 0
  const res = await send(request('api', { health: { url: `${healthUrl}/ok`, interval: '50ms', attempts: 5, timeout: '1s' } }), 'api-1', false)
  t.equal(res.status, 200, JSON.stringify(res.body))
  t.equal(res.type, 'dev.caretaker.workload.restarted')
  t.match(res.body, { kind: 'Deployment', target: 'apps/api', rolled: true, rollout: 'deployment "api" successfully rolled out', healthy: true, healthStatus: 'HTTP 200',
    message: /^restarted Deployment apps\/api; deployment "api" successfully rolled out; .*answered HTTP 200$/ })
  t.notOk(res.body?.dryRun)
  t.ok(await restartedAt('api'), 'the pod template carries restartedAt, as kubectl rollout restart writes it')
  const after = await deployment('api')
  t.equal(after.metadata?.generation, before + 1)
  t.equal(after.status?.updatedReplicas, 2, 'the rollout had finished when the reply came')
  t.equal(okCalls, 2, 'the health URL was asked until it answered 2xx')
  const audit = (await admin.makeApiClient((await import('@kubernetes/client-node')).CoreV1Api).listNamespacedEvent({ namespace: 'apps' })).items.filter((e) => e.reason === 'RestartRequested' && e.involvedObject.name === 'api')
  t.equal(audit.length, 1, 'an audit Event on the Deployment')
  t.match(audit[0]?.message, /stale connection pool/)
})

t.test('without waiting: restarted, the rollout not reported', async (t) => {
  const res = await send(request('web', { wait: false }), 'web-1', false)
  t.equal(res.status, 200)
  t.match(res.body, { target: 'apps/web', message: 'restarted Deployment apps/web; not waiting for its rollout (the request said wait: false)' })
  t.notOk('rolled' in (res.body ?? {}))
  t.ok(await restartedAt('web'))
  const both = await send(request('web', { wait: false, health: { url: `${healthUrl}/ok` } }), 'web-2', false)
  t.match(both, { status: 400, body: { error: 'invalid_event_data', message: /health needs data.wait/ } })
})

t.test('redelivery acts once; a second request within the cooldown is refused, saying the cooldown', async (t) => {
  const writes = patches('apps', 'again')
  const first = await send(request('again'), 'again-1', false)
  t.equal(first.status, 200)
  t.equal(first.body?.rolled, true)
  const redelivered = await send(request('again'), 'again-1', false)
  t.equal(redelivered.status, 200)
  t.equal(redelivered.type, 'dev.caretaker.workload.restarted')
  t.equal(kube.faults.list().find((f) => f.id === writes)?.hits, 1, 'the redelivery of the same request did not restart again')
  const hammer = await send(request('again'), 'again-2', false)
  t.match(hammer, { status: 403, body: { error: 'forbidden', message: /Deployment apps\/again was restarted less than 10m ago \(manualRestart.cooldown\)/, details: { refused: 'cooldown', cooldown: '10m' } } })
  const hammer2 = await send(request('again'), 'again-3', false)
  t.equal(hammer2.status, 403)
  t.equal(kube.faults.list().find((f) => f.id === writes)?.hits, 1, 'a person hammering restart rolls the Deployment once')
  // A second replica, with its own idempotency store, gets the redeliveries: the claim Lease of each request answers.
  const replica = await startTestFunction(createRespondToAlert(), { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'respond-to-alert'), K_SINK: sink.url, LOG_LEVEL: 'silent' } })
  t.teardown(() => replica.stop())
  const other = async (id: string) => {
    const res = await fetch(replica.url, { method: 'POST', headers: binaryHeaders(REQUESTED, { 'ce-id': id, 'ce-source': '/caretaker/manual', 'ce-dryrun': 'false' }), body: JSON.stringify(request('again')) })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }
  t.match(await other('again-1'), { status: 200, body: { alreadyRestarted: true, message: /^already done by an earlier delivery of this request: restarted Deployment apps\/again; deployment "again" successfully rolled out/ } }, 'a done request, redelivered elsewhere: answered as done')
  t.match(await other('again-2'), { status: 403, body: { details: { refused: 'cooldown' } } }, 'a refused request, redelivered elsewhere: refused again, not answered as done')
  t.equal(kube.faults.list().find((f) => f.id === writes)?.hits, 1, 'still one restart')
  kube.faults.remove(writes)
})

t.test('a namespace manualRestart does not list is refused (403, says what to change) and nothing is changed', async (t) => {
  const writes = patches('payments', 'ledger')
  for (const dryRun of [true, false]) {
    const res = await send({ ...request('ledger'), namespace: 'payments' }, `ledger-${dryRun}`, dryRun)
    t.match(res, { status: 403, body: { error: 'forbidden', message: /namespace payments is not among manualRestart.namespaces \(apps\): add it to respond-to-alert's config/, details: { refused: 'namespace', allowed: ['apps'] } } }, `dry-run ${dryRun}`)
  }
  const health = await send(request('web', { health: { url: 'http://169.254.169.254/latest/meta-data' } }), 'web-health', false)
  t.match(health, { status: 403, body: { error: 'forbidden', details: { refused: 'health' }, message: /must be a Service of namespace apps/ } }, 'a health URL elsewhere is refused before anything is written')
  const withPassword = await send(request('web', { health: { url: 'http://admin:hunter2@api.apps.svc/healthz' } }), 'web-health-2', false)
  t.match(withPassword, { status: 403, body: { details: { refused: 'health', url: 'http://api.apps.svc/healthz' } } }, 'a URL with credentials is refused, and they are not repeated')
  t.notMatch(JSON.stringify(withPassword.body), /hunter2/)
  t.equal(kube.faults.list().find((f) => f.id === writes)?.hits, 0)
  t.equal(await restartedAt('ledger', 'payments'), undefined)
  kube.faults.remove(writes)
})

t.test('a stuck rollout fails (502, retried); the retry waits for the same rollout, and the last attempt tells notify', async (t) => {
  kube.controllers.failRollout('Deployment', 'apps', 'stuck')
  const writes = patches('apps', 'stuck')
  const first = await send(request('stuck'), 'stuck-1', false)
  t.equal(first.status, 502, 'a 5xx: the Broker retries')
  t.match(first.body, { error: 'dependency_failed', message: /restarted Deployment apps\/stuck, but its rollout did not finish: deployment "stuck" exceeded its progress deadline/ })
  const last = await send(request('stuck'), 'stuck-1', false)
  t.equal(last.status, 502)
  t.equal(kube.faults.list().find((f) => f.id === writes)?.hits, 1, 'the retry did not roll the Deployment again: it waited for the first restart\'s rollout')
  const failed = sink.on('/').filter((r) => r.headers['ce-type'] === 'dev.caretaker.workload.restart.failed').map((r) => JSON.parse(r.body.toString()) as Record<string, unknown>)
  t.equal(failed.length, 1, 'the last attempt\'s failure is told, once')
  t.match(failed[0], { kind: 'Deployment', target: 'apps/stuck', error: 'dependency_failed', attempts: 2, rolled: false, rollout: /exceeded its progress deadline/, reason: 'stale connection pool' })
  t.doesNotThrow(() => new EventDataValidator(['dev.caretaker.workload.restart.failed'], catalogue).check('dev.caretaker.workload.restart.failed', failed[0]))
  // The rollout gets unstuck: a new request (the cooldown was given back by the failure) acts.
  kube.controllers.failRollout('Deployment', 'apps', 'stuck', false)
  const fixed = await send(request('stuck'), 'stuck-2', false)
  t.equal(fixed.status, 200, JSON.stringify(fixed.body))
  t.equal(fixed.body?.rolled, true)
  kube.faults.remove(writes)
})

t.test('through POST /manual and the Broker: RBAC verb restart (caretaker-operator, not caretaker-viewer), a proof, the Trigger, notify told', async (t) => {
  // notify stands in as a receiver of what the Triggers route to it.
  const notify = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => notify.close())
  const services: Record<string, string> = { notify: notify.url }
  const mesh = await startMesh({ dir: new URL('../../../triggers/', import.meta.url).pathname, services, logger: createLogger({ level: 'silent' }), sleep: async () => {} })
  t.teardown(() => mesh.close())
  const broker = mesh.brokers.find((b) => b.namespace === 'caretaker' && b.name === 'caretaker')!.url
  const deployed = await startTestFunction(createRespondToAlert(), { config, env: {
    CARETAKER_AUTH: 'tokenreview', CARETAKER_EVENTING_OIDC: 'disabled', CARETAKER_NAMESPACE: 'caretaker', CARETAKER_PROOF_KEY: randomBytes(32).toString('base64'),
    CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'respond-to-alert'), K_SINK: broker, LOG_LEVEL: 'silent',
  } })
  t.teardown(() => deployed.stop())
  services['respond-to-alert'] = deployed.url
  const manual = async (account: string, id: string) => {
    const res = await fetch(`${deployed.url}/manual`, { method: 'POST', headers: { ...binaryHeaders(REQUESTED, { 'ce-id': id, 'ce-source': '/oncall', 'ce-dryrun': 'false' }), authorization: `Bearer ${kube.mintServiceAccountToken('ops', account)}` }, body: JSON.stringify(request('manual')) })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }
  const viewer = await manual('auditor', 'm-auditor')
  t.match(viewer, { status: 403, body: { error: 'forbidden', details: { verb: 'restart', resource: 'respond-to-alert', apiGroup: 'caretaker.dev' } } }, 'caretaker-viewer may not restart')
  // Posted to the Broker without a proof: delivered, refused 401, dead-lettered; nothing restarted.
  const forged = await fetch(broker, { method: 'POST', headers: binaryHeaders(REQUESTED, { 'ce-id': 'm-forged', 'ce-source': '/oncall', 'ce-dryrun': 'false' }), body: JSON.stringify(request('manual')) })
  t.equal(forged.status, 202)
  await mesh.broker.idle()
  t.equal(await restartedAt('manual'), undefined, 'a request without a proof restarts nothing')
  t.equal(notify.on('/dead-letter').filter((r) => r.headers['ce-id'] === 'm-forged').length, 1)
  const oncall = await manual('oncall', 'm-oncall')
  t.match(oncall, { status: 202, body: { verb: 'restart', by: 'system:serviceaccount:ops:oncall' } })
  await mesh.broker.idle()
  t.ok(await restartedAt('manual'), 'the Trigger delivered the request with its proof, and the function restarted the Deployment')
  const told = notify.on('/').filter((r) => r.headers['ce-type'] === 'dev.caretaker.workload.restarted').map((r) => JSON.parse(r.body.toString()) as Record<string, unknown>)
  t.match(told, [{ target: 'apps/manual', requestedBy: 'system:serviceaccount:ops:oncall', rolled: true, reason: 'stale connection pool' }], 'notify-workload routes the outcome to notify')
})

t.test('the function\'s cap counts manual restarts: past it a request is refused (403, says the cap), nothing changed', async (t) => {
  const small = await startKubernetesSimulator({ controllers: { delayMs: 20 } })
  t.teardown(() => small.close())
  for (const obj of await manifestRbac(new URL('../../../manifests', import.meta.url).pathname)) small.store.seed(obj)
  small.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } })
  const smallApps = small.kubeConfig().makeApiClient(AppsV1Api)
  for (const name of ['one', 'two']) await smallApps.createNamespacedDeployment({ namespace: 'apps', body: { metadata: { name }, spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: podTemplate(name) } } })
  const capped = await startTestFunction(createRespondToAlert(), { config: { ...config, cap: { actions: 1, window: '10m' } }, env: { CARETAKER_KUBE_SERVER: small.url, CARETAKER_KUBE_TOKEN: small.mintServiceAccountToken('caretaker', 'respond-to-alert'), K_SINK: sink.url, LOG_LEVEL: 'silent' } })
  t.teardown(() => capped.stop())
  const ask = async (name: string) => {
    const res = await fetch(capped.url, { method: 'POST', headers: binaryHeaders(REQUESTED, { 'ce-id': `cap-${name}`, 'ce-source': '/caretaker/manual', 'ce-dryrun': 'false' }), body: JSON.stringify(request(name, { wait: false })) })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }
  t.equal((await ask('one')).status, 200)
  t.match(await ask('two'), { status: 403, body: { error: 'forbidden', message: /reached its cap of 1 actions per 10m/, details: { refused: 'cap' } } })
  t.equal((await smallApps.readNamespacedDeployment({ namespace: 'apps', name: 'two' })).spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'], undefined)
})
