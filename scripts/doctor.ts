/**
 * `npm run doctor -- --kubeconfig <file> [--context NAME]`: before
 * `kubectl apply -k manifests`, checks that the cluster's Knative can take
 * Caretaker as shipped. It reads Knative Serving's `config-features`,
 * `config-defaults` and `config-autoscaler` and Knative Eventing's
 * `config-features` ConfigMaps, and the API discovery of every kind Caretaker
 * creates or reads, then names each setting or API the cluster lacks, with
 * the command that fixes it. Exit code 0 when nothing required is missing,
 * 1 otherwise.
 *
 * A setting absent from its ConfigMap has Knative's default (the ConfigMaps
 * Knative installs hold only `_example`): the defaults below are those of
 * knative/serving pkg/apis/config/features.go and defaults.go, and
 * knative/eventing pkg/apis/feature/features.go.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { ApiException, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node'

export interface SettingRequirement {
  namespace: 'knative-serving' | 'knative-eventing'
  configMap: string
  key: string
  /** Knative's value when the key is absent. */
  default: string
  /** A value that satisfies it, for the fix and for the tests. */
  wanted: string
  /** A value that does not: with it, the manifests are refused (the tests check that). */
  refused: string
  /** What Caretaker needs, in words. */
  needs: string
  ok(value: string): boolean
  /** Who needs it and for what. */
  why: string
}

// Serving's flags are parsed case-insensitively (features.go asFlag); a flag
// is on only when Enabled ("Allowed" lets the field through the schema, but
// validateVolume still refuses the volume).
const enabled = (v: string) => v.trim().toLowerCase() === 'enabled'
const atLeast = (n: number) => (v: string) => Number.isInteger(Number(v.trim())) && Number(v.trim()) >= n

/**
 * Every cluster setting the shipped manifests depend on. The tests hold this
 * list to the manifests: with these values every Knative Service passes
 * Knative Serving's webhook rules, and with each one's failing value one does not.
 */
export const SETTINGS: readonly SettingRequirement[] = [
  {
    namespace: 'knative-serving', configMap: 'config-features', key: 'kubernetes.podspec-persistent-volume-claim',
    default: 'disabled', wanted: 'enabled', refused: 'allowed', needs: 'enabled', ok: enabled,
    why: 'verify-backup mounts the backups volume, a read-only PersistentVolumeClaim (manifests/verify-backup/service.yaml)',
  },
  {
    namespace: 'knative-serving', configMap: 'config-features', key: 'kubernetes.podspec-persistent-volume-write',
    default: 'disabled', wanted: 'enabled', refused: 'disabled', needs: 'enabled', ok: enabled,
    why: 'back-up-configuration writes its archives to the backups volume, a PersistentVolumeClaim mounted read-write (manifests/back-up-configuration/service.yaml)',
  },
  {
    namespace: 'knative-serving', configMap: 'config-features', key: 'kubernetes.podspec-volumes-emptydir',
    default: 'enabled', wanted: 'enabled', refused: 'disabled', needs: 'enabled', ok: enabled,
    why: 'verify-backup, clean-up-resources, prune-snapshots and maintain-databases write scratch files to an emptyDir (their root filesystem is read-only)',
  },
  {
    namespace: 'knative-serving', configMap: 'config-defaults', key: 'max-revision-timeout-seconds',
    default: '600', wanted: '600', refused: '599', needs: 'at least 600', ok: atLeast(600),
    why: 'the long runs (clean-up-resources, prune-snapshots, maintain-databases, rotate-secret, verify-backup) set timeoutSeconds: 600 and stop at their 540 s run deadline',
  },
  {
    namespace: 'knative-serving', configMap: 'config-defaults', key: 'container-concurrency-max-limit',
    default: '1000', wanted: '1000', refused: '49', needs: 'at least 50', ok: atLeast(50),
    why: 'alertmanager-bridge sets containerConcurrency: 50',
  },
  {
    namespace: 'knative-serving', configMap: 'config-autoscaler', key: 'max-scale-limit',
    default: '0', wanted: '0', refused: '2', needs: '0 (no limit) or at least 3', ok: (v) => v.trim() === '0' || atLeast(3)(v),
    why: 'alertmanager-bridge sets autoscaling.knative.dev/max-scale: "3"',
  },
  {
    // The shipped Services say CARETAKER_EVENTING_OIDC=disabled, Knative's default: deliveries come
    // without a token and requests need Caretaker's proof (README, Trust boundary). A cluster with
    // OIDC on sends tokens the functions would then refuse: they must be told (manifests/eventing-oidc).
    namespace: 'knative-eventing', configMap: 'config-features', key: 'authentication-oidc',
    default: 'disabled', wanted: 'disabled', refused: 'enabled', needs: 'the mode the Services\' CARETAKER_EVENTING_OIDC names (shipped: disabled)', ok: (v) => v.trim().toLowerCase() !== 'enabled',
    why: 'with OIDC on, Knative sends a token with every delivery, which functions set to CARETAKER_EVENTING_OIDC=disabled refuse, and its broker ingress refuses events sent without one: set CARETAKER_EVENTING_OIDC=enabled in every Service and mount the Broker token they send (the component manifests/eventing-oidc does both), or leave OIDC off',
  },
]

