import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { AppsV1Api, CoordinationV1Api } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { createRespondToAlert } from '../../../functions/respond-to-alert/index.ts'
import { configSchema, type RespondToAlertConfig } from '../../../functions/respond-to-alert/config.ts'
import { AlertState, alertKey, leaseName } from '../../../functions/respond-to-alert/state.ts'
import { validateConfig } from '../../../shared/config.ts'
import { createLogger } from '../../../shared/logger.ts'
import { startMesh } from '../../../sandbox/mesh/index.ts'
import { freePort } from '../../../shared/process/ports.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { nodeChildEnv } from '../../../shared/process/node-env.ts'

// A failed remediation is retried, not remembered as handled: the API's 403
// or 5xx on the write gives the claim and the cooldown back, the Broker's
// redelivery acts, and when the Trigger's last attempt fails too notify hears
// dev.caretaker.alert.failed and the dead letter. The real triggers/ run in
// the local mesh; the Kubernetes simulator injects the faults.

const kube = await startKubernetesSimulator()
t.teardown(() => kube.close())
const admin = kube.kubeConfig()
const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/respond-to-alert/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)
for (const ns of ['caretaker', 'apps']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
for (const obj of rbac) kube.store.seed(obj)
for (const name of ['web-a', 'web-b', 'web-c', 'web-d', 'web-e', 'web-f']) {
  kube.store.seed({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'apps' }, spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } })
}

// notify stands in as a receiver: it records what the Triggers route to it, the dead letters included.
const notify = await startReceiver(() => ({ status: 202 }))
t.teardown(() => notify.close())
// The function needs the Broker's URL and the mesh the function's: the mesh reads this map at each delivery.
const services: Record<string, string> = { notify: notify.url }
const mesh = await startMesh({
  dir: new URL('../../../triggers/', import.meta.url).pathname,
  services,
  logger: createLogger({ level: 'silent' }),
  sleep: async () => {},
})
t.teardown(() => mesh.close())
const brokerUrl = mesh.brokers.find((b) => b.namespace === 'caretaker' && b.name === 'caretaker')!.url

const rawConfig = {
  // The alerts here are sent straight to the function; confirming them with Alertmanager is alertmanager-e2e's.
  verifyAlerts: false,
  cap: { actions: 50, window: '10m' },
  // Short, so that a claim left by a killed replica runs out within the test.
  claimFor: '2s',
  rules: [{ name: 'restart', matchers: ['alertname="Stuck"'], allowedNamespaces: ['apps'], actions: [{ type: 'restart', kind: 'Deployment', name: '{{ $labels.deployment }}' }] }],
}
const config: RespondToAlertConfig = validateConfig(rawConfig, configSchema, 'test')
const fn = await startTestFunction(createRespondToAlert(), { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'respond-to-alert'), CARETAKER_DRY_RUN: 'false', K_SINK: brokerUrl } })
t.teardown(() => fn.stop())
services['respond-to-alert'] = fn.url

const alert = (deployment: string) => ({ fingerprint: `fp-${deployment}`, status: 'firing' as const, labels: { alertname: 'Stuck', namespace: 'apps', deployment }, annotations: {}, startsAt: '2026-12-01T10:00:00Z' })
const send = async (data: ReturnType<typeof alert>, id: string) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders('dev.caretaker.alert.firing', { 'ce-id': id, 'ce-source': '/alertmanager' }), body: JSON.stringify(data) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Record<string, unknown> : undefined }
}
const apps = admin.makeApiClient(AppsV1Api)
const restartedAt = async (name: string) => (await apps.readNamespacedDeployment({ namespace: 'apps', name })).spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt']
const patchPath = (name: string) => `/apis/apps/v1/namespaces/apps/deployments/${name}`

