import { createHash, randomBytes } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { encodeReleaseData } from '../../functions/check-updates/helm.ts'
import type { VaultSimulator } from '../simulators/vault/index.ts'
import type { MetricsStandIn } from '../simulators/kubernetes/metrics.ts'
import { makeCertificate, type CertificateKeyPair } from './certs.ts'

/**
 * The sandbox's demo platform: a small but realistic cluster seeded into the
 * Kubernetes and Vault simulators. Applications in `production` read their
 * credentials from Secrets that ExternalSecrets sync from Vault; databases run
 * in `databases`; every backup set of functions.md has its CronJob and recent
 * Jobs; cert-manager Certificates are in every state renew-certificate cares
 * about; snapshots and Longhorn backups span ages on both sides of retention;
 * Vault secrets carry their rotation time and interval, some of them due.
 *
 * Everything goes through the simulator's store (`store.seed`), so every
 * object passes its kind's schema. One function per namespace below.
 */

type Obj = Record<string, unknown>

export interface SeedKubernetes {
  store: { seed(obj: Obj): Obj }
  /** metrics-server's samples and the kubelets' stats summaries (the simulator's); without it none are seeded. */
  metrics?: Pick<MetricsStandIn, 'setNodeMetrics' | 'setPodMetrics' | 'setStatsSummary'>
}
export type SeedVault = Pick<VaultSimulator, 'putSecret'>

export interface SeedOptions {
  kube: SeedKubernetes
  vault: SeedVault
  /** The platform's "now": ages, expiries and schedules are relative to it. */
  now?: Date
}

export type CertificateState = 'ready' | 'expiring' | 'failed' | 'renewing'

export interface SeedSummary {
  now: string
  namespaces: string[]
  /** objects seeded per `apiVersion kind` */
  counts: Record<string, number>
  objects: Array<{ apiVersion: string, kind: string, namespace?: string, name: string }>
  vaultSecrets: Array<{ mount: string, path: string, rotatedAt: string, intervalDays: number, due: boolean }>
  externalSecrets: Array<{ namespace: string, name: string, secret: string, vaultPaths: string[] }>
  certificates: Array<{ namespace: string, name: string, state: CertificateState, notAfter?: string, secretName: string }>
  backupJobs: Array<{ namespace: string, cronJob: string, schedule: string, job: string, scheduledAt: string, outcome: 'Complete' | 'Failed' }>
  snapshots: Array<{ kind: 'VolumeSnapshot' | 'Snapshot' | 'Backup', namespace: string, name: string, createdAt: string, ageDays: number, ready: boolean, beyondRetention: boolean, protected?: boolean, inUse?: boolean }>
}

