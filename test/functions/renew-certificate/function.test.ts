import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1PodTemplateSpec, type V1Volume } from '@kubernetes/client-node'
import { parse, parseAllDocuments } from 'yaml'
import renewCertificate from '../../../functions/renew-certificate/index.ts'
import { configSchema, type RenewCertificateConfig } from '../../../functions/renew-certificate/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction, type TestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver } from '../../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'

// renew-certificate end to end through the runtime over HTTP: Certificate
// changes, the Events cert-manager records, and the daily sweep, with the
// Kubernetes simulator serving cert-manager's Certificate schema and
// enforcing exactly the RBAC of the manifest.

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const upstream = new URL('../../../../shared/upstream/events/cert-manager/', import.meta.url)
const REQUESTED_AT = 'renew-certificate.caretaker.dev/requested-at'
const RESTARTED_REVISION = 'renew-certificate.caretaker.dev/restarted-revision'
const OPT_IN = 'caretaker.dev/restart-on-certificate-renewal'
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
const CERTS = { group: 'cert-manager.io', version: 'v1', plural: 'certificates' }

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const kube = await startKubernetesSimulator()
t.teardown(() => kube.close())
const admin = kube.kubeConfig()
const customs = admin.makeApiClient(CustomObjectsApi)
const apps = admin.makeApiClient(AppsV1Api)
const core = admin.makeApiClient(CoreV1Api)

for (const ns of ['caretaker', 'production', 'databases', 'elsewhere']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns } } })
const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/renew-certificate/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Obj)
for (const obj of rbac) kube.store.seed(obj)

const ago = (ms: number) => new Date(Date.now() - ms).toISOString()
const ahead = (ms: number) => new Date(Date.now() + ms).toISOString()
const ready = (since: string) => ({ type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: since, observedGeneration: 1 })
const notReady = (since: string, reason = 'DoesNotExist', message = 'Issuing certificate as Secret does not exist') => ({ type: 'Ready', status: 'False', reason, message, lastTransitionTime: since, observedGeneration: 1 })

async function certificate(namespace: string, name: string, status: Obj, secretName = `${name}-secret`): Promise<Obj> {
  await customs.createNamespacedCustomObject({ ...CERTS, namespace, body: {
    apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name, namespace },
    spec: { secretName, dnsNames: [`${name}.example.com`], issuerRef: { name: 'letsencrypt-prod', kind: 'ClusterIssuer', group: 'cert-manager.io' } },
  } })
  return customs.patchNamespacedCustomObjectStatus({ ...CERTS, namespace, name, body: { status } }, merge) as Promise<Obj>
}
const readCert = (namespace: string, name: string) => customs.getNamespacedCustomObject({ ...CERTS, namespace, name }) as Promise<Obj>
const setStatus = (namespace: string, name: string, status: Obj) => customs.patchNamespacedCustomObjectStatus({ ...CERTS, namespace, name, body: { status } }, merge)
const annotate = (namespace: string, name: string, annotations: Record<string, string | null>) => customs.patchNamespacedCustomObject({ ...CERTS, namespace, name, body: { metadata: { annotations } } }, merge)
const issuing = (cert: Obj) => (cert.status?.conditions as Obj[] | undefined)?.find((c) => c.type === 'Issuing')

