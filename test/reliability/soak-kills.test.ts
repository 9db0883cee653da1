import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { stringify } from 'yaml'
import pruneSnapshots from '../../functions/prune-snapshots/index.ts'
import { createLogger } from '../../shared/logger.ts'
import { startMesh } from '../../sandbox/mesh/index.ts'
import { freePort } from '../../shared/process/ports.ts'
import { leaseNameFor } from '../../shared/runtime/idempotency-kubernetes.ts'
import { idempotencyKey } from '../../shared/runtime/idempotency.ts'
import { manifestRbac } from '../../sandbox/local/sandbox.ts'
import { startTestFunction } from '../../sandbox/harness/function.ts'
import { projectRoot, spawnFunction, type FunctionProcess } from '../../sandbox/harness/process.ts'
import { startReceiver } from '../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { checkLoss, handledInLog, identity, runsInLog, type SentEvent } from './loss.ts'
import { seededRandom } from './tools.ts'

// A soak of side effects through process kills and write-path faults.
// clean-up-resources runs as its own process (shared/runtime/main.ts, as
// Knative runs it) behind the local mesh, deleting finished Jobs for real;
// prune-snapshots runs in this process, deleting VolumeSnapshots for real.
// Both record handled events on Leases (CARETAKER_IDEMPOTENCY=kubernetes)
// under the manifests' RBAC. While events flow, the Kubernetes API fails
// now and then on its write paths (the deletes, the Lease creates, updates
// and deletes) and clean-up-resources is killed with SIGKILL in the middle
// of a run, a few times, and started again on the same port. The checks:
// every event handled or dead-lettered and reported (by identity), every
// object deleted exactly once, every handled event's Lease recorded done,
// and no process exit but the ones caused here.
//
// A claim whose holder was killed stays "in progress" for its duration
// (30 s, KubernetesIdempotencyStore's default) before a redelivery takes it
// over, so the Triggers' retries must outlast that: linear backoff of 0.5 s
// and 15 retries wait 60 s in all. The size is SOAK_KILLS_EVENTS (events
// in all) and SOAK_KILLS (kills). That claim duration is a floor no size
// lowers, and a process start takes seconds on a loaded machine: the file
// sets its own timeout above tap's default; it takes about a minute idle.

const EVENTS = Number(process.env.SOAK_KILLS_EVENTS ?? 30)
const KILLS = Number(process.env.SOAK_KILLS ?? 3)
const BATCH = 10
const JOBS_PER_BATCH = 6
const SNAPSHOTS_PER_BATCH = 4
const NS = 'production'
const DAY = 86_400_000
const rand = seededRandom(23)
t.setTimeout(240_000)

