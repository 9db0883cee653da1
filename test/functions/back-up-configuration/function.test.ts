import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createGunzip } from 'node:zlib'
import { pipeline } from 'node:stream/promises'
import { Readable, type Writable } from 'node:stream'
import { createGzip } from 'node:zlib'
import t from 'tap'
import { extract, pack } from 'tar-stream'
import { parse, parseAllDocuments } from 'yaml'
import backUpConfiguration from '../../../functions/back-up-configuration/index.ts'
import { configSchema, type BackUpConfigurationConfig } from '../../../functions/back-up-configuration/config.ts'
import { configSchema as verifySchema, type BackupSet, type VerifyBackupConfig } from '../../../functions/verify-backup/config.ts'
import { verifySumsArchive } from '../../../functions/verify-backup/formats/tar-sums.ts'
import { verifyFileSet } from '../../../functions/verify-backup/verify.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction, type TestFunction } from '../../../sandbox/harness/function.ts'
import { startGrafanaSimulator } from '../../../sandbox/simulators/grafana/index.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// back-up-configuration end to end through the runtime over HTTP: Grafana
// is the stand-in of sandbox/simulators/grafana (bearer token required, search
// paged as Grafana pages it), Kubernetes the simulator with exactly the
// manifest's RBAC. The archive it writes is then verified by verify-backup's
// own code, as the shipped `configuration` set verifies it.

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
t.teardown(() => kube.close())
const grafana = await startGrafanaSimulator()
t.teardown(() => grafana.close())
const work = await mkdtemp(join(tmpdir(), 'caretaker-config-backup-'))
t.teardown(() => rm(work, { recursive: true, force: true }))

for (const ns of ['caretaker', 'monitoring', 'elsewhere']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
for (const obj of parseAllDocuments(await readFile(new URL('../../../manifests/back-up-configuration/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Obj)) kube.store.seed(obj)
// Real PrometheusRules (kube-prometheus, ../shared/upstream), read in place.
const upstream = new URL('../../../../shared/upstream/alertmanager/rules/', import.meta.url)
for (const file of ['kube-prometheus-nodeExporter-prometheusRule.yaml', 'kube-prometheus-kubernetesControlPlane-prometheusRule.yaml']) kube.store.seed(parse(await readFile(new URL(file, upstream), 'utf8')) as Obj)
const dashboardMap = (namespace: string, name: string, labelled: boolean) => kube.store.seed({
  apiVersion: 'v1', kind: 'ConfigMap',
  metadata: { name, namespace, ...(labelled ? { labels: { grafana_dashboard: '1' } } : {}), annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
  data: { [`${name}.json`]: JSON.stringify({ title: name, panels: [] }) },
})
dashboardMap('monitoring', 'nodes-dashboard', true)
dashboardMap('monitoring', 'api-dashboard', true)
dashboardMap('monitoring', 'unrelated-settings', false)
dashboardMap('elsewhere', 'not-ours', true)

for (let i = 1; i <= 5; i++) grafana.addDashboard({ uid: `dash-${i}`, title: `Dashboard ${i}`, ...(i % 2 === 0 ? { folderUid: 'platform', folderTitle: 'Platform' } : {}), model: { panels: [{ id: 1, type: 'timeseries', title: `panel ${i}` }] } })
grafana.addAlertRule({ uid: 'rule-1', orgID: 1, folderUID: 'platform', ruleGroup: 'nodes', title: 'Node down', condition: 'A', data: [], noDataState: 'NoData', execErrState: 'Error', for: '5m', annotations: {}, labels: {}, isPaused: false })
grafana.addAlertRule({ uid: 'rule-2', orgID: 1, folderUID: 'platform', ruleGroup: 'nodes', title: 'Disk full', condition: 'A', data: [], noDataState: 'NoData', execErrState: 'Error', for: '5m', annotations: {}, labels: {}, isPaused: false })
grafana.addContactPoint({ uid: 'cp-1', name: 'ops', type: 'email', settings: { addresses: 'ops@example.org' }, disableResolveMessage: false })

const tokenFile = join(work, 'grafana-token')
await writeFile(tokenFile, `${grafana.token}\n`)
const kubeToken = kube.mintServiceAccountToken('caretaker', 'back-up-configuration')
// The mounted volume; the function makes its own directory in it.
await mkdir(join(work, 'backups'))
const directory = join(work, 'backups', 'configuration')

const shipped = parse(await readFile(new URL('../../../manifests/back-up-configuration/config.yaml', import.meta.url), 'utf8')) as Obj
const configFor = (over: Obj = {}): BackUpConfigurationConfig => validateConfig<BackUpConfigurationConfig>({
  ...shipped,
  output: { ...shipped.output, directory },
  grafana: { ...shipped.grafana, url: grafana.url, token: { file: tokenFile }, pageSize: 2, timeout: '5s' },
  ...over,
}, configSchema, 'test')

// A function module holds one instance: each test hosts its own, and stops it when done.
const start = async (tt: { teardown: (fn: () => unknown) => void }, config: BackUpConfigurationConfig = configFor()): Promise<TestFunction> => {
  const fn = await startTestFunction(backUpConfiguration, { config, env: { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kubeToken } })
  tt.teardown(() => fn.stop())
  return fn
}

const send = async (target: TestFunction, type: string, data: unknown, extra: Record<string, string> = {}) => {
  const res = await fetch(target.url, { method: 'POST', headers: binaryHeaders(type, extra), body: JSON.stringify(data) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), text, body: text ? JSON.parse(text) as Obj : undefined }
}
const ping = (target: TestFunction) => send(target, 'dev.knative.sources.ping', { backup: 'daily' })

async function untar(path: string): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  const tar = extract()
  tar.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: unknown) => chunks.push(c as Buffer))
    stream.on('end', () => { files.set(header.name, Buffer.concat(chunks).toString('utf8')); next() })
  })
  await pipeline(Readable.from(await readFile(path)), createGunzip(), tar as unknown as Writable)
  return files
}

// The set as manifests/verify-backup/config.yaml ships it, pointed at the test's directory.
const verifyConfig = parse(await readFile(new URL('../../../manifests/verify-backup/config.yaml', import.meta.url), 'utf8')) as Obj
const shippedSet = (verifyConfig.sets as Obj[]).find((s) => s.name === 'configuration')!
const set: BackupSet = validateConfig<VerifyBackupConfig>({ sets: [{ ...shippedSet, directory, cronJob: undefined }] }, verifySchema, 'test').sets[0]!
const verify = () => verifyFileSet(set, { now: new Date(), signal: new AbortController().signal })
const listing = async () => (await readdir(directory).catch(() => [] as string[])).sort()
/** Waits into the next second: archive names are to the second. */
const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 20))