// Every state the function tells apart.
await certificate('production', 'stuck-tls', { conditions: [notReady(ago(3 * HOUR))] })
await certificate('production', 'failed-tls', { conditions: [notReady(ago(5 * HOUR), 'Failed', 'The certificate request has failed to complete and will be retried'), { type: 'Issuing', status: 'False', reason: 'Failed', message: 'The certificate request has failed to complete and will be retried: ACME order failed', lastTransitionTime: ago(4 * HOUR), observedGeneration: 1 }], lastFailureTime: ago(4 * HOUR), failedIssuanceAttempts: 2 })
await certificate('production', 'due-tls', { conditions: [ready(ago(80 * DAY))], notBefore: ago(85 * DAY), notAfter: ahead(5 * DAY), renewalTime: ago(HOUR), revision: 1 })
await certificate('production', 'healthy-tls', { conditions: [ready(ago(10 * DAY))], notBefore: ago(10 * DAY), notAfter: ahead(80 * DAY), renewalTime: ahead(50 * DAY), revision: 3 }) // its workloads follow revision 3 already
await annotate('production', 'healthy-tls', { [RESTARTED_REVISION]: '3' })
await certificate('production', 'issuing-tls', { conditions: [notReady(ago(3 * HOUR), 'MissingData', 'Issuing certificate as Secret does not contain a private key'), { type: 'Issuing', status: 'True', reason: 'MissingData', message: 'Issuing certificate as Secret does not contain a private key', lastTransitionTime: ago(3 * HOUR), observedGeneration: 1 }] })
await certificate('production', 'fresh-tls', { conditions: [notReady(ago(10 * MINUTE))] })
await certificate('databases', 'postgres-tls', { conditions: [ready(ago(20 * DAY))], notBefore: ago(20 * DAY), notAfter: ahead(70 * DAY), renewalTime: ahead(40 * DAY), revision: 1 }, 'postgres-tls')
// Not in a configured namespace: never looked at (and not readable: no RoleBinding there).
await certificate('elsewhere', 'other-tls', { conditions: [notReady(ago(30 * HOUR))] })

// Workloads of web-tls's Secret: two opted in (a volume, a projected volume), one not, and one opted in that mounts another Secret.
const podTemplate = (app: string, volumes: Obj[]): V1PodTemplateSpec => ({ metadata: { labels: { app } }, spec: { containers: [{ name: app, image: 'nginx:1.27' }], volumes: volumes as V1Volume[] } })
const deployment = (name: string, annotations: Record<string, string>, volumes: Obj[]) => apps.createNamespacedDeployment({ namespace: 'production', body: {
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'production', annotations },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: podTemplate(name, volumes) },
} })
await certificate('production', 'web-tls', { conditions: [ready(ago(2 * DAY))], notBefore: ago(2 * DAY), notAfter: ahead(88 * DAY), renewalTime: ahead(58 * DAY), revision: 1 }, 'web-tls')
await deployment('web', { [OPT_IN]: 'true' }, [{ name: 'tls', secret: { secretName: 'web-tls' } }])
await deployment('web-not-opted', {}, [{ name: 'tls', secret: { secretName: 'web-tls' } }])
await deployment('api', { [OPT_IN]: 'true' }, [{ name: 'tls', secret: { secretName: 'api-tls' } }])
await apps.createNamespacedStatefulSet({ namespace: 'production', body: {
  apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'cache', namespace: 'production', annotations: { [OPT_IN]: 'web-tls, other-secret' } },
  spec: { replicas: 1, serviceName: 'cache', selector: { matchLabels: { app: 'cache' } }, template: podTemplate('cache', [{ name: 'certs', projected: { sources: [{ secret: { name: 'web-tls' } }] } }]) },
} })
await apps.createNamespacedDaemonSet({ namespace: 'production', body: {
  apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'edge-proxy', namespace: 'production', annotations: { [OPT_IN]: 'true' } },
  spec: { selector: { matchLabels: { app: 'edge-proxy' } }, template: podTemplate('edge-proxy', [{ name: 'tls', secret: { secretName: 'web-tls' } }]) },
} })

