import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { BatchV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node'
import type { CloudEvent } from 'cloudevents'
import { createLogger } from '../../shared/logger.ts'
import { startMesh } from '../../sandbox/mesh/index.ts'
import { toBinaryRequest } from '../../sandbox/mesh/delivery.ts'
import { apiServerEvent, labelSelectorString, loadApiServerSources, parseApiServerSource, startApiServerSources, type ApiServerSourceObject } from '../../sandbox/mesh/apiserversource.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { startReceiver } from './receiver.ts'

const logger = createLogger({ level: 'silent' })
const SAMPLES = join(process.cwd(), '../shared/upstream/events/knative')
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
type Rec = Record<string, unknown>

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until<T>(what: string, fn: () => T | undefined, ms = 3000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

/** The event as structured JSON, the way the samples are written (no `time`: the adapter sets none). */
function structured(event: CloudEvent<unknown>): Rec {
  const out = JSON.parse(JSON.stringify(event)) as Rec
  const wire = toBinaryRequest(event).headers
  if (wire['ce-time'] === undefined) delete out.time
  return out
}

function sample(name: string): Rec | undefined {
  const path = join(SAMPLES, name)
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) as Rec : undefined
}

t.test('events are built exactly like the upstream adapter samples', async (t) => {
  if (!existsSync(SAMPLES)) {
    const msg = `upstream samples not found at ${SAMPLES}`
    if (process.env.CI === 'true') t.fail(msg)
    else t.pass(`skipped: ${msg}`)
    return
  }
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unit', namespace: 'test' } }
  t.same(structured(apiServerEvent('add', 'Resource', 'unit-test', pod, 'PLACEHOLDER-ID-1')), sample('apiserversource-resource-add-pod.unit-test.structured.json'))
  t.same(structured(apiServerEvent('add', 'Reference', 'unit-test', pod, 'PLACEHOLDER-ID-2')), sample('apiserversource-ref-add-pod.unit-test.structured.json'))
  const docs = sample('apiserversource-resource-update-k8s-event.structured.json')!
  const ev = apiServerEvent('update', 'Resource', String(docs.source), docs.data as Rec, String(docs.id))
  const got = structured(ev)
  // The 2020 docs sample lacks `apiversion` (current adapters add it) and carries a `time` the adapter no longer sets.
  t.same(Object.keys(got).sort(), [...Object.keys(docs).filter((k) => k !== 'time'), 'apiversion'].sort(), 'same attribute names')
  t.same(got.data, docs.data)
  t.equal(got.type, 'dev.knative.apiserver.resource.update')
  t.equal(got.kind, 'Event')
  t.equal(toBinaryRequest(ev).headers['ce-time'], undefined, 'no time on the wire')
  t.equal(apiServerEvent('delete', 'Reference', 's', pod).type, 'dev.knative.apiserver.ref.delete')
  t.equal(apiServerEvent('update', 'Reference', 's', { apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'x', namespace: 'n' } }).subject, '/apis/serving.knative.dev/v1/namespaces/n/services/x')
  t.equal(apiServerEvent('add', 'Reference', 's', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i', namespace: 'n' } }).subject, '/apis/networking.k8s.io/v1/namespaces/n/ingresses/i')
  t.same(apiServerEvent('add', 'Reference', 's', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } }).data, { kind: 'Node', name: 'n1', apiVersion: 'v1' })
})

t.test('parsing and selectors', async (t) => {
  const src = parseApiServerSource({ apiVersion: 'sources.knative.dev/v1', kind: 'ApiServerSource', metadata: { name: 's' }, spec: { resources: [{ apiVersion: 'v1', kind: 'Pod', selector: { matchLabels: { app: 'a' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }, { key: 'skip', operator: 'DoesNotExist' }] } }], sink: { ref: { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: 'default' } } } })
  t.equal(src.mode, 'Reference', 'Reference is the default mode')
  t.equal(src.namespace, 'default')
  t.equal(labelSelectorString(src.resources[0]?.selector), '!skip,app=a,tier in (api,web)')
  t.throws(() => parseApiServerSource({ metadata: { name: 'x' }, spec: { mode: 'Ref', resources: [{ apiVersion: 'v1', kind: 'Pod' }], sink: { uri: 'http://x' } } }), /mode/)
  t.throws(() => parseApiServerSource({ metadata: { name: 'x' }, spec: { resources: [], sink: { uri: 'http://x' } } }), /resources/)
})