// The runbooks' figures (functions.md).
export const ROTATION_INTERVAL_DAYS = { postgres: 90, redis: 90, jwt: 180, session: 180, oidc: 365 } as const
export const RETENTION_DAYS = { volumeSnapshots: 30, longhorn: 14 } as const
export const PROTECTED_LABEL = 'caretaker.dev/protected'
export const VAULT_MOUNT = 'secret'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const iso = (d: Date): string => d.toISOString().replace(/\.\d+Z$/, 'Z')
const b64 = (s: string): string => Buffer.from(s).toString('base64')
const token = (bytes = 24): string => randomBytes(bytes).toString('base64url')
const hex = (seed: string, n: number): string => createHash('sha256').update(seed).digest('hex').slice(0, n)
const uuidFrom = (seed: string): string => { const h = hex(seed, 32); return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}` }
const GiB = 1024 ** 3

interface Ctx {
  now: Date
  ago: (ms: number) => Date
  at: (ms: number) => Date
  put: (obj: Obj) => Obj
  uid: (obj: Obj) => string
  ownerRef: (owner: Obj, controller?: boolean) => Obj
  summary: SeedSummary
  vault: SeedVault
  /** values written to Vault, by path, for the Secrets the ExternalSecrets keep in sync */
  vaultData: Map<string, Record<string, string>>
  ca: CertificateKeyPair
}

export async function seedSandbox(options: SeedOptions): Promise<SeedSummary> {
  const now = options.now ?? new Date()
  const summary: SeedSummary = { now: iso(now), namespaces: [], counts: {}, objects: [], vaultSecrets: [], externalSecrets: [], certificates: [], backupJobs: [], snapshots: [] }
  const ctx: Ctx = {
    now,
    ago: (ms) => new Date(now.getTime() - ms),
    at: (ms) => new Date(now.getTime() + ms),
    put(obj) {
      const created = options.kube.store.seed(obj)
      const m = created.metadata as { name: string, namespace?: string }
      const key = `${String(created.apiVersion)} ${String(created.kind)}`
      summary.counts[key] = (summary.counts[key] ?? 0) + 1
      summary.objects.push({ apiVersion: String(created.apiVersion), kind: String(created.kind), ...(m.namespace ? { namespace: m.namespace } : {}), name: m.name })
      if (created.kind === 'Namespace') summary.namespaces.push(m.name)
      return created
    },
    uid: (obj) => String((obj.metadata as Obj).uid),
    ownerRef: (owner, controller = true) => ({ apiVersion: owner.apiVersion, kind: owner.kind, name: (owner.metadata as Obj).name, uid: (owner.metadata as Obj).uid, controller, blockOwnerDeletion: true }),
    summary,
    vault: options.vault,
    vaultData: new Map(),
    ca: makeCertificate({ commonName: 'Caretaker Sandbox Internal CA', isCA: true, notBefore: new Date(now.getTime() - 400 * DAY), notAfter: new Date(now.getTime() + 3250 * DAY) }),
  }

  seedNamespaces(ctx)
  seedNodes(ctx)
  seedVault(ctx)
  seedClusterScoped(ctx)
  seedCaretaker(ctx)
  seedProduction(ctx)
  seedDatabases(ctx)
  seedVaultNamespace(ctx)
  seedGitea(ctx)
  seedKubeSystem(ctx)
  seedMonitoring(ctx)
  seedLonghorn(ctx)
  seedClusterHealth(ctx, options.kube)
  return summary
}

// ---------------------------------------------------------------------------
// Building blocks

function seedNamespaces(ctx: Ctx) {
  const namespaces: Record<string, Record<string, string>> = {
    'kube-system': {},
    'cert-manager': {},
    'longhorn-system': {},
    production: { environment: 'production' },
    databases: { environment: 'production', 'caretaker.dev/backups': 'enabled' },
    vault: { 'caretaker.dev/backups': 'enabled' },
    gitea: { 'caretaker.dev/backups': 'enabled' },
    monitoring: {},
    caretaker: { 'app.kubernetes.io/part-of': 'caretaker' },
  }
  for (const [name, labels] of Object.entries(namespaces)) {
    ctx.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels }, creationTimestamp: iso(ctx.ago(420 * DAY)) }, status: { phase: 'Active' } })
  }
}

function seedNodes(ctx: Ctx) {
  // worker-2's root filesystem is 91% full: the kubelet reports DiskPressure (its nodefs.available<10% eviction
  // threshold). worker-3 stopped reporting, and was cordoned for its repair.
  const nodes: Array<{ name: string, role: string, ready: boolean, diskPressure?: boolean, cordoned?: boolean }> = [
    { name: 'control-plane-1', role: 'control-plane', ready: true },
    { name: 'worker-1', role: 'worker', ready: true },
    { name: 'worker-2', role: 'worker', ready: true, diskPressure: true },
    { name: 'worker-3', role: 'worker', ready: false, cordoned: true },
  ]
  for (const n of nodes) {
    const heartbeat = iso(n.ready ? ctx.ago(20_000) : ctx.ago(47 * MINUTE))
    ctx.put({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux', [`node-role.kubernetes.io/${n.role}`]: '' }, creationTimestamp: iso(ctx.ago(410 * DAY)) },
      spec: {
        ...(n.cordoned ? { unschedulable: true } : {}),
        ...(n.ready && !n.diskPressure && !n.cordoned ? {} : {
          taints: [
            ...(n.ready ? [] : [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: heartbeat }]),
            ...(n.diskPressure ? [{ key: 'node.kubernetes.io/disk-pressure', effect: 'NoSchedule', timeAdded: iso(ctx.ago(40 * MINUTE)) }] : []),
            ...(n.cordoned ? [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: iso(ctx.ago(30 * MINUTE)) }] : []),
          ],
        }),
      },
      status: {
        capacity: { cpu: '8', memory: '32Gi', pods: '110' },
        allocatable: { cpu: '7800m', memory: '31Gi', pods: '110' },
        conditions: [
          { type: 'MemoryPressure', status: n.ready ? 'False' : 'Unknown', reason: n.ready ? 'KubeletHasSufficientMemory' : 'NodeStatusUnknown', message: n.ready ? 'kubelet has sufficient memory available' : 'Kubelet stopped posting node status.', lastHeartbeatTime: heartbeat, lastTransitionTime: iso(ctx.ago(n.ready ? 30 * DAY : 45 * MINUTE)) },
          { type: 'DiskPressure', status: !n.ready ? 'Unknown' : n.diskPressure ? 'True' : 'False', reason: !n.ready ? 'NodeStatusUnknown' : n.diskPressure ? 'KubeletHasDiskPressure' : 'KubeletHasNoDiskPressure', message: !n.ready ? 'Kubelet stopped posting node status.' : n.diskPressure ? 'kubelet has disk pressure' : 'kubelet has no disk pressure', lastHeartbeatTime: heartbeat, lastTransitionTime: iso(ctx.ago(n.diskPressure ? 40 * MINUTE : n.ready ? 30 * DAY : 45 * MINUTE)) },
          { type: 'PIDPressure', status: n.ready ? 'False' : 'Unknown', reason: n.ready ? 'KubeletHasSufficientPID' : 'NodeStatusUnknown', message: n.ready ? 'kubelet has sufficient PID available' : 'Kubelet stopped posting node status.', lastHeartbeatTime: heartbeat, lastTransitionTime: iso(ctx.ago(n.ready ? 30 * DAY : 45 * MINUTE)) },
          { type: 'Ready', status: n.ready ? 'True' : 'Unknown', reason: n.ready ? 'KubeletReady' : 'NodeStatusUnknown', message: n.ready ? 'kubelet is posting ready status' : 'Kubelet stopped posting node status.', lastHeartbeatTime: heartbeat, lastTransitionTime: iso(ctx.ago(n.ready ? 30 * DAY : 45 * MINUTE)) },
        ],
        nodeInfo: { kubeletVersion: 'v1.32.4', containerRuntimeVersion: 'containerd://1.7.27', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0-31-amd64', architecture: 'amd64', operatingSystem: 'linux', machineID: hex(n.name, 32), systemUUID: uuidFrom(n.name), bootID: uuidFrom(`${n.name}-boot`), kubeProxyVersion: 'v1.32.4' },
      },
    })
  }
}

// Vault KV v2: every credential with its rotation time and interval (custom metadata).
function seedVault(ctx: Ctx) {
  const secrets: Array<{ path: string, data: Record<string, string>, rotatedDaysAgo: number, intervalDays: number, target: string }> = [
    { path: 'databases/postgres/app', data: { username: 'app', password: token() }, rotatedDaysAgo: 104, intervalDays: ROTATION_INTERVAL_DAYS.postgres, target: 'postgres-role:app' },
    { path: 'databases/postgres/reporting', data: { username: 'reporting', password: token() }, rotatedDaysAgo: 31, intervalDays: ROTATION_INTERVAL_DAYS.postgres, target: 'postgres-role:reporting' },
    { path: 'databases/postgres/superuser', data: { username: 'postgres', password: token() }, rotatedDaysAgo: 88, intervalDays: ROTATION_INTERVAL_DAYS.postgres, target: 'postgres-role:postgres' },
    { path: 'databases/redis', data: { username: 'app', password: token() }, rotatedDaysAgo: 95, intervalDays: ROTATION_INTERVAL_DAYS.redis, target: 'redis-acl:app' },
    { path: 'production/api/jwt', data: { signingKey: token(48) }, rotatedDaysAgo: 203, intervalDays: ROTATION_INTERVAL_DAYS.jwt, target: 'generated' },
    { path: 'production/web/session', data: { sessionSecret: token(48) }, rotatedDaysAgo: 62, intervalDays: ROTATION_INTERVAL_DAYS.session, target: 'generated' },
    { path: 'production/oidc/grafana', data: { clientId: 'grafana', clientSecret: token() }, rotatedDaysAgo: 290, intervalDays: ROTATION_INTERVAL_DAYS.oidc, target: 'oidc-client:grafana' },
    { path: 'production/oidc/gitea', data: { clientId: 'gitea', clientSecret: token() }, rotatedDaysAgo: 381, intervalDays: ROTATION_INTERVAL_DAYS.oidc, target: 'oidc-client:gitea' },
  ]
  for (const s of secrets) {
    const rotatedAt = iso(ctx.ago(s.rotatedDaysAgo * DAY))
    const metadata = { 'rotated-at': rotatedAt, 'rotation-interval': `${s.intervalDays}d`, 'rotation-target': s.target, owner: 'platform-team' }
    // An earlier version first, as a secret that has been rotated before has.
    ctx.vault.putSecret(VAULT_MOUNT, s.path, Object.fromEntries(Object.keys(s.data).map((k) => [k, k === 'username' || k === 'clientId' ? s.data[k]! : token()])), metadata)
    ctx.vault.putSecret(VAULT_MOUNT, s.path, s.data, metadata)
    ctx.vaultData.set(s.path, s.data)
    ctx.summary.vaultSecrets.push({ mount: VAULT_MOUNT, path: s.path, rotatedAt, intervalDays: s.intervalDays, due: s.rotatedDaysAgo >= s.intervalDays })
  }
}

function seedClusterScoped(ctx: Ctx) {
  ctx.put(secret(ctx, 'cert-manager', 'internal-ca-key-pair', { 'tls.crt': ctx.ca.certPem, 'tls.key': ctx.ca.keyPem }, { type: 'kubernetes.io/tls' }))
  const ready = (reason: string, message: string) => ({ conditions: [{ type: 'Ready', status: 'True', reason, message, lastTransitionTime: iso(ctx.ago(300 * DAY)), observedGeneration: 1 }] })
  ctx.put({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'letsencrypt-prod' },
    spec: { acme: { server: 'https://acme-v02.api.letsencrypt.org/directory', email: 'platform@example.com', privateKeySecretRef: { name: 'letsencrypt-prod-account-key' }, solvers: [{ http01: { ingress: { ingressClassName: 'nginx' } } }] } },
    status: { ...ready('ACMEAccountRegistered', 'The ACME account was registered with the ACME server'), acme: { uri: 'https://acme-v02.api.letsencrypt.org/acme/acct/1234567890', lastRegisteredEmail: 'platform@example.com' } } })
  ctx.put({ apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: 'internal-ca' }, spec: { ca: { secretName: 'internal-ca-key-pair' } }, status: ready('KeyPairVerified', 'Signing CA verified') })
  ctx.put({ apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass', metadata: { name: 'longhorn-snapshot', annotations: { 'snapshot.storage.kubernetes.io/is-default-class': 'true' } }, driver: 'driver.longhorn.io', deletionPolicy: 'Delete', parameters: { type: 'snap' } })
  ctx.put({ apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotClass', metadata: { name: 'longhorn-backup' }, driver: 'driver.longhorn.io', deletionPolicy: 'Retain', parameters: { type: 'bak' } })
}

function secret(ctx: Ctx, namespace: string, name: string, data: Record<string, string>, opts: { type?: string, labels?: Record<string, string>, annotations?: Record<string, string>, ownerReferences?: Obj[] } = {}): Obj {
  return {
    apiVersion: 'v1', kind: 'Secret', type: opts.type ?? 'Opaque',
    metadata: { name, namespace, creationTimestamp: iso(ctx.ago(200 * DAY)), ...(opts.labels ? { labels: opts.labels } : {}), ...(opts.annotations ? { annotations: opts.annotations } : {}), ...(opts.ownerReferences ? { ownerReferences: opts.ownerReferences } : {}) },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  }
}

/** An ExternalSecret bound to Vault paths, and the Secret it keeps in sync (already synced). */
function externalSecret(ctx: Ctx, namespace: string, name: string, data: Array<{ secretKey: string, path: string, property: string }>) {
  const annotations = {}
  const labels = { 'app.kubernetes.io/managed-by': 'external-secrets' }
  const syncedAt = iso(ctx.ago(40 * MINUTE))
  const es = ctx.put({
    apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret',
    metadata: { name, namespace, labels, creationTimestamp: iso(ctx.ago(200 * DAY)) },
    spec: {
      refreshInterval: '1h',
      secretStoreRef: { kind: 'ClusterSecretStore', name: 'vault-backend' },
      target: { name, creationPolicy: 'Owner', deletionPolicy: 'Retain' },
      data: data.map((d) => ({ secretKey: d.secretKey, remoteRef: { key: d.path, property: d.property } })),
    },
    status: {
      refreshTime: syncedAt,
      // What the sandbox's external-secrets controller records once in sync.
      syncedResourceVersion: `1-${createHash('md5').update(JSON.stringify({ annotations, labels })).digest('hex')}`,
      binding: { name },
      conditions: [{ type: 'Ready', status: 'True', reason: 'SecretSynced', message: 'secret synced', lastTransitionTime: syncedAt }],
    },
  })
  const values = Object.fromEntries(data.map((d) => [d.secretKey, ctx.vaultData.get(d.path)?.[d.property] ?? '']))
  const encoded = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, b64(v)]))
  ctx.put(secret(ctx, namespace, name, values, {
    labels: { 'reconcile.external-secrets.io/created-by': hex(`${namespace}/${name}`, 40), 'reconcile.external-secrets.io/managed': 'true' },
    annotations: { 'reconcile.external-secrets.io/data-hash': createHash('md5').update(JSON.stringify(encoded)).digest('hex') },
    ownerReferences: [ctx.ownerRef(es)],
  }))
  ctx.summary.externalSecrets.push({ namespace, name, secret: name, vaultPaths: [...new Set(data.map((d) => `${VAULT_MOUNT}/${d.path}`))] })
}

interface ContainerSpec { name: string, image: string, env?: Obj[], envFrom?: Obj[], volumeMounts?: Obj[], args?: string[], command?: string[], ports?: Obj[] }

function podSpec(containers: ContainerSpec[], volumes: Obj[] = [], extra: Obj = {}): Obj {
  return {
    containers: containers.map((c) => ({ imagePullPolicy: 'IfNotPresent', resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } }, ...c })),
    ...(volumes.length ? { volumes } : {}),
    ...extra,
  }
}

const secretEnv = (name: string, secretName: string, key: string): Obj => ({ name, valueFrom: { secretKeyRef: { name: secretName, key } } })

function deployment(ctx: Ctx, namespace: string, name: string, replicas: number, spec: Obj, opts: { annotations?: Record<string, string>, ready?: number, revision?: number } = {}): Obj {
  const labels = { 'app.kubernetes.io/name': name }
  const ready = opts.ready ?? replicas
  return ctx.put({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace, labels, annotations: { 'deployment.kubernetes.io/revision': String(opts.revision ?? 1), ...opts.annotations }, creationTimestamp: iso(ctx.ago(180 * DAY)) },
    spec: { replicas, revisionHistoryLimit: 2, selector: { matchLabels: labels }, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, template: { metadata: { labels }, spec } },
    status: {
      observedGeneration: 1, replicas, updatedReplicas: replicas, readyReplicas: ready, availableReplicas: ready, ...(ready < replicas ? { unavailableReplicas: replicas - ready } : {}),
      conditions: [
        { type: 'Available', status: ready >= Math.ceil(replicas * 0.75) ? 'True' : 'False', reason: ready >= Math.ceil(replicas * 0.75) ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable', message: ready >= Math.ceil(replicas * 0.75) ? 'Deployment has minimum availability.' : 'Deployment does not have minimum availability.', lastUpdateTime: iso(ctx.ago(2 * HOUR)), lastTransitionTime: iso(ctx.ago(2 * HOUR)) },
        { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable', message: `ReplicaSet "${name}-${hex(`${name}${opts.revision ?? 1}`, 10)}" has successfully progressed.`, lastUpdateTime: iso(ctx.ago(2 * HOUR)), lastTransitionTime: iso(ctx.ago(30 * DAY)) },
      ],
    },
  })
}

/** The Deployment's ReplicaSets: the current one and older revisions scaled to zero. */
function replicaSets(ctx: Ctx, dep: Obj, revisions: number) {
  const m = dep.metadata as { name: string, namespace: string }
  const spec = dep.spec as { replicas: number, template: Obj, selector: Obj }
  for (let rev = 1; rev <= revisions; rev++) {
    const current = rev === revisions
    const hash = hex(`${m.name}${rev}`, 10)
    ctx.put({
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name: `${m.name}-${hash}`, namespace: m.namespace, labels: { 'app.kubernetes.io/name': m.name, 'pod-template-hash': hash }, annotations: { 'deployment.kubernetes.io/revision': String(rev), 'deployment.kubernetes.io/desired-replicas': String(spec.replicas) }, ownerReferences: [ctx.ownerRef(dep)], creationTimestamp: iso(ctx.ago((revisions - rev + 1) * 20 * DAY)) },
      spec: { replicas: current ? spec.replicas : 0, selector: { matchLabels: { 'app.kubernetes.io/name': m.name, 'pod-template-hash': hash } }, template: spec.template },
      status: { replicas: current ? spec.replicas : 0, ...(current ? { readyReplicas: spec.replicas, availableReplicas: spec.replicas } : {}), observedGeneration: 1 },
    })
  }
}

function pod(ctx: Ctx, namespace: string, name: string, app: string, node: string, state: 'running' | 'crashloop', spec: Obj) {
  const started = iso(ctx.ago(state === 'running' ? 2 * DAY : 3 * HOUR))
  const containers = (spec.containers as Array<{ name: string, image: string }>).map((c) => ({
    name: c.name, image: c.image, imageID: `${c.image}@sha256:${hex(c.image, 64)}`, containerID: `containerd://${hex(name + c.name, 64)}`,
    ready: state === 'running', started: state === 'running', restartCount: state === 'running' ? 0 : 14,
    state: state === 'running' ? { running: { startedAt: started } } : { waiting: { reason: 'CrashLoopBackOff', message: `back-off 5m0s restarting failed container=${c.name} pod=${name}` } },
    ...(state === 'crashloop' ? { lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: iso(ctx.ago(7 * MINUTE)), finishedAt: iso(ctx.ago(6 * MINUTE)) } } } : {}),
  }))
  ctx.put({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/name': app }, creationTimestamp: started },
    spec: { ...spec, nodeName: node, restartPolicy: 'Always' },
    status: {
      phase: 'Running', hostIP: '10.0.0.21', podIP: `10.244.${name.length}.${name.charCodeAt(name.length - 1) % 250}`, startTime: started,
      conditions: [{ type: 'Ready', status: state === 'running' ? 'True' : 'False', lastTransitionTime: started, ...(state === 'running' ? {} : { reason: 'ContainersNotReady', message: 'containers with unready status: [worker]' }) }],
      containerStatuses: containers,
    },
  })
}