const sink = await startReceiver(() => ({ status: 202 }))
t.teardown(() => sink.close())
// Issuances in progress for up to 12 h are cert-manager's own business here; the stuck ones have a test of their own below.
const config: RenewCertificateConfig = validateConfig({ namespaces: ['production', 'databases'], notReadyFor: '1h', expiryThreshold: '14d', cooldown: '6h', stuckIssuingAfter: '12h', pageSize: 2 }, configSchema, 'test')
const token = kube.mintServiceAccountToken('caretaker', 'renew-certificate')
const env = { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false', K_SINK: `${sink.url}/broker` }
let fn: TestFunction = await startTestFunction(renewCertificate, { config, env })
t.teardown(() => fn.stop())

const send = async (type: string, data: unknown, extra: Record<string, string> = {}) => {
  const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(type, extra), body: JSON.stringify(data) })
  const text = await res.text()
  return { status: res.status, type: res.headers.get('ce-type'), subject: res.headers.get('ce-subject'), body: text ? JSON.parse(text) as Obj : undefined }
}
const update = (cert: Obj) => send('dev.knative.apiserver.resource.update', cert, { 'ce-source': 'https://10.96.0.1:443', 'ce-kind': 'Certificate' })
// A core Event as cert-manager records it on a Certificate, in the shape the ApiServerSource sends.
const coreEvent = (namespace: string, name: string, reason: string, type: 'Normal' | 'Warning', message: string, component = 'cert-manager-certificates-trigger') => ({
  apiVersion: 'v1', kind: 'Event', count: 1, firstTimestamp: ago(0), lastTimestamp: ago(0), eventTime: null, message, reason, type,
  involvedObject: { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', name, namespace },
  metadata: { name: `${name}.${Math.random().toString(16).slice(2)}`, namespace, creationTimestamp: ago(0) },
  reportingComponent: component, reportingInstance: '', source: { component },
})
const onEvent = (namespace: string, name: string, reason: string, type: 'Normal' | 'Warning', message: string) =>
  send('dev.knative.apiserver.resource.add', coreEvent(namespace, name, reason, type, message), { 'ce-source': 'https://10.96.0.1:443', 'ce-kind': 'Event' })
const eventsOn = async (namespace: string, name: string, reason: string) =>
  (await core.listNamespacedEvent({ namespace })).items.filter((e) => e.involvedObject.name === name && e.reason === reason)

t.test('a Warning Event on a Certificate stuck not Ready gets a renewal requested as cmctl renew does', async (t) => {
  const before = await readCert('production', 'stuck-tls')
  const res = await onEvent('production', 'stuck-tls', 'RequestFailed', 'Warning', 'Failed to create CertificateRequest: admission webhook denied the request')
  t.equal(res.status, 200)
  t.equal(res.type, 'dev.caretaker.certificate.renewal.triggered')
  t.equal(res.subject, 'production/stuck-tls')
  t.match(res.body, { namespace: 'production', name: 'stuck-tls', reason: 'not-ready', requested: true, readyReason: 'DoesNotExist', trigger: 'event' })
  const after = await readCert('production', 'stuck-tls')
  t.match(issuing(after), { type: 'Issuing', status: 'True', reason: 'ManuallyTriggered', message: 'Certificate re-issuance manually triggered' })
  t.equal(issuing(after)?.observedGeneration, before.metadata.generation)
  t.same((after.status.conditions as Obj[]).find((c) => c.type === 'Ready'), (before.status.conditions as Obj[]).find((c) => c.type === 'Ready'), 'the Ready condition is left to cert-manager')
  t.ok(Date.now() - Date.parse(after.metadata.annotations[REQUESTED_AT]) < MINUTE, 'the cooldown is kept on the Certificate')
  t.equal((await eventsOn('production', 'stuck-tls', 'RenewalRequested')).length, 1, 'an Event records it on the Certificate')
})

t.test('a renewal is requested for each triggering state, and not for healthy ones', async (t) => {
  const failed = await update(await readCert('production', 'failed-tls'))
  t.equal(failed.type, 'dev.caretaker.certificate.renewal.triggered', 'not Ready for long after a failed issuance')
  t.match(failed.body, { reason: 'not-ready', readyReason: 'Failed', requested: true, trigger: 'certificate' })
  t.match(issuing(await readCert('production', 'failed-tls')), { status: 'True', reason: 'ManuallyTriggered' }, 'the failed Issuing condition is replaced')

  const due = await send('dev.knative.apiserver.ref.update', { apiVersion: 'cert-manager.io/v1', kind: 'Certificate', namespace: 'production', name: 'due-tls' }, { 'ce-kind': 'Certificate' })
  t.equal(due.type, 'dev.caretaker.certificate.renewal.triggered', 'past its renewal time (Reference mode)')
  t.match(due.body, { reason: 'renewal-due', requested: true, message: /renewal was due at/ })
  t.match(issuing(await readCert('production', 'due-tls')), { status: 'True', reason: 'ManuallyTriggered' })

  for (const [name, why] of [['healthy-tls', 'Ready and before its renewal time'], ['issuing-tls', 'an issuance is already in progress'], ['fresh-tls', 'not Ready for less than the threshold']] as const) {
    const before = await readCert('production', name)
    const res = await update(before)
    t.equal(res.status, 204, `${name}: nothing to do (${why})`)
    const after = await readCert('production', name)
    t.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, `${name}: left untouched`)
  }
  const issuingNow = await readCert('production', 'issuing-tls')
  t.equal(issuing(issuingNow)?.reason, 'MissingData', 'cert-manager\'s own issuance is not overwritten')

  const elsewhere = await send('dev.knative.apiserver.resource.update', await readCert('elsewhere', 'other-tls'), { 'ce-kind': 'Certificate' })
  t.equal(elsewhere.status, 204, 'a Certificate outside the configured namespaces is ignored')
  t.notOk(issuing(await readCert('elsewhere', 'other-tls')))
})

