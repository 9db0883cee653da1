import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import rotateSecret from '../../../functions/rotate-secret/index.ts'
import { configSchema, type RotateSecretConfig } from '../../../functions/rotate-secret/config.ts'
import { validateConfig } from '../../../shared/config.ts'
import { binaryHeaders, startTestFunction, type TestFunction } from '../../../sandbox/harness/function.ts'
import { startReceiver, type Receiver } from '../../mesh/receiver.ts'
import { startKubernetesSimulator } from '../../../sandbox/simulators/kubernetes/index.ts'
import { startVaultSimulator, type VaultSimulator } from '../../../sandbox/simulators/vault/index.ts'

/**
 * The platform a rotation runs against in the tests: the Kubernetes
 * simulator enforcing exactly the RBAC of manifests/rotate-secret (so the
 * namespaces and names are those of the example config), its controllers
 * syncing ExternalSecrets from the Vault simulator and rolling out
 * Deployments, and the function hosted over real HTTP.
 */

export type Kube = Awaited<ReturnType<typeof startKubernetesSimulator>>

export interface Platform {
  kube: Kube
  admin: KubeConfig
  vault: VaultSimulator
  sink: Receiver
  /** The function instance requests go to (replaced by restart()). */
  readonly fn: TestFunction
  /** The log lines of every instance started so far. */
  logText(): string
  /** Every reply body and status, to look for leaks at the end. */
  replies: string[]
  send(type: string, data: unknown, extra?: Record<string, string>): Promise<{ status: number; type: string | null; body: Record<string, unknown> | undefined }>
  /** Stops the function and starts it again: its in-memory idempotency is gone, as after a crash. */
  restart(): Promise<void>
  externalSecret(namespace: string, name: string, entries: Array<{ secretKey: string; path: string; property: string }>): Promise<void>
  deployment(namespace: string, name: string): void
  statefulSet(namespace: string, name: string): void
  /** The SHA-256 of each key of a Secret, decoded. */
  secretHashes(namespace: string, name: string): Promise<Record<string, string>>
  deploymentOf(namespace: string, name: string): Promise<{ generation: number; restartedAt: string | undefined; observedGeneration: number; available: number }>
  setStorePath(path: string): Promise<void>
  metrics(): Promise<string>
  close(): Promise<void>
}

export const sha256 = (v: string): string => createHash('sha256').update(v).digest('hex')

/** Every value each version of these Vault secrets ever held (but the keys named in `except`, which are not secret). */
export function vaultValues(vault: VaultSimulator, mount: string, paths: string[], except: string[] = ['username']): Set<string> {
  const values = new Set<string>()
  for (const path of paths) {
    for (let v = 1; v <= 100; v++) {
      for (const [k, value] of Object.entries(vault.getSecret(mount, path, v) ?? {})) if (!except.includes(k)) values.add(String(value))
    }
  }
  return values
}

/**
 * Where a run's output may leak a value: the log lines of every instance,
 * every reply, every event sent to the Broker, the metrics. Reports by
 * where, which of `values` (or their base64) appear and which `shapes`
 * (e.g. that of a generated value never written to Vault) match.
 */
export async function leaksIn(p: Platform, values: Iterable<string>, shapes: RegExp[]): Promise<Record<string, { values: number; shapes: string[] }>> {
  const haystacks = {
    logs: p.logText(),
    replies: p.replies.join('\n'),
    emitted: p.sink.requests.map((r) => r.body.toString('utf8')).join('\n'),
    metrics: await p.metrics(),
  }
  const list = [...values]
  return Object.fromEntries(Object.entries(haystacks).map(([where, text]) => [where, {
    values: list.filter((v) => text.includes(v) || text.includes(Buffer.from(v).toString('base64'))).length,
    shapes: shapes.filter((re) => re.test(text)).map(String),
  }]))
}

