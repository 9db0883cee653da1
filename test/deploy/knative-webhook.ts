// The admission rules Knative Serving's webhook applies to a serving.knative.dev/v1
// Service, encoded from its validation source (knative/serving, main): each rule
// names the file and function it comes from. Only Services are covered, and of
// them what a shipped manifest can hold; where a rule depends on a cluster
// setting, the setting is an input with Knative's own default.
//
// The webhook defaults an object before it validates it (revision_defaults.go);
// the few defaults a rule below depends on are applied first, as there.

// knative/serving pkg/apis/config/features.go: defaultFeaturesConfig. The keys
// are those of the config-features ConfigMap (NewFeaturesConfigFromMap).
export const SERVING_FEATURE_DEFAULTS: Readonly<Record<string, string>> = {
  'multi-container': 'Enabled',
  'multi-container-probing': 'Disabled',
  'kubernetes.podspec-affinity': 'Disabled',
  'kubernetes.podspec-topologyspreadconstraints': 'Disabled',
  'kubernetes.podspec-hostaliases': 'Disabled',
  'kubernetes.podspec-fieldref': 'Disabled',
  'kubernetes.podspec-nodeselector': 'Disabled',
  'kubernetes.podspec-runtimeclassname': 'Disabled',
  'kubernetes.podspec-securitycontext': 'Disabled',
  'kubernetes.podspec-shareprocessnamespace': 'Disabled',
  'kubernetes.podspec-hostipc': 'Disabled',
  'kubernetes.podspec-hostpid': 'Disabled',
  'kubernetes.podspec-hostnetwork': 'Disabled',
  'kubernetes.podspec-priorityclassname': 'Disabled',
  'kubernetes.podspec-schedulername': 'Disabled',
  'kubernetes.containerspec-addcapabilities': 'Disabled',
  'kubernetes.podspec-tolerations': 'Disabled',
  'kubernetes.podspec-volumes-emptydir': 'Enabled',
  'kubernetes.podspec-volumes-hostpath': 'Disabled',
  'kubernetes.podspec-volumes-mount-propagation': 'Disabled',
  'kubernetes.podspec-volumes-csi': 'Disabled',
  'kubernetes.podspec-volumes-ephemeral': 'Disabled',
  'kubernetes.podspec-volumes-image': 'Disabled',
  'kubernetes.podspec-persistent-volume-claim': 'Disabled',
  'kubernetes.podspec-persistent-volume-write': 'Disabled',
  'kubernetes.podspec-init-containers': 'Disabled',
  'kubernetes.podspec-dnspolicy': 'Disabled',
  'kubernetes.podspec-dnsconfig': 'Disabled',
  'secure-pod-defaults': 'Disabled',
}

// knative/serving pkg/apis/config/defaults.go: DefaultMaxRevisionTimeoutSeconds
// (10 * 60), DefaultRevisionTimeoutSeconds (5 * 60), DefaultMaxRevisionContainerConcurrency,
// DefaultAllowContainerConcurrencyZero. Keys of the config-defaults ConfigMap.
export const SERVING_DEFAULTS_DEFAULTS: Readonly<Record<string, string>> = {
  'max-revision-timeout-seconds': '600',
  'revision-timeout-seconds': '300',
  'container-concurrency-max-limit': '1000',
  'allow-container-concurrency-zero': 'true',
}

// knative/serving config/core/configmaps/autoscaler.yaml (max-scale-limit "0":
// no limit; allow-zero-initial-scale "false").
export const SERVING_AUTOSCALER_DEFAULTS: Readonly<Record<string, string>> = {
  'max-scale-limit': '0',
  'allow-zero-initial-scale': 'false',
}

export type ServingConfig = {
  features?: Record<string, string>
  defaults?: Record<string, string>
  autoscaler?: Record<string, string>
}

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const obj = (v: unknown): Json => (isObj(v) ? v : {})

// features.go asFlag: the value is matched case-insensitively against Enabled,
// Disabled, Allowed.
function flag(cfg: ServingConfig, key: string): 'Enabled' | 'Disabled' | 'Allowed' | string {
  const raw = cfg.features?.[key] ?? SERVING_FEATURE_DEFAULTS[key] ?? 'Disabled'
  for (const f of ['Enabled', 'Disabled', 'Allowed', 'AllowRootBounded']) if (raw.toLowerCase() === f.toLowerCase()) return f
  return SERVING_FEATURE_DEFAULTS[key] ?? 'Disabled'
}
function num(cfg: Record<string, string> | undefined, base: Readonly<Record<string, string>>, key: string): number {
  return Number(cfg?.[key] ?? base[key])
}