function statefulSet(ctx: Ctx, namespace: string, name: string, replicas: number, spec: Obj, storage: string): Obj {
  const labels = { 'app.kubernetes.io/name': name }
  return ctx.put({
    apiVersion: 'apps/v1', kind: 'StatefulSet',
    metadata: { name, namespace, labels, creationTimestamp: iso(ctx.ago(300 * DAY)) },
    spec: {
      replicas, serviceName: name, selector: { matchLabels: labels }, podManagementPolicy: 'OrderedReady', updateStrategy: { type: 'RollingUpdate' },
      template: { metadata: { labels }, spec },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'longhorn', resources: { requests: { storage } } } }],
    },
    status: { observedGeneration: 1, replicas, readyReplicas: replicas, currentReplicas: replicas, updatedReplicas: replicas, availableReplicas: replicas, currentRevision: `${name}-${hex(name, 10)}`, updateRevision: `${name}-${hex(name, 10)}` },
  })
}

function service(ctx: Ctx, namespace: string, name: string, port: number, headless = false) {
  ctx.put({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, labels: { 'app.kubernetes.io/name': name }, creationTimestamp: iso(ctx.ago(300 * DAY)) }, spec: { selector: { 'app.kubernetes.io/name': name }, ports: [{ name: 'main', port, targetPort: port, protocol: 'TCP' }], type: 'ClusterIP', ...(headless ? { clusterIP: 'None' } : {}) } })
}

function pvc(ctx: Ctx, namespace: string, name: string, storage: string, opts: { volumeName?: string, dataSource?: Obj, ageDays?: number } = {}) {
  ctx.put({
    apiVersion: 'v1', kind: 'PersistentVolumeClaim',
    metadata: { name, namespace, annotations: { 'pv.kubernetes.io/bind-completed': 'yes', 'volume.kubernetes.io/storage-provisioner': 'driver.longhorn.io' }, finalizers: ['kubernetes.io/pvc-protection'], creationTimestamp: iso(ctx.ago((opts.ageDays ?? 300) * DAY)) },
    spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'longhorn', volumeMode: 'Filesystem', resources: { requests: { storage } }, volumeName: opts.volumeName ?? `pvc-${uuidFrom(`${namespace}/${name}`)}`, ...(opts.dataSource ? { dataSource: opts.dataSource } : {}) },
    status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage } },
  })
}

const volumeName = (namespace: string, claim: string) => `pvc-${uuidFrom(`${namespace}/${claim}`)}`

