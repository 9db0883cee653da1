import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { parseAllDocuments } from 'yaml'
import { brokerAudience } from '../../sandbox/mesh/oidc.ts'
import { parseSettings } from '../../shared/runtime/settings.ts'
import { validateKnativeService } from './knative-webhook.ts'
import { SETTINGS } from '../../scripts/doctor.ts'

// The eventing-oidc component (manifests/eventing-oidc), for a cluster whose
// Knative Eventing has authentication-oidc enabled: every Knative Service is
// told so, and mounts a projected token of its ServiceAccount with the
// audience of the Broker its K_SINK names, which it sends with every event.
// Rendered as `kubectl apply -k` would, admitted by Serving's webhook rules,
// and read by the runtime's own settings parser.

const root = fileURLToPath(new URL('../../', import.meta.url))
const kubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim()
type Env = { name: string; value?: string; valueFrom?: unknown }
type Container = { name: string; env?: Env[]; volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> }
type Volume = { name: string; projected?: { sources: Array<{ serviceAccountToken?: { audience?: string; expirationSeconds?: number; path: string } }> } }
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: { template: { spec: { serviceAccountName?: string; containers: Container[]; volumes?: Volume[] } } } }

function render(dir: string): Obj[] {
  const res = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${res.stderr}`)
  return parseAllDocuments(res.stdout).map((d) => d.toJSON() as Obj).filter(Boolean)
}
const services = (objs: Obj[]) => objs.filter((o) => o.kind === 'Service' && o.apiVersion === 'serving.knative.dev/v1')
const envOf = (c: Container): Record<string, string> => Object.fromEntries((c.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]])))
// What the doctor has a cluster set (README, Knative settings): its one list, so a new setting reaches this test too.
const SERVING = { features: Object.fromEntries(SETTINGS.filter((r) => r.namespace === 'knative-serving' && r.configMap === 'config-features').map((r) => [r.key, r.wanted])) }

function check(t: Test, objs: Obj[], namespace: string) {
  const broker = objs.find((o) => o.kind === 'Broker')
  t.ok(broker, 'the install has its Broker')
  const all = services(objs)
  t.ok(all.length >= 3, `${all.length} Knative Services`)
  for (const svc of all) {
    const at = `${svc.metadata.namespace}/${svc.metadata.name}`
    const spec = svc.spec!.template.spec
    const container = spec.containers.find((c) => c.name === 'function')!
    const env = envOf(container)
    t.equal(env.CARETAKER_EVENTING_OIDC, 'enabled', `${at}: told that Eventing's OIDC is on`)
    const volume = spec.volumes?.find((v) => v.name === 'broker-token')
    const token = volume?.projected?.sources[0]?.serviceAccountToken
    t.equal(token?.audience, brokerAudience(broker!.metadata.namespace!, broker!.metadata.name), `${at}: a token for the Broker's audience`)
    t.equal(token?.audience, brokerAudience(namespace, 'caretaker'), `${at}: in the install's namespace`)
    // Kubernetes refuses expirationSeconds below 600 (ValidateServiceAccountTokenProjection).
    t.ok((token?.expirationSeconds ?? 3600) >= 600, `${at}: a lifetime Kubernetes accepts`)
    const mount = container.volumeMounts?.find((m) => m.name === 'broker-token')
    t.equal(env.CARETAKER_SINK_TOKEN_FILE, `${mount?.mountPath}/${token?.path}`, `${at}: the sink reads the mounted token`)
    t.equal(mount?.readOnly, true)
    t.same(validateKnativeService(svc, SERVING), [], `${at}: admitted by Knative Serving's webhook`)
    const settings = parseSettings({ ...env, KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443', HOST: '0.0.0.0' }, svc.metadata.name)
    t.equal(settings.sinkTokenFile, env.CARETAKER_SINK_TOKEN_FILE, `${at}: the runtime takes its env`)
  }
  t.notOk(objs.some((o) => o.kind === 'ConfigMap' && o.metadata.name === 'caretaker-eventing-oidc'), 'the component\'s settings are not installed (local-config)')
}

t.test('the eventing-oidc component', { skip: kubectl ? false : 'kubectl is not on PATH: kustomize rendering not checked' }, async (t) => {
  t.test('examples/eventing-oidc: the default install with OIDC on', async (t) => {
    check(t, render(join(root, 'examples/eventing-oidc')), 'caretaker')
  })

  t.test('an overlay into another namespace: the audience follows the install\'s Namespace', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'caretaker-oidc-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const repo = relative(dir, root)
    await writeFile(join(dir, 'namespace.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n')
    await writeFile(join(dir, 'kustomization.yaml'), [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      'resources:',
      '  - namespace.yaml',
      ...['manifests/core', 'manifests/notify', 'triggers/notify', 'manifests/health-report', 'triggers/health-report', 'manifests/alertmanager-bridge', 'triggers/broker'].map((p) => `  - ${join(repo, p)}`),
      'components:',
      `  - ${join(repo, 'manifests/eventing-oidc')}`,
      `  - ${join(repo, 'manifests/install')}`,
      '',
    ].join('\n'))
    check(t, render(dir), 'ops')
  })

  t.test('without the component, a Service with a K_SINK switched to OIDC by hand refuses to start: its events would all be refused', async (t) => {
    for (const svc of services(render(join(root, 'manifests')))) {
      const container = svc.spec!.template.spec.containers[0]!
      const env: Record<string, string> = { ...envOf(container), CARETAKER_EVENTING_OIDC: 'enabled', KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' }
      t.notOk(svc.spec!.template.spec.volumes?.some((v) => v.name === 'broker-token'), `${svc.metadata.name}: the default install mounts no token`)
      if (env.K_SINK) t.throws(() => parseSettings(env, svc.metadata.name), /CARETAKER_SINK_TOKEN_FILE/, `${svc.metadata.name}: sends to K_SINK, so refused at start`)
      else t.doesNotThrow(() => parseSettings(env, svc.metadata.name), `${svc.metadata.name}: sends nothing to a sink, needs no token`)
    }
  })
})