export interface ApiRequirement {
  group: string
  version: string
  resource: string
  /** Required: `kubectl apply -k manifests` or `-k triggers` fails without it. Else what stops working. */
  required: boolean
  why: string
}

export const APIS: readonly ApiRequirement[] = [
  { group: 'serving.knative.dev', version: 'v1', resource: 'services', required: true, why: 'every function is a Knative Service (Knative Serving)' },
  { group: 'eventing.knative.dev', version: 'v1', resource: 'brokers', required: true, why: 'the caretaker Broker (Knative Eventing)' },
  { group: 'eventing.knative.dev', version: 'v1', resource: 'triggers', required: true, why: 'every function\'s Triggers (Knative Eventing)' },
  { group: 'sources.knative.dev', version: 'v1', resource: 'pingsources', required: true, why: 'the schedules (Knative Eventing)' },
  { group: 'sources.knative.dev', version: 'v1', resource: 'apiserversources', required: true, why: 'the Job and Certificate watches (Knative Eventing)' },
  { group: 'monitoring.coreos.com', version: 'v1', resource: 'podmonitors', required: true, why: 'manifests/monitoring (the Prometheus Operator\'s CRDs)' },
  { group: 'monitoring.coreos.com', version: 'v1', resource: 'prometheusrules', required: true, why: 'manifests/monitoring (the Prometheus Operator\'s CRDs)' },
  { group: 'cert-manager.io', version: 'v1', resource: 'certificates', required: false, why: 'renew-certificate follows cert-manager Certificates' },
  { group: 'external-secrets.io', version: 'v1', resource: 'externalsecrets', required: false, why: 'rotate-secret waits for ExternalSecrets to sync' },
  { group: 'snapshot.storage.k8s.io', version: 'v1', resource: 'volumesnapshots', required: false, why: 'prune-snapshots applies retention to CSI VolumeSnapshots' },
  { group: 'longhorn.io', version: 'v1beta2', resource: 'backups', required: false, why: 'verify-backup and prune-snapshots read Longhorn Backups' },
  { group: 'longhorn.io', version: 'v1beta2', resource: 'snapshots', required: false, why: 'prune-snapshots applies retention to Longhorn Snapshots' },
]

export interface Finding {
  status: 'ok' | 'missing' | 'optional-missing'
  what: string
  detail: string
}

function apiError(err: unknown): string {
  if (err instanceof ApiException) return `HTTP ${err.code}`
  return err instanceof Error ? err.message : String(err)
}

function patchCommand(r: SettingRequirement): string {
  return `kubectl patch configmap/${r.configMap} -n ${r.namespace} --type merge -p '{"data":{"${r.key}":"${r.wanted}"}}'`
}