// k8s.io/apimachinery validation.IsDNS1123Label / IsDNS1123Subdomain.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const isDNS1123Label = (s: string) => s.length <= 63 && DNS1123_LABEL.test(s)
const isDNS1123Subdomain = (s: string) => s.length <= 253 && s.split('.').every((p) => DNS1123_LABEL.test(p))

function cleanPath(p: string): string {
  const abs = p.startsWith('/')
  const parts: string[] = []
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue
    if (seg === '..') { if (parts.length && parts.at(-1) !== '..') parts.pop(); else if (!abs) parts.push('..'); continue }
    parts.push(seg)
  }
  const out = (abs ? '/' : '') + parts.join('/')
  return out === '' ? '.' : out
}

class Errors {
  readonly list: string[] = []
  add(path: string, message: string) { this.list.push(`${path}: ${message}`) }
  // knative.dev/pkg apis.CheckDisallowedFields: a field set that the mask does not carry over.
  disallowed(path: string, value: unknown, allowed: readonly string[]) {
    for (const [k, v] of Object.entries(obj(value))) {
      if (v === undefined || v === null) continue
      if (!allowed.includes(k)) this.add(`${path}.${k}`, 'must not set the field(s)')
    }
  }
}

// knative/serving pkg/apis/serving/k8s_validation.go: reservedPaths,
// reservedContainerNames, reservedEnvVars, reservedPorts, validPortNames.
const RESERVED_PATHS = new Set(['/', '/dev', '/dev/log'])
const RESERVED_CONTAINER_NAMES = new Set(['queue-proxy'])
const RESERVED_ENV = new Set(['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'])
// pkg/networking/constants.go: BackendHTTPPort 8012, BackendHTTP2Port 8013,
// QueueAdminPort 8022, AutoscalingQueueMetricsPort 9090, UserQueueMetricsPort 9091;
// knative.dev/pkg/observability/runtime ProfilingDefaultPort 8008.
const RESERVED_PORTS = new Set([8012, 8013, 8022, 9090, 9091, 8008])
const VALID_PORT_NAMES = new Set(['h2c', 'http1', ''])

// Volume sources and the flag each needs (k8s_validation.go validateVolume,
// fieldmask.go VolumeSourceMask). secret, configMap and projected need none.
const GATED_VOLUME_SOURCES: Record<string, string> = {
  emptyDir: 'kubernetes.podspec-volumes-emptydir',
  persistentVolumeClaim: 'kubernetes.podspec-persistent-volume-claim',
  hostPath: 'kubernetes.podspec-volumes-hostpath',
  csi: 'kubernetes.podspec-volumes-csi',
  ephemeral: 'kubernetes.podspec-volumes-ephemeral',
  image: 'kubernetes.podspec-volumes-image',
}

// fieldmask.go PodSpecMask: always allowed, and gated by a flag (!= Disabled).
const POD_ALWAYS = ['serviceAccountName', 'containers', 'volumes', 'imagePullSecrets', 'enableServiceLinks']
const POD_GATED: Record<string, string> = {
  affinity: 'kubernetes.podspec-affinity',
  topologySpreadConstraints: 'kubernetes.podspec-topologyspreadconstraints',
  hostAliases: 'kubernetes.podspec-hostaliases',
  nodeSelector: 'kubernetes.podspec-nodeselector',
  runtimeClassName: 'kubernetes.podspec-runtimeclassname',
  tolerations: 'kubernetes.podspec-tolerations',
  securityContext: 'kubernetes.podspec-securitycontext',
  shareProcessNamespace: 'kubernetes.podspec-shareprocessnamespace',
  priorityClassName: 'kubernetes.podspec-priorityclassname',
  schedulerName: 'kubernetes.podspec-schedulername',
  initContainers: 'kubernetes.podspec-init-containers',
  dnsPolicy: 'kubernetes.podspec-dnspolicy',
  dnsConfig: 'kubernetes.podspec-dnsconfig',
  hostIPC: 'kubernetes.podspec-hostipc',
  hostPID: 'kubernetes.podspec-hostpid',
  hostNetwork: 'kubernetes.podspec-hostnetwork',
}
// RevisionSpec's own fields beside the inlined PodSpec (revision_types.go).
const REVISION_FIELDS = ['containerConcurrency', 'timeoutSeconds', 'responseStartTimeoutSeconds', 'idleTimeoutSeconds']