/** A TCP relay in front of the API server, so the test can cut every connection (watches included). */
async function relay(target: string): Promise<{ url: string, cut(): void, close(): Promise<void> }> {
  const { port, hostname } = new URL(target)
  const sockets = new Set<Socket>()
  const srv = createServer((client) => {
    const upstream = connect(Number(port), hostname)
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => undefined) }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    cut: () => { for (const s of sockets) s.destroy() },
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); srv.close(() => resolve()) }),
  }
}

t.test('against the Kubernetes simulator: both modes, selectors, namespaces, reconnect', async (t) => {
  const sim = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => sim.close())
  const proxy = await relay(sim.url)
  t.teardown(() => proxy.close())
  const kc = new KubeConfig()
  kc.loadFromOptions({ clusters: [{ name: 'c', server: proxy.url, skipTLSVerify: true }], users: [{ name: 'u', token: sim.token }], contexts: [{ name: 'c', cluster: 'c', user: 'u' }], currentContext: 'c' })
  const core = kc.makeApiClient(CoreV1Api)
  const batch = kc.makeApiClient(BatchV1Api)
  const podSpec = { containers: [{ name: 'c', image: 'nginx' }] }
  await core.createNamespacedPod({ namespace: 'test', body: { metadata: { name: 'before', labels: { app: 'web' } }, spec: podSpec } })

  const sources: ApiServerSourceObject[] = [
    parseApiServerSource({ apiVersion: 'sources.knative.dev/v1', kind: 'ApiServerSource', metadata: { name: 'pods', namespace: 'test' }, spec: { mode: 'Resource', resources: [{ apiVersion: 'v1', kind: 'Pod', selector: { matchLabels: { app: 'web' } } }], sink: { ref: { kind: 'Broker', name: 'default' } } } }),
    parseApiServerSource({ apiVersion: 'sources.knative.dev/v1', kind: 'ApiServerSource', metadata: { name: 'jobs', namespace: 'test' }, spec: { mode: 'Reference', resources: [{ apiVersion: 'batch/v1', kind: 'Job', selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['batch'] }] } }], sink: { ref: { kind: 'Broker', name: 'default' } } } }),
  ]
  const got: Array<{ event: CloudEvent<unknown>, source: string }> = []
  const feed = startApiServerSources({ sources, kubeConfig: kc, logger, retryDelayMs: 20, sink: (event, source) => { got.push({ event, source: source.name }) } })
  t.teardown(() => feed.close())
  await feed.ready
  await sleep(50)
  t.same(got, [], 'existing objects are not replayed as add (the adapter ignores the initial list)')

  const created = await core.createNamespacedPod({ namespace: 'test', body: { metadata: { name: 'p1', labels: { app: 'web' } }, spec: podSpec } })
  await core.createNamespacedPod({ namespace: 'test', body: { metadata: { name: 'p2', labels: { app: 'other' } }, spec: podSpec } })
  await core.createNamespacedPod({ namespace: 'elsewhere', body: { metadata: { name: 'p3', labels: { app: 'web' } }, spec: podSpec } })
  const add = await until('pod add', () => got.find((g) => g.event.type === 'dev.knative.apiserver.resource.add'))
  const addSample = sample('apiserversource-resource-add-pod.unit-test.structured.json')
  const attrs = structured(add.event)
  if (addSample) t.same(Object.keys(attrs).sort(), Object.keys(addSample).sort(), 'same attribute names as the upstream Resource sample')
  t.match(attrs, { specversion: '1.0', type: 'dev.knative.apiserver.resource.add', source: proxy.url, subject: '/apis/v1/namespaces/test/pods/p1', datacontenttype: 'application/json', apiversion: 'v1', kind: 'Pod', name: 'p1', namespace: 'test' })
  t.same(attrs.data, sim.store.get('v1', 'Pod', 'test', 'p1'), 'data is the object as stored')
  t.equal(created.metadata?.name, 'p1')
  await core.patchNamespacedPod({ name: 'p1', namespace: 'test', body: { metadata: { annotations: { touched: 'yes' } } } }, merge)
  const upd = await until('pod update', () => got.find((g) => g.event.type === 'dev.knative.apiserver.resource.update'))
  t.equal(((upd.event.data as Rec).metadata as Rec & { annotations: Rec }).annotations.touched, 'yes')

  // cut every connection: the watch must come back and not miss what happens next
  proxy.cut()
  await sleep(100)
  await core.deleteNamespacedPod({ name: 'p1', namespace: 'test' })
  const del = await until('pod delete', () => got.find((g) => g.event.type === 'dev.knative.apiserver.resource.delete'))
  t.equal(del.event.subject, '/apis/v1/namespaces/test/pods/p1')
  t.same(got.filter((g) => g.source === 'pods').map((g) => `${g.event.type} ${String(g.event.name)}`), [
    'dev.knative.apiserver.resource.add p1', 'dev.knative.apiserver.resource.update p1', 'dev.knative.apiserver.resource.delete p1',
  ], 'p2 (selector) and p3 (other namespace) produced nothing')

  const job = { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'j', image: 'busybox' }] } } } }
  await batch.createNamespacedJob({ namespace: 'test', body: { metadata: { name: 'j1', labels: { tier: 'batch' } }, ...job } })
  await batch.createNamespacedJob({ namespace: 'test', body: { metadata: { name: 'j2', labels: { tier: 'web' } }, ...job } })
  await batch.patchNamespacedJob({ name: 'j1', namespace: 'test', body: { metadata: { labels: { tier: 'batch', seen: 'y' } } } }, merge)
  await batch.deleteNamespacedJob({ name: 'j1', namespace: 'test' })
  await until('job delete', () => got.find((g) => g.event.type === 'dev.knative.apiserver.ref.delete'))
  const refs = got.filter((g) => g.source === 'jobs')
  t.same(refs.map((g) => g.event.type), ['dev.knative.apiserver.ref.add', 'dev.knative.apiserver.ref.update', 'dev.knative.apiserver.ref.delete'])
  const refSample = sample('apiserversource-ref-add-pod.unit-test.structured.json')
  for (const r of refs) {
    const s = structured(r.event)
    if (refSample) t.same(Object.keys(s).sort(), Object.keys(refSample).sort(), 'same attribute names as the upstream Reference sample')
    t.same(s.data, { kind: 'Job', namespace: 'test', name: 'j1', apiVersion: 'batch/v1' })
    t.equal(s.subject, '/apis/batch/v1/namespaces/test/jobs/j1')
  }
})

