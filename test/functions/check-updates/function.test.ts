import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync, constants as zlib } from 'node:zlib'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import checkUpdates from '../../../functions/check-updates/index.ts'
import { configSchema, type CheckUpdatesConfig } from '../../../functions/check-updates/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction } from '../../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// check-updates end to end over HTTP: Helm release Secrets planted in the
// Kubernetes simulator exactly as Helm 3 stores them (JSON, gzip, base64,
// then the Secret's own base64), a local chart repository serving a
// realistic index.yaml (sandbox/platform/chart-repository), and a K3s channels
// document. The simulator enforces the manifest's RBAC (list Secrets in
// the configured namespaces only) and serves a K3s server's /version.

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
const fixtures = new URL('../../../sandbox/platform/chart-repository/', import.meta.url)
const indexYaml = await readFile(new URL('index.yaml', fixtures))
const channels = await readFile(new URL('channels.json', fixtures))

// The chart repository: the index, a redirect to it, and an "internal" repository that fails.
let indexRequests = 0
const repo: Server = createServer((req, res) => {
  if (req.url === '/charts/index.yaml') { indexRequests++; res.writeHead(200, { 'content-type': 'text/yaml', 'content-length': indexYaml.length }); res.end(indexYaml); return }
  if (req.url === '/moved/index.yaml') { res.writeHead(301, { location: '/charts/index.yaml' }); res.end(); return }
  if (req.url === '/k3s/v1-release/channels') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(channels); return }
  res.writeHead(404, { 'content-type': 'text/plain' }); res.end('404 page not found\n')
})
await new Promise<void>((resolve) => repo.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => { repo.closeAllConnections(); repo.close(() => resolve()) }))
const base = `http://127.0.0.1:${(repo.address() as AddressInfo).port}`

const kube = await startKubernetesSimulator({ controllers: { enabled: false }, gitVersion: 'v1.30.4+k3s1' })
t.teardown(() => kube.close())
for (const ns of ['caretaker', 'kube-system', 'production', 'monitoring', 'elsewhere']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/check-updates/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Obj)
// The shipped Role, bound in this test's namespaces.
kube.store.seed(rbac.find((d) => d.kind === 'ClusterRole')!)
kube.store.seed(rbac.find((d) => d.kind === 'ServiceAccount')!)
for (const namespace of ['kube-system', 'production', 'monitoring']) kube.store.seed({ ...rbac.find((d) => d.kind === 'RoleBinding')!, metadata: { name: 'caretaker-check-updates', namespace } })

/** A Helm 3 release record as the Secret driver writes it (helm/helm pkg/storage/driver/secrets.go, util.go encodeRelease). */
const helmRelease = (namespace: string, name: string, revision: number, status: string, chart: { name: string; version: string; appVersion?: string }, opts: { gzip?: boolean; raw?: string; into?: typeof kube } = {}) => {
  const release = {
    name, namespace, version: revision,
    info: { first_deployed: '2024-06-01T10:00:00Z', last_deployed: '2024-11-01T10:00:00Z', deleted: '', description: status === 'deployed' ? 'Upgrade complete' : 'Superseded', status, notes: 'Thank you for installing.' },
    chart: { metadata: { name: chart.name, version: chart.version, ...(chart.appVersion ? { appVersion: chart.appVersion } : {}), apiVersion: 'v2', type: 'application' }, templates: [], values: { replicas: 1 } },
    // A user's values may hold credentials: the function must never let them out.
    config: { adminPassword: 'hunter2-not-for-logs' },
    manifest: '---\n# Source: x/templates/secret.yaml\napiVersion: v1\nkind: Secret\n',
  }
  const json = Buffer.from(JSON.stringify(release))
  const helmBytes = opts.gzip === false ? json : gzipSync(json, { level: zlib.Z_BEST_COMPRESSION })
  const helmText = opts.raw ?? helmBytes.toString('base64')
  ;(opts.into ?? kube).store.seed({
    apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1',
    metadata: { name: `sh.helm.release.v1.${name}.v${revision}`, namespace, labels: { owner: 'helm', name, status, version: String(revision) } },
    data: { release: Buffer.from(helmText).toString('base64') },
  })
}

