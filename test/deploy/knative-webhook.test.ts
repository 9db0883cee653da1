import { spawnSync } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import type { FunctionModule } from '../../shared/runtime/function.ts'
import { runDeadlineMs } from '../../shared/runtime/settings.ts'
import { SETTINGS, type SettingRequirement } from '../../scripts/doctor.ts'
import { SERVING_DEFAULTS_DEFAULTS, validateKnativeService, type ServingConfig } from './knative-webhook.ts'

// Knative Serving's admission rules for a Service (test/deploy/knative-webhook.ts),
// checked on objects whose fate under the real webhook is known (the cases
// mirror knative/serving pkg/apis/serving/k8s_validation_test.go and
// v1/revision_validation_test.go), then on every Service the manifests render.

const root = fileURLToPath(new URL('../../', import.meta.url))
type Obj = { apiVersion?: string; kind?: string; metadata?: { name?: string }; [k: string]: unknown }

function service(spec: Record<string, unknown> = {}, container: Record<string, unknown> = {}, annotations: Record<string, string> = {}) {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: 'f', namespace: 'caretaker' },
    spec: {
      template: {
        metadata: { annotations },
        spec: {
          containers: [{ name: 'function', image: 'caretaker:latest', ports: [{ containerPort: 8080 }], ...container }],
          ...spec,
        },
      },
    },
  }
}

t.test('admitted under the default config', async (t) => {
  const ok: Array<[string, unknown]> = [
    ['a minimal Service', service()],
    ['timeoutSeconds at the default ceiling, 600', service({ timeoutSeconds: 600 })],
    ['an emptyDir (enabled by default)', service({ volumes: [{ name: 'scratch', emptyDir: { sizeLimit: '1Gi' } }] }, { volumeMounts: [{ name: 'scratch', mountPath: '/tmp' }] })],
    ['a read-only ConfigMap mount', service({ volumes: [{ name: 'config', configMap: { name: 'c' } }] }, { volumeMounts: [{ name: 'config', mountPath: '/etc/c', readOnly: true }] })],
    ['the restricted container securityContext', service({}, { securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } } })],
    ['httpGet probes on the serving port', service({}, { readinessProbe: { httpGet: { path: '/r', port: 8080 } }, livenessProbe: { httpGet: { path: '/l', port: 8080 }, periodSeconds: 10 } })],
    ['min-scale 1, max-scale 2', service({}, {}, { 'autoscaling.knative.dev/min-scale': '1', 'autoscaling.knative.dev/max-scale': '2' })],
    ['containerConcurrency 0', service({ containerConcurrency: 0 })],
  ]
  for (const [what, svc] of ok) t.same(validateKnativeService(svc), [], what)
})

t.test('rejected under the default config, admitted once the cluster allows it', async (t) => {
  const cases: Array<[string, unknown, RegExp, ServingConfig | undefined]> = [
    ['timeoutSeconds 900', service({ timeoutSeconds: 900 }), /timeoutSeconds.*max-revision-timeout-seconds/, { defaults: { 'max-revision-timeout-seconds': '3600' } }],
    ['a PersistentVolumeClaim', service({ volumes: [{ name: 'b', persistentVolumeClaim: { claimName: 'b', readOnly: true } }] }, { volumeMounts: [{ name: 'b', mountPath: '/b', readOnly: true }] }), /persistentVolumeClaim volume support is disabled/, { features: { 'kubernetes.podspec-persistent-volume-claim': 'enabled' } }],
    ['a writable PersistentVolumeClaim with claims on', service({ volumes: [{ name: 'b', persistentVolumeClaim: { claimName: 'b' } }] }, { volumeMounts: [{ name: 'b', mountPath: '/b' }] }), /Persistent volume write support is disabled/, { features: { 'kubernetes.podspec-persistent-volume-claim': 'Enabled', 'kubernetes.podspec-persistent-volume-write': 'Enabled' } }],
    ['a pod-level securityContext', service({ securityContext: { runAsUser: 1000 } }), /securityContext\.runAsUser: must not set/, { features: { 'kubernetes.podspec-securitycontext': 'Enabled' } }],
    ['init containers', service({ initContainers: [{ name: 'init', image: 'busybox' }] }), /initContainers: must not set/, { features: { 'kubernetes.podspec-init-containers': 'Enabled' } }],
    ['a nodeSelector', service({ nodeSelector: { disk: 'ssd' } }), /nodeSelector: must not set/, { features: { 'kubernetes.podspec-nodeselector': 'Enabled' } }],
    ['a hostPath volume', service({ volumes: [{ name: 'h', hostPath: { path: '/var' } }] }, { volumeMounts: [{ name: 'h', mountPath: '/h', readOnly: true }] }), /hostPath volume support is disabled/, { features: { 'kubernetes.podspec-volumes-hostpath': 'Enabled' } }],
    ['an added capability', service({}, { securityContext: { capabilities: { add: ['NET_ADMIN'] } } }), /capabilities\.add: must not set/, { features: { 'kubernetes.containerspec-addcapabilities': 'Enabled' } }],
    ['an env fieldRef', service({}, { env: [{ name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }] }), /valueFrom\.fieldRef: must not set/, { features: { 'kubernetes.podspec-fieldref': 'Enabled' } }],
    ['max-scale 20 over a max-scale-limit of 10', service({}, {}, { 'autoscaling.knative.dev/max-scale': '20' }), /expected 1 <= 20 <= 10/, { autoscaler: { 'max-scale-limit': '100' } }],
  ]
  for (const [what, svc, why, allowing] of cases) {
    const limited = what.includes('max-scale-limit') ? { autoscaler: { 'max-scale-limit': '10' } } : {}
    const errs = validateKnativeService(svc, limited)
    t.match(errs.join('\n'), why, `${what}: rejected (${errs.join('; ')})`)
    t.same(validateKnativeService(svc, allowing), [], `${what}: admitted with ${JSON.stringify(allowing)}`)
  }
})