t.test('the upstream sample Certificate, long past its renewal time, gets a renewal requested', async (t) => {
  const file = new URL('certificate-ready-root-ca.yaml', upstream)
  if (!existsSync(file)) {
    if (process.env.CI === 'true') t.fail('../shared/upstream/events/cert-manager/ is missing')
    else t.comment('../shared/upstream/events/cert-manager/ is absent: sample not checked')
    return
  }
  const sample = parse(await readFile(file, 'utf8')) as Obj
  const { status } = sample
  await customs.createNamespacedCustomObject({ ...CERTS, namespace: 'databases', body: { apiVersion: sample.apiVersion, kind: sample.kind, metadata: { name: sample.metadata.name, namespace: 'databases' }, spec: sample.spec } })
  await setStatus('databases', sample.metadata.name, status)
  const res = await update(await readCert('databases', sample.metadata.name))
  t.equal(res.type, 'dev.caretaker.certificate.renewal.triggered')
  t.match(res.body, { namespace: 'databases', name: 'my-root-ca', secretName: 'my-root-ca-tls', reason: 'renewal-due', renewalTime: '2024-03-08T16:53:47.000Z', notAfter: '2024-04-07T16:53:47.000Z' })
})

t.test('the cooldown: at most one request per Certificate, remembered across restarts', async (t) => {
  // cert-manager tried and failed again: Issuing back to False.
  await setStatus('production', 'stuck-tls', { conditions: [notReady(ago(3 * HOUR)), { type: 'Issuing', status: 'False', reason: 'Failed', message: 'The certificate request has failed to complete and will be retried', lastTransitionTime: ago(0), observedGeneration: 1 }] })
  const before = await readCert('production', 'stuck-tls')
  const again = await onEvent('production', 'stuck-tls', 'Failed', 'Warning', 'The certificate request has failed to complete and will be retried')
  t.equal(again.status, 204, 'within the cooldown: nothing requested')
  t.equal((await readCert('production', 'stuck-tls')).metadata.resourceVersion, before.metadata.resourceVersion)

  // A new instance (a restart, or a second replica) knows the cooldown from the cluster.
  await fn.stop()
  fn = await startTestFunction(renewCertificate, { config, env })
  const afterRestart = await onEvent('production', 'stuck-tls', 'Failed', 'Warning', 'The certificate request has failed to complete and will be retried')
  t.equal(afterRestart.status, 204, 'a restarted function does not request again')
  t.equal(issuing(await readCert('production', 'stuck-tls'))?.reason, 'Failed')

  // Once the cooldown is over, a renewal is requested again.
  await annotate('production', 'stuck-tls', { [REQUESTED_AT]: ago(7 * HOUR) })
  const later = await onEvent('production', 'stuck-tls', 'Failed', 'Warning', 'The certificate request has failed to complete and will be retried')
  t.equal(later.type, 'dev.caretaker.certificate.renewal.triggered')
  t.match(issuing(await readCert('production', 'stuck-tls')), { status: 'True', reason: 'ManuallyTriggered' })
  t.equal((await eventsOn('production', 'stuck-tls', 'RenewalRequested')).length, 2, 'two requests in all')
})

