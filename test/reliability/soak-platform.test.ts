import { readdir, readFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { alertEventId } from '../../functions/alertmanager-bridge/index.ts'
import { createLogger } from '../../shared/logger.ts'
import { startMesh } from '../../sandbox/mesh/index.ts'
import { realSleep } from '../../sandbox/mesh/delivery.ts'
import { freePort } from '../../shared/process/ports.ts'
import type { FunctionModule } from '../../shared/runtime/function.ts'
import { startSandbox } from '../../sandbox/local/sandbox.ts'
import { startTestFunction, type TestFunction } from '../../sandbox/harness/function.ts'
import { startRedis } from '../../sandbox/harness/redis.ts'
import { checkLoss, deadLettersReportedInLog, handledInLog, identity, runsInLog, type SentEvent } from './loss.ts'
import { liveHeap, seededRandom } from './tools.ts'

// The whole platform under load: every function, with the sandbox's configs
// and its own ServiceAccount (the RBAC of its manifest), behind the project's
// own triggers/ in the local mesh. A few thousand valid events, a tenth of
// them sent twice, reach every function (alerts through alertmanager-bridge
// as Alertmanager posts them), while the Kubernetes API and Vault fail now
// and then. Every event must end handled or dead-lettered, none lost, none
// handled twice; every reply reaches notify through its Triggers; memory
// comes back near where it started. Destructive functions run in dry-run, as
// they ship.

// 1,000 by default (SOAK_PLATFORM_EVENTS for more): alone on two cores they take about a minute;
// the file's limit leaves room for a machine busy with the rest of the suite.
const EVENTS = Number(process.env.SOAK_PLATFORM_EVENTS ?? 1000)
t.setTimeout(600_000)
const BATCH = 100
const root = fileURLToPath(new URL('../../', import.meta.url))
const rand = seededRandom(11)
const heap = liveHeap

t.test('soak: every function, the project\'s triggers, faults in the APIs', async (t) => {
  const state = await mkdtemp(join(tmpdir(), 'caretaker-soak-platform-'))
  t.teardown(() => rm(state, { recursive: true, force: true }))
  const sandbox = await startSandbox({ stateDir: join(state, 'sandbox'), kubePort: 0, vaultPort: 0, manifestsDir: join(root, 'manifests'), logger: createLogger({ level: 'silent' }) })
  t.teardown(() => sandbox.close())
  const redis = await startRedis()
  t.teardown(() => redis.stop())

  // The broker's port first: the functions send their further events there (K_SINK).
  const port = await freePort('127.0.0.1')
  const sink = `http://127.0.0.1:${port}/caretaker/caretaker`
  const names = (await readdir(join(root, 'functions'), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()
  const functions = new Map<string, TestFunction>()
  for (const name of names) {
    const module = (await import(pathToFileURL(join(root, 'functions', name, 'index.ts')).href) as { default: FunctionModule }).default
    const { CARETAKER_CONFIG: configPath, ...env } = await sandbox.functionEnv(name)
    let config: unknown = configPath ? parse(await readFile(configPath, 'utf8')) : {}
    // The sandbox runs no database; here a real Redis stands in for one.
    if (name === 'maintain-databases') config = { targets: [{ name: 'cache', kind: 'redis', nodes: [{ host: '127.0.0.1', port: redis.port }] }] }
    const fn = await startTestFunction(module, {
      config,
      env: { ...env, K_SINK: sink, LOG_LEVEL: 'info', CARETAKER_DRY_RUN: ['verify-backup', 'notify', 'health-report'].includes(name) ? 'false' : 'true' },
    })
    functions.set(name, fn)
  }
  t.teardown(() => Promise.all([...functions.values()].map((f) => f.stop())))

  // The Triggers' real backoffs (seconds to a minute), shortened 50 times; PingSources only when fired.
  const mesh = await startMesh({
    dir: join(root, 'triggers'), port,
    services: Object.fromEntries([...functions].map(([name, fn]) => [name, fn.url])),
    logger: createLogger({ level: 'silent' }),
    clock: { now: () => new Date() },
    sleep: (ms) => realSleep(ms / 50),
  })
  t.teardown(() => mesh.close())

  const { kube, vault } = sandbox
  const verifySets = ((parse(await readFile((await sandbox.functionEnv('verify-backup')).CARETAKER_CONFIG!, 'utf8')) as { sets: Array<{ name: string, format: string }> }).sets)
    .filter((s) => s.format !== 'pg-dumpall-gzip').map((s) => s.name) // the restore test is benchmarked elsewhere; here it would only slow the soak
  t.ok(verifySets.length >= 3, `verify-backup sets in the mix: ${verifySets.join(', ')}`)

  // Faults now and then, all through the soak: each batch arms a few one-shot failures (503 and 429) at random
  // on the Kubernetes API and Vault; the requests that hit them must be retried or dead-lettered, never lost.
  const faultPoints: Array<() => void> = [
    () => kube.faults.add({ method: 'GET', path: '/apis/snapshot.storage.k8s.io/', status: 503, times: 1 }),
    () => kube.faults.add({ method: 'GET', path: '/apis/batch/v1/namespaces/production/jobs', status: 429, times: 1 }),
    () => kube.faults.add({ method: 'GET', path: '/api/v1/pods', status: 503, times: 1 }),
    () => kube.faults.add({ method: 'GET', path: '/apis/cert-manager.io/', status: 503, times: 1 }),
    () => kube.faults.add({ method: 'GET', path: '/apis/external-secrets.io/', status: 503, times: 1 }),
    () => vault.faults.add({ method: 'GET', path: 'secret/data/production/web/*', status: 503, times: 1 }),
  ]

  const sent: SentEvent[] = []
  const post = async (headers: Record<string, string>, body: unknown) => {
    const res = await fetch(`${mesh.ingressUrl}/caretaker/caretaker`, { method: 'POST', headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', ...headers }, body: JSON.stringify(body) })
    await res.arrayBuffer()
    return res.status
  }
  const bridge = functions.get('alertmanager-bridge')!
  const postAlert = async (n: number) => {
    const alert = { status: 'firing' as const, labels: { alertname: 'KubePodCrashLooping', namespace: 'production', pod: `api-${n}`, severity: 'warning' }, annotations: {}, startsAt: '2026-12-03T09:00:00Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: '', fingerprint: `soak${n.toString(16).padStart(12, '0')}` }
    const res = await fetch(new URL('/alertmanager', bridge.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: '4', status: 'firing', receiver: 'caretaker', groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://alertmanager:9093', alerts: [alert] }) })
    await res.arrayBuffer()
    return { status: res.status, id: alertEventId(alert) }
  }
  const certificates = sandbox.seeded.certificates.map((c) => kube.store.get('cert-manager.io/v1', 'Certificate', c.namespace, c.name)!)
  // Once per batch, as their schedules would send them: the sweeps, which run one at a time (a second gets 429).
  const sweeps: Array<(n: number) => Promise<number>> = [
    async (n) => { sent.push({ id: `p-${n}`, source: '/soak', fn: 'prune-snapshots' }); return post({ 'ce-id': `p-${n}`, 'ce-source': '/soak', 'ce-type': 'dev.caretaker.snapshots.prune.requested' }, {}) },
    async (n) => { sent.push({ id: `c-${n}`, source: '/soak', fn: 'clean-up-resources' }); return post({ 'ce-id': `c-${n}`, 'ce-source': '/soak', 'ce-type': 'dev.caretaker.resources.clean.requested' }, {}) },
    async (n) => { sent.push({ id: `m-${n}`, source: '/soak', fn: 'maintain-databases' }); return post({ 'ce-id': `m-${n}`, 'ce-source': '/soak', 'ce-type': 'dev.caretaker.database.maintenance.requested' }, { target: 'cache', task: 'memory' }) },
    async (n) => { sent.push({ id: `h-${n}`, source: '/soak', fn: 'health-report' }); return post({ 'ce-id': `h-${n}`, 'ce-source': '/soak', 'ce-type': 'dev.caretaker.health.report.requested' }, { checks: ['nodes', 'pods', 'certificates', 'pvcs'] }) },
    async (n) => { sent.push({ id: `k-${n}`, source: '/apis/v1/namespaces/caretaker/pingsources/renew-certificate-sweep', fn: 'renew-certificate' }); return post({ 'ce-id': `k-${n}`, 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/renew-certificate-sweep', 'ce-type': 'dev.knative.sources.ping' }, { sweep: 'daily' }) },
    async (n) => { sent.push({ id: `w-${n}`, source: '/soak', fn: 'check-updates' }); return post({ 'ce-id': `w-${n}`, 'ce-source': '/soak', 'ce-type': 'dev.caretaker.updates.check.requested' }, {}) },
    async (n) => { sent.push({ id: `g-${n}`, source: '/soak', fn: 'back-up-configuration' }); return post({ 'ce-id': `g-${n}`, 'ce-source': '/soak', 'ce-type': 'dev.caretaker.configuration.backup.requested' }, { reason: 'soak' }) },
  ]
  // The rest of each batch: per-item events, with an alert storm the largest share.
  const items: Array<(n: number) => Promise<number>> = [
    async (n) => { sent.push({ id: `v-${n}`, source: '/soak', fn: 'verify-backup' }); return post({ 'ce-id': `v-${n}`, 'ce-source': '/soak', 'ce-type': 'dev.caretaker.backup.verify.requested' }, { set: verifySets[n % verifySets.length] }) },
    async (n) => { sent.push({ id: `r-${n}`, source: '/soak', fn: 'rotate-secret' }); return post({ 'ce-id': `r-${n}`, 'ce-source': '/soak', 'ce-type': 'dev.caretaker.secret.rotate.requested' }, { secret: 'web-session' }) },
    async (n) => {
      const cert = certificates[n % certificates.length] as { metadata: { name: string, namespace: string } }
      sent.push({ id: `u-${n}`, source: 'https://10.96.0.1:443', fn: 'renew-certificate' })
      return post({ 'ce-id': `u-${n}`, 'ce-source': 'https://10.96.0.1:443', 'ce-type': 'dev.knative.apiserver.resource.update', 'ce-kind': 'Certificate', 'ce-name': cert.metadata.name, 'ce-namespace': cert.metadata.namespace }, cert)
    },
    ...Array.from({ length: 4 }, () => async (n: number) => { const a = await postAlert(n); sent.push({ id: a.id, source: 'http://alertmanager:9093', fn: 'respond-to-alert' }); return a.status === 200 ? 202 : a.status }),
  ]

  const baseline = heap()
  const started = Date.now()
  for (let batch = 0; batch < EVENTS / BATCH; batch++) {
    for (let f = 0; f < 3; f++) faultPoints[rand(faultPoints.length)]!()
    const posts: Array<Promise<number>> = []
    for (let i = 0; i < BATCH; i++) {
      const n = batch * BATCH + i
      const kind = i < sweeps.length ? sweeps[i]! : items[n % items.length]!
      posts.push(kind(n))
      // A redelivery of the same event, as the Broker may send one. It records the same identity again,
      // which the loss check counts once (a `sent.pop()` here used to drop whichever event came last).
      if (rand(10) === 0) posts.push(kind(n))
    }
    const statuses = await Promise.all(posts)
    const refused = statuses.filter((s) => s !== 202)
    if (refused.length > 0) t.fail(`batch ${batch}: ${refused.length} events refused at the door (${[...new Set(refused)].join(', ')})`)
    await mesh.broker.idle()
  }
  await mesh.broker.idle()
  const seconds = (Date.now() - started) / 1000

  const handled = new Map<string, Set<string>>()
  const runsBy = new Map<string, Map<string, number>>()
  for (const [name, fn] of functions) {
    handled.set(name, handledInLog(fn.logLines()))
    runsBy.set(name, runsInLog(fn.logLines()))
  }
  // A dead letter counts as accounted for only once notify reported it.
  const loss = checkLoss({ sent, handled, deadLetters: mesh.broker.deadLetters, reported: deadLettersReportedInLog(functions.get('notify')!.logLines()) })
  const dead = new Set(mesh.broker.deadLetters.map((d) => identity(d.event)))
  t.same(loss.lost.slice(0, 10), [], `no event lost: ${loss.unique} sent in ${seconds.toFixed(1)} s, ${loss.handled} handled, ${loss.deadLettered} dead-lettered and reported to notify (${loss.unreported.length} not reported)`)
  for (const [name, fn] of functions) {
    const times = fn.logLines().filter((l) => l.msg === 'event handled').map((l) => Number(l.duration_ms)).sort((a, b) => a - b)
    if (times.length > 0) t.comment(`${name}: ${times.length} handled, median ${times[Math.floor(times.length / 2)]} ms, max ${times.at(-1)} ms`)
  }
  for (const [name, runs] of runsBy) {
    // alertmanager-bridge takes Alertmanager's plain webhook, not events: it is checked by what reached respond-to-alert.
    if (name === 'alertmanager-bridge') continue
    t.same([...runs].filter(([, c]) => c > 1).slice(0, 5), [], `${name}: no event handled twice`)
    t.ok(runs.size > 0, `${name}: handled ${runs.size} events`)
  }
  const deadBy = new Map<string, number>()
  for (const d of mesh.broker.deadLetters) deadBy.set(`${d.trigger} ${d.lastStatus ?? d.lastError}`, (deadBy.get(`${d.trigger} ${d.lastStatus ?? d.lastError}`) ?? 0) + 1)
  t.ok(dead.size < loss.unique / 20, `retries absorbed the faults (${dead.size} dead-lettered: ${JSON.stringify(Object.fromEntries(deadBy))})`)
  // Every outcome goes to notify through its Triggers: it handled at least one per handled request.
  const notified = handled.get('notify')!.size
  const requestsHandled = [...handled].filter(([name]) => name !== 'notify' && name !== 'alertmanager-bridge').reduce((n, [, runs]) => n + runs.size, 0)
  t.ok(notified >= requestsHandled, `notify got the outcomes (${notified} for ${requestsHandled} handled requests)`)
  t.ok([...functions.values()].some((f) => f.logLines().some((l) => l.msg === 'event already handled')), 'redeliveries were answered with the recorded outcome')
  const after = heap()
  t.ok(after < baseline * 1.5 + 32 * 1024 * 1024, `heap back near its baseline (${Math.round(baseline / 1048576)} → ${Math.round(after / 1048576)} MiB)`)
})