// fieldmask.go ContainerMask, SecurityContextMask, ProbeMask, HandlerMask,
// HTTPGetActionMask, TCPSocketActionMask, ExecActionMask, GRPCActionMask,
// ContainerPortMask, EnvVarMask, EnvVarSourceMask, ResourceRequirementsMask,
// VolumeMountMask, VolumeMask.
const CONTAINER_FIELDS = ['name', 'args', 'command', 'env', 'workingDir', 'envFrom', 'image', 'imagePullPolicy', 'livenessProbe', 'ports', 'readinessProbe', 'resources', 'securityContext', 'startupProbe', 'terminationMessagePath', 'terminationMessagePolicy', 'volumeMounts']
const SECURITY_CONTEXT_FIELDS = ['capabilities', 'readOnlyRootFilesystem', 'runAsUser', 'runAsGroup', 'runAsNonRoot', 'allowPrivilegeEscalation', 'seccompProfile']
const PROBE_FIELDS = ['exec', 'httpGet', 'tcpSocket', 'grpc', 'initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold', 'terminationGracePeriodSeconds']
const HTTP_GET_FIELDS = ['host', 'path', 'scheme', 'httpHeaders', 'port']
const PORT_FIELDS = ['containerPort', 'name', 'protocol']
const ENV_FIELDS = ['name', 'value', 'valueFrom']
const RESOURCES_FIELDS = ['limits', 'requests']
const VOLUME_MOUNT_FIELDS = ['name', 'readOnly', 'mountPath', 'subPath']

const MAX_INT32 = 2 ** 31 - 1

/** Every error Knative Serving's webhook would return for this Service; empty when it is admitted. */
export function validateKnativeService(service: unknown, cfg: ServingConfig = {}): string[] {
  const e = new Errors()
  const svc = obj(service)
  if (svc.apiVersion !== 'serving.knative.dev/v1' || svc.kind !== 'Service') {
    e.add('', 'not a serving.knative.dev/v1 Service')
    return e.list
  }
  const meta = obj(svc.metadata)
  // pkg/apis/serving/metadata_validation.go ValidateHasNoAutoscalingAnnotation,
  // called by v1/service_validation.go Service.Validate with allowAutoscalingAnnotations=false.
  for (const key of Object.keys(obj(meta.annotations))) {
    if (key.startsWith('autoscaling.knative.dev')) e.add(`metadata.annotations.${key}`, 'autoscaling annotations must be put under "spec.template.metadata.annotations" to work')
  }
  const template = obj(obj(svc.spec).template)
  validateTemplateAnnotations(e, obj(obj(template.metadata).annotations), cfg)
  validateRevisionSpec(e, obj(template.spec), cfg)
  return e.list
}

// pkg/apis/autoscaling/annotation_validation.go ValidateAnnotations (called by
// v1/revision_validation.go RevisionTemplateSpec.Validate).
function validateTemplateAnnotations(e: Errors, anns: Json, cfg: ServingConfig) {
  const at = (k: string) => `spec.template.metadata.annotations.${k}`
  const get = (...keys: string[]) => { for (const k of keys) if (typeof anns[k] === 'string') return [k, anns[k] as string] as const; return undefined }
  // register.go: MinScaleAnnotation / MaxScaleAnnotation with their older spellings.
  const intGE0 = (found: readonly [string, string] | undefined): number => {
    if (!found) return 0
    const [k, v] = found
    if (!/^[+-]?\d+$/.test(v)) { e.add(at(k), `invalid value: ${v}`); return 0 }
    const i = Number(v)
    if (i < 0 || i > MAX_INT32) { e.add(at(k), `expected 0 <= ${v} <= ${MAX_INT32}`); return 0 }
    return i
  }
  const minFound = get('autoscaling.knative.dev/min-scale', 'autoscaling.knative.dev/minScale')
  const maxFound = get('autoscaling.knative.dev/max-scale', 'autoscaling.knative.dev/maxScale')
  const min = intGE0(minFound)
  const max = intGE0(maxFound)
  if (max !== 0 && max < min) e.add(at('autoscaling.knative.dev/max-scale'), `max-scale=${max} is less than min-scale=${min}`)
  const limit = num(cfg.autoscaler, SERVING_AUTOSCALER_DEFAULTS, 'max-scale-limit')
  if (maxFound && limit !== 0) {
    if (max > limit) e.add(at(maxFound[0]), `expected 1 <= ${max} <= ${limit}`)
    if (max === 0) e.add(at(maxFound[0]), `max-scale=0 (unlimited), must be less than ${limit}`)
  }
  const initial = get('autoscaling.knative.dev/initial-scale', 'autoscaling.knative.dev/initialScale')
  if (initial) {
    const n = Number(initial[1])
    if (!/^[+-]?\d+$/.test(initial[1])) e.add(at(initial[0]), `invalid value: ${initial[1]}`)
    else if (n < 0) e.add(at(initial[0]), 'must be greater than 0')
    else if (n === 0 && (cfg.autoscaler?.['allow-zero-initial-scale'] ?? SERVING_AUTOSCALER_DEFAULTS['allow-zero-initial-scale']) !== 'true') e.add(at(initial[0]), '=0 not allowed by cluster')
  }
  const target = get('autoscaling.knative.dev/target')
  // TargetMin is 0.01 (register.go).
  if (target && !(Number(target[1]) >= 0.01)) e.add(at(target[0]), `target ${target[1]} should be at least 0.01`)
  const cls = get('autoscaling.knative.dev/class')
  if (cls && cls[1].endsWith('autoscaling.knative.dev') && cls[1] !== 'kpa.autoscaling.knative.dev' && cls[1] !== 'hpa.autoscaling.knative.dev') e.add(at(cls[0]), `invalid value: ${cls[1]}`)
}