export async function startPlatform(config: Partial<RotateSecretConfig> & Pick<RotateSecretConfig, 'secrets'>): Promise<Platform> {
  const kube = await startKubernetesSimulator()
  const vault = await startVaultSimulator()
  kube.controllers.setVault({ url: vault.url, token: vault.rootToken })
  const admin = kube.kubeConfig()
  const rbac = parseAllDocuments(await readFile(new URL('../../../manifests/rotate-secret/rbac.yaml', import.meta.url), 'utf8')).map((d) => d.toJSON() as Record<string, unknown>)
  for (const ns of ['caretaker', 'production', 'databases']) kube.store.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
  for (const obj of rbac) kube.store.seed(obj)
  kube.store.seed({
    apiVersion: 'external-secrets.io/v1', kind: 'ClusterSecretStore', metadata: { name: 'vault-backend' },
    spec: { provider: { vault: { server: 'http://vault.vault.svc:8200', path: 'secret', version: 'v2', auth: { tokenSecretRef: { name: 'vault-token', namespace: 'caretaker', key: 'token' } } } } },
  })
  const sink = await startReceiver(() => ({ status: 202 }))
  const token = kube.mintServiceAccountToken('caretaker', 'rotate-secret')
  const full = validateConfig<RotateSecretConfig>({ leaseDuration: '30s', syncTimeout: '3s', rolloutTimeout: '5s', connectTimeout: '2s', ...config }, configSchema, 'test')
  const env = { CARETAKER_KUBE_SERVER: kube.url, CARETAKER_KUBE_TOKEN: token, CARETAKER_DRY_RUN: 'false', K_SINK: `${sink.url}/broker`, VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken }
  const instances: TestFunction[] = []
  const start = async () => {
    const f = await startTestFunction(rotateSecret, { config: full, env })
    instances.push(f)
    return f
  }
  let fn = await start()
  const replies: string[] = []
  const custom = admin.makeApiClient(CustomObjectsApi)

  return {
    kube, admin, vault, sink, replies,
    get fn() { return fn },
    logText: () => instances.map((f) => f.logText()).join(''),
    async send(type, data, extra = {}) {
      const res = await fetch(fn.url, { method: 'POST', headers: binaryHeaders(type, extra), body: JSON.stringify(data) })
      const text = await res.text()
      replies.push(text)
      return { status: res.status, type: res.headers.get('ce-type'), body: text ? JSON.parse(text) as Record<string, unknown> : undefined }
    },
    async restart() {
      await fn.stop()
      fn = await start()
    },
    async externalSecret(namespace, name, entries) {
      kube.store.seed({
        apiVersion: 'external-secrets.io/v1', kind: 'ExternalSecret', metadata: { name, namespace },
        spec: {
          refreshInterval: '1h',
          secretStoreRef: { kind: 'ClusterSecretStore', name: 'vault-backend' },
          target: { name, creationPolicy: 'Owner' },
          data: entries.map((e) => ({ secretKey: e.secretKey, remoteRef: { key: e.path, property: e.property } })),
        },
      })
      await kube.controllers.idle()
    },
    deployment(namespace, name) {
      const labels = { 'app.kubernetes.io/name': name }
      kube.store.seed({
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace, labels },
        spec: { replicas: 2, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name, image: `example/${name}:1` }] } } },
      })
    },
    statefulSet(namespace, name) {
      const labels = { 'app.kubernetes.io/name': name }
      kube.store.seed({
        apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name, namespace, labels },
        spec: { replicas: 2, serviceName: name, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name, image: `example/${name}:1` }] } } },
      })
    },
    async secretHashes(namespace, name) {
      const s = await admin.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace, name })
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, sha256(Buffer.from(v, 'base64').toString('utf8'))]))
    },
    async deploymentOf(namespace, name) {
      const d = await admin.makeApiClient(AppsV1Api).readNamespacedDeployment({ namespace, name })
      return {
        generation: d.metadata?.generation ?? 0,
        restartedAt: d.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'],
        observedGeneration: d.status?.observedGeneration ?? 0,
        available: d.status?.availableReplicas ?? 0,
      }
    },
    async setStorePath(path) {
      const store = await custom.getClusterCustomObject({ group: 'external-secrets.io', version: 'v1', plural: 'clustersecretstores', name: 'vault-backend' }) as { spec: { provider: { vault: { path: string } } } }
      store.spec.provider.vault.path = path
      await custom.replaceClusterCustomObject({ group: 'external-secrets.io', version: 'v1', plural: 'clustersecretstores', name: 'vault-backend', body: store })
    },
    async metrics() {
      return (await fetch(`${fn.url}/metrics`)).text()
    },
    async close() {
      await fn.stop()
      await sink.close()
      await kube.close()
      await vault.close()
    },
  }
}