t.test('namespaceSelector widens the scope to the matching namespaces; owner narrows it', async (t) => {
  const sim = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => sim.close())
  for (const [name, labels] of [['team-a', { team: 'a' }], ['team-a2', { team: 'a' }], ['team-b', { team: 'b' }]] as const) sim.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } })
  const sources = [
    parseApiServerSource({ metadata: { name: 'cms', namespace: 'ops' }, spec: { mode: 'Reference', namespaceSelector: { matchLabels: { team: 'a' } }, resources: [{ apiVersion: 'v1', kind: 'ConfigMap' }], sink: { uri: 'http://127.0.0.1:1/' } } }),
    parseApiServerSource({ metadata: { name: 'owned', namespace: 'team-b' }, spec: { mode: 'Reference', owner: { apiVersion: 'batch/v1', kind: 'CronJob' }, resources: [{ apiVersion: 'batch/v1', kind: 'Job' }], sink: { uri: 'http://127.0.0.1:1/' } } }),
  ]
  const got: string[] = []
  const feed = startApiServerSources({ sources, kubeConfig: sim.kubeConfig(), logger, sink: (event, source) => { got.push(`${source.name} ${String(event.namespace)}/${String(event.name)}`) } })
  t.teardown(() => feed.close())
  await feed.ready
  const core = sim.kubeConfig().makeApiClient(CoreV1Api)
  const batch = sim.kubeConfig().makeApiClient(BatchV1Api)
  for (const ns of ['team-a', 'team-a2', 'team-b', 'ops']) await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'c' } } })
  const job = { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'j', image: 'busybox' }] } } } }
  await batch.createNamespacedJob({ namespace: 'team-b', body: { metadata: { name: 'manual' }, ...job } })
  await batch.createNamespacedJob({ namespace: 'team-b', body: { metadata: { name: 'scheduled', ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', uid: '1f7c0e0a-0000-4000-8000-000000000001', controller: true }] }, ...job } })
  await until('events', () => (got.length >= 3 ? got : undefined))
  await sleep(100)
  t.same([...got].sort(), ['cms team-a/c', 'cms team-a2/c', 'owned team-b/scheduled'])
})

t.test('end to end: ApiServerSource + Trigger route a Job completion through the mesh', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'apiserversource-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'mesh.yaml'), `apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: { name: default, namespace: ops }
---
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata: { name: jobs, namespace: ops }
spec:
  mode: Resource
  resources:
    - apiVersion: batch/v1
      kind: Job
  sink:
    ref: { apiVersion: eventing.knative.dev/v1, kind: Broker, name: default }
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: job-updates, namespace: ops }
spec:
  broker: default
  filter:
    attributes:
      type: dev.knative.apiserver.resource.update
      kind: Job
  subscriber:
    ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: recorder }
    uri: /jobs
`)
  const sim = await startKubernetesSimulator({ controllers: { delayMs: 30 } })
  t.teardown(() => sim.close())
  const recorder = await startReceiver()
  t.teardown(() => recorder.close())
  const mesh = await startMesh({ dir, services: { recorder: recorder.url }, logger })
  t.teardown(() => mesh.close())
  const sources = await loadApiServerSources(dir)
  t.same(sources.map((s) => `${s.namespace}/${s.name} ${s.mode}`), ['ops/jobs Resource'])
  const feed = startApiServerSources({
    sources, kubeConfig: sim.kubeConfig(), logger,
    sink: (event, source) => mesh.broker.publish(event, { namespace: source.sink.ref?.namespace ?? source.namespace, name: source.sink.ref?.name ?? 'default' }),
  })
  t.teardown(() => feed.close())
  await feed.ready

  const batch = sim.kubeConfig().makeApiClient(BatchV1Api)
  await batch.createNamespacedCronJob({ namespace: 'ops', body: { metadata: { name: 'nightly' }, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'n', image: 'busybox' }] } } } } } } })
  const job = sim.controllers.triggerCronJob('ops', 'nightly')
  const jobName = String((job.metadata as Rec).name)
  const done = await until('completion delivered', () => recorder.on('/jobs').find((r) => {
    const body = JSON.parse(r.body.toString('utf8')) as { status?: { conditions?: Array<{ type: string, status: string }> } }
    return body.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')
  }), 5000)
  t.match(done.headers, { 'ce-type': 'dev.knative.apiserver.resource.update', 'ce-source': sim.url, 'ce-subject': `/apis/batch/v1/namespaces/ops/jobs/${jobName}`, 'ce-kind': 'Job', 'ce-name': jobName, 'ce-namespace': 'ops', 'ce-apiversion': 'batch/v1', 'content-type': /^application\/json/ })
  t.equal(done.headers['ce-time'], undefined, 'no time attribute, like the adapter')
  t.notOk(recorder.on('/jobs').some((r) => r.headers['ce-type'] !== 'dev.knative.apiserver.resource.update'), 'the Trigger filtered out the add')
  await mesh.broker.idle()
})
