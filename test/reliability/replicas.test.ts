import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import { parse } from 'yaml'
import { createLogger } from '../../shared/logger.ts'
import type { FunctionModule } from '../../shared/runtime/function.ts'
import { startSandbox } from '../../sandbox/local/sandbox.ts'
import { startTestFunction, type TestFunction } from '../../sandbox/harness/function.ts'
import { projectRoot } from '../../sandbox/harness/process.ts'
import { startReceiver } from '../mesh/receiver.ts'
import { identity, runsInLog } from './loss.ts'

// Dedup that holds across replicas and restarts, for every side-effecting
// function: two replicas of each, as the manifests deploy them
// (CARETAKER_IDEMPOTENCY=kubernetes, handled events on Leases, each under its
// own ServiceAccount and the manifests' RBAC), against the sandbox's
// simulators, not in dry-run. Each event goes to both replicas at once
// (each delivery retried on 429/503 as the Broker would, until answered),
// then again to both after one replica was restarted. The side effect,
// counted where it lands (the simulators, a real HTTP receiver), happened
// exactly once, and the handler ran once in all.

const DAY = 86_400_000
const state = await mkdtemp(join(tmpdir(), 'caretaker-replicas-'))
t.teardown(() => rm(state, { recursive: true, force: true }))
const sandbox = await startSandbox({ stateDir: join(state, 'sandbox'), kubePort: 0, vaultPort: 0, manifestsDir: join(projectRoot, 'manifests'), logger: createLogger({ level: 'silent' }) })
t.teardown(() => sandbox.close())
const { kube, vault } = sandbox

type Change = { type: string; object: Record<string, unknown> }
const changes: Change[] = []
kube.onChange((c) => changes.push(c as Change))
const meta = (o: Record<string, unknown>) => o.metadata as { name: string; namespace?: string }

interface Delivery { status: number; duplicate: string | null; type: string | null; body: string }