// v1/revision_validation.go RevisionSpec.Validate: ValidatePodSpec,
// validateTimeoutSeconds, ValidateContainerConcurrency.
function validateRevisionSpec(e: Errors, spec: Json, cfg: ServingConfig) {
  const at = 'spec.template.spec'
  const maxTimeout = num(cfg.defaults, SERVING_DEFAULTS_DEFAULTS, 'max-revision-timeout-seconds')
  // validateTimeoutSeconds: 0 is "unset" (defaulted), else 0 <= t <= max-revision-timeout-seconds.
  if (typeof spec.timeoutSeconds === 'number' && spec.timeoutSeconds !== 0 && (spec.timeoutSeconds > maxTimeout || spec.timeoutSeconds < 0)) {
    e.add(`${at}.timeoutSeconds`, `expected 0 <= ${spec.timeoutSeconds} <= ${maxTimeout} (config-defaults max-revision-timeout-seconds)`)
  }
  // revision_defaults.go SetDefaults: an unset timeout becomes revision-timeout-seconds;
  // response-start and idle timeouts may not exceed the revision's timeout.
  const timeout = typeof spec.timeoutSeconds === 'number' && spec.timeoutSeconds !== 0 ? spec.timeoutSeconds : num(cfg.defaults, SERVING_DEFAULTS_DEFAULTS, 'revision-timeout-seconds')
  for (const k of ['responseStartTimeoutSeconds', 'idleTimeoutSeconds']) {
    const v = spec[k]
    if (typeof v === 'number' && (v < 0 || v > timeout)) e.add(`${at}.${k}`, `expected 0 <= ${v} <= ${timeout} (timeoutSeconds)`)
  }
  // metadata_validation.go ValidateContainerConcurrency.
  if (spec.containerConcurrency !== undefined) {
    const cc = Number(spec.containerConcurrency)
    const lo = (cfg.defaults?.['allow-container-concurrency-zero'] ?? SERVING_DEFAULTS_DEFAULTS['allow-container-concurrency-zero']) === 'true' ? 0 : 1
    const hi = num(cfg.defaults, SERVING_DEFAULTS_DEFAULTS, 'container-concurrency-max-limit')
    if (!(cc >= lo && cc <= hi)) e.add(`${at}.containerConcurrency`, `expected ${lo} <= ${String(spec.containerConcurrency)} <= ${hi}`)
  }
  validatePodSpec(e, spec, cfg, at)
}

