import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { loadManifests } from '../../sandbox/mesh/manifests.ts'
import { triggerOidcServiceAccount } from '../../sandbox/mesh/oidc.ts'
import { isAllowedIdentity, serviceAudience } from '../../shared/runtime/auth.ts'
import { parseSettings } from '../../shared/runtime/settings.ts'
import echo from '../fixtures/functions/echo.ts'
import { binaryHeaders, startTestFunction } from '../../sandbox/harness/function.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'
import { rbacAuthorize, type PolicyKind } from '../../sandbox/simulators/kubernetes/rbac.ts'

// Every Knative Service starts with the settings it ships with (as in the
// cluster: not on loopback, the API in-cluster), and each one that checks
// its senders with TokenReview may create TokenReviews (and, for manual runs,
// SubjectAccessReviews) under the manifests' RBAC: without that right every
// event would be refused. With Knative Eventing's OIDC on, each delivery
// carries the Trigger's OIDC token for the audience the Trigger names.

type Obj = Record<string, unknown> & { kind: string, metadata: { name: string, namespace?: string } }
const root = fileURLToPath(new URL('../../', import.meta.url))
const objects: Obj[] = []
for (const entry of await readdir(join(root, 'manifests'), { withFileTypes: true, recursive: true })) {
  if (!entry.isFile() || !/\.ya?ml$/.test(entry.name)) continue
  for (const doc of parseAllDocuments(await readFile(join(entry.parentPath, entry.name), 'utf8'))) {
    const obj = doc.toJSON() as Obj | null
    if (obj?.kind) objects.push(obj)
  }
}
const list = (kind: PolicyKind, namespace?: string) => objects.filter((o) => o.kind === kind && (namespace === undefined || o.metadata.namespace === namespace))
const services = objects.filter((o) => o.kind === 'Service' && String(o.apiVersion).startsWith('serving.knative.dev/'))

interface Container { args?: string[], env?: Array<{ name: string, value?: string, valueFrom?: { secretKeyRef?: { name: string, key: string } } }> }
type ServiceSpec = { template: { spec: { serviceAccountName: string, containers: Container[] } } }

