import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { parseSettings } from '../../shared/runtime/settings.ts'
import echo from '../fixtures/functions/echo.ts'
import { binaryHeaders, startTestFunction } from '../harness/function.ts'
import { startKubernetesSimulator } from '../simulators/kubernetes/index.ts'
import { rbacAuthorize, type PolicyKind } from '../simulators/kubernetes/rbac.ts'

// Every Knative Service starts with the settings it ships with (as in the
// cluster: not on loopback, the API in-cluster), and each one that checks
// its senders with TokenReview may create TokenReviews under the manifests'
// RBAC: without that right every event would be refused.

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

interface Container { args?: string[], env?: Array<{ name: string, value?: string }> }
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
    t.equal(env.CARETAKER_AUTH_AUDIENCE, svc.metadata.name, `${name}: the audience is its own name`)
    const user = { username: `system:serviceaccount:${svc.metadata.namespace}:${spec.serviceAccountName}`, groups: ['system:serviceaccounts', 'system:authenticated'] }
    const allowed = rbacAuthorize(list, user, { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews', subresource: '', namespace: '', name: '' }).allowed
    t.ok(allowed, `${name}: its ServiceAccount ${spec.serviceAccountName} may create TokenReviews`)
  }
})

t.test('TokenReview as a function\'s own ServiceAccount, under the manifests\' RBAC', async (t) => {
  const kube = await startKubernetesSimulator({ controllers: { enabled: false } })
  t.teardown(() => kube.close())
  for (const name of ['caretaker', 'knative-eventing']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
  for (const kind of ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding']) for (const o of objects.filter((x) => x.kind === kind && (x.metadata.namespace ?? 'caretaker') === 'caretaker')) kube.store.seed(o)
  const start = async (account: string) => {
    const fn = await startTestFunction(echo, { env: {
      CARETAKER_AUTH: 'tokenreview', CARETAKER_AUTH_ALLOWED: 'system:serviceaccount:knative-eventing:*', CARETAKER_AUTH_AUDIENCE: 'notify',
      CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: kube.mintServiceAccountToken('caretaker', account),
    } })
    t.teardown(() => fn.stop())
    return fn
  }
  const send = async (url: string) => (await fetch(url, {
    method: 'POST',
    headers: { ...binaryHeaders('dev.caretaker.test.echo.requested'), authorization: `Bearer ${kube.mintServiceAccountToken('knative-eventing', 'mt-broker-filter', { audiences: ['notify'] })}` },
    body: JSON.stringify({ message: 'hello' }),
  })).status
  t.equal(await send((await start('notify')).url), 200, 'as notify (bound in auth-rbac.yaml): the Broker\'s token is checked and the event handled')
  t.equal(await send((await start('default')).url), 503, 'as an account without the binding, TokenReview is refused and no event gets in')
})