t.test('a failed status write gives the cooldown back, so the retry requests the renewal', async (t) => {
  await certificate('databases', 'flaky-tls', { conditions: [notReady(ago(2 * HOUR))] })
  kube.faults.add({ method: 'PUT', path: '/apis/cert-manager.io/v1/namespaces/databases/certificates/flaky-tls/status', status: 503, count: 1 })
  const failed = await update(await readCert('databases', 'flaky-tls'))
  t.equal(failed.status, 503, 'a transient API failure: Knative retries')
  t.match(failed.body, { error: 'dependency_unavailable', message: /update the status of Certificate databases\/flaky-tls/ })
  const between = await readCert('databases', 'flaky-tls')
  t.notOk(between.metadata.annotations?.[REQUESTED_AT], 'the cooldown claim was given back')
  t.notOk(issuing(between), 'nothing was requested')
  const retried = await update(between)
  t.equal(retried.type, 'dev.caretaker.certificate.renewal.triggered')
  t.match(issuing(await readCert('databases', 'flaky-tls')), { status: 'True', reason: 'ManuallyTriggered' })
})

t.test('dry-run reports the renewal it would request and changes nothing', async (t) => {
  await certificate('databases', 'dry-tls', { conditions: [notReady(ago(2 * HOUR))] })
  const before = await readCert('databases', 'dry-tls')
  const res = await send('dev.knative.apiserver.resource.update', before, { 'ce-kind': 'Certificate', 'ce-dryrun': 'true' })
  t.equal(res.type, 'dev.caretaker.certificate.renewal.triggered')
  t.match(res.body, { reason: 'not-ready', requested: false, dryRun: true })
  t.equal((await readCert('databases', 'dry-tls')).metadata.resourceVersion, before.metadata.resourceVersion, 'the Certificate is unchanged')
})

t.test('a re-issued Secret restarts only the opted-in workloads that mount it, once', async (t) => {
  const first = await update(await readCert('production', 'web-tls'))
  t.equal(first.status, 204, 'revision 1 is the first issuance: nothing to restart')
  await setStatus('production', 'web-tls', { revision: 2, notBefore: ago(0), notAfter: ahead(90 * DAY), renewalTime: ahead(60 * DAY) })
  const res = await onEvent('production', 'web-tls', 'Issuing', 'Normal', 'The certificate has been successfully issued')
  t.equal(res.type, 'dev.caretaker.certificate.reissued')
  t.match(res.body, { namespace: 'production', name: 'web-tls', secretName: 'web-tls', revision: 2, previousRevision: 1 })
  t.same((res.body?.workloads as Obj[]).map((w) => `${w.kind}/${w.name}:${w.restarted}`).sort(), ['DaemonSet/edge-proxy:true', 'Deployment/web:true', 'StatefulSet/cache:true'])
  const restartedAt = async (kind: 'Deployment' | 'StatefulSet' | 'DaemonSet', name: string) => {
    const w = kind === 'Deployment' ? await apps.readNamespacedDeployment({ namespace: 'production', name }) : kind === 'StatefulSet' ? await apps.readNamespacedStatefulSet({ namespace: 'production', name }) : await apps.readNamespacedDaemonSet({ namespace: 'production', name })
    return w.spec?.template.metadata?.annotations?.[RESTARTED_AT]
  }
  const webAt = await restartedAt('Deployment', 'web')
  t.ok(webAt, 'the opted-in Deployment was restarted')
  t.ok(await restartedAt('StatefulSet', 'cache'), 'the StatefulSet opted in for this Secret by name, mounting it through a projected volume')
  t.ok(await restartedAt('DaemonSet', 'edge-proxy'), 'the opted-in DaemonSet was restarted')
  t.notOk(await restartedAt('Deployment', 'web-not-opted'), 'a workload that did not opt in is left alone')
  t.notOk(await restartedAt('Deployment', 'api'), 'an opted-in workload that mounts another Secret is left alone')
  t.equal((await readCert('production', 'web-tls')).metadata.annotations[RESTARTED_REVISION], '2')
  t.equal((await eventsOn('production', 'web-tls', 'WorkloadsRestarted')).length, 1)

  const again = await onEvent('production', 'web-tls', 'Issuing', 'Normal', 'The certificate has been successfully issued')
  t.equal(again.status, 204, 'the same revision is not followed twice')
  t.equal(await restartedAt('Deployment', 'web'), webAt, 'no second restart')
})