t.test('every Knative Service starts with the settings it ships with', async (t) => {
  t.ok(services.length >= 10, `${services.length} Services`)
  for (const svc of services) {
    const spec = (svc.spec as ServiceSpec).template.spec
    const container = spec.containers[0]!
    const name = container.args?.[0] ?? svc.metadata.name
    const env: Record<string, string> = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }
    for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value
    let settings: ReturnType<typeof parseSettings> | undefined
    try {
      settings = parseSettings(env, name)
      t.pass(`${name}: its settings are valid`)
    } catch (err) {
      t.fail(`${name}: ${(err as Error).message}`)
      continue
    }
    t.equal(settings.auth.mode, 'tokenreview', `${name}: checks who sends its events`)
    if (settings.auth.mode !== 'tokenreview') continue
    t.equal(settings.auth.eventingOidc, 'disabled', `${name}: ships for Knative Eventing's default (authentication-oidc disabled)`)
    t.equal(settings.auth.audience, serviceAudience(svc.metadata.namespace!, svc.metadata.name), `${name}: with OIDC on, the audience is the one its Triggers name for its Knative Service`)
    t.same((container.env ?? []).find((e) => e.name === 'CARETAKER_PROOF_KEY')?.valueFrom?.secretKeyRef, { name: 'caretaker-proof-key', key: 'key', optional: true }, `${name}: the proof key comes from the caretaker-proof-key Secret`)
    const user = { username: `system:serviceaccount:${svc.metadata.namespace}:${spec.serviceAccountName}`, groups: ['system:serviceaccounts', 'system:authenticated'] }
    const allowed = rbacAuthorize(list, user, { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews', subresource: '', namespace: '', name: '' }).allowed
    t.ok(allowed, `${name}: its ServiceAccount ${spec.serviceAccountName} may create TokenReviews`)
    const sar = rbacAuthorize(list, user, { verb: 'create', group: 'authorization.k8s.io', resource: 'localsubjectaccessreviews', subresource: '', namespace: 'caretaker', name: '' }).allowed
    t.ok(sar, `${name}: and LocalSubjectAccessReviews in caretaker (RBAC of manual runs)`)
  }
})

t.test('every Trigger names its subscriber\'s audience, and its OIDC identity is one the functions admit', async (t) => {
  const { triggers, brokers } = await loadManifests(join(root, 'triggers'))
  const settings = parseSettings({ KUBERNETES_SERVICE_HOST: '10.96.0.1', CARETAKER_AUTH: 'tokenreview' }, 'notify')
  for (const trigger of triggers) {
    for (const [what, d] of [['subscriber', trigger.subscriber], ['deadLetterSink', trigger.delivery?.deadLetterSink]] as const) {
      if (d?.ref?.kind !== 'Service') continue
      // A Knative Service announces no audience: without this Knative sends no token, and every delivery would be a 401 with OIDC on.
      t.equal(d.audience, serviceAudience(d.ref.namespace ?? trigger.namespace, d.ref.name), `${trigger.name}: ${what}.audience`)
    }
    const sa = triggerOidcServiceAccount(trigger)
    t.ok(isAllowedIdentity(`system:serviceaccount:${sa.namespace}:${sa.name}`, settings.auth.allowed), `${trigger.name}: its OIDC ServiceAccount ${sa.name} is admitted (a name over 29 characters would be hashed)`)
  }
  for (const broker of brokers) {
    const d = broker.delivery?.deadLetterSink
    if (d?.ref?.kind === 'Service') t.equal(d.audience, serviceAudience(d.ref.namespace ?? broker.namespace, d.ref.name), `Broker ${broker.name}: deadLetterSink.audience`)
  }
})

t.test('TokenReview as a function\'s own ServiceAccount, under the manifests\' RBAC', async (t) => {
  const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => kube.close())
  for (const name of ['caretaker', 'knative-eventing']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
  for (const kind of ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding']) for (const o of objects.filter((x) => x.kind === kind && (x.metadata.namespace ?? 'caretaker') === 'caretaker')) kube.store.seed(o)
  const start = async (account: string) => {
    const fn = await startTestFunction(echo, { env: {
      CARETAKER_AUTH: 'tokenreview', CARETAKER_EVENTING_OIDC: 'enabled',
      CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', account),
    } })
    t.teardown(() => fn.stop())
    return fn
  }
  // As the broker filter sends with OIDC on: the Trigger's OIDC identity, for the audience the Trigger names.
  const trigger = triggerOidcServiceAccount({ name: 'notify-backup', namespace: 'caretaker' })
  const send = async (url: string) => (await fetch(url, {
    method: 'POST',
    headers: { ...binaryHeaders('dev.knative.sources.ping'), authorization: `Bearer ${kube.mintServiceAccountToken(trigger.namespace, trigger.name, { audiences: [serviceAudience('caretaker', 'echo')] })}` },
    body: JSON.stringify({ message: 'hello' }),
  })).status
  t.equal(await send((await start('notify')).url), 200, 'as notify (bound in auth-rbac.yaml): the Trigger\'s token is checked and the event handled')
  t.equal(await send((await start('default')).url), 503, 'as an account without the binding, TokenReview is refused and no event gets in')
})

t.test('the NetworkPolicy admits only the Knative data plane (and monitoring) to every function', async (t) => {
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === 'caretaker')
  t.equal(policies.length, 1, 'one policy for the functions')
  const spec = policies[0]!.spec as { podSelector: { matchLabels: Record<string, string> }, policyTypes: string[], ingress: Array<{ from?: Array<Record<string, unknown>>, ports?: unknown }> }
  t.same(spec.policyTypes, ['Ingress'])
  for (const svc of services) {
    const labels = (svc.spec as { template: { metadata?: { labels?: Record<string, string> } } }).template.metadata?.labels ?? {}
    t.ok(Object.entries(spec.podSelector.matchLabels).every(([k, v]) => labels[k] === v), `${svc.metadata.name}: its pods are selected`)
    t.equal((svc.metadata as { labels?: Record<string, string> }).labels?.['networking.knative.dev/visibility'], 'cluster-local', `${svc.metadata.name}: reachable only inside the cluster`)
  }
  const namespaces = spec.ingress.flatMap((rule) => {
    t.ok(rule.from && rule.from.length > 0, 'every rule names its sources (no rule admits everyone)')
    return (rule.from ?? []).flatMap((peer) => {
      t.same(Object.keys(peer), ['namespaceSelector'], 'sources are whole namespaces, never every pod of caretaker or an IP block')
      const sel = peer.namespaceSelector as { matchExpressions?: Array<{ key: string, operator: string, values: string[] }> }
      return (sel.matchExpressions ?? []).filter((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'In').flatMap((e) => e.values)
    })
  })
  t.same(namespaces.sort(), ['istio-system', 'knative-serving', 'kourier-system', 'monitoring'],
    'the activator, the cluster-local gateways and monitoring: not knative-eventing (its broker filter goes through the gateway), nor any workload namespace')
})

t.test('every function that takes requests can send an authorized manual request into the Broker', async (t) => {
  for (const svc of services) {
    const container = (svc.spec as ServiceSpec).template.spec.containers[0]!
    const name = container.args?.[0] ?? svc.metadata.name
    const { default: module } = await import(join(root, 'functions', name, 'index.ts')) as { default: { definition: { accepts: readonly string[] } } }
    if (!module.definition.accepts.some((type) => type.endsWith('.requested'))) continue
    const sink = (container.env ?? []).find((e) => e.name === 'K_SINK')?.value
    t.equal(sink, 'http://broker-ingress.knative-eventing.svc.cluster.local/caretaker/caretaker', `${name}: K_SINK is the caretaker Broker's ingress`)
  }
})