// k8s_validation.go ValidatePodSpec.
function validatePodSpec(e: Errors, ps: Json, cfg: ServingConfig, at: string) {
  // fieldmask.go PodSpecMask (automountServiceAccountToken only when false).
  const allowed = [...POD_ALWAYS, ...REVISION_FIELDS]
  for (const [field, key] of Object.entries(POD_GATED)) if (flag(cfg, key) !== 'Disabled') allowed.push(field)
  if (ps.automountServiceAccountToken === false) allowed.push('automountServiceAccountToken')
  // PodSpecMask: securityContext is kept with secure-pod-defaults too (then PodSecurityContextMask narrows it).
  if (flag(cfg, 'secure-pod-defaults') !== 'Disabled') allowed.push('securityContext')
  e.disallowed(at, ps, allowed)

  // ValidatePodSecurityContext + PodSecurityContextMask: nothing unless
  // kubernetes.podspec-securitycontext is on (secure-pod-defaults lets seccompProfile through).
  if (isObj(ps.securityContext)) {
    const scAllowed = flag(cfg, 'kubernetes.podspec-securitycontext') === 'Disabled'
      ? (['Enabled', 'AllowRootBounded'].includes(flag(cfg, 'secure-pod-defaults')) ? ['seccompProfile'] : [])
      : ['runAsUser', 'runAsGroup', 'runAsNonRoot', 'fsGroup', 'supplementalGroups', 'seccompProfile']
    e.disallowed(`${at}.securityContext`, ps.securityContext, scAllowed)
  }

  const containers = arr(ps.containers).map(obj)
  const initContainers = arr(ps.initContainers).map(obj)
  const mounted = new Set([...containers, ...initContainers].flatMap((c) => arr(c.volumeMounts).map((m) => String(obj(m).name))))
  const volumes = validateVolumes(e, arr(ps.volumes).map(obj), mounted, cfg, `${at}.volumes`)

  // validateInitContainers
  if (initContainers.length > 0) {
    if (flag(cfg, 'kubernetes.podspec-init-containers') !== 'Enabled') e.add(at, `pod spec support for init-containers is off, but found ${initContainers.length} init containers`)
    else {
      const names = new Set(containers.map((c) => c.name))
      initContainers.forEach((c, i) => {
        if (names.has(c.name)) e.add(`${at}.initContainers[${i}].name`, `duplicate container name "${String(c.name)}"`)
        for (const f of ['livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle']) if (c[f] !== undefined) e.add(`${at}.initContainers[${i}].${f}`, 'field not allowed in an init container')
        validateContainer(e, c, volumes, cfg, `${at}.initContainers[${i}]`, 'init')
      })
    }
  }

  // validateContainersPorts: at most one port across all containers; with
  // several containers exactly one.
  const portCount = containers.reduce((n, c) => n + arr(c.ports).length, 0)
  const withPort = containers.find((c) => arr(c.ports).length > 0)
  const port = obj(arr(withPort?.ports)[0])
  const portName = typeof port.name === 'string' && port.name !== '' ? port.name : 'http'
  if (portCount === 0 && containers.length > 1) e.add(`${at}.containers[*].ports`, 'missing field(s)')
  if (portCount > 1) e.add(`${at}.containers[*].ports`, 'more than one container port is set')

  if (containers.length === 0) e.add(`${at}.containers`, 'missing field(s)')
  else if (containers.length > 1 && flag(cfg, 'multi-container') !== 'Enabled') e.add(at, `multi-container is off, but found ${containers.length} containers`)
  else {
    const seen = new Set<unknown>()
    containers.forEach((c, i) => {
      const p = `${at}.containers[${i}]`
      if (containers.length > 1 && seen.has(c.name)) e.add(`${p}.name`, `duplicate container name "${String(c.name)}"`)
      seen.add(c.name)
      const isUser = containers.length === 1 || arr(c.ports).length > 0
      if (isUser) {
        // ValidateUserContainer: probes against the serving port.
        validateProbe(e, c.livenessProbe, `${p}.livenessProbe`, portName)
        validateReadinessProbe(e, c.readinessProbe, `${p}.readinessProbe`, portName)
        validateProbe(e, c.startupProbe, `${p}.startupProbe`, portName)
      } else if (flag(cfg, 'multi-container-probing') !== 'Enabled') {
        // validateSidecarContainer: probes' fields disallowed (ProbeMask of an empty probe).
        for (const f of ['livenessProbe', 'readinessProbe', 'startupProbe']) if (c[f] !== undefined) e.disallowed(`${p}.${f}`, c[f], [])
      }
      validateContainer(e, c, volumes, cfg, p, isUser ? 'user' : 'sidecar')
    })
  }
  // serviceAccountName must be a DNS-1123 subdomain.
  if (typeof ps.serviceAccountName === 'string' && ps.serviceAccountName !== '' && !isDNS1123Subdomain(ps.serviceAccountName)) e.add(`${at}.serviceAccountName`, `invalid value: ${ps.serviceAccountName}`)
}