t.test('the daily run writes one archive that verify-backup verifies as a set', async (t) => {
  const fn = await start(t)
  const res = await ping(fn)
  t.equal(res.status, 200, res.text)
  t.equal(res.type, 'dev.caretaker.configuration.backed-up')
  const d = res.body!
  t.match(d.archive.name, /^configuration_\d{8}_\d{6}\.tar\.gz$/)
  t.match(d.archive.sha256, /^[0-9a-f]{64}$/)
  t.same(d.counts, { dashboards: 5, 'alert-rules': 2, 'contact-points': 1, policies: 1, prometheusrules: 2, configmaps: 2 })
  t.same(d.retention, { keep: 30, kept: 1, deleted: [], wouldDelete: [], dryRun: true })
  t.same(await listing(), [d.archive.name, `${d.archive.name}.sha256`], 'the archive and its side file, no temp file')

  const files = await untar(d.archive.path)
  t.same([...files.keys()].sort(), [
    'SHA256SUMS', 'grafana/alert-rules.json', 'grafana/contact-points.json',
    'grafana/dashboards/general/dash-1.json', 'grafana/dashboards/general/dash-3.json', 'grafana/dashboards/general/dash-5.json',
    'grafana/dashboards/platform/dash-2.json', 'grafana/dashboards/platform/dash-4.json', 'grafana/policies.json',
    'kubernetes/monitoring/configmaps/api-dashboard.yaml', 'kubernetes/monitoring/configmaps/nodes-dashboard.yaml',
    'kubernetes/monitoring/prometheusrules/kubernetes-monitoring-rules.yaml', 'kubernetes/monitoring/prometheusrules/node-exporter-rules.yaml',
    'manifest.json',
  ].sort(), 'only the selected ConfigMaps of the configured namespace')
  const dashboard = JSON.parse(files.get('grafana/dashboards/platform/dash-2.json')!) as Obj
  t.equal(dashboard.dashboard.uid, 'dash-2')
  t.equal(dashboard.meta.folderUid, 'platform')
  const cm = parse(files.get('kubernetes/monitoring/configmaps/nodes-dashboard.yaml')!) as Obj
  t.equal(cm.apiVersion, 'v1')
  t.equal(cm.kind, 'ConfigMap')
  t.same(Object.keys(cm.metadata).sort(), ['annotations', 'labels', 'name', 'namespace'], 'server fields stripped')
  t.notOk('status' in cm)
  const rule = parse(files.get('kubernetes/monitoring/prometheusrules/node-exporter-rules.yaml')!) as Obj
  t.equal(rule.apiVersion, 'monitoring.coreos.com/v1')
  t.equal(rule.kind, 'PrometheusRule')
  t.ok(rule.spec.groups.length > 0)
  for (const field of ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation']) t.notOk(field in rule.metadata, `no ${field}`)

  // Grafana was read page by page with the token; every request carried it.
  const searches = grafana.requests.filter((r) => r.path.startsWith('/api/search'))
  t.same(searches.map((r) => r.path), ['/api/search?type=dash-db&limit=2&page=1', '/api/search?type=dash-db&limit=2&page=2', '/api/search?type=dash-db&limit=2&page=3'])
  t.ok(grafana.requests.every((r) => r.authorization === `Bearer ${grafana.token}` && r.status === 200))

  const report = await verify()
  t.ok(report.verified, JSON.stringify(report.checks))
  t.same(report.checks.map((c) => c.check), ['presence', 'age', 'size', 'integrity', 'checksum'])
  t.equal(report.checks.find((c) => c.check === 'age')!.evidence.timeSource, 'name', 'the time comes from the name')
  t.notOk(fn.logText().includes(grafana.token), 'the token is never logged')
  t.notOk(res.text.includes(grafana.token), 'nor replied')
})

t.test('a request before a change backs up the parts it names, with its reason', async (t) => {
  const fn = await start(t)
  await nextSecond()
  const res = await send(fn, 'dev.caretaker.configuration.backup.requested', { parts: ['prometheusrules'], reason: 'before the Grafana upgrade' })
  t.equal(res.status, 200, res.text)
  t.same(res.body!.counts, { prometheusrules: 2 })
  const files = await untar(res.body!.archive.path)
  t.same(JSON.parse(files.get('manifest.json')!).reason, 'before the Grafana upgrade')
  t.ok((await verify()).verified)
})

t.test('bad requests are refused with stable codes and write nothing', async (t) => {
  const fn = await start(t)
  const before = await listing()
  for (const data of [{ parts: ['secrets'] }, { parts: [] }, { unknown: true }, { reason: '' }]) {
    const res = await send(fn, 'dev.caretaker.configuration.backup.requested', data)
    t.equal(res.status, 400, JSON.stringify(data))
    t.equal(res.body!.error, 'invalid_event_data')
  }
  const narrow = await start(t, configFor({ parts: ['prometheusrules'] }))
  const res = await send(narrow, 'dev.caretaker.configuration.backup.requested', { parts: ['dashboards'] })
  t.equal(res.status, 400)
  t.equal(res.body!.error, 'invalid_request')
  t.match(res.body!.message, /not configured here/)
  t.same(await listing(), before)
})

t.test('Grafana failing mid-way leaves no archive and is a retryable failure', async (t) => {
  const fn = await start(t)
  await nextSecond()
  const before = await listing()
  grafana.faults.add({ method: 'GET', path: '/api/dashboards/uid/dash-3', status: 500 })
  const res = await ping(fn)
  t.equal(res.status, 503, res.text)
  t.equal(res.body!.error, 'dependency_unavailable')
  t.match(res.body!.message, /grafana: dashboard dash-3: HTTP 500/)
  t.same(await listing(), before, 'nothing new, not even a temp file')
  t.ok((await verify()).verified, 'the set still verifies: its newest is the last good archive')
})

t.test('a wrong token is a dependency failure that names the token, never shows it', async (t) => {
  const wrongFile = join(work, 'wrong-token')
  await writeFile(wrongFile, 'glsa_not-the-token')
  const other = await start(t, configFor({ grafana: { url: grafana.url, token: { file: wrongFile }, pageSize: 2, timeout: '5s' } }))
  await nextSecond()
  const before = await listing()
  const res = await ping(other)
  t.equal(res.status, 502, res.text)
  t.equal(res.body!.error, 'dependency_failed')
  t.match(res.body!.message, /HTTP 401: the service account token is missing, wrong or expired/)
  t.notOk(res.text.includes('glsa_not-the-token'))
  t.notOk(other.logText().includes('glsa_not-the-token'))
  t.same(await listing(), before)
})

t.test('an output directory that cannot be written fails retryably and leaves nothing', async (t) => {
  const blocked = join(work, 'blocked')
  await writeFile(blocked, 'a file where the directory should be')
  const other = await start(t, configFor({ output: { directory: join(blocked, 'configuration'), prefix: 'configuration', keep: 30 } }))
  const res = await ping(other)
  t.equal(res.status, 503, res.text)
  t.equal(res.body!.error, 'dependency_unavailable')
  t.match(res.body!.message, /cannot write the configuration archive in .*\(ENOTDIR\): it is not a directory/)
  // A volume that is not mounted: nothing is written on the container's own filesystem.
  const unmounted = await start(t, configFor({ output: { directory: join(work, 'not-mounted', 'configuration'), prefix: 'configuration', keep: 30 } }))
  const res2 = await ping(unmounted)
  t.equal(res2.status, 503, res2.text)
  t.match(res2.body!.message, /\(ENOENT\): its parent is missing \(is the backups volume mounted\?\)/)
  t.same(await readdir(work).then((names) => names.filter((n) => n === 'not-mounted')), [])
})

t.test('retention keeps the newest archives: dry-run lists, a real run deletes', async (t) => {
  // Older archives (and one killed run's temp file, long ago) as earlier nights left them.
  const old = ['configuration_20250101_003000.tar.gz', 'configuration_20250102_003000.tar.gz', 'configuration_20250103_003000.tar.gz']
  for (const name of old) {
    await writeFile(join(directory, name), 'old')
    await writeFile(join(directory, `${name}.sha256`), 'old')
  }
  // A run killed mid-write two hours ago left its temp file; one being written now must stay.
  const killed = join(directory, '.configuration_20250104_003000.tar.gz.part')
  const writing = join(directory, '.configuration_20250105_003000.tar.gz.part')
  await writeFile(killed, 'half')
  await utimes(killed, new Date(Date.now() - 7_200_000), new Date(Date.now() - 7_200_000))
  await writeFile(writing, 'half')
  t.notOk((await verify()).artifact?.name.endsWith('.part'), 'a temp file is never an artifact of the set')
  const keep2 = await start(t, configFor({ output: { directory, prefix: 'configuration', keep: 2 } }))
  await nextSecond()
  const dry = await ping(keep2)
  t.equal(dry.status, 200, dry.text)
  const archives = (await listing()).filter((n) => n.endsWith('.tar.gz'))
  t.same(dry.body!.retention.deleted, [])
  t.equal(dry.body!.retention.wouldDelete.length, archives.length - 2)
  t.ok(old.every((n) => dry.body!.retention.wouldDelete.includes(n)), 'the oldest are the ones it would delete')
  t.same((await listing()).filter((n) => n.endsWith('.tar.gz')), archives, 'dry-run deleted nothing')
  t.notOk((await listing()).includes('.configuration_20250104_003000.tar.gz.part'), 'the killed run\'s temp file is removed')
  t.ok((await listing()).includes('.configuration_20250105_003000.tar.gz.part'), 'a recent one is left to its run')

  await nextSecond()
  const wet = await send(keep2, 'dev.knative.sources.ping', { backup: 'daily' }, { 'ce-dryrun': 'false' })
  t.equal(wet.status, 200, wet.text)
  t.equal(wet.body!.retention.dryRun, false)
  const left = (await listing()).filter((n) => n.endsWith('.tar.gz'))
  t.equal(left.length, 2)
  t.ok(left.includes(wet.body!.archive.name))
  t.ok(old.every((n) => wet.body!.retention.deleted.includes(n)))
  t.notOk((await listing()).some((n) => old.some((o) => n.startsWith(o))), 'side files go with their archives')
  t.ok((await verify()).verified)
})

t.test('verify-backup fails a tampered, truncated or padded archive', async (t) => {
  const [newest] = (await listing()).filter((n) => n.endsWith('.tar.gz')).sort().reverse()
  const bytes = await readFile(join(directory, newest!))
  const truncated = join(work, 'truncated.tar.gz')
  await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)))
  t.notOk((await verifySumsArchive(truncated, bytes.length / 2)).ok, 'truncated')

  const files = await untar(join(directory, newest!))
  const rebuild = async (name: string, change: (m: Map<string, string>) => void) => {
    const copy = new Map(files)
    change(copy)
    const tar = pack()
    for (const [n, content] of copy) tar.entry({ name: n }, content)
    tar.finalize()
    const path = join(work, name)
    const { createWriteStream } = await import('node:fs')
    await pipeline(tar, createGzip(), createWriteStream(path))
    return verifySumsArchive(path, 1)
  }
  const tampered = await rebuild('tampered.tar.gz', (m) => m.set('grafana/alert-rules.json', '[]'))
  t.notOk(tampered.ok)
  t.match(tampered.message, /alert-rules\.json does not match SHA256SUMS/)
  const padded = await rebuild('padded.tar.gz', (m) => m.set('extra.yaml', 'x: 1'))
  t.notOk(padded.ok)
  t.match(padded.message, /extra\.yaml not listed in SHA256SUMS/)
  const unsummed = await rebuild('unsummed.tar.gz', (m) => m.delete('SHA256SUMS'))
  t.match(unsummed.message, /has no SHA256SUMS/)
  t.ok((await rebuild('same.tar.gz', () => undefined)).ok, 'the same files repacked verify')
})