t.test('bad input is a 400 and changes nothing', async (t) => {
  const res = await send('dev.knative.apiserver.resource.update', { kind: 'Certificate', apiVersion: 'cert-manager.io/v1' }, { 'ce-kind': 'Certificate' })
  t.equal(res.status, 400)
  t.match(res.body, { error: 'invalid_event_data' })
  const unknown = await send('dev.caretaker.certificate.renew.please', {})
  t.equal(unknown.status, 400)
})

t.test('the daily sweep reports every Certificate and raises an event for each expiring one', async (t) => {
  await setStatus('databases', 'postgres-tls', { notAfter: ahead(10 * DAY), renewalTime: ahead(3 * DAY) })
  const before = sink.on('/broker').length
  const res = await send('dev.knative.sources.ping', { sweep: 'daily' }, { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/renew-certificate-sweep' })
  t.equal(res.status, 200)
  t.equal(res.type, 'dev.caretaker.certificates.reported')
  const rows = res.body?.certificates as Obj[]
  const byName = Object.fromEntries(rows.map((r) => [`${r.namespace}/${r.name}`, r]))
  t.same(Object.keys(byName).sort(), [
    'databases/dry-tls', 'databases/flaky-tls', 'databases/my-root-ca', 'databases/postgres-tls',
    'production/due-tls', 'production/failed-tls', 'production/fresh-tls', 'production/healthy-tls', 'production/issuing-tls', 'production/stuck-tls', 'production/web-tls',
  ].filter((n) => n !== 'databases/my-root-ca' || existsSync(new URL('certificate-ready-root-ca.yaml', upstream))), 'every Certificate of the configured namespaces, across pages, and no other')
  t.match(byName['databases/dry-tls'], { action: 'renewal-requested', reason: 'not-ready' }, 'the one not yet requested is requested now')
  t.match(byName['production/stuck-tls'], { action: 'issuing', ready: false })
  t.match(byName['production/healthy-tls'], { action: 'none', ready: true, expiring: false })
  t.match(byName['production/due-tls'], { action: 'issuing', expiring: true })
  t.match(byName['databases/postgres-tls'], { action: 'none', expiring: true, secretName: 'postgres-tls' })
  t.ok(byName['production/web-tls']?.notAfter && byName['production/web-tls']?.renewalTime, 'expiry and renewal time are reported')
  const expiring = rows.filter((r) => r.expiring).map((r) => `${r.namespace}/${r.name}`).sort()
  t.equal(res.body?.expiring, expiring.length)
  const emitted = sink.on('/broker').slice(before)
  const ofType = (type: string) => emitted.filter((e) => e.headers['ce-type'] === type).map((e) => String(e.headers['ce-subject'])).sort()
  t.same(ofType('dev.caretaker.certificate.expiring'), expiring, 'one expiring event for each under the threshold')
  t.same(ofType('dev.caretaker.certificate.renewal.triggered'), ['databases/dry-tls'])
  const postgres = emitted.find((e) => e.headers['ce-subject'] === 'databases/postgres-tls')
  t.match(JSON.parse(postgres!.body.toString()), { severity: 'warning', thresholdSeconds: 14 * 86400 })
  if (byName['databases/my-root-ca']) {
    const root = emitted.find((e) => e.headers['ce-subject'] === 'databases/my-root-ca' && e.headers['ce-type'] === 'dev.caretaker.certificate.expiring')
    t.match(JSON.parse(root!.body.toString()), { severity: 'critical' }, 'an expired Certificate is critical')
  }
  const metrics = await (await fetch(`${fn.url}/metrics`)).text()
  t.match(metrics, /caretaker_certificate_ready\{namespace="production",name="stuck-tls"\} 0/)
  t.match(metrics, /caretaker_certificate_expiry_timestamp_seconds\{namespace="databases",name="postgres-tls"\} \d+/)
})

t.test('an issuance stuck past the threshold is reported with its CertificateRequest\'s reason, and (opted in) a failed request is deleted for cert-manager to retry', async (t) => {
  const REQUESTS = { group: 'cert-manager.io', version: 'v1', plural: 'certificaterequests' }
  const STUCK_REPORTED = 'renew-certificate.caretaker.dev/stuck-reported-at'
  const issuingFor = (hours: number, reason = 'DoesNotExist') => ({ type: 'Issuing', status: 'True', reason, message: 'Issuing certificate as Secret does not exist', lastTransitionTime: ago(hours * HOUR), observedGeneration: 1 })
  const request = async (cert: Obj, revision: number, conditions: Obj[]) => {
    const name = `${cert.metadata.name}-${revision}`
    await customs.createNamespacedCustomObject({ ...REQUESTS, namespace: 'production', body: {
      apiVersion: 'cert-manager.io/v1', kind: 'CertificateRequest',
      metadata: { name, namespace: 'production', annotations: { 'cert-manager.io/certificate-revision': String(revision), 'cert-manager.io/certificate-name': cert.metadata.name }, ownerReferences: [{ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', name: cert.metadata.name, uid: cert.metadata.uid, controller: true, blockOwnerDeletion: true }] },
      spec: { request: Buffer.from('-----BEGIN CERTIFICATE REQUEST-----').toString('base64'), issuerRef: { name: 'letsencrypt-prod', kind: 'ClusterIssuer', group: 'cert-manager.io' } },
    } })
    await customs.patchNamespacedCustomObjectStatus({ ...REQUESTS, namespace: 'production', name, body: { status: { conditions } } }, merge)
    return name
  }
  const requestExists = (name: string) => customs.getNamespacedCustomObject({ ...REQUESTS, namespace: 'production', name }).then(() => true, () => false)
  const pending = await certificate('production', 'pending-tls', { conditions: [notReady(ago(5 * HOUR), 'Expired', 'Certificate expired'), issuingFor(5, 'Expired')], revision: 2 })
  await annotate('production', 'pending-tls', { [RESTARTED_REVISION]: '2' }) // its workloads run revision 2 already
  const pendingRequest = await request(pending, 3, [{ type: 'Approved', status: 'True', reason: 'cert-manager.io', message: 'Certificate request has been approved by cert-manager.io' }, { type: 'Ready', status: 'False', reason: 'Pending', message: 'Waiting on certificate issuance from order production/pending-tls-3-1200: "pending"' }])
  await request(pending, 2, [{ type: 'Ready', status: 'True', reason: 'Issued', message: 'Certificate fetched from issuer successfully' }]) // the previous revision's: not the current one
  const broken = await certificate('production', 'broken-tls', { conditions: [notReady(ago(5 * HOUR)), issuingFor(4)] })
  const brokenRequest = await request(broken, 1, [{ type: 'Ready', status: 'False', reason: 'Failed', message: 'Failed to wait for order resource "broken-tls-1-77" to become ready: order is in "invalid" state' }])
  const denied = await certificate('production', 'denied-tls', { conditions: [notReady(ago(5 * HOUR)), issuingFor(4)] })
  const deniedRequest = await request(denied, 1, [{ type: 'Denied', status: 'True', reason: 'policy.cert-manager.io', message: 'no policy matched' }, { type: 'Ready', status: 'False', reason: 'Denied', message: 'The CertificateRequest was denied by an approval controller' }])
  const young = await certificate('production', 'young-issuing-tls', { conditions: [notReady(ago(30 * MINUTE)), issuingFor(0.5)] })

  const stuckConfig: RenewCertificateConfig = validateConfig({ namespaces: ['production'], notReadyFor: '1h', cooldown: '6h', stuckIssuingAfter: '2h', retryFailedRequests: true, pageSize: 50 }, configSchema, 'test')
  const stuckFn = await startTestFunction(renewCertificate, { config: stuckConfig, env })
  t.teardown(() => stuckFn.stop())
  const post = async (cert: Obj, extra: Record<string, string> = {}) => {
    const res = await fetch(stuckFn.url, { method: 'POST', headers: binaryHeaders('dev.knative.apiserver.resource.update', { 'ce-source': 'https://10.96.0.1:443', 'ce-kind': 'Certificate', ...extra }), body: JSON.stringify(cert) })
    const text = await res.text()
    return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Obj : undefined }
  }

  const first = await post(await readCert('production', 'pending-tls'))
  t.equal(first.type, 'dev.caretaker.certificate.stuck', 'a pending issuance past the threshold is reported, not a silent 204')
  t.match(first.body, { namespace: 'production', name: 'pending-tls', action: 'reported', readyReason: 'Expired', request: { name: pendingRequest, reason: 'Pending', failed: false, message: /Waiting on certificate issuance/ } })
  t.ok(first.body!.stuckForSeconds >= 5 * 3600 - 60, 'how long it has been issuing')
  t.ok(await requestExists(pendingRequest), 'a pending request is left to cert-manager')
  t.ok((await readCert('production', 'pending-tls')).metadata.annotations[STUCK_REPORTED], 'when it was reported is kept on the Certificate')
  t.equal((await eventsOn('production', 'pending-tls', 'IssuanceStuck')).length, 1, 'a Warning Event records it')
  t.equal((await post(await readCert('production', 'pending-tls'))).status, 204, 'the next change within the cooldown is not reported again')

  const dry = await post(await readCert('production', 'broken-tls'), { 'ce-dryrun': 'true' })
  t.match(dry.body, { action: 'would-delete-request', dryRun: true, request: { name: brokenRequest, reason: 'Failed', failed: true } })
  t.ok(await requestExists(brokenRequest), 'dry-run deletes nothing')

  const retried = await post(await readCert('production', 'broken-tls'))
  t.match(retried.body, { action: 'request-deleted', request: { name: brokenRequest, failed: true } })
  t.notOk(await requestExists(brokenRequest), 'the failed request is deleted so cert-manager makes a new one')
  t.ok((await readCert('production', 'broken-tls')).metadata.annotations[REQUESTED_AT], 'within the cooldown from now on')
  t.equal((await eventsOn('production', 'broken-tls', 'FailedRequestDeleted')).length, 1)

  const deniedReply = await post(await readCert('production', 'denied-tls'))
  t.match(deniedReply.body, { action: 'request-deleted', request: { name: deniedRequest, reason: 'policy.cert-manager.io', failed: true } }, 'a denied request counts as failed')

  t.equal((await post(await readCert('production', 'young-issuing-tls'))).status, 204, 'an issuance younger than the threshold is still cert-manager\'s business')
  void young

  // cert-manager makes a new request for the revision, and it fails again.
  const again = await request(await readCert('production', 'broken-tls'), 1, [{ type: 'Ready', status: 'False', reason: 'Failed', message: 'order is in "invalid" state' }])
  const sweep = await fetch(stuckFn.url, { method: 'POST', headers: binaryHeaders('dev.knative.sources.ping', { 'ce-source': '/apis/v1/namespaces/caretaker/pingsources/renew-certificate-sweep' }), body: '{}' })
  const report = await sweep.json() as Obj
  const rows = Object.fromEntries((report.certificates as Obj[]).map((r) => [r.name, r]))
  t.match(rows['pending-tls'], { action: 'stuck' }, 'the sweep reports a stuck issuance every day, cooldown or not')
  t.match(rows['broken-tls'], { action: 'cooldown' }, 'a request deleted within the cooldown is not deleted again')
  t.ok(await requestExists(again), 'the new failed request stays until the cooldown has passed')
  t.match(rows['young-issuing-tls'], { action: 'issuing' })
  t.ok(report.stuck >= 3, 'stuck issuances are counted')
})