// traefik: three revisions; the deployed one (2) is 33.0.0, a later upgrade failed.
helmRelease('kube-system', 'traefik', 1, 'superseded', { name: 'traefik', version: '32.1.1', appVersion: 'v3.1.6' })
helmRelease('kube-system', 'traefik', 2, 'deployed', { name: 'traefik', version: '33.0.0', appVersion: 'v3.2.0' })
helmRelease('kube-system', 'traefik', 3, 'failed', { name: 'traefik', version: '33.2.1', appVersion: 'v3.2.3' })
// cert-manager at the newest release (a newer alpha is no update); stored before Helm compressed records (no gzip magic).
helmRelease('kube-system', 'cert-manager', 4, 'deployed', { name: 'cert-manager', version: 'v1.16.1', appVersion: 'v1.16.1' }, { gzip: false })
// podinfo two majors behind, with two records left deployed by an interrupted upgrade: the higher revision counts.
helmRelease('production', 'podinfo', 6, 'deployed', { name: 'podinfo', version: '5.2.0', appVersion: '5.2.0' })
helmRelease('production', 'podinfo', 7, 'deployed', { name: 'podinfo', version: '5.2.1', appVersion: '5.2.1' })
// grafana at 8.5.2; the index's newest is a beta.
helmRelease('monitoring', 'grafana', 12, 'deployed', { name: 'grafana', version: '8.5.2', appVersion: '11.3.0' })
// A deprecated chart, at its last version.
helmRelease('production', 'legacy-ingress', 3, 'deployed', { name: 'nginx-ingress', version: '1.41.3', appVersion: 'v0.34.1' })
// A chart from an internal repository that does not answer, one from no configured repository, and one the repository lacks.
helmRelease('production', 'billing', 9, 'deployed', { name: 'billing', version: '2.4.0', appVersion: '2.4.0' })
helmRelease('production', 'homegrown', 1, 'deployed', { name: 'homegrown', version: '0.1.0' })
helmRelease('monitoring', 'loki', 2, 'deployed', { name: 'loki', version: '6.18.0', appVersion: '3.2.0' })
// A record that is not what Helm writes.
helmRelease('monitoring', 'broken', 1, 'deployed', { name: 'x', version: '1.0.0' }, { raw: 'this is not base64!' })
// Outside the configured namespaces (and its RBAC): never read.
helmRelease('elsewhere', 'traefik', 1, 'deployed', { name: 'traefik', version: '1.0.0' })
// An ordinary Secret beside them: not selected.
kube.store.seed({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'api-credentials', namespace: 'production' }, data: { password: Buffer.from('s3cret').toString('base64') } })

const config = (over: Partial<CheckUpdatesConfig> = {}): CheckUpdatesConfig => validateConfig<CheckUpdatesConfig>({
  namespaces: ['kube-system', 'production', 'monitoring'],
  repositories: [
    { name: 'example', url: `${base}/charts` },
    { name: 'mirror', url: `${base}/moved/` },
    { name: 'internal', url: `${base}/internal` },
  ],
  charts: { traefik: 'example', 'cert-manager': 'example', grafana: 'example', 'nginx-ingress': 'example', billing: 'internal', loki: 'example' },
  releases: { 'production/podinfo': { repository: 'mirror' } },
  kubernetes: { channelsUrl: `${base}/k3s/v1-release/channels` },
  timeout: '5s', pageSize: 2,
  ...over,
}, configSchema, 'test')

const token = kube.mintServiceAccountToken('caretaker', 'check-updates')
const env = { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token }
const fn = await startTestFunction(checkUpdates, { config: config(), env })
t.teardown(() => fn.stop())