/** A backup CronJob with its last runs as Jobs it owns; `runs` are schedule ticks, newest first. */
function backupCronJob(ctx: Ctx, namespace: string, name: string, schedule: { cron: string, hour: number, minute: number, weekday?: number }, container: ContainerSpec, volumes: Obj[], outcomes: Array<'Complete' | 'Failed'>) {
  const ticks: Date[] = []
  for (let t = Date.UTC(ctx.now.getUTCFullYear(), ctx.now.getUTCMonth(), ctx.now.getUTCDate(), schedule.hour, schedule.minute); ticks.length < outcomes.length; t -= DAY) {
    const d = new Date(t)
    if (d <= ctx.now && (schedule.weekday === undefined || d.getUTCDay() === schedule.weekday)) ticks.push(d)
  }
  const lastOk = ticks.find((_, i) => outcomes[i] === 'Complete')
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': 'backup' }
  const jobTemplate = { metadata: { labels }, spec: { backoffLimit: 1, activeDeadlineSeconds: 3600, template: { metadata: { labels }, spec: podSpec([container], volumes, { restartPolicy: 'OnFailure' }) } } }
  const cj = ctx.put({
    apiVersion: 'batch/v1', kind: 'CronJob',
    metadata: { name, namespace, labels, creationTimestamp: iso(ctx.ago(300 * DAY)) },
    spec: { schedule: schedule.cron, timeZone: 'Etc/UTC', concurrencyPolicy: 'Forbid', successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1, startingDeadlineSeconds: 600, jobTemplate },
    status: { lastScheduleTime: iso(ticks[0]!), ...(lastOk ? { lastSuccessfulTime: iso(new Date(lastOk.getTime() + 4 * MINUTE)) } : {}) },
  })
  ticks.forEach((tick, i) => {
    const outcome = outcomes[i]!
    const job = `${name}-${Math.floor(tick.getTime() / MINUTE)}`
    const start = new Date(tick.getTime() + 2_000)
    const end = new Date(tick.getTime() + (outcome === 'Complete' ? 4 * MINUTE : 9 * MINUTE))
    const status = outcome === 'Complete'
      ? { startTime: iso(start), completionTime: iso(end), succeeded: 1, ready: 0, terminating: 0, uncountedTerminatedPods: {}, conditions: [
          { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: iso(end), lastTransitionTime: iso(end) },
          { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: iso(end), lastTransitionTime: iso(end) }] }
      : { startTime: iso(start), failed: 2, ready: 0, terminating: 0, uncountedTerminatedPods: {}, conditions: [
          { type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: iso(end), lastTransitionTime: iso(end) },
          { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: iso(end), lastTransitionTime: iso(end) }] }
    ctx.put({
      apiVersion: 'batch/v1', kind: 'Job',
      metadata: { name: job, namespace, labels: { ...labels, 'batch.kubernetes.io/job-name': job }, annotations: { 'batch.kubernetes.io/cronjob-scheduled-timestamp': iso(tick) }, ownerReferences: [ctx.ownerRef(cj)], creationTimestamp: iso(tick) },
      spec: { ...jobTemplate.spec, completions: 1, parallelism: 1 },
      status,
    })
    ctx.summary.backupJobs.push({ namespace, cronJob: name, schedule: schedule.cron, job, scheduledAt: iso(tick), outcome })
  })
}

/** A cert-manager Certificate in one of the states renew-certificate distinguishes, with its Secret where one exists. */
function certificate(ctx: Ctx, namespace: string, name: string, state: CertificateState, issuer: { kind: 'Issuer' | 'ClusterIssuer', name: string }, dnsNames: string[]) {
  const durationDays = 90
  const renewBeforeDays = state === 'expiring' ? 3 : 30
  const notAfter = { ready: ctx.at(62 * DAY), expiring: ctx.at(4 * DAY), renewing: ctx.at(10 * DAY), failed: undefined }[state]
  const notBefore = notAfter && new Date(notAfter.getTime() - durationDays * DAY)
  const renewalTime = notAfter && new Date(notAfter.getTime() - renewBeforeDays * DAY)
  const since = iso(ctx.ago(20 * DAY))
  const conditions = {
    ready: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: since, observedGeneration: 1 }],
    expiring: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: since, observedGeneration: 1 }],
    renewing: [
      { type: 'Ready', status: 'True', reason: 'Ready', message: 'Certificate is up to date and has not expired', lastTransitionTime: since, observedGeneration: 1 },
      { type: 'Issuing', status: 'True', reason: 'Renewing', message: `Renewing certificate as renewal was scheduled at ${renewalTime?.toISOString().replace(/\.\d+Z$/, ' +0000 UTC').replace('T', ' ')}`, lastTransitionTime: iso(ctx.ago(20 * MINUTE)), observedGeneration: 1 },
    ],
    failed: [
      { type: 'Ready', status: 'False', reason: 'DoesNotExist', message: 'Issuing certificate as Secret does not exist', lastTransitionTime: iso(ctx.ago(26 * HOUR)), observedGeneration: 1 },
      { type: 'Issuing', status: 'False', reason: 'Failed', message: `The certificate request has failed to complete and will be retried: Failed to wait for order resource "${name}-1-3051985112" to become ready: order is in "errored" state: Failed to create Order: 429 urn:ietf:params:acme:error:rateLimited: too many certificates already issued for exact set of domains`, lastTransitionTime: iso(ctx.ago(2 * HOUR)), observedGeneration: 1 },
    ],
  }[state]
  const secretName = name
  ctx.put({
    apiVersion: 'cert-manager.io/v1', kind: 'Certificate',
    metadata: { name, namespace, creationTimestamp: iso(ctx.ago(state === 'failed' ? 26 * HOUR : 200 * DAY)) },
    spec: { secretName, issuerRef: { group: 'cert-manager.io', ...issuer }, dnsNames, commonName: dnsNames[0], duration: `${durationDays * 24}h0m0s`, renewBefore: `${renewBeforeDays * 24}h0m0s`, privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' }, usages: ['digital signature', 'key encipherment', 'server auth'] },
    status: {
      conditions,
      ...(notAfter ? { notBefore: iso(notBefore!), notAfter: iso(notAfter), renewalTime: iso(renewalTime!), revision: 3 } : {}),
      ...(state === 'failed' ? { failedIssuanceAttempts: 3, lastFailureTime: iso(ctx.ago(2 * HOUR)) } : {}),
      ...(state === 'renewing' ? { nextPrivateKeySecretName: `${name}-${hex(name, 5)}` } : {}),
    },
  })
  if (notAfter) {
    const cert = makeCertificate({ commonName: dnsNames[0]!, dnsNames, notBefore: notBefore!, notAfter, issuer: ctx.ca })
    ctx.put(secret(ctx, namespace, secretName, { 'tls.crt': cert.certPem + ctx.ca.certPem, 'tls.key': cert.keyPem, 'ca.crt': ctx.ca.certPem }, {
      type: 'kubernetes.io/tls',
      labels: { 'controller.cert-manager.io/fao': 'true' },
      annotations: { 'cert-manager.io/certificate-name': name, 'cert-manager.io/issuer-name': issuer.name, 'cert-manager.io/issuer-kind': issuer.kind, 'cert-manager.io/issuer-group': 'cert-manager.io', 'cert-manager.io/common-name': dnsNames[0]!, 'cert-manager.io/alt-names': dnsNames.join(',') },
    }))
  }
  ctx.summary.certificates.push({ namespace, name, state, ...(notAfter ? { notAfter: iso(notAfter) } : {}), secretName })
}

// ---------------------------------------------------------------------------
// Namespaces

function seedCaretaker(ctx: Ctx) {
  for (const fn of ['verify-backup', 'rotate-secret', 'prune-snapshots', 'clean-up-resources', 'respond-to-alert', 'renew-certificate', 'health-report', 'notify', 'maintain-databases', 'check-updates', 'back-up-configuration']) {
    ctx.put({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: fn, namespace: 'caretaker', labels: { 'app.kubernetes.io/part-of': 'caretaker' } } })
  }
  ctx.put(secret(ctx, 'caretaker', 'vault-token', { token: 'sandbox-external-secrets-token' }))
  ctx.put({
    apiVersion: 'external-secrets.io/v1', kind: 'ClusterSecretStore', metadata: { name: 'vault-backend' },
    spec: { provider: { vault: { server: 'http://vault.vault.svc:8200', path: VAULT_MOUNT, version: 'v2', auth: { tokenSecretRef: { name: 'vault-token', namespace: 'caretaker', key: 'token' } } } } },
    status: { capabilities: 'ReadWrite', conditions: [{ type: 'Ready', status: 'True', reason: 'Valid', message: 'store validated', lastTransitionTime: iso(ctx.ago(200 * DAY)) }] },
  })
}