t.test('a 403 on the write: 502, and the redelivery of the same event acts', async (t) => {
  kube.faults.add({ method: 'PATCH', path: patchPath('web-a'), status: 403 })
  const first = await send(alert('web-a'), 'ce-a')
  t.equal(first.status, 502, 'the refusal is a 5xx: the Broker retries it')
  t.equal(await restartedAt('web-a'), undefined)
  const retry = await send(alert('web-a'), 'ce-a')
  t.equal(retry.status, 200)
  t.equal(retry.type, 'dev.caretaker.alert.remediated', 'the retry acts, not "duplicate"')
  t.ok(await restartedAt('web-a'))
  const at = await restartedAt('web-a')
  const resent = await send(alert('web-a'), 'ce-a-resent')
  t.match(resent.body?.reason, /^duplicate: this alert was handled already/, 'once done, a re-sent notification is a duplicate')
  t.equal(await restartedAt('web-a'), at, 'and does not act again')
})

t.test('a 5xx on the write: 503, and the redelivery acts', async (t) => {
  kube.faults.add({ method: 'PATCH', path: patchPath('web-b'), status: 500 })
  const first = await send(alert('web-b'), 'ce-b')
  t.equal(first.status, 503)
  const retry = await send(alert('web-b'), 'ce-b')
  t.equal(retry.type, 'dev.caretaker.alert.remediated')
  t.ok(await restartedAt('web-b'))
})

t.test('done, but the API fails when the records are made final: still a success, so the Broker does not act twice', async (t) => {
  const fault = kube.faults.add({ method: 'PUT', path: /\/leases\/respond-to-alert-cooldown-/, status: 500 })
  const res = await send(alert('web-f'), 'ce-f')
  t.equal(res.status, 200)
  t.equal(res.type, 'dev.caretaker.alert.remediated')
  t.notOk(kube.faults.list().some((f) => f.id === fault), 'the final write of the cooldown did fail')
  t.ok(await restartedAt('web-f'))
})

t.test('through the mesh: every attempt fails, notify hears the failure once and gets the dead letter; nothing stays blocked', async (t) => {
  const fault = kube.faults.add({ method: 'PATCH', path: patchPath('web-c'), status: 403, times: Infinity })
  const res = await fetch(brokerUrl, { method: 'POST', headers: binaryHeaders('dev.caretaker.alert.firing', { 'ce-id': 'ce-c', 'ce-source': '/alertmanager' }), body: JSON.stringify(alert('web-c')) })
  t.equal(res.status, 202)
  await mesh.broker.idle()
  const hits = kube.faults.list().find((f) => f.id === fault)?.hits
  t.equal(hits, 6, 'each of the 1 + 5 attempts of the Trigger tried the write (none was answered "duplicate")')
  const failed = notify.on('/').filter((r) => r.headers['ce-type'] === 'dev.caretaker.alert.failed')
  t.equal(failed.length, 1, 'the last attempt\'s failure is told, once')
  const data = JSON.parse(failed[0]!.body.toString()) as Record<string, unknown>
  t.match(data, { alertname: 'Stuck', fingerprint: 'fp-web-c', rule: 'restart', error: 'dependency_failed', attempts: 6, reason: /failed after 6 attempts: .*Forbidden/ })
  t.equal(notify.on('/').filter((r) => r.headers['ce-type'] === 'dev.caretaker.alert.skipped').length, 0, 'no "skipped" for a failure')
  const dead = notify.on('/dead-letter')
  t.equal(dead.length, 1, 'the alert event is dead-lettered to notify')
  t.equal(dead[0]?.headers['ce-type'], 'dev.caretaker.alert.firing')
  t.equal(dead[0]?.headers['ce-knativeerrorcode'], '502')
  kube.faults.remove(fault)
  // Alertmanager re-sends the alert (a new CloudEvent id): nothing left blocks it.
  const resent = await send(alert('web-c'), 'ce-c-2')
  t.equal(resent.type, 'dev.caretaker.alert.remediated', JSON.stringify(resent.body))
  t.ok(await restartedAt('web-c'))
})