t.test('soak: process kills and write faults; nothing lost, nothing done twice', async (t) => {
  const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => kube.close())
  for (const ns of ['caretaker', NS, 'databases']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  for (const obj of await manifestRbac(join(projectRoot, 'manifests'))) {
    const meta = obj.metadata as { name: string; namespace?: string }
    if (!kube.store.get(String(obj.apiVersion), String(obj.kind), meta.namespace ?? '', meta.name)) kube.store.seed(obj)
  }

  // Side effects counted where they land: each object deletion the API applied, and each Lease created.
  const deletions = new Map<string, number>()
  const leaseCreates = new Map<string, number>()
  kube.onChange(({ type, object }) => {
    const meta = object.metadata as { name: string; namespace?: string }
    const key = `${String(object.kind)} ${meta.namespace}/${meta.name}`
    if (type === 'DELETED' && (object.kind === 'Job' || object.kind === 'VolumeSnapshot')) deletions.set(key, (deletions.get(key) ?? 0) + 1)
    if (type === 'ADDED' && object.kind === 'Lease') leaseCreates.set(meta.name, (leaseCreates.get(meta.name) ?? 0) + 1)
  })

  const now = Date.now()
  const iso = (msAgo: number) => new Date(now - msAgo).toISOString()
  const podSpec = { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox' }] }
  const seededJobs: string[] = []
  const seedJobs = (batch: number) => {
    for (let i = 0; i < JOBS_PER_BATCH; i++) {
      const name = `old-${batch}-${i}`
      kube.store.seed({
        apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: NS },
        spec: { template: { spec: podSpec } },
        status: { startTime: iso(3 * DAY), succeeded: 1, completionTime: iso(2 * DAY), conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: iso(2 * DAY) }] },
      })
      seededJobs.push(`Job ${NS}/${name}`)
    }
  }
  // Snapshots of one volume, newest last; the policy keeps the newest three, so each batch's older ones are due.
  const seededSnapshots: string[] = []
  let snapshotAge = 2 * DAY // past any grace period; each one a minute newer than the one before
  const seedSnapshots = () => {
    for (let i = 0; i < SNAPSHOTS_PER_BATCH; i++) {
      const name = `snap-${seededSnapshots.length}`
      const created = iso(snapshotAge -= 60_000)
      kube.store.seed({
        apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot',
        metadata: { name, namespace: NS, creationTimestamp: created },
        spec: { volumeSnapshotClassName: 'longhorn', source: { persistentVolumeClaimName: 'data' } },
        status: { readyToUse: true, creationTime: created, restoreSize: '1Gi' },
      })
      seededSnapshots.push(`VolumeSnapshot ${NS}/${name}`)
    }
  }

  const dir = await mkdtemp(join(tmpdir(), 'caretaker-soak-kills-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const idempotency = { CARETAKER_IDEMPOTENCY: 'kubernetes', CARETAKER_NAMESPACE: 'caretaker' }
  const cleanConfig = join(dir, 'clean-up-resources.yaml')
  await writeFile(cleanConfig, stringify({ namespaces: [NS], jobs: { ttl: '1d' }, replicaSets: { enabled: false }, pvcs: { report: false }, limits: { deletesPerSecond: 10 } }))
  const cleanPort = await freePort('127.0.0.1')
  const cleanEnv = {
    PORT: String(cleanPort), LOG_LEVEL: 'info', CARETAKER_CONFIG: cleanConfig, CARETAKER_DRY_RUN: 'false',
    CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'clean-up-resources'), ...idempotency,
  }
  // Every incarnation of the process, in order; the last is the live one.
  const incarnations: FunctionProcess[] = []
  const killed = new Set<FunctionProcess>()
  const startClean = async () => {
    // Every incarnation ends by SIGKILL: none writes coverage, so none collects it.
    const fn = spawnFunction('clean-up-resources', cleanEnv, { coverage: false })
    incarnations.push(fn)
    await fn.waitForLine((l) => l.msg === 'function ready', 90_000)
    return fn
  }
  await startClean()
  t.teardown(() => { for (const fn of incarnations) fn.child.kill('SIGKILL') })

  const prune = await startTestFunction(pruneSnapshots, {
    env: { LOG_LEVEL: 'info', CARETAKER_DRY_RUN: 'false', CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', 'prune-snapshots'), ...idempotency },
    config: { limits: { pageSize: 50, deletesPerSecond: 20 }, policies: [{ name: 'p', kind: 'VolumeSnapshot', namespaces: [NS], keepLast: 3 }] },
  })
  t.teardown(() => prune.stop())
  const sink = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => sink.close())

  const route = (name: string, type: string, subscriber: string) => `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: ${name}, namespace: caretaker }
spec:
  broker: caretaker
  filter: { attributes: { type: ${type} } }
  subscriber: { ${subscriber.startsWith('http') ? `uri: ${subscriber}` : `ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: ${subscriber} }`} }
  delivery: { retry: 15, backoffPolicy: linear, backoffDelay: PT0.5S, deadLetterSink: { uri: ${sink.url}/dead-letter } }
---`
  await writeFile(join(dir, 'mesh.yaml'), [
    'apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: caretaker, namespace: caretaker }\n---',
    route('clean', 'dev.caretaker.resources.clean.requested', 'clean-up-resources'),
    route('prune', 'dev.caretaker.snapshots.prune.requested', 'prune-snapshots'),
    route('cleaned', 'dev.caretaker.resources.cleaned', `${sink.url}/replies`),
    route('pruned', 'dev.caretaker.snapshots.pruned', `${sink.url}/replies`),
  ].join('\n'))
  const mesh = await startMesh({
    dir, logger: createLogger({ level: 'silent' }),
    services: { 'clean-up-resources': `http://127.0.0.1:${cleanPort}`, 'prune-snapshots': prune.url },
  })
  t.teardown(() => mesh.close())

  // Write paths that fail now and then: the deletes themselves, and the Lease writes of the idempotency store.
  const leases = '/apis/coordination.k8s.io/v1/namespaces/caretaker/leases'
  let faultsArmed = 0
  const faultPoints: Array<() => void> = [
    () => kube.faults.add({ method: 'DELETE', path: `/apis/batch/v1/namespaces/${NS}/jobs/`, status: 503, times: 1 }),
    () => kube.faults.add({ method: 'DELETE', path: `/apis/batch/v1/namespaces/${NS}/jobs/`, status: 429, times: 1 }),
    () => kube.faults.add({ method: 'DELETE', path: `/apis/snapshot.storage.k8s.io/v1/namespaces/${NS}/volumesnapshots/`, status: 503, times: 1 }),
    () => kube.faults.add({ method: 'DELETE', path: `/apis/snapshot.storage.k8s.io/v1/namespaces/${NS}/volumesnapshots/`, status: 500, times: 1 }),
    () => kube.faults.add({ method: 'POST', path: leases, status: 503, times: 1 }),
    () => kube.faults.add({ method: 'POST', path: leases, status: 429, times: 1 }),
    () => kube.faults.add({ method: 'PUT', path: `${leases}/`, status: 503, times: 1 }),
    () => kube.faults.add({ method: 'DELETE', path: `${leases}/`, status: 503, times: 1 }),
  ]

  const sent: SentEvent[] = []
  const post = async (fn: string, type: string, id: string) => {
    sent.push({ fn, source: '/soak-kills', id })
    const res = await fetch(`${mesh.ingressUrl}/caretaker/caretaker`, { method: 'POST', headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/soak-kills', 'ce-type': type }, body: '{}' })
    await res.arrayBuffer()
    return res.status
  }

  // Kills spread over the first batches, each in the middle of a run: after the process logged a deletion.
  let kills = 0
  const killMidRun = async () => {
    const victim = incarnations.at(-1)!
    const seen = victim.lines.length
    await victim.waitForLine((l) => l.msg === 'clean-up object' && victim.lines.indexOf(l) >= seen, 60_000)
    killed.add(victim)
    victim.child.kill('SIGKILL')
    await victim.exited
    kills++
    await sleep(200 + rand(500)) // down a moment: deliveries meanwhile are refused and retried
    await startClean()
  }

  const started = Date.now()
  const batches = Math.ceil(EVENTS / BATCH)
  for (let batch = 0; batch < batches; batch++) {
    seedJobs(batch)
    seedSnapshots()
    for (let f = 0; f < 3; f++) { faultPoints[rand(faultPoints.length)]!(); faultsArmed++ }
    const posts: Array<Promise<number>> = []
    for (let i = 0; i < BATCH; i++) {
      const n = batch * BATCH + i
      const [fn, type, id] = i % 2 === 0 ? ['clean-up-resources', 'dev.caretaker.resources.clean.requested', `c-${n}`] as const : ['prune-snapshots', 'dev.caretaker.snapshots.prune.requested', `p-${n}`] as const
      posts.push(post(fn, type, id), post(fn, type, id)) // each sent twice: once more as a redelivery
    }
    const statuses = await Promise.all(posts)
    t.ok(statuses.every((s) => s === 202), `batch ${batch}: the broker accepted every event`)
    // The kills come one after another in the first batches, so the claims they orphan expire together
    // (the soak waits out one claim duration, not one per kill); later batches go on meanwhile.
    if (batch < KILLS) await killMidRun()
  }
  await mesh.broker.idle()
  // A last sweep of each after the faults are used up, so what a deferred or failed delete left is done now.
  kube.faults.clear()
  t.equal(await post('clean-up-resources', 'dev.caretaker.resources.clean.requested', 'c-final'), 202)
  await mesh.broker.idle()
  t.equal(await post('prune-snapshots', 'dev.caretaker.snapshots.prune.requested', 'p-final'), 202)
  await mesh.broker.idle()
  const seconds = (Date.now() - started) / 1000

  // Nothing lost: every event handled (by some incarnation) or dead-lettered and reported.
  const cleanLines = incarnations.flatMap((fn) => fn.lines)
  const reported = new Set(sink.on('/dead-letter').map((r) => identity({ source: String(r.headers['ce-source']), id: String(r.headers['ce-id']) })))
  const handled = new Map([['clean-up-resources', handledInLog(cleanLines)], ['prune-snapshots', handledInLog(prune.logLines())]])
  const loss = checkLoss({ sent, handled, deadLetters: mesh.broker.deadLetters, reported })
  const runs = new Map([...runsInLog(cleanLines), ...runsInLog(prune.logLines())])
  const twice = [...runs].filter(([, c]) => c > 1)
  const deletedTwice = [...deletions].filter(([, c]) => c > 1)
  // A Lease is created again after a claim was released (a retryable failure, or 429 while busy): not a side effect.
  const leasesAgain = [...leaseCreates].filter(([, c]) => c > 1).length
  t.comment(`${loss.unique} events (${sent.length} deliveries sent) in ${seconds.toFixed(1)} s; ${kills} kills, ${faultsArmed} write faults armed; ` +
    `${loss.handled} handled, ${loss.deadLettered} dead-lettered and reported, ${loss.lost.length} lost; ` +
    `${deletions.size} objects deleted, ${deletedTwice.length} twice; handlers run twice: ${twice.length}; Leases created again after a release: ${leasesAgain}`)
  t.same(loss.lost.slice(0, 10), [], `no event lost: ${loss.handled} handled, ${loss.deadLettered} dead-lettered and reported, of ${loss.unique}`)
  t.equal(kills, Math.min(KILLS, batches), `${kills} kills mid-run`)

  // Nothing done twice: each object deleted once, all of the due ones deleted.
  t.same(deletedTwice, [], 'no object deleted twice')
  t.same(seededJobs.filter((j) => deletions.get(j) !== 1), [], `every finished Job deleted exactly once (${seededJobs.length})`)
  const dueSnapshots = seededSnapshots.slice(0, -3)
  t.same(dueSnapshots.filter((s) => deletions.get(s) !== 1), [], `every snapshot past the newest three deleted exactly once (${dueSnapshots.length})`)
  t.same(seededSnapshots.slice(-3).filter((s) => deletions.has(s)), [], 'the newest three kept')
  // Each handled event has one Lease, recorded done; a handler runs a second time only for an event whose first
  // run could not record its outcome (killed mid-run, or the Lease update failed), and then changes nothing.
  const notDone: string[] = []
  for (const [fn, ids] of handled) {
    for (const s of sent.filter((e) => e.fn === fn && ids.has(identity(e)))) {
      const lease = kube.store.get('coordination.k8s.io/v1', 'Lease', 'caretaker', leaseNameFor(idempotencyKey(fn, s.source, s.id))) as { metadata: { annotations?: Record<string, string> } } | undefined
      if (lease?.metadata.annotations?.['caretaker.dev/idempotency-state'] !== 'done') notDone.push(`${fn} ${s.id}`)
    }
  }
  t.same([...new Set(notDone)].slice(0, 10), [], 'every handled event\'s Lease says done')
  t.ok(twice.length <= kills + faultsArmed, `handlers run twice only where an outcome could not be recorded (${twice.length} of ${runs.size})`)
  t.ok(cleanLines.some((l) => l.msg === 'event already handled') || prune.logLines().some((l) => l.msg === 'event already handled'), 'redeliveries answered with the recorded outcome')

  // No crash but the kills: every exit was one caused here, the live process is up and nothing logged fatal.
  const live = incarnations.at(-1)!
  t.equal(live.child.exitCode, null, 'the last clean-up-resources process is still running')
  t.same(incarnations.filter((fn) => !killed.has(fn) && fn !== live).length, 0, 'no process exited on its own')
  t.same([...cleanLines, ...prune.logLines()].filter((l) => l.level === 'fatal' || l.level === 60 || /uncaught|unhandled/i.test(String(l.msg))), [], 'nothing fatal logged')
  t.same(incarnations.map((fn) => fn.stderr()).filter(Boolean), [], 'nothing on stderr')
})