t.test('rejected whatever the config', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['a reserved env var', service({}, { env: [{ name: 'K_SERVICE', value: 'x' }] }), /"K_SERVICE" is a reserved environment variable/],
    ['PORT in the user container', service({}, { env: [{ name: 'PORT', value: '1' }] }), /"PORT" is a reserved environment variable/],
    ['a reserved port', service({}, { ports: [{ containerPort: 8012 }] }), /8012 is a reserved port/],
    ['a named port', service({}, { ports: [{ containerPort: 8080, name: 'web' }] }), /Port name web is not allowed/],
    ['two ports', service({}, { ports: [{ containerPort: 8080 }, { containerPort: 8081 }] }), /more than one container port/],
    ['a UDP port', service({}, { ports: [{ containerPort: 8080, protocol: 'UDP' }] }), /protocol: invalid value: UDP/],
    ['a hostPort', service({}, { ports: [{ containerPort: 8080, hostPort: 80 }] }), /hostPort: must not set/],
    ['the queue-proxy container name', service({}, { name: 'queue-proxy' }), /"queue-proxy" is a reserved container name/],
    ['a mount on /dev', service({ volumes: [{ name: 's', emptyDir: {} }] }, { volumeMounts: [{ name: 's', mountPath: '/dev/' }] }), /mountPath "\/dev" is a reserved path/],
    ['a relative mountPath', service({ volumes: [{ name: 's', emptyDir: {} }] }, { volumeMounts: [{ name: 's', mountPath: 'tmp' }] }), /mountPath: invalid value/],
    ['a writable ConfigMap mount', service({ volumes: [{ name: 'c', configMap: { name: 'c' } }] }, { volumeMounts: [{ name: 'c', mountPath: '/c' }] }), /should be readOnly for this type of volume/],
    ['a volume nobody mounts', service({ volumes: [{ name: 'c', configMap: { name: 'c' } }] }), /volume with name "c" not mounted/],
    ['a mount without a volume', service({}, { volumeMounts: [{ name: 'x', mountPath: '/x', readOnly: true }] }), /volumeMount has no matching volume/],
    ['a lifecycle hook', service({}, { lifecycle: { preStop: { exec: { command: ['true'] } } } }), /lifecycle: must not set/],
    ['a privileged container', service({}, { securityContext: { privileged: true } }), /privileged: must not set/],
    ['a probe on another named port', service({}, { readinessProbe: { httpGet: { port: 'admin' } } }), /Probe port must match container port/],
    ['a probe with two handlers', service({}, { livenessProbe: { httpGet: { port: 8080 }, tcpSocket: { port: 8080 } } }), /expected exactly one, got both/],
    ['a readiness failureThreshold with no period', service({}, { readinessProbe: { httpGet: { port: 8080 }, failureThreshold: 3 } }), /failureThreshold is disallowed when periodSeconds is zero/],
    ['max-scale below min-scale', service({}, {}, { 'autoscaling.knative.dev/min-scale': '3', 'autoscaling.knative.dev/max-scale': '2' }), /max-scale=2 is less than min-scale=3/],
    ['a non-integer min-scale', service({}, {}, { 'autoscaling.knative.dev/min-scale': 'one' }), /min-scale: invalid value: one/],
    ['initial-scale 0', service({}, {}, { 'autoscaling.knative.dev/initial-scale': '0' }), /not allowed by cluster/],
    ['a negative timeoutSeconds', service({ timeoutSeconds: -1 }), /timeoutSeconds/],
    ['containerConcurrency over the limit', service({ containerConcurrency: 1001 }), /containerConcurrency: expected 0 <= 1001 <= 1000/],
    ['restartPolicy', service({ restartPolicy: 'Always' }), /restartPolicy: must not set/],
    ['an upper-case volume name', service({ volumes: [{ name: 'Config', emptyDir: {} }] }, { volumeMounts: [{ name: 'Config', mountPath: '/c' }] }), /name: invalid value: Config/],
    ['an emptyDir on a hugepages medium', service({ volumes: [{ name: 's', emptyDir: { medium: 'HugePages' } }] }, { volumeMounts: [{ name: 's', mountPath: '/s' }] }), /medium: invalid value/],
  ]
  for (const [what, svc, why] of cases) {
    const errs = validateKnativeService(svc)
    t.match(errs.join('\n'), why, `${what}: rejected (${errs.join('; ')})`)
  }
  const autoscalingOnService = service()
  Object.assign(autoscalingOnService.metadata, { annotations: { 'autoscaling.knative.dev/max-scale': '2' } })
  t.match(validateKnativeService(autoscalingOnService).join('\n'), /must be put under "spec.template.metadata.annotations"/, 'autoscaling annotations on the Service itself: rejected')
})