// k8s_validation.go ValidateVolumes / validateVolume / validatePersistentVolumeClaims / validateEmptyDirFields.
function validateVolumes(e: Errors, vs: Json[], mounted: Set<string>, cfg: ServingConfig, at: string): Map<string, Json> {
  const volumes = new Map<string, Json>()
  vs.forEach((v, i) => {
    const p = `${at}[${i}]`
    const name = typeof v.name === 'string' ? v.name : ''
    if (volumes.has(name)) e.add(`${p}.name`, `duplicate volume name "${name}"`)
    if (!mounted.has(name)) e.add(`${p}.name`, `volume with name "${name}" not mounted`)
    if (name === '') e.add(`${p}.name`, 'missing field(s)')
    else if (!isDNS1123Label(name)) e.add(`${p}.name`, `invalid value: ${name}`)
    const sources = Object.keys(v).filter((k) => k !== 'name' && v[k] !== undefined && v[k] !== null)
    const allowed = ['secret', 'configMap', 'projected']
    for (const [src, key] of Object.entries(GATED_VOLUME_SOURCES)) {
      // VolumeSourceMask lets the field through unless Disabled; validateVolume
      // then requires Enabled for each of these.
      if (flag(cfg, key) !== 'Disabled') allowed.push(src)
      if (v[src] !== undefined && flag(cfg, key) !== 'Enabled') e.add(p, `${src} volume support is disabled (config-features ${key}), but found ${src} volume ${name}`)
    }
    e.disallowed(p, Object.fromEntries(sources.map((k) => [k, v[k]])), allowed)
    if (sources.length === 0) e.add(p, `expected exactly one, got neither: ${allowed.join(', ')}`)
    else if (sources.length > 1) e.add(p, `expected exactly one, got both: ${sources.join(', ')}`)
    const pvc = obj(v.persistentVolumeClaim)
    if (isObj(v.persistentVolumeClaim) && pvc.readOnly !== true && flag(cfg, 'kubernetes.podspec-persistent-volume-write') !== 'Enabled') {
      e.add(p, `Persistent volume write support is disabled, but found persistent volume claim ${String(pvc.claimName)} that is not read-only`)
    }
    if (isObj(v.emptyDir)) {
      const medium = v.emptyDir.medium
      if (medium !== undefined && medium !== '' && medium !== 'Memory') e.add(`${p}.emptyDir.medium`, `invalid value: ${String(medium)}`)
    }
    if (isObj(v.projected)) arr(v.projected.sources).forEach((source, j) => validateProjection(e, obj(source), `${p}.projected[${j}]`))
    volumes.set(name, v)
  })
  return volumes
}

// k8s_validation.go validateProjectedVolumeSource and the projections'
// validations, fieldmask.go VolumeProjectionMask and
// ServiceAccountTokenProjectionMask: a projected volume needs no flag, and a
// serviceAccountToken source is admitted by default (audience,
// expirationSeconds, path; path required). clusterTrustBundle and
// podCertificate are not carried over, so they are refused.
const PROJECTION_FIELDS = ['secret', 'configMap', 'serviceAccountToken', 'downwardAPI']
function validateProjection(e: Errors, source: Json, at: string) {
  e.disallowed(at, source, PROJECTION_FIELDS)
  const specified = PROJECTION_FIELDS.filter((k) => source[k] !== undefined && source[k] !== null)
  if (specified.length === 0) e.add(at, `expected exactly one, got neither: ${PROJECTION_FIELDS.join(', ')}`)
  else if (specified.length > 1) e.add(at, `expected exactly one, got both: ${specified.join(', ')}`)
  for (const k of ['secret', 'configMap'] as const) {
    if (!isObj(source[k])) continue
    e.disallowed(`${at}.${k}`, source[k], ['name', 'items', 'optional'])
    if (!source[k].name) e.add(`${at}.${k}.name`, 'missing field(s)')
  }
  if (isObj(source.serviceAccountToken)) {
    const token = source.serviceAccountToken
    e.disallowed(`${at}.serviceAccountToken`, token, ['audience', 'expirationSeconds', 'path'])
    if (!token.path) e.add(`${at}.serviceAccountToken.path`, 'missing field(s)')
  }
}