function seedProduction(ctx: Ctx) {
  const ns = 'production'
  externalSecret(ctx, ns, 'api-db-credentials', [{ secretKey: 'username', path: 'databases/postgres/app', property: 'username' }, { secretKey: 'password', path: 'databases/postgres/app', property: 'password' }])
  externalSecret(ctx, ns, 'api-jwt', [{ secretKey: 'JWT_SIGNING_KEY', path: 'production/api/jwt', property: 'signingKey' }])
  externalSecret(ctx, ns, 'web-session', [{ secretKey: 'SESSION_SECRET', path: 'production/web/session', property: 'sessionSecret' }, { secretKey: 'OIDC_CLIENT_SECRET', path: 'production/oidc/grafana', property: 'clientSecret' }])
  externalSecret(ctx, ns, 'worker-redis', [{ secretKey: 'password', path: 'databases/redis', property: 'password' }])

  ctx.put({ apiVersion: 'cert-manager.io/v1', kind: 'Issuer', metadata: { name: 'production-ca', namespace: ns }, spec: { ca: { secretName: 'production-ca-key-pair' } },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KeyPairVerified', message: 'Signing CA verified', lastTransitionTime: iso(ctx.ago(300 * DAY)), observedGeneration: 1 }] } })
  ctx.put(secret(ctx, ns, 'production-ca-key-pair', { 'tls.crt': ctx.ca.certPem, 'tls.key': ctx.ca.keyPem }, { type: 'kubernetes.io/tls' }))
  certificate(ctx, ns, 'api-tls', 'ready', { kind: 'Issuer', name: 'production-ca' }, ['api.example.com'])
  certificate(ctx, ns, 'web-tls', 'expiring', { kind: 'ClusterIssuer', name: 'letsencrypt-prod' }, ['www.example.com', 'example.com'])
  certificate(ctx, ns, 'admin-tls', 'failed', { kind: 'ClusterIssuer', name: 'letsencrypt-prod' }, ['admin.example.com'])

  // Consumers of those Secrets in all three ways: env secretKeyRef, envFrom, a mounted volume.
  const reload = { 'reloader.stakater.com/auto': 'true' }
  const apiSpec = podSpec([{
    name: 'api', image: 'registry.example.com/api:2.14.1', ports: [{ containerPort: 8080, name: 'http' }],
    env: [{ name: 'DATABASE_HOST', value: 'postgres.databases.svc' }, secretEnv('DATABASE_USER', 'api-db-credentials', 'username'), secretEnv('DATABASE_PASSWORD', 'api-db-credentials', 'password')],
    envFrom: [{ secretRef: { name: 'api-jwt' } }],
    volumeMounts: [{ name: 'tls', mountPath: '/etc/tls', readOnly: true }],
  }], [{ name: 'tls', secret: { secretName: 'api-tls' } }])
  const api = deployment(ctx, ns, 'api', 3, apiSpec, { annotations: reload, revision: 5 })
  replicaSets(ctx, api, 5)
  const webSpec = podSpec([{ name: 'web', image: 'registry.example.com/web:4.2.0', ports: [{ containerPort: 3000, name: 'http' }], envFrom: [{ secretRef: { name: 'web-session' } }], volumeMounts: [{ name: 'tls', mountPath: '/etc/tls', readOnly: true }] }], [{ name: 'tls', secret: { secretName: 'web-tls' } }])
  const web = deployment(ctx, ns, 'web', 2, webSpec, { annotations: reload, revision: 2 })
  replicaSets(ctx, web, 2)
  const workerSpec = podSpec([{ name: 'worker', image: 'registry.example.com/worker:2.14.1', env: [{ name: 'REDIS_HOST', value: 'redis.databases.svc' }, secretEnv('REDIS_PASSWORD', 'worker-redis', 'password'), secretEnv('DATABASE_PASSWORD', 'api-db-credentials', 'password')], volumeMounts: [{ name: 'db', mountPath: '/var/run/secrets/db', readOnly: true }] }], [{ name: 'db', secret: { secretName: 'api-db-credentials', items: [{ key: 'password', path: 'password' }] } }])
  const worker = deployment(ctx, ns, 'worker', 2, workerSpec, { ready: 1, revision: 3 })
  replicaSets(ctx, worker, 3)
  service(ctx, ns, 'api', 8080)
  service(ctx, ns, 'web', 3000)
  pod(ctx, ns, `api-${hex('api5', 10)}-x7k2p`, 'api', 'worker-1', 'running', apiSpec)
  pod(ctx, ns, `api-${hex('api5', 10)}-m4q9z`, 'api', 'worker-2', 'running', apiSpec)
  pod(ctx, ns, `api-${hex('api5', 10)}-b8w3n`, 'api', 'worker-1', 'running', apiSpec)
  pod(ctx, ns, `web-${hex('web2', 10)}-t5v6c`, 'web', 'worker-2', 'running', webSpec)
  pod(ctx, ns, `worker-${hex('worker3', 10)}-h2d8s`, 'worker', 'worker-1', 'running', workerSpec)
  pod(ctx, ns, `worker-${hex('worker3', 10)}-q9l4f`, 'worker', 'worker-2', 'crashloop', workerSpec)
  // A finished one-off Job long past any TTL, owned by nobody (clean-up-resources).
  const done = ctx.ago(52 * DAY)
  ctx.put({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'db-migrate-2-14-0', namespace: ns, labels: { 'app.kubernetes.io/name': 'db-migrate' }, creationTimestamp: iso(new Date(done.getTime() - 3 * MINUTE)) },
    spec: { backoffLimit: 0, template: { spec: podSpec([{ name: 'migrate', image: 'registry.example.com/api:2.14.0', command: ['/app/migrate', 'up'] }], [], { restartPolicy: 'Never' }) } },
    status: { startTime: iso(new Date(done.getTime() - 3 * MINUTE)), completionTime: iso(done), succeeded: 1, conditions: [{ type: 'Complete', status: 'True', lastProbeTime: iso(done), lastTransitionTime: iso(done) }] } })
}

function seedDatabases(ctx: Ctx) {
  const ns = 'databases'
  externalSecret(ctx, ns, 'postgres-credentials', [{ secretKey: 'POSTGRES_PASSWORD', path: 'databases/postgres/superuser', property: 'password' }, { secretKey: 'APP_PASSWORD', path: 'databases/postgres/app', property: 'password' }, { secretKey: 'REPORTING_PASSWORD', path: 'databases/postgres/reporting', property: 'password' }])
  externalSecret(ctx, ns, 'redis-credentials', [{ secretKey: 'REDIS_PASSWORD', path: 'databases/redis', property: 'password' }])
  certificate(ctx, ns, 'postgres-tls', 'renewing', { kind: 'ClusterIssuer', name: 'internal-ca' }, ['postgres.databases.svc', 'postgres.databases.svc.cluster.local'])

  const pgSpec = podSpec([{ name: 'postgres', image: 'postgres:15.18', ports: [{ containerPort: 5432, name: 'postgres' }], env: [secretEnv('POSTGRES_PASSWORD', 'postgres-credentials', 'POSTGRES_PASSWORD'), { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' }], volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }, { name: 'tls', mountPath: '/etc/postgres/tls', readOnly: true }] }], [{ name: 'tls', secret: { secretName: 'postgres-tls', defaultMode: 384 } }])
  statefulSet(ctx, ns, 'postgres', 1, pgSpec, '20Gi')
  const redisSpec = podSpec([{ name: 'redis', image: 'redis:7.0.15', ports: [{ containerPort: 6379, name: 'redis' }], args: ['--requirepass', '$(REDIS_PASSWORD)', '--appendonly', 'yes'], envFrom: [{ secretRef: { name: 'redis-credentials' } }], volumeMounts: [{ name: 'data', mountPath: '/data' }] }])
  statefulSet(ctx, ns, 'redis', 2, redisSpec, '5Gi')
  service(ctx, ns, 'postgres', 5432)
  service(ctx, ns, 'redis', 6379)
  pvc(ctx, ns, 'data-postgres-0', '20Gi')
  pvc(ctx, ns, 'data-redis-0', '5Gi')
  pvc(ctx, ns, 'data-redis-1', '5Gi')
  pvc(ctx, ns, 'data-postgres-old-0', '20Gi', { ageDays: 400 }) // used by no Pod since the upgrade

  const backupVolume = { name: 'backups', persistentVolumeClaim: { claimName: 'backups' } }
  pvc(ctx, ns, 'backups', '200Gi')
  backupCronJob(ctx, ns, 'postgres-backup', { cron: '0 2 * * *', hour: 2, minute: 0 },
    { name: 'pg-dumpall', image: 'postgres:15.18', command: ['/bin/sh', '-c', 'pg_dumpall -h postgres | gzip > /backups/postgres/all_databases_$(date +%Y%m%d_%H%M%S).sql.gz'], env: [secretEnv('PGPASSWORD', 'postgres-credentials', 'POSTGRES_PASSWORD'), { name: 'PGUSER', value: 'postgres' }], volumeMounts: [{ name: 'backups', mountPath: '/backups' }] },
    [backupVolume], ['Complete', 'Complete', 'Complete'])
  backupCronJob(ctx, ns, 'redis-backup', { cron: '30 1 * * *', hour: 1, minute: 30 },
    { name: 'redis-save', image: 'redis:7.0.15', command: ['/bin/sh', '-c', 'redis-cli -h redis --rdb /backups/redis/dump_$(date +%Y%m%d_%H%M%S).rdb'], env: [secretEnv('REDISCLI_AUTH', 'redis-credentials', 'REDIS_PASSWORD')], volumeMounts: [{ name: 'backups', mountPath: '/backups' }] },
    [backupVolume], ['Failed', 'Complete', 'Complete'])

  // CSI snapshots of the PostgreSQL volume, hourly-ish to two months old.
  const claim = 'data-postgres-0'
  const snapshots: Array<{ ageHours: number, ready?: boolean, protect?: boolean, suffix?: string }> = [
    { ageHours: 0.1, ready: false },
    { ageHours: 12 }, { ageHours: 36 }, { ageHours: 60 }, { ageHours: 156 }, { ageHours: 324 }, { ageHours: 492 }, { ageHours: 708 },
    { ageHours: 852 }, { ageHours: 1092 }, { ageHours: 1452 },
    { ageHours: 2160, protect: true, suffix: 'pre-upgrade-15' },
  ]
  let restoredFrom = ''
  for (const s of snapshots) {
    const created = ctx.ago(s.ageHours * HOUR)
    const stamp = created.toISOString().replace(/[-:]/g, '').slice(0, 13).replace('T', '-').toLowerCase()
    const name = `postgres-data-${s.suffix ?? stamp}`
    const ready = s.ready !== false
    const vs = ctx.put({
      apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot',
      metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/name': 'postgres', ...(s.protect ? { [PROTECTED_LABEL]: 'true' } : {}) }, finalizers: ['snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection', 'snapshot.storage.kubernetes.io/volumesnapshot-bound-protection'], creationTimestamp: iso(created) },
      spec: { source: { persistentVolumeClaimName: claim }, volumeSnapshotClassName: 'longhorn-snapshot' },
      status: { boundVolumeSnapshotContentName: `snapcontent-${uuidFrom(name)}`, readyToUse: ready, ...(ready ? { creationTime: iso(created), restoreSize: '20Gi' } : {}) },
    })
    ctx.put({
      apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshotContent',
      metadata: { name: `snapcontent-${uuidFrom(name)}`, finalizers: ['snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection'], creationTimestamp: iso(created) },
      spec: { deletionPolicy: 'Delete', driver: 'driver.longhorn.io', source: { volumeHandle: volumeName(ns, claim) }, volumeSnapshotClassName: 'longhorn-snapshot', volumeSnapshotRef: { apiVersion: 'snapshot.storage.k8s.io/v1', kind: 'VolumeSnapshot', name, namespace: ns, uid: ctx.uid(vs) } },
      status: { readyToUse: ready, snapshotHandle: `snap://${volumeName(ns, claim)}/snapshot-${uuidFrom(name)}`, ...(ready ? { creationTime: created.getTime() * 1_000_000, restoreSize: 20 * GiB } : {}) },
    })
    if (s.ageHours === 852) restoredFrom = name
    const ageDays = Math.round((s.ageHours / 24) * 10) / 10
    ctx.summary.snapshots.push({ kind: 'VolumeSnapshot', namespace: ns, name, createdAt: iso(created), ageDays, ready, beyondRetention: ageDays > RETENTION_DAYS.volumeSnapshots, ...(s.protect ? { protected: true } : {}), ...(s.ageHours === 852 ? { inUse: true } : {}) })
  }
  // A restore test volume provisioned from an old snapshot: that snapshot must stay.
  pvc(ctx, ns, 'postgres-restore-check', '20Gi', { ageDays: 2, dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: restoredFrom } })
}

function seedVaultNamespace(ctx: Ctx) {
  const ns = 'vault'
  const spec = podSpec([{ name: 'vault', image: 'hashicorp/vault:1.19.0', args: ['server'], ports: [{ containerPort: 8200, name: 'http' }, { containerPort: 8201, name: 'cluster' }], volumeMounts: [{ name: 'data', mountPath: '/vault/data' }] }])
  statefulSet(ctx, ns, 'vault', 3, spec, '10Gi')
  service(ctx, ns, 'vault', 8200)
  for (const i of [0, 1, 2]) pvc(ctx, ns, `data-vault-${i}`, '10Gi')
  pvc(ctx, ns, 'vault-snapshots', '20Gi')
  backupCronJob(ctx, ns, 'vault-backup', { cron: '0 2 * * *', hour: 2, minute: 0 },
    { name: 'raft-snapshot', image: 'hashicorp/vault:1.19.0', command: ['/bin/sh', '-c', 'vault operator raft snapshot save /backups/vault/vault_$(date +%Y%m%d_%H%M%S).snap'], env: [{ name: 'VAULT_ADDR', value: 'http://vault.vault.svc:8200' }], volumeMounts: [{ name: 'backups', mountPath: '/backups' }] },
    [{ name: 'backups', persistentVolumeClaim: { claimName: 'vault-snapshots' } }], ['Complete', 'Complete', 'Complete'])
}

function seedGitea(ctx: Ctx) {
  const ns = 'gitea'
  const spec = podSpec([{ name: 'gitea', image: 'gitea/gitea:1.23.4', ports: [{ containerPort: 3000, name: 'http' }], env: [{ name: 'GITEA__database__HOST', value: 'postgres.databases.svc:5432' }], volumeMounts: [{ name: 'data', mountPath: '/data' }] }], [{ name: 'data', persistentVolumeClaim: { claimName: 'gitea-data' } }])
  const gitea = deployment(ctx, ns, 'gitea', 1, spec, { revision: 1 })
  replicaSets(ctx, gitea, 1)
  service(ctx, ns, 'gitea', 3000)
  pvc(ctx, ns, 'gitea-data', '10Gi')
  backupCronJob(ctx, ns, 'gitea-backup', { cron: '0 4 * * 0', hour: 4, minute: 0, weekday: 0 },
    { name: 'bundle', image: 'alpine/git:2.47.2', command: ['/bin/sh', '-c', 'for r in /data/git/repositories/*/*.git; do git -C "$r" bundle create /backups/gitea/gitea_$(date +%Y%m%d_%H%M%S).bundle --all; done'], volumeMounts: [{ name: 'data', mountPath: '/data', readOnly: true }] },
    [{ name: 'data', persistentVolumeClaim: { claimName: 'gitea-data' } }], ['Complete', 'Complete'])
}

/**
 * A Helm 3 release record, as Helm's Secret driver writes it (check-updates
 * reads these): one Secret per revision, the release JSON gzipped and
 * base64-encoded in `data.release`.
 */
function helmRelease(ctx: Ctx, namespace: string, name: string, revision: number, status: string, chart: { name: string, version: string, appVersion: string }) {
  const release = {
    name, namespace, version: revision,
    info: { first_deployed: iso(ctx.ago(200 * DAY)), last_deployed: iso(ctx.ago(40 * DAY)), deleted: '', description: status === 'deployed' ? 'Upgrade complete' : 'Superseded', status },
    chart: { metadata: { apiVersion: 'v2', name: chart.name, version: chart.version, appVersion: chart.appVersion, type: 'application' }, templates: [], values: {} },
    config: {}, manifest: '',
  }
  const obj = {
    apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1',
    metadata: { name: `sh.helm.release.v1.${name}.v${revision}`, namespace, creationTimestamp: iso(ctx.ago(40 * DAY)), labels: { owner: 'helm', name, status, version: String(revision) } },
    data: { release: encodeReleaseData(release, (b) => gzipSync(b, { level: 9 })) },
  }
  ctx.put(obj)
}

function seedKubeSystem(ctx: Ctx) {
  // K3s installs Traefik with Helm; one upgrade behind the demo chart repository (sandbox/platform/chart-repository).
  helmRelease(ctx, 'kube-system', 'traefik', 1, 'superseded', { name: 'traefik', version: '32.1.1', appVersion: 'v3.1.6' })
  helmRelease(ctx, 'kube-system', 'traefik', 2, 'deployed', { name: 'traefik', version: '33.0.0', appVersion: 'v3.2.0' })
  backupCronJob(ctx, 'kube-system', 'etcd-backup', { cron: '0 1 * * *', hour: 1, minute: 0 },
    { name: 'etcdctl', image: 'registry.k8s.io/etcd:3.5.21-0', command: ['/bin/sh', '-c', 'etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key snapshot save /backups/etcd/etcd_$(date +%Y%m%d_%H%M%S).db'], volumeMounts: [{ name: 'pki', mountPath: '/etc/kubernetes/pki/etcd', readOnly: true }, { name: 'backups', mountPath: '/backups' }] },
    [{ name: 'pki', hostPath: { path: '/etc/kubernetes/pki/etcd', type: 'Directory' } }, { name: 'backups', hostPath: { path: '/var/backups', type: 'DirectoryOrCreate' } }], ['Complete', 'Complete', 'Complete'])
}

function seedMonitoring(ctx: Ctx) {
  // An ExternalSecret that has not synced for two days: its Vault path does not exist (health-report's NotReady:SecretSyncedError).
  // Not one of summary.externalSecrets, which lists the synced ones.
  const failedAt = iso(ctx.ago(2 * DAY))
  ctx.put({
    apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret',
    metadata: { name: 'grafana-admin', namespace: 'monitoring', labels: { 'app.kubernetes.io/managed-by': 'external-secrets' }, creationTimestamp: iso(ctx.ago(30 * DAY)) },
    spec: {
      refreshInterval: '1h',
      secretStoreRef: { kind: 'ClusterSecretStore', name: 'vault-backend' },
      target: { name: 'grafana-admin', creationPolicy: 'Owner', deletionPolicy: 'Retain' },
      data: [{ secretKey: 'admin-password', remoteRef: { key: 'monitoring/grafana/admin', property: 'password' } }],
    },
    status: {
      refreshTime: null,
      conditions: [{ type: 'Ready', status: 'False', reason: 'SecretSyncedError', message: 'could not get secret data from provider', lastTransitionTime: failedAt }],
    },
  })
  helmRelease(ctx, 'monitoring', 'grafana', 5, 'deployed', { name: 'grafana', version: '8.5.2', appVersion: '11.3.0' })
  const rule = (name: string, groups: Obj[]) => ctx.put({ apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name, namespace: 'monitoring', labels: { release: 'kube-prometheus-stack', 'app.kubernetes.io/part-of': 'caretaker' } }, spec: { groups } })
  rule('caretaker-backups', [{
    name: 'backups',
    rules: [
      { alert: 'BackupJobFailed', expr: 'kube_job_status_failed{job_name=~".*-backup-.*"} > 0', for: '5m', labels: { severity: 'warning' }, annotations: { summary: 'Backup Job {{ $labels.namespace }}/{{ $labels.job_name }} failed', runbook_url: 'https://runbooks.example.com/backups#job-failed' } },
      { alert: 'BackupTooOld', expr: 'time() - caretaker_backup_newest_artifact_timestamp_seconds > caretaker_backup_rpo_seconds', for: '30m', labels: { severity: 'critical' }, annotations: { summary: 'The newest {{ $labels.backup_set }} backup is older than its RPO' } },
      { alert: 'BackupVerificationFailed', expr: 'caretaker_backup_verification_result{result="failed"} == 1', labels: { severity: 'critical' }, annotations: { summary: 'Backup {{ $labels.backup_set }} failed verification' } },
    ],
  }])
  rule('platform-health', [{
    name: 'platform',
    rules: [
      { alert: 'KubePodCrashLooping', expr: 'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1', for: '15m', labels: { severity: 'warning' }, annotations: { summary: 'Pod {{ $labels.namespace }}/{{ $labels.pod }} is crash looping' } },
      { alert: 'CertificateExpiringSoon', expr: 'certmanager_certificate_expiration_timestamp_seconds - time() < 7 * 24 * 3600', for: '1h', labels: { severity: 'warning' }, annotations: { summary: 'Certificate {{ $labels.namespace }}/{{ $labels.name }} expires within a week' } },
      { alert: 'VaultSealed', expr: 'vault_core_unsealed == 0', for: '1m', labels: { severity: 'critical' }, annotations: { summary: 'Vault {{ $labels.instance }} is sealed' } },
      { record: 'namespace:container_cpu_usage_seconds:rate5m', expr: 'sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))' },
    ],
  }])
}

function seedLonghorn(ctx: Ctx) {
  const ns = 'longhorn-system'
  const lh = 'longhorn.io/v1beta2'
  ctx.put({ apiVersion: lh, kind: 'RecurringJob', metadata: { name: 'backup-daily', namespace: ns }, spec: { name: 'backup-daily', task: 'backup', cron: '0 3 * * *', retain: RETENTION_DAYS.longhorn, concurrency: 2, groups: ['default'], labels: {}, parameters: {} }, status: { executionCount: 412, ownerID: 'worker-1' } })
  ctx.put({ apiVersion: lh, kind: 'RecurringJob', metadata: { name: 'snapshot-hourly', namespace: ns }, spec: { name: 'snapshot-hourly', task: 'snapshot', cron: '0 * * * *', retain: 24, concurrency: 2, groups: ['default'], labels: {}, parameters: {} }, status: { executionCount: 9870, ownerID: 'worker-1' } })

  const volumes: Array<{ namespace: string, claim: string, size: number, workload: string, robustness: 'healthy' | 'degraded', backups: number }> = [
    { namespace: 'databases', claim: 'data-postgres-0', size: 20, workload: 'postgres', robustness: 'healthy', backups: 20 },
    { namespace: 'databases', claim: 'data-redis-0', size: 5, workload: 'redis', robustness: 'healthy', backups: 6 },
    { namespace: 'databases', claim: 'data-redis-1', size: 5, workload: 'redis', robustness: 'degraded', backups: 0 },
    { namespace: 'gitea', claim: 'gitea-data', size: 10, workload: 'gitea', robustness: 'healthy', backups: 16 },
  ]
  for (const v of volumes) {
    const name = volumeName(v.namespace, v.claim)
    // Daily backups at 03:00; today's is still uploading, one failed three nights ago.
    const backups: Array<{ name: string, at: Date, state: 'Completed' | 'Error' | 'InProgress' }> = []
    for (let t = Date.UTC(ctx.now.getUTCFullYear(), ctx.now.getUTCMonth(), ctx.now.getUTCDate(), 3); backups.length < v.backups; t -= 24 * HOUR) {
      const at = new Date(t)
      if (at > ctx.now) continue
      const state = backups.length === 0 ? 'InProgress' : backups.length === 3 ? 'Error' : 'Completed'
      backups.push({ name: `backup-${hex(`${name}-${t}`, 16)}`, at, state })
    }
    const lastDone = backups.find((b) => b.state === 'Completed')
    ctx.put({
      apiVersion: lh, kind: 'Volume', metadata: { name, namespace: ns, labels: { 'recurring-job-group.longhorn.io/default': 'enabled', longhornvolume: name }, creationTimestamp: iso(ctx.ago(300 * DAY)) },
      spec: { size: String(v.size * GiB), numberOfReplicas: 3, frontend: 'blockdev', accessMode: 'rwo', dataEngine: 'v1', dataLocality: 'disabled', backupCompressionMethod: 'lz4', backupTargetName: 'default', snapshotMaxCount: 250, snapshotDataIntegrity: 'ignored', replicaAutoBalance: 'ignored', unmapMarkSnapChainRemoved: 'ignored', freezeFilesystemForSnapshot: 'ignored', restoreVolumeRecurringJob: 'ignored', staleReplicaTimeout: 30, migratable: false, encrypted: false, disableFrontend: false, image: 'longhornio/longhorn-engine:v1.12.1' },
      status: {
        state: 'attached', robustness: v.robustness, actualSize: Math.round(v.size * GiB * 0.4), currentNodeID: 'worker-1', currentImage: 'longhornio/longhorn-engine:v1.12.1', frontendDisabled: false, ownerID: 'worker-1',
        ...(lastDone ? { lastBackup: lastDone.name, lastBackupAt: iso(new Date(lastDone.at.getTime() + 6 * MINUTE)) } : {}),
        ...(v.robustness === 'degraded' ? { lastDegradedAt: iso(ctx.ago(5 * HOUR)) } : {}),
        kubernetesStatus: { namespace: v.namespace, pvcName: v.claim, pvName: name, pvStatus: 'Bound', lastPVCRefAt: '', lastPodRefAt: '', workloadsStatus: [{ podName: v.workload === 'gitea' ? `gitea-${hex('gitea1', 10)}-p2k4s` : `${v.workload}-0`, podStatus: 'Running', workloadName: v.workload, workloadType: v.workload === 'gitea' ? 'ReplicaSet' : 'StatefulSet' }] },
        conditions: [
          { type: 'Scheduled', status: 'True', reason: '', message: '', lastProbeTime: '', lastTransitionTime: iso(ctx.ago(300 * DAY)) },
          { type: 'Restore', status: 'False', reason: '', message: '', lastProbeTime: '', lastTransitionTime: iso(ctx.ago(300 * DAY)) },
        ],
      },
    })
    // Hourly snapshots for the last six hours, and a few old ones the retention missed.
    let parent = ''
    for (const ageHours of [400, 240, 72, 6, 5, 4, 3, 2, 1]) {
      const created = new Date(Date.UTC(ctx.now.getUTCFullYear(), ctx.now.getUTCMonth(), ctx.now.getUTCDate(), ctx.now.getUTCHours()) - ageHours * HOUR)
      const snap = `snapshot-hourly-${hex(`${name}-${created.getTime()}`, 8)}-${uuidFrom(`${name}-${created.getTime()}`).slice(0, 8)}`
      ctx.put({
        apiVersion: lh, kind: 'Snapshot', metadata: { name: snap, namespace: ns, labels: { longhornvolume: name }, creationTimestamp: iso(created) },
        spec: { volume: name, createSnapshot: true, labels: { RecurringJob: 'snapshot-hourly' } },
        status: { creationTime: iso(created), readyToUse: true, userCreated: false, markRemoved: false, parent, children: {}, size: Math.round(v.size * GiB * 0.01), restoreSize: v.size * GiB, labels: { RecurringJob: 'snapshot-hourly' }, ownerID: 'worker-1', checksum: '', error: '' },
      })
      parent = snap
      const ageDays = Math.round((ageHours / 24) * 10) / 10
      ctx.summary.snapshots.push({ kind: 'Snapshot', namespace: ns, name: snap, createdAt: iso(created), ageDays, ready: true, beyondRetention: ageDays > RETENTION_DAYS.longhorn })
    }
    for (const b of backups) {
      const done = new Date(b.at.getTime() + 6 * MINUTE)
      ctx.put({
        apiVersion: lh, kind: 'Backup', metadata: { name: b.name, namespace: ns, labels: { 'backup-volume': name, 'backup-target': 'default' }, creationTimestamp: iso(b.at) },
        spec: { snapshotName: `backup-daily-${hex(b.name, 8)}`, labels: { RecurringJob: 'backup-daily', 'longhorn.io/volume-access-mode': 'rwo' }, backupMode: 'incremental' },
        status: {
          state: b.state, progress: b.state === 'Completed' ? 100 : b.state === 'InProgress' ? 45 : 12, ownerID: 'worker-1', backupTargetName: 'default', volumeName: name, volumeSize: String(v.size * GiB), snapshotName: `backup-daily-${hex(b.name, 8)}`, snapshotCreatedAt: iso(b.at), compressionMethod: 'lz4',
          ...(b.state === 'Completed' ? { url: `s3://longhorn-backups@us-east-1/?backup=${b.name}&volume=${name}`, backupCreatedAt: iso(done), size: String(Math.round(v.size * GiB * 0.3)), lastSyncedAt: iso(ctx.ago(10 * MINUTE)) } : {}),
          ...(b.state === 'Error' ? { error: 'failed to upload block: context deadline exceeded (Client.Timeout exceeded while awaiting headers)' } : {}),
        },
      })
      const ageDays = Math.round(((ctx.now.getTime() - b.at.getTime()) / DAY) * 10) / 10
      ctx.summary.snapshots.push({ kind: 'Backup', namespace: ns, name: b.name, createdAt: iso(b.at), ageDays, ready: b.state === 'Completed', beyondRetention: ageDays > RETENTION_DAYS.longhorn })
    }
    if (backups.length) {
      ctx.put({
        apiVersion: lh, kind: 'BackupVolume', metadata: { name: `${name}-${hex(name, 8)}`, namespace: ns, labels: { 'backup-target': 'default', 'backup-volume': name } },
        spec: { volumeName: name, backupTargetName: 'default' },
        status: { createdAt: iso(backups[backups.length - 1]!.at), ...(lastDone ? { lastBackupName: lastDone.name, lastBackupAt: iso(new Date(lastDone.at.getTime() + 6 * MINUTE)) } : {}), size: String(v.size * GiB), dataStored: String(Math.round(v.size * GiB * 0.9)), storageClassName: 'longhorn', lastSyncedAt: iso(ctx.ago(10 * MINUTE)), ownerID: 'worker-1' },
      })
    }
  }
  // Vault's raft snapshots volume: labelled for the hourly snapshots only, so no backup job covers it (health-report's NoBackupJob).
  const snapshots = volumeName('vault', 'vault-snapshots')
  ctx.put({
    apiVersion: lh, kind: 'Volume', metadata: { name: snapshots, namespace: ns, labels: { 'recurring-job.longhorn.io/snapshot-hourly': 'enabled', longhornvolume: snapshots }, creationTimestamp: iso(ctx.ago(300 * DAY)) },
    spec: { size: String(20 * GiB), numberOfReplicas: 2, frontend: 'blockdev', accessMode: 'rwo', dataEngine: 'v1', dataLocality: 'disabled', backupTargetName: 'default', staleReplicaTimeout: 30, migratable: false, encrypted: false, disableFrontend: false, image: 'longhornio/longhorn-engine:v1.12.1' },
    status: {
      state: 'attached', robustness: 'healthy', actualSize: 3 * GiB, currentNodeID: 'worker-2', currentImage: 'longhornio/longhorn-engine:v1.12.1', frontendDisabled: false, ownerID: 'worker-2',
      kubernetesStatus: { namespace: 'vault', pvcName: 'vault-snapshots', pvName: snapshots, pvStatus: 'Bound', lastPVCRefAt: '', lastPodRefAt: '', workloadsStatus: [] },
      conditions: [{ type: 'Scheduled', status: 'True', reason: '', message: '', lastProbeTime: '', lastTransitionTime: iso(ctx.ago(300 * DAY)) }],
    },
  })
}

// ---------------------------------------------------------------------------
// What health-report's cluster checks find: the kubelets' stats summaries
// (worker-2's root filesystem 91% full, the PostgreSQL volume 92% full),
// metrics-server's samples (worker-2 busy, a web container near its memory
// limit), and Loki's read path in monitoring at 1/3: one replica up, one
// Running but failing its readiness probe, one Pending with no node to take
// it; their 16 GiB memory limits overcommit worker-1.


function seedClusterHealth(ctx: Ctx, kube: SeedKubernetes) {
  const ns = 'monitoring'
  const labels = { 'app.kubernetes.io/name': 'loki-read' }
  const lokiSpec = podSpec([{ name: 'loki', image: 'grafana/loki:3.4.2', args: ['-target=read'], ports: [{ containerPort: 3100, name: 'http' }] }])
  const containers = lokiSpec.containers as Obj[]
  containers[0]!.resources = { requests: { cpu: '500m', memory: '2Gi' }, limits: { memory: '16Gi' } }
  containers[0]!.readinessProbe = { httpGet: { path: '/ready', port: 3100 }, periodSeconds: 10 }
  const dep = deployment(ctx, ns, 'loki-read', 3, { ...lokiSpec, containers }, { ready: 1, revision: 4 })
  const hash = hex('loki-read4', 10)
  const rs = ctx.put({
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name: `loki-read-${hash}`, namespace: ns, labels: { ...labels, 'pod-template-hash': hash }, annotations: { 'deployment.kubernetes.io/revision': '4', 'deployment.kubernetes.io/desired-replicas': '3' }, ownerReferences: [ctx.ownerRef(dep)], creationTimestamp: iso(ctx.ago(9 * DAY)) },
    spec: { replicas: 3, selector: { matchLabels: { ...labels, 'pod-template-hash': hash } }, template: { metadata: { labels }, spec: lokiSpec } },
    status: { replicas: 3, readyReplicas: 1, availableReplicas: 1, observedGeneration: 1 },
  })
  const lokiPod = (suffix: string, state: 'ready' | 'unready' | 'pending') => {
    const started = iso(ctx.ago(state === 'ready' ? 9 * DAY : 2 * HOUR))
    const name = `loki-read-${hash}-${suffix}`
    ctx.put({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, namespace: ns, labels: { ...labels, 'pod-template-hash': hash }, ownerReferences: [ctx.ownerRef(rs)], creationTimestamp: started },
      spec: { ...lokiSpec, containers, restartPolicy: 'Always', ...(state === 'pending' ? {} : { nodeName: 'worker-1' }) },
      status: state === 'pending'
        ? {
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', lastTransitionTime: started, message: '0/4 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 1 node(s) were unschedulable. preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.' }],
        }
        : {
          phase: 'Running', hostIP: '10.0.0.21', podIP: `10.244.1.${suffix.charCodeAt(0) % 250}`, startTime: started,
          conditions: [{ type: 'Ready', status: state === 'ready' ? 'True' : 'False', lastTransitionTime: iso(ctx.ago(state === 'ready' ? 9 * DAY : HOUR)), ...(state === 'ready' ? {} : { reason: 'ContainersNotReady', message: 'containers with unready status: [loki]' }) }],
          containerStatuses: [{ name: 'loki', image: 'grafana/loki:3.4.2', imageID: `grafana/loki@sha256:${hex('loki', 64)}`, containerID: `containerd://${hex(name, 64)}`, ready: state === 'ready', started: true, restartCount: 0, state: { running: { startedAt: started } } }],
        },
    })
    return name
  }
  const up = lokiPod('w8x2d', 'ready')
  lokiPod('r4n7k', 'unready')
  lokiPod('p9c3v', 'pending')
  if (!kube.metrics) return

  const fs = (capacityGiB: number, usedPercent: number) => ({
    time: iso(ctx.ago(10_000)), capacityBytes: capacityGiB * GiB, availableBytes: Math.round(capacityGiB * GiB * (1 - usedPercent / 100)), usedBytes: Math.round(capacityGiB * GiB * usedPercent / 100),
    inodes: 6_553_600, inodesFree: Math.round(6_553_600 * (1 - usedPercent / 200)), inodesUsed: Math.round(6_553_600 * usedPercent / 200),
  })
  const claim = (namespace: string, pod: string, name: string, sizeGiB: number, usedPercent: number) => ({
    podRef: { name: pod, namespace, uid: uuidFrom(`${namespace}/${pod}`) }, startTime: iso(ctx.ago(20 * DAY)),
    volume: [{ name: 'data', ...fs(sizeGiB, usedPercent), pvcRef: { name, namespace } }],
  })
  const node = (name: string, rootPercent: number, images: number | undefined, pods: ReturnType<typeof claim>[] = []) => {
    const root = fs(120, rootPercent)
    kube.metrics!.setStatsSummary(name, { node: { nodeName: name, startTime: iso(ctx.ago(30 * DAY)), fs: root, runtime: { imageFs: images === undefined ? { ...root } : fs(200, images) } }, pods })
  }
  node('control-plane-1', 44, undefined)
  node('worker-1', 38, undefined, [claim('databases', 'postgres-0', 'data-postgres-0', 20, 92), claim('databases', 'redis-0', 'data-redis-0', 5, 41), claim('gitea', `gitea-${hex('gitea1', 10)}-p2k4s`, 'gitea-data', 10, 30)])
  node('worker-2', 91, 63, [claim('databases', 'redis-1', 'data-redis-1', 5, 39), claim('vault', 'vault-0', 'data-vault-0', 10, 12)])

  kube.metrics.setNodeMetrics('control-plane-1', { cpu: '912m', memory: '6Gi' })
  kube.metrics.setNodeMetrics('worker-1', { cpu: '2134m', memory: '14Gi' })
  kube.metrics.setNodeMetrics('worker-2', { cpu: '7290m', memory: '19Gi' })
  kube.metrics.setPodMetrics('production', `web-${hex('web2', 10)}-t5v6c`, [{ name: 'web', usage: { cpu: '180m', memory: '492Mi' } }])
  kube.metrics.setPodMetrics('production', `api-${hex('api5', 10)}-x7k2p`, [{ name: 'api', usage: { cpu: '90m', memory: '210Mi' } }])
  kube.metrics.setPodMetrics(ns, up, [{ name: 'loki', usage: { cpu: '310m', memory: '5Gi' } }])
}