// The Knative Services `kubectl apply -k manifests` sends: kustomize's
// rendering when kubectl is here, else every Service file under manifests/.
async function renderedServices(): Promise<Obj[]> {
  const kubectl = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).stdout.trim()
  const docs: Obj[] = []
  if (kubectl) {
    const res = spawnSync(kubectl, ['kustomize', join(root, 'manifests')], { encoding: 'utf8', maxBuffer: 64 << 20 })
    if (res.status !== 0) throw new Error(`kubectl kustomize manifests: ${res.stderr}`)
    for (const d of parseAllDocuments(res.stdout)) docs.push(d.toJSON() as Obj)
  } else {
    for (const entry of await readdir(join(root, 'manifests'), { withFileTypes: true, recursive: true })) {
      if (!entry.isFile() || !/\.ya?ml$/.test(entry.name) || entry.name === 'kustomization.yaml') continue
      for (const d of parseAllDocuments(await readFile(join(entry.parentPath, entry.name), 'utf8'))) docs.push(d.toJSON() as Obj)
    }
  }
  return docs.filter((o) => o?.apiVersion === 'serving.knative.dev/v1' && o.kind === 'Service')
}

// The cluster's settings the doctor checks (scripts/doctor.ts SETTINGS), as the
// validator's config: Knative's defaults, with each listed key at `value(r)`.
function clusterConfig(value: (r: SettingRequirement) => string): ServingConfig {
  const cfg = { features: {} as Record<string, string>, defaults: {} as Record<string, string>, autoscaler: {} as Record<string, string> }
  const bucket = { 'config-features': cfg.features, 'config-defaults': cfg.defaults, 'config-autoscaler': cfg.autoscaler } as Record<string, Record<string, string>>
  for (const r of SETTINGS) if (r.namespace === 'knative-serving') bucket[r.configMap]![r.key] = value(r)
  return cfg
}

t.test('every shipped Knative Service is admitted under Knative Serving\'s default config, but for the settings the doctor checks', async (t) => {
  const services = await renderedServices()
  t.ok(services.length >= 10, `${services.length} Knative Services rendered`)
  const atDefaults = services.flatMap((svc) => validateKnativeService(svc).map((e) => `${svc.metadata?.name}: ${e}`))
  const changed = SETTINGS.filter((r) => !r.ok(r.default)).map((r) => `${r.namespace}/${r.configMap} ${r.key}`)
  // What an install needs beyond Knative's defaults (README "Knative settings" names each).
  t.same(changed, ['knative-serving/config-features kubernetes.podspec-persistent-volume-claim', 'knative-serving/config-features kubernetes.podspec-persistent-volume-write'], 'the settings an install changes from Knative\'s defaults')
  t.same(atDefaults.filter((e) => !/persistentVolumeClaim|Persistent volume write/.test(e)), [], 'under Knative\'s defaults only the PersistentVolumeClaims are refused')
  for (const svc of services) {
    const errs = validateKnativeService(svc, clusterConfig((r) => r.wanted))
    t.same(errs, [], `${svc.metadata?.name}: ${errs.length ? errs.join('; ') : 'admitted'} with the doctor's settings`)
  }
  for (const r of SETTINGS.filter((x) => x.namespace === 'knative-serving')) {
    t.notOk(r.ok(r.refused), `${r.key}: "${r.refused}" does not satisfy it`)
    const refused = services.filter((svc) => validateKnativeService(svc, clusterConfig((x) => (x === r ? r.refused : x.wanted))).length > 0).map((svc) => svc.metadata?.name)
    t.ok(refused.length > 0, `${r.key}: "${r.refused}" refuses ${refused.join(', ') || 'nothing: the doctor checks a setting no manifest needs'}`)
  }
})