// k8s_validation.go validate (container), validateEnv, validateContainerPorts,
// validateSecurityContext, validateVolumeMounts.
function validateContainer(e: Errors, c: Json, volumes: Map<string, Json>, cfg: ServingConfig, at: string, kind: 'user' | 'sidecar' | 'init') {
  e.disallowed(at, c, CONTAINER_FIELDS)
  if (typeof c.name === 'string' && RESERVED_CONTAINER_NAMES.has(c.name)) e.add(`${at}.name`, `"${c.name}" is a reserved container name`)
  // Env: reserved names (PORT only for the user container), valueFrom's fieldRef gated.
  const reserved = kind === 'user' ? RESERVED_ENV : new Set([...RESERVED_ENV].filter((n) => n !== 'PORT'))
  arr(c.env).map(obj).forEach((env, i) => {
    e.disallowed(`${at}.env[${i}]`, env, ENV_FIELDS)
    if (!env.name) e.add(`${at}.env[${i}].name`, 'missing field(s)')
    else if (reserved.has(String(env.name))) e.add(`${at}.env[${i}].name`, `"${String(env.name)}" is a reserved environment variable`)
    if (isObj(env.valueFrom)) {
      const ok = ['configMapKeyRef', 'secretKeyRef']
      if (flag(cfg, 'kubernetes.podspec-fieldref') !== 'Disabled') ok.push('fieldRef', 'resourceFieldRef')
      e.disallowed(`${at}.env[${i}].valueFrom`, env.valueFrom, ok)
    }
  })
  if (typeof c.image !== 'string' || c.image === '') e.add(`${at}.image`, 'missing field(s)')
  // Ports: the first port of a serving container; every port of an init container.
  const ports = arr(c.ports).map(obj)
  const checkPort = (p: Json, path: string) => {
    e.disallowed(path, p, PORT_FIELDS)
    const n = Number(p.containerPort)
    if (RESERVED_PORTS.has(n)) e.add(`${path}.containerPort`, `${n} is a reserved port`)
    if (n < 0 || n > 65535) e.add(`${path}.containerPort`, `expected 0 <= ${n} <= 65535`)
  }
  if (kind === 'init') ports.forEach((p, i) => checkPort(p, `${at}.ports[${i}]`))
  else if (ports[0]) {
    const p = ports[0]
    checkPort(p, `${at}.ports`)
    if (p.protocol !== undefined && p.protocol !== '' && p.protocol !== 'TCP') e.add(`${at}.ports.protocol`, `invalid value: ${String(p.protocol)}`)
    if (!VALID_PORT_NAMES.has(typeof p.name === 'string' ? p.name : '')) e.add(`${at}.ports`, `Port name ${String(p.name)} is not allowed`)
  }
  if (c.resources !== undefined) e.disallowed(`${at}.resources`, c.resources, RESOURCES_FIELDS)
  if (isObj(c.securityContext)) {
    const sc = c.securityContext
    // SecurityContextMask: privileged only when false.
    e.disallowed(`${at}.securityContext`, sc, sc.privileged === false ? [...SECURITY_CONTEXT_FIELDS, 'privileged'] : SECURITY_CONTEXT_FIELDS)
    if (isObj(sc.capabilities)) {
      // CapabilitiesMask: add only with containerspec-addcapabilities Enabled
      // (or exactly NET_BIND_SERVICE under secure-pod-defaults).
      const addOk = flag(cfg, 'kubernetes.containerspec-addcapabilities') === 'Enabled' ||
        (['Enabled', 'AllowRootBounded'].includes(flag(cfg, 'secure-pod-defaults')) && JSON.stringify(sc.capabilities.add) === '["NET_BIND_SERVICE"]')
      e.disallowed(`${at}.securityContext.capabilities`, sc.capabilities, addOk ? ['drop', 'add'] : ['drop'])
    }
    for (const k of ['runAsUser', 'runAsGroup']) {
      const v = sc[k]
      if (typeof v === 'number' && (v < 0 || v > MAX_INT32)) e.add(`${at}.securityContext.${k}`, `expected 0 <= ${v} <= ${MAX_INT32}`)
    }
  }
  const tmp = c.terminationMessagePolicy
  if (tmp !== undefined && tmp !== '' && tmp !== 'File' && tmp !== 'FallbackToLogsOnError') e.add(`${at}.terminationMessagePolicy`, `invalid value: ${String(tmp)}`)
  // validateVolumeMounts
  const seenPaths = new Set<string>()
  arr(c.volumeMounts).map(obj).forEach((vm, i) => {
    const p = `${at}.volumeMounts[${i}]`
    e.disallowed(p, vm, flag(cfg, 'kubernetes.podspec-volumes-mount-propagation') !== 'Disabled' ? [...VOLUME_MOUNT_FIELDS, 'mountPropagation'] : VOLUME_MOUNT_FIELDS)
    const name = String(vm.name)
    const vol = volumes.get(name)
    if (!vol) e.add(`${p}.name`, 'volumeMount has no matching volume')
    const mp = typeof vm.mountPath === 'string' ? vm.mountPath : ''
    if (mp === '') e.add(`${p}.mountPath`, 'missing field(s)')
    else if (RESERVED_PATHS.has(cleanPath(mp))) e.add(`${p}.mountPath`, `mountPath "${cleanPath(mp)}" is a reserved path`)
    else if (!mp.startsWith('/')) e.add(`${p}.mountPath`, `invalid value: ${mp}`)
    else if (seenPaths.has(cleanPath(mp))) e.add(`${p}.mountPath`, `"${mp}" must be unique`)
    if (mp) seenPaths.add(cleanPath(mp))
    const writableKind = vol !== undefined && (vol.emptyDir !== undefined || vol.persistentVolumeClaim !== undefined || vol.ephemeral !== undefined)
    if (!writableKind && vm.readOnly !== true) e.add(`${p}.readOnly`, 'volume mount should be readOnly for this type of volume')
    if (vm.mountPropagation !== undefined) {
      if (flag(cfg, 'kubernetes.podspec-volumes-mount-propagation') !== 'Enabled') e.add(p, `Volume Mount Propagation support is disabled, but found volume mount ${name} with mount propagation`)
      if (vm.mountPropagation !== 'None' && vm.mountPropagation !== 'HostToContainer') e.add(`${p}.mountPropagation`, 'mount propagation should be set to None or HostToContainer')
    }
    if (vol && obj(vol.persistentVolumeClaim).readOnly === true && vm.readOnly !== true) e.add(`${p}.readOnly`, 'volume is readOnly but volume mount is not')
  })
}

