import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '../../shared/kubernetes/api.ts'
import { kubernetesError } from '../../shared/kubernetes/client.ts'
import type { ObjectRef, VaultRef, Workload } from './config.ts'

/**
 * Getting the new value to the consumers: force the ExternalSecrets to sync
 * (the `force-sync` annotation external-secrets reacts to), wait until each
 * Kubernetes Secret carries the value (compared by SHA-256, never read out
 * or logged), then restart the consumers as `kubectl rollout restart` does
 * and wait for the rollouts.
 */

export const FORCE_SYNC_ANNOTATION = 'force-sync'
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt'

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)
const ES = { group: 'external-secrets.io', version: 'v1', plural: 'externalsecrets' }

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

export class DeliveryError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DeliveryError'
  }
}

interface ExternalSecretObject {
  metadata?: { name?: string }
  spec?: {
    target?: { name?: string }
    data?: Array<{ secretKey?: string; remoteRef?: { key?: string; property?: string } }>
    dataFrom?: Array<{ extract?: { key?: string } }>
  }
  status?: { conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> }
}

/** The Secret an ExternalSecret writes, and which of its keys carry which Vault key. */
export interface SyncedSecret {
  externalSecret: ObjectRef
  secret: ObjectRef
  /** Secret key → Vault key. */
  keys: Map<string, string>
}

const sameVaultKey = (remote: string | undefined, ref: VaultRef) => remote === ref.path || remote === `${ref.mount}/${ref.path}`

export class Delivery {
  readonly #custom: CustomObjectsApi
  readonly #core: CoreV1Api
  readonly #apps: AppsV1Api

  constructor(kubeConfig: KubeConfig) {
    this.#custom = kubeConfig.makeApiClient(CustomObjectsApi)
    this.#core = kubeConfig.makeApiClient(CoreV1Api)
    this.#apps = kubeConfig.makeApiClient(AppsV1Api)
  }

  async #readExternalSecret(ref: ObjectRef): Promise<ExternalSecretObject> {
    try {
      return await this.#custom.getNamespacedCustomObject({ ...ES, namespace: ref.namespace, name: ref.name }) as ExternalSecretObject
    } catch (err) {
      throw kubernetesError(err, `read ExternalSecret ${ref.namespace}/${ref.name}`)
    }
  }

  /** Which keys of the ExternalSecret's Secret come from the rotated Vault keys. */
  async syncedSecret(ref: ObjectRef, vault: VaultRef, vaultKeys: string[]): Promise<SyncedSecret> {
    const es = await this.#readExternalSecret(ref)
    const keys = new Map<string, string>()
    for (const d of es.spec?.data ?? []) {
      const property = d.remoteRef?.property
      if (d.secretKey && property && vaultKeys.includes(property) && sameVaultKey(d.remoteRef?.key, vault)) keys.set(d.secretKey, property)
    }
    for (const d of es.spec?.dataFrom ?? []) {
      if (sameVaultKey(d.extract?.key, vault)) for (const k of vaultKeys) keys.set(k, k)
    }
    if (keys.size === 0) throw new DeliveryError(`ExternalSecret ${ref.namespace}/${ref.name} reads none of ${vaultKeys.join(', ')} from ${vault.mount}/${vault.path}`)
    return { externalSecret: ref, secret: { namespace: ref.namespace, name: es.spec?.target?.name ?? ref.name }, keys }
  }

  async forceSync(ref: ObjectRef, at: Date): Promise<void> {
    try {
      await this.#custom.patchNamespacedCustomObject({ ...ES, namespace: ref.namespace, name: ref.name, body: { metadata: { annotations: { [FORCE_SYNC_ANNOTATION]: String(at.getTime()) } } } }, merge)
    } catch (err) {
      throw kubernetesError(err, `force-sync ExternalSecret ${ref.namespace}/${ref.name}`)
    }
  }

  /** Waits until every mapped key of the Secret hashes to the expected value's hash. */
  async waitForSecret(synced: SyncedSecret, expected: Map<string, string>, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const pause = Math.min(500, Math.max(50, timeoutMs / 20))
    const { namespace, name } = synced.secret
    for (;;) {
      let data: Record<string, string> = {}
      try {
        data = (await this.#core.readNamespacedSecret({ namespace, name })).data ?? {}
      } catch (err) {
        const e = kubernetesError(err, `read Secret ${namespace}/${name}`)
        if (e.details?.code !== 404) throw e
      }
      const matches = [...synced.keys].every(([secretKey, vaultKey]) => {
        const encoded = data[secretKey]
        return encoded !== undefined && sha256(Buffer.from(encoded, 'base64').toString('utf8')) === expected.get(vaultKey)
      })
      if (matches) return
      if (Date.now() >= deadline || signal.aborted) {
        const es = await this.#readExternalSecret(synced.externalSecret).catch(() => undefined)
        const ready = es?.status?.conditions?.find((c) => c.type === 'Ready')
        const state = ready ? ` (ExternalSecret Ready=${ready.status}${ready.reason ? ` ${ready.reason}` : ''})` : ''
        throw new DeliveryError(`Secret ${namespace}/${name} did not carry the new value within ${Math.round(timeoutMs / 1000)}s${state}`)
      }
      await sleep(pause)
    }
  }

  /** A rollout restart; returns the generation the rollout must reach. */
  async restart(w: Workload, at: Date): Promise<number> {
    const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: at.toISOString() } } } } }
    try {
      const obj = w.kind === 'Deployment'
        ? await this.#apps.patchNamespacedDeployment({ namespace: w.namespace, name: w.name, body }, merge)
        : await this.#apps.patchNamespacedStatefulSet({ namespace: w.namespace, name: w.name, body }, merge)
      return obj.metadata?.generation ?? 0
    } catch (err) {
      throw kubernetesError(err, `restart ${w.kind} ${w.namespace}/${w.name}`)
    }
  }

  /** Waits until the rollout of `generation` is complete, as `kubectl rollout status` does; a stuck rollout fails at once. */
  async waitForRollout(w: Workload, generation: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const pause = Math.min(500, Math.max(50, timeoutMs / 40))
    const what = `${w.kind} ${w.namespace}/${w.name}`
    for (;;) {
      let done: boolean
      try {
        if (w.kind === 'Deployment') {
          const d = await this.#apps.readNamespacedDeployment({ namespace: w.namespace, name: w.name })
          const s = d.status ?? {}
          const want = d.spec?.replicas ?? 1
          const stuck = s.conditions?.find((c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded')
          if ((s.observedGeneration ?? 0) >= generation && stuck) throw new DeliveryError(`the rollout of ${what} failed: ${stuck.message ?? 'progress deadline exceeded'}`)
          done = (s.observedGeneration ?? 0) >= generation && (s.updatedReplicas ?? 0) >= want && (s.replicas ?? 0) <= want && (s.availableReplicas ?? 0) >= want
        } else {
          const st = await this.#apps.readNamespacedStatefulSet({ namespace: w.namespace, name: w.name })
          const s = st.status ?? { replicas: 0 }
          const want = st.spec?.replicas ?? 1
          done = (s.observedGeneration ?? 0) >= generation && (s.updatedReplicas ?? 0) >= want && (s.readyReplicas ?? 0) >= want && s.updateRevision === s.currentRevision
        }
      } catch (err) {
        throw err instanceof DeliveryError ? err : kubernetesError(err, `read ${what}`)
      }
      if (done) return
      if (Date.now() >= deadline || signal.aborted) throw new DeliveryError(`the rollout of ${what} did not finish within ${Math.round(timeoutMs / 1000)}s`)
      await sleep(pause)
    }
  }
}