/** One delivery as the Broker makes it: retried while the replica answers 429 or 503, until answered. */
async function deliver(fn: TestFunction, headers: Record<string, string>, body: unknown): Promise<Delivery> {
  const deadline = Date.now() + 90_000
  for (;;) {
    const res = await fetch(fn.url, { method: 'POST', headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', ...headers }, body: JSON.stringify(body) })
    const text = await res.text()
    if ((res.status !== 429 && res.status !== 503) || Date.now() > deadline) return { status: res.status, duplicate: res.headers.get('caretaker-duplicate'), type: res.headers.get('ce-type'), body: text }
    await sleep(250)
  }
}

let cases = 0

interface Case {
  name: string
  /** The config to run with; the sandbox's own when absent. */
  config?: unknown
  env?: Record<string, string>
  event: { type: string; source?: string; data: unknown; headers?: Record<string, string> }
}

/**
 * Two replicas of `name`; the event to both at once, then to both again after the first restarted.
 * Returns every delivery's answer and the handler's runs for the event in all replicas' logs.
 */
async function twoReplicas(t: Test, c: Case): Promise<{ answers: Delivery[]; runs: number; first: Delivery }> {
  const module = (await import(pathToFileURL(join(projectRoot, 'functions', c.name, 'index.ts')).href) as { default: FunctionModule }).default
  const { CARETAKER_CONFIG: configPath, ...env } = await sandbox.functionEnv(c.name)
  t.equal(env.CARETAKER_IDEMPOTENCY, 'kubernetes', `${c.name} records handled events on Leases (the manifests' RBAC allows it)`)
  const config = c.config ?? (configPath ? parse(await readFile(configPath, 'utf8')) : {})
  const start = () => startTestFunction(module, { config, env: { ...env, LOG_LEVEL: 'info', CARETAKER_DRY_RUN: 'false', ...c.env } })
  const hosted: TestFunction[] = []
  t.teardown(() => Promise.all(hosted.map((fn) => fn.stop())))
  const a = await start()
  const b = await start()
  hosted.push(a, b)
  const id = `replicas-${c.name}-${process.pid}-${++cases}`
  const source = c.event.source ?? '/test/replicas'
  const headers = { 'ce-id': id, 'ce-source': source, 'ce-type': c.event.type, ...c.event.headers }
  // A write fault on the way: the first claim (a Lease create) is refused, 503; that delivery is retried.
  kube.faults.add({ method: 'POST', path: '/apis/coordination.k8s.io/v1/namespaces/caretaker/leases', status: 503, times: 1 })
  const together = await Promise.all([deliver(a, headers, c.event.data), deliver(b, headers, c.event.data)])
  await a.stop()
  hosted.splice(hosted.indexOf(a), 1)
  const restarted = await start()
  hosted.push(restarted)
  const afterRestart = await Promise.all([deliver(restarted, headers, c.event.data), deliver(b, headers, c.event.data)])
  const answers = [...together, ...afterRestart]
  t.same(answers.map((r) => r.status >= 200 && r.status < 300), [true, true, true, true], `every delivery answered 2xx (${answers.map((r) => r.status).join(', ')}${answers.some((r) => r.status >= 300) ? `: ${answers.find((r) => r.status >= 300)!.body.slice(0, 300)}` : ''})`)
  t.equal(together.filter((r) => r.duplicate === 'true').length, 1, 'of the two at once, one ran and the other replayed its outcome')
  t.same(afterRestart.map((r) => r.duplicate), ['true', 'true'], 'after the restart both replayed it')
  const key = identity({ source, id })
  const runs = [a, b, restarted].reduce((n, fn) => n + (runsInLog(fn.logLines()).get(key) ?? 0), 0)
  t.equal(runs, 1, 'the handler ran once in all')
  return { answers, runs, first: together.find((r) => r.duplicate !== 'true')! }
}

const since = () => { const from = changes.length; return () => changes.slice(from) }
const podSpec = { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] }
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString()

let cleanedReply: Delivery | undefined

t.test('clean-up-resources: each finished Job deleted once', async (t) => {
  const jobs = ['replica-job-0', 'replica-job-1', 'replica-job-2']
  for (const name of jobs) {
    kube.store.seed({
      apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: 'production' }, spec: { template: { spec: podSpec } },
      status: { startTime: iso(40 * DAY), succeeded: 1, completionTime: iso(30 * DAY), conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: iso(30 * DAY) }] },
    })
  }
  const seen = since()
  const { first } = await twoReplicas(t, { name: 'clean-up-resources', event: { type: 'dev.caretaker.resources.clean.requested', data: {} } })
  cleanedReply = first
  const deleted = seen().filter((c) => c.type === 'DELETED' && c.object.kind === 'Job').map((c) => meta(c.object).name)
  for (const name of jobs) t.equal(deleted.filter((n) => n === name).length, 1, `Job ${name} deleted once`)
  t.equal(deleted.length, new Set(deleted).size, 'no Job deleted twice')
})

t.test('prune-snapshots: each snapshot past the policy deleted once', async (t) => {
  const names = Array.from({ length: 5 }, (_, i) => `replica-snap-${i}`)
  names.forEach((name, i) => {
    const created = iso((10 - i) * DAY)
    kube.store.seed({
      apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', metadata: { name, namespace: 'production', creationTimestamp: created },
      spec: { volumeSnapshotClassName: 'longhorn', source: { persistentVolumeClaimName: 'replica-data' } },
      status: { readyToUse: true, creationTime: created, restoreSize: '1Gi' },
    })
  })
  const seen = since()
  await twoReplicas(t, {
    name: 'prune-snapshots',
    config: { policies: [{ name: 'replicas', kind: 'VolumeSnapshot', namespaces: ['production'], keepLast: 2, grace: '1h' }] },
    event: { type: 'dev.caretaker.snapshots.prune.requested', data: {} },
  })
  const deleted = seen().filter((c) => c.type === 'DELETED' && c.object.kind === 'VolumeSnapshot').map((c) => meta(c.object).name)
  t.equal(deleted.length, new Set(deleted).size, 'no snapshot deleted twice')
  for (const name of names.slice(0, 3)) t.equal(deleted.filter((n) => n === name).length, 1, `${name} deleted once`)
  for (const name of names.slice(3)) t.notOk(deleted.includes(name), `${name} kept`)
})

const eventsAdded = (cs: Change[]) => cs.filter((c) => c.type === 'ADDED' && c.object.kind === 'Event').map((c) => c.object as { reason?: string; involvedObject?: { kind?: string; name?: string } })