// k8s_validation.go validateProbe: exactly one handler; a user container's
// named probe port must be the serving port's name.
function validateProbe(e: Errors, probe: unknown, at: string, portName: string) {
  if (probe === undefined || probe === null) return
  const p = obj(probe)
  e.disallowed(at, p, PROBE_FIELDS)
  const handlers = ['httpGet', 'tcpSocket', 'exec', 'grpc'].filter((h) => p[h] !== undefined && p[h] !== null)
  if (handlers.length === 0) e.add(at, 'expected exactly one, got neither: httpGet, tcpSocket, exec, grpc')
  else if (handlers.length > 1) e.add(at, `expected exactly one, got both: ${handlers.join(', ')}`)
  if (isObj(p.httpGet)) e.disallowed(`${at}.httpGet`, p.httpGet, HTTP_GET_FIELDS)
  for (const h of ['httpGet', 'tcpSocket']) {
    const port = obj(p[h]).port
    if (typeof port === 'string' && port !== '' && port !== portName) e.add(`${at}.${h}.port`, `invalid value: ${port}: Probe port must match container port`)
  }
}

// k8s_validation.go validateReadinessProbe, after revision_defaults.go
// applyReadinessProbeDefaults (successThreshold 1; with a period, failureThreshold 3 and timeoutSeconds 1).
function validateReadinessProbe(e: Errors, probe: unknown, at: string, portName: string) {
  if (probe === undefined || probe === null) return
  validateProbe(e, probe, at, portName)
  const p = { ...obj(probe) }
  const n = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : 0)
  if (n('successThreshold') === 0) p.successThreshold = 1
  if (n('periodSeconds') !== 0) {
    if (n('failureThreshold') === 0) p.failureThreshold = 3
    if (n('timeoutSeconds') === 0) p.timeoutSeconds = 1
  }
  if (n('periodSeconds') < 0) e.add(`${at}.periodSeconds`, `expected 0 <= ${n('periodSeconds')}`)
  if (n('initialDelaySeconds') < 0) e.add(`${at}.initialDelaySeconds`, `expected 0 <= ${n('initialDelaySeconds')}`)
  if (n('successThreshold') < 1) e.add(`${at}.successThreshold`, `expected 1 <= ${n('successThreshold')}`)
  if (n('periodSeconds') === 0) {
    if (n('failureThreshold') !== 0) e.add(`${at}.failureThreshold`, 'failureThreshold is disallowed when periodSeconds is zero')
    if (n('timeoutSeconds') !== 0) e.add(`${at}.timeoutSeconds`, 'timeoutSeconds is disallowed when periodSeconds is zero')
  } else {
    if (n('timeoutSeconds') < 1) e.add(`${at}.timeoutSeconds`, `expected 1 <= ${n('timeoutSeconds')}`)
    if (n('failureThreshold') < 1) e.add(`${at}.failureThreshold`, `expected 1 <= ${n('failureThreshold')}`)
  }
}