t.test('a replica killed between claim and action: its claim runs out, the redelivery then acts', async (t) => {
  // What a killed replica leaves: the claim on the alert (and the cooldown it took), in progress, never finished.
  const state = new AlertState(admin, 'caretaker')
  const a = alert('web-d')
  t.same(await state.claimAlert(alertKey(a), 'ce-d', 1000), { claimed: true, attempt: 1 })
  t.equal(await state.takeCooldown('restart\0apps\0restart:web-d', 1000), true)
  const meanwhile = await send(a, 'ce-d')
  t.equal(meanwhile.status, 429, 'the Broker\'s redelivery of that event, while the claim lives: retry later, not "duplicate"')
  const other = await send(a, 'ce-d-other')
  t.match(other.body?.reason, /being handled by another delivery/, 'another notification of the alert meanwhile: its own delivery will act')
  t.equal(await restartedAt('web-d'), undefined)
  await new Promise((r) => setTimeout(r, 1500))
  const retry = await send(a, 'ce-d')
  t.equal(retry.type, 'dev.caretaker.alert.remediated', `after the claim ran out, the redelivery acts (${retry.status} ${JSON.stringify(retry.body)})`)
  t.ok(await restartedAt('web-d'))
  const lease = await admin.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: 'caretaker', name: leaseName('seen', alertKey(a)) })
  t.equal(lease.metadata?.annotations?.['caretaker.dev/attempts'], '2', 'the dead holder\'s attempt counts')
  t.equal(lease.metadata?.annotations?.['caretaker.dev/state'], 'done')
  t.ok((lease.spec?.leaseDurationSeconds ?? 0) >= 3600, 'and the record is now the long dedup record')
})

t.test('a real kill between claim and action (SIGKILL while the write is in flight) does not block the alert', async (t) => {
  // The function as deployed (the image's entry point), in its own process.
  const configFile = join(t.testdir(), 'config.json')
  await writeFile(configFile, JSON.stringify(rawConfig))
  const port = await freePort()
  const child = spawn(process.execPath, ['shared/runtime/main.ts', 'respond-to-alert'], {
    cwd: new URL('../../../', import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? '', ...nodeChildEnv(), HOST: '127.0.0.1', PORT: String(port), CARETAKER_AUTH: 'none', CARETAKER_CONFIG: configFile, CARETAKER_DRY_RUN: 'false', CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'respond-to-alert'), K_SINK: brokerUrl, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if ((await fetch(`${url}/health/readiness`).catch(() => undefined))?.ok) break
    if (i > 1200) throw new Error('the function process did not become ready in 60 s')
    await new Promise((r) => setTimeout(r, 50))
  }
  // The write hangs at the API (then fails): the process has claimed the alert and taken the cooldown when it is killed.
  const fault = kube.faults.add({ method: 'PATCH', path: patchPath('web-e'), latencyMs: 3000, status: 500 })
  let answered: string | undefined
  const inFlight = fetch(url, { method: 'POST', headers: binaryHeaders('dev.caretaker.alert.firing', { 'ce-id': 'ce-e', 'ce-source': '/alertmanager' }), body: JSON.stringify(alert('web-e')) })
    .then(async (r) => { answered = `${r.status} ${await r.text()}`; return answered }, () => 'connection lost')
  // A rule used up leaves the list when a request matches it, before its latency.
  for (let i = 0; kube.faults.list().some((f) => f.id === fault); i++) {
    if (answered !== undefined || i > 1000) throw new Error(`the write never reached the API (${answered ?? 'no answer'})`)
    await new Promise((r) => setTimeout(r, 10))
  }
  child.kill('SIGKILL')
  t.equal(await inFlight, 'connection lost', 'the Broker sees the delivery fail, and redelivers it')
  const lease = await admin.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: 'caretaker', name: leaseName('seen', alertKey(alert('web-e'))) })
  t.equal(lease.metadata?.annotations?.['caretaker.dev/state'], 'in-progress', 'the dead process left its claim')
  const early = await send(alert('web-e'), 'ce-e')
  t.equal(early.status, 429, 'a redelivery while that claim lives: retried later, not "duplicate"')
  await new Promise((r) => setTimeout(r, 2100))
  const retry = await send(alert('web-e'), 'ce-e')
  t.equal(retry.type, 'dev.caretaker.alert.remediated', `once the claim has run out, the redelivery acts (${retry.status} ${JSON.stringify(retry.body)})`)
  t.ok(await restartedAt('web-e'))
})