t.test('verify-backup: one Kubernetes Event on the backup\'s CronJob', async (t) => {
  const config = parse(await readFile((await sandbox.functionEnv('verify-backup')).CARETAKER_CONFIG!, 'utf8')) as { sets: Array<{ name: string; format: string; cronJob?: { name: string } }> }
  const set = config.sets.find((s) => s.cronJob && s.format !== 'pg-dumpall-gzip')!
  t.ok(set, `a set with a CronJob: ${set.name}`)
  const seen = since()
  await twoReplicas(t, { name: 'verify-backup', event: { type: 'dev.caretaker.backup.verify.requested', data: { set: set.name } } })
  const recorded = eventsAdded(seen()).filter((e) => e.involvedObject?.kind === 'CronJob' && e.involvedObject.name === set.cronJob!.name)
  t.equal(recorded.length, 1, `one Event on CronJob ${set.cronJob!.name} (${recorded.map((e) => e.reason).join(', ')})`)
})

t.test('rotate-secret: one rotation of a generated secret', async (t) => {
  const version = async () => {
    const res = await fetch(`${vault.url}/v1/secret/metadata/production/web/session`, { headers: { 'x-vault-token': vault.rootToken } })
    return ((await res.json()) as { data: { current_version: number } }).data.current_version
  }
  const before = await version()
  const seen = since()
  await twoReplicas(t, { name: 'rotate-secret', event: { type: 'dev.caretaker.secret.rotate.requested', data: { secret: 'web-session', reason: 'replicas test' } } })
  t.equal(await version(), before + 1, `one new version in Vault (${before} → ${before + 1})`)
  t.equal(eventsAdded(seen()).filter((e) => e.reason === 'SecretRotated').length, 1, 'one SecretRotated Event')
})

t.test('respond-to-alert: the crash-looping Pod deleted once', async (t) => {
  // In databases: the sandbox's rule allows production and databases, the manifests' RBAC binds databases (not production).
  const pod = 'replica-api-0'
  kube.store.seed({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace: 'databases', labels: { app: 'replica' } }, spec: podSpec,
    status: { phase: 'Running', containerStatuses: [{ name: 'c', image: 'busybox', imageID: '', ready: false, restartCount: 7, state: { waiting: { reason: 'CrashLoopBackOff' } } }] },
  })
  const fingerprint = 'replica0000000001'
  const labels = { alertname: 'KubePodCrashLooping', namespace: 'databases', pod, severity: 'warning' }
  // The rule's notify action sends an event to the Broker (K_SINK): a receiver stands in for it.
  const broker = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => broker.close())
  const seen = since()
  await twoReplicas(t, {
    name: 'respond-to-alert', env: { K_SINK: broker.url },
    event: {
      type: 'dev.caretaker.alert.firing', source: 'http://alertmanager:9093', headers: { 'ce-subject': 'KubePodCrashLooping' },
      data: { fingerprint, status: 'firing', labels, annotations: {}, startsAt: iso(600_000), endsAt: '', generatorURL: '', groupLabels: {}, receiver: 'caretaker', externalURL: 'http://alertmanager:9093' },
    },
  })
  const deleted = seen().filter((c) => c.type === 'DELETED' && c.object.kind === 'Pod' && meta(c.object).name === pod)
  t.equal(deleted.length, 1, 'the Pod deleted once')
  t.equal(eventsAdded(seen()).filter((e) => e.reason === 'AlertRemediated' && e.involvedObject?.name === pod).length, 1, 'one AlertRemediated Event on it')
  t.equal(broker.requests.length, 1, 'one notify event sent on')
})

t.test('notify: one message on the webhook', async (t) => {
  const hook = await startReceiver(() => ({ status: 200 }))
  t.teardown(() => hook.close())
  process.env.REPLICAS_TEST_HOOK = `${hook.url}/hook`
  t.ok(cleanedReply, 'an outcome to report (clean-up-resources\' reply)')
  await twoReplicas(t, {
    name: 'notify',
    config: { cluster: 'replicas', channels: [{ name: 'hook', kind: 'webhook', url: { env: 'REPLICAS_TEST_HOOK' } }], routes: [{ types: ['dev.caretaker.*'], minSeverity: 'info', channels: ['hook'] }] },
    event: { type: cleanedReply!.type!, source: '/apis/serving.knative.dev/v1/namespaces/caretaker/services/clean-up-resources', data: JSON.parse(cleanedReply!.body) as unknown },
  })
  t.equal(hook.on('/hook').length, 1, 'one notification')
})

