import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { CoreV1Api } from '@kubernetes/client-node'
import { main, SETTINGS } from '../../scripts/doctor.ts'
import { spawnNode } from '../../sandbox/harness/process.ts'
import { startKubernetesSimulator } from '../../sandbox/simulators/kubernetes/index.ts'

// `npm run doctor -- --kubeconfig FILE` against the Kubernetes simulator
// seeded with Knative's ConfigMaps as Knative installs them (only
// `_example` in data: every setting at its default), then changed.

const dir = await mkdtemp(join(tmpdir(), 'caretaker-doctor-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

type Cluster = Awaited<ReturnType<typeof startKubernetesSimulator>>
async function cluster(t: Test, options: { omitGroups?: string[]; knative?: boolean } = {}): Promise<{ kube: Cluster; kubeconfig: string }> {
  const kube = await startKubernetesSimulator({ controllers: { enabled: false }, ...(options.omitGroups ? { omitGroups: options.omitGroups } : {}) })
  t.teardown(() => kube.close())
  if (options.knative !== false) {
    for (const ns of ['knative-serving', 'knative-eventing']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
    for (const [ns, name] of [['knative-serving', 'config-features'], ['knative-serving', 'config-defaults'], ['knative-serving', 'config-autoscaler'], ['knative-eventing', 'config-features']] as const) {
      kube.store.seed({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { _example: '# the settings, commented out: every one at its default' } })
    }
  }
  const kubeconfig = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`)
  await writeFile(kubeconfig, kube.kubeConfig().exportConfig())
  return { kube, kubeconfig }
}
// As an operator would: kubectl edit (a replace through the API).
const setData = (kube: Cluster, namespace: string, name: string, data: Record<string, string>) =>
  kube.kubeConfig().makeApiClient(CoreV1Api).replaceNamespacedConfigMap({ namespace, name, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data } })

async function doctor(kubeconfig: string): Promise<{ code: number; out: string }> {
  const lines: string[] = []
  const code = await main(['--kubeconfig', kubeconfig], (text) => lines.push(text))
  return { code, out: lines.join('\n') }
}
const line = (out: string, what: string) => out.split('\n').find((l) => l.includes(what)) ?? ''

t.test('a cluster at Knative\'s defaults: the two settings to change are named with their fix, exit 1', async (t) => {
  const { kubeconfig } = await cluster(t)
  const { code, out } = await doctor(kubeconfig)
  t.equal(code, 1)
  t.match(line(out, 'kubernetes.podspec-persistent-volume-claim'), /^MISSING knative-serving\/config-features kubernetes.podspec-persistent-volume-claim: is "disabled" \(Knative's default\); Caretaker needs enabled: verify-backup mounts the backups volume/)
  t.match(line(out, 'kubernetes.podspec-persistent-volume-claim'), /Fix: kubectl patch configmap\/config-features -n knative-serving --type merge -p '\{"data":\{"kubernetes.podspec-persistent-volume-claim":"enabled"\}\}'/)
  t.match(line(out, 'authentication-oidc'), /^ok +knative-eventing\/config-features authentication-oidc: "disabled" \(Knative's default\)/, 'OIDC off, as the shipped Services expect')
  t.match(line(out, 'max-revision-timeout-seconds'), /^ok +knative-serving\/config-defaults max-revision-timeout-seconds: "600" \(Knative's default\)/)
  t.match(line(out, 'kubernetes.podspec-volumes-emptydir'), /^ok /)
  t.match(line(out, 'kubernetes.podspec-persistent-volume-write'), /^MISSING .*is "disabled" \(Knative's default\); Caretaker needs enabled: back-up-configuration writes its archives to the backups volume/)
  t.equal(out.split('\n').filter((l) => l.startsWith('MISSING')).length, 2, 'nothing else is missing')
  t.match(out, /^ok +API serving.knative.dev\/v1 services/m)
  t.match(out, /2 required setting\(s\) or API\(s\) missing/)
  // As `npm run doctor -- --kubeconfig FILE` runs it (in another process: the simulator answers from this one).
  const child = spawnNode(['scripts/doctor.ts', '--kubeconfig', kubeconfig], {})
  const run = { status: await child.exited, stdout: child.lines.map((l) => String(l.raw ?? JSON.stringify(l))).join('\n') }
  t.equal(run.status, 1, 'the script exits 1')
  t.match(run.stdout, /^Caretaker doctor: http:\/\/127\.0\.0\.1:\d+ \(context /)
  t.match(run.stdout, /MISSING knative-serving\/config-features kubernetes.podspec-persistent-volume-claim/)
})

t.test('once they are set, exit 0; a lowered timeout ceiling or a max-scale limit is named', async (t) => {
  const { kube, kubeconfig } = await cluster(t)
  await setData(kube, 'knative-serving', 'config-features', { 'kubernetes.podspec-persistent-volume-claim': 'Enabled', 'kubernetes.podspec-persistent-volume-write': 'enabled' })
  const fixed = await doctor(kubeconfig)
  t.equal(fixed.code, 0, fixed.out)
  t.match(fixed.out, /Knative can run Caretaker as shipped\./)
  t.match(line(fixed.out, 'kubernetes.podspec-persistent-volume-claim'), /^ok +.*"Enabled"$/, 'Knative reads its flags case-insensitively')

  // Eventing's OIDC turned on: the shipped Services (CARETAKER_EVENTING_OIDC=disabled) would refuse every token.
  await setData(kube, 'knative-eventing', 'config-features', { 'authentication-oidc': 'enabled' })
  const oidc = await doctor(kubeconfig)
  t.equal(oidc.code, 1)
  t.match(line(oidc.out, 'authentication-oidc'), /^MISSING .*is "enabled".*set CARETAKER_EVENTING_OIDC=enabled/)
  await setData(kube, 'knative-eventing', 'config-features', { 'authentication-oidc': 'disabled' })

  await setData(kube, 'knative-serving', 'config-defaults', { 'max-revision-timeout-seconds': '300', 'revision-timeout-seconds': '300' })
  await setData(kube, 'knative-serving', 'config-autoscaler', { 'max-scale-limit': '2' })
  await setData(kube, 'knative-serving', 'config-features', { 'kubernetes.podspec-persistent-volume-claim': 'allowed', 'kubernetes.podspec-volumes-emptydir': 'disabled' })
  const changed = await doctor(kubeconfig)
  t.equal(changed.code, 1)
  t.match(line(changed.out, 'max-revision-timeout-seconds'), /^MISSING .*is "300"; Caretaker needs at least 600: the long runs/)
  t.match(line(changed.out, 'max-scale-limit'), /^MISSING .*is "2"; Caretaker needs 0 \(no limit\) or at least 3: alertmanager-bridge/)
  t.match(line(changed.out, 'kubernetes.podspec-persistent-volume-claim'), /^MISSING .*is "allowed"/, '"Allowed" is not enough: the webhook refuses the volume unless Enabled')
  t.match(line(changed.out, 'kubernetes.podspec-volumes-emptydir'), /^MISSING .*is "disabled"/)
})

t.test('missing APIs: a required one fails, an optional one warns', async (t) => {
  const { kube, kubeconfig } = await cluster(t, { omitGroups: ['monitoring.coreos.com', 'cert-manager.io'] })
  for (const r of SETTINGS) await setData(kube, r.namespace, r.configMap, { ...Object.fromEntries(SETTINGS.filter((x) => x.namespace === r.namespace && x.configMap === r.configMap).map((x) => [x.key, x.wanted])) })
  const { code, out } = await doctor(kubeconfig)
  t.equal(code, 1)
  t.match(line(out, 'monitoring.coreos.com/v1 podmonitors'), /^MISSING API monitoring.coreos.com\/v1 podmonitors: not served \(its CRDs are not installed\): manifests\/monitoring/)
  t.match(line(out, 'cert-manager.io/v1 certificates'), /^warn +API cert-manager.io\/v1 certificates: not served .*renew-certificate .*not needed if that function is not used/)
  t.equal(out.split('\n').filter((l) => l.startsWith('MISSING')).length, 2, 'the two Prometheus Operator kinds, nothing else')
})

t.test('no Knative at all, and bad invocations', async (t) => {
  const { kubeconfig } = await cluster(t, { knative: false, omitGroups: ['serving.knative.dev', 'eventing.knative.dev', 'sources.knative.dev'] })
  const { code, out } = await doctor(kubeconfig)
  t.equal(code, 1)
  t.match(line(out, 'kubernetes.podspec-persistent-volume-claim'), /ConfigMap knative-serving\/config-features not found: is Knative Serving installed\?/)
  t.match(line(out, 'authentication-oidc'), /is Knative Eventing installed\?/)
  t.match(line(out, 'serving.knative.dev/v1 services'), /^MISSING /)
  const lines: string[] = []
  const env = process.env.KUBECONFIG
  delete process.env.KUBECONFIG
  t.teardown(() => { if (env !== undefined) process.env.KUBECONFIG = env })
  t.equal(await main([], (x) => lines.push(x)), 1)
  t.match(lines.join('\n'), /no kubeconfig: pass --kubeconfig FILE/)
  t.equal(await main(['--kubeconfig', join(dir, 'absent')], (x) => lines.push(x)), 1)
  t.match(lines.at(-1), /cannot load the kubeconfig/)
  t.equal(await main(['--bogus'], (x) => lines.push(x)), 1)
  t.match(lines.at(-1), /usage: npm run doctor -- --kubeconfig FILE/)
})