const send = async (url: string, type: string, data: unknown, extra: Record<string, string> = {}) => {
  const res = await fetch(url, { method: 'POST', headers: binaryHeaders(type, extra), body: JSON.stringify(data) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Obj : undefined }
}
const line = (r: Obj) => `${r.namespace}/${r.release} r${r.revision} ${r.chart} ${r.version} ${r.status}${r.latest ? ` → ${r.latest.version}` : ''}${r.deprecated ? ' deprecated' : ''}`

t.test('the monthly check reports every deployed release against its repository, and the cluster against its channel', async (t) => {
  indexRequests = 0
  const res = await send(fn.url, 'dev.knative.sources.ping', { check: 'monthly' }, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/check-updates-monthly' })
  t.equal(res.status, 200)
  t.equal(res.type, 'dev.caretaker.updates.reported')
  const report = res.body!
  t.same((report.objects as Obj[]).map(line), [
    // Updates and unknowns first, in the order looked at (unreadable records while listing, then by namespace and release); current ones last.
    'monitoring/broken r1 ? ? unknown',
    'kube-system/traefik r2 traefik 33.0.0 update-available → 33.2.1',
    'monitoring/loki r2 loki 6.18.0 unknown',
    'production/billing r9 billing 2.4.0 unknown',
    'production/homegrown r1 homegrown 0.1.0 unknown',
    'production/podinfo r7 podinfo 5.2.1 major-update → 6.7.1',
    'kube-system/cert-manager r4 cert-manager v1.16.1 current → v1.16.1',
    'monitoring/grafana r12 grafana 8.5.2 current → 8.5.2',
    'production/legacy-ingress r3 nginx-ingress 1.41.3 current → 1.41.3 deprecated',
  ])
  const by = new Map((report.objects as Obj[]).map((r) => [`${r.namespace}/${r.release}`, r]))
  t.match(by.get('kube-system/traefik'), { appVersion: 'v3.2.0', repository: 'example', latest: { version: '33.2.1', appVersion: 'v3.2.3', created: '2024-12-13T09:21:45.871366Z' } })
  t.match(by.get('production/billing')?.reason, /^repository internal could not be read: HTTP 404 Not Found from 127\.0\.0\.1:\d+\/internal\/index\.yaml$/)
  t.equal(by.get('production/homegrown')?.reason, 'chart homegrown is in no configured repository (config.charts, config.releases)')
  t.equal(by.get('monitoring/loki')?.reason, 'repository example has no chart loki')
  t.match(by.get('monitoring/broken')?.reason, /sh\.helm\.release\.v1\.broken\.v1 cannot be read/)
  t.equal(by.get('production/podinfo')?.repository, 'mirror', 'the per-release override wins over the chart mapping (and its redirect is followed)')
  t.same(report.counts, { current: 3, 'update-available': 1, 'major-update': 1, unknown: 4 })
  t.equal(report.deprecated, 1)
  t.same(report.kubernetes, { version: 'v1.30.4+k3s1', channel: 'stable', latest: 'v1.30.5+k3s1', status: 'update-available' })
  t.match(report.repositories, [{ name: 'example', ok: true, charts: 5 }, { name: 'internal', ok: false, reason: /HTTP 404/ }, { name: 'mirror', ok: true, charts: 5 }])
  t.equal(indexRequests, 2, 'each repository\'s index is read once per check (example, and mirror through its redirect)')
  t.notOk(JSON.stringify(report).includes('hunter2') || fn.logText().includes('hunter2'), 'a release\'s values never reach the reply or the log')
  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  t.match(metrics, /^caretaker_updates_releases\{status="major-update"\} 1$/m)
  t.match(metrics, /^caretaker_updates_kubernetes_behind 1$/m)
})

t.test('a request may name some of the configured namespaces', async (t) => {
  const res = await send(fn.url, 'dev.caretaker.updates.check.requested', { namespaces: ['kube-system'] })
  t.equal(res.status, 200)
  t.same(res.body!.namespaces, ['kube-system'])
  t.same((res.body!.objects as Obj[]).map((r) => r.release), ['traefik', 'cert-manager'])
})

t.test('bad requests are 400s with stable codes, and change nothing', async (t) => {
  const unconfigured = await send(fn.url, 'dev.caretaker.updates.check.requested', { namespaces: ['elsewhere'] })
  t.equal(unconfigured.status, 400)
  t.match(unconfigured.body, { error: 'invalid_request', message: /elsewhere .*not configured/ })
  for (const data of [{ namespaces: [] }, { namespaces: ['a', 'a'] }, { everything: true }, { namespaces: 'kube-system' }]) {
    const res = await send(fn.url, 'dev.caretaker.updates.check.requested', data)
    t.equal(res.status, 400, JSON.stringify(data))
    t.match(res.body, { error: 'invalid_event_data' })
  }
})

t.test('the Kubernetes API failing is an error Knative retries, not a report', async (t) => {
  kube.faults.add({ path: '/api/v1/namespaces/kube-system/secrets', status: 503, count: 1 })
  const res = await send(fn.url, 'dev.caretaker.updates.check.requested', { namespaces: ['kube-system'] })
  t.equal(res.status, 503)
  t.match(res.body, { error: 'dependency_unavailable', message: /list Helm release Secrets in kube-system/ })
})

// Last: these start other instances of the function module, which replace the one above.
t.test('pre-releases count when asked for; the K3s build number counts; an unknown channel is reported', async (t) => {
  const k3s2 = await startKubernetesSimulator({ controllers: { enabled: false }, gitVersion: 'v1.30.5+k3s2' })
  t.teardown(() => k3s2.close())
  for (const d of rbac.filter((d) => d.kind !== 'RoleBinding')) k3s2.store.seed(d)
  k3s2.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'monitoring' } })
  k3s2.store.seed({ ...rbac.find((d) => d.kind === 'RoleBinding')!, metadata: { name: 'caretaker-check-updates', namespace: 'monitoring' } })
  helmRelease('monitoring', 'grafana', 12, 'deployed', { name: 'grafana', version: '8.5.2', appVersion: '11.3.0' }, { into: k3s2 })
  const other = await startTestFunction(checkUpdates, {
    config: config({ namespaces: ['monitoring'], releases: {}, includePrerelease: true }),
    env: { CARETAKER_KUBE_SERVER: k3s2.url, CARETAKER_KUBE_TOKEN: k3s2.mintServiceAccountToken('caretaker', 'check-updates') },
  })
  t.teardown(() => other.stop())
  const res = await send(other.url, 'dev.caretaker.updates.check.requested', {})
  t.equal(line((res.body!.objects as Obj[]).find((r) => r.release === 'grafana')!), 'monitoring/grafana r12 grafana 8.5.2 update-available → 8.6.0-beta.1')
  t.same(res.body!.kubernetes, { version: 'v1.30.5+k3s2', channel: 'stable', latest: 'v1.30.5+k3s1', status: 'current' }, 'k3s2 is after k3s1')

  const elsewhere = await startTestFunction(checkUpdates, { config: config({ namespaces: ['monitoring'], releases: {}, kubernetes: { channelsUrl: `${base}/k3s/v1-release/channels`, channel: 'v1.40' } }), env })
  t.teardown(() => elsewhere.stop())
  const unknown = await send(elsewhere.url, 'dev.caretaker.updates.check.requested', {})
  t.same(unknown.body!.kubernetes, { version: 'v1.30.4+k3s1', channel: 'v1.40', status: 'unknown', reason: 'channel v1.40 is not in the channels document' })
})

t.test('the config is checked beyond its schema', async (t) => {
  t.throws(() => validateConfig({ namespaces: ['a'], repositories: [{ name: 'x', url: 'ftp://x' }] }, configSchema, 'test'), /url/)
  const bad = await startTestFunction(checkUpdates, { config: config({ charts: { traefik: 'nowhere' } }), env }).then(() => undefined, (err: Error) => err)
  t.match(bad?.message, /config\.charts\.traefik: repository nowhere is not one of config\.repositories/)
})