t.test('renew-certificate: one renewal requested for a failed Certificate', async (t) => {
  const seeded = sandbox.seeded.certificates.find((c) => c.state === 'failed')!
  t.ok(seeded, `a failed Certificate (Ready False for hours, which cert-manager itself leaves to its backoff): ${seeded.namespace}/${seeded.name}`)
  const cert = kube.store.get('cert-manager.io/v1', 'Certificate', seeded.namespace, seeded.name)!
  // The status update that requests the renewal fails once (503): the cooldown is given back and the retry requests it.
  const fault = kube.faults.add({ method: 'PUT', path: `/apis/cert-manager.io/v1/namespaces/${seeded.namespace}/certificates/${seeded.name}/status`, status: 503, times: 1 })
  const seen = since()
  const { first } = await twoReplicas(t, {
    name: 'renew-certificate',
    event: { type: 'dev.knative.apiserver.resource.update', source: 'https://10.96.0.1:443', headers: { 'ce-kind': 'Certificate', 'ce-name': seeded.name, 'ce-namespace': seeded.namespace }, data: cert },
  })
  const changed = seen()
  const triggered = changed.filter((c) => c.type === 'MODIFIED' && c.object.kind === 'Certificate' && meta(c.object).name === seeded.name &&
    ((c.object.status as { conditions?: Array<{ type: string; reason?: string }> } | undefined)?.conditions ?? []).some((x) => x.type === 'Issuing' && x.reason === 'ManuallyTriggered'))
  t.ok(triggered.length >= 1, `the Issuing condition was set (as cmctl renew does)${triggered.length === 0 ? `; the reply: ${first.body.slice(0, 400)}` : ''}`)
  const requested = eventsAdded(changed).filter((e) => e.reason === 'RenewalRequested' && e.involvedObject?.name === seeded.name)
  t.equal(requested.length, 1, 'one RenewalRequested Event')
  t.notOk(kube.faults.list().some((f) => f.id === fault), 'the status update failed once on the way (the fault is used up)')
})

t.test('respond-to-alert: a retry after a partial remediation (the Pod deleted, the next action failed) finishes it, deleting nothing twice', async (t) => {
  const pod = 'replica-api-1'
  kube.store.seed({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace: 'databases', labels: { app: 'replica' } }, spec: podSpec,
    status: { phase: 'Running', containerStatuses: [{ name: 'c', image: 'busybox', imageID: '', ready: false, restartCount: 7, state: { waiting: { reason: 'CrashLoopBackOff' } } }] },
  })
  // The Broker refuses the rule's notify event three times (503), all the runtime's attempts at one send: the first run
  // has deleted the Pod by then, and fails retryably; the retry finds the Pod gone.
  const broker = await startReceiver((_r, seen) => ({ status: seen < 3 ? 503 : 202 }))
  t.teardown(() => broker.close())
  const labels = { alertname: 'KubePodCrashLooping', namespace: 'databases', pod, severity: 'warning' }
  const seen = since()
  await twoReplicas(t, {
    name: 'respond-to-alert', env: { K_SINK: broker.url },
    event: {
      type: 'dev.caretaker.alert.firing', source: 'http://alertmanager:9093', headers: { 'ce-subject': 'KubePodCrashLooping' },
      data: { fingerprint: 'replica0000000002', status: 'firing', labels, annotations: {}, startsAt: iso(600_000), endsAt: '', generatorURL: '', groupLabels: {}, receiver: 'caretaker', externalURL: 'http://alertmanager:9093' },
    },
  })
  t.equal(seen().filter((c) => c.type === 'DELETED' && c.object.kind === 'Pod' && meta(c.object).name === pod).length, 1, 'the Pod deleted once')
  t.equal(eventsAdded(seen()).filter((e) => e.reason === 'AlertRemediated' && e.involvedObject?.name === pod).length, 1, 'and reported once (one AlertRemediated Event)')
  t.equal(broker.requests.filter((r) => r.headers['ce-type'] !== undefined).length, 4, 'the notify event refused three times, then accepted')
})