// A run that can outlast Knative's request timeout must end first and report
// what it left: each function that sweeps or waits sets CARETAKER_RUN_DEADLINE
// below its Service's timeoutSeconds, and its shipped config fits in it (each
// function checks that at start: a restore test, a rotation's waits).
const LONG_RUNS = ['clean-up-resources', 'prune-snapshots', 'maintain-databases', 'rotate-secret', 'verify-backup']

t.test('every long run has a deadline below its request timeout, and its shipped config fits in it', async (t) => {
  const services = await renderedServices()
  for (const svc of services) {
    const name = String(svc.metadata?.name)
    const spec = (svc.spec as { template: { spec: { timeoutSeconds?: number; containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } }).template.spec
    const env = Object.fromEntries((spec.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? '']))
    const timeout = spec.timeoutSeconds ?? Number(SERVING_DEFAULTS_DEFAULTS['revision-timeout-seconds'])
    const deadlineMs = runDeadlineMs(env)
    if (LONG_RUNS.includes(name)) t.ok(deadlineMs !== undefined, `${name}: sets CARETAKER_RUN_DEADLINE`)
    if (deadlineMs === undefined) continue
    // A margin for the reply itself and for the queue-proxy's own accounting.
    t.ok(deadlineMs / 1000 <= timeout - 30, `${name}: its run deadline (${deadlineMs / 1000} s) ends at least 30 s before timeoutSeconds (${timeout})`)
    // The function's config itself (kustomize makes the ConfigMap of it).
    const shipped = parse(await readFile(join(root, 'manifests', name, 'config.yaml'), 'utf8')) as unknown
    const module = (await import(`../../functions/${name}/index.ts`) as { default: FunctionModule }).default
    await t.resolves(module.init({ config: shipped, kubeConfig: undefined, runDeadlineMs: deadlineMs }), `${name}: the shipped config fits in its run deadline`)
    await module.shutdown()
  }
})

// The eventing-oidc component mounts a projected ServiceAccount token for the
// Broker's audience: Knative Serving admits that with no feature flag
// (k8s_validation.go validateProjectedVolumeSource, fieldmask.go
// VolumeProjectionMask / ServiceAccountTokenProjectionMask).
t.test('projected volumes: a serviceAccountToken source needs no flag; the mask and the path are enforced', async (t) => {
  const projected = (sources: unknown[]) => service({ volumes: [{ name: 'token', projected: { sources } }] }, { volumeMounts: [{ name: 'token', mountPath: '/var/run/t', readOnly: true }] })
  t.same(validateKnativeService(projected([{ serviceAccountToken: { audience: 'eventing.knative.dev/broker/caretaker/caretaker', expirationSeconds: 3600, path: 'token' } }])), [], 'a token with an audience, under the default config')
  t.same(validateKnativeService(projected([{ serviceAccountToken: { path: 'token' } }, { configMap: { name: 'ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }])), [], 'audience and expiry are optional; several sources')
  const refused: Array<[string, unknown[], RegExp]> = [
    ['a token without a path', [{ serviceAccountToken: { audience: 'a' } }], /projected\[0\]\.serviceAccountToken\.path: missing field/],
    ['a field the mask drops', [{ serviceAccountToken: { path: 't', extra: 1 } }], /serviceAccountToken\.extra: must not set/],
    ['a clusterTrustBundle source', [{ clusterTrustBundle: { name: 'b', path: 'b' } }], /projected\[0\]\.clusterTrustBundle: must not set/],
    ['two kinds in one source', [{ serviceAccountToken: { path: 't' }, secret: { name: 's' } }], /expected exactly one, got both/],
    ['an empty source', [{}], /expected exactly one, got neither/],
  ]
  for (const [what, sources, message] of refused) t.match(validateKnativeService(projected(sources)).join('\n'), message, what)
  const writable = service({ volumes: [{ name: 'token', projected: { sources: [{ serviceAccountToken: { path: 't' } }] } }] }, { volumeMounts: [{ name: 'token', mountPath: '/t' }] })
  t.match(validateKnativeService(writable).join('\n'), /should be readOnly/, 'a projected volume is mounted read-only')
})