/** Every check against the cluster `kc` points at. */
export async function diagnose(kc: KubeConfig): Promise<Finding[]> {
  const core = kc.makeApiClient(CoreV1Api)
  const custom = kc.makeApiClient(CustomObjectsApi)
  const findings: Finding[] = []
  const configMaps = new Map<string, Record<string, string> | string>()
  for (const r of SETTINGS) {
    const id = `${r.namespace}/${r.configMap}`
    if (!configMaps.has(id)) {
      try {
        configMaps.set(id, (await core.readNamespacedConfigMap({ namespace: r.namespace, name: r.configMap })).data ?? {})
      } catch (err) {
        configMaps.set(id, err instanceof ApiException && err.code === 404
          ? `ConfigMap ${id} not found: is ${r.namespace === 'knative-serving' ? 'Knative Serving' : 'Knative Eventing'} installed?`
          : `ConfigMap ${id} could not be read (${apiError(err)})`)
      }
    }
    const data = configMaps.get(id)!
    const what = `${id} ${r.key}`
    if (typeof data === 'string') {
      findings.push({ status: 'missing', what, detail: `${data}; Caretaker needs ${r.key} ${r.needs}: ${r.why}` })
      continue
    }
    const value = data[r.key] ?? r.default
    const shown = data[r.key] === undefined ? `"${value}" (Knative's default)` : `"${value}"`
    findings.push(r.ok(value)
      ? { status: 'ok', what, detail: `${shown}` }
      : { status: 'missing', what, detail: `is ${shown}; Caretaker needs ${r.needs}: ${r.why}. Fix: ${patchCommand(r)}` })
  }
  const served = new Map<string, Set<string> | string>()
  for (const a of APIS) {
    const gv = `${a.group}/${a.version}`
    if (!served.has(gv)) {
      try {
        served.set(gv, new Set((await custom.getAPIResources({ group: a.group, version: a.version })).resources.map((r) => r.name)))
      } catch (err) {
        served.set(gv, err instanceof ApiException && err.code === 404 ? 'not served (its CRDs are not installed)' : `discovery failed (${apiError(err)})`)
      }
    }
    const s = served.get(gv)!
    const what = `API ${gv} ${a.resource}`
    const problem = typeof s === 'string' ? s : s.has(a.resource) ? undefined : 'not served (its CRD is not installed)'
    if (!problem) findings.push({ status: 'ok', what, detail: a.why })
    else findings.push({ status: a.required ? 'missing' : 'optional-missing', what, detail: `${problem}: ${a.why}${a.required ? '' : ' (not needed if that function is not used)'}` })
  }
  return findings
}

export function report(findings: Finding[]): string {
  const label = { ok: 'ok     ', missing: 'MISSING', 'optional-missing': 'warn   ' }
  const lines = findings.map((f) => `${label[f.status]} ${f.what}: ${f.detail}`)
  const missing = findings.filter((f) => f.status === 'missing').length
  lines.push(missing === 0 ? 'Knative can run Caretaker as shipped.' : `${missing} required setting(s) or API(s) missing: fix them before kubectl apply -k manifests.`)
  return lines.join('\n')
}

const USAGE = 'usage: npm run doctor -- --kubeconfig FILE [--context NAME]'

/** The command line: exit code 0 when nothing required is missing, 1 otherwise (and for a usage error). */
export async function main(argv: string[], out: (text: string) => void = (t) => process.stdout.write(`${t}\n`)): Promise<number> {
  let values: { kubeconfig?: string | undefined; context?: string | undefined; help?: boolean | undefined }
  try {
    ({ values } = parseArgs({ args: argv, options: { kubeconfig: { type: 'string' }, context: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }))
  } catch (err) {
    out(`${(err as Error).message}\n${USAGE}`)
    return 1
  }
  if (values.help) { out(USAGE); return 0 }
  const path = values.kubeconfig ?? process.env.KUBECONFIG
  if (!path) { out(`no kubeconfig: pass --kubeconfig FILE (or set KUBECONFIG)\n${USAGE}`); return 1 }
  const kc = new KubeConfig()
  try {
    kc.loadFromString(readFileSync(path, 'utf8'))
    if (values.context) kc.setCurrentContext(values.context)
  } catch (err) {
    out(`cannot load the kubeconfig ${path}: ${(err as Error).message}`)
    return 1
  }
  const cluster = kc.getCurrentCluster()
  if (!cluster) { out(`the kubeconfig ${path} has no current cluster${values.context ? ` for context ${values.context}` : ''}`); return 1 }
  out(`Caretaker doctor: ${cluster.server} (context ${kc.getCurrentContext()})`)
  const findings = await diagnose(kc)
  out(report(findings))
  return findings.some((f) => f.status === 'missing') ? 1 : 0
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2))
