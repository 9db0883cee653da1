import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import cleanUp from '../../functions/clean-up-resources/index.ts'
import pruneSnapshots from '../../functions/prune-snapshots/index.ts'
import { createLogger } from '../../shared/logger.ts'
import { startMesh } from '../../sandbox/mesh/index.ts'
import { startTestFunction } from '../../sandbox/harness/function.ts'
import { startReceiver } from '../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { checkLoss, handledInLog, identity, runsInLog, type SentEvent } from './loss.ts'
import { liveHeap, seededRandom } from './tools.ts'

// A soak through the local mesh: a few thousand valid events, a tenth of
// them sent twice, to functions that run one event at a time (429 to the
// rest) and whose Kubernetes API fails now and then (429, 503). Every
// event must end handled (its reply reaches a subscriber) or dead-lettered
// and received by the dead-letter sink; none lost (by identity, not count),
// none handled twice; memory comes back to where it started.

const EVENTS = Number(process.env.SOAK_EVENTS ?? 400)
// Room for a machine busy with the rest of the suite (it takes about a minute alone).
t.setTimeout(600_000)
const rand = seededRandom(7)
const heap = liveHeap

t.test('soak: every event handled or dead-lettered, once', async (t) => {
  const kube = await startKubernetesSimulator({ rbac: false, controllers: { enabled: false } })
  t.teardown(() => kube.close())
  for (const ns of ['production']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  const env = { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.token, CARETAKER_DRY_RUN: 'true', LOG_LEVEL: 'info' }
  const prune = await startTestFunction(pruneSnapshots, { env, config: { limits: { pageSize: 50 }, policies: [{ name: 'p', kind: 'VolumeSnapshot', namespaces: ['production'], keepLast: 3 }] } })
  const clean = await startTestFunction(cleanUp, { env, config: { namespaces: ['production'] } })
  t.teardown(async () => { await prune.stop(); await clean.stop() })
  const replies = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => replies.close())

  const dir = await mkdtemp(join(tmpdir(), 'caretaker-soak-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const route = (name: string, type: string, service: string) => `
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: ${name}, namespace: caretaker }
spec:
  broker: caretaker
  filter: { attributes: { type: ${type} } }
  subscriber: { ${service.startsWith('http') ? `uri: ${service}` : `ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: ${service} }`} }
  delivery: { retry: 20, backoffPolicy: linear, backoffDelay: PT0.05S, deadLetterSink: { uri: ${replies.url}/dead-letter } }
---`
  await writeFile(join(dir, 'mesh.yaml'), [
    'apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: { name: caretaker, namespace: caretaker }\n---',
    route('prune', 'dev.caretaker.snapshots.prune.requested', 'prune-snapshots'),
    route('clean', 'dev.caretaker.resources.clean.requested', 'clean-up-resources'),
    route('pruned', 'dev.caretaker.snapshots.pruned', `${replies.url}/replies`),
    route('cleaned', 'dev.caretaker.resources.cleaned', `${replies.url}/replies`),
  ].join('\n'))
  const mesh = await startMesh({ dir, services: { 'prune-snapshots': prune.url, 'clean-up-resources': clean.url }, logger: createLogger({ name: 'soak', level: 'silent' }) })
  t.teardown(() => mesh.close())

  // The API fails at random: 429 and 503 on a share of list calls, for the whole soak.
  kube.faults.add({ method: 'GET', path: '/apis/snapshot.storage.k8s.io/', status: 503, times: Math.floor(EVENTS / 6) })
  kube.faults.add({ method: 'GET', path: '/apis/batch/v1/namespaces/production/jobs', status: 429, times: Math.floor(EVENTS / 8) })

  const baseline = heap()
  const sent: SentEvent[] = []
  const post = async (id: string, type: string) => {
    const res = await fetch(`${mesh.ingressUrl}/caretaker/caretaker`, { method: 'POST', headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': '/soak', 'ce-type': type }, body: '{}' })
    await res.arrayBuffer()
    return res.status
  }
  for (let batch = 0; batch < EVENTS / 20; batch++) {
    const posts: Array<Promise<number>> = []
    for (let i = 0; i < 20; i++) {
      const n = batch * 20 + i
      const type = n % 2 === 0 ? 'dev.caretaker.snapshots.prune.requested' : 'dev.caretaker.resources.clean.requested'
      const id = `soak-${n}`
      sent.push({ fn: n % 2 === 0 ? 'prune-snapshots' : 'clean-up-resources', source: '/soak', id })
      posts.push(post(id, type))
      if (rand(10) === 0) posts.push(post(id, type)) // a redelivery
    }
    const statuses = await Promise.all(posts)
    t.ok(statuses.every((s) => s === 202), `batch ${batch}: the broker accepted every event`)
    await mesh.broker.idle()
  }
  await mesh.broker.idle()

  const lines = [...prune.logLines(), ...clean.logLines()]
  const runs = new Map([...runsInLog(prune.logLines()), ...runsInLog(clean.logLines())])
  // The dead-letter sink stands in for notify here: a dead letter it received was reported.
  const reported = new Set(replies.on('/dead-letter').map((r) => identity({ source: String(r.headers['ce-source']), id: String(r.headers['ce-id']) })))
  const loss = checkLoss({
    sent,
    handled: new Map([['prune-snapshots', handledInLog(prune.logLines())], ['clean-up-resources', handledInLog(clean.logLines())]]),
    deadLetters: mesh.broker.deadLetters,
    reported,
  })
  const dead = new Set(mesh.broker.deadLetters.map((d) => identity(d.event)))
  t.same(loss.lost.slice(0, 10), [], `no event lost: ${loss.handled} handled, ${loss.deadLettered} dead-lettered and reported, of ${loss.unique}`)
  t.same([...runs].filter(([, c]) => c > 1), [], 'no event ran its handler twice')
  t.ok(lines.some((l) => l.msg === 'event already handled'), 'redeliveries were answered with the recorded outcome')
  t.ok(dead.size < loss.unique / 10, `retries absorbed most faults (${dead.size} dead-lettered)`)
  t.ok(replies.on('/replies').length >= loss.handled, 'every handled event\'s reply came back through the broker')

  const after = heap()
  t.ok(after < baseline * 1.5 + 20 * 1024 * 1024, `heap back near its baseline (${Math.round(baseline / 1048576)} → ${Math.round(after / 1048576)} MiB)`)
})
